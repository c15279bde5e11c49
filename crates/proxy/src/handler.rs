//! One request, in the order it is served:
//!
//! 1. the proxy's own endpoints ([`crate::internal`]) are answered at once;
//! 2. the request gets its id and its [`RequestScope`], and a permit, or a
//!    fast 503 when the proxy is at its in-flight limit;
//! 3. its host picks the function and alias ([`crate::routing`], with the
//!    custom domains of [`crate::domains`]), and a
//!    client pinned to an earlier deployment keeps it ([`crate::skew`]);
//! 4. static assets are answered from the store ([`crate::assets`]);
//! 5. the response cache answers, or says how to forward ([`crate::cache`]);
//! 6. the body is read and the event built ([`crate::event`]);
//! 7. the function is invoked ([`crate::forward`]) and its answer becomes
//!    the response ([`crate::response`]), compressed for the client
//!    ([`crate::compress`]) and stored by the cache on the way;
//! 8. any failure on the way becomes the proxy's own answer
//!    ([`crate::failure`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;
use ownstak_core::{REQUEST_ID_HEADER, valid_request_id};
use tokio::sync::Semaphore;

use crate::assets::ProxyAssets;
use crate::body::ProxyBody;
use crate::cache::{Lookup, ResponseCache};
use crate::config::ProxyConfig;
use crate::conn_limits::RequestGuard;
use crate::domains::Domains;
use crate::failure::{Failure, FailureKind, wants_html};
use crate::forward::Invoker;
use crate::invoker::Lambda;
use crate::metrics::Metrics;
use crate::routing::Target;
use crate::scope::{Access, Counters, RequestScope};
use crate::skew::Skew;
use crate::versions::Versions;
use crate::{cache, compress, domains, event, internal, routing};

/// Shared state of all connections.
pub struct Handler {
    config: ProxyConfig,
    invoker: Invoker,
    counters: Arc<Counters>,
    permits: Arc<Semaphore>,
    /// Request-body bytes that may be held at once.
    body_budget: Arc<Semaphore>,
    draining: AtomicBool,
    assets: ProxyAssets,
    cache: Option<Arc<ResponseCache>>,
    skew: Skew,
    domains: Arc<Domains>,
}

impl Handler {
    /// A handler for a configuration, invoking through `lambda`.
    pub fn new(config: ProxyConfig, lambda: Arc<dyn Lambda>) -> Arc<Self> {
        let versions = Arc::new(Versions::default());
        let assets = ProxyAssets::new(&config, versions.clone());
        let counters = Arc::new(Counters::new());
        let cache = config
            .cache
            .clone()
            .map(|c| ResponseCache::new(c, versions, counters.metrics.cache(), config.limits.invoke_timeout));
        let invoker = Invoker::new(&config, lambda, counters.clone());
        let skew = Skew::new(config.skew_window);
        let domains = Arc::new(Domains::new(config.prefix.clone()));
        let permits = Arc::new(Semaphore::new(config.limits.max_in_flight.min(Semaphore::MAX_PERMITS)));
        let body_budget = Arc::new(Semaphore::new(config.limits.max_body_bytes_in_flight.min(Semaphore::MAX_PERMITS)));
        Arc::new(Self {
            config,
            invoker,
            counters,
            permits,
            body_budget,
            draining: AtomicBool::new(false),
            assets,
            cache,
            skew,
            domains,
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

    /// The task that applies the backend's cache purges, when the proxy has
    /// a response cache and an asset store (which holds the purge log).
    pub(crate) fn purge_follower(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let cache = self.cache.as_ref()?;
        let Some(store) = self.assets.store() else {
            tracing::info!("no asset store: `ownstak cache purge` cannot reach this proxy's cache");
            return None;
        };
        Some(cache::follow_purges(Arc::downgrade(cache), store.clone()))
    }

    /// The task that keeps the custom domains up to date, when the proxy
    /// has an asset store (which holds the domain map).
    pub(crate) fn domain_follower(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let Some(store) = self.assets.store() else {
            tracing::info!("no asset store: this proxy routes no custom domains");
            return None;
        };
        Some(domains::follow(Arc::downgrade(&self.domains), store.clone(), domains::POLL_INTERVAL))
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

    /// Steps 3 to 7: the response for a request that holds a permit.
    async fn serve(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scope: &mut RequestScope,
    ) -> Result<Response<ProxyBody>, Failure> {
        let host = routing::request_host(&self.config, &req, peer)?;
        scope.access.host = Some(host.clone());
        let mut target = routing::target(&self.config, &self.domains, &host)?;
        self.skew.pin(self.invoker.lambda(), &mut target, req.uri(), req.headers()).await;
        scope.access.function.clone_from(&target.function);
        scope.access.qualifier.clone_from(&target.qualifier);
        let asset = self.assets.answer(self.invoker.lambda(), req.method(), req.uri().path(), req.headers(), &target);
        if let Some(resp) = asset.await {
            return Ok(resp);
        }
        // The deployment cookie is set on the way out, never stored in the cache.
        let answer = self.answer(req, peer, scope, &target).await;
        answer.map(|mut resp| {
            Skew::stamp(&target, &mut resp);
            resp
        })
    }

    /// Steps 5 to 7: the cache's answer, or the function's.
    async fn answer(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scope: &mut RequestScope,
        target: &Target,
    ) -> Result<Response<ProxyBody>, Failure> {
        let lookup = match &self.cache {
            Some(cache) => cache.lookup(self.invoker.lambda(), req.method(), req.uri(), req.headers(), target).await,
            None => Lookup::Bypass,
        };
        let fill = match lookup {
            Lookup::Hit(resp) => return Ok(resp),
            Lookup::Stale { response, refresh } => {
                if let Some(fill) = refresh {
                    let (parts, _) = req.into_parts();
                    self.refresh_in_background(parts, target.clone(), peer, &scope.access.request_id, *fill);
                }
                return Ok(response);
            }
            Lookup::Forward(fill) => Some(fill),
            Lookup::Bypass => None,
        };

        let encoding = compress::negotiate(req.headers());
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

        match fill {
            // A cached request invokes the version its key names.
            Some(fill) => {
                let answer = self.invoker.call(target, fill.version(), payload).await;
                fill.finish(answer.map(|r| compress::apply(r, encoding)))
            }
            None => {
                let answer = self.invoker.call(target, &target.qualifier, payload).await;
                let mut answer = answer.map(|r| compress::apply(r, encoding));
                if let (Ok(resp), Some(_)) = (&mut answer, &self.cache) {
                    cache::bypassed(resp.headers_mut());
                }
                answer
            }
        }
    }

    /// Refreshes a stale entry with a new invocation in the background;
    /// the request (a bodiless `GET`) has already been answered.
    fn refresh_in_background(
        &self,
        mut parts: http::request::Parts,
        target: routing::Target,
        peer: SocketAddr,
        request_id: &str,
        fill: cache::Fill,
    ) {
        event::strip_control_headers(&mut parts.headers);
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(v) = HeaderValue::from_str(&id) {
            parts.headers.insert(REQUEST_ID_HEADER, v);
        }
        tracing::debug!(%request_id, refresh_request_id = %id, function = %target.function, "refreshing a stale entry");
        let payload = event::payload(&self.config, &parts, &[], &target, peer, &id);
        let encoding = compress::negotiate(&parts.headers);
        let invoker = self.invoker.clone();
        tokio::spawn(async move {
            let answer = invoker.call(&target, fill.version(), payload).await;
            if let Ok(resp) = fill.finish(answer.map(|r| compress::apply(r, encoding))) {
                // Reading the body to its end stores it.
                let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
            }
        });
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
