//! Prometheus metrics of the proxy: requests by status class, invoke
//! latency, requests in flight, throttles, bytes in and out, and the
//! response cache's lookups, size and evictions.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of a response's status class (`2xx`, `4xx`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusClass {
    /// The class.
    pub class: &'static str,
}

/// The status classes, by their first digit.
const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// The proxy's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by status class, indexed by the status's first digit.
    requests: [Counter; 6],
    invoke_seconds: Histogram,
    in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
    throttles: Counter,
    bytes_in: Counter<u64, AtomicU64>,
    bytes_out: Counter<u64, AtomicU64>,
    cache: CacheMetrics,
}

/// Label of a cache lookup's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheResult {
    result: &'static str,
}

/// The response cache's metrics (handles that share the registered ones).
#[derive(Clone, Debug)]
pub(crate) struct CacheMetrics {
    hits: Counter,
    stale: Counter,
    misses: Counter,
    bypasses: Counter,
    stored: Counter,
    bytes: Gauge<i64, std::sync::atomic::AtomicI64>,
    evictions: Counter,
    purges: Counter,
    purge_poll_errors: Counter,
}

impl CacheMetrics {
    fn register(registry: &mut Registry) -> Self {
        let lookups = Family::<CacheResult, Counter>::default();
        let stored = Counter::default();
        let bytes = Gauge::default();
        let evictions = Counter::default();
        registry.register(
            "cache_requests",
            "Requests the response cache saw, by result (hit, stale, miss, bypass)",
            lookups.clone(),
        );
        registry.register("cache_stored", "Answers stored in the response cache", stored.clone());
        registry.register("cache_bytes", "Bytes held by the response cache", bytes.clone());
        registry.register(
            "cache_evictions",
            "Entries evicted from the response cache to stay within its size",
            evictions.clone(),
        );
        let purges = Counter::default();
        registry.register("cache_purges", "Purges applied to the response cache", purges.clone());
        let purge_poll_errors = Counter::default();
        registry.register(
            "cache_purge_poll_errors",
            "Polls of the purge log that failed (purges wait until one succeeds)",
            purge_poll_errors.clone(),
        );
        let counter = |result| lookups.get_or_create(&CacheResult { result }).clone();
        Self {
            hits: counter("hit"),
            stale: counter("stale"),
            misses: counter("miss"),
            bypasses: counter("bypass"),
            stored,
            bytes,
            evictions,
            purges,
            purge_poll_errors,
        }
    }

    /// A purge was applied.
    pub(crate) fn purged(&self) {
        self.purges.inc();
    }

    /// A poll of the purge log failed.
    pub(crate) fn purge_poll_failed(&self) {
        self.purge_poll_errors.inc();
    }

    /// A fresh answer from the cache.
    pub(crate) fn hit(&self) {
        self.hits.inc();
    }

    /// A stale answer from the cache.
    pub(crate) fn stale(&self) {
        self.stale.inc();
    }

    /// A request the cache could not answer.
    pub(crate) fn miss(&self) {
        self.misses.inc();
    }

    /// A request the cache left alone.
    pub(crate) fn bypass(&self) {
        self.bypasses.inc();
    }

    /// An entry of `bytes` was stored.
    pub(crate) fn stored(&self, bytes: u64) {
        self.stored.inc();
        self.bytes.inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// A slot of `bytes` that is not an answer (a `Vary` list) was stored.
    pub(crate) fn held(&self, bytes: u64) {
        self.bytes.inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// An entry of `bytes` left the cache; `evicted` when it made room.
    pub(crate) fn removed(&self, bytes: u64, evicted: bool) {
        self.bytes.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        if evicted {
            self.evictions.inc();
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `ownstak_proxy` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ownstak_proxy");
        let requests = Family::<StatusClass, Counter>::default();
        // 100 µs to ~100 s in factors of 2.
        let invoke_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 21));
        let in_flight = Gauge::default();
        let throttles = Counter::default();
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        registry.register("requests", "Requests answered, by status class", requests.clone());
        registry.register("invoke_duration_seconds", "Time from invoke to the response head", invoke_seconds.clone());
        registry.register("in_flight_requests", "Requests being served", in_flight.clone());
        registry.register("throttles", "Invocations throttled by Lambda after retries", throttles.clone());
        registry.register("request_bytes", "Request body bytes received", bytes_in.clone());
        registry.register("response_bytes", "Response body bytes sent", bytes_out.clone());
        let requests = CLASSES.map(|class| requests.get_or_create(&StatusClass { class }).clone());
        let cache = CacheMetrics::register(&mut registry);
        Self { registry, requests, invoke_seconds, in_flight, throttles, bytes_in, bytes_out, cache }
    }

    /// Counts a request as in flight (until [`Metrics::request_ended`]).
    pub(crate) fn request_started(&self) {
        self.in_flight.inc();
    }

    /// A request is no longer in flight.
    pub(crate) fn request_ended(&self) {
        self.in_flight.dec();
    }

    /// Records a finished response.
    pub fn response(&self, status: u16, bytes_in: u64, bytes_out: u64) {
        let class = usize::from(status / 100).min(CLASSES.len() - 1);
        self.requests[class].inc();
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    /// Records how long an invocation took to produce its response head.
    pub fn invoke_latency(&self, seconds: f64) {
        self.invoke_seconds.observe(seconds);
    }

    /// Counts a throttled invocation.
    pub fn throttled(&self) {
        self.throttles.inc();
    }

    /// The response cache's metrics.
    pub(crate) fn cache(&self) -> CacheMetrics {
        self.cache.clone()
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_and_gauges() {
        let m = Metrics::new();
        m.request_started();
        m.response(200, 10, 20);
        m.response(503, 0, 5);
        m.throttled();
        m.invoke_latency(0.002);
        let text = m.encode();
        assert!(text.contains("ownstak_proxy_requests_total{class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("ownstak_proxy_requests_total{class=\"5xx\"} 1"), "{text}");
        assert!(text.contains("ownstak_proxy_in_flight_requests 1"), "{text}");
        assert!(text.contains("ownstak_proxy_response_bytes_total 25"), "{text}");
        m.request_ended();
        assert!(m.encode().contains("ownstak_proxy_in_flight_requests 0"));
    }
}
