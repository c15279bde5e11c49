//! One request: route by host, build the event, invoke, answer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use ownstak_core::apigw::{HttpEvent, HttpResponse, RequestMeta};
use ownstak_core::{HostError, Qualifier, Route};

use crate::body::{BodyError, ProxyBody};
use crate::config::{InvokeMode, ProxyConfig};
use crate::error::ProxyFailure;
use crate::invoker::{InvokeFailure, Invoked, Invoker, ResponseEvents, StreamEvent};
use ownstak_core::stream::{Decoded, PreludeDecoder};

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
}

impl Handler {
    /// A handler for a configuration and invoker.
    pub fn new(config: ProxyConfig, invoker: Invoker) -> Arc<Self> {
        Arc::new(Self { config, invoker })
    }

    /// Serves one request from `peer`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let accept = req.headers().clone();
        let mut resp = match self.serve(req, peer, &request_id).await {
            Ok(r) => r,
            Err(f) => {
                tracing::debug!(status = f.status.as_u16(), code = f.code, message = %f.message, %request_id, "request failed");
                f.render(&accept, &request_id)
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        resp
    }

    async fn serve(&self, req: Request<Incoming>, peer: SocketAddr, request_id: &str) -> Result<Response<ProxyBody>, ProxyFailure> {
        let host = routing_host(&req).ok_or_else(|| ProxyFailure::new(StatusCode::BAD_REQUEST, "missing_host", "the request has no Host header"))?;
        let route = self.config.suffix.route(&host).map_err(host_failure)?;
        let function = route.function(&self.config.prefix);
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, self.config.limits.max_body_bytes).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ProxyFailure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    format!("the request body is larger than {} bytes, the most a function accepts", self.config.limits.max_body_bytes),
                )
            } else {
                ProxyFailure::new(StatusCode::BAD_REQUEST, "bad_request_body", format!("the request body could not be read: {e}"))
            }
        })?;
        let body = body.to_bytes();
        let mut headers = parts.headers;
        strip_control_headers(&mut headers);
        headers.insert(REQUEST_ID, HeaderValue::from_str(request_id).unwrap_or_else(|_| HeaderValue::from_static("invalid")));
        let now = time::OffsetDateTime::now_utc();
        let domain = host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host.as_str(), |(h, _)| h).to_ascii_lowercase();
        let meta = RequestMeta {
            account_id: self.config.account_id.clone(),
            api_id: self.config.api_id.clone(),
            domain_name: domain,
            source_ip: peer.ip().to_string(),
            request_id: request_id.to_owned(),
            time: format_time(now),
            time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
        };
        let event = HttpEvent::from_request(&parts.method, &parts.uri, parts.version, &headers, &body, meta);
        let payload = serde_json::to_vec(&event).map_err(|e| ProxyFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "event_encoding", e.to_string()))?;
        let qualifier = route.qualifier.alias();
        match self.config.invoke_mode {
            InvokeMode::Buffered => {
                let invoked = self.invoker.invoke(&function, &qualifier, payload).await.map_err(|f| invoke_failure(f, &route))?;
                match invoked {
                    Invoked::Payload(payload) => respond(&payload),
                    Invoked::FunctionError { error_type, message } => Err(function_failure(error_type, message)),
                }
            }
            InvokeMode::Streaming => {
                let events = self.invoker.invoke_stream(&function, &qualifier, payload).await.map_err(|f| invoke_failure(f, &route))?;
                self.stream(events).await
            }
        }
    }

    /// Reads the response head from the event stream, then streams the body
    /// to the client as it arrives.
    async fn stream(&self, mut events: ResponseEvents) -> Result<Response<ProxyBody>, ProxyFailure> {
        let mut decoder = PreludeDecoder::new(self.config.max_response_head_bytes);
        let (status, mut headers, first) = loop {
            match events.next().await {
                Ok(Some(StreamEvent::Chunk(c))) => match decoder.push(&c).map_err(malformed)? {
                    Decoded::NeedMore => {}
                    Decoded::Head { status, headers, body } => break (status, headers, body),
                },
                Ok(Some(StreamEvent::Complete(None))) => {
                    let (status, headers, body) = decoder.finish().map_err(malformed)?;
                    return Ok(build(status, headers, ProxyBody::full(body)));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::FunctionError { error_type, message })))) => {
                    return Err(function_failure(error_type, message));
                }
                Ok(Some(StreamEvent::Complete(Some(Invoked::Payload(_))))) => {}
                Ok(None) => return Err(cut_off("the response ended before its head")),
                Err(e) => return Err(cut_off(&e)),
            }
        };
        for h in HOP_BY_HOP.iter().chain(&["content-length"]) {
            headers.remove(*h);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(pump(events, first, tx));
        let mut resp = Response::new(ProxyBody::Stream(rx));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        Ok(resp)
    }
}

