//! One execution environment: a process tree running a function's
//! bootstrap, with its own Runtime API listener.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ownstak_core::lambda::{EXEC_WRAPPER_VAR, TASK_ROOT, error_type};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::peer::Peer;
use super::runtime_api;
use super::state::{EnvState, NextInvocation, Progress, Refusal, exit_failure};
use super::{FunctionFailure, FunctionSpec, InvokeRequest, Outcome};
use crate::clock::log_stream_date;

/// Environment variables a sandbox inherits from the local backend; the
/// rest of its environment is what Lambda itself sets.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "NODE_PATH", "PYTHONPATH", "VIRTUAL_ENV"];

/// A running environment.
pub(super) struct Environment {
    /// Unique within the process, for logs.
    pub id: u64,
    state: Arc<EnvState>,
    pgid: i32,
    server: JoinHandle<()>,
    log: Option<std::fs::File>,
    /// The log stream name, as the function sees it.
    stream: String,
    /// When the last invocation ended.
    pub last_used: Instant,
}

impl Environment {
    /// Starts the bootstrap of `spec` in a new process group.
    pub(super) async fn spawn(id: u64, spec: &FunctionSpec, max_response: usize) -> Result<Self, FunctionFailure> {
        let program = entrypoint(spec)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            FunctionFailure::platform(error_type::RUNTIME_UNKNOWN, format!("cannot open a Runtime API port: {e}"))
        })?;
        let api_addr = listener.local_addr().map_err(|e| {
            FunctionFailure::platform(error_type::RUNTIME_UNKNOWN, format!("cannot read the Runtime API port: {e}"))
        })?;
        let state = Arc::new(EnvState::new(max_response));
        let gate = crate::guard::RuntimeGate::new(api_addr, format!("environment {id} of {}", spec.function));
        let app = runtime_api::router(state.clone(), gate);
        // The bootstrap's pid, once it runs: only its process tree may connect.
        let leader = Arc::new(OnceLock::new());
        let server = tokio::spawn(serve_runtime_api(listener, app, leader.clone()));

        if let Some(dir) = spec.log_path.parent() {
            let _ = crate::private::private_dir(dir);
        }
        // Logs hold the function's output: readable by their owner only.
        let log = crate::private::open_append(&spec.log_path).ok();
        // Named as Lambda names log streams; it prefixes the platform's lines.
        let stream = format!("{}/[{}]{id:032x}", log_stream_date(), spec.version);
        let stdio = || {
            log.as_ref()
                .and_then(|f| f.try_clone().ok())
                .map(std::process::Stdio::from)
                .unwrap_or_else(std::process::Stdio::null)
        };

        let mut cmd = match &program {
            Entrypoint::Direct(bootstrap) => tokio::process::Command::new(bootstrap),
            Entrypoint::Wrapped { wrapper, bootstrap } => {
                let mut c = tokio::process::Command::new(wrapper);
                c.arg(bootstrap);
                c
            }
        };
        cmd.current_dir(&spec.code_dir)
            .env_clear()
            .envs(INHERITED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (*k, v))))
            .envs(&spec.environment)
            .envs(lambda_env(spec, &api_addr.to_string(), &stream))
            .stdin(std::process::Stdio::null())
            .stdout(stdio())
            .stderr(stdio())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches only the child's own
        // process attributes; it makes the sandbox die with the backend.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                server.abort();
                return Err(FunctionFailure::platform(
                    error_type::RUNTIME_INVALID_ENTRYPOINT,
                    format!("cannot start {}: {e}", program.describe()),
                ));
            }
        };
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        if let Some(pid) = child.id() {
            let _ = leader.set(pid);
        }
        {
            let state = state.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                let status = status.map(|s| describe_exit(&s)).unwrap_or_else(|e| e.to_string());
                state.exited(&status);
                // Take down whatever the bootstrap left running.
                terminate_group(pgid);
            });
        }
        tracing::debug!(env = id, function = %spec.function, version = %spec.version, pid = pgid, runtime_api = %api_addr, "environment started");
        Ok(Self { id, state, pgid, server, log, stream, last_used: Instant::now() })
    }

    /// Whether the process is running and may take another invocation.
    pub(super) fn reusable(&self) -> bool {
        self.state.reusable()
    }

    /// Runs one invocation. Its outcome goes to `deliver` (a streamed
    /// response as soon as it starts); the call returns when the runtime has
    /// finished. `taken` is called once the runtime has taken the
    /// invocation (its init, if any, is over). The environment is unusable
    /// afterwards unless [`Environment::reusable`] says otherwise.
    ///
    /// A warm environment whose process died before taking the invocation
    /// returns [`NotTaken`] and gives nothing: nothing reached the function,
    /// so the caller can safely run the invocation in a fresh environment.
    pub(super) async fn invoke(
        &mut self,
        req: &InvokeRequest,
        init_timeout: Duration,
        deliver: &mut Delivery,
        taken: impl FnOnce(),
    ) -> Result<(), NotTaken> {
        let started_at = Instant::now();
        let cold = self.state.cold();
        let (request_id, spec) = (&req.request_id, &req.spec);
        self.platform_log(format_args!("START RequestId: {request_id} Version: {}", spec.version));
        let error_type = match self.run(req, init_timeout, deliver, taken).await {
            Ok(t) => t,
            Err(NotTaken) => {
                self.platform_log(format_args!(
                    "END RequestId: {request_id} (environment had exited; retrying in a fresh one)"
                ));
                return Err(NotTaken);
            }
        };
        let ms = started_at.elapsed().as_secs_f64() * 1000.0;
        let status = error_type.map(|t| format!("\tStatus: error\tErrorType: {t}")).unwrap_or_default();
        self.platform_log(format_args!(
            "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tMemory Size: {} MB{}{status}",
            spec.memory_size,
            if cold { "\tInit: cold" } else { "" }
        ));
        self.last_used = Instant::now();
        Ok(())
    }

    /// Returns the error type when the invocation failed before its
    /// response started.
    async fn run(
        &mut self,
        req: &InvokeRequest,
        init_timeout: Duration,
        deliver: &mut Delivery,
        taken: impl FnOnce(),
    ) -> Result<Option<String>, NotTaken> {
        let request_id = req.request_id.as_str();
        let fail = |deliver: &mut Delivery, failure: FunctionFailure| {
            let t = failure.error_type.clone();
            deliver.give(Outcome::Failure(failure));
            Ok(Some(t))
        };
        let offered = self.state.offer(NextInvocation {
            request_id: req.request_id.clone(),
            payload: req.payload.clone(),
            invoked_arn: req.spec.invoked_arn.clone(),
            timeout: req.spec.timeout,
        });
        let mut progress = match offered {
            Ok(progress) => progress,
            Err(Refusal::NotTaken) => return Err(NotTaken),
            Err(Refusal::Failed(failure)) => return fail(deliver, failure),
        };
        // Phase 1: the runtime must take the invocation within the init limit.
        match tokio::time::timeout(init_timeout, progress.recv()).await {
            Ok(Some(Progress::Taken)) => taken(),
            Ok(Some(Progress::Refused(Refusal::NotTaken))) => return Err(NotTaken),
            Ok(Some(Progress::Refused(Refusal::Failed(failure)))) => return fail(deliver, failure),
            Ok(Some(Progress::Outcome(_) | Progress::Finished) | None) => {
                return fail(deliver, exit_failure(request_id, "the environment stopped"));
            }
            Err(_) => {
                self.kill();
                return fail(
                    deliver,
                    FunctionFailure::platform(
                        error_type::SANDBOX_TIMEDOUT,
                        format!(
                            "RequestId: {request_id} Error: INIT phase did not finish within {:.2} seconds; the runtime never asked for the invocation",
                            init_timeout.as_secs_f64()
                        ),
                    ),
                );
            }
        }
        // Phase 2: the function timeout covers the whole response, streamed or not.
        let deadline = tokio::time::Instant::now() + req.spec.timeout;
        let timed_out = || {
            FunctionFailure::platform(
                error_type::SANDBOX_TIMEDOUT,
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    req.spec.timeout.as_secs_f64()
                ),
            )
        };
        let outcome = match tokio::time::timeout_at(deadline, progress.recv()).await {
            Ok(Some(Progress::Outcome(outcome))) => outcome,
            Ok(_) => Outcome::Failure(exit_failure(request_id, "the runtime went away without a reason")),
            Err(_) => {
                self.kill();
                return fail(deliver, timed_out());
            }
        };
        let t = match &outcome {
            Outcome::Failure(f) => Some(f.error_type.clone()),
            _ => None,
        };
        deliver.give(outcome);
        // A streamed response may still be being written: stop it at the deadline.
        // Stopping the runtime cuts the stream, which the reader sees as a failure.
        if tokio::time::timeout_at(deadline, progress.recv()).await.is_err() {
            self.kill();
            return Ok(Some(timed_out().error_type));
        }
        Ok(t)
    }

    /// Appends one platform line to the function's log in a single write,
    /// so that lines never interleave with the function's own output and
    /// an invocation costs one system call per line.
    fn platform_log(&mut self, line: std::fmt::Arguments<'_>) {
        if let Some(f) = self.log.as_mut() {
            // Each line with its time and stream (`ownstak_core::platform_line`),
            // written at once.
            let time = ownstak_core::log_time_now();
            let mut text = String::new();
            for line in line.to_string().lines() {
                text.push_str(&ownstak_core::platform_line(&time, &self.stream, line));
                text.push('\n');
            }
            let _ = f.write_all(text.as_bytes());
        }
    }

    /// Stops the environment: SIGTERM to its process group, so that the
    /// bootstrap can stop what it started (an app in a process group of its
    /// own), then SIGKILL to the group after a short grace period.
    pub(super) fn kill(&self) {
        self.state.exited("stopped by the local backend");
        terminate_group(self.pgid);
    }
}

