//! The bridge: an API Gateway v2 event becomes an HTTP/1.1 request to the
//! app, and the app's response becomes the function's response.
//!
//! The exchange is split at the seam that streaming needs: [`Bridge::call`]
//! yields the response head and a body stream ([`AppResponse`]), and the
//! [`ResponseMode`] decides how that reaches the Runtime API ([`Reply`]).

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HOST, HeaderName};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use ownstak_core::{HttpEvent, HttpResponse};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::conn::{Connection, RequestBody};
use crate::error::{ConnError, InvokeError};
use crate::relay::LogContext;
use crate::runtime_api::Invocation;
use crate::stream::{OutcomeReceiver, ResponseStream};
use ownstak_core::Prelude;

/// The header that passes the invocation's request id to the app (unless the event has one).
pub(crate) const REQUEST_ID: HeaderName = ownstak_core::REQUEST_ID_HEADER;

/// How long past the invocation's deadline the runtime's own guard waits.
/// The platform ends a late invocation at the deadline and reports it as
/// `Sandbox.Timedout`; the runtime's guard is only a backstop and must not
/// win that race with a less precise error.
pub(crate) const PLATFORM_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// How a function response reaches the Runtime API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// The whole response as one API Gateway v2 JSON document.
    Buffered,
    /// `Lambda-Runtime-Function-Response-Mode: streaming`: the JSON prelude
    /// `{statusCode, headers, cookies}`, 8 NUL bytes, then the body frames
    /// as they arrive, with a mid-stream failure in the trailers.
    #[default]
    Streaming,
}

impl ResponseMode {
    /// The mode named `name` (`buffered` or `streaming`, any case), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "buffered" => Some(Self::Buffered),
            "streaming" => Some(Self::Streaming),
            _ => None,
        }
    }
}

/// What to post to the Runtime API for a handled invocation.
#[derive(Debug)]
pub enum Reply {
    /// A buffered API Gateway v2 response document, for `invocation/{id}/response`.
    Buffered(Bytes),
    /// A response to stream to `invocation/{id}/response`, and how to learn how it ended.
    Streaming(ResponseStream, OutcomeReceiver),
}

/// The app's answer: its head, and its body as a stream.
#[derive(Debug)]
pub struct AppResponse {
    /// The status code.
    pub status: StatusCode,
    /// The end-to-end headers (hop-by-hop headers removed).
    pub headers: HeaderMap,
    /// The body, still being received.
    pub body: Incoming,
}

impl AppResponse {
    /// Receives the whole body and converts the response to API Gateway v2 form.
    pub async fn into_buffered(self, port: u16) -> Result<HttpResponse, InvokeError> {
        let body = self.body.collect().await.map_err(|source| InvokeError::AppBody { port, source })?.to_bytes();
        Ok(HttpResponse::from_parts(self.status, &self.headers, &body))
    }

    /// Turns the response into a stream of its prelude and body, ending at the body's end or at `deadline`.
    pub fn into_streaming(self, port: u16, deadline: Option<Instant>) -> (ResponseStream, OutcomeReceiver) {
        ResponseStream::new(&Prelude::from_head(self.status, &self.headers), self.body, port, deadline)
    }
}

/// Forwards invocations to the app over one kept-alive connection.
#[derive(Debug)]
pub struct Bridge {
    app: Connection,
    port: u16,
    /// Added to every answer as `x-ownstak-deployment-id`.
    deployment_id: Option<HeaderValue>,
    /// Told of each invocation, for the app's log lines.
    logs: Option<LogContext>,
}

impl Bridge {
    /// A bridge to the app on `127.0.0.1:port`.
    pub fn new(port: u16) -> Self {
        Self { app: Connection::new(format!("127.0.0.1:{port}")), port, deployment_id: None, logs: None }
    }

    /// Tells `logs` of each invocation (see [`crate::relay`]).
    pub(crate) fn with_log_context(mut self, logs: LogContext) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Tags every answer with the function's deployment id, by which the
    /// proxy pins the client to this deployment (skew protection).
    pub fn with_deployment_id(mut self, id: Option<&str>) -> Self {
        self.deployment_id = id.and_then(|id| HeaderValue::from_str(id).ok());
        self
    }

    /// Uses an already open connection to the app (the readiness probe's) for the next request.
    pub async fn adopt(&mut self, stream: TcpStream) -> Result<(), ConnError> {
        self.app.adopt(stream).await
    }

