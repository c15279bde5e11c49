//! One request, in the order it is served:
//!
//! 1. the proxy's own endpoints ([`crate::internal`]) are answered at once;
//! 2. the request gets its id and its [`RequestScope`], and a permit, or a
//!    fast 503 when the proxy is at its in-flight limit;
//! 3. its host picks the function and alias ([`crate::routing`]), and a
//!    client pinned to an earlier deployment keeps it ([`crate::skew`]);
//! 4. static assets are answered from the store ([`crate::assets`]);
//! 5. the body is read and the event built ([`crate::event`]);
//! 6. the function is invoked ([`crate::invoker`]) and its answer becomes
//!    the response ([`crate::response`]);
//! 7. any failure on the way becomes the proxy's own answer
//!    ([`crate::failure`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;
use ownstak_core::{REQUEST_ID_HEADER, valid_request_id};
use tokio::sync::Semaphore;

use crate::assets::ProxyAssets;
use crate::body::ProxyBody;
use crate::config::{InvokeMode, ProxyConfig};
use crate::conn_limits::RequestGuard;
use crate::failure::{Failure, FailureKind, wants_html};
use crate::invoker::{InvokeFailure, Lambda};
use crate::metrics::Metrics;
use crate::response::AnswerLimits;
use crate::routing::Target;
use crate::scope::{Access, Counters, RequestScope};
use crate::skew::Skew;
use crate::{event, internal, response, routing};

/// Shared state of all connections.
pub struct Handler {
    config: ProxyConfig,
    lambda: Arc<dyn Lambda>,
    counters: Arc<Counters>,
    permits: Arc<Semaphore>,
    /// Request-body bytes that may be held at once.
    body_budget: Arc<Semaphore>,
    draining: AtomicBool,
    assets: ProxyAssets,
    skew: Skew,
}

impl Handler {
    /// A handler for a configuration, invoking through `lambda`.
    pub fn new(config: ProxyConfig, lambda: Arc<dyn Lambda>) -> Arc<Self> {
        let assets = ProxyAssets::new(&config);
        let skew = Skew::new(config.skew_window);
        let permits = Arc::new(Semaphore::new(config.limits.max_in_flight.min(Semaphore::MAX_PERMITS)));
        let body_budget = Arc::new(Semaphore::new(config.limits.max_body_bytes_in_flight.min(Semaphore::MAX_PERMITS)));
        Arc::new(Self {
            config,
            lambda,
            counters: Arc::new(Counters::new()),
            permits,
            body_budget,
            draining: AtomicBool::new(false),
            assets,
            skew,
        })
    }

    /// How long no request has been in progress; `None` while one is.
    pub fn idle_for(&self) -> Option<Duration> {
        self.counters.idle_for()
    }

    /// Turns health to 503 so that load balancers stop sending traffic;
    /// requests are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// The proxy's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.counters.metrics
    }

    /// Serves one request from `peer`; `connection` counts it on its
    /// connection until its response ends.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        connection: RequestGuard,
    ) -> Response<ProxyBody> {
        let path = req.uri().path();
        if path.starts_with(internal::PREFIX) {
            let metrics = self.config.expose_metrics.then_some(&self.counters.metrics);
            return internal::answer(path, self.draining.load(Ordering::SeqCst), metrics);
        }
        let request_id = req
            .headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| valid_request_id(id))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let html = wants_html(req.headers());
        let access = Access { request_id, method: req.method().clone(), path: path.to_owned(), ..Access::default() };
        let mut scope = RequestScope::begin(&self.counters, Some(connection), access);
        let served = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                scope.hold(permit);
                self.serve(req, peer, &mut scope).await
            }
            Err(_) => Err(Failure::new(
                FailureKind::Overloaded,
                format!(
                    "the proxy is already serving its limit of {} requests at once; retry shortly",
                    self.config.limits.max_in_flight
                ),
            )),
        };
        let mut resp = served.unwrap_or_else(|failure| {
            if failure.kind == FailureKind::Throttled {
                self.counters.metrics.throttled();
            }
            failure.log(&scope.access.request_id, &scope.access.function);
            failure.render(html, &scope.access.request_id)
        });
        if let Ok(v) = HeaderValue::from_str(&scope.access.request_id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        scope.set_status(resp.status());
        resp.body_mut().attach(scope);
        resp
    }

    /// Steps 3 to 6: the response for a request that holds a permit.
    async fn serve(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scope: &mut RequestScope,
    ) -> Result<Response<ProxyBody>, Failure> {
        let host = routing::request_host(&self.config, &req, peer)?;
        scope.access.host = Some(host.clone());
        let mut target = routing::target(&self.config, &host)?;
        self.skew.pin(&*self.lambda, &mut target, req.uri(), req.headers()).await;
        scope.access.function.clone_from(&target.function);
        scope.access.qualifier.clone_from(&target.qualifier);
        let asset = self.assets.answer(&*self.lambda, req.method(), req.uri().path(), req.headers(), &target).await;
        if let Some(resp) = asset {
            return Ok(resp);
        }
        let answer = self.invoke(req, peer, scope, &target).await;
        answer.map(|mut resp| {
            Skew::stamp(&target, &mut resp);
            resp
        })
    }

    /// Steps 5 and 6: the event, the invocation and its answer.
    async fn invoke(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scope: &mut RequestScope,
        target: &Target,
    ) -> Result<Response<ProxyBody>, Failure> {
        let (mut parts, body) = req.into_parts();
        // The body's bytes are reserved before they are read and held until
        // the invocation is sent: a burst of large uploads is refused at
        // once instead of filling memory.
        let _budget = self.reserve_body(&body)?;
        let body = event::read_body(&self.config, body).await?;
        scope.access.bytes_in = body.len() as u64;
        event::strip_control_headers(&mut parts.headers);
        if let Ok(id) = HeaderValue::from_str(&scope.access.request_id) {
            parts.headers.insert(REQUEST_ID_HEADER, id);
        }
        let payload = event::payload(&self.config, &parts, &body, target, peer, &scope.access.request_id);
        drop(body);

        let limits = AnswerLimits {
            head_bytes: self.config.limits.max_response_head_bytes,
            buffered_bytes: self.config.limits.max_buffered_response_bytes,
        };
        let invoked_at = Instant::now();
        let (function, qualifier) = (&target.function, &target.qualifier);
        let answer = match self.config.invoke_mode {
            InvokeMode::Buffered => {
                let invoked = self.lambda.invoke(function, qualifier, payload).await;
                response::from_invoked(invoked.map_err(|f| invoke_failure(f, target))?, limits)
            }
            InvokeMode::Streaming => {
                let events = self.lambda.invoke_stream(function, qualifier, payload).await;
                let deadline = invoked_at + self.config.limits.invoke_timeout;
                response::from_events(events.map_err(|f| invoke_failure(f, target))?, deadline, limits).await
            }
        };
        self.counters.metrics.invoke_latency(invoked_at.elapsed().as_secs_f64());
        answer
    }
}

