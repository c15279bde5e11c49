//! Reading a function's logs back for `ownstak logs`: events from a
//! source (the local backend's log file, or CloudWatch Logs on AWS) are
//! taken apart (`ownstak_core::parse_line`) and each is given its
//! time, deployment, Lambda request id and the proxy's `X-Request-ID`.
//!
//! Lambda runs one invocation at a time per log stream, and
//! `ownstak-runtime` writes a line with both ids for every invocation, so
//! lines that name neither id (the runtime's own, Lambda's platform lines)
//! get them from the invocation their stream is running, and the
//! platform's `START … Version: V` lines tell each invocation's version.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use ownstak_core::{parse_line, start_version, stream_version};
use serde::Serialize;

use crate::deployments::Deployment;
use crate::error::DeployError;

/// One raw event from a log source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEvent {
    /// When it was recorded (RFC 3339), when the source says.
    pub time: Option<String>,
    /// The log stream, when the source says.
    pub stream: Option<String>,
    /// The text.
    pub message: String,
}

/// One log line as `ownstak logs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    /// When it was written (RFC 3339); for a line that does not say, the
    /// time of the line before it.
    pub time: Option<String>,
    /// The deployment whose version wrote it (the newest one of that version).
    pub deployment: Option<u32>,
    /// The function version.
    pub version: Option<String>,
    /// The proxy's `X-Request-ID` of the invocation.
    pub request_id: Option<String>,
    /// Lambda's request id of the invocation.
    pub lambda_request_id: Option<String>,
    /// `stdout`, `stderr`, `request` (the runtime's line per invocation),
    /// `platform` (START/END/REPORT), or none for other lines.
    pub kind: Option<String>,
    /// The log stream (one execution environment).
    pub stream: Option<String>,
    /// The text.
    pub message: String,
}

/// Which records to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only lines of these versions (a deployment's), when set.
    pub versions: Option<Vec<String>>,
    /// Only lines of the invocation with this id (either id), or naming it.
    pub request_id: Option<String>,
    /// Only lines written at or after this time (RFC 3339, as written).
    pub since: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct Invocation {
    version: Option<String>,
    request_id: Option<String>,
}

/// Turns events into records, remembering what earlier events said
/// (across the batches of `--follow`).
#[derive(Debug, Default)]
pub struct LogReader {
    deployments: HashMap<String, u32>,
    invocations: HashMap<String, Invocation>,
    /// The invocation each stream is running.
    running: HashMap<String, String>,
    last_time: Option<String>,
}

impl LogReader {
    /// A reader that names deployments by their versions.
    pub fn new(deployments: &[Deployment]) -> Self {
        let mut by_version = HashMap::new();
        for d in deployments {
            let n = by_version.entry(d.version.clone()).or_insert(d.deployment);
            *n = (*n).max(d.deployment);
        }
        Self { deployments: by_version, ..Self::default() }
    }

    /// The records of a batch of events, in order, that pass `filter`.
    pub fn read(&mut self, events: &[LogEvent], filter: &LogFilter) -> Vec<LogRecord> {
        let parsed: Vec<_> = events.iter().map(|e| parse_line(&e.message)).collect();
        // First what the batch says about invocations: versions and ids.
        for line in &parsed {
            let Some(lambda) = &line.lambda_request_id else { continue };
            let known = self.invocations.entry(lambda.clone()).or_default();
            if let Some(v) = start_version(&line.message) {
                known.version = Some(v.to_owned());
            }
            if line.request_id.is_some() {
                known.request_id.clone_from(&line.request_id);
            }
        }
        let mut out = Vec::new();
        for (event, line) in events.iter().zip(parsed) {
            let stream = event.stream.clone().or(line.stream);
            let lambda = line.lambda_request_id.or_else(|| stream.as_ref().and_then(|s| self.running.get(s).cloned()));
            if let (Some(s), Some(l)) = (&stream, &lambda)
                && line.message.starts_with("START RequestId: ")
            {
                self.running.insert(s.clone(), l.clone());
            }
            let known = lambda.as_ref().and_then(|l| self.invocations.get(l)).cloned().unwrap_or_default();
            let version = stream.as_deref().and_then(stream_version).map(str::to_owned).or(known.version.clone());
            let time = line.time.or_else(|| event.time.clone()).or_else(|| self.last_time.clone());
            if time.is_some() {
                self.last_time.clone_from(&time);
            }
            let record = LogRecord {
                time,
                deployment: version.as_ref().and_then(|v| self.deployments.get(v).copied()),
                version,
                request_id: line.request_id.or(known.request_id),
                lambda_request_id: lambda,
                kind: line.kind,
                stream,
                message: line.message,
            };
            if passes(&record, filter) {
                out.push(record);
            }
        }
        out
    }
}

fn passes(record: &LogRecord, filter: &LogFilter) -> bool {
    if let (Some(since), Some(time)) = (&filter.since, &record.time)
        && time < since
    {
        return false;
    }
    if let Some(versions) = &filter.versions
        && !record.version.as_ref().is_some_and(|v| versions.contains(v))
    {
        return false;
    }
    match &filter.request_id {
        None => true,
        Some(id) => {
            record.request_id.as_ref() == Some(id)
                || record.lambda_request_id.as_ref() == Some(id)
                || record.message.contains(id.as_str())
        }
    }
}