    /// Runs an invocation in `mode` and returns what to post as its response.
    ///
    /// The exchange is bounded by the invocation's deadline as seen at `now`
    /// plus [`PLATFORM_GRACE`]: all of it when buffered; up to the response
    /// head when streaming, and the returned stream ends with error trailers
    /// if the body outlasts it.
    pub async fn handle(
        &mut self,
        invocation: &Invocation,
        mode: ResponseMode,
        now: SystemTime,
    ) -> Result<Reply, InvokeError> {
        let event = parse_event(&invocation.payload)?;
        if let Some(logs) = &self.logs {
            let ctx = &event.request_context;
            let request_id = event.headers.get("x-request-id").unwrap_or(&ctx.request_id);
            logs.begin(&invocation.request_id, request_id, &ctx.http.method, &event.raw_path);
        }
        let request = build_request(&event, &invocation.request_id)?;
        let budget = invocation.time_left(now);
        let deadline = budget.map(|budget| Instant::now() + budget + PLATFORM_GRACE);
        let port = self.port;
        let exchange = async {
            let response = self.call(request).await?;
            Ok(match mode {
                ResponseMode::Buffered => Reply::Buffered(encode_payload(&response.into_buffered(port).await?)),
                ResponseMode::Streaming => {
                    let (stream, outcome) = response.into_streaming(port, deadline);
                    Reply::Streaming(stream, outcome)
                }
            })
        };
        let result = match (deadline, budget) {
            (Some(deadline), Some(budget)) => tokio::time::timeout_at(deadline, exchange)
                .await
                .unwrap_or(Err(InvokeError::Deadline { port, budget_ms: budget.as_millis() })),
            _ => exchange.await,
        };
        if result.is_err() {
            // The connection may be mid-exchange; never reuse it.
            self.app.reset();
        }
        result
    }

    /// Closes the app connection (after a broken-off stream); the next request reconnects.
    pub fn reset(&mut self) {
        self.app.reset();
    }

    /// Sends a request to the app and returns the response head and body stream.
    pub async fn call(&mut self, request: Request<RequestBody>) -> Result<AppResponse, InvokeError> {
        let port = self.port;
        let response = self.app.send(request).await.map_err(|source| InvokeError::App { port, source })?;
        let (parts, body) = response.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        if let Some(id) = &self.deployment_id {
            headers.insert(ownstak_core::DEPLOYMENT_ID_RESPONSE_HEADER, id.clone());
        }
        Ok(AppResponse { status: parts.status, headers, body })
    }
}

/// Reads an API Gateway v2 HTTP event.
pub(crate) fn parse_event(payload: &[u8]) -> Result<HttpEvent, InvokeError> {
    serde_json::from_slice(payload).map_err(InvokeError::EventJson)
}

/// Builds the app request for an event: method, path and query as sent,
/// the event's headers (a `host` from `requestContext.domainName` if
/// absent, `x-request-id` set to `request_id` if absent) and the decoded body.
pub(crate) fn build_request(event: &HttpEvent, request_id: &str) -> Result<Request<RequestBody>, InvokeError> {
    let method = event.method().map_err(InvokeError::EventConvert)?;
    let target = event.path_and_query();
    let uri =
        http::uri::PathAndQuery::try_from(target.as_str()).map_err(|_| InvokeError::EventTarget(target.clone()))?;
    if !uri.as_str().starts_with('/') {
        return Err(InvokeError::EventTarget(target));
    }
    let mut headers = event.header_map().map_err(InvokeError::EventConvert)?;
    strip_hop_by_hop(&mut headers);
    // The body is sent whole; hyper sets the length from it, and a buffered body needs no 100-continue.
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::EXPECT);
    if !headers.contains_key(HOST) {
        let domain = event.request_context.domain_name.as_str();
        let host = HeaderValue::from_str(domain)
            .ok()
            .filter(|_| !domain.is_empty())
            .unwrap_or(HeaderValue::from_static("localhost"));
        headers.insert(HOST, host);
    }
    if !headers.contains_key(&REQUEST_ID)
        && let Ok(id) = HeaderValue::from_str(request_id)
    {
        headers.insert(REQUEST_ID, id);
    }
    let body = event.body_bytes().map_err(InvokeError::EventConvert)?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri.into();
    *request.headers_mut() = headers;
    Ok(request)
}

pub(crate) use ownstak_core::strip_hop_by_hop;

