//! Static assets from the asset store: `GET`/`HEAD` requests for a
//! deployment's files are answered from S3 (see `ownstak_assets::serve`)
//! instead of invoking the function; everything else, and every failure
//! of the store, goes to the function, which can serve the files too.
//!
//! The store is keyed by published version, so the request's qualifier is
//! first resolved to a version with Lambda `GetAlias`: `deployment-<N>`
//! aliases never move (cached for good), `current` is cached for at most
//! [`CURRENT_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, Response};
use ownstak_assets::{AssetResolver, StoreConfig};
use ownstak_core::CURRENT_ALIAS;
use tokio::sync::OnceCell;

use crate::body::ProxyBody;
use crate::config::ProxyConfig;
use crate::invoker::Lambda;
use crate::routing::Target;

/// Longest time a resolved `current` alias is trusted.
pub(crate) const CURRENT_TTL: Duration = Duration::from_secs(1);
/// Most cached alias resolutions; the cache starts over when full.
const MAX_CACHED_ALIASES: usize = 4096;

/// Where the proxy finds the asset store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetsConfig {
    /// An S3-compatible endpoint URL (the local backend's); `None` means
    /// AWS S3 with the default credential chain.
    pub endpoint: Option<String>,
    /// The bucket.
    pub bucket: String,
}

/// A resolved alias and when it was resolved.
type Resolved = (Option<String>, Instant);

/// The proxy's asset serving state.
pub(crate) struct ProxyAssets {
    store: Option<StoreConfig>,
    resolver: OnceCell<AssetResolver>,
    aliases: Mutex<HashMap<(String, String), Resolved>>,
}

impl ProxyAssets {
    /// State for a configuration; the S3 client is built on first use.
    pub(crate) fn new(config: &ProxyConfig) -> Self {
        let store = config.assets.as_ref().map(|a| StoreConfig {
            endpoint: a.endpoint.clone(),
            bucket: a.bucket.clone(),
            region: config.region.clone(),
            credentials: config.local_keys.clone(),
        });
        Self { store, resolver: OnceCell::new(), aliases: Mutex::new(HashMap::new()) }
    }

    /// The response for a request when the store has the file, else `None`
    /// (the function answers).
    pub(crate) async fn answer(
        &self,
        lambda: &dyn Lambda,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        target: &Target,
    ) -> Option<Response<ProxyBody>> {
        let (function, qualifier) = (target.function.as_str(), target.qualifier.as_str());
        let store = self.store.as_ref()?;
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let version = self.version(lambda, function, qualifier).await?;
        let resolver = self.resolver.get_or_init(|| AssetResolver::new(store.clone())).await;
        let found = if method == Method::HEAD {
            resolver.head(function, &version, path, headers).await
        } else {
            resolver.get(function, &version, path, headers).await
        };
        let asset = match found {
            Ok(Some(a)) => a,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, %function, %version, path, "asset store failed; the function answers");
                return None;
            }
        };
        let mut resp = Response::new(ProxyBody::asset(asset.body));
        *resp.status_mut() = asset.status;
        *resp.headers_mut() = asset.headers;
        Some(resp)
    }

    /// The version behind `qualifier`, cached; `None` when it does not
    /// exist or Lambda cannot say.
    async fn version(&self, lambda: &dyn Lambda, function: &str, qualifier: &str) -> Option<String> {
        let id = (function.to_owned(), qualifier.to_owned());
        let fresh = |at: Instant| qualifier != CURRENT_ALIAS || at.elapsed() < CURRENT_TTL;
        if let Some((version, at)) = self.cache().get(&id).cloned()
            && fresh(at)
        {
            return version;
        }
        let version = match lambda.alias_version(function, qualifier).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = ?e, %function, %qualifier, "cannot resolve the alias; the function answers");
                return None;
            }
        };
        // A missing alias is not cached: the deployment may be created any moment.
        if version.is_some() {
            let mut cache = self.cache();
            if cache.len() >= MAX_CACHED_ALIASES {
                cache.clear();
            }
            cache.insert(id, (version.clone(), Instant::now()));
        }
        version
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Resolved>> {
        // Entries are replaced whole; a panic elsewhere cannot leave one half-written.
        self.aliases.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
