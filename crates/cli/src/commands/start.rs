//! `ownstak start`: run a built app exactly as it runs in Lambda — same
//! runtime, same proxy path — on an ephemeral local backend, with plain
//! `localhost` mapped to it.

use std::time::Duration;

use anyhow::Context as _;
use ownstak_core::{FunctionPrefix, Qualifier, Route};

use crate::cli::{BackendArgs, DeployArgs, EnvArgs, StartArgs};
use crate::output;
use ownstak_embedded::{Embedded, EmbeddedOptions};
use ownstak_local::LocalConfig;

/// The project and environment the started app is deployed as.
const PROJECT: &str = "app";
const ENV: &str = "local";

/// Runs `ownstak start`.
pub(super) async fn run(args: StartArgs, json: bool) -> anyhow::Result<()> {
    let build = args.dir.join(".ownstak");
    if !build.join("compute").is_dir() {
        anyhow::bail!("{} has no built app; run `ownstak build {}` first", args.dir.display(), args.dir.display());
    }
    let data = tempfile::Builder::new()
        .prefix("ownstak-start-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let embedded = Embedded::start(EmbeddedOptions {
        data_dir: data.path().to_path_buf(),
        lambda: LocalConfig::new(data.path().to_path_buf()),
        lambda_addr: "127.0.0.1:0".parse()?,
        s3_addr: Some("127.0.0.1:0".parse()?),
        proxy_addr: args.addr,
        backend: "local".to_owned(),
        org: "dev".to_owned(),
        root_domain: "localhost".to_owned(),
        prefix: FunctionPrefix::default(),
        fallback_route: Some(Route { label: format!("{PROJECT}-{ENV}"), qualifier: Qualifier::Current }),
        allowed_origins: Vec::new(),
        verify_signatures: false,
        // The same proxy as everywhere else, so caching headers behave as they will when deployed.
        cache: Some(ownstak_proxy::CacheConfig::default()),
        skew_window: ownstak_proxy::DEFAULT_SKEW_WINDOW,
    })
    .await?;
    let deploy = DeployArgs {
        dir: args.dir.clone(),
        env: EnvArgs { project: PROJECT.to_owned(), env: ENV.to_owned() },
        command: None,
        backend: BackendArgs::local(embedded.ready.lambda.clone(), data.path().to_path_buf()),
        no_promote: false,
        env_file: None,
        memory: None,
        timeout: None,
        runtime_binary: args.runtime_binary.clone(),
        redeploy: None,
    };
    if json {
        super::deploy::run(deploy, true).await?;
        output::json(&serde_json::json!({ "event": "ready", "proxy": embedded.ready.proxy }));
    } else {
        super::deploy::run(deploy, false).await?;
        println!("Serving {} at {} (Ctrl-C to stop)", args.dir.display(), embedded.ready.proxy);
    }
    let result = embedded.run(super::signal::shutdown_signal(), Duration::from_secs(5)).await;
    drop(data);
    Ok(result?)
}
