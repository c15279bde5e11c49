//! Typed errors of the runtime and the error body the Runtime API expects.

use std::path::PathBuf;
use std::process::ExitStatus;

use http::StatusCode;
use ownstak_core::ConvertError;
use ownstak_core::ManifestError;
use serde::Serialize;

/// The error body posted to the Runtime API's `init/error` and `invocation/{id}/error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    /// What went wrong, for humans.
    pub error_message: String,
    /// A `Category.Reason` type such as `Runtime.AppError`.
    pub error_type: String,
    /// Always empty: the failure is never inside this process's user code.
    pub stack_trace: Vec<String>,
}

impl ErrorReport {
    /// A report of `error_type` whose message is `error` with all its sources.
    pub fn new(error_type: &str, error: &dyn std::error::Error) -> Self {
        Self { error_message: chain(error), error_type: error_type.to_owned(), stack_trace: Vec::new() }
    }

    /// The JSON body.
    #[allow(clippy::expect_used, reason = "a struct of strings always serializes")]
    pub fn to_json(&self) -> Vec<u8> {
        // Invariant: a struct of strings always serializes.
        serde_json::to_vec(self).expect("error report serializes")
    }
}

/// Formats an error followed by its sources, separated by `: `.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(err) = source {
        let text = err.to_string();
        // Some errors repeat their source in their own message; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = err.source();
    }
    out
}

/// The environment does not describe a usable runtime.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `AWS_LAMBDA_RUNTIME_API` is not set.
    #[error(
        "AWS_LAMBDA_RUNTIME_API is not set; ownstak-runtime must run inside a Lambda sandbox (or set it to the Runtime API's host:port)"
    )]
    MissingRuntimeApi,
    /// `OWNSTAK_APP_PORT` is not a port number.
    #[error("OWNSTAK_APP_PORT is `{0}`, which is not a port number between 1 and 65535")]
    InvalidPort(String),
    /// `OWNSTAK_RESPONSE_MODE` is neither `buffered` nor `streaming`.
    #[error("OWNSTAK_RESPONSE_MODE is `{0}`; use `streaming` (the default) or `buffered`")]
    InvalidResponseMode(String),
}

/// The function cannot start; reported to `init/error`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The manifest file cannot be read.
    #[error("cannot read the bundle manifest {}", path.display())]
    ManifestRead {
        /// The manifest's path.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The manifest file is not a valid manifest.
    #[error("the bundle manifest {} is invalid", path.display())]
    ManifestInvalid {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ManifestError,
    },
    /// No local port could be reserved for the app.
    #[error("cannot find a free local port for the app")]
    Port(#[source] std::io::Error),
    /// The start command could not be run.
    #[error("cannot run the app's start command `{command}`")]
    Spawn {
        /// The manifest's command.
        command: String,
        /// Why spawning failed.
        #[source]
        source: std::io::Error,
    },
    /// The app exited before it accepted connections.
    #[error("the app exited with {} before listening on port {port}; check the function log for its output", describe_exit(*status))]
    ExitedEarly {
        /// How it exited.
        status: ExitStatus,
        /// The port it was told to use.
        port: u16,
    },
    /// The function's secrets could not be fetched.
    #[error("cannot fetch the secret parameter {parameter}: {detail}; {hint}")]
    Secrets {
        /// The parameter (or the parameters of the failed request).
        parameter: String,
        /// What went wrong.
        detail: String,
        /// What to do.
        hint: &'static str,
    },
    /// The function's secret references are malformed.
    #[error(transparent)]
    SecretRefs(#[from] ownstak_core::SecretRefsError),
    /// The app did not accept connections in time.
    #[error("the app did not accept connections on port {port} within {timeout_ms} ms; make sure it listens on $PORT")]
    NotListening {
        /// The port it was told to use.
        port: u16,
        /// The manifest's ready timeout.
        timeout_ms: u64,
    },
}

impl InitError {
    /// The `Lambda-Runtime-Function-Error-Type` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::ManifestRead { .. } | Self::ManifestInvalid { .. } => "Runtime.ManifestError",
            Self::Secrets { .. } | Self::SecretRefs(_) => "Runtime.SecretsError",
            Self::Port(_) | Self::Spawn { .. } | Self::ExitedEarly { .. } | Self::NotListening { .. } => {
                "Runtime.AppStartError"
            }
        }
    }

    /// The report posted to `init/error`.
    pub fn report(&self) -> ErrorReport {
        ErrorReport::new(self.error_type(), self)
    }
}

/// `exit code 3` or `signal 9`, for messages.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// A persistent HTTP/1.1 connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address.
        addr: String,
        /// Why connecting failed.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed (handshake, write, or reading the response).
    #[error("the HTTP exchange with {addr} failed")]
    Http {
        /// The address.
        addr: String,
        /// What hyper saw.
        #[source]
        source: hyper::Error,
    },
}

/// Talking to the Runtime API failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeApiError {
    /// The connection failed.
    #[error("the Lambda Runtime API is unreachable")]
    Conn(#[from] ConnError),
    /// The Runtime API answered with an unexpected status.
    #[error("the Lambda Runtime API answered {status} to {path}: {body}")]
    Rejected {
        /// The request path.
        path: String,
        /// The status it answered.
        status: StatusCode,
        /// Its body, lossily decoded.
        body: String,
    },
    /// `invocation/next` came without `Lambda-Runtime-Aws-Request-Id`.
    #[error("the Lambda Runtime API sent an invocation without a Lambda-Runtime-Aws-Request-Id header")]
    MissingRequestId,
    /// A request id that cannot be placed in a URL path.
    #[error("the Lambda Runtime API sent an invalid request id `{0}`")]
    InvalidRequestId(String),
}

