//! The app process: the manifest, the start command, readiness and teardown.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ownstak_core::{BundleManifest, MANIFEST_FILE};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::error::InitError;

/// The first pause between readiness probes.
pub(crate) const FIRST_PROBE_DELAY: Duration = Duration::from_millis(1);
/// The longest pause between readiness probes.
pub(crate) const MAX_PROBE_DELAY: Duration = Duration::from_millis(20);

/// Reads and checks `<task_root>/ownstak.json`.
pub(crate) fn load_manifest(task_root: &Path) -> Result<BundleManifest, InitError> {
    let path = task_root.join(MANIFEST_FILE);
    // A plain read: the file is small, and tokio::fs would start a blocking thread on the cold path.
    let bytes = std::fs::read(&path).map_err(|source| InitError::ManifestRead { path: path.clone(), source })?;
    BundleManifest::from_json(&bytes).map_err(|source| InitError::ManifestInvalid { path, source })
}

/// Picks a free local port by binding port 0 and releasing it.
pub(crate) fn pick_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A running app server listening on a local port.
///
/// The app runs in its own process group, so that whatever the start
/// command forks dies with it; dropping an `App` kills the group.
#[derive(Debug)]
pub(crate) struct App {
    group: ProcessGroup,
    port: u16,
    probe: Option<TcpStream>,
    /// The relays of the app's stdout and stderr.
    relays: Vec<tokio::task::JoinHandle<()>>,
}

/// How long the app's last output may take to reach the log once it exited.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// A child process leading its own process group; the whole group is killed on drop.
#[derive(Debug)]
struct ProcessGroup {
    child: Child,
    /// The group id (the child's pid), kept after the child is reaped.
    pgid: Option<libc::pid_t>,
}

