//! `ownstak deployments`: list an environment's deployments.

use ownstak_core::{DeploymentNumber, Qualifier};
use ownstak_deploy::{BackendId, lambda_client, list_deployments};
use serde_json::json;

use crate::cli::DeploymentsArgs;
use crate::output;

/// Runs `ownstak deployments`.
pub(super) async fn run(args: DeploymentsArgs, json: bool) -> anyhow::Result<()> {
    let (target, env) = super::target(&args.backend, &args.env).await?;
    let endpoint = target.endpoint();
    let info = target.info();
    let list = list_deployments(&lambda_client(&endpoint), &endpoint, &env, &BackendId::of(info)).await?;
    let url = |n: u32| {
        DeploymentNumber::new(n).and_then(|n| info.url(&env, Qualifier::Deployment(n)).ok()).unwrap_or_default()
    };
    if json {
        let items: Vec<_> = list
            .iter()
            .map(|d| json!({ "deployment": d.deployment, "version": d.version, "deployedAt": d.deployed_at, "live": d.live, "deploymentId": d.deployment_id, "retiredAt": d.retired_at, "url": url(d.deployment) }))
            .collect();
        output::json(
            &json!({ "function": env.function(), "environmentUrl": info.url(&env, Qualifier::Current)?, "deployments": items }),
        );
        return Ok(());
    }
    if list.is_empty() {
        println!("{}/{} has no deployments yet", env.project(), env.env());
        return Ok(());
    }
    println!("{:<11} {:<8} {:<26} {:<25} {:<5} URL", "DEPLOYMENT", "VERSION", "DEPLOYED AT", "ID", "LIVE");
    for d in &list {
        println!(
            "{:<11} {:<8} {:<26} {:<25} {:<5} {}",
            d.deployment,
            d.version,
            d.deployed_at.as_deref().unwrap_or("-"),
            d.deployment_id.as_deref().unwrap_or("-"),
            if d.live { "*" } else { "" },
            url(d.deployment)
        );
    }
    Ok(())
}
