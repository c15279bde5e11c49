//! One module per command.

mod backend;
mod build;
mod cache;
mod deploy;
mod deployments;
mod domains;
mod local;
mod logs;
mod promote;
mod proxy;
mod signal;
mod start;
mod vars;

use anyhow::Context as _;
use ownstak_core::{EnvironmentName, FunctionPrefix};
use ownstak_deploy::{Endpoint, fetch_backend_info};

use crate::cli::{BackendArgs, Command, EnvArgs, LocalCommand};

/// Runs a parsed command; `json` asks for JSON output instead of text.
pub(crate) async fn run(command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Local(LocalCommand::Up(args)) => local::up(args, json).await,
        Command::Build(args) => build::run(args, json).await,
        Command::Deploy(args) => deploy::run(args, json).await,
        Command::Promote(args) => promote::run(args, json).await,
        Command::Deployments(args) => deployments::run(args, json).await,
        Command::Logs(args) => logs::run(args, json).await,
        Command::Env(cmd) => vars::run(cmd, json).await,
        Command::Proxy(args) => proxy::run(args, json).await,
        Command::Cache(cmd) => cache::run(cmd, json).await,
        Command::Backend(cmd) => backend::run(cmd, json).await,
        Command::Start(args) => start::run(args, json).await,
        Command::Domains(cmd) => domains::run(cmd, json).await,
    }
}

/// The local backend's data directory the arguments name (the default
/// `~/.ownstak/local` without `--data-dir`).
pub(crate) fn local_data_dir(backend: &BackendArgs) -> anyhow::Result<std::path::PathBuf> {
    match &backend.data_dir {
        Some(d) => Ok(d.clone()),
        None => default_data_dir(),
    }
}

/// The local backend's data directory when none is given: `~/.ownstak/local`.
pub(crate) fn default_data_dir() -> anyhow::Result<std::path::PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(std::path::PathBuf::from(home).join(".ownstak").join("local"))
}

/// Validates the slugs before anything touches a backend.
fn environment(args: &EnvArgs, prefix: &FunctionPrefix) -> anyhow::Result<EnvironmentName> {
    EnvironmentName::new(prefix, &args.project, &args.env).context("invalid project or environment")
}

/// Where `deploy`, `promote` and `deployments` go.
pub(crate) enum Target {
    /// A local backend (`ownstak local up`) at a Lambda endpoint.
    Local {
        /// Its Lambda endpoint.
        endpoint: Endpoint,
        /// Its URL facts.
        info: Box<ownstak_core::BackendInfo>,
    },
    /// An AWS backend, read from its stack.
    Aws(Box<ownstak_aws::DeployTarget>),
}

impl Target {
    /// The Lambda endpoint.
    pub(crate) fn endpoint(&self) -> Endpoint {
        match self {
            Target::Local { endpoint, .. } => endpoint.clone(),
            Target::Aws(t) => t.endpoint(),
        }
    }

    /// The URL facts.
    pub(crate) fn info(&self) -> &ownstak_core::BackendInfo {
        match self {
            Target::Local { info, .. } => info,
            Target::Aws(t) => &t.info,
        }
    }
}

/// Opens the backend the arguments name and validates the environment
/// under its function prefix.
async fn target(backend: &BackendArgs, args: &EnvArgs) -> anyhow::Result<(Target, EnvironmentName)> {
    // Check the slugs with the default prefix first, so bad input fails
    // before any network call.
    environment(args, &FunctionPrefix::default())?;
    let target = open(backend).await?;
    let prefix = target.info().prefix().context("the backend reported an invalid function prefix")?;
    let env = environment(args, &prefix)?;
    Ok((target, env))
}

/// Opens the backend the arguments name.
async fn open(backend: &BackendArgs) -> anyhow::Result<Target> {
    Ok(match &backend.backend {
        None => {
            let keys = ownstak_deploy::local_keys(backend.data_dir.as_deref())?;
            let endpoint = Endpoint::Local { url: backend.lambda_endpoint.clone(), keys };
            let info = fetch_backend_info(&endpoint).await?;
            Target::Local { endpoint, info: Box::new(info) }
        }
        Some(name) => {
            let org = backend
                .org
                .as_deref()
                .context("--backend needs the backend's organization: pass --org (or set OWNSTAK_ORG)")?;
            let settings = ownstak_aws::AwsSettings {
                profile: backend.profile.clone(),
                region: backend.region.clone(),
                endpoint_url: backend.aws_endpoint_url.clone(),
                credentials: None,
            };
            Target::Aws(Box::new(
                ownstak_aws::DeployTarget::open(&backend.function_prefix, org, name, &settings).await?,
            ))
        }
    })
}
