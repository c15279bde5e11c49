//! JSON request bodies with AWS-style errors.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// A JSON body; malformed input is an `InvalidParameterValueException`
/// (or `RequestTooLargeException` past the body limit).
pub(crate) struct AwsJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AwsJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorKind::RequestTooLarge,
                    "Request must be smaller than the configured maximum; the deployment package is too large",
                )
            } else {
                ApiError::invalid(format!("Could not read the request body: {e}"))
            }
        })?;
        let body: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        serde_json::from_slice(body)
            .map(AwsJson)
            .map_err(|e| ApiError::invalid(format!("Could not parse request body into json: {e}")))
    }
}
