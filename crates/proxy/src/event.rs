//! The invocation's event: the request body, read whole within the limits
//! (Lambda takes no streamed requests), and the API Gateway v2 event built
//! from it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use ownstak_core::{EventContext, RequestView, event_size_hint, write_event};

use crate::config::ProxyConfig;
use crate::failure::{Failure, FailureKind};
use crate::routing::Target;

/// Reads the request body within the size limit and the read timeout.
pub(crate) async fn read_body(config: &ProxyConfig, body: Incoming) -> Result<Bytes, Failure> {
    let limit = config.limits.max_body_bytes;
    let timeout = config.limits.body_read_timeout;
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Failure::new(
            FailureKind::RequestTooLarge,
            format!("the request body is larger than {limit} bytes, the most a function accepts"),
        )),
        Ok(Err(e)) => {
            Err(Failure::new(FailureKind::BadRequestBody, format!("the request body could not be read: {e}")))
        }
        Err(_) => Err(Failure::new(
            FailureKind::RequestTimeout,
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        )),
    }
}

/// The JSON event for a request whose control headers are already
/// removed, written in one pass into a buffer of about the right size.
pub(crate) fn payload(
    config: &ProxyConfig,
    parts: &Parts,
    body: &[u8],
    target: &Target,
    peer: SocketAddr,
    request_id: &str,
) -> Bytes {
    let request =
        RequestView { method: &parts.method, uri: &parts.uri, version: parts.version, headers: &parts.headers, body };
    let context = EventContext {
        account_id: &config.account_id,
        api_id: &config.api_id,
        domain_name: &target.domain,
        source_ip: config.trusted_proxies.client_ip(peer.ip(), &parts.headers),
        request_id,
        time_epoch_ms: epoch_millis(),
    };
    let mut out = Vec::with_capacity(event_size_hint(&request));
    write_event(&mut out, request, &context);
    Bytes::from(out)
}

/// Now, in epoch milliseconds.
fn epoch_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Removes `X-Own-*` control headers; they are for the proxy, not the app.
pub(crate) fn strip_control_headers(headers: &mut http::HeaderMap) {
    let own: Vec<http::HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("x-own-")).cloned().collect();
    for k in own {
        headers.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_control_headers() {
        let mut h = http::HeaderMap::new();
        h.insert("x-own-host", http::HeaderValue::from_static("a"));
        h.insert("x-own-anything", http::HeaderValue::from_static("b"));
        h.insert("x-owner", http::HeaderValue::from_static("kept"));
        strip_control_headers(&mut h);
        assert_eq!(h.len(), 1);
    }
}
