//! Printing for humans and for scripts.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Prints a value as one line of JSON on stdout.
pub(crate) fn json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode the output: {e}"),
    }
}

/// Reports a failed command: the whole error chain on stderr, and an
/// `{"error": …}` object on stdout for `--json`.
pub(crate) fn error(err: &anyhow::Error, as_json: bool) {
    eprintln!("error: {err:#}");
    if as_json {
        json(&serde_json::json!({ "error": format!("{err:#}") }));
    }
}

/// A spinner on stderr for long steps; hidden for `--json` and when
/// stderr is not a terminal.
pub(crate) fn spinner(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}") {
        pb.set_style(style);
    }
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb
}

/// Formats a byte count for humans.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}
