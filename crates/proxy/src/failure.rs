//! The proxy's own answers: every way a request can fail before or instead
//! of a function's response, as one enum that knows its status, its stable
//! code, its log level and the README's words for it. The README's table of
//! proxy answers is generated from [`FailureKind::ALL`] and checked by a test.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use tracing::Level;

use crate::body::ProxyBody;

/// Why the proxy answered a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The request named no host at all.
    MissingHost,
    /// The host is not a valid host name.
    MalformedHost,
    /// Two `Host` headers, or a `Host` that disagrees with the request's authority.
    AmbiguousHost,
    /// The host is outside the proxy's domain.
    UnknownHost,
    /// The function or deployment the host names does not exist.
    DeploymentNotFound,
    /// The request body is larger than a function accepts.
    RequestTooLarge,
    /// The request body arrived too slowly.
    RequestTimeout,
    /// The request body could not be read.
    BadRequestBody,
    /// The proxy is at its limit of requests or request bytes in flight.
    Overloaded,
    /// Lambda throttled the function, after bounded retries.
    Throttled,
    /// The proxy's role may not invoke the function.
    AccessDenied,
    /// Lambda refused the invocation for another reason.
    InvokeFailed,
    /// Lambda could not be reached.
    LambdaUnreachable,
    /// The function failed.
    FunctionError,
    /// The function ran out of time.
    FunctionTimeout,
    /// The function's answer is not a valid HTTP response.
    MalformedResponse,
    /// The function's response head is larger than the limit.
    InvalidResponse,
    /// The function's response broke off before its head was complete.
    ResponseCutOff,
}

impl FailureKind {
    /// Every kind, in the README's order.
    pub const ALL: [FailureKind; 18] = [
        FailureKind::MissingHost,
        FailureKind::MalformedHost,
        FailureKind::AmbiguousHost,
        FailureKind::UnknownHost,
        FailureKind::DeploymentNotFound,
        FailureKind::RequestTooLarge,
        FailureKind::RequestTimeout,
        FailureKind::BadRequestBody,
        FailureKind::Overloaded,
        FailureKind::Throttled,
        FailureKind::AccessDenied,
        FailureKind::InvokeFailed,
        FailureKind::LambdaUnreachable,
        FailureKind::FunctionError,
        FailureKind::FunctionTimeout,
        FailureKind::MalformedResponse,
        FailureKind::InvalidResponse,
        FailureKind::ResponseCutOff,
    ];

