//! One request: route by host, build the event, invoke, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use ownstak_core::{HostError, Qualifier, Route};
use ownstak_core::{HttpEvent, RequestMeta};

use crate::body::{BodyError, ProxyBody};
use crate::config::{InvokeMode, ProxyConfig};
use crate::error::ProxyFailure;
use crate::invoker::{InvokeFailure, Invoked, Invoker, ResponseEvents, StreamEvent};
use crate::metrics::{InFlight, Metrics};
use ownstak_core::{Decoded, PreludeDecoder};

/// Paths under this prefix belong to the proxy, never to an app.
const INTERNAL_PREFIX: &str = "/__ownstak__/";
/// Header a trusted front end may set to override the host used for routing.
const OWN_HOST: &str = "x-own-host";
/// The request id header, propagated or generated.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Response headers that describe a hop, never copied from a function.
const HOP_BY_HOP: [&str; 6] = ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"];

/// Shared state of all connections.
pub struct Handler {
    config: ProxyConfig,
    invoker: Invoker,
    metrics: Arc<Metrics>,
    draining: AtomicBool,
    activity: Arc<Activity>,
    assets: crate::assets::ProxyAssets,
}

/// Requests in progress and when the last one ended, for draining.
struct Activity {
    base: Instant,
    active: std::sync::atomic::AtomicUsize,
    last_end_ms: std::sync::atomic::AtomicU64,
}

/// Marks a request active until dropped (for streams: until the body ends).
struct Active(Arc<Activity>);

