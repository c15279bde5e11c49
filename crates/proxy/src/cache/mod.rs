//! The shared response cache (RFC 9111, as a shared cache): answers the
//! function marks shareable are kept in memory, keyed by function,
//! published version, host, path and query, and the request headers their
//! `Vary` names, and served without invoking the function.
//!
//! * [`policy`] decides what is looked up and what is stored;
//! * [`key`] builds the keys; [`store`] holds the entries (bounded by bytes);
//! * [`fill`] forwards misses: concurrent misses of one key wait for one
//!   invocation, whose answer is stored while it streams to its client;
//! * [`purge`] follows the backend's purge log and forgets what each
//!   purge selects.
//!
//! Each answer that went through the cache says what happened in
//! `Cache-Status` (RFC 9211), and answers from the cache carry `Age`.

mod fill;
mod key;
mod policy;
mod purge;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{AGE, CONTENT_LENGTH, ETAG, HeaderValue, IF_NONE_MATCH};
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use tokio::sync::watch;

pub(crate) use fill::{Fill, Recorder};
use policy::RequestUse;
pub(crate) use purge::follow_purges;
use store::{State, Store};

use crate::body::ProxyBody;
use crate::invoker::Lambda;
use crate::metrics::CacheMetrics;
use crate::routing::Target;
use crate::versions::Versions;

/// The response header saying what the cache did (RFC 9211).
pub(crate) const CACHE_STATUS: &str = "cache-status";
/// The cache's name in `Cache-Status`.
const NAME: &str = "ownstak";

/// Settings of the response cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most bytes held (keys, heads and bodies).
    pub max_bytes: u64,
    /// Largest body stored; a longer answer still reaches its client whole, unstored.
    pub max_entry_bytes: usize,
    /// Longest time an answer is kept, whatever its `Cache-Control` says.
    pub max_ttl: Duration,
    /// Cookie names that mark a signed-in user: requests carrying one are never answered from, or stored in, the cache.
    pub session_cookies: Vec<String>,
    /// How often the backend's purge log is polled (a purge reaches this
    /// proxy within about this long).
    pub purge_poll_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            max_entry_bytes: 8 * 1024 * 1024,
            max_ttl: Duration::from_secs(24 * 60 * 60),
            session_cookies: DEFAULT_SESSION_COOKIES.iter().map(|c| (*c).to_owned()).collect(),
            purge_poll_interval: DEFAULT_PURGE_POLL_INTERVAL,
        }
    }
}

