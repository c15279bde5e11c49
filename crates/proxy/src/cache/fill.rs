//! Forwarding a request the cache could not answer, and storing the
//! answer: a [`Fill`] travels with the invocation; when the answer may be
//! stored, a [`Recorder`] rides in its body and keeps each chunk as it goes
//! to the client, and stores the entry when the body completes. A body
//! over the per-entry limit, or one that breaks off, is simply not stored.
//!
//! The first miss of a key *leads* its fill: others wait until the leader's
//! entry is stored (or it turned out unstorable), then look again.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::AGE;
use http::{HeaderMap, HeaderName, Response, StatusCode};
use tokio::sync::watch;

use super::policy::{self, Freshness};
use super::store::Entry;
use super::{NAME, ResponseCache, key, respond, set_status};
use crate::body::ProxyBody;
use crate::failure::Failure;

/// A forwarded request's part in the cache.
pub(crate) struct Fill {
    cache: Arc<ResponseCache>,
    pub(super) primary: String,
    request: HeaderMap,
    version: String,
    /// Whether the answer may be stored (a `GET`).
    store: bool,
    head: bool,
    /// A stale entry that may stand in if the function fails.
    stale: Option<Arc<Entry>>,
    /// The entry this fill refreshes in the background, and its key.
    refresh: Option<(String, Arc<Entry>)>,
    lead: Option<Lead>,
    /// Why the request is forwarded (`Cache-Status`'s `fwd`).
    fwd: &'static str,
    /// The cache's purge count when the request came.
    purges: u64,
}

/// Leadership of a key's fill; dropping it lets the waiters look again.
struct Lead {
    cache: Arc<ResponseCache>,
    key: String,
    tx: watch::Sender<()>,
}

impl Drop for Lead {
    fn drop(&mut self) {
        self.cache.fill_ended(&self.key, &self.tx);
        // `tx` is dropped next, which wakes the waiters.
    }
}

impl Fill {
    pub(super) fn new(
        cache: Arc<ResponseCache>,
        primary: String,
        request: HeaderMap,
        version: String,
        store: bool,
        head: bool,
    ) -> Self {
        let purges = cache.purge_count();
        let (stale, refresh, lead) = (None, None, None);
        Self { cache, primary, request, version, store, head, stale, refresh, lead, fwd: "miss", purges }
    }

    pub(super) fn forwarding(mut self, fwd: &'static str) -> Self {
        self.fwd = fwd;
        self
    }

    pub(super) fn with_stale(mut self, entry: Arc<Entry>) -> Self {
        self.stale = Some(entry);
        self
    }

    pub(super) fn has_stale(&self) -> bool {
        self.stale.is_some()
    }

    pub(super) fn refreshing(mut self, key: String, entry: Arc<Entry>) -> Self {
        self.refresh = Some((key, entry));
        self.fwd = "stale";
        self
    }

    pub(super) fn leading(mut self, key: String, tx: watch::Sender<()>) -> Self {
        self.lead = Some(Lead { cache: self.cache.clone(), key, tx });
        self
    }

