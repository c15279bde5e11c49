//! The app's output, line by line, as runtime log lines
//! (`ownstak_core::runtime_line`) tagged with the time and the ids of the
//! invocation in progress: the Lambda request id and the proxy's
//! `X-Request-ID`, by which `ownstak logs --request-id` finds them. The
//! runtime also writes one `request` line per invocation (method and path,
//! without the query) so that every invocation can be found by either id.
//!
//! Lambda runs one invocation at a time per environment, so a line belongs
//! to the invocation in progress when it is read; output after an answer
//! and before the next invocation keeps the last one's ids.

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use ownstak_core::{KIND_REQUEST, log_time_now, runtime_line};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// The longest line relayed as one; longer output is split.
const MAX_LINE: usize = 256 * 1024;

/// The ids of the invocation in progress, shared by the bridge (which sets
/// them) and the relays (which tag lines with them).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogContext(Arc<Mutex<(String, String)>>);

impl LogContext {
    /// Starts an invocation: its ids tag the lines from now on, and its
    /// `request` line is written.
    pub(crate) fn begin(&self, lambda_request_id: &str, request_id: &str, method: &str, path: &str) {
        // Ids that could not be read back are left out.
        let valid = |id: &str| if ownstak_core::valid_request_id(id) { id.to_owned() } else { String::new() };
        let (lambda_request_id, request_id) = (&valid(lambda_request_id), &valid(request_id));
        let method = if method.bytes().all(|b| b.is_ascii_alphabetic()) { method } else { "?" };
        let path: String = path.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = (lambda_request_id.to_owned(), request_id.to_owned());
        write_line(
            false,
            &runtime_line(&log_time_now(), lambda_request_id, request_id, KIND_REQUEST, &format!("{method} {path}")),
        );
    }

    fn ids(&self) -> (String, String) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Relays `output` (the app's stdout or stderr, `kind` naming which) to
/// the runtime's own stdout or stderr until it closes.
pub(crate) fn spawn(
    output: impl AsyncRead + Unpin + Send + 'static,
    kind: &'static str,
    context: LogContext,
) -> tokio::task::JoinHandle<()> {
    let to_stderr = kind == ownstak_core::KIND_STDERR;
    tokio::spawn(async move {
        let mut reader = BufReader::new(output);
        let mut line: Vec<u8> = Vec::new();
        loop {
            let chunk = match reader.fill_buf().await {
                Ok(chunk) => chunk,
                Err(err) => {
                    tracing::debug!(error = %err, kind, "the app's output cannot be read");
                    break;
                }
            };
            if chunk.is_empty() {
                break;
            }
            let room = MAX_LINE - line.len();
            let (taken, ended) = match chunk.iter().take(room).position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len().min(room), line.len() + chunk.len().min(room) >= MAX_LINE),
            };
            line.extend_from_slice(&chunk[..taken]);
            reader.consume(taken);
            if ended {
                emit(&mut line, kind, &context, to_stderr);
            }
        }
        if !line.is_empty() {
            emit(&mut line, kind, &context, to_stderr);
        }
    })
}

/// Waits (at most `grace`) until the relays have written everything the
/// app printed, e.g. the error it printed before it exited.
pub(crate) async fn drain(relays: &mut Vec<tokio::task::JoinHandle<()>>, grace: std::time::Duration) {
    let all = futures_join(std::mem::take(relays));
    if tokio::time::timeout(grace, all).await.is_err() {
        tracing::debug!("the app's output is still open (a process it started holds it); not waiting for it");
    }
}

async fn futures_join(relays: Vec<tokio::task::JoinHandle<()>>) {
    for relay in relays {
        let _ = relay.await;
    }
}

fn emit(line: &mut Vec<u8>, kind: &str, context: &LogContext, to_stderr: bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    let (lambda, request) = context.ids();
    write_line(to_stderr, &runtime_line(&log_time_now(), &lambda, &request, kind, text));
    line.clear();
}

/// Writes one line at once (a pipe write of a line is not interleaved
/// with other writers').
fn write_line(to_stderr: bool, line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ =
        if to_stderr { std::io::stderr().lock().write_all(&bytes) } else { std::io::stdout().lock().write_all(&bytes) };
}
