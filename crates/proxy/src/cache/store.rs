//! Where entries live: one `moka` cache bounded by bytes (each slot
//! weighs its key, head and body), each slot expiring when it is of no
//! more use (its freshness lifetime plus the longer of its stale windows).
//! A primary key holds either the entry itself or, for an answer with a
//! `Vary`, the list of header names its variant keys are made of.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};
use moka::notification::RemovalCause;

use ownstak_assets::Purge;

use super::key;
use super::policy::Freshness;
use crate::metrics::CacheMetrics;

/// Bytes counted for a slot on top of its key, head and body: the cache's
/// own bookkeeping per key (its hash table, order queues and timer
/// wheel), the entry's allocation and the allocator's rounding. Measured:
/// with this, a full cache's process holds about `--cache-size` of memory
/// beyond what it held empty (see BENCHMARKS.md, scenario 1c).
const SLOT_OVERHEAD: usize = 1024;
/// Bytes counted per stored header on top of its name and value: the
/// pair's place in the entry and the value's own allocation.
const HEADER_OVERHEAD: usize = 64;

/// A stored answer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) status: StatusCode,
    /// The function's headers, without hop-by-hop ones and `Age`, in
    /// order; kept as a list rather than a `HeaderMap`, which reserves room
    /// for more than an answer has (see [`Entry::headers`]).
    headers: Box<[(HeaderName, http::HeaderValue)]>,
    pub(crate) body: Bytes,
    pub(crate) freshness: Freshness,
    pub(crate) stored_at: Instant,
    /// The tags its `Cache-Tag` named, which purges select it by.
    tags: Box<[String]>,
    /// Set while a background refresh of this entry runs.
    refreshing: AtomicBool,
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Fresh for this much longer.
    Fresh(Duration),
    /// Stale, but may be served while a refresh runs.
    StaleWhileRevalidate,
    /// Stale; only served when the function fails.
    StaleIfError,
    /// Of no more use.
    Expired,
}

impl Entry {
    /// A new entry received now.
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, body: Bytes, freshness: Freshness) -> Self {
        let tags = cache_tags(&headers);
        let mut list = Vec::with_capacity(headers.len());
        let mut last = None;
        for (name, value) in headers {
            // `HeaderMap` yields a repeated header's name once, before its first value.
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                list.push((name.clone(), value));
            }
        }
        let headers = list.into_boxed_slice();
        Self { status, headers, body, freshness, stored_at: Instant::now(), tags, refreshing: AtomicBool::new(false) }
    }

    /// Its headers, as a map of exactly their size.
    pub(crate) fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers.iter() {
            map.append(name.clone(), value.clone());
        }
        map
    }

    /// The first value of one of its headers.
    pub(crate) fn header(&self, name: &http::header::HeaderName) -> Option<&http::HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Its current age (RFC 9111 §4.2.3, without clock skew: the proxy received it itself).
    pub(crate) fn age(&self) -> Duration {
        self.freshness.initial_age + self.stored_at.elapsed()
    }

    /// Where the entry is in its life now.
    pub(crate) fn state(&self) -> State {
        let (age, f) = (self.age(), &self.freshness);
        if age < f.lifetime {
            State::Fresh(f.lifetime - age)
        } else if age < f.lifetime + f.stale_while_revalidate {
            State::StaleWhileRevalidate
        } else if age < f.lifetime + f.stale_if_error {
            State::StaleIfError
        } else {
            State::Expired
        }
    }

    /// Whether it may stand in for a failed answer now.
    pub(crate) fn usable_if_error(&self) -> bool {
        self.age() < self.freshness.lifetime + self.freshness.stale_if_error
    }

    /// Claims the entry's one background refresh; `false` when one runs.
    pub(crate) fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// A refresh ended without replacing the entry; a later request may try again.
    pub(crate) fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + HEADER_OVERHEAD).sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 24).sum();
        self.body.len() + headers + tags
    }
}