    /// The HTTP status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            FailureKind::MissingHost
            | FailureKind::MalformedHost
            | FailureKind::AmbiguousHost
            | FailureKind::BadRequestBody => StatusCode::BAD_REQUEST,
            FailureKind::UnknownHost | FailureKind::DeploymentNotFound => StatusCode::NOT_FOUND,
            FailureKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FailureKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            FailureKind::Overloaded | FailureKind::Throttled => StatusCode::SERVICE_UNAVAILABLE,
            FailureKind::FunctionTimeout => StatusCode::GATEWAY_TIMEOUT,
            FailureKind::AccessDenied
            | FailureKind::InvokeFailed
            | FailureKind::LambdaUnreachable
            | FailureKind::FunctionError
            | FailureKind::MalformedResponse
            | FailureKind::InvalidResponse
            | FailureKind::ResponseCutOff => StatusCode::BAD_GATEWAY,
        }
    }

    /// The stable, machine-readable code in the answer's body.
    pub fn code(self) -> &'static str {
        match self {
            FailureKind::MissingHost => "missing_host",
            FailureKind::MalformedHost => "malformed_host",
            FailureKind::AmbiguousHost => "ambiguous_host",
            FailureKind::UnknownHost => "unknown_host",
            FailureKind::DeploymentNotFound => "deployment_not_found",
            FailureKind::RequestTooLarge => "request_too_large",
            FailureKind::RequestTimeout => "request_timeout",
            FailureKind::BadRequestBody => "bad_request_body",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Throttled => "throttled",
            FailureKind::AccessDenied => "access_denied",
            FailureKind::InvokeFailed => "invoke_failed",
            FailureKind::LambdaUnreachable => "lambda_unreachable",
            FailureKind::FunctionError => "function_error",
            FailureKind::FunctionTimeout => "function_timeout",
            FailureKind::MalformedResponse => "malformed_response",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::ResponseCutOff => "response_cut_off",
        }
    }

    /// How loudly the proxy logs it: client mistakes quietly, a
    /// misbehaving function as a warning, a broken platform as an error.
    pub fn level(self) -> Level {
        match self {
            FailureKind::MissingHost
            | FailureKind::MalformedHost
            | FailureKind::AmbiguousHost
            | FailureKind::UnknownHost
            | FailureKind::DeploymentNotFound
            | FailureKind::RequestTooLarge
            | FailureKind::RequestTimeout
            | FailureKind::BadRequestBody
            | FailureKind::Overloaded => Level::DEBUG,
            FailureKind::Throttled => Level::INFO,
            FailureKind::FunctionError
            | FailureKind::FunctionTimeout
            | FailureKind::MalformedResponse
            | FailureKind::InvalidResponse
            | FailureKind::ResponseCutOff => Level::WARN,
            FailureKind::AccessDenied | FailureKind::InvokeFailed | FailureKind::LambdaUnreachable => Level::ERROR,
        }
    }

    /// Seconds for `Retry-After`, for kinds that are worth retrying.
    pub fn retry_after(self) -> Option<u32> {
        match self {
            FailureKind::Overloaded | FailureKind::Throttled => Some(1),
            _ => None,
        }
    }

    /// When it happens, in the README's words.
    pub fn condition(self) -> &'static str {
        match self {
            FailureKind::MissingHost => "no `Host` header and no authority",
            FailureKind::MalformedHost => "a host that is not a valid host name",
            FailureKind::AmbiguousHost => {
                "two `Host` headers, or a `Host` that disagrees with the absolute URI or HTTP/2 `:authority`"
            }
            FailureKind::UnknownHost => "host outside `*.<backend>.<org>.<root>`",
            FailureKind::DeploymentNotFound => "unknown function or deployment",
            FailureKind::RequestTooLarge => "request body over the limit (6 MiB, as Lambda)",
            FailureKind::RequestTimeout => "request body slower than the body read timeout",
            FailureKind::BadRequestBody => "a request body that breaks off",
            FailureKind::Overloaded => "more requests, or more request-body bytes, in flight than allowed",
            FailureKind::Throttled => "Lambda throttled the function after 3 attempts with jittered backoff",
            FailureKind::AccessDenied => "the proxy's role may not invoke the function",
            FailureKind::InvokeFailed => "Lambda refused the invocation for another reason",
            FailureKind::LambdaUnreachable => "the Lambda endpoint cannot be reached",
            FailureKind::FunctionError => "the function failed",
            FailureKind::FunctionTimeout => "the function ran past its timeout or the proxy's invoke limit",
            FailureKind::MalformedResponse => "the function's answer is not a valid response",
            FailureKind::InvalidResponse => "the function's response head is over the limit (32 KiB, as an ALB)",
            FailureKind::ResponseCutOff => "the function's response broke off before its head was complete",
        }
    }

    /// What else the answer carries, in the README's words.
    pub fn note(self) -> &'static str {
        match self {
            FailureKind::UnknownHost => "JSON, or HTML for browsers (as every answer here)",
            FailureKind::DeploymentNotFound => "names the deployment",
            FailureKind::Overloaded => "`Retry-After: 1`; answered at once, never queued",
            FailureKind::Throttled => "`Retry-After: 1`",
            FailureKind::AccessDenied => "the log line names `lambda:InvokeFunction` and the function",
            FailureKind::FunctionError | FailureKind::FunctionTimeout => "`X-Own-Function-Error: <errorType>`",
            FailureKind::InvalidResponse => "the log line names the function",
            _ => "",
        }
    }

    /// The README's table of proxy answers, row for row.
    pub fn readme_table() -> String {
        let mut table = String::from("| condition | status | code | answer carries |\n|---|---|---|---|\n");
        for kind in FailureKind::ALL {
            table.push_str(&format!(
                "| {} | {} | `{}` | {} |\n",
                kind.condition(),
                kind.status().as_u16(),
                kind.code(),
                kind.note()
            ));
        }
        table
    }
}

