//! `ownstak cache purge`: appends a purge to the backend's purge log, which
//! every proxy of the backend polls (see `ownstak_assets::PurgeFeed`), so
//! the purged answers leave every proxy's cache within its poll interval.

use anyhow::Context as _;
use ownstak_assets::{Purge, PurgeScope};
use ownstak_core::FunctionPrefix;
use ownstak_deploy::{BackendId, lambda_client, list_deployments, local_asset_store};
use serde_json::json;

use super::Target;
use crate::cli::{CacheCommand, CachePurgeArgs};
use crate::output;

/// Runs `ownstak cache …`.
pub(super) async fn run(cmd: CacheCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        CacheCommand::Purge(args) => purge(args, json).await,
    }
}

/// What the arguments ask to purge of `function`.
fn requested(args: &CachePurgeArgs, function: &str) -> anyhow::Result<Purge> {
    let purge = if args.all {
        Purge::all(function)
    } else {
        Purge::selected(function, args.paths.clone(), args.prefixes.clone(), args.tags.clone())
    };
    Ok(purge?)
}

async fn purge(args: CachePurgeArgs, json: bool) -> anyhow::Result<()> {
    // Bad input fails before any network call.
    requested(&args, super::environment(&args.env, &FunctionPrefix::default())?.function())?;
    let (target, env) = super::target(&args.backend, &args.env).await?;
    let purge = requested(&args, env.function())?;
    let endpoint = target.endpoint();
    let deployments =
        list_deployments(&lambda_client(&endpoint), &endpoint, &env, &BackendId::of(target.info())).await?;
    if deployments.is_empty() {
        anyhow::bail!(
            "{}/{} has no deployments on this backend, so nothing of it is cached; check --project and --env",
            env.project(),
            env.env()
        );
    }
    let store = match &target {
        Target::Local { endpoint, info } => local_asset_store(info, endpoint)
            .await
            .context("this local backend has no asset store, which holds the purge log; restart `ownstak local up`")?,
        Target::Aws(t) => t.asset_store(),
    };
    let record = store.purge(purge).await?;
    if json {
        output::json(&json!({
            "function": env.function(),
            "purge": record.seq,
            "scope": record.purge.scope(),
            "log": format!("s3://{}/{}", store.config().bucket, ownstak_assets::PURGE_LOG_KEY),
        }));
        return Ok(());
    }
    let what = match record.purge.scope() {
        PurgeScope::All { .. } => "every cached answer".to_owned(),
        PurgeScope::Selected { paths, prefixes, tags } => {
            let mut parts = Vec::new();
            for (noun, list) in [("path", paths), ("prefix", prefixes), ("tag", tags)] {
                if !list.is_empty() {
                    parts.push(format!("{noun} {}", list.join(", ")));
                }
            }
            parts.join("; ")
        }
    };
    println!(
        "purged {what} of {}/{} (purge #{}); every proxy of the backend drops it within a second",
        env.project(),
        env.env(),
        record.seq
    );
    Ok(())
}
