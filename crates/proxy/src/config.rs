//! Settings of the proxy.

use std::net::SocketAddr;

use ownstak_core::{FunctionPrefix, HostSuffix, Route};

use crate::forwarded::TrustedProxies;
use crate::limits::Limits;
use crate::tls::TlsSetting;

/// How the proxy invokes functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    /// InvokeWithResponseStream: bytes reach the client as they are produced.
    #[default]
    Streaming,
    /// Invoke: the whole response is received first.
    Buffered,
}

/// Everything the proxy can be told; built once by the CLI.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The served domain, `<backend>.<org>.<root-domain>`.
    pub suffix: HostSuffix,
    /// Only functions under this prefix are ever invoked.
    pub prefix: FunctionPrefix,
    /// The Lambda API endpoint; `None` means AWS with the default
    /// credential chain.
    pub lambda_endpoint: Option<String>,
    /// AWS region of the functions.
    pub region: String,
    /// Reported as `requestContext.apiId`.
    pub api_id: String,
    /// Reported as `requestContext.accountId`.
    pub account_id: String,
    /// Streaming or buffered invocations.
    pub invoke_mode: InvokeMode,
    /// Limits and timeouts.
    pub limits: Limits,
    /// TLS termination.
    pub tls: TlsSetting,
    /// Peers whose `X-Forwarded-For` gives the client address.
    pub trusted_proxies: TrustedProxies,
    /// Whether `/__ownstak__/metrics` is served on the public listener.
    pub expose_metrics: bool,
    /// Where requests for hosts outside the suffix go (`ownstak start`
    /// maps `localhost` to its one app); `None` answers them 404.
    pub fallback_route: Option<Route>,
    /// The asset store static files are served from; `None` sends every
    /// request to the function.
    pub assets: Option<crate::assets::AssetsConfig>,
    /// The shared response cache; `None` leaves every answer to the function.
    pub cache: Option<crate::cache::CacheConfig>,
    /// The key pair for a local Lambda endpoint and asset store (their
    /// backend's credentials file); `None` signs with the fixed local pair,
    /// which only a backend that accepts any key takes. Ignored for AWS.
    pub local_keys: Option<ownstak_guard::KeyPair>,
    /// Accept loops on the listen address (`SO_REUSEPORT`), each serving
    /// its connections on one thread of its own: the first on the caller's
    /// runtime, the others each on a single-threaded runtime. One request
    /// then never crosses threads; see [`crate::Proxy::serve`].
    pub shards: usize,
    /// How long after a deployment stopped being live its clients stay
    /// pinned to it (skew protection, see `skew.rs`).
    pub skew_window: std::time::Duration,
}

/// The default [`ProxyConfig::skew_window`]: 7 days.
pub const DEFAULT_SKEW_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

impl ProxyConfig {
    /// Defaults for a suffix, listening on 127.0.0.1:3000 and invoking
    /// through a local endpoint.
    pub fn new(suffix: HostSuffix, lambda_endpoint: Option<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            api_id: suffix.domain().split('.').next().unwrap_or("ownstak").to_owned(),
            suffix,
            prefix: FunctionPrefix::default(),
            lambda_endpoint,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            invoke_mode: InvokeMode::Streaming,
            limits: Limits::default(),
            tls: TlsSetting::Off,
            trusted_proxies: TrustedProxies::default(),
            expose_metrics: false,
            fallback_route: None,
            assets: None,
            cache: None,
            local_keys: None,
            shards: 1,
            skew_window: DEFAULT_SKEW_WINDOW,
        }
    }
}