impl ProcessGroup {
    /// Sends SIGKILL to every process in the group.
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.filter(|&p| p > 0) {
            // SAFETY: kill(2) has no memory-safety preconditions; a negative
            // pid addresses the process group the app leads (never ours).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

impl App {
    /// Starts the manifest's command in `task_root` and waits until it accepts connections.
    ///
    /// The app gets `PORT`, `HOST` and `HOSTNAME` (the latter two may be
    /// overridden by the manifest's `env`, `PORT` may not) and inherits the
    /// rest of the environment; its stdout and stderr reach the runtime's,
    /// line by line, tagged by `logs` (see [`crate::relay`]).
    /// Its process group is killed with SIGKILL when the `App` is dropped
    /// or [`App::kill`]ed; if the runtime dies abruptly, the app's first
    /// process still gets SIGKILL (parent-death signal).
    ///
    /// Call this from the thread that lives as long as the process (the
    /// current-thread runtime of `main`): Linux sends the parent-death
    /// signal when the thread that forked the child exits.
    pub(crate) async fn start(
        task_root: &Path,
        manifest: &BundleManifest,
        secrets: &[(String, String)],
        port: Option<u16>,
        logs: &crate::relay::LogContext,
    ) -> Result<Self, InitError> {
        let port = match port {
            Some(port) => port,
            None => pick_port().map_err(InitError::Port)?,
        };
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&manifest.command)
            .current_dir(task_root)
            .env("HOST", "127.0.0.1")
            .env("HOSTNAME", "127.0.0.1")
            // The manifest's variables (ownstak.toml's [env]) yield to the
            // function's configuration (`env set`, --env-file), so a
            // redeployed bundle takes the current values.
            .envs(manifest.env.iter().filter(|(k, _)| std::env::var_os(k).is_none()))
            // Secrets are `env set` values: they win over the manifest's.
            .envs(secrets.iter().map(|(k, v)| (k, v)))
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: it makes two raw syscalls
        // (prctl, getppid), touches no locks and does not allocate
        // (`from_raw_os_error` and `last_os_error` build an error without allocating).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died between fork and prctl: no signal will come, so give up now.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let spawn_error = |source| InitError::Spawn { command: manifest.command.clone(), source };
        let mut child = command.spawn().map_err(spawn_error)?;
        // Each line of output is tagged with the invocation it belongs to.
        let mut relays = Vec::new();
        if let Some(out) = child.stdout.take() {
            relays.push(crate::relay::spawn(out, ownstak_core::KIND_STDOUT, logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            relays.push(crate::relay::spawn(err, ownstak_core::KIND_STDERR, logs.clone()));
        }
        let pgid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
        let mut group = ProcessGroup { child, pgid };
        tracing::info!(port, command = %manifest.command, pid = pgid, "started the app");

        let timeout = Duration::from_millis(manifest.ready_timeout_ms);
        let probe = tokio::select! {
            biased;
            status = group.child.wait() => {
                let status = status.map_err(spawn_error)?;
                crate::relay::drain(&mut relays, OUTPUT_GRACE).await;
                return Err(InitError::ExitedEarly { status, port });
            }
            probe = wait_until_listening(port, timeout) => {
                probe.ok_or(InitError::NotListening { port, timeout_ms: manifest.ready_timeout_ms })?
            }
        };
        Ok(Self { group, port, probe: Some(probe), relays })
    }

    /// The app's local port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The readiness probe's connection, open and unused, to reuse for the first request.
    pub(crate) fn take_probe(&mut self) -> Option<TcpStream> {
        self.probe.take()
    }

    /// The app's exit status if it has exited or exits within `grace`.
    pub(crate) async fn exit_status(&mut self, grace: Duration) -> Option<ExitStatus> {
        let child = &mut self.group.child;
        match child.try_wait() {
            Ok(Some(status)) => Some(status),
            Ok(None) => tokio::time::timeout(grace, child.wait()).await.ok().and_then(Result::ok),
            Err(_) => None,
        }
    }

    /// Kills the app's process group with SIGKILL and reaps the app.
    pub(crate) async fn kill(&mut self) {
        self.group.kill();
        if let Err(err) = self.group.child.wait().await {
            tracing::warn!(error = %err, "cannot reap the app");
        }
        crate::relay::drain(&mut self.relays, OUTPUT_GRACE).await;
    }
}

/// Probes `127.0.0.1:port` with a growing pause until it accepts a connection, for at most `timeout`.
pub(crate) async fn wait_until_listening(port: u16, timeout: Duration) -> Option<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    let mut delay = FIRST_PROBE_DELAY;
    loop {
        // A full accept backlog can stall a connect; never past the deadline.
        if let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            return Some(stream);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = next_delay(delay);
    }
}

/// The pause after `delay`: doubled, capped at [`MAX_PROBE_DELAY`].
pub(crate) fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(MAX_PROBE_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_delay_doubles_up_to_the_cap() {
        let mut d = FIRST_PROBE_DELAY;
        let mut seen = vec![d];
        for _ in 0..6 {
            d = next_delay(d);
            seen.push(d);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [1, 2, 4, 8, 16, 20, 20]);
    }

    #[test]
    fn manifest_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("ownstak-runtime-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = load_manifest(&dir).unwrap_err();
        assert_eq!(missing.error_type(), "Runtime.ManifestError");
        assert!(missing.to_string().contains(&dir.join(MANIFEST_FILE).display().to_string()));
        std::fs::write(dir.join(MANIFEST_FILE), br#"{"version":1}"#).unwrap();
        let invalid = load_manifest(&dir).unwrap_err();
        assert!(matches!(invalid, InitError::ManifestInvalid { .. }));
        assert!(invalid.report().error_message.contains("ownstak.json is not a valid bundle manifest"));
        std::fs::write(dir.join(MANIFEST_FILE), br#"{"version":1,"command":"node server.js"}"#).unwrap();
        assert_eq!(load_manifest(&dir).unwrap().command, "node server.js");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn start_reports_early_exit_and_timeout() {
        let dir = std::env::temp_dir();
        let early =
            App::start(&dir, &BundleManifest::for_command("exit 3"), &[], None, &crate::relay::LogContext::default())
                .await
                .unwrap_err();
        assert!(matches!(early, InitError::ExitedEarly { .. }), "{early}");
        assert!(early.to_string().starts_with("the app exited with exit code 3 before listening on port"));
        let mut slow = BundleManifest::for_command("sleep 5");
        slow.ready_timeout_ms = 30;
        let timeout = App::start(&dir, &slow, &[], None, &crate::relay::LogContext::default()).await.unwrap_err();
        assert!(matches!(timeout, InitError::NotListening { timeout_ms: 30, .. }), "{timeout}");
    }
}
