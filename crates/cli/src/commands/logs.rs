//! `ownstak logs`: an environment's function logs, from the local
//! backend's log file or from CloudWatch Logs, each line with its time,
//! deployment and request ids; `--follow` polls for new lines. With
//! `--proxy`, the proxy's access log lines of the environment instead.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use ownstak_core::{DeploymentNumber, EnvironmentName, valid_request_id};
use ownstak_deploy::{
    AccessRecord, BackendId, LogEvent, LogFilter, LogReader, LogRecord, lambda_client, list_deployments,
};

use super::Target;
use crate::cli::LogsArgs;

/// How often `--follow` looks for new lines.
const POLL_LOCAL: Duration = Duration::from_millis(500);
/// How often `--follow` asks CloudWatch Logs (each call is billed and rate-limited).
const POLL_CLOUDWATCH: Duration = Duration::from_secs(2);

/// Where the lines come from.
enum Source {
    /// The local backend's log file, read from a byte offset.
    File { path: PathBuf, offset: u64 },
    /// CloudWatch Logs.
    CloudWatch(Box<ownstak_aws::CloudWatchLogs>),
}

impl Source {
    async fn next(&mut self) -> anyhow::Result<Vec<LogEvent>> {
        match self {
            Source::File { path, offset } => {
                let (events, next) = ownstak_deploy::read_local_log(path, *offset)?;
                *offset = next;
                Ok(events)
            }
            Source::CloudWatch(logs) => Ok(logs.next_events().await?),
        }
    }
}

/// Runs `ownstak logs`.
pub(super) async fn run(args: LogsArgs, json: bool) -> anyhow::Result<()> {
    if let Some(id) = &args.request_id
        && !valid_request_id(id)
    {
        anyhow::bail!("`{id}` is not a request id: use the X-Request-ID of an answer (letters, digits, `-_.:`)");
    }
    let (target, env) = super::target(&args.backend, &args.env).await?;
    if args.proxy {
        return proxy_log(&args, &target, &env, json).await;
    }
    let endpoint = target.endpoint();
    let deployments =
        list_deployments(&lambda_client(&endpoint), &endpoint, &env, &BackendId::of(target.info())).await?;
    let versions = match args.deployment {
        None => None,
        Some(n) => {
            let n = DeploymentNumber::new(n).context("deployments are numbered from 1")?;
            let d = deployments.iter().find(|d| d.deployment == n.get()).with_context(|| {
                format!(
                    "deployment {n} of {}/{} does not exist; `ownstak deployments --project {} --env {}` lists them",
                    env.project(),
                    env.env(),
                    env.project(),
                    env.env()
                )
            })?;
            Some(vec![d.version.clone()])
        }
    };
    let (since, since_ms) = since(&args);
    let filter = LogFilter { versions, request_id: args.request_id.clone(), since: Some(since) };
    let (source, poll) = match &target {
        Target::Local { .. } => {
            let dir = super::local_data_dir(&args.backend)?;
            let path = dir.join("logs").join(format!("{}.log", env.function()));
            (Source::File { path, offset: 0 }, POLL_LOCAL)
        }
        Target::Aws(t) => (
            Source::CloudWatch(Box::new(ownstak_aws::CloudWatchLogs::new(t, env.function(), since_ms))),
            POLL_CLOUDWATCH,
        ),
    };
    let mut reader = LogReader::new(&deployments);
    tail(source, poll, args.follow, |events| {
        reader.read(events, &filter).iter().map(|record| record_line(record, json)).collect()
    })
    .await
}

/// Prints the lines `to_lines` makes of each batch of events until the
/// source has no more, or with `follow` until interrupted (a reader that
/// went away, as in `ownstak logs | head`, also ends it).
async fn tail(
    mut source: Source,
    poll: Duration,
    follow: bool,
    mut to_lines: impl FnMut(&[LogEvent]) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<()> {
    loop {
        let events = source.next().await?;
        for line in to_lines(&events)? {
            let mut out = std::io::stdout().lock();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e).context("cannot write the log lines");
            }
        }
        if !follow {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = super::signal::shutdown_signal() => return Ok(()),
        }
    }
}

/// How far back `--since` reaches: as a log time and in epoch milliseconds.
fn since(args: &LogsArgs) -> (String, i64) {
    let since = SystemTime::now().checked_sub(args.since).unwrap_or(SystemTime::UNIX_EPOCH);
    let ms = since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    (ownstak_core::log_time(since.into()), i64::try_from(ms).unwrap_or(i64::MAX))
}

/// `ownstak logs --proxy`: the access log lines of requests routed to the
/// environment, filtered and followed as the function's lines are.
async fn proxy_log(args: &LogsArgs, target: &Target, env: &EnvironmentName, json: bool) -> anyhow::Result<()> {
    let (since, since_ms) = since(args);
    let qualifier = args.deployment.map(|n| format!("deployment-{n}"));
    let (source, poll) = match target {
        Target::Local { .. } => {
            let path = super::local_data_dir(&args.backend)?.join("logs").join(crate::logging::ACCESS_LOG_FILE);
            (Source::File { path, offset: 0 }, POLL_LOCAL)
        }
        Target::Aws(t) => {
            (Source::CloudWatch(Box::new(ownstak_aws::CloudWatchLogs::proxy(t, since_ms))), POLL_CLOUDWATCH)
        }
    };
    let wanted = |r: &AccessRecord| {
        r.function == env.function()
            && r.time.as_str() >= since.as_str()
            && args.request_id.as_ref().is_none_or(|id| *id == r.request_id)
            && qualifier.as_ref().is_none_or(|q| *q == r.qualifier)
    };
    tail(source, poll, args.follow, |events| {
        let records = events.iter().filter_map(|e| AccessRecord::parse(&e.message)).filter(|r| wanted(r));
        records.map(|r| access_line(&r, json)).collect()
    })
    .await
}

/// One access record: a JSON object, or time, status, method, URL,
/// duration, alias and request id.
fn access_line(r: &AccessRecord, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(r)?);
    }
    let (time, status, method, host, path) = (&r.time, r.status, &r.method, &r.host, &r.path);
    Ok(format!("{time} {status} {method} {host}{path} {:.1}ms {} {}", r.duration_ms, r.qualifier, r.request_id))
}

/// One function log record: a JSON object, or time, deployment, request
/// id and text.
fn record_line(record: &LogRecord, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(record)?);
    }
    let time = record.time.as_deref().unwrap_or("-");
    let deployment = record.deployment.map_or_else(|| "-".to_owned(), |n| format!("#{n}"));
    let id = record.request_id.as_deref().or(record.lambda_request_id.as_deref()).unwrap_or("-");
    Ok(format!("{time} {deployment:<4} {id} {}", record.message))
}
