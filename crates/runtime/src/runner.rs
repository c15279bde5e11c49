//! The runtime's life: init (manifest, app), the invocation loop, shutdown.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use crate::app::{App, load_manifest};
use crate::bridge::{Bridge, Reply, ResponseMode};
use crate::config::Config;
use crate::error::{InitError, RunError, RuntimeApiError, chain};
use crate::relay::LogContext;
use crate::runtime_api::RuntimeApi;
use crate::stream::StreamOutcome;

/// How long to wait for the app to be reaped after its connection failed.
/// A crashing app is usually gone at once; on a busy machine its exit can
/// lag, and meanwhile its listening socket may still accept a probe. The
/// wait ends as soon as it exits, so only an app that dropped a connection
/// and lives on pays it.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for the exit of an app whose port refuses connections.
const DEAD_APP_GRACE: Duration = Duration::from_secs(5);

/// Why the runtime stopped without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// SIGTERM or SIGINT arrived; the app was killed.
    Signal,
}

/// Runs the function: starts the app, then serves invocations until a
/// signal (`Ok`) or a fatal failure (`Err`, after reporting it to the
/// Runtime API where that is possible). The app never outlives this call.
///
/// Must run on the main thread's runtime (see [`App::start`]).
pub async fn run(config: Config) -> Result<Shutdown, RunError> {
    let mut signals = Signals::new().map_err(RunError::Signals)?;
    let mut api = RuntimeApi::new(&config.runtime_api);
    let logs = LogContext::default();

    let started = Instant::now();
    // Connect to the Runtime API while the app boots.
    let init = async {
        let (app, warm) = tokio::join!(start_app(&config, &logs), api.warm_up());
        if let Err(err) = warm {
            tracing::debug!(error = %chain(&err), "cannot pre-connect to the Runtime API");
        }
        app
    };
    let init = tokio::select! {
        biased;
        () = signals.recv() => return Ok(Shutdown::Signal),
        init = init => init,
    };
    let mut app = match init {
        Ok(app) => app,
        Err(err) => {
            if let Err(report_err) = api.init_error(&err.report()).await {
                tracing::warn!(error = %chain(&report_err), "cannot report the init error to the Runtime API");
            }
            return Err(RunError::Init(err));
        }
    };
    tracing::info!(port = app.port(), elapsed_ms = started.elapsed().as_millis() as u64, "the app is listening");

    let mut bridge =
        Bridge::new(app.port()).with_deployment_id(config.deployment_id.as_deref()).with_log_context(logs.clone());
    if let Some(probe) = app.take_probe()
        && let Err(err) = bridge.adopt(probe).await
    {
        tracing::debug!(error = %chain(&err), "cannot reuse the readiness probe connection");
    }
    let outcome = tokio::select! {
        biased;
        () = signals.recv() => {
            tracing::info!("shutting down on signal");
            Ok(Shutdown::Signal)
        }
        failed = serve(&mut api, &mut bridge, &mut app, config.response_mode) => failed.map(|never| match never {}),
    };
    app.kill().await;
    outcome
}

async fn start_app(config: &Config, logs: &LogContext) -> Result<App, InitError> {
    let manifest = load_manifest(&config.task_root)?;
    let secrets = match &config.secrets {
        Ok(Some(refs)) => crate::secrets::fetch(refs).await?,
        Ok(None) => Vec::new(),
        Err(e) => return Err(e.clone().into()),
    };
    App::start(&config.task_root, &manifest, &secrets, config.app_port, logs).await
}

/// The invocation loop; it only returns on a fatal failure.
async fn serve(
    api: &mut RuntimeApi,
    bridge: &mut Bridge,
    app: &mut App,
    mode: ResponseMode,
) -> Result<Infallible, RunError> {
    loop {
        let invocation = api.next().await?;
        let id = invocation.request_id.as_str();
        let started = Instant::now();
        match bridge.handle(&invocation, mode, SystemTime::now()).await {
            Ok(Reply::Buffered(payload)) => {
                let bytes = payload.len();
                tolerate(api.respond(id, payload).await, id)?;
                tracing::debug!(
                    request_id = id,
                    bytes,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "invocation answered"
                );
            }
            Ok(Reply::Streaming(stream, outcome)) => {
                let posted = api.respond_streaming(id, stream).await;
                match outcome.outcome() {
                    Some(StreamOutcome::Complete { bytes }) => {
                        tracing::debug!(
                            request_id = id,
                            bytes,
                            elapsed_us = started.elapsed().as_micros() as u64,
                            "invocation streamed"
                        );
                    }
                    Some(StreamOutcome::Failed(err)) => {
                        tracing::warn!(request_id = id, error_type = err.error_type(), error = %chain(&err), "the streamed response broke off");
                        bridge.reset();
                        if err.is_app_failure()
                            && let Some(status) = app_exit(app).await
                        {
                            tolerate(posted, id)?;
                            return Err(RunError::AppExited(status));
                        }
                    }
                    None => {
                        // The upload stopped early (`posted` says why); the app's answer was abandoned.
                        bridge.reset();
                    }
                }
                tolerate(posted, id)?;
            }
            Err(err) => {
                tracing::warn!(request_id = id, error_type = err.error_type(), error = %chain(&err), "invocation failed");
                tolerate(api.invocation_error(id, &err.report()).await, id)?;
                if err.is_app_failure()
                    && let Some(status) = app_exit(app).await
                {
                    return Err(RunError::AppExited(status));
                }
            }
        }
    }
}

/// After the app failed mid-request: its exit status if it is gone. On a
/// busy machine the exit may not be reaped yet; a refused connection on its
/// port settles it, so that the runtime never takes another invocation for
/// an app that is dying.
async fn app_exit(app: &mut App) -> Option<std::process::ExitStatus> {
    if let Some(status) = app.exit_status(EXIT_GRACE).await {
        return Some(status);
    }
    match tokio::net::TcpStream::connect(("127.0.0.1", app.port())).await {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => app.exit_status(DEAD_APP_GRACE).await,
        _ => None,
    }
}

/// Passes connection failures on; logs a rejected post (such as a response over the size limit) and goes on.
fn tolerate(result: Result<(), RuntimeApiError>, request_id: &str) -> Result<(), RuntimeApiError> {
    match result {
        Err(err @ RuntimeApiError::Rejected { .. }) => {
            tracing::error!(request_id, error = %chain(&err), "the Runtime API rejected the invocation's result");
            Ok(())
        }
        other => other,
    }
}

/// SIGTERM and SIGINT, as one stream.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