impl Activity {
    fn enter(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::SeqCst);
        Active(self.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let now = self.0.base.elapsed().as_millis() as u64;
        self.0.last_end_ms.store(now, Ordering::SeqCst);
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request's access-log record, finished when its response ends.
struct Access {
    metrics: Arc<Metrics>,
    _in_flight: InFlight,
    _active: Active,
    started: Instant,
    request_id: String,
    method: String,
    host: String,
    path: String,
    function: String,
    qualifier: String,
    bytes_in: u64,
}

impl Access {
    /// Writes the access-log line and the response metrics.
    fn finish(self, status: u16, bytes_out: u64) {
        self.metrics.response(status, self.bytes_in, bytes_out);
        tracing::info!(
            target: "ownstak::access",
            request_id = %self.request_id,
            method = %self.method,
            host = %self.host,
            path = %self.path,
            function = %self.function,
            qualifier = %self.qualifier,
            status,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes_in = self.bytes_in,
            bytes_out,
            "request"
        );
    }
}

impl Handler {
    /// A handler for a configuration and invoker.
    pub fn new(config: ProxyConfig, invoker: Invoker) -> Arc<Self> {
        let activity =
            Arc::new(Activity { base: Instant::now(), active: Default::default(), last_end_ms: Default::default() });
        let assets = crate::assets::ProxyAssets::new(&config);
        Arc::new(Self {
            config,
            invoker,
            metrics: Arc::new(Metrics::new()),
            draining: AtomicBool::new(false),
            activity,
            assets,
        })
    }

    /// How long no request has been in progress; `None` while one is.
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        if self.activity.active.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = self.activity.last_end_ms.load(Ordering::SeqCst);
        let now = self.activity.base.elapsed().as_millis() as u64;
        Some(std::time::Duration::from_millis(now.saturating_sub(last)))
    }

    /// Turns health to 503 so that load balancers stop sending traffic;
    /// requests are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// The proxy's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Serves one request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        if let Some(resp) = self.internal(&req) {
            return resp;
        }
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut access = Access {
            metrics: self.metrics.clone(),
            _in_flight: self.metrics.in_flight(),
            _active: self.activity.enter(),
            started: Instant::now(),
            request_id: request_id.clone(),
            method: req.method().to_string(),
            host: routing_host(&req).unwrap_or_default(),
            path: req.uri().path().to_owned(),
            function: String::new(),
            qualifier: String::new(),
            bytes_in: 0,
        };
        let accept = error_page_headers(req.headers());
        let mut resp = match self.route_and_invoke(req, peer, &mut access).await {
            Ok(Answer::Full(resp)) => {
                let bytes_out = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
                access.finish(resp.status().as_u16(), bytes_out);
                resp
            }
            Ok(Answer::Stream(resp, pump)) => {
                pump.start(access);
                resp
            }
            Err(f) => {
                tracing::debug!(status = f.status.as_u16(), code = f.code, message = %f.message, %request_id, "request failed");
                if f.code == "throttled" {
                    self.metrics.throttled();
                }
                let resp = f.render(&accept, &request_id);
                let bytes_out = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
                access.finish(resp.status().as_u16(), bytes_out);
                resp
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        resp
    }

    /// `/__ownstak__/health` (any host) and, when enabled, `/__ownstak__/metrics`.
    fn internal<B>(&self, req: &Request<B>) -> Option<Response<ProxyBody>> {
        let path = req.uri().path();
        if !path.starts_with(INTERNAL_PREFIX) {
            return None;
        }
        let (status, body, content_type) = match path {
            "/__ownstak__/health" if self.draining.load(Ordering::SeqCst) => {
                (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned(), "text/plain")
            }
            "/__ownstak__/health" => (StatusCode::OK, "ok\n".to_owned(), "text/plain"),
            "/__ownstak__/metrics" if self.config.expose_metrics => {
                (StatusCode::OK, self.metrics.encode(), "application/openmetrics-text; version=1.0.0; charset=utf-8")
            }
            _ => (StatusCode::NOT_FOUND, "not found\n".to_owned(), "text/plain"),
        };
        let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(resp)
    }

    async fn route_and_invoke(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        access: &mut Access,
    ) -> Result<Answer, ProxyFailure> {
        let host = routing_host(&req).ok_or_else(|| {
            ProxyFailure::new(StatusCode::BAD_REQUEST, "missing_host", "the request has no Host header")
        })?;
        let route = match (self.config.suffix.route(&host), &self.config.fallback_route) {
            (Ok(route), _) => route,
            (Err(HostError::Unknown { .. }), Some(fallback)) => fallback.clone(),
            (Err(e), _) => return Err(host_failure(e)),
        };
        let function = route.function(&self.config.prefix);
        let qualifier = route.qualifier.alias();
        access.function = function.clone();
        access.qualifier = qualifier.clone();
        if let Some(resp) = self
            .assets
            .answer(&self.invoker, req.method(), req.uri().path(), req.headers(), &function, &qualifier)
            .await
        {
            return Ok(Answer::Full(resp));
        }
        let (parts, body) = req.into_parts();
        let limit = self.config.limits.max_body_bytes;
        let read =
            tokio::time::timeout(self.config.limits.body_read_timeout, Limited::new(body, limit).collect()).await;
        let body = match read {
            Err(_) => {
                return Err(ProxyFailure::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        self.config.limits.body_read_timeout.as_secs()
                    ),
                ));
            }
            Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return Err(ProxyFailure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    format!("the request body is larger than {limit} bytes, the most a function accepts"),
                ));
            }
            Ok(Err(e)) => {
                return Err(ProxyFailure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request_body",
                    format!("the request body could not be read: {e}"),
                ));
            }
            Ok(Ok(c)) => c.to_bytes(),
        };
        access.bytes_in = body.len() as u64;
        let mut headers = parts.headers;
        strip_control_headers(&mut headers);
        headers.insert(
            REQUEST_ID,
            HeaderValue::from_str(&access.request_id).unwrap_or_else(|_| HeaderValue::from_static("invalid")),
        );
        let now = time::OffsetDateTime::now_utc();
        let domain = host
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host.as_str(), |(h, _)| h)
            .to_ascii_lowercase();
        let meta = RequestMeta {
            account_id: self.config.account_id.clone(),
            api_id: self.config.api_id.clone(),
            domain_name: domain,
            source_ip: self.config.trusted_proxies.client_ip(peer.ip(), &headers).to_string(),
            request_id: access.request_id.clone(),
            time: format_time(now),
            time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
        };
        let event = HttpEvent::from_request(&parts.method, &parts.uri, parts.version, &headers, &body, meta);
        let payload = serde_json::to_vec(&event)
            .map_err(|e| ProxyFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "event_encoding", e.to_string()))?;
        let invoked_at = Instant::now();
        match self.config.invoke_mode {
            InvokeMode::Buffered => {
                let invoked = self
                    .invoker
                    .invoke(&function, &qualifier, payload)
                    .await
                    .map_err(|f| invoke_failure(f, &route, &function))?;
                self.metrics.invoke_latency(invoked_at.elapsed().as_secs_f64());
                match invoked {
                    Invoked::Payload(payload) => respond(&payload).map(Answer::Full),
                    Invoked::FunctionError { error_type, message } => Err(function_failure(error_type, message)),
                }
            }
            InvokeMode::Streaming => {
                let events = self
                    .invoker
                    .invoke_stream(&function, &qualifier, payload)
                    .await
                    .map_err(|f| invoke_failure(f, &route, &function))?;
                let answer = self.stream(events, invoked_at + self.config.limits.invoke_timeout).await;
                self.metrics.invoke_latency(invoked_at.elapsed().as_secs_f64());
                answer
            }
        }
    }

    /// Reads the response head from the event stream; the body then
    /// streams to the client as it arrives.
    async fn stream(&self, mut events: ResponseEvents, deadline: Instant) -> Result<Answer, ProxyFailure> {
        let mut decoder = PreludeDecoder::new(self.config.max_response_head_bytes);
        let (status, headers, first) = loop {
            let next = tokio::time::timeout_at(deadline.into(), events.next()).await.map_err(|_| {
                let mut f = ProxyFailure::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "function_timeout",
                    "the function did not answer within the proxy's invoke limit",
                );
                f.function_error = Some("Proxy.InvokeTimeout".to_owned());
                f
            })?;
            match next {
                Ok(Some(StreamEvent::Chunk(c))) => match decoder.push(&c).map_err(malformed)? {
                    Decoded::NeedMore => {}
                    Decoded::Head { status, headers, body } => break (status, headers, body),
                },
                Ok(Some(StreamEvent::Complete(None))) => {
                    let (status, headers, body) = decoder.finish().map_err(malformed)?;
                    return Ok(Answer::Full(build(status, headers, ProxyBody::full(body))));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::FunctionError { error_type, message })))) => {
                    return Err(function_failure(error_type, message));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::Payload(_))))) => {}
                Ok(None) => return Err(cut_off("the response ended before its head")),
                Err(e) => return Err(cut_off(&e)),
            }
        };
        // A small response has usually arrived whole by now. What is already
        // here is taken without waiting, so a complete response is answered
        // in one write with a Content-Length (and a failure before the
        // first byte is a clean error page), while a response still being
        // produced streams exactly as before.
        let mut ready = bytes::BytesMut::new();
        ready.extend_from_slice(&first);
        while ready.len() < COALESCE_LIMIT {
            let Some(next) = ready_now(events.next()) else { break };
            match next {
                Ok(Some(StreamEvent::Chunk(c))) => ready.extend_from_slice(&c),
                Ok(Some(StreamEvent::Complete(None))) => {
                    return Ok(Answer::Full(build(status, headers, ProxyBody::full(ready.freeze()))));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::FunctionError { error_type, message })))) => {
                    return Err(function_failure(error_type, message));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::Payload(_))))) => {}
                Ok(None) => return Err(cut_off("the stream ended without completion")),
                Err(e) => return Err(cut_off(&e)),
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let status_code = status.as_u16();
        let resp = build(status, headers, ProxyBody::Stream(rx));
        Ok(Answer::Stream(resp, Box::new(Pump { events, first: ready.freeze(), tx, deadline, status: status_code })))
    }
}

