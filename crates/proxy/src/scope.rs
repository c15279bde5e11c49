//! One request's lifetime, held by one guard: [`RequestScope`] counts the
//! request on its connection, in the proxy's metrics and for draining,
//! holds its in-flight permit, and gathers its access-log record. It lives
//! in the response body and ends when the last byte is sent (or the client
//! leaves), which writes the access-log line and releases everything.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use crate::conn_limits::RequestGuard;
use crate::metrics::Metrics;

/// Proxy-wide request accounting: metrics, and activity for draining.
pub(crate) struct Counters {
    pub(crate) metrics: Metrics,
    base: Instant,
    active: AtomicUsize,
    last_end_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            metrics: Metrics::new(),
            base: Instant::now(),
            active: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    /// How long no request has been in progress; `None` while one is.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.active.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = self.last_end_ms.load(Ordering::SeqCst);
        let now = self.base.elapsed().as_millis() as u64;
        Some(Duration::from_millis(now.saturating_sub(last)))
    }
}

/// What the access log says about a request.
#[derive(Debug, Default)]
pub(crate) struct Access {
    pub(crate) request_id: String,
    pub(crate) method: Method,
    /// The host the request was routed by, as sent.
    pub(crate) host: Option<HeaderValue>,
    pub(crate) path: String,
    pub(crate) function: String,
    pub(crate) qualifier: String,
    pub(crate) bytes_in: u64,
    pub(crate) status: u16,
}

/// Everything one request holds until its response is sent.
pub(crate) struct RequestScope {
    counters: Arc<Counters>,
    _connection: Option<RequestGuard>,
    _permit: Option<OwnedSemaphorePermit>,
    started: Instant,
    /// The access-log record, filled in as the request goes.
    pub(crate) access: Access,
}

impl RequestScope {
    /// Starts counting a request.
    pub(crate) fn begin(counters: &Arc<Counters>, connection: Option<RequestGuard>, access: Access) -> Self {
        counters.active.fetch_add(1, Ordering::SeqCst);
        counters.metrics.request_started();
        Self { counters: counters.clone(), _connection: connection, _permit: None, started: Instant::now(), access }
    }

    /// Holds the request's in-flight permit until the scope ends.
    pub(crate) fn hold(&mut self, permit: OwnedSemaphorePermit) {
        self._permit = Some(permit);
    }

    /// The response's status is known.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.access.status = status.as_u16();
    }

    /// Ends the request: `bytes_out` body bytes were sent.
    pub(crate) fn finish(self, bytes_out: u64) {
        let a = &self.access;
        self.counters.metrics.response(a.status, a.bytes_in, bytes_out);
        tracing::info!(
            target: "ownstak::access",
            request_id = %a.request_id,
            method = %a.method,
            host = a.host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(""),
            path = %a.path,
            function = %a.function,
            qualifier = %a.qualifier,
            status = a.status,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes_in = a.bytes_in,
            bytes_out,
            "request"
        );
    }
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        self.counters.metrics.request_ended();
        let now = self.counters.base.elapsed().as_millis() as u64;
        self.counters.last_end_ms.store(now, Ordering::SeqCst);
        self.counters.active.fetch_sub(1, Ordering::SeqCst);
    }
}
