//! Static assets from the asset store: `GET`/`HEAD` requests for a
//! deployment's files are answered from S3 (see `ownstak_assets::serve`)
//! instead of invoking the function; everything else, and every failure
//! of the store, goes to the function, which can serve the files too.
//!
//! The store is keyed by published version, so the request's qualifier is
//! first resolved to a version ([`crate::versions`]).

use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use ownstak_assets::{AssetResolver, StoreConfig};
use tokio::sync::OnceCell;

use crate::body::ProxyBody;
use crate::config::ProxyConfig;
use crate::invoker::Lambda;
use crate::routing::Target;
use crate::versions::Versions;

/// Where the proxy finds the asset store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetsConfig {
    /// An S3-compatible endpoint URL (the local backend's); `None` means
    /// AWS S3 with the default credential chain.
    pub endpoint: Option<String>,
    /// The bucket.
    pub bucket: String,
}

/// The proxy's asset serving state.
pub(crate) struct ProxyAssets {
    store: Option<StoreConfig>,
    resolver: OnceCell<AssetResolver>,
    versions: Arc<Versions>,
}

impl ProxyAssets {
    /// State for a configuration; the S3 client is built on first use.
    pub(crate) fn new(config: &ProxyConfig, versions: Arc<Versions>) -> Self {
        let store = config.assets.as_ref().map(|a| StoreConfig {
            endpoint: a.endpoint.clone(),
            bucket: a.bucket.clone(),
            region: config.region.clone(),
            credentials: config.local_keys.clone(),
        });
        Self { store, resolver: OnceCell::new(), versions }
    }

    /// Where the store is, when the proxy has one.
    pub(crate) fn store(&self) -> Option<&StoreConfig> {
        self.store.as_ref()
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
        let version = self.versions.resolve(lambda, function, qualifier).await?;
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
}
