//! One module per command.

mod build;
mod deploy;
mod deployments;
mod embedded;
mod local;
mod promote;
mod start;
mod proxy;
mod backend;

use anyhow::Context as _;
use ownstak_core::{EnvironmentName, FunctionPrefix};
use ownstak_deploy::{fetch_backend_info, Endpoint};

use crate::cli::{Command, EnvArgs, LocalCommand};

/// Runs a parsed command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Local(LocalCommand::Up(args)) => local::up(args).await,
        Command::Build(args) => build::run(args).await,
        Command::Deploy(args) => deploy::run(args).await,
        Command::Promote(args) => promote::run(args).await,
        Command::Deployments(args) => deployments::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Backend(cmd) => backend::run(cmd).await,
        Command::Start(args) => start::run(args).await,
    }
}

/// Validates the slugs before anything touches a backend.
fn environment(args: &EnvArgs, prefix: &FunctionPrefix) -> anyhow::Result<EnvironmentName> {
    EnvironmentName::new(prefix, &args.project, &args.env).context("invalid project or environment")
}

/// The backend's URL facts and the environment under its prefix.
async fn backend(endpoint: &Endpoint, args: &EnvArgs) -> anyhow::Result<(ownstak_core::BackendInfo, EnvironmentName)> {
    // Check the slugs with the default prefix first, so bad input fails
    // before any network call.
    environment(args, &FunctionPrefix::default())?;
    let info = fetch_backend_info(endpoint).await?;
    let prefix = info.prefix().context("the backend reported an invalid function prefix")?;
    Ok((info, environment(args, &prefix)?))
}
