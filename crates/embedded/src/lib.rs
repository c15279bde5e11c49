//! The embedded backend: the local Lambda service, the S3-compatible asset
//! store and the LambdaProxy in one process, wired together. `ownstak
//! local up` and `ownstak start` run it, and tests can start it in their
//! own process.
//!
//! The public face: [`Embedded::start`] with [`EmbeddedOptions`] binds
//! every listener and reports its addresses as [`Ready`];
//! [`Embedded::run`] serves until shutdown and drains. The proxy invokes
//! functions through [`InProcessLambda`], a direct call into the Lambda
//! service (no socket between two halves of one process).

mod lambda;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ownstak_assets::{AssetError, AssetServer, AssetStore, DEFAULT_BUCKET, EndpointSecurity, StoreConfig};
use ownstak_core::{BackendInfo, FunctionPrefix, HostError, HostSuffix, Route};
use ownstak_guard::AllowedOrigin;
use ownstak_guard::credentials::CredentialsError;
use ownstak_local::{LocalConfig, LocalLambda, ServerError};
use ownstak_proxy::{AssetsConfig, Proxy, ProxyConfig, ProxyError};
use serde::Serialize;

pub use lambda::InProcessLambda;

/// Where the asset store listens unless told otherwise.
pub const DEFAULT_S3_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9002);

/// Why the embedded backend could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for the {what}: {source}; {hint}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// The backend, org or root domain do not make a valid host suffix.
    #[error("invalid --backend, --org or --root-domain: {0}")]
    Domain(#[from] HostError),
    /// The asset store failed.
    #[error("the asset store failed: {0}")]
    Assets(#[from] AssetError),
    /// The Lambda service failed.
    #[error("the local Lambda service failed: {0}")]
    Lambda(#[from] ServerError),
    /// The proxy failed to start.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// A task of the backend ended abnormally.
    #[error("the {0} task failed")]
    Task(&'static str),
    /// The backend's key pair could not be read or created.
    #[error("cannot set up the local backend's key pair: {0}")]
    Credentials(#[from] CredentialsError),
}

/// How to run the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// State, code, assets and logs.
    pub data_dir: PathBuf,
    /// Lambda API address.
    pub lambda_addr: SocketAddr,
    /// Asset store address; `None` tries [`DEFAULT_S3_ADDR`], then any free port.
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
    /// The local Lambda service's settings (the addresses and data
    /// directory above win over the ones in it).
    pub lambda: LocalConfig,
    /// Where requests for hosts outside the suffix go (`ownstak start`).
    pub fallback_route: Option<Route>,
    /// Origins whose web pages may call the Lambda API and the asset store.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// Accept only requests signed with the data directory's key pair.
    pub verify_signatures: bool,
    /// The proxy's response cache; `None` turns it off.
    pub cache: Option<ownstak_proxy::CacheConfig>,
    /// How long clients stay pinned to a deployment after it stopped being live.
    pub skew_window: std::time::Duration,
}

/// Addresses of a running embedded backend.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
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
pub struct Embedded {
    /// Its addresses.
    pub ready: Ready,
    proxy: Proxy,
    stop_lambda: tokio::sync::oneshot::Sender<()>,
    lambda_task: tokio::task::JoinHandle<Result<(), ServerError>>,
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
) -> Result<AssetServer, EmbeddedError> {
    if let Some(addr) = addr {
        return Ok(AssetServer::bind_with(addr, root, security).await?);
    }
    match AssetServer::bind_with(DEFAULT_S3_ADDR, root, security.clone()).await {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::warn!(error = %e, "the default asset store address is taken; using a free port");
            Ok(AssetServer::bind_with(SocketAddr::new(DEFAULT_S3_ADDR.ip(), 0), root, security).await?)
        }
    }
}

async fn bind(
    what: &'static str,
    addr: SocketAddr,
    hint: &'static str,
) -> Result<tokio::net::TcpListener, EmbeddedError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| EmbeddedError::Bind { what, addr, source, hint })
}

impl Embedded {
    /// Binds every listener and starts the Lambda service and asset store.
    pub async fn start(opts: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let data_dir = opts.data_dir;
        let suffix = HostSuffix::new(&opts.backend, &opts.org, &opts.root_domain)?;
        let lambda_listener =
            bind("Lambda API", opts.lambda_addr, "is another backend running? pick another address with --lambda-addr")
                .await?;
        let lambda_addr = lambda_listener.local_addr().map_err(|source| EmbeddedError::Bind {
            what: "Lambda API",
            addr: opts.lambda_addr,
            source,
            hint: "pick another address with --lambda-addr",
        })?;
        let lambda_url = format!("http://{lambda_addr}");

        // The backend's key pair: created once per data directory, used by
        // its own clients, and with --verify-signatures the only one accepted.
        let keys = ownstak_guard::credentials::load_or_create(&data_dir)?;
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
            .await?;

        let mut proxy_config = ProxyConfig::new(suffix.clone(), Some(lambda_url.clone()));
        proxy_config.listen = opts.proxy_addr;
        proxy_config.prefix = opts.prefix.clone();
        proxy_config.api_id = opts.backend.clone();
        // The embedded backend serves one machine; its metrics are for its user.
        proxy_config.expose_metrics = true;
        proxy_config.assets = Some(AssetsConfig { endpoint: Some(s3_url.clone()), bucket: DEFAULT_BUCKET.to_owned() });
        proxy_config.fallback_route = opts.fallback_route;
        proxy_config.cache = opts.cache;
        proxy_config.local_keys = Some(keys.clone());
        proxy_config.skew_window = opts.skew_window;
        let proxy_listener = bind("proxy", opts.proxy_addr, "pick another address with --proxy-addr").await?;
        let proxy_addr = proxy_listener.local_addr().map_err(|source| EmbeddedError::Bind {
            what: "proxy",
            addr: opts.proxy_addr,
            source,
            hint: "pick another address with --proxy-addr",
        })?;

        let mut config = opts.lambda;
        config.data_dir = data_dir.clone();
        config.lambda_addr = lambda_addr;
        config.max_environments = config.max_environments.max(1);
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
        let lambda = LocalLambda::with_listener(config, lambda_listener)?;
        let invoker = Arc::new(InProcessLambda::new(lambda.service()));
        let proxy = Proxy::with_listener(proxy_config, proxy_listener, invoker)?;
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

    /// Serves until `shutdown` resolves, then drains: the proxy first (its
    /// open requests still need the Lambda service, for up to `drain`),
    /// then the Lambda service and the asset store.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
        drain: Duration,
    ) -> Result<(), EmbeddedError> {
        self.proxy.serve(shutdown, drain).await;
        tracing::info!("proxy drained; stopping the Lambda service");
        let _ = self.stop_lambda.send(());
        self.lambda_task.await.map_err(|_| EmbeddedError::Task("Lambda service"))??;
        let _ = self.stop_assets.send(());
        self.assets_task.await.map_err(|_| EmbeddedError::Task("asset store"))?;
        tracing::info!("stopped");
        Ok(())
    }
}
