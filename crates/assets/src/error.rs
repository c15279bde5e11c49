//! Errors of the asset store, its uploads and its serving.

use ownstak_sdk_error::SdkFailure;
use std::path::PathBuf;

/// Why an asset operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// A local file or directory could not be read.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The S3 endpoint could not be reached.
    #[error("cannot reach the asset store at {endpoint}: {detail}")]
    Unreachable {
        /// The endpoint (or `AWS S3`).
        endpoint: String,
        /// The transport error.
        detail: String,
    },
    /// The S3 API refused a call.
    #[error("{operation} failed: {code}: {message}")]
    Api {
        /// The S3 operation, e.g. `PutObject`.
        operation: &'static str,
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
    /// A function name, version or path is not acceptable as part of a key.
    #[error("invalid {what}: {value:?}")]
    InvalidName {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// A deployment index in the store cannot be read.
    #[error("unreadable deployment index {key}: {detail}")]
    Index {
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The local S3 endpoint could not start.
    #[error("cannot start the asset server: {0}")]
    Server(String),
}

impl AssetError {
    /// An I/O error constructor for `map_err`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AssetError {
        let path = path.into();
        move |source| AssetError::Io { action, path, source }
    }
}

/// Converts an SDK error into an [`AssetError`], telling transport failures
/// apart from API refusals.
pub(crate) fn sdk<E, R>(
    operation: &'static str,
    endpoint: &str,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> AssetError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let endpoint = endpoint.to_owned();
    move |err| match ownstak_sdk_error::classify(&err) {
        SdkFailure::Unreachable { detail } | SdkFailure::NoCredentials { detail } => {
            AssetError::Unreachable { endpoint, detail }
        }
        other => {
            let e = other.service_error().cloned().unwrap_or_else(|| ownstak_sdk_error::ServiceError {
                code: "Unknown".to_owned(),
                message: other.to_string(),
            });
            AssetError::Api { operation, code: e.code, message: e.message }
        }
    }
}
