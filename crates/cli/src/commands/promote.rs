//! `ownstak promote`: move `current` to a deployment.

use anyhow::Context as _;
use ownstak_core::{DeploymentNumber, Qualifier};
use ownstak_deploy::{lambda_client, promote};
use serde_json::json;

use crate::cli::PromoteArgs;
use crate::output;

/// Runs `ownstak promote`.
pub(super) async fn run(args: PromoteArgs) -> anyhow::Result<()> {
    let n = DeploymentNumber::new(args.deployment).context("deployment numbers start at 1")?;
    let (target, env) = super::target(&args.backend, &args.env).await?;
    let endpoint = target.endpoint();
    let version = promote(&lambda_client(&endpoint), &endpoint, &env, n).await?;
    let url = target.info().url(&env, Qualifier::Current)?;
    if args.json {
        output::json(&json!({ "function": env.function(), "deployment": n.get(), "version": version, "url": url }));
    } else {
        println!("Deployment {n} (version {version}) of {}/{} is live at {url}", env.project(), env.env());
    }
    Ok(())
}
