//! `ownstak proxy`: the LambdaProxy on its own.

use std::time::Duration;

use anyhow::Context as _;
use ownstak_core::{FunctionPrefix, HostSuffix};
use ownstak_proxy::TrustedProxies;
use ownstak_proxy::{AssetsConfig, InvokeMode, Limits, Proxy, ProxyConfig, TlsSetting};
use serde_json::json;

use crate::cli::ProxyArgs;
use crate::output;

/// Serves until SIGINT or SIGTERM, then drains.
pub(super) async fn run(args: ProxyArgs, json: bool) -> anyhow::Result<()> {
    let suffix = HostSuffix::new(&args.site.backend, &args.site.org, &args.site.root_domain)
        .context("invalid --backend, --org or --root-domain")?;
    let mut config = ProxyConfig::new(suffix.clone(), args.lambda_endpoint.clone());
    config.listen = args.proxy_addr;
    config.prefix = FunctionPrefix::new(&args.site.function_prefix)?;
    config.region = args.region.clone();
    config.api_id = args.site.backend.clone();
    config.trusted_proxies =
        TrustedProxies::parse(args.trusted_proxies.iter().map(String::as_str)).map_err(anyhow::Error::msg)?;
    config.expose_metrics = args.expose_metrics;
    config.skew_window = args.site.skew_window;
    if args.buffered {
        config.invoke_mode = InvokeMode::Buffered;
    }
    config.limits = limits(&args);
    config.shards = match args.threads {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    config.tls = tls(&args);
    config.cache = args.cache.config();
    config.assets =
        args.assets_bucket.clone().map(|bucket| AssetsConfig { endpoint: args.assets_endpoint.clone(), bucket });
    if args.lambda_endpoint.is_some() {
        // A local backend: sign with its key pair, as `ownstak deploy` does.
        config.local_keys = Some(ownstak_deploy::local_keys(args.data_dir.as_deref())?);
    }
    let proxy = Proxy::bind(config).await?;
    let url = format!("{}://{}", proxy.scheme(), proxy.local_addr());
    if json {
        output::json(&json!({ "event": "ready", "proxy": url, "domain": suffix.domain() }));
    } else {
        println!("ownstak proxy on {url}, serving *.{}", suffix.domain());
    }
    proxy.serve(super::signal::shutdown_signal(), Duration::from_secs(args.drain_timeout)).await;
    Ok(())
}

/// The limits from the flags (each defaults to `Limits::default()`).
fn limits(args: &ProxyArgs) -> Limits {
    Limits {
        max_header_bytes: args.max_header_bytes,
        max_body_bytes: args.max_body_bytes,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        body_read_timeout: Duration::from_secs(args.body_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        invoke_timeout: Duration::from_secs(args.invoke_timeout),
        max_in_flight: args.max_in_flight,
        max_response_head_bytes: args.max_response_head_bytes,
        max_body_bytes_in_flight: args.max_body_bytes_in_flight,
        ..Limits::default()
    }
}

/// TLS from the flags; clap guarantees the cert/key pair is complete and
/// exclusive with --tls-self-signed.
fn tls(args: &ProxyArgs) -> TlsSetting {
    match (&args.tls_cert, &args.tls_key, &args.tls_self_signed) {
        (Some(cert), Some(key), _) => TlsSetting::Files { cert: cert.clone(), key: key.clone() },
        (_, _, Some(dir)) => TlsSetting::SelfSigned { dir: dir.clone() },
        _ => TlsSetting::Off,
    }
}