/// Serializes a buffered response for the Runtime API.
#[allow(clippy::expect_used, reason = "HttpResponse holds only strings, numbers and booleans, which always serialize")]
pub(crate) fn encode_payload(response: &HttpResponse) -> Bytes {
    // Invariant: HttpResponse holds only strings, numbers and booleans, which always serialize.
    Bytes::from(serde_json::to_vec(response).expect("HttpResponse serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn event(json: serde_json::Value) -> HttpEvent {
        serde_json::from_value(json).unwrap()
    }

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/a%20b/c",
            "rawQueryString": "x=1&x=2",
            "cookies": ["a=1", "b=2"],
            "headers": {"host": "shop-prod-3.local.dev.localhost", "x-multi": "one,two", "content-length": "5", "connection": "keep-alive"},
            "requestContext": {
                "accountId": "000000000000", "apiId": "local", "domainName": "shop-prod-3.local.dev.localhost",
                "domainPrefix": "shop-prod-3",
                "http": {"method": "POST", "path": "/a%20b/c", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "curl/8"},
                "requestId": "rid", "routeKey": "$default", "stage": "$default",
                "time": "27/Nov/2026:23:19:15 +0000", "timeEpoch": 1_795_821_555_000_i64
            },
            "body": "aGVsbG8=",
            "isBase64Encoded": true
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            obj.extend(extra);
        }
        v
    }

    #[tokio::test]
    async fn builds_the_app_request_from_an_event() {
        let req = build_request(&event(base(serde_json::json!({}))), "req-1").unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "/a%20b/c?x=1&x=2");
        let h = req.headers();
        assert_eq!(h["host"], "shop-prod-3.local.dev.localhost");
        assert_eq!(h["x-multi"], "one,two");
        assert_eq!(h["cookie"], "a=1; b=2");
        assert_eq!(h["x-request-id"], "req-1");
        assert!(!h.contains_key("content-length"));
        assert!(!h.contains_key("connection"));
        assert_eq!(req.into_body().collect().await.unwrap().to_bytes().as_ref(), b"hello");
    }

    #[test]
    fn fills_host_and_keeps_the_events_request_id() {
        let e =
            event(base(serde_json::json!({"headers": {"x-request-id": "mine"}, "rawPath": "", "rawQueryString": ""})));
        let req = build_request(&e, "req-1").unwrap();
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()["host"], "shop-prod-3.local.dev.localhost");
        assert_eq!(req.headers()["x-request-id"], "mine");
    }

    #[test]
    fn rejects_events_that_are_not_http_requests() {
        assert!(matches!(parse_event(br#"{"fail":true}"#), Err(InvokeError::EventJson(_))));
        let bad_method = event(base(serde_json::json!({})));
        let mut bad_method = bad_method;
        bad_method.request_context.http.method = "GE T".into();
        assert!(matches!(build_request(&bad_method, "r"), Err(InvokeError::EventConvert(_))));
        let bad_body = event(base(serde_json::json!({"body": "!!"})));
        assert!(matches!(build_request(&bad_body, "r"), Err(InvokeError::EventConvert(_))));
        let bad_path = event(base(serde_json::json!({"rawPath": "/a b"})));
        assert!(matches!(build_request(&bad_path, "r"), Err(InvokeError::EventTarget(_))));
        let relative = event(base(serde_json::json!({"rawPath": "abc"})));
        assert!(matches!(build_request(&relative, "r"), Err(InvokeError::EventTarget(_))));
        for err in [parse_event(b"[]").unwrap_err(), build_request(&bad_path, "r").unwrap_err()] {
            assert_eq!(err.error_type(), "Runtime.InvalidEvent");
        }
    }

    #[test]
    fn names_response_modes() {
        assert_eq!(ResponseMode::default(), ResponseMode::Streaming);
        assert_eq!(ResponseMode::from_name(" Buffered "), Some(ResponseMode::Buffered));
        assert_eq!(ResponseMode::from_name("streaming"), Some(ResponseMode::Streaming));
        assert_eq!(ResponseMode::from_name("stream"), None);
    }

    #[test]
    fn strips_hop_by_hop_response_headers() {
        let mut h = HeaderMap::new();
        h.append("transfer-encoding", HeaderValue::from_static("chunked"));
        h.append("connection", HeaderValue::from_static("keep-alive"));
        h.append("keep-alive", HeaderValue::from_static("timeout=5"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        strip_hop_by_hop(&mut h);
        let r = HttpResponse::from_parts(StatusCode::OK, &h, b"x");
        assert!(r.headers.is_empty() && r.multi_value_headers.is_empty());
        assert_eq!(r.cookies, ["a=1", "b=2"]);
        let json: serde_json::Value = serde_json::from_slice(&encode_payload(&r)).unwrap();
        assert_eq!(json["statusCode"], 200);
        assert_eq!(json["body"], "x");
    }
}
