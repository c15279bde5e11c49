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
    let since = SystemTime::now().checked_sub(args.since).unwrap_or(SystemTime::UNIX_EPOCH);
    let since_ms = since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let since_ms = i64::try_from(since_ms).unwrap_or(i64::MAX);
    let filter =
        LogFilter { versions, request_id: args.request_id.clone(), since: Some(ownstak_core::log_time(since.into())) };
    let (mut source, poll) = match &target {
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
    loop {
        let events = source.next().await?;
        for record in reader.read(&events, &filter) {
            if let Err(e) = print(&record, json) {
                // The reader went away (`ownstak logs | head`): done.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e).context("cannot write the log lines");
            }
        }
        if !args.follow {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = super::signal::shutdown_signal() => return Ok(()),
        }
    }
}

/// `ownstak logs --proxy`: the access log lines of requests routed to the
/// environment, filtered and followed as the function's lines are.
async fn proxy_log(args: &LogsArgs, target: &Target, env: &EnvironmentName, json: bool) -> anyhow::Result<()> {
    let since = SystemTime::now().checked_sub(args.since).unwrap_or(SystemTime::UNIX_EPOCH);
    let since_ms = since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let since_ms = i64::try_from(since_ms).unwrap_or(i64::MAX);
    let since = ownstak_core::log_time(since.into());
    let qualifier = args.deployment.map(|n| format!("deployment-{n}"));
    let (mut source, poll) = match target {
        Target::Local { .. } => {
            let path = super::local_data_dir(&args.backend)?.join("logs").join(crate::logging::ACCESS_LOG_FILE);
            (Source::File { path, offset: 0 }, POLL_LOCAL)
        }
        Target::Aws(t) => {
            (Source::CloudWatch(Box::new(ownstak_aws::CloudWatchLogs::proxy(t, since_ms))), POLL_CLOUDWATCH)
        }
    };
    loop {
        for event in source.next().await? {
            let Some(record) = AccessRecord::parse(&event.message) else { continue };
            let wanted = record.function == env.function()
                && record.time.as_str() >= since.as_str()
                && args.request_id.as_ref().is_none_or(|id| *id == record.request_id)
                && qualifier.as_ref().is_none_or(|q| *q == record.qualifier);
            if !wanted {
                continue;
            }
            let line = if json {
                serde_json::to_string(&record)?
            } else {
                format!(
                    "{} {} {} {}{} {:.1}ms {} {}",
                    record.time,
                    record.status,
                    record.method,
                    record.host,
                    record.path,
                    record.duration_ms,
                    record.qualifier,
                    record.request_id
                )
            };
            let mut out = std::io::stdout().lock();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e).context("cannot write the log lines");
            }
        }
        if !args.follow {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = super::signal::shutdown_signal() => return Ok(()),
        }
    }
}

/// Prints one record: a JSON object per line, or time, deployment,
/// request id and text.
fn print(record: &LogRecord, json: bool) -> std::io::Result<()> {
    let line = if json {
        serde_json::to_string(record).map_err(std::io::Error::other)?
    } else {
        let time = record.time.as_deref().unwrap_or("-");
        let deployment = record.deployment.map_or_else(|| "-".to_owned(), |n| format!("#{n}"));
        let id = record.request_id.as_deref().or(record.lambda_request_id.as_deref()).unwrap_or("-");
        format!("{time} {deployment:<4} {id} {}", record.message)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
