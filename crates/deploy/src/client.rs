//! Building the Lambda client for a backend.

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use http_body_util::BodyExt;
use ownstak_core::BackendInfo;

use crate::error::DeployError;

/// Where the Lambda API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An ownstak local backend (or any Lambda-compatible endpoint) at this URL.
    Local(String),
}

impl Endpoint {
    /// The endpoint URL.
    pub fn url(&self) -> &str {
        match self {
            Endpoint::Local(u) => u,
        }
    }
}

/// A Lambda client for a local endpoint, with fixed local credentials.
pub fn lambda_client(endpoint: &Endpoint) -> aws_sdk_lambda::Client {
    let config = match endpoint {
        Endpoint::Local(url) => aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("ownstak-local", "ownstak-local", None, None, "ownstak-local"))
            .endpoint_url(url.trim_end_matches('/'))
            .build(),
    };
    aws_sdk_lambda::Client::from_conf(config)
}

/// Asks a local backend for its URL facts (`GET /__ownstak__/backend`).
pub async fn fetch_backend_info(endpoint: &Endpoint) -> Result<BackendInfo, DeployError> {
    let url = format!("{}/__ownstak__/backend", endpoint.url().trim_end_matches('/'));
    let unreachable = |detail: String| DeployError::Unreachable { endpoint: endpoint.url().to_owned(), detail };
    let uri: hyper::Uri = url.parse().map_err(|e| unreachable(format!("invalid endpoint URL: {e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client.get(uri).await.map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
    if !status.is_success() {
        return Err(DeployError::NotFound(format!("{url} answered {status}; the endpoint is not an ownstak local backend")));
    }
    serde_json::from_slice(&body).map_err(|e| DeployError::NotFound(format!("{url} returned unreadable backend facts: {e}")))
}