/// The response header listing an answer's tags for purges.
pub(crate) const CACHE_TAG: &str = "cache-tag";
/// Next.js's own list of a page's tags (`revalidateTag` names and its
/// path tags), so `ownstak cache purge --tag` takes the names the app uses.
const NEXT_CACHE_TAGS: &str = "x-next-cache-tags";

/// The tags of an answer: the comma-separated items of its `Cache-Tag` and
/// `x-next-cache-tags` headers.
fn cache_tags(headers: &HeaderMap) -> Box<[String]> {
    let values = headers.get_all(CACHE_TAG).iter().chain(headers.get_all(NEXT_CACHE_TAGS).iter());
    let items = values.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let mut tags: Vec<String> = items.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    tags.sort_unstable();
    tags.dedup();
    tags.into_boxed_slice()
}

/// What a key holds.
#[derive(Clone)]
enum Slot {
    Entry(Arc<Entry>),
    /// The header names of the variants stored under this primary key.
    Vary(Arc<[HeaderName]>),
}

/// Expiry of each slot by its own lifetime.
struct ByLifetime {
    max_ttl: Duration,
}

impl ByLifetime {
    fn of(&self, slot: &Slot) -> Duration {
        match slot {
            Slot::Entry(e) => e.freshness.keep_for(),
            Slot::Vary(_) => self.max_ttl,
        }
    }
}

impl moka::Expiry<String, Slot> for ByLifetime {
    fn expire_after_create(&self, _: &String, slot: &Slot, _: Instant) -> Option<Duration> {
        Some(self.of(slot))
    }

    fn expire_after_update(&self, _: &String, slot: &Slot, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(self.of(slot))
    }
}

/// The entries, bounded by bytes.
pub(crate) struct Store {
    slots: moka::sync::Cache<String, Slot>,
    metrics: CacheMetrics,
}

