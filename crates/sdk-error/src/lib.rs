//! One classification of AWS SDK errors for every ownstak crate.
//!
//! Every `aws-sdk-*` call fails with the same `SdkError<E, R>`: a request
//! that never got an answer (no connection, a timeout, no credentials), or
//! a service's error with a code and a message. [`classify`] sorts any of
//! them into an [`SdkFailure`] once, so the proxy, the deploy code, the
//! asset store and the AWS backend commands agree on what is retryable,
//! what is a missing resource, and what is a permission problem; each
//! crate then maps the class into its own typed error.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an SDK call's failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkFailure {
    /// No answer: the endpoint could not be reached or did not answer in time.
    Unreachable {
        /// What the transport said.
        detail: String,
    },
    /// The request could not be signed: no usable credentials.
    NoCredentials {
        /// What the credential chain said.
        detail: String,
    },
    /// The caller is not allowed to do this.
    AccessDenied(ServiceError),
    /// The resource does not exist.
    NotFound(ServiceError),
    /// The service is throttling the caller.
    Throttled(ServiceError),
    /// The request is too large for the service.
    TooLarge(ServiceError),
    /// Any other refusal by the service.
    Service(ServiceError),
}

/// A service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The error code, e.g. `ResourceNotFoundException`.
    pub code: String,
    /// The service's message (or a description of the error when it sent none).
    pub message: String,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl SdkFailure {
    /// The service error, for failures the service answered.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            SdkFailure::Unreachable { .. } | SdkFailure::NoCredentials { .. } => None,
            SdkFailure::AccessDenied(e)
            | SdkFailure::NotFound(e)
            | SdkFailure::Throttled(e)
            | SdkFailure::TooLarge(e)
            | SdkFailure::Service(e) => Some(e),
        }
    }

    /// The error code, for failures the service answered.
    pub fn code(&self) -> Option<&str> {
        self.service_error().map(|e| e.code.as_str())
    }
}

impl std::fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdkFailure::Unreachable { detail } => write!(f, "no answer: {detail}"),
            SdkFailure::NoCredentials { detail } => write!(f, "no usable credentials: {detail}"),
            SdkFailure::AccessDenied(e)
            | SdkFailure::NotFound(e)
            | SdkFailure::Throttled(e)
            | SdkFailure::TooLarge(e)
            | SdkFailure::Service(e) => e.fmt(f),
        }
    }
}

/// Error codes that mean "not allowed", across AWS services.
const ACCESS_DENIED: &[&str] =
    &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"];
/// Error codes that mean "does not exist".
const NOT_FOUND: &[&str] = &["ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchEntity"];
/// Error codes that mean "slow down".
const THROTTLED: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "SlowDown",
];
/// Error codes that mean "too large".
const TOO_LARGE: &[&str] = &["RequestTooLargeException", "EntityTooLarge", "RequestEntityTooLargeException"];

/// Sorts an SDK error into its class.
pub fn classify<E, R>(err: &SdkError<E, R>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            SdkFailure::Unreachable { detail: DisplayErrorContext(err).to_string() }
        }
        SdkError::ConstructionFailure(_) => {
            let detail = DisplayErrorContext(err).to_string();
            if detail.contains("credentials") {
                SdkFailure::NoCredentials { detail }
            } else {
                SdkFailure::Service(ServiceError { code: "ConstructionFailure".to_owned(), message: detail })
            }
        }
        _ => {
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err.message().map(str::to_owned).unwrap_or_else(|| DisplayErrorContext(err).to_string());
            let e = ServiceError { code, message };
            let is = |list: &[&str]| list.contains(&e.code.as_str());
            if is(ACCESS_DENIED) {
                SdkFailure::AccessDenied(e)
            } else if is(NOT_FOUND) {
                SdkFailure::NotFound(e)
            } else if is(THROTTLED) {
                SdkFailure::Throttled(e)
            } else if is(TOO_LARGE) {
                SdkFailure::TooLarge(e)
            } else {
                SdkFailure::Service(e)
            }
        }
    }
}