/// Serves one environment's Runtime API: each connection is first
/// attributed to a process (see [`super::peer`]), and its requests carry
/// the verdict for the Runtime API's guard.
async fn serve_runtime_api(listener: tokio::net::TcpListener, app: axum::Router, leader: Arc<OnceLock<u32>>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly.
                tracing::debug!(error = %e, "Runtime API: accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, leader) = (app.clone(), leader.clone());
        tokio::spawn(async move {
            let Ok(local) = stream.local_addr() else { return };
            let peer = Peer::identify(local, remote, leader).await;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(peer.clone());
                tower::ServiceExt::oneshot(app.clone(), req.map(axum::body::Body::new))
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(io, service)
                .await;
        });
    }
}

/// How long a stopped environment gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(250);

fn terminate_group(pgid: i32) {
    if pgid <= 0 {
        return;
    }
    // SAFETY: kill(2) on the environment's own process group.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let hard_kill = move || {
        // SAFETY: as above; the group may already be gone (ESRCH is harmless).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move {
                tokio::time::sleep(KILL_GRACE).await;
                hard_kill();
            });
        }
        Err(_) => hard_kill(),
    }
}

/// The invocation never reached the runtime; it may run elsewhere.
#[derive(Debug)]
pub(super) struct NotTaken;

