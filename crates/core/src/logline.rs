//! Function log lines: the line `ownstak-runtime` writes for each line of
//! the app's output (and one per invocation), the prefix the local backend
//! puts on its platform lines, and how `ownstak logs` reads them back.
//!
//! * Runtime lines: `<time>\t<lambda request id>\t<x-request-id>\t<kind>\t<message>`,
//!   `kind` being `stdout`, `stderr` or `request`, an unknown id `-`.
//! * Local platform lines: `<time>\t<log stream>\t<message>`, the stream
//!   named as Lambda names it (`2026/11/29/[<version>]<environment>`).
//! * Lambda's own `START RequestId: <id> Version: <v>`, `END RequestId:
//!   <id>` and `REPORT RequestId: <id> …` messages, after either prefix or
//!   none (CloudWatch gives time and stream separately).
//!
//! `<time>` is RFC 3339 in UTC with milliseconds.

use crate::headers::valid_request_id;

/// The `kind` of a runtime line carrying one line of the app's stdout.
pub const KIND_STDOUT: &str = "stdout";
/// The `kind` of a runtime line carrying one line of the app's stderr.
pub const KIND_STDERR: &str = "stderr";
/// The `kind` of the runtime's line for each invocation (method and path).
pub const KIND_REQUEST: &str = "request";

/// A log line taken apart; every field but `message` may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogLine {
    /// When it was written (RFC 3339), if the line says.
    pub time: Option<String>,
    /// The log stream (one execution environment), if the line says.
    pub stream: Option<String>,
    /// The Lambda request id of the invocation it belongs to.
    pub lambda_request_id: Option<String>,
    /// The proxy's `X-Request-ID` of that invocation.
    pub request_id: Option<String>,
    /// `stdout`, `stderr`, `request`, or `platform` for Lambda's own lines.
    pub kind: Option<String>,
    /// The text.
    pub message: String,
}

/// The current time as log lines write it: `2026-11-29T10:00:00.123Z`.
pub fn log_time_now() -> String {
    log_time(time::OffsetDateTime::now_utc())
}

/// A time as log lines write it (UTC, milliseconds).
pub fn log_time(at: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // A fixed description of a UTC time always formats.
    at.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// The runtime's line for one line of output (see the module docs).
pub fn runtime_line(time: &str, lambda_request_id: &str, request_id: &str, kind: &str, message: &str) -> String {
    let or_dash = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    format!("{time}\t{}\t{}\t{kind}\t{message}", or_dash(lambda_request_id), or_dash(request_id))
}

/// The local backend's line for a platform message.
pub fn platform_line(time: &str, stream: &str, message: &str) -> String {
    format!("{time}\t{stream}\t{message}")
}

/// The version in a Lambda log stream name (`2026/11/29/[3]abc…` → `3`).
pub fn stream_version(stream: &str) -> Option<&str> {
    let start = stream.find('[')? + 1;
    let len = stream[start..].find(']')?;
    Some(&stream[start..start + len]).filter(|v| !v.is_empty())
}

fn looks_like_time(s: &str) -> bool {
    s.len() >= 20 && s.len() <= 40 && s.as_bytes()[0].is_ascii_digit() && s.contains('T') && s.ends_with('Z')
}

fn id(s: &str) -> Option<String> {
    (s != "-" && valid_request_id(s)).then(|| s.to_owned())
}

/// Takes a line apart (see the module docs); anything else is a message
/// of unknown origin.
pub fn parse_line(line: &str) -> LogLine {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let parts: Vec<&str> = line.splitn(5, '\t').collect();
    if parts.len() == 5
        && looks_like_time(parts[0])
        && [KIND_STDOUT, KIND_STDERR, KIND_REQUEST].contains(&parts[3])
        && (parts[1] == "-" || valid_request_id(parts[1]))
        && (parts[2] == "-" || valid_request_id(parts[2]))
    {
        return LogLine {
            time: Some(parts[0].to_owned()),
            stream: None,
            lambda_request_id: id(parts[1]),
            request_id: id(parts[2]),
            kind: Some(parts[3].to_owned()),
            message: parts[4].to_owned(),
        };
    }
    let mut parsed = LogLine::default();
    let mut message = line;
    let parts: Vec<&str> = line.splitn(3, '\t').collect();
    if parts.len() == 3 && looks_like_time(parts[0]) && stream_version(parts[1]).is_some() {
        parsed.time = Some(parts[0].to_owned());
        parsed.stream = Some(parts[1].to_owned());
        message = parts[2];
    }
    if let Some(rest) = ["START", "END", "REPORT"]
        .iter()
        .find_map(|p| message.strip_prefix(p).and_then(|r| r.strip_prefix(" RequestId: ")))
    {
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        parsed.lambda_request_id = id(&rest[..end]);
        parsed.kind = Some("platform".to_owned());
    }
    parsed.message = message.to_owned();
    parsed
}

/// The version a `START RequestId: <id> Version: <v>` message names.
pub fn start_version(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("START RequestId: ")?;
    let v = rest.split("Version: ").nth(1)?;
    Some(v.split_whitespace().next().unwrap_or(v)).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_the_runtime_and_the_backend_write() {
        let t = "2026-11-29T10:00:00.123Z";
        let line = runtime_line(t, "lam-1", "req-9", KIND_STDOUT, "hello\tworld");
        let parsed = parse_line(&line);
        assert_eq!(parsed.time.as_deref(), Some(t));
        assert_eq!((parsed.lambda_request_id.as_deref(), parsed.request_id.as_deref()), (Some("lam-1"), Some("req-9")));
        assert_eq!((parsed.kind.as_deref(), parsed.message.as_str()), (Some("stdout"), "hello\tworld"));
        assert_eq!(parse_line(&runtime_line(t, "", "", KIND_STDERR, "x")).request_id, None);

        let start = parse_line(&platform_line(t, "2026/11/29/[7]00ab", "START RequestId: lam-2 Version: 7"));
        assert_eq!(start.stream.as_deref(), Some("2026/11/29/[7]00ab"));
        assert_eq!((start.lambda_request_id.as_deref(), start.kind.as_deref()), (Some("lam-2"), Some("platform")));
        assert_eq!(start_version(&start.message), Some("7"));
        let report = parse_line("REPORT RequestId: lam-3\tDuration: 1.00 ms");
        assert_eq!((report.time, report.lambda_request_id.as_deref()), (None, Some("lam-3")));
        assert_eq!(stream_version("2026/11/29/[$LATEST]ff"), Some("$LATEST"));
        assert_eq!(stream_version("no version"), None);
    }

    #[test]
    fn times_have_milliseconds() {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(1_764_410_400_123_456_789).unwrap();
        assert_eq!(log_time(at), "2025-11-29T10:00:00.123Z");
        assert!(looks_like_time(&log_time_now()));
    }

    #[test]
    fn anything_else_is_a_plain_message() {
        for line in [
            "",
            "plain",
            "a\tb\tc\td\te",
            "2026-11-29T10:00:00.123Z\tx y\t-\tstdout\tm",
            "\t\t\t\t",
            "END RequestId: a/b",
        ] {
            let parsed = parse_line(line);
            assert_eq!(parsed.message, line);
            assert_eq!((parsed.time, parsed.request_id, parsed.lambda_request_id), (None, None, None), "{line:?}");
        }
    }
}
