//! `ownstak local up`: the embedded backend in one foreground process.

use std::time::Duration;

use ownstak_assets::DEFAULT_BUCKET;

use crate::cli::LocalUpArgs;
use crate::output;
use ownstak_embedded::{Embedded, EmbeddedOptions};
use ownstak_local::LocalConfig;

/// Runs the local Lambda service, the asset store and the proxy until SIGINT or SIGTERM.
pub(super) async fn up(args: LocalUpArgs, json: bool) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => super::default_data_dir()?,
    };
    let mut lambda = LocalConfig::new(data_dir.clone());
    lambda.max_environments = args.max_environments;
    lambda.queue_timeout = Duration::from_millis(args.queue_timeout_ms);
    lambda.warm_wait = Duration::from_millis(args.warm_wait_ms);
    lambda.idle_timeout = Duration::from_secs(args.environment_idle_timeout);
    let embedded = Embedded::start(EmbeddedOptions {
        data_dir,
        lambda_addr: args.lambda_addr,
        s3_addr: args.s3_addr,
        proxy_addr: args.proxy_addr,
        backend: args.site.backend.clone(),
        org: args.site.org.clone(),
        root_domain: args.site.root_domain.clone(),
        prefix: ownstak_core::FunctionPrefix::new(&args.site.function_prefix)?,
        lambda,
        fallback_route: None,
        allowed_origins: args.allow_origins.clone(),
        verify_signatures: args.verify_signatures,
        cache: args.cache.config(),
        skew_window: args.site.skew_window,
    })
    .await?;
    let ready = &embedded.ready;
    if json {
        output::json(ready);
    } else {
        println!("ownstak local backend is up");
        println!("  proxy       {}   serving *.{}", ready.proxy, ready.domain);
        println!("  lambda API  {}", ready.lambda);
        println!("  assets (S3) {}   bucket {DEFAULT_BUCKET}", ready.s3);
        println!("  data        {}", ready.data_dir);
        if ready.verify_signatures {
            println!("  credentials {}   (only this key pair is accepted)", ready.credentials);
        } else {
            println!("  credentials {}   (any AWS credentials are accepted)", ready.credentials);
        }
        println!("Deploy an app:  ownstak deploy examples/hello --project hello --env prod");
        println!("Stop with Ctrl-C.");
    }
    Ok(embedded.run(super::signal::shutdown_signal(), Duration::from_secs(args.drain_timeout)).await?)
}