/// Where an invocation's outcome goes. A streamed response goes out at
/// once; a complete outcome is held until [`Delivery::release`], which the
/// pool calls after putting the environment back, so that an immediate
/// next invocation finds it warm.
pub(super) struct Delivery {
    tx: Option<oneshot::Sender<Outcome>>,
    held: Option<Outcome>,
}

impl Delivery {
    /// A delivery to `tx`.
    pub(super) fn new(tx: oneshot::Sender<Outcome>) -> Self {
        Self { tx: Some(tx), held: None }
    }

    /// Gives the outcome: streams at once, anything else on release.
    pub(super) fn give(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Stream(_) => {
                if let Some(tx) = self.tx.take() {
                    let _ = tx.send(outcome);
                }
            }
            other => self.held = Some(other),
        }
    }

    /// Hands a held outcome to the caller.
    pub(super) fn release(mut self) {
        if let (Some(tx), Some(outcome)) = (self.tx.take(), self.held.take()) {
            let _ = tx.send(outcome);
        }
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

fn describe_exit(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

enum Entrypoint {
    Direct(PathBuf),
    Wrapped { wrapper: PathBuf, bootstrap: PathBuf },
}

impl Entrypoint {
    fn describe(&self) -> String {
        match self {
            Entrypoint::Direct(b) => b.display().to_string(),
            Entrypoint::Wrapped { wrapper, bootstrap } => format!("{} {}", wrapper.display(), bootstrap.display()),
        }
    }
}

/// Finds the executable: the bundle's `bootstrap`, optionally run through
/// `AWS_LAMBDA_EXEC_WRAPPER` (a path under Lambda's `/var/task` names the
/// same file in this environment's code directory).
fn entrypoint(spec: &FunctionSpec) -> Result<Entrypoint, FunctionFailure> {
    let bootstrap = spec.code_dir.join("bootstrap");
    let executable =
        std::fs::metadata(&bootstrap).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if !executable {
        return Err(FunctionFailure::platform(
            error_type::RUNTIME_INVALID_ENTRYPOINT,
            "Couldn't find valid bootstrap(s): the package has no executable `bootstrap` at its root".to_owned(),
        ));
    }
    match spec.environment.get(EXEC_WRAPPER_VAR) {
        Some(w) => Ok(Entrypoint::Wrapped { wrapper: wrapper_path(&spec.code_dir, w), bootstrap }),
        None => Ok(Entrypoint::Direct(bootstrap)),
    }
}

/// The file an `AWS_LAMBDA_EXEC_WRAPPER` value names: relative to the code
/// directory, or absolute, with Lambda's `/var/task` standing for the code
/// directory.
fn wrapper_path(code_dir: &std::path::Path, wrapper: &str) -> PathBuf {
    match wrapper.strip_prefix(TASK_ROOT).and_then(|rest| rest.strip_prefix('/')) {
        Some(rest) => code_dir.join(rest),
        None if wrapper.starts_with('/') => PathBuf::from(wrapper),
        None => code_dir.join(wrapper),
    }
}

/// The variables Lambda sets in every execution environment.
fn lambda_env(spec: &FunctionSpec, api: &str, stream: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.function.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", spec.version.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_size.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.function)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
        ("AWS_REGION", spec.region.clone()),
        ("AWS_DEFAULT_REGION", spec.region.clone()),
        ("_HANDLER", spec.handler.clone()),
        ("LAMBDA_TASK_ROOT", spec.code_dir.display().to_string()),
        ("LAMBDA_RUNTIME_DIR", spec.code_dir.display().to_string()),
        ("TZ", ":UTC".to_owned()),
        ("AWS_ACCESS_KEY_ID", spec.keys.access_key_id().to_owned()),
        ("AWS_SECRET_ACCESS_KEY", spec.keys.secret_access_key().to_owned()),
        ("AWS_ENDPOINT_URL_SSM", spec.ssm_endpoint.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_under_the_task_root_are_in_the_code_directory() {
        let code = std::path::Path::new("/data/code/abc");
        assert_eq!(wrapper_path(code, "/var/task/bootstrap"), code.join("bootstrap"));
        assert_eq!(wrapper_path(code, "/var/task/bin/wrap"), code.join("bin/wrap"));
        assert_eq!(wrapper_path(code, "wrap.sh"), code.join("wrap.sh"));
        assert_eq!(wrapper_path(code, "/opt/wrap"), PathBuf::from("/opt/wrap"));
        assert_eq!(wrapper_path(code, "/var/taskother"), PathBuf::from("/var/taskother"));
    }
}
