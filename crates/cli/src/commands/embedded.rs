//! The embedded backend — Lambda API, asset store and LambdaProxy in one
//! process — shared by `ownstak local up` and `ownstak start`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use ownstak_assets::{AssetServer, AssetStore, DEFAULT_BUCKET, EndpointSecurity, StoreConfig};
use ownstak_core::{BackendInfo, FunctionPrefix, HostSuffix, Route};
use ownstak_guard::AllowedOrigin;
use ownstak_local::{LocalConfig, LocalLambda};
use ownstak_proxy::SdkLambda;
use ownstak_proxy::{AssetsConfig, Proxy, ProxyConfig};
use serde::Serialize;

/// Where the asset store listens unless told otherwise.
const DEFAULT_S3_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9002);

/// How to run the embedded backend.
pub(super) struct EmbeddedOptions {
    /// State, code, assets and logs.
    pub data_dir: PathBuf,
    /// Lambda API address.
    pub lambda_addr: SocketAddr,
    /// Asset store address; `None` tries the default, then any free port.
    pub s3_addr: Option<SocketAddr>,
    /// Proxy address.
    pub proxy_addr: SocketAddr,
    /// Backend slug in host names.
    pub backend: String,
    /// Organization slug in host names.
    pub org: String,
    /// Root domain of host names.
    pub root_domain: String,
    /// Prefix of the functions.
    pub prefix: FunctionPrefix,
    /// Most environments per function.
    pub max_environments: usize,
    /// How long an invoke waits for an environment.
    pub queue_timeout: Duration,
    /// How long an invoke waits for a busy environment before starting one.
    pub warm_wait: Duration,
    /// Idle environment lifetime.
    pub idle_timeout: Duration,
    /// Where requests for hosts outside the suffix go (`ownstak start`).
    pub fallback_route: Option<Route>,
    /// Origins whose web pages may call the Lambda API and the asset store.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// Accept only requests signed with the data directory's key pair.
    pub verify_signatures: bool,
}

/// Addresses of a running embedded backend.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Ready {
    /// Always `ready`.
    pub event: &'static str,
    /// Proxy URL.
    pub proxy: String,
    /// Lambda API URL.
    pub lambda: String,
    /// Asset store URL.
    pub s3: String,
    /// The served domain.
    pub domain: String,
    /// The data directory.
    pub data_dir: String,
    /// The file with the backend's key pair.
    pub credentials: String,
    /// Whether only that key pair is accepted.
    pub verify_signatures: bool,
}

/// A started embedded backend; [`Embedded::run`] serves until shutdown.
pub(super) struct Embedded {
    /// Its addresses.
    pub ready: Ready,
    proxy: Proxy,
    stop_lambda: tokio::sync::oneshot::Sender<()>,
    lambda_task: tokio::task::JoinHandle<Result<(), ownstak_local::ServerError>>,
    stop_assets: tokio::sync::oneshot::Sender<()>,
    assets_task: tokio::task::JoinHandle<()>,
}

/// Binds the asset store: on the given address, else on [`DEFAULT_S3_ADDR`]
/// or, when another process holds it, on any free port (clients learn the
/// address from the backend facts).
async fn bind_asset_store(
    addr: Option<SocketAddr>,
    root: &Path,
    security: EndpointSecurity,
) -> anyhow::Result<AssetServer> {
    if let Some(addr) = addr {
        return AssetServer::bind_with(addr, root, security)
            .await
            .with_context(|| format!("cannot start the asset store on {addr}; pick another with --s3-addr"));
    }
    match AssetServer::bind_with(DEFAULT_S3_ADDR, root, security.clone()).await {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::warn!(error = %e, "the default asset store address is taken; using a free port");
            let any = SocketAddr::new(DEFAULT_S3_ADDR.ip(), 0);
            AssetServer::bind_with(any, root, security).await.context("cannot start the asset store")
        }
    }
}

