//! Building the S3 client for an asset store.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

use crate::{LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY};

/// Where the asset store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// An S3-compatible endpoint URL (the local backend's); `None` means
    /// AWS S3 with the default credential chain.
    pub endpoint: Option<String>,
    /// The bucket holding every key.
    pub bucket: String,
    /// The region.
    pub region: String,
    /// The key pair for a local endpoint (its backend's credentials file);
    /// `None` signs with [`LOCAL_ACCESS_KEY`] / [`LOCAL_SECRET_KEY`].
    /// Ignored for AWS S3.
    pub credentials: Option<ownstak_guard::KeyPair>,
}

impl StoreConfig {
    /// A store at a local S3-compatible endpoint.
    pub fn local(endpoint: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            bucket: bucket.into(),
            region: LOCAL_REGION.to_owned(),
            credentials: None,
        }
    }

    /// The same store, signing with `keys` (a local endpoint's key pair).
    pub fn with_credentials(mut self, keys: ownstak_guard::KeyPair) -> Self {
        self.credentials = Some(keys);
        self
    }

    /// The endpoint for messages.
    pub fn endpoint_name(&self) -> &str {
        self.endpoint.as_deref().unwrap_or("AWS S3")
    }

    /// Builds the client: path-style addressing and the local key pair for
    /// an endpoint, the default AWS chain otherwise.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        match &self.endpoint {
            Some(url) => aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .credentials_provider(match &self.credentials {
                        Some(keys) => Credentials::new(
                            keys.access_key_id(),
                            keys.secret_access_key(),
                            None,
                            None,
                            "ownstak-local",
                        ),
                        None => Credentials::new(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, None, None, "ownstak-local"),
                    })
                    .endpoint_url(url.trim_end_matches('/'))
                    .force_path_style(true)
                    // The local store checks integrity itself; skip the optional trailers.
                    .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                    .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                    .build(),
            ),
            None => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .load()
                    .await;
                aws_sdk_s3::Client::new(&shared)
            }
        }
    }
}
