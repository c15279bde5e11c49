//! `ownstak promote`: move `current` to a deployment.

use anyhow::Context as _;
use ownstak_core::{DeploymentNumber, Qualifier};
use ownstak_deploy::{lambda_client, promote, Endpoint};
use serde_json::json;

use crate::cli::PromoteArgs;
use crate::output;

/// Runs `ownstak promote`.
pub async fn run(args: PromoteArgs) -> anyhow::Result<()> {
    let n = DeploymentNumber::new(args.deployment).context("deployment numbers start at 1")?;
    let endpoint = Endpoint::Local(args.backend.lambda_endpoint.clone());
    let (info, env) = super::backend(&endpoint, &args.env).await?;
    let version = promote(&lambda_client(&endpoint), &endpoint, &env, n).await?;
    let url = info.url(&env, Qualifier::Current)?;
    if args.json {
        output::json(&json!({ "function": env.function(), "deployment": n.get(), "version": version, "url": url }));
    } else {
        println!("Deployment {n} (version {version}) of {}/{} is live at {url}", env.project(), env.env());
    }
    Ok(())
}
