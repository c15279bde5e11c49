//! `ownstak promote`: move `current` to a deployment.

use anyhow::Context as _;
use ownstak_core::{DeploymentNumber, Qualifier};
use ownstak_deploy::{BackendId, lambda_client, promote};
use serde_json::json;

use crate::cli::PromoteArgs;
use crate::output;

/// Runs `ownstak promote`.
pub(super) async fn run(args: PromoteArgs, json: bool) -> anyhow::Result<()> {
    let n = DeploymentNumber::new(args.deployment).context("deployment numbers start at 1")?;
    let (target, env) = super::target(&args.backend, &args.env).await?;
    let endpoint = target.endpoint();
    let backend = BackendId::of(target.info());
    let out = promote(&lambda_client(&endpoint), &endpoint, &env, &backend, n).await?;
    let url = target.info().url(&env, Qualifier::Current)?;
    let version = &out.version;
    let superseded = out.promoted.superseded_by.map(|d| {
        format!(
            "deployment {d}, deployed at the same time, was made live right after this promote; run `ownstak promote {n}` again to make deployment {n} live"
        )
    });
    if json {
        output::json(&json!({
            "function": env.function(),
            "deployment": n.get(),
            "version": version,
            "url": url,
            "previous": out.promoted.previous,
            "supersededBy": out.promoted.superseded_by,
        }));
    } else {
        println!("Deployment {n} (version {version}) of {}/{} is live at {url}", env.project(), env.env());
    }
    if let Some(text) = superseded {
        tracing::warn!("{text}");
    }
    Ok(())
}
