//! `ownstak proxy`: the LambdaProxy on its own.

use std::time::Duration;

use anyhow::Context as _;
use ownstak_core::{FunctionPrefix, HostSuffix};
use ownstak_proxy::{InvokeMode, Proxy, ProxyConfig};
use serde_json::json;

use crate::cli::ProxyArgs;
use crate::output;

/// Serves until SIGINT or SIGTERM, then drains.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let suffix = HostSuffix::new(&args.backend, &args.org, &args.root_domain).context("invalid --backend, --org or --root-domain")?;
    let mut config = ProxyConfig::new(suffix.clone(), args.lambda_endpoint.clone());
    config.listen = args.proxy_addr;
    config.prefix = FunctionPrefix::new(&args.function_prefix)?;
    config.region = args.region.clone();
    config.api_id = args.backend.clone();
    if args.buffered {
        config.invoke_mode = InvokeMode::Buffered;
    }
    let proxy = Proxy::bind(config).await?;
    let addr = proxy.local_addr();
    if args.json {
        output::json(&json!({ "event": "ready", "proxy": format!("http://{addr}"), "domain": suffix.domain() }));
    } else {
        println!("ownstak proxy on http://{addr}, serving *.{}", suffix.domain());
    }
    proxy.serve(super::local::shutdown_signal(), Duration::from_secs(args.drain_timeout)).await;
    Ok(())
}
