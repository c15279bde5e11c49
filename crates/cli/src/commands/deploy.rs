//! `ownstak deploy`: package, deploy, print URLs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use ownstak_assets::{PreparedUpload, prepare_upload};
use ownstak_core::{BundleManifest, DeploymentNumber, Qualifier};
use ownstak_deploy::{
    ASSETS_DIGEST_VARIABLE, Arch, BackendId, BundleInput, Code, DeployRequest, FunctionRuntime, LOCAL_ROLE,
    ProjectConfig, build_bundle, deploy_with, lambda_client,
};
use serde_json::json;

use super::Target;
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
pub(super) async fn run(args: DeployArgs, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let (target, env) = super::target(&args.backend, &args.env).await?;
    if let Some(n) = args.redeploy {
        return redeploy(&args, json, target, env, n, started).await;
    }
    let endpoint = target.endpoint();
    let info = target.info();
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
    // A build output's framework, and its static files for the backend's asset store.
    let build = ownstak_deploy::find_build_output(&args.dir)?;
    let runtime = FunctionRuntime::choose(&command, build.as_ref().map(|(_, b)| b.framework));
    let plan = build.as_ref().map(|(out_dir, b)| ownstak_deploy::asset_plan(out_dir, b));
    // The environment's variables (`ownstak env set`, over --env-file) go
    // into the function's configuration, so the deployment keeps them; they
    // win over the same names in ownstak.toml's [env]. Secrets go in only as
    // references with their versions, which the runtime fetches at init.
    let mut stored = match &args.env_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read --env-file {}", path.display()))?;
            ownstak_deploy::parse_env_file(&text, &path.display().to_string())?
        }
        None => std::collections::BTreeMap::new(),
    };
    let nextjs = matches!(build.as_ref().map(|(_, b)| b.framework), Some(ownstak_build::Framework::Nextjs));
    let snapshot = super::vars::snapshot(&target, &args.backend, &env, nextjs).await?;
    stored.extend(snapshot.variables);
    let secret_names: Vec<String> = snapshot.secrets.entries.iter().map(|(k, _)| k.clone()).collect();
    stored.retain(|k, _| !secret_names.contains(k));
    let mut manifest = BundleManifest::for_command(command);
    manifest.env = project.env.clone();
    manifest.env.retain(|k, _| !stored.contains_key(k) && !secret_names.contains(k));
    let input_runtime = runtime_binary(args.runtime_binary.clone())?;
    let input = BundleInput { app_dir: args.dir.clone(), runtime_binary: input_runtime.clone(), manifest };

    let pb = output::spinner(json);
    pb.set_message(format!("packaging {}", args.dir.display()));
    let bundle = {
        let pb = pb.clone();
        tokio::task::spawn_blocking(move || {
            build_bundle(&input, |p| pb.set_message(format!("packaging {}", p.display())))
        })
        .await
        .context("packaging panicked")??
    };
    pb.set_message(format!("bundle ready: {} files, {} zipped", bundle.files, output::bytes(bundle.zip.len() as u64)));

    let architecture = match (&target, bundle.architecture) {
        (_, Some(arch)) => arch,
        (Target::Local { .. }, None) => Arch::host().unwrap_or(Arch::X86_64),
        (Target::Aws(_), None) => anyhow::bail!(
            "the runtime binary {} is not a Linux x86_64 or arm64 executable, so Lambda cannot run it as the bundle's `bootstrap`; \
             build ownstak-runtime for Lambda (see \"Deploying to AWS\" in the README) and pass it with --runtime-binary",
            input_runtime.display()
        ),
    };
    // Where the code comes from: the zip itself for a local backend, the
    // backend's code bucket on AWS.
    let (code, role, vpc, bundle_object) = match &target {
        Target::Local { .. } => (Code::Zip(bundle.zip.clone()), LOCAL_ROLE.to_owned(), None, None),
        Target::Aws(t) => {
            pb.set_message(format!("uploading the bundle to s3://{}", t.code_bucket));
            let object = t.upload_bundle(env.function(), &bundle).await?;
            let code = Code::S3 { bucket: object.bucket.clone(), key: object.key.clone() };
            (code, t.function_role.clone(), Some(t.vpc.clone()), Some(object))
        }
    };
    // The static files, hashed: their digest goes into the function's
    // configuration, so other files always publish another version.
    let prepared: Option<PreparedUpload> = match &plan {
        Some(plan) => {
            pb.set_message("hashing static assets");
            Some(prepare_upload(plan).await?)
        }
        None => None,
    };
    let variable_names: Vec<String> = stored.keys().cloned().collect();
    let mut variables = stored;
    variables.extend(snapshot.secrets.to_variables());
    if let Some(p) = prepared.as_ref().filter(|p| p.files() > 0) {
        variables.insert(ASSETS_DIGEST_VARIABLE.to_owned(), p.digest().to_owned());
    }
    // The build's own id (Next.js carries it in its pages), else one
    // derived from what this deployment runs.
    let deployment_id = match build.as_ref().and_then(|(_, b)| b.deployment_id.clone()) {
        Some(id) => id,
        None => bundle.deployment_id(prepared.as_ref().map(|p| p.digest())),
    };
    let req = DeployRequest {
        env: env.clone(),
        backend: BackendId::of(info),
        code,
        architecture,
        runtime,
        memory: args.memory.or(project.function.memory).unwrap_or(DEFAULT_MEMORY),
        timeout: args.timeout.or(project.function.timeout).unwrap_or(DEFAULT_TIMEOUT),
        variables,
        deployment_id,
        role,
        vpc,
        promote: !args.no_promote,
    };
    let client = lambda_client(&endpoint);
    let upload_assets = async |function: &str, version: &str| {
        // Without a build, an empty index: nothing left in the store under
        // this function and version (by a deleted function of the same
        // name) is served for it.
        let (empty, with_files) = (PreparedUpload::empty(), prepared.is_some());
        let prepared = prepared.as_ref().unwrap_or(&empty);
        pb.set_message("uploading static assets");
        let progress = |p: &ownstak_assets::UploadProgress| {
            pb.set_message(format!("uploading static assets {}/{}", p.done, p.total))
        };
        let report = match &target {
            Target::Local { info, endpoint } => {
                ownstak_deploy::upload_assets(info, endpoint, function, version, prepared, progress).await?
            }
            Target::Aws(t) => {
                Some(ownstak_deploy::upload_assets_to(&t.asset_store(), function, version, prepared, progress).await?)
            }
        };
        Ok(report.filter(|_| with_files))
    };
    let (outcome, assets) =
        deploy_with(&client, &endpoint, &req, |step| pb.set_message(step.describe().to_owned()), upload_assets).await?;
    pb.finish_and_clear();

    // A published deployment number is never zero.
    let n = DeploymentNumber::new(outcome.deployment).context("the backend returned deployment 0")?;
    let deployment_url = info.url(&env, Qualifier::Deployment(n))?;
    let environment_url = info.url(&env, Qualifier::Current)?;
    if json {
        output::json(&json!({
            "function": outcome.function,
            "version": outcome.version,
            "deployment": outcome.deployment,
            "deploymentId": outcome.deployment_id,
            "variables": variable_names,
            "secrets": secret_names,
            "promoted": outcome.promoted,
            "notPromoted": outcome.not_promoted.map(|why| json!({ "why": why, "message": why.describe(n) })),
            "createdFunction": outcome.created_function,
            "adoptedFunction": outcome.adopted_function,
            "urls": { "deployment": deployment_url, "environment": environment_url },
            "bundle": { "files": bundle.files, "bytes": bundle.unpacked_bytes, "zipBytes": bundle.zip.len(), "sha256": bundle.sha256_hex(), "object": bundle_object },
            "architecture": architecture,
            "runtime": runtime.name(),
            "domain": info.suffix()?.domain(),
            "assets": assets,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        let live = live_note(outcome.promoted, outcome.not_promoted, n);
        println!(
            "Deployed {}/{} as deployment {} (version {}) {live} in {:.1}s",
            env.project(),
            env.env(),
            outcome.deployment,
            outcome.version,
            started.elapsed().as_secs_f64()
        );
        println!("  deployment   {deployment_url}");
        println!("  id           {}", outcome.deployment_id);
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

/// Runs `ownstak deploy --redeploy N`: deployment N's code, runtime,
/// memory, timeout, deployment id and static assets, with the current
/// variables and secrets (and --env-file).
async fn redeploy(
    args: &DeployArgs,
    json: bool,
    target: Target,
    env: ownstak_core::EnvironmentName,
    n: u32,
    started: Instant,
) -> anyhow::Result<()> {
    let n = DeploymentNumber::new(n).context("--redeploy takes a deployment number from 1")?;
    let endpoint = target.endpoint();
    let info = target.info();
    let client = lambda_client(&endpoint);
    let previous = ownstak_deploy::read_deployment(&client, &endpoint, &env, n).await?;
    let pb = output::spinner(json);
    pb.set_message(format!("reusing deployment {}", n.get()));
    let (code, role, vpc, architecture) = match &target {
        Target::Local { .. } => {
            let dir = previous.local_code_dir().context("the local backend did not say where deployment's code is")?;
            let bundle = tokio::task::spawn_blocking(move || ownstak_deploy::bundle_code_dir(&dir))
                .await
                .context("packaging panicked")??;
            let arch = previous.architecture.or(bundle.architecture).unwrap_or(Arch::host().unwrap_or(Arch::X86_64));
            (Code::Zip(bundle.zip), LOCAL_ROLE.to_owned(), None, arch)
        }
        Target::Aws(t) => {
            let object = t.existing_bundle(env.function(), &previous.code_sha256_hex()?).await?;
            let arch = previous.architecture.context("deployment has no architecture")?;
            (Code::S3 { bucket: object.bucket, key: object.key }, t.function_role.clone(), Some(t.vpc.clone()), arch)
        }
    };
    let mut stored = match &args.env_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read --env-file {}", path.display()))?;
            ownstak_deploy::parse_env_file(&text, &path.display().to_string())?
        }
        None => std::collections::BTreeMap::new(),
    };
    // The key of a Next.js environment exists since its first deploy.
    let snapshot = super::vars::snapshot(&target, &args.backend, &env, false).await?;
    stored.extend(snapshot.variables);
    let secret_names: Vec<String> = snapshot.secrets.entries.iter().map(|(k, _)| k.clone()).collect();
    stored.retain(|k, _| !secret_names.contains(k));
    let variable_names: Vec<String> = stored.keys().cloned().collect();
    let mut variables = stored;
    variables.extend(snapshot.secrets.to_variables());
    if let Some(digest) = previous.assets_digest() {
        variables.insert(ASSETS_DIGEST_VARIABLE.to_owned(), digest.to_owned());
    }
    let deployment_id =
        previous.deployment_id().context("deployment has no deployment id; deploy the app again")?.to_owned();
    let req = DeployRequest {
        env: env.clone(),
        backend: BackendId::of(info),
        code,
        architecture,
        runtime: previous.runtime,
        memory: previous.memory,
        timeout: previous.timeout,
        variables,
        deployment_id,
        role,
        vpc,
        promote: !args.no_promote,
    };
    let from_version = previous.version.clone();
    let copy_assets = async |function: &str, version: &str| {
        pb.set_message(format!("copying the static assets of deployment {}", n.get()));
        let store = match &target {
            Target::Local { info, endpoint } => ownstak_deploy::local_asset_store(info, endpoint).await,
            Target::Aws(t) => Some(t.asset_store()),
        };
        let Some(store) = store else { return Ok(None) };
        match store.copy_deployment(function, &from_version, version).await? {
            Some(report) => Ok(Some(report)),
            // Deployment N had no index: an empty one, so nothing stale is served.
            None => {
                ownstak_deploy::upload_assets_to(&store, function, version, &PreparedUpload::empty(), |_| {}).await?;
                Ok(None)
            }
        }
    };
    let (outcome, assets) =
        deploy_with(&client, &endpoint, &req, |step| pb.set_message(step.describe().to_owned()), copy_assets).await?;
    pb.finish_and_clear();
    let m = DeploymentNumber::new(outcome.deployment).context("the backend returned deployment 0")?;
    let deployment_url = info.url(&env, Qualifier::Deployment(m))?;
    let environment_url = info.url(&env, Qualifier::Current)?;
    if json {
        output::json(&json!({
            "function": outcome.function,
            "version": outcome.version,
            "deployment": outcome.deployment,
            "redeployOf": n.get(),
            "deploymentId": outcome.deployment_id,
            "variables": variable_names,
            "secrets": secret_names,
            "promoted": outcome.promoted,
            "notPromoted": outcome.not_promoted.map(|why| json!({ "why": why, "message": why.describe(m) })),
            "urls": { "deployment": deployment_url, "environment": environment_url },
            "assets": assets,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        let live = live_note(outcome.promoted, outcome.not_promoted, m);
        println!(
            "Redeployed deployment {} of {}/{} as deployment {} (version {}) with the current variables {live} in {:.1}s",
            n.get(),
            env.project(),
            env.env(),
            outcome.deployment,
            outcome.version,
            started.elapsed().as_secs_f64()
        );
        println!("  deployment   {deployment_url}");
        println!("  environment  {environment_url}");
    }
    Ok(())
}

/// How a deploy's text output says whether the new deployment went live.
fn live_note(promoted: bool, not_promoted: Option<ownstak_deploy::Skipped>, n: DeploymentNumber) -> String {
    match not_promoted {
        _ if promoted => "and promoted it".to_owned(),
        Some(why) => format!("(not promoted: {})", why.describe(n)),
        None => "(not promoted)".to_owned(),
    }
}