impl Handler {
    /// Reserves the request body's bytes in the proxy's body budget.
    fn reserve_body(&self, body: &Incoming) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Failure> {
        let limit = self.config.limits.max_body_bytes;
        let size = http_body::Body::size_hint(body);
        let bytes = size.upper().map_or(limit as u64, |n| n.min(limit as u64));
        if bytes == 0 {
            return Ok(None);
        }
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.body_budget.clone().try_acquire_many_owned(bytes).map(Some).map_err(|_| {
            Failure::new(
                FailureKind::Overloaded,
                format!(
                    "the proxy is already holding its limit of {} MiB of request bodies; retry shortly",
                    self.config.limits.max_body_bytes_in_flight / (1024 * 1024)
                ),
            )
        })
    }
}

/// The answer when an invocation did not happen.
fn invoke_failure(f: InvokeFailure, target: &Target) -> Failure {
    match f {
        InvokeFailure::NotFound => routing::not_found(&target.route),
        InvokeFailure::Throttled => {
            Failure::new(FailureKind::Throttled, "the function is at its concurrency limit; retry shortly")
        }
        InvokeFailure::AccessDenied(message) => {
            tracing::error!(function = %target.function, permission = "lambda:InvokeFunction", %message, "the proxy's role may not invoke this function; grant it lambda:InvokeFunction on the function (this action also covers streaming invokes)");
            Failure::new(FailureKind::AccessDenied, "the proxy is not allowed to invoke this function")
        }
        InvokeFailure::TooLarge => Failure::new(FailureKind::RequestTooLarge, "the request is too large for Lambda"),
        InvokeFailure::Api { code, message } => {
            Failure::new(FailureKind::InvokeFailed, format!("Lambda refused the invocation: {code}: {message}"))
        }
        InvokeFailure::Unreachable(detail) => {
            tracing::error!(%detail, "lambda unreachable");
            Failure::new(FailureKind::LambdaUnreachable, "the Lambda service could not be reached")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ownstak_core::{Qualifier, Route};

    #[test]
    fn access_denied_is_a_502_naming_no_internals() {
        let route = Route { label: "hello-prod".into(), qualifier: Qualifier::Current };
        let target = Target {
            route,
            function: "ownstak-hello-prod".into(),
            qualifier: "current".into(),
            domain: "hello-prod.local.dev.localhost".into(),
        };
        let f = invoke_failure(
            InvokeFailure::AccessDenied("User: arn:aws:sts::1:assumed-role/x is not authorized".into()),
            &target,
        );
        assert_eq!(f.kind, FailureKind::AccessDenied);
        assert!(!f.message.contains("arn:"), "the client must not see the role: {}", f.message);
        assert_eq!(invoke_failure(InvokeFailure::Throttled, &target).kind, FailureKind::Throttled);
        assert_eq!(invoke_failure(InvokeFailure::NotFound, &target).kind, FailureKind::DeploymentNotFound);
    }
}