impl Store {
    /// A store of at most `max_bytes`, whose `Vary` lists live `max_ttl`.
    pub(crate) fn new(max_bytes: u64, max_ttl: Duration, metrics: CacheMetrics) -> Self {
        let evicted = metrics.clone();
        let slots = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, slot: &Slot| u32::try_from(weight(key, slot)).unwrap_or(u32::MAX))
            .expire_after(ByLifetime { max_ttl })
            .support_invalidation_closures()
            .eviction_listener(move |key: Arc<String>, slot: Slot, cause: RemovalCause| {
                evicted.removed(weight(&key, &slot) as u64, cause == RemovalCause::Size);
            })
            .build();
        Self { slots, metrics }
    }

    /// The entry a request finds, with its key.
    pub(crate) fn find(&self, primary: &str, request: &HeaderMap) -> Option<(String, Arc<Entry>)> {
        match self.slots.get(primary)? {
            Slot::Entry(e) => Some((primary.to_owned(), e)),
            Slot::Vary(names) => {
                let key = key::variant(primary, &names, request);
                match self.slots.get(&key)? {
                    Slot::Entry(e) => Some((key, e)),
                    Slot::Vary(_) => None,
                }
            }
        }
    }

    /// The key a request's concurrent misses share: its variant key when
    /// the answers for `primary` are known to vary, else `primary`.
    pub(crate) fn fill_key(&self, primary: &str, request: &HeaderMap) -> String {
        match self.slots.get(primary) {
            Some(Slot::Vary(names)) => key::variant(primary, &names, request),
            _ => primary.to_owned(),
        }
    }

    /// Stores an answer to `request` whose `Vary` lists `names`.
    pub(crate) fn insert(&self, primary: String, names: &[HeaderName], request: &HeaderMap, entry: Entry) {
        let entry = Slot::Entry(Arc::new(entry));
        let key = if names.is_empty() {
            primary
        } else {
            let key = key::variant(&primary, names, request);
            let vary = Slot::Vary(names.into());
            self.metrics.held(weight(&primary, &vary) as u64);
            self.slots.insert(primary, vary);
            key
        };
        self.metrics.stored(weight(&key, &entry) as u64);
        self.slots.insert(key, entry);
    }

    /// Forgets what `key` holds.
    pub(crate) fn remove(&self, key: &str) {
        self.slots.invalidate(key);
    }

    /// Forgets the entries `purge` selects (every version and host of its
    /// function); later lookups never find them.
    pub(crate) fn purge(&self, purge: &Purge) {
        let purge = purge.clone();
        let selected = move |key: &String, slot: &Slot| {
            let mut parts = key.splitn(5, '\n');
            let (Some(function), Some(_version), Some(_host), Some(path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            let tags = match slot {
                Slot::Entry(e) => &e.tags[..],
                Slot::Vary(_) => &[],
            };
            purge.matches(function, path, tags.iter().map(String::as_str))
        };
        if let Err(e) = self.slots.invalidate_entries_if(selected) {
            // Only possible without `support_invalidation_closures`, which `new` sets.
            tracing::error!(error = %e, "cannot purge; emptying the cache instead");
            self.slots.invalidate_all();
        }
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        self.slots.invalidate_all();
    }

    /// The bytes held, once pending bookkeeping is done (for tests).
    #[cfg(test)]
    pub(crate) fn weighted_size(&self) -> u64 {
        self.slots.run_pending_tasks();
        self.slots.weighted_size()
    }
}

fn weight(key: &str, slot: &Slot) -> usize {
    let value = match slot {
        Slot::Entry(e) => e.size(),
        Slot::Vary(names) => names.iter().map(|n| n.as_str().len()).sum(),
    };
    key.len() + value + SLOT_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn fresh(secs: u64) -> Freshness {
        Freshness {
            lifetime: Duration::from_secs(secs),
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
        }
    }

    #[test]
    fn stays_within_its_byte_bound() {
        let metrics = Metrics::new();
        let store = Store::new(64 * 1024, Duration::from_secs(60), metrics.cache());
        for i in 0..64 {
            let e = Entry::new(StatusCode::OK, HeaderMap::new(), Bytes::from(vec![b'x'; 4096]), fresh(60));
            store.insert(format!("k{i}"), &[], &HeaderMap::new(), e);
        }
        assert!(store.weighted_size() <= 64 * 1024, "{}", store.weighted_size());
        assert!(metrics.encode().contains("ownstak_proxy_cache_evictions_total"), "{}", metrics.encode());
    }

    #[test]
    fn a_purge_forgets_what_it_selects_in_every_version_and_host() {
        let metrics = Metrics::new();
        let store = Store::new(1 << 20, Duration::from_secs(60), metrics.cache());
        let tagged = |tags: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CACHE_TAG, http::HeaderValue::from_static(tags));
            Entry::new(StatusCode::OK, h, Bytes::from_static(b"x"), fresh(60))
        };
        let keys = [
            key::primary("f", "1", "a.example", "/p/red?x=1"),
            key::primary("f", "2", "b.example", "/p/red"),
            key::primary("f", "2", "b.example", "/p/blue"),
            key::primary("g", "1", "a.example", "/p/red"),
        ];
        for (k, tags) in keys.iter().zip(["red, colors", "red", "blue,colors", "red"]) {
            store.insert(k.clone(), &[], &HeaderMap::new(), tagged(tags));
        }
        let found = |k: &str| store.find(k, &HeaderMap::new()).is_some();
        store.purge(&Purge::selected("f", vec!["/p/red".into()], vec![], vec![]).unwrap());
        assert_eq!(keys.iter().map(|k| found(k)).collect::<Vec<_>>(), [false, false, true, true]);
        store.purge(&Purge::selected("f", vec![], vec![], vec!["colors".into()]).unwrap());
        assert!(!found(&keys[2]), "tags from a comma-separated Cache-Tag");
        assert!(found(&keys[3]), "another function's entries stay");
        store.clear();
        assert!(!found(&keys[3]));
    }

    #[test]
    fn an_entry_is_refreshed_once_at_a_time() {
        let e = Entry::new(StatusCode::OK, HeaderMap::new(), Bytes::new(), fresh(0));
        assert!(e.claim_refresh());
        assert!(!e.claim_refresh());
        e.release_refresh();
        assert!(e.claim_refresh());
        assert_eq!(e.state(), State::Expired);
    }
}