/// One invocation failed; reported to `invocation/{id}/error`.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The payload is not an API Gateway v2 HTTP event.
    #[error("the event is not an API Gateway v2 HTTP event")]
    EventJson(#[source] serde_json::Error),
    /// The event cannot be expressed as an HTTP request.
    #[error("the event cannot be turned into an HTTP request")]
    EventConvert(#[source] ConvertError),
    /// The event's path is not a valid request target.
    #[error("the event's path and query `{0}` is not a valid HTTP request target")]
    EventTarget(String),
    /// The request to the app failed.
    #[error("the request to the app on port {port} failed")]
    App {
        /// The app's port.
        port: u16,
        /// What failed.
        #[source]
        source: ConnError,
    },
    /// Reading the app's response body failed.
    #[error("the app on port {port} broke off its response")]
    AppBody {
        /// The app's port.
        port: u16,
        /// What failed.
        #[source]
        source: hyper::Error,
    },
    /// The app did not answer before the invocation's deadline.
    #[error("the app on port {port} did not answer within the invocation's remaining {budget_ms} ms")]
    Deadline {
        /// The app's port.
        port: u16,
        /// The time it had.
        budget_ms: u128,
    },
}

impl InvokeError {
    /// The `Lambda-Runtime-Function-Error-Type` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::EventJson(_) | Self::EventConvert(_) | Self::EventTarget(_) => "Runtime.InvalidEvent",
            Self::App { .. } | Self::AppBody { .. } | Self::Deadline { .. } => "Runtime.AppError",
        }
    }

    /// Whether the app's connection failed, so the app may have died.
    pub fn is_app_failure(&self) -> bool {
        matches!(self, Self::App { .. } | Self::AppBody { .. })
    }

    /// The report posted to `invocation/{id}/error`.
    pub fn report(&self) -> ErrorReport {
        ErrorReport::new(self.error_type(), self)
    }
}

/// A streamed response broke off after its head was sent; reported in the
/// upload's trailers, since the invocation already has a response.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the app's response body failed (the app died or reset the connection).
    #[error("the app on port {port} broke off its response body after {bytes} bytes")]
    AppBody {
        /// The app's port.
        port: u16,
        /// The body bytes forwarded before the failure.
        bytes: u64,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The app did not finish its body before the invocation's deadline.
    #[error(
        "the app on port {port} did not finish its response body before the invocation's deadline ({bytes} bytes sent)"
    )]
    Deadline {
        /// The app's port.
        port: u16,
        /// The body bytes forwarded before the deadline.
        bytes: u64,
    },
}

impl StreamError {
    /// The `Lambda-Runtime-Function-Error-Type` trailer for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::AppBody { .. } => "Runtime.AppError",
            Self::Deadline { .. } => "Runtime.AppTimeout",
        }
    }

    /// Whether the app's connection failed, so the app may have died.
    pub fn is_app_failure(&self) -> bool {
        matches!(self, Self::AppBody { .. })
    }

    /// The report whose JSON goes, base64-encoded, into the `Lambda-Runtime-Function-Error-Body` trailer.
    pub fn report(&self) -> ErrorReport {
        ErrorReport::new(self.error_type(), self)
    }
}

/// Why the runtime stopped with a failure (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The init phase failed (already reported to `init/error` when possible).
    #[error("the function failed to initialize")]
    Init(#[source] InitError),
    /// The Runtime API failed.
    #[error("the runtime lost the Lambda Runtime API")]
    RuntimeApi(#[from] RuntimeApiError),
    /// The app exited while serving.
    #[error("the app exited with {}", describe_exit(*.0))]
    AppExited(ExitStatus),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn report_json_has_the_runtime_api_shape() {
        let err = InitError::NotListening { port: 3000, timeout_ms: 10_000 };
        let json: serde_json::Value = serde_json::from_slice(&err.report().to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "errorMessage": "the app did not accept connections on port 3000 within 10000 ms; make sure it listens on $PORT",
                "errorType": "Runtime.AppStartError",
                "stackTrace": []
            })
        );
    }

    #[test]
    fn messages_include_sources_and_exit_details() {
        let err = InitError::ManifestRead {
            path: "/var/task/ownstak.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(err.error_type(), "Runtime.ManifestError");
        assert_eq!(
            err.report().error_message,
            "cannot read the bundle manifest /var/task/ownstak.json: entity not found"
        );
        let exited = InitError::ExitedEarly { status: ExitStatus::from_raw(3 << 8), port: 4000 };
        assert_eq!(
            exited.to_string(),
            "the app exited with exit code 3 before listening on port 4000; check the function log for its output"
        );
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "signal 9");
        let refused = InvokeError::App {
            port: 4000,
            source: ConnError::Connect {
                addr: "127.0.0.1:4000".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        };
        assert_eq!(refused.error_type(), "Runtime.AppError");
        assert!(refused.is_app_failure());
        assert_eq!(
            refused.report().error_message,
            "the request to the app on port 4000 failed: cannot connect to 127.0.0.1:4000: connection refused"
        );
        let bad = InvokeError::EventJson(serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err());
        assert_eq!(bad.error_type(), "Runtime.InvalidEvent");
        assert!(!bad.is_app_failure());
    }
}