/// Moves body chunks from the function to the client. A full channel (a
/// slow client) stops the reading; a closed one (a client that left) ends
/// it; a failure ends the body with an error, which aborts the response.
async fn pump(mut events: ResponseEvents, first: Bytes, tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>) {
    if !first.is_empty() && tx.send(Ok(first)).await.is_err() {
        return;
    }
    loop {
        let item = match events.next().await {
            Ok(Some(StreamEvent::Chunk(c))) => Ok(c),
            Ok(Some(StreamEvent::Complete(None))) => return,
            Ok(Some(StreamEvent::Complete(Some(Invoked::FunctionError { error_type, message })))) => {
                tracing::warn!(%error_type, message = message.as_deref().unwrap_or(""), "function failed mid-stream");
                Err(BodyError(format!("{error_type}: {}", message.unwrap_or_default())))
            }
            Ok(Some(StreamEvent::Complete(Some(Invoked::Payload(_))))) => continue,
            Ok(None) => Err(BodyError("the stream ended without completion".to_owned())),
            Err(e) => Err(BodyError(e)),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

fn malformed(e: ownstak_core::stream::StreamError) -> ProxyFailure {
    ProxyFailure::new(StatusCode::BAD_GATEWAY, "malformed_response", format!("the function returned a malformed response: {e}"))
}

fn cut_off(detail: &str) -> ProxyFailure {
    ProxyFailure::new(StatusCode::BAD_GATEWAY, "response_cut_off", format!("the function's response broke off: {detail}"))
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

fn invoke_failure(f: InvokeFailure, route: &Route) -> ProxyFailure {
    match f {
        InvokeFailure::NotFound => ProxyFailure::new(
            StatusCode::NOT_FOUND,
            "deployment_not_found",
            format!("{} (project-environment `{}`); check the URL or list deployments with `ownstak deployments`", describe(route), route.label),
        ),
        InvokeFailure::Throttled => {
            ProxyFailure::new(StatusCode::SERVICE_UNAVAILABLE, "throttled", "the function is at its concurrency limit; retry shortly")
        }
        InvokeFailure::TooLarge => ProxyFailure::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", "the request is too large for Lambda"),
        InvokeFailure::Api { code, message } => {
            tracing::warn!(%code, %message, "lambda refused the invocation");
            ProxyFailure::new(StatusCode::BAD_GATEWAY, "invoke_failed", format!("Lambda refused the invocation: {code}: {message}"))
        }
        InvokeFailure::Unreachable(detail) => {
            tracing::error!(%detail, "lambda unreachable");
            ProxyFailure::new(StatusCode::BAD_GATEWAY, "lambda_unreachable", "the Lambda service could not be reached")
        }
    }
}

fn function_failure(error_type: String, message: Option<String>) -> ProxyFailure {
    let timed_out = error_type == "Sandbox.Timedout" || message.as_deref().is_some_and(|m| m.contains("Task timed out"));
    let (status, code, text) = if timed_out {
        (StatusCode::GATEWAY_TIMEOUT, "function_timeout", "the function did not answer within its timeout")
    } else {
        (StatusCode::BAD_GATEWAY, "function_error", "the function failed while handling the request")
    };
    let detail = message.map(|m| format!("{text}: {error_type}: {m}")).unwrap_or_else(|| format!("{text}: {error_type}"));
    let mut f = ProxyFailure::new(status, code, detail);
    f.function_error = Some(error_type);
    f
}

/// Turns a function's buffered API Gateway v2 payload into the response.
fn respond(payload: &[u8]) -> Result<Response<ProxyBody>, ProxyFailure> {
    let malformed = |e: ownstak_core::apigw::ConvertError| malformed(e.into());
    let (status, headers, body) = HttpResponse::from_payload(payload).and_then(HttpResponse::into_http).map_err(malformed)?;
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
