//! Lambda runtime facts that both the deploy side and the local backend rely on.

/// The managed runtime of functions whose app runs on Node.js: Lambda's
/// Node.js 22, on Amazon Linux 2023 like `provided.al2023`, so the same
/// static `bootstrap` runs on both.
pub const NODE_RUNTIME: &str = "nodejs22.x";
/// The function variable naming the executable Lambda starts instead of a
/// managed runtime's own start command.
pub const EXEC_WRAPPER_VAR: &str = "AWS_LAMBDA_EXEC_WRAPPER";
/// Where Lambda unpacks a function's code in the execution environment.
pub const TASK_ROOT: &str = "/var/task";

/// The `errorType` values that Lambda (and the local backend, and
/// `ownstak-runtime`) report for failed invocations, so that no component
/// writes or compares them as free text.
pub mod error_type {
    /// The invocation ran past the function's timeout, or init past its limit.
    pub const SANDBOX_TIMEDOUT: &str = "Sandbox.Timedout";
    /// The runtime process exited during the invocation.
    pub const RUNTIME_EXIT_ERROR: &str = "Runtime.ExitError";
    /// The function's code could not be started (no executable bootstrap).
    pub const RUNTIME_INVALID_ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";
    /// The platform failed for a reason it cannot name more precisely.
    pub const RUNTIME_UNKNOWN: &str = "Runtime.Unknown";
    /// The function's response was larger than the payload limit.
    pub const RESPONSE_SIZE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    /// A failure a runtime posted without naming its type.
    pub const UNHANDLED: &str = "Unhandled";
    /// `ownstak-runtime`: the app failed while answering.
    pub const APP_ERROR: &str = "Runtime.AppError";
    /// `ownstak-runtime`: the app did not answer before the deadline.
    pub const APP_TIMEOUT: &str = "Runtime.AppTimeout";
    /// `ownstak-runtime`: the app could not be started.
    pub const APP_START_ERROR: &str = "Runtime.AppStartError";
    /// `ownstak-runtime`: the bundle manifest is missing or invalid.
    pub const MANIFEST_ERROR: &str = "Runtime.ManifestError";
    /// `ownstak-runtime`: the event could not be turned into a request.
    pub const INVALID_EVENT: &str = "Runtime.InvalidEvent";

    /// Whether a failure of this type means the function ran out of time.
    pub fn is_timeout(error_type: &str) -> bool {
        error_type == SANDBOX_TIMEDOUT
    }
}
