//! The invocation's event: the request body, read whole within the limits
//! (Lambda takes no streamed requests), and the API Gateway v2 event built
//! from it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use ownstak_core::{HttpEvent, RequestMeta};

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

/// The JSON event for a request whose control headers are already removed.
pub(crate) fn payload(
    config: &ProxyConfig,
    parts: &Parts,
    body: &[u8],
    target: &Target,
    peer: SocketAddr,
    request_id: &str,
) -> Bytes {
    let now = time::OffsetDateTime::now_utc();
    let meta = RequestMeta {
        account_id: config.account_id.clone(),
        api_id: config.api_id.clone(),
        domain_name: target.domain.clone(),
        source_ip: config.trusted_proxies.client_ip(peer.ip(), &parts.headers).to_string(),
        request_id: request_id.to_owned(),
        time: format_time(now),
        time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
    };
    let event = HttpEvent::from_request(&parts.method, &parts.uri, parts.version, &parts.headers, body, meta);
    Bytes::from(event.to_json())
}

/// Removes `X-Own-*` control headers; they are for the proxy, not the app.
pub(crate) fn strip_control_headers(headers: &mut http::HeaderMap) {
    let own: Vec<http::HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("x-own-")).cloned().collect();
    for k in own {
        headers.remove(k);
    }
}

/// The request time as API Gateway formats it (`07/Nov/2026:03:04:05 +0000`).
fn format_time(t: time::OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_control_headers_and_formats_time() {
        let mut h = http::HeaderMap::new();
        h.insert("x-own-host", http::HeaderValue::from_static("a"));
        h.insert("x-own-anything", http::HeaderValue::from_static("b"));
        h.insert("x-owner", http::HeaderValue::from_static("kept"));
        strip_control_headers(&mut h);
        assert_eq!(h.len(), 1);
        let t = time::macros::datetime!(2026-11-07 03:04:05 UTC);
        assert_eq!(format_time(t), "07/Nov/2026:03:04:05 +0000");
    }
}