/// Reads the complete lines of a local log file from byte `offset`;
/// returns them and the offset after the last one (a line still being
/// written is left for the next read). A missing file has no lines.
pub fn read_local_log(path: &Path, offset: u64) -> Result<(Vec<LogEvent>, u64), DeployError> {
    let io = |e: std::io::Error| DeployError::Logs(format!("cannot read the log file {}: {e}", path.display()));
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    // A file that shrank was replaced: read it from the start.
    let offset = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let events = String::from_utf8_lossy(&bytes[..complete])
        .lines()
        .map(|l| LogEvent { message: l.to_owned(), ..LogEvent::default() })
        .collect();
    Ok((events, offset + complete as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> LogEvent {
        LogEvent { message: message.to_owned(), ..LogEvent::default() }
    }

    fn deployment(n: u32, version: &str) -> Deployment {
        Deployment {
            deployment: n,
            version: version.to_owned(),
            deployed_at: None,
            live: false,
            deployment_id: None,
            retired_at: None,
        }
    }

    #[test]
    fn lines_get_their_invocation_and_deployment() {
        let s = "2026/11/29/[2]00aa";
        let lines = [
            format!("2026-11-29T10:00:00.000Z\t{s}\tSTART RequestId: lam-1 Version: 2"),
            "2026-11-29T10:00:00.001Z\tlam-1\treq-1\trequest\tGET /".to_owned(),
            "2026-11-29T10:00:00.002Z\tlam-1\treq-1\tstdout\thello".to_owned(),
            "a line of the runtime's own".to_owned(),
            format!("2026-11-29T10:00:00.003Z\t{s}\tEND RequestId: lam-1"),
            format!("2026-11-29T10:00:00.003Z\t{s}\tREPORT RequestId: lam-1\tDuration: 3.00 ms"),
            "2026-11-29T10:00:01.000Z\tlam-2\treq-2\tstdout\tother".to_owned(),
        ];
        let events: Vec<LogEvent> = lines.iter().map(|l| event(l)).collect();
        let mut reader = LogReader::new(&[deployment(1, "1"), deployment(2, "2"), deployment(3, "2")]);
        let filter = LogFilter { request_id: Some("req-1".into()), ..LogFilter::default() };
        let records = reader.read(&events, &filter);
        let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "START RequestId: lam-1 Version: 2",
                "GET /",
                "hello",
                "END RequestId: lam-1",
                "REPORT RequestId: lam-1\tDuration: 3.00 ms"
            ]
        );
        assert!(
            records.iter().all(|r| r.request_id.as_deref() == Some("req-1") && r.deployment == Some(3)),
            "{records:?}"
        );
        assert_eq!(records[2].kind.as_deref(), Some("stdout"));

        let all = LogReader::new(&[]).read(&events, &LogFilter::default());
        assert_eq!(all.len(), lines.len());
        assert_eq!(
            all[3].time.as_deref(),
            Some("2026-11-29T10:00:00.002Z"),
            "a line without a time takes the last one"
        );
        let since = LogFilter { since: Some("2026-11-29T10:00:01.000Z".into()), ..LogFilter::default() };
        assert_eq!(LogReader::new(&[]).read(&events, &since).len(), 1);
        let v1 = LogFilter { versions: Some(vec!["1".into()]), ..LogFilter::default() };
        assert!(LogReader::new(&[]).read(&events, &v1).is_empty());
    }

    #[test]
    fn cloudwatch_streams_carry_the_version_and_the_invocation() {
        let s = Some("2026/11/29/[5]ffee".to_owned());
        let events = [
            LogEvent {
                stream: s.clone(),
                time: Some("t1".into()),
                message: "START RequestId: lam-9 Version: 5".into(),
            },
            LogEvent { stream: s.clone(), time: Some("t2".into()), message: "plain app line".into() },
        ];
        let records = LogReader::new(&[deployment(7, "5")]).read(&events, &LogFilter::default());
        assert_eq!(records[1].lambda_request_id.as_deref(), Some("lam-9"));
        assert_eq!((records[1].deployment, records[1].time.as_deref()), (Some(7), Some("t2")));
    }

    #[test]
    fn local_files_are_read_by_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        assert_eq!(read_local_log(&path, 0).unwrap(), (Vec::new(), 0));
        std::fs::write(&path, "one\ntwo\npart").unwrap();
        let (events, offset) = read_local_log(&path, 0).unwrap();
        assert_eq!((events.len(), offset), (2, 8));
        std::fs::write(&path, "one\ntwo\npartial\n").unwrap();
        let (events, offset) = read_local_log(&path, offset).unwrap();
        assert_eq!((events[0].message.as_str(), offset), ("partial", 16));
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(read_local_log(&path, offset).unwrap().0[0].message, "new", "a replaced file is read anew");
    }
}
