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
