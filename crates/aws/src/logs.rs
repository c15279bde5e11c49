//! Logs in CloudWatch Logs, read with `FilterLogEvents` for `ownstak
//! logs`: a function's (`/aws/lambda/<function>`) or, for `--proxy`, the
//! proxy tasks' (see [`proxy_log_group`]); `--follow` polls with the last
//! event's time and skips the events it has already shown.

use std::collections::HashSet;

use ownstak_deploy::LogEvent;

use crate::errors::{AwsError, error_code};
use crate::target::DeployTarget;

/// Most event ids remembered between polls to skip repeats.
const MAX_SEEN: usize = 100_000;

/// The log group Lambda writes a function's logs to.
pub fn function_log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// The log group the backend's proxy tasks write to (their access log
/// among their other lines).
pub fn proxy_log_group(function_prefix: &str, org: &str, backend: &str) -> String {
    format!("/ownstak/{function_prefix}/{org}/{backend}/proxy")
}

/// Reads a log group's events from CloudWatch Logs, time by time.
#[derive(Debug)]
pub struct CloudWatchLogs {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    /// Read from this time on (epoch milliseconds).
    from_ms: i64,
    seen: HashSet<String>,
}

impl CloudWatchLogs {
    /// A reader of `function`'s events from `since_ms` (epoch milliseconds)
    /// on, in the backend's account.
    pub fn new(target: &DeployTarget, function: &str, since_ms: i64) -> Self {
        Self::with_client(target.logs(), function, since_ms)
    }

    /// A reader through any CloudWatch Logs client.
    pub fn with_client(client: aws_sdk_cloudwatchlogs::Client, function: &str, since_ms: i64) -> Self {
        Self::of_group(client, function_log_group(function), since_ms)
    }

    /// A reader of the backend's proxy log group from `since_ms` on.
    pub fn proxy(target: &DeployTarget, since_ms: i64) -> Self {
        let info = &target.info;
        Self::of_group(target.logs(), proxy_log_group(&info.function_prefix, &info.org, &info.backend), since_ms)
    }

    /// A reader of any log group.
    pub fn of_group(client: aws_sdk_cloudwatchlogs::Client, group: String, since_ms: i64) -> Self {
        Self { client, group, from_ms: since_ms, seen: HashSet::new() }
    }

    /// The events not read before, oldest first; none while the log group
    /// does not exist (the function has not run yet).
    pub async fn next_events(&mut self) -> Result<Vec<LogEvent>, AwsError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        let mut newest = self.from_ms;
        loop {
            let page = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .start_time(self.from_ms)
                .set_next_token(token.take())
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) if error_code(&e).as_deref() == Some("ResourceNotFoundException") => return Ok(Vec::new()),
                Err(e) => return Err(AwsError::from_sdk("FilterLogEvents", &e)),
            };
            for e in page.events() {
                let id = e.event_id().unwrap_or_default().to_owned();
                if !id.is_empty() && !self.seen.insert(id) {
                    continue;
                }
                let ms = e.timestamp().unwrap_or(self.from_ms);
                newest = newest.max(ms);
                events.push((
                    ms,
                    LogEvent {
                        time: time_of(ms),
                        stream: e.log_stream_name().map(str::to_owned),
                        message: e.message().unwrap_or_default().trim_end_matches('\n').to_owned(),
                    },
                ));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        // The next poll starts at the newest event's millisecond: events
        // of that millisecond arriving later are still read, the ones
        // already read are skipped by id.
        self.from_ms = newest;
        if self.seen.len() > MAX_SEEN {
            self.seen.clear();
        }
        events.sort_by_key(|(ms, _)| *ms);
        Ok(events.into_iter().map(|(_, e)| e).collect())
    }
}

fn time_of(ms: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(ownstak_core::log_time(at))
}
