//! SSM errors as the JSON 1.1 protocol answers them: status 400 (500 for
//! faults of this service) and `{"__type": …, "message": …}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the SSM endpoint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct SsmError {
    /// SSM's error code, e.g. `ParameterNotFound`.
    pub(crate) code: &'static str,
    /// The human-readable message.
    pub(crate) message: String,
}

impl SsmError {
    /// An error with SSM's code and a message.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// `ValidationException`.
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// `ParameterNotFound`.
    pub(crate) fn not_found(name: &str) -> Self {
        Self::new("ParameterNotFound", format!("Parameter {name} not found."))
    }

    /// `InternalServerError`, for a failure of the store.
    pub(crate) fn store(e: rusqlite::Error) -> Self {
        Self::new("InternalServerError", format!("the parameter database failed: {e}"))
    }
}

impl IntoResponse for SsmError {
    fn into_response(self) -> Response {
        let status = if self.code == "InternalServerError" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut resp = (status, super::json_body(&body)).into_response();
        resp.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        resp
    }
}
