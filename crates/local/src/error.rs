//! Lambda API errors: AWS's error names, status codes and body shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The AWS error types this service returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: no such function, version or alias.
    ResourceNotFound,
    /// 409: the resource exists or is in use.
    ResourceConflict,
    /// 400: a parameter is invalid.
    InvalidParameterValue,
    /// 412: a `RevisionId` or `CodeSha256` precondition failed.
    PreconditionFailed,
    /// 429: no environment could take the invocation in time.
    TooManyRequests,
    /// 413: the request payload is too large.
    RequestTooLarge,
    /// 415: the request is not JSON.
    UnsupportedMediaType,
    /// 403: the request was refused before reaching the API (see `ownstak_guard`).
    AccessDenied,
    /// 500: a fault of this service.
    Service,
}

impl ErrorKind {
    /// The `x-amzn-ErrorType` name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::ResourceConflict => "ResourceConflictException",
            ErrorKind::InvalidParameterValue => "InvalidParameterValueException",
            ErrorKind::PreconditionFailed => "PreconditionFailedException",
            ErrorKind::TooManyRequests => "TooManyRequestsException",
            ErrorKind::RequestTooLarge => "RequestTooLargeException",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaTypeException",
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::Service => "ServiceException",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::ResourceNotFound => StatusCode::NOT_FOUND,
            ErrorKind::ResourceConflict => StatusCode::CONFLICT,
            ErrorKind::InvalidParameterValue => StatusCode::BAD_REQUEST,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::AccessDenied => StatusCode::FORBIDDEN,
            ErrorKind::Service => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer of the Lambda API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct ApiError {
    /// Which AWS error.
    pub kind: ErrorKind,
    /// The human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error of a kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// `InvalidParameterValueException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameterValue, message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }

    /// `ResourceConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceConflict, message)
    }

    /// `PreconditionFailedException`.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }

    /// `ServiceException`, for faults of this service.
    pub fn service(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Service, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.kind {
            ErrorKind::TooManyRequests => serde_json::json!({
                "Type": "User", "message": self.message,
                "Reason": "ConcurrentInvocationLimitExceeded", "retryAfterSeconds": "1"
            }),
            ErrorKind::Service => serde_json::json!({ "Type": "Service", "message": self.message }),
            _ => serde_json::json!({ "Type": "User", "message": self.message }),
        };
        let mut resp = (self.kind.status(), axum::Json(body)).into_response();
        resp.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(self.kind.name()));
        if self.kind == ErrorKind::TooManyRequests {
            resp.headers_mut().insert("Retry-After", HeaderValue::from_static("1"));
        }
        resp
    }
}