/// The default [`CacheConfig::purge_poll_interval`]: half a second, so a
/// purge reaches every proxy within a second.
pub const DEFAULT_PURGE_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Session cookies of common frameworks and servers (Auth.js/NextAuth,
/// Express, Django, PHP, Rails-style `session`, Firebase/`__session`).
pub const DEFAULT_SESSION_COOKIES: &[&str] = &[
    "__session",
    "session",
    "sessionid",
    "connect.sid",
    "PHPSESSID",
    "next-auth.session-token",
    "__Secure-next-auth.session-token",
    "authjs.session-token",
    "__Secure-authjs.session-token",
];

/// What the cache does for a request.
pub(crate) enum Lookup {
    /// The cache stays out; the answer is the function's.
    Bypass,
    /// A fresh answer from the cache.
    Hit(Response<ProxyBody>),
    /// A stale answer from the cache; `refresh` is set for the one request
    /// that refreshes the entry in the background.
    Stale { response: Response<ProxyBody>, refresh: Option<Box<Fill>> },
    /// Invoke the function at the fill's version; the fill stores the answer.
    Forward(Fill),
}

/// The cache and its in-flight fills.
pub(crate) struct ResponseCache {
    config: CacheConfig,
    store: Store,
    versions: Arc<Versions>,
    metrics: CacheMetrics,
    /// How long a request waits for another's fill of the same key.
    wait_limit: Duration,
    /// Keys being filled; a receiver sees the fill end when its sender drops.
    filling: Mutex<HashMap<String, watch::Receiver<()>>>,
    /// Purges applied so far: an answer whose fill began before a purge is
    /// not stored, since the function may have made it before the purge.
    purges: AtomicU64,
}

impl ResponseCache {
    /// An empty cache.
    pub(crate) fn new(
        config: CacheConfig,
        versions: Arc<Versions>,
        metrics: CacheMetrics,
        wait_limit: Duration,
    ) -> Arc<Self> {
        let store = Store::new(config.max_bytes, config.max_ttl, metrics.clone());
        let filling = Mutex::new(HashMap::new());
        Arc::new(Self { config, store, versions, metrics, wait_limit, filling, purges: AtomicU64::new(0) })
    }

    /// Looks a request up: an answer, or how to forward it.
    pub(crate) async fn lookup(
        self: &Arc<Self>,
        lambda: &dyn Lambda,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        target: &Target,
    ) -> Lookup {
        let usage = policy::request_use(method, headers, &self.config.session_cookies);
        if usage == RequestUse::Bypass {
            self.metrics.bypass();
            return Lookup::Bypass;
        }
        let version = match self.versions.resolve(lambda, &target.function, &target.qualifier).await {
            // Only published versions never change; `$LATEST` is never a key.
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v,
            _ => {
                self.metrics.bypass();
                return Lookup::Bypass;
            }
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let primary = key::primary(&target.function, &version, &target.domain, path);
        let head = method == Method::HEAD;
        let mut fill =
            Fill::new(self.clone(), primary, headers.clone(), version, usage != RequestUse::LookupOnly, head);
        if usage == RequestUse::Revalidate {
            self.metrics.miss();
            return Lookup::Forward(fill.forwarding("request"));
        }
        let mut waited = false;
        loop {
            let found = self.store.find(&fill.primary, headers);
            match found.as_ref().map(|(_, e)| e.state()) {
                Some(State::Fresh(ttl)) => {
                    self.metrics.hit();
                    let (_, entry) = found.unwrap_or_else(|| unreachable!("matched Some"));
                    return Lookup::Hit(respond(&entry, head, &format!("{NAME}; hit; ttl={}", ttl.as_secs()), headers));
                }
                Some(State::StaleWhileRevalidate) => {
                    self.metrics.stale();
                    let (key, entry) = found.unwrap_or_else(|| unreachable!("matched Some"));
                    let response = respond(&entry, head, &format!("{NAME}; hit; stale"), headers);
                    let refresh = entry.claim_refresh().then(|| Box::new(fill.refreshing(key, entry)));
                    return Lookup::Stale { response, refresh };
                }
                Some(State::StaleIfError) => {
                    let (_, entry) = found.unwrap_or_else(|| unreachable!("matched Some"));
                    fill = fill.with_stale(entry);
                }
                Some(State::Expired) | None => {}
            }
            if waited {
                break;
            }
            // Concurrent misses of one key: the first forwards, the others wait for its answer.
            let fill_key = self.store.fill_key(&fill.primary, headers);
            let waiting = {
                let mut filling = self.filling();
                match filling.get(&fill_key) {
                    Some(rx) => Some(rx.clone()),
                    None if !head && usage == RequestUse::LookupAndStore => {
                        let (tx, rx) = watch::channel(());
                        filling.insert(fill_key.clone(), rx);
                        fill = fill.leading(fill_key, tx);
                        None
                    }
                    None => None,
                }
            };
            let Some(mut rx) = waiting else { break };
            // The sender is dropped when the fill ends, stored or not.
            let _ = tokio::time::timeout(self.wait_limit, rx.changed()).await;
            waited = true;
        }
        self.metrics.miss();
        let fwd = if fill.has_stale() { "stale" } else { "miss" };
        Lookup::Forward(fill.forwarding(fwd))
    }

    /// Forgets the entries a purge selects.
    pub(crate) fn purge(&self, purge: &ownstak_assets::Purge) {
        self.purges.fetch_add(1, Ordering::AcqRel);
        self.store.purge(purge);
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        self.purges.fetch_add(1, Ordering::AcqRel);
        self.store.clear();
    }

    /// The number of purges applied so far.
    fn purge_count(&self) -> u64 {
        self.purges.load(Ordering::Acquire)
    }

    fn filling(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<()>>> {
        // The map is changed by single inserts and removes; a panic elsewhere cannot corrupt it.
        self.filling.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fill of `key` ended: later misses forward again.
    fn fill_ended(&self, key: &str, rx_of: &watch::Sender<()>) {
        let mut filling = self.filling();
        if filling.get(key).is_some_and(|rx| rx.same_channel(&rx_of.subscribe())) {
            filling.remove(key);
        }
    }
}

/// The response for a stored entry: its head, `Age` and `Cache-Status`,
/// and its body (none for `HEAD`, which keeps the entry's length); a 304
/// without body when the request's `If-None-Match` names the entry's ETag.
fn respond(entry: &store::Entry, head: bool, status: &str, request: &HeaderMap) -> Response<ProxyBody> {
    let not_modified = entry.status == StatusCode::OK && etag_matches(entry, request);
    let body = if head || not_modified { ProxyBody::empty() } else { ProxyBody::full(entry.body.clone()) };
    let mut resp = Response::new(body);
    *resp.status_mut() = if not_modified { StatusCode::NOT_MODIFIED } else { entry.status };
    *resp.headers_mut() = entry.headers();
    let h = resp.headers_mut();
    h.insert(AGE, HeaderValue::from(entry.age().as_secs()));
    if not_modified {
        h.remove(CONTENT_LENGTH);
    } else if head {
        h.insert(CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
    }
    set_status(h, status);
    resp
}

/// Whether `If-None-Match` names the entry's ETag (weak comparison, as
/// RFC 9110 §13.1.2 asks for it) or is `*`.
fn etag_matches(entry: &store::Entry, request: &HeaderMap) -> bool {
    let Some(etag) = entry.header(&ETAG).and_then(|v| v.to_str().ok()) else { return false };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag))
}

/// Sets `Cache-Status`.
pub(crate) fn set_status(headers: &mut HeaderMap, status: &str) {
    if let Ok(v) = HeaderValue::from_str(status) {
        headers.insert(CACHE_STATUS, v);
    }
}

/// The `Cache-Status` of an answer the cache stayed out of.
pub(crate) fn bypassed(headers: &mut HeaderMap) {
    headers.insert(CACHE_STATUS, HeaderValue::from_static("ownstak; fwd=bypass"));
}
