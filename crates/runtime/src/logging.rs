//! The `tracing` subscriber: stderr, text or JSON, filtered by `OWNSTAK_LOG`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber; a bad filter falls back to `info` with a warning.
pub fn init(config: &LogConfig) {
    let (filter, bad_filter) = match EnvFilter::try_new(&config.filter) {
        Ok(filter) => (filter, None),
        Err(err) => (EnvFilter::new("info"), Some(err)),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A subscriber may already be installed (tests, embedding); keep it then.
    let _ = if config.json {
        builder.json().try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    if let Some(err) = bad_filter {
        tracing::warn!(filter = %config.filter, error = %err, "invalid OWNSTAK_LOG filter; logging at info");
    }
}