    /// The published version to invoke: the one the key names, whatever
    /// the alias points at by the time the invocation starts.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The function's answer (or failure) as the client gets it: a stale
    /// entry instead of a failure when `stale-if-error` allows, else the
    /// answer with `Cache-Status`, being stored when it may be.
    pub(crate) fn finish(
        mut self,
        result: Result<Response<ProxyBody>, Failure>,
    ) -> Result<Response<ProxyBody>, Failure> {
        let failed = match &result {
            Err(f) => Some(f.kind.status()),
            Ok(r) if is_server_error(r.status()) => Some(r.status()),
            Ok(_) => None,
        };
        if let (Some(code), Some(stale)) = (failed, self.stale.as_ref().filter(|e| e.usable_if_error())) {
            self.cache.metrics.stale();
            let status = format!("{NAME}; hit; stale; fwd=stale; fwd-status={}", code.as_u16());
            return Ok(respond(stale, self.head, &status, &self.request));
        }
        let mut resp = result?;
        let fwd = self.fwd;
        if !self.store {
            set_status(resp.headers_mut(), &format!("{NAME}; fwd={fwd}"));
            return Ok(resp);
        }
        match policy::storable(resp.status(), resp.headers(), self.cache.config.max_ttl) {
            Ok(freshness) => {
                let names = key::vary_names(resp.headers()).unwrap_or_default();
                let mut headers = resp.headers().clone();
                headers.remove(AGE);
                let recorder = Recorder {
                    cache: self.cache.clone(),
                    primary: std::mem::take(&mut self.primary),
                    names,
                    request: std::mem::take(&mut self.request),
                    status: resp.status(),
                    headers,
                    freshness,
                    chunks: Vec::new(),
                    size: 0,
                    expected: resp
                        .headers()
                        .get(http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok()),
                    _lead: self.lead.take(),
                    refresh: self.refresh.take(),
                    purges: self.purges,
                };
                set_status(resp.headers_mut(), &format!("{NAME}; fwd={fwd}; stored"));
                resp.body_mut().record(recorder);
            }
            Err(reason) => {
                tracing::debug!(?reason, key = %self.primary, "answer not stored");
                // The function no longer lets this answer be shared: forget the old one.
                if let Some((key, _)) = self.refresh.take() {
                    self.cache.store.remove(&key);
                }
                set_status(resp.headers_mut(), &format!("{NAME}; fwd={fwd}"));
            }
        }
        Ok(resp)
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        if let Some((_, entry)) = self.refresh.take() {
            entry.release_refresh();
        }
    }
}

/// Statuses that mean the function failed, for `stale-if-error`.
fn is_server_error(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// An answer being stored as its body goes to the client.
pub(crate) struct Recorder {
    cache: Arc<ResponseCache>,
    primary: String,
    names: Vec<HeaderName>,
    request: HeaderMap,
    status: StatusCode,
    headers: HeaderMap,
    freshness: Freshness,
    chunks: Vec<Bytes>,
    size: usize,
    /// The body's declared length, when the answer has one.
    expected: Option<usize>,
    _lead: Option<Lead>,
    refresh: Option<(String, Arc<Entry>)>,
    /// The cache's purge count when the request came.
    purges: u64,
}

impl Recorder {
    /// Keeps a chunk; `false` once the body is over the per-entry limit
    /// (the recorder should then be dropped: nothing is stored).
    pub(crate) fn push(&mut self, chunk: &Bytes) -> bool {
        self.size += chunk.len();
        if self.size > self.cache.config.max_entry_bytes {
            tracing::debug!(key = %self.primary, limit = self.cache.config.max_entry_bytes, "answer over the entry limit; not stored");
            return false;
        }
        self.chunks.push(chunk.clone());
        true
    }

    /// Whether the body's declared length has arrived: the entry can be
    /// stored before the client, which has every byte, asks again.
    pub(crate) fn is_whole(&self) -> bool {
        self.expected == Some(self.size)
    }

    /// The body is complete: stores the entry, then lets waiters look again.
    pub(crate) fn complete(mut self) {
        if self.cache.purge_count() != self.purges {
            tracing::debug!(key = %self.primary, "a purge came while the answer was made; not stored");
            return;
        }
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.swap_remove(0),
            _ => {
                let mut all = BytesMut::with_capacity(self.size);
                self.chunks.iter().for_each(|c| all.extend_from_slice(c));
                all.freeze()
            }
        };
        let entry = Entry::new(self.status, std::mem::take(&mut self.headers), body, self.freshness);
        let primary = std::mem::take(&mut self.primary);
        self.cache.store.insert(primary, &self.names, &self.request, entry);
        // The refreshed entry was replaced; its flag no longer matters.
        self.refresh = None;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some((_, entry)) = self.refresh.take() {
            entry.release_refresh();
        }
    }
}
