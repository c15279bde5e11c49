//! `ownstak deploy`: package, deploy, print URLs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use ownstak_core::{BundleManifest, DeploymentNumber, Qualifier};
use ownstak_deploy::bundle::{self, BundleInput};
use ownstak_deploy::deploy::LOCAL_ROLE;
use ownstak_deploy::{deploy_with, lambda_client, DeployRequest, Endpoint, ProjectConfig};
use serde_json::json;

use crate::cli::DeployArgs;
use crate::output;

/// Memory of a new function when nothing says otherwise.
const DEFAULT_MEMORY: u32 = 1024;
/// Timeout of a new function when nothing says otherwise.
const DEFAULT_TIMEOUT: u32 = 30;

/// Finds the runtime to bundle: the flag, else `ownstak-runtime` beside this binary.
fn runtime_binary(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot locate the ownstak binary")?;
    let sibling = exe.with_file_name("ownstak-runtime");
    if sibling.is_file() {
        return Ok(sibling);
    }
    anyhow::bail!(
        "cannot find ownstak-runtime next to {}; build it with `cargo build --workspace`, or pass --runtime-binary",
        exe.display()
    )
}

/// Runs `ownstak deploy`.
pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let endpoint = Endpoint::Local(args.backend.lambda_endpoint.clone());
    let (info, env) = super::backend(&endpoint, &args.env).await?;
    let mut args = args;
    // A directory built with `ownstak build` (and without its own ownstak.toml)
    // deploys its `.ownstak/compute`.
    let built = ownstak_build::compute_dir(&args.dir);
    if args.command.is_none() && built.join("ownstak.toml").is_file() && !args.dir.join("ownstak.toml").exists() {
        tracing::info!(dir = %built.display(), "deploying the output of `ownstak build`");
        args.dir = built;
    }
    let project = ProjectConfig::load(&args.dir)?;
    let command = args.command.clone().or(project.command.clone()).ok_or_else(|| {
        anyhow::anyhow!(
            "no start command for {}: pass --command \"node server.js\" or put `command = \"…\"` in {}/ownstak.toml",
            args.dir.display(),
            args.dir.display()
        )
    })?;
    let mut manifest = BundleManifest::for_command(command);
    manifest.env = project.env.clone();
    let input = BundleInput { app_dir: args.dir.clone(), runtime_binary: runtime_binary(args.runtime_binary.clone())?, manifest };

    let pb = output::spinner(args.json);
    pb.set_message(format!("packaging {}", args.dir.display()));
    let bundle = {
        let pb = pb.clone();
        tokio::task::spawn_blocking(move || bundle::build(&input, |p| pb.set_message(format!("packaging {}", p.display()))))
            .await
            .context("packaging panicked")??
    };
    pb.set_message(format!("bundle ready: {} files, {} zipped", bundle.files, output::bytes(bundle.zip.len() as u64)));

    let req = DeployRequest {
        env: env.clone(),
        zip: bundle.zip.clone(),
        memory: args.memory.or(project.function.memory).unwrap_or(DEFAULT_MEMORY),
        timeout: args.timeout.or(project.function.timeout).unwrap_or(DEFAULT_TIMEOUT),
        variables: Default::default(),
        role: LOCAL_ROLE.to_owned(),
        promote: !args.no_promote,
    };
    // A build output's static files go to the backend's asset store.
    let plan = ownstak_deploy::assets::build_plan(&args.dir)?;
    let client = lambda_client(&endpoint);
    let upload_assets = async |function: &str, version: &str| match &plan {
        Some(plan) => {
            pb.set_message("uploading static assets");
            ownstak_deploy::assets::upload(&info, function, version, plan, |p| {
                pb.set_message(format!("uploading static assets {}/{}", p.done, p.total));
            })
            .await
        }
        None => Ok(None),
    };
    let (outcome, assets) = deploy_with(&client, &endpoint, &req, |step| pb.set_message(step.describe().to_owned()), upload_assets).await?;
    pb.finish_and_clear();

    // A published deployment number is never zero.
    let n = DeploymentNumber::new(outcome.deployment).context("the backend returned deployment 0")?;
    let deployment_url = info.url(&env, Qualifier::Deployment(n))?;
    let environment_url = info.url(&env, Qualifier::Current)?;
    if args.json {
        output::json(&json!({
            "function": outcome.function,
            "version": outcome.version,
            "deployment": outcome.deployment,
            "promoted": outcome.promoted,
            "createdFunction": outcome.created_function,
            "urls": { "deployment": deployment_url, "environment": environment_url },
            "bundle": { "files": bundle.files, "bytes": bundle.unpacked_bytes, "zipBytes": bundle.zip.len() },
            "assets": assets,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        let live = if outcome.promoted { "and promoted it" } else { "(not promoted)" };
        println!(
            "Deployed {}/{} as deployment {} (version {}) {live} in {:.1}s",
            env.project(),
            env.env(),
            outcome.deployment,
            outcome.version,
            started.elapsed().as_secs_f64()
        );
        println!("  deployment   {deployment_url}");
        println!("  environment  {environment_url}");
        if let Some(a) = &assets {
            println!(
                "  assets       uploaded {} files ({}), skipped {}",
                a.uploaded_files,
                output::bytes(a.uploaded_bytes),
                a.skipped_files
            );
        }
    }
    Ok(())
}