/// Most body bytes gathered from already-arrived events before streaming.
const COALESCE_LIMIT: usize = 256 * 1024;

/// The future's output if it is ready at the first poll; it is dropped
/// otherwise (the event receiver keeps what it has read, so nothing is lost).
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// What a routed request produced.
enum Answer {
    /// A complete response.
    Full(Response<ProxyBody>),
    /// A response whose body the pump delivers.
    Stream(Response<ProxyBody>, Box<Pump>),
}

/// Moves body chunks from the function to the client. A full channel (a
/// slow client) stops the reading; a closed one (a client that left) ends
/// it; a failure or the invoke deadline ends the body with an error, which
/// aborts the response.
struct Pump {
    events: ResponseEvents,
    first: Bytes,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    deadline: Instant,
    status: u16,
}

impl Pump {
    /// Runs the pump in its own task; `access` is finished when it ends.
    fn start(self: Box<Self>, access: Access) {
        tokio::spawn(self.run(access));
    }

    async fn run(mut self: Box<Self>, access: Access) {
        let mut sent = 0u64;
        let first = std::mem::take(&mut self.first);
        if !first.is_empty() {
            sent += first.len() as u64;
            if self.tx.send(Ok(first)).await.is_err() {
                return access.finish(self.status, sent);
            }
        }
        loop {
            let item = match tokio::time::timeout_at(self.deadline.into(), self.events.next()).await {
                Err(_) => Err(BodyError("the function exceeded the proxy's invoke limit".to_owned())),
                Ok(Ok(Some(StreamEvent::Chunk(c)))) => Ok(c),
                Ok(Ok(Some(StreamEvent::Complete(None)))) => return access.finish(self.status, sent),
                Ok(Ok(Some(StreamEvent::Complete(Some(Invoked::FunctionError { error_type, message }))))) => {
                    tracing::warn!(%error_type, message = message.as_deref().unwrap_or(""), request_id = %access.request_id, "function failed mid-stream");
                    Err(BodyError(format!("{error_type}: {}", message.unwrap_or_default())))
                }
                Ok(Ok(Some(StreamEvent::Complete(Some(Invoked::Payload(_)))))) => continue,
                Ok(Ok(None)) => Err(BodyError("the stream ended without completion".to_owned())),
                Ok(Err(e)) => Err(BodyError(e)),
            };
            let failed = item.is_err();
            if let Ok(c) = &item {
                sent += c.len() as u64;
            }
            if self.tx.send(item).await.is_err() || failed {
                return access.finish(self.status, sent);
            }
        }
    }
}

