//! The `tracing` subscriber for the binary: logs on stderr with the chosen
//! filter and format, and for `local up` the proxy's access log (the
//! `ownstak::access` events) as JSON lines in `<data-dir>/logs/`, which
//! `ownstak logs --proxy` reads back.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::cli::{GlobalArgs, LogFormat};

/// The target of the proxy's access log events.
const ACCESS_TARGET: &str = "ownstak::access";
/// The access log file's name in the data directory's `logs/`.
pub(crate) const ACCESS_LOG_FILE: &str = "proxy-access.log";
/// A longer access log is moved to `<name>.1` when the backend starts.
const ACCESS_LOG_KEEP_BYTES: u64 = 64 * 1024 * 1024;

/// Logs to stderr with the chosen filter and format; with `access_log`,
/// also writes every access event to that file.
pub(crate) fn init(args: &GlobalArgs, default_level: &str, access_log: Option<PathBuf>) {
    let filter =
        args.log.as_deref().and_then(|f| EnvFilter::try_new(f).ok()).unwrap_or_else(|| EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr);
    let stderr = match args.log_format {
        LogFormat::Text => stderr.with_filter(filter).boxed(),
        LogFormat::Json => stderr.json().with_filter(filter).boxed(),
    };
    let access = access_log.map(|path| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(AccessLog::new(path))
            .with_filter(Targets::new().with_target(ACCESS_TARGET, tracing::Level::INFO))
    });
    tracing_subscriber::registry().with(stderr).with(access).init();
}

/// The access log file, opened on the first event (after `local up` has
/// made the data directory, with its permissions) and appended to, one
/// whole line per write.
struct AccessLog {
    path: PathBuf,
    file: Mutex<Opened>,
}

/// Where the access log file is in its life.
enum Opened {
    /// Not tried yet.
    NotYet,
    /// Open for appending.
    File(Arc<File>),
    /// It could not be opened (said once on stderr); lines are dropped.
    Failed,
}

impl AccessLog {
    fn new(path: PathBuf) -> Self {
        Self { path, file: Mutex::new(Opened::NotYet) }
    }

    fn open(&self) -> Option<Arc<File>> {
        // Only ever replaced whole; a panic elsewhere cannot leave it half-set.
        let mut slot = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Opened::NotYet = *slot {
            *slot = match self.create() {
                Ok(f) => Opened::File(Arc::new(f)),
                Err(e) => {
                    eprintln!("warning: cannot open the access log {}: {e}; it is not written", self.path.display());
                    Opened::Failed
                }
            };
        }
        match &*slot {
            Opened::File(f) => Some(f.clone()),
            Opened::NotYet | Opened::Failed => None,
        }
    }

    /// Opens the file for appending (0600, in a 0700 `logs/`), moving a
    /// long one aside first.
    fn create(&self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir)?;
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > ACCESS_LOG_KEEP_BYTES) {
            std::fs::rename(&self.path, self.path.with_extension("log.1"))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&self.path)
    }
}

/// A write to the access log, or nowhere when it cannot be opened.
struct AccessWriter(Option<Arc<File>>);

impl Write for AccessWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(f) => (&**f).write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for AccessLog {
    type Writer = AccessWriter;

    fn make_writer(&'a self) -> Self::Writer {
        AccessWriter(self.open())
    }
}