impl Embedded {
    /// Binds every listener and starts the Lambda service and asset store.
    pub(super) async fn start(opts: EmbeddedOptions) -> anyhow::Result<Self> {
        let data_dir = opts.data_dir;
        let suffix = HostSuffix::new(&opts.backend, &opts.org, &opts.root_domain)
            .context("invalid --backend, --org or --root-domain")?;
        let lambda_listener = tokio::net::TcpListener::bind(opts.lambda_addr).await.with_context(|| {
            format!(
                "cannot listen on {} for the Lambda API; is another backend running? pick another with --lambda-addr",
                opts.lambda_addr
            )
        })?;
        let lambda_addr = lambda_listener.local_addr()?;
        let lambda_url = format!("http://{lambda_addr}");

        // The backend's key pair: created once per data directory, used by
        // its own clients, and with --verify-signatures the only one accepted.
        let keys = ownstak_guard::credentials::load_or_create(&data_dir)
            .context("cannot set up the local backend's key pair")?;
        let credentials = ownstak_guard::credentials::credentials_path(&data_dir);
        let security = EndpointSecurity {
            keys: keys.clone(),
            keys_source: credentials.display().to_string(),
            verify_signatures: opts.verify_signatures,
            allowed_origins: opts.allowed_origins.clone(),
        };
        let assets_server = bind_asset_store(opts.s3_addr, &data_dir.join("assets"), security).await?;
        let s3_url = assets_server.url();
        let (stop_assets, assets_stopped) = tokio::sync::oneshot::channel::<()>();
        let assets_task = tokio::spawn(assets_server.serve(async move {
            let _ = assets_stopped.await;
        }));
        AssetStore::new(StoreConfig::local(s3_url.clone(), DEFAULT_BUCKET).with_credentials(keys.clone()))
            .await
            .ensure_bucket()
            .await
            .context("cannot create the asset bucket")?;

        let mut proxy_config = ProxyConfig::new(suffix.clone(), Some(lambda_url.clone()));
        proxy_config.listen = opts.proxy_addr;
        proxy_config.prefix = opts.prefix.clone();
        proxy_config.api_id = opts.backend.clone();
        // The embedded backend serves one machine; its metrics are for its user.
        proxy_config.expose_metrics = true;
        proxy_config.assets = Some(AssetsConfig { endpoint: Some(s3_url.clone()), bucket: DEFAULT_BUCKET.to_owned() });
        proxy_config.fallback_route = opts.fallback_route;
        proxy_config.local_keys = Some(keys.clone());
        let proxy_listener = tokio::net::TcpListener::bind(opts.proxy_addr).await.with_context(|| {
            format!("cannot listen on {} for the proxy; pick another address with --proxy-addr", opts.proxy_addr)
        })?;
        let proxy_addr = proxy_listener.local_addr()?;

        let mut config = LocalConfig::new(data_dir.clone());
        config.lambda_addr = lambda_addr;
        config.max_environments = opts.max_environments.max(1);
        config.queue_timeout = opts.queue_timeout;
        config.warm_wait = opts.warm_wait;
        config.idle_timeout = opts.idle_timeout;
        config.keys = keys;
        config.verify_signatures = opts.verify_signatures;
        config.allowed_origins = opts.allowed_origins;
        config.backend_info = Some(BackendInfo {
            backend: opts.backend.clone(),
            org: opts.org.clone(),
            root_domain: opts.root_domain.clone(),
            function_prefix: opts.prefix.to_string(),
            scheme: "http".to_owned(),
            port: Some(proxy_addr.port()),
            assets_endpoint: Some(s3_url.clone()),
            assets_bucket: Some(DEFAULT_BUCKET.to_owned()),
        });
        let lambda = LocalLambda::with_listener(config, lambda_listener)
            .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
        // The proxy invokes through the SDK as against AWS, but in process:
        // no socket between the proxy and the Lambda service it shares a process with.
        let sdk = SdkLambda::new(&proxy_config, Some(ownstak_local::in_process_client(lambda.service()))).await;
        let proxy = Proxy::with_listener(proxy_config, proxy_listener, std::sync::Arc::new(sdk))?;
        let (stop_lambda, lambda_stopped) = tokio::sync::oneshot::channel::<()>();
        let lambda_task = tokio::spawn(lambda.serve(async move {
            let _ = lambda_stopped.await;
        }));
        let ready = Ready {
            event: "ready",
            proxy: format!("http://{proxy_addr}"),
            lambda: lambda_url,
            s3: s3_url,
            domain: suffix.domain().to_owned(),
            data_dir: data_dir.display().to_string(),
            credentials: credentials.display().to_string(),
            verify_signatures: opts.verify_signatures,
        };
        Ok(Self { ready, proxy, stop_lambda, lambda_task, stop_assets, assets_task })
    }

    /// Serves until SIGINT/SIGTERM. The proxy drains first: its open
    /// requests still need the Lambda service.
    pub(super) async fn run(self, drain: Duration) -> anyhow::Result<()> {
        self.proxy.serve(shutdown_signal(), drain).await;
        tracing::info!("proxy drained; stopping the Lambda service");
        let _ = self.stop_lambda.send(());
        self.lambda_task.await.context("the Lambda service task failed")??;
        let _ = self.stop_assets.send(());
        self.assets_task.await.context("the asset store task failed")?;
        tracing::info!("stopped");
        Ok(())
    }
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