fn malformed(e: ownstak_core::StreamError) -> ProxyFailure {
    ProxyFailure::new(
        StatusCode::BAD_GATEWAY,
        "malformed_response",
        format!("the function returned a malformed response: {e}"),
    )
}

fn cut_off(detail: &str) -> ProxyFailure {
    ProxyFailure::new(
        StatusCode::BAD_GATEWAY,
        "response_cut_off",
        format!("the function's response broke off: {detail}"),
    )
}

fn build(status: StatusCode, mut headers: HeaderMap, body: ProxyBody) -> Response<ProxyBody> {
    for h in HOP_BY_HOP.iter().chain(&["content-length"]) {
        headers.remove(*h);
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The request headers an error page depends on (only `Accept`), kept
/// instead of a copy of them all.
fn error_page_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    if let Some(accept) = headers.get(http::header::ACCEPT) {
        kept.insert(http::header::ACCEPT, accept.clone());
    }
    kept
}

/// The host to route by: `X-Own-Host`, else `Host`, else the URI authority (HTTP/2).
fn routing_host<B>(req: &Request<B>) -> Option<String> {
    let h = req.headers();
    h.get(OWN_HOST)
        .or_else(|| h.get(HOST))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// Removes `X-Own-*` control headers; they are for the proxy, not the app.
fn strip_control_headers(headers: &mut HeaderMap) {
    let own: Vec<HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("x-own-")).cloned().collect();
    for k in own {
        headers.remove(k);
    }
}

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

fn host_failure(e: HostError) -> ProxyFailure {
    match e {
        HostError::Unknown { .. } => ProxyFailure::new(StatusCode::NOT_FOUND, "unknown_host", e.to_string()),
        HostError::Malformed { .. } => ProxyFailure::new(StatusCode::BAD_REQUEST, "malformed_host", e.to_string()),
    }
}

fn describe(route: &Route) -> String {
    match route.qualifier {
        Qualifier::Current => format!("`{}` has no live deployment", route.label),
        Qualifier::Deployment(n) => format!("deployment {n} of `{}` does not exist", route.label),
    }
}

fn invoke_failure(f: InvokeFailure, route: &Route, function: &str) -> ProxyFailure {
    match f {
        InvokeFailure::NotFound => ProxyFailure::new(
            StatusCode::NOT_FOUND,
            "deployment_not_found",
            format!(
                "{} (project-environment `{}`); check the URL or list deployments with `ownstak deployments`",
                describe(route),
                route.label
            ),
        ),
        InvokeFailure::Throttled => {
            let mut f = ProxyFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "throttled",
                "the function is at its concurrency limit; retry shortly",
            );
            f.retry_after = Some(1);
            f
        }
        InvokeFailure::AccessDenied(message) => {
            tracing::error!(%function, permission = "lambda:InvokeFunction", %message, "the proxy's role may not invoke this function; grant it lambda:InvokeFunction on the function (this action also covers streaming invokes)");
            ProxyFailure::new(
                StatusCode::BAD_GATEWAY,
                "access_denied",
                "the proxy is not allowed to invoke this function",
            )
        }
        InvokeFailure::TooLarge => {
            ProxyFailure::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", "the request is too large for Lambda")
        }
        InvokeFailure::Api { code, message } => {
            tracing::warn!(%code, %message, "lambda refused the invocation");
            ProxyFailure::new(
                StatusCode::BAD_GATEWAY,
                "invoke_failed",
                format!("Lambda refused the invocation: {code}: {message}"),
            )
        }
        InvokeFailure::Unreachable(detail) => {
            tracing::error!(%detail, "lambda unreachable");
            ProxyFailure::new(StatusCode::BAD_GATEWAY, "lambda_unreachable", "the Lambda service could not be reached")
        }
    }
}

