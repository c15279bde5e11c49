//! Building the Lambda client for a backend.

use std::path::{Path, PathBuf};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use http_body_util::BodyExt;
use ownstak_core::BackendInfo;
use ownstak_guard::KeyPair;

use crate::error::DeployError;

/// The region of a local backend.
pub(crate) const LOCAL_REGION: &str = "us-east-1";

/// Where the Lambda API is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// An ownstak local backend (or any Lambda-compatible endpoint).
    Local {
        /// Its URL.
        url: String,
        /// The key pair requests are signed with: the backend's
        /// credentials file, see [`local_keys`].
        keys: KeyPair,
    },
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
            Endpoint::Local { url, .. } => url,
            Endpoint::Aws { label, .. } => label,
        }
    }

    /// What to do when the endpoint cannot be reached.
    pub(crate) fn unreachable_hint(&self) -> &'static str {
        match self {
            Endpoint::Local { .. } => {
                "Is the backend running? Start one with `ownstak local up`, or pass --lambda-endpoint"
            }
            Endpoint::Aws { .. } => "Check the network connection and --region",
        }
    }
}

/// A Lambda client for an endpoint: the local key pair for a local
/// backend, the account's configuration for AWS.
pub fn lambda_client(endpoint: &Endpoint) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&endpoint.sdk_config())
}

impl Endpoint {
    /// The SDK configuration for the backend's APIs: for a local backend
    /// its endpoint (which serves the Lambda and SSM APIs), region and key
    /// pair; for AWS the account's configuration.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        match self {
            Endpoint::Local { url, keys } => {
                let credentials =
                    Credentials::new(keys.access_key_id(), keys.secret_access_key(), None, None, "ownstak-local");
                aws_config::SdkConfig::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(LOCAL_REGION))
                    .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
                    .endpoint_url(url.trim_end_matches('/'))
                    .build()
            }
            Endpoint::Aws { config, .. } => config.as_ref().clone(),
        }
    }
}

/// The key pair to sign a local backend's requests with: the one in the
/// `credentials` file of its data directory (`data_dir`, else
/// `~/.ownstak/local`), which `ownstak local up` writes, or the fixed
/// fallback pair when there is none (which a backend started without
/// `--verify-signatures` accepts, as it does any key).
pub fn local_keys(data_dir: Option<&Path>) -> Result<KeyPair, DeployError> {
    let dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".ownstak").join("local"),
            None => return Ok(KeyPair::fallback()),
        },
    };
    match ownstak_guard::credentials::load(&dir) {
        Ok(Some(keys)) => Ok(keys),
        Ok(None) => Ok(KeyPair::fallback()),
        Err(e) => Err(DeployError::Credentials(e.to_string())),
    }
}

/// Asks a local backend for its URL facts (`GET /__ownstak__/backend`).
pub async fn fetch_backend_info(endpoint: &Endpoint) -> Result<BackendInfo, DeployError> {
    let Endpoint::Local { url: base, keys } = endpoint else {
        return Err(DeployError::NotFound(format!(
            "{} has no ownstak backend facts endpoint; read them from the backend's stack",
            endpoint.url()
        )));
    };
    let url = format!("{}/__ownstak__/backend", base.trim_end_matches('/'));
    let unreachable =
        |detail: String| DeployError::Unreachable { endpoint: base.clone(), detail, hint: endpoint.unreachable_hint() };
    let uri: hyper::Uri = url.parse().map_err(|e| unreachable(format!("invalid endpoint URL: {e}")))?;
    // Signed like every other request: the backend refuses unsigned ones.
    let mut request = hyper::Request::get(uri)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| unreachable(e.to_string()))?;
    ownstak_guard::sign_request(&mut request, b"", keys, LOCAL_REGION, "lambda")
        .map_err(|e| unreachable(e.to_string()))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client.request(request).await.map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
    if status == hyper::StatusCode::FORBIDDEN {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(DeployError::Refused(message));
    }
    if !status.is_success() {
        return Err(DeployError::NotFound(format!(
            "{url} answered {status}; the endpoint is not an ownstak local backend"
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| DeployError::NotFound(format!("{url} returned unreadable backend facts: {e}")))
}
