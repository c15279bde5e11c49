//! The proxy's own endpoints, under `/__ownstak__/` on every host:
//! `health` (200, or 503 while draining) and, where enabled, `metrics`
//! (Prometheus text). They are never shed and never logged as requests.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use crate::body::ProxyBody;
use crate::metrics::Metrics;

/// Paths under this prefix belong to the proxy, never to an app.
pub(crate) const PREFIX: &str = "/__ownstak__/";

/// The answer for a path under [`PREFIX`].
pub(crate) fn answer(path: &str, draining: bool, metrics: Option<&Metrics>) -> Response<ProxyBody> {
    let (status, body, content_type) = match (path, metrics) {
        ("/__ownstak__/health", _) if draining => {
            (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned(), "text/plain")
        }
        ("/__ownstak__/health", _) => (StatusCode::OK, "ok\n".to_owned(), "text/plain"),
        ("/__ownstak__/metrics", Some(m)) => {
            (StatusCode::OK, m.encode(), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned(), "text/plain"),
    };
    let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