fn function_failure(error_type: String, message: Option<String>) -> ProxyFailure {
    let timed_out =
        error_type == "Sandbox.Timedout" || message.as_deref().is_some_and(|m| m.contains("Task timed out"));
    let (status, code, text) = if timed_out {
        (StatusCode::GATEWAY_TIMEOUT, "function_timeout", "the function did not answer within its timeout")
    } else {
        (StatusCode::BAD_GATEWAY, "function_error", "the function failed while handling the request")
    };
    let detail =
        message.map(|m| format!("{text}: {error_type}: {m}")).unwrap_or_else(|| format!("{text}: {error_type}"));
    let mut f = ProxyFailure::new(status, code, detail);
    f.function_error = Some(error_type);
    f
}

/// Turns a function's buffered API Gateway v2 payload into the response.
/// A buffered payload is either an API Gateway v2 response or, from a
/// function that streams, a prelude and body received whole.
fn respond(payload: &[u8]) -> Result<Response<ProxyBody>, ProxyFailure> {
    let mut decoder = PreludeDecoder::new(payload.len());
    let (status, headers, body) = match decoder.push(payload).map_err(malformed)? {
        Decoded::Head { status, headers, body } => (status, headers, body),
        Decoded::NeedMore => decoder.finish().map_err(malformed)?,
    };
    Ok(build(status, headers, ProxyBody::full(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_control_headers_and_formats_time() {
        let mut h = HeaderMap::new();
        h.insert("x-own-host", HeaderValue::from_static("a"));
        h.insert("x-own-anything", HeaderValue::from_static("b"));
        h.insert("x-owner", HeaderValue::from_static("kept"));
        strip_control_headers(&mut h);
        assert_eq!(h.len(), 1);
        let t = time::macros::datetime!(2026-11-07 03:04:05 UTC);
        assert_eq!(format_time(t), "07/Nov/2026:03:04:05 +0000");
    }

    #[test]
    fn access_denied_is_a_502_naming_no_internals() {
        let route = Route { label: "hello-prod".into(), qualifier: Qualifier::Current };
        let f = invoke_failure(
            InvokeFailure::AccessDenied("User: arn:aws:sts::1:assumed-role/x is not authorized".into()),
            &route,
            "ownstak-hello-prod",
        );
        assert_eq!((f.status, f.code), (StatusCode::BAD_GATEWAY, "access_denied"));
        assert!(!f.message.contains("arn:"), "the client must not see the role: {}", f.message);
        let t = invoke_failure(InvokeFailure::Throttled, &route, "ownstak-hello-prod");
        assert_eq!((t.status, t.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        let n = invoke_failure(InvokeFailure::NotFound, &route, "ownstak-hello-prod");
        assert_eq!(n.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn maps_function_errors() {
        let f = function_failure("Sandbox.Timedout".into(), Some("Task timed out after 3.00 seconds".into()));
        assert_eq!(f.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(f.function_error.as_deref(), Some("Sandbox.Timedout"));
        let f = function_failure("Runtime.ExitError".into(), None);
        assert_eq!(f.status, StatusCode::BAD_GATEWAY);
        assert!(respond(b"not json").is_err());
        let ok = respond(br#"{"statusCode":201,"headers":{"content-length":"999","x-a":"1"},"body":"hi"}"#).unwrap();
        assert_eq!(ok.status(), 201);
        assert!(ok.headers().get("content-length").is_none());
    }
}
