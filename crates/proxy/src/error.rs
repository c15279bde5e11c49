//! Errors the proxy answers with: a status, a stable code, a message, and
//! an HTML page for browsers or JSON for everything else.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

/// A failure to serve a request, with what the client should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyFailure {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `unknown_host`.
    pub code: &'static str,
    /// A sentence saying what went wrong and what to do.
    pub message: String,
    /// The function's `errorType`, sent as `X-Own-Function-Error`.
    pub function_error: Option<String>,
    /// Seconds to send as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ProxyFailure {
    /// A failure with a status, code and message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), function_error: None, retry_after: None }
    }

    /// Renders the failure for a client that sent `headers`.
    pub(crate) fn render(&self, headers: &HeaderMap, request_id: &str) -> Response<crate::body::ProxyBody> {
        let wants_html =
            headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        let (body, content_type) = if wants_html {
            (self.html(request_id), "text/html; charset=utf-8")
        } else {
            let doc = serde_json::json!({
                "error": { "status": self.status.as_u16(), "code": self.code, "message": self.message, "requestId": request_id }
            });
            (doc.to_string(), "application/json")
        };
        let mut resp = Response::new(crate::body::ProxyBody::full(Bytes::from(body)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(t) = self.function_error.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            resp.headers_mut().insert("x-own-function-error", t);
        }
        resp
    }

    fn html(&self, request_id: &str) -> String {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {reason}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}code{{background:#f3f3f3;padding:.1rem .3rem}}small{{color:#777}}</style></head>\
<body><h1>{status} {reason}</h1><p>{message}</p><p><small>code <code>{code}</code> · request <code>{rid}</code></small></p></body></html>",
            status = self.status.as_u16(),
            reason = escape(reason),
            message = escape(&self.message),
            code = self.code,
            rid = escape(request_id),
        )
    }
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_html_for_browsers_and_json_otherwise() {
        let f = ProxyFailure::new(StatusCode::NOT_FOUND, "unknown_host", "no <such> host");
        let mut h = HeaderMap::new();
        let json = f.render(&h, "r1");
        assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
        h.insert(http::header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml"));
        let html = f.render(&h, "r1");
        assert_eq!(html.status(), 404);
        assert_eq!(html.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    }
}