/// A failure to serve a request, with what the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// A sentence saying what went wrong and what to do.
    pub message: String,
    /// The function's `errorType`, sent as `X-Own-Function-Error`.
    pub function_error: Option<String>,
}

impl Failure {
    /// A failure of `kind` explained by `message`.
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), function_error: None }
    }

    /// The same failure, naming the function's `errorType`.
    pub(crate) fn with_function_error(mut self, error_type: impl Into<String>) -> Self {
        self.function_error = Some(error_type.into());
        self
    }

    /// Writes the log line for the failure at its kind's level, naming the
    /// request and the function (empty before routing).
    pub(crate) fn log(&self, request_id: &str, function: &str) {
        let (code, message, function_error) = (self.kind.code(), &self.message, self.function_error.as_deref());
        match self.kind.level() {
            Level::ERROR => tracing::error!(code, %message, function_error, function, request_id, "request failed"),
            Level::WARN => tracing::warn!(code, %message, function_error, function, request_id, "request failed"),
            Level::INFO => tracing::info!(code, %message, function_error, function, request_id, "request failed"),
            _ => tracing::debug!(code, %message, function_error, function, request_id, "request failed"),
        }
    }

    /// The answer: an HTML page for browsers (`Accept: text/html`), JSON for
    /// everything else.
    pub(crate) fn render(&self, wants_html: bool, request_id: &str) -> Response<ProxyBody> {
        let (body, content_type) = if wants_html {
            (self.html(request_id), "text/html; charset=utf-8")
        } else {
            let doc = serde_json::json!({
                "error": {
                    "status": self.kind.status().as_u16(),
                    "code": self.kind.code(),
                    "message": self.message,
                    "requestId": request_id,
                }
            });
            (doc.to_string(), "application/json")
        };
        let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
        *resp.status_mut() = self.kind.status();
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.kind.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(t) = self.function_error.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert("x-own-function-error", t);
        }
        resp
    }

    fn html(&self, request_id: &str) -> String {
        let status = self.kind.status();
        let reason = status.canonical_reason().unwrap_or("Error");
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {reason}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}code{{background:#f3f3f3;padding:.1rem .3rem}}small{{color:#777}}</style></head>\
<body><h1>{status} {reason}</h1><p>{message}</p><p><small>code <code>{code}</code> · request <code>{rid}</code></small></p></body></html>",
            status = status.as_u16(),
            reason = escape(reason),
            message = escape(&self.message),
            code = self.kind.code(),
            rid = escape(request_id),
        )
    }
}

/// Whether a client asked for HTML (a browser), for the error page's form.
pub(crate) fn wants_html(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
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
        let f = Failure::new(FailureKind::UnknownHost, "no <such> host");
        let json = f.render(false, "r1");
        assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
        let html = f.render(true, "r1");
        assert_eq!(html.status(), 404);
        assert_eq!(html.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let shed = Failure::new(FailureKind::Overloaded, "busy").render(false, "r2");
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn codes_are_unique_and_all_listed() {
        let codes: std::collections::HashSet<_> = FailureKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), FailureKind::ALL.len());
    }

    /// The README's table of proxy answers is generated from the enum: a
    /// new kind, or a changed status, code or wording, must reach it.
    #[test]
    fn the_readme_lists_every_proxy_answer() {
        let readme = include_str!("../../../README.md");
        let table = FailureKind::readme_table();
        assert!(
            readme.contains(&table),
            "README.md's table of proxy answers is out of date; replace it with:\n\n{table}"
        );
    }
}
