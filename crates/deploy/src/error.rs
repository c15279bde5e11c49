//! Errors of packaging and deploying.

use ownstak_sdk_error::SdkFailure;
/// Why a deploy, promote or listing failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The app directory cannot be packaged.
    #[error("{0}")]
    Bundle(String),
    /// `ownstak.toml` is invalid.
    #[error("{path}: {message}")]
    Project {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The Lambda endpoint did not answer.
    #[error("cannot reach the Lambda API at {endpoint}: {detail}. {hint}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
    /// The credentials in use may not make a call.
    #[error(
        "{operation} was denied: {message}; the credentials in use need the backend's deployer policy (the stack output `DeployerPolicyArn`, see `ownstak backend status`)"
    )]
    AccessDenied {
        /// The operation, e.g. `CreateFunction`.
        operation: &'static str,
        /// What AWS said.
        message: String,
    },
    /// The function did not become ready for the next step.
    #[error("function `{function}` {state}{reason}; look at it in the Lambda console, fix the cause and deploy again")]
    NotReady {
        /// The function.
        function: String,
        /// Its state, e.g. `failed to update`.
        state: String,
        /// `: <reason>` when Lambda gave one.
        reason: String,
    },
    /// The Lambda API refused a call.
    #[error("{operation} failed: {code}: {message}")]
    Api {
        /// The operation, e.g. `CreateFunction`.
        operation: &'static str,
        /// The AWS error code.
        code: String,
        /// The message.
        message: String,
    },
    /// The deployment does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A variable name or file is unusable.
    #[error("{0}")]
    InvalidVariable(String),
    /// A log file cannot be read.
    #[error("{0}")]
    Logs(String),
    /// A deployment id breaks [`ownstak_core::valid_deployment_id`].
    #[error(
        "`{0}` is not a valid deployment id: use 1 to 64 ASCII letters, digits, `_` and `-` (the `deploymentId` in .ownstak/build.json)"
    )]
    InvalidDeploymentId(String),
    /// The function belongs to another project, environment or backend.
    #[error("function {function} belongs to {owner}, not to {wanted}; {hint}")]
    NotOwner {
        /// The function.
        function: String,
        /// Its owner, as its tags name it.
        owner: String,
        /// The owner the command acts for.
        wanted: String,
        /// What to do.
        hint: String,
    },
    /// Concurrent deploys kept changing the function under us.
    #[error("gave up after {attempts} attempts because other deploys kept changing `{function}`; try again")]
    Contended {
        /// The function.
        function: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// Uploading static assets failed.
    #[error("uploading static assets failed: {0}")]
    Assets(#[from] ownstak_assets::AssetError),
    /// Local I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A local backend refused the request (its message says why and what to do).
    #[error("the local backend refused the request: {0}")]
    Refused(String),
    /// The local backend's credentials file cannot be used.
    #[error("{0}")]
    Credentials(String),
}

impl DeployError {
    /// The AWS error code, when the Lambda API refused the call.
    pub fn code(&self) -> Option<&str> {
        match self {
            DeployError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Converts an SDK error into a [`DeployError`], telling transport
/// failures apart from API refusals.
pub(crate) fn sdk<E, R>(
    operation: &'static str,
    endpoint: &crate::client::Endpoint,
) -> impl FnOnce(aws_sdk_lambda::error::SdkError<E, R>) -> DeployError
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let hint = endpoint.unreachable_hint();
    let local = matches!(endpoint, crate::client::Endpoint::Local { .. });
    let endpoint = endpoint.url().to_owned();
    move |err| match ownstak_sdk_error::classify(&err) {
        SdkFailure::Unreachable { detail } | SdkFailure::NoCredentials { detail } => {
            DeployError::Unreachable { endpoint, detail, hint }
        }
        SdkFailure::AccessDenied(e) if local => DeployError::Refused(format!("{operation}: {}", e.message)),
        SdkFailure::AccessDenied(e) => DeployError::AccessDenied { operation, message: e.to_string() },
        other => {
            let e = other.service_error().cloned().unwrap_or_else(|| ownstak_sdk_error::ServiceError {
                code: "Unknown".to_owned(),
                message: other.to_string(),
            });
            DeployError::Api { operation, code: e.code, message: e.message }
        }
    }
}
