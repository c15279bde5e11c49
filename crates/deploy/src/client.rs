//! Building the Lambda client for a backend.

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use http_body_util::BodyExt;
use ownstak_core::BackendInfo;

use crate::error::DeployError;

/// Where the Lambda API is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// An ownstak local backend (or any Lambda-compatible endpoint) at this URL.
    Local(String),
    /// AWS Lambda in the backend's account, reached with an SDK configuration
    /// (credentials, region and any endpoint override).
    Aws {
        /// How the endpoint is named in messages, e.g. `AWS Lambda in us-east-1`.
        label: String,
        /// The SDK configuration of the backend account.
        config: Box<aws_config::SdkConfig>,
    },
}

impl Endpoint {
    /// The endpoint URL of a local backend, or the label of an AWS one.
    pub fn url(&self) -> &str {
        match self {
            Endpoint::Local(u) => u,
            Endpoint::Aws { label, .. } => label,
        }
    }

    /// What to do when the endpoint cannot be reached.
    pub(crate) fn unreachable_hint(&self) -> &'static str {
        match self {
            Endpoint::Local(_) => {
                "Is the backend running? Start one with `ownstak local up`, or pass --lambda-endpoint"
            }
            Endpoint::Aws { .. } => "Check the network connection and --region",
        }
    }
}

/// A Lambda client for an endpoint: fixed local credentials for a local
/// backend, the account's configuration for AWS.
pub fn lambda_client(endpoint: &Endpoint) -> aws_sdk_lambda::Client {
    match endpoint {
        Endpoint::Local(url) => aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("ownstak-local", "ownstak-local", None, None, "ownstak-local"))
                .endpoint_url(url.trim_end_matches('/'))
                .build(),
        ),
        Endpoint::Aws { config, .. } => aws_sdk_lambda::Client::new(config),
    }
}

/// Asks a local backend for its URL facts (`GET /__ownstak__/backend`).
pub async fn fetch_backend_info(endpoint: &Endpoint) -> Result<BackendInfo, DeployError> {
    let Endpoint::Local(base) = endpoint else {
        return Err(DeployError::NotFound(format!(
            "{} has no ownstak backend facts endpoint; read them from the backend's stack",
            endpoint.url()
        )));
    };
    let url = format!("{}/__ownstak__/backend", base.trim_end_matches('/'));
    let unreachable =
        |detail: String| DeployError::Unreachable { endpoint: base.clone(), detail, hint: endpoint.unreachable_hint() };
    let uri: hyper::Uri = url.parse().map_err(|e| unreachable(format!("invalid endpoint URL: {e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client.get(uri).await.map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
    if !status.is_success() {
        return Err(DeployError::NotFound(format!(
            "{url} answered {status}; the endpoint is not an ownstak local backend"
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| DeployError::NotFound(format!("{url} returned unreadable backend facts: {e}")))
}
