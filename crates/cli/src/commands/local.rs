//! `ownstak local up`: the embedded backend in one foreground process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use ownstak_core::{BackendInfo, HostSuffix};
use ownstak_local::{LocalConfig, LocalLambda};
use ownstak_assets::{AssetServer, AssetStore, StoreConfig, DEFAULT_BUCKET};
use ownstak_proxy::{AssetsConfig, Proxy, ProxyConfig};
use serde::Serialize;

use crate::cli::LocalUpArgs;
use crate::output;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ready {
    event: &'static str,
    proxy: String,
    lambda: String,
    s3: String,
    domain: String,
    data_dir: String,
}

/// Where the asset store listens unless `--s3-addr` says otherwise.
const DEFAULT_S3_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9002);

/// Binds the asset store: on `--s3-addr`, else on [`DEFAULT_S3_ADDR`] or,
/// when another process holds it, on any free port (clients learn the
/// address from the backend facts).
async fn bind_asset_store(addr: Option<SocketAddr>, root: &Path) -> anyhow::Result<AssetServer> {
    if let Some(addr) = addr {
        return AssetServer::bind(addr, root).await.with_context(|| format!("cannot start the asset store on {addr}; pick another with --s3-addr"));
    }
    match AssetServer::bind(DEFAULT_S3_ADDR, root).await {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::warn!(error = %e, "the default asset store address is taken; using a free port");
            let any = SocketAddr::new(DEFAULT_S3_ADDR.ip(), 0);
            AssetServer::bind(any, root).await.context("cannot start the asset store")
        }
    }
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".ownstak").join("local"))
}

/// Runs the local Lambda service and the proxy until SIGINT or SIGTERM.
pub async fn up(args: LocalUpArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let suffix = HostSuffix::new(&args.backend, &args.org, &args.root_domain).context("invalid --backend, --org or --root-domain")?;
    let prefix = ownstak_core::FunctionPrefix::new(&args.function_prefix)?;

    let lambda_listener = tokio::net::TcpListener::bind(args.lambda_addr)
        .await
        .with_context(|| format!("cannot listen on {} for the Lambda API; is another backend running? pick another with --lambda-addr", args.lambda_addr))?;
    let lambda_addr = lambda_listener.local_addr()?;
    let lambda_url = format!("http://{lambda_addr}");

    let assets_server = bind_asset_store(args.s3_addr, &data_dir.join("assets")).await?;
    let s3_url = assets_server.url();
    let (stop_assets, assets_stopped) = tokio::sync::oneshot::channel::<()>();
    let assets_task = tokio::spawn(assets_server.serve(async move {
        let _ = assets_stopped.await;
    }));
    AssetStore::new(StoreConfig::local(s3_url.clone(), DEFAULT_BUCKET))
        .await
        .ensure_bucket()
        .await
        .context("cannot create the asset bucket")?;

    let mut proxy_config = ProxyConfig::new(suffix.clone(), Some(lambda_url.clone()));
    proxy_config.listen = args.proxy_addr;
    proxy_config.prefix = prefix.clone();
    proxy_config.api_id = args.backend.clone();
    // The local backend serves one machine; its metrics are for its user.
    proxy_config.expose_metrics = true;
    proxy_config.assets = Some(AssetsConfig { endpoint: Some(s3_url.clone()), bucket: DEFAULT_BUCKET.to_owned() });
    let proxy = Proxy::bind(proxy_config).await?;
    let proxy_addr = proxy.local_addr();

    let mut config = LocalConfig::new(data_dir.clone());
    config.lambda_addr = lambda_addr;
    config.max_environments = args.max_environments.max(1);
    config.queue_timeout = Duration::from_millis(args.queue_timeout_ms);
    config.idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.backend_info = Some(BackendInfo {
        backend: args.backend.clone(),
        org: args.org.clone(),
        root_domain: args.root_domain.clone(),
        function_prefix: prefix.to_string(),
        scheme: "http".to_owned(),
        port: Some(proxy_addr.port()),
        assets_endpoint: Some(s3_url.clone()),
        assets_bucket: Some(DEFAULT_BUCKET.to_owned()),
    });
    let lambda = LocalLambda::with_listener(config, lambda_listener).with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;

    let (stop_lambda, lambda_stopped) = tokio::sync::oneshot::channel::<()>();
    let lambda_task = tokio::spawn(lambda.serve(async move {
        let _ = lambda_stopped.await;
    }));

    let ready = Ready {
        event: "ready",
        proxy: format!("http://{proxy_addr}"),
        lambda: lambda_url.clone(),
        s3: s3_url.clone(),
        domain: suffix.domain().to_owned(),
        data_dir: data_dir.display().to_string(),
    };
    if args.json {
        output::json(&ready);
    } else {
        println!("ownstak local backend is up");
        println!("  proxy       {}   serving *.{}", ready.proxy, ready.domain);
        println!("  lambda API  {}", ready.lambda);
        println!("  assets (S3) {}   bucket {DEFAULT_BUCKET}", ready.s3);
        println!("  data        {}", ready.data_dir);
        println!("Deploy an app:  ownstak deploy examples/hello --project hello --env prod");
        println!("Stop with Ctrl-C.");
    }

    // The proxy drains first: its open requests still need the Lambda service.
    proxy.serve(shutdown_signal(), Duration::from_secs(args.drain_timeout)).await;
    tracing::info!("proxy drained; stopping the Lambda service");
    let _ = stop_lambda.send(());
    lambda_task.await.context("the Lambda service task failed")??;
    let _ = stop_assets.send(());
    assets_task.await.context("the asset store task failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: draining open requests");
}
