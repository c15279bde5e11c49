//! Accepting connections — plain (HTTP/1.1 and cleartext HTTP/2) or TLS
//! (HTTP/2 or HTTP/1.1 by ALPN) — enforcing the connection limits, shedding
//! load beyond the in-flight limit, and draining on shutdown.
//!
//! A proxy may run several shards ([`ProxyConfig::shards`]): accept loops
//! on one address (`SO_REUSEPORT`, so the kernel spreads connections over
//! them), each serving its connections on a single thread. A request, the
//! pooled Lambda connection it uses and the tasks of both then stay on one
//! thread, where a work-stealing runtime would wake another thread several
//! times per request. The shards share the handler: its limits, counters
//! and drain state are the proxy's, not a shard's.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

use crate::body::ProxyBody;
use crate::config::ProxyConfig;
use crate::conn_limits::{Activity, Expiry, Protocol, Watched};
use crate::direct::DirectLambda;
use crate::handler::Handler;
use crate::invoker::Lambda;
use crate::limits::Limits;
use crate::tls::TlsError;

/// hyper refuses a read buffer smaller than this.
const HYPER_MIN_BUF: usize = 8192;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}; pick another address with --proxy-addr")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The Lambda client could not be set up.
    #[error("cannot set up the Lambda client: {0}")]
    Lambda(String),
}

/// The life of the server, as seen by its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Finish what is in flight, then close.
    Draining,
    /// The drain deadline passed: close now.
    Abort,
}

/// What every connection shares.
struct Shared {
    handler: Arc<Handler>,
    limits: Limits,
    /// Plain listener: HTTP/1.1, h2c by prior knowledge, upgrades.
    auto: auto::Builder<TokioExecutor>,
    /// TLS with ALPN `h2`.
    h2: auto::Builder<TokioExecutor>,
    /// TLS with ALPN `http/1.1` or none.
    h1: auto::Builder<TokioExecutor>,
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    listener: tokio::net::TcpListener,
    /// The other shards' listeners on the same address; [`Proxy::serve`]
    /// starts a thread for each.
    shards: Vec<std::net::TcpListener>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Loads or generates the TLS certificate (if any), binds the listener
    /// and builds the Lambda client.
    pub async fn bind(config: ProxyConfig) -> Result<Self, ProxyError> {
        let addr = config.listen;
        let bind_error = |source| ProxyError::Bind { addr, source };
        let (listener, shards) = if config.shards > 1 {
            let first = shard_listener(addr).map_err(bind_error)?;
            // With port 0 the others must join the port the first one got.
            let bound = first.local_addr().map_err(bind_error)?;
            let others = (1..config.shards)
                .map(|_| shard_listener(bound).and_then(tokio::net::TcpListener::into_std))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bind_error)?;
            (first, others)
        } else {
            (tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?, Vec::new())
        };
        let lambda = DirectLambda::new(&config).await.map_err(ProxyError::Lambda)?;
        let mut proxy = Self::with_listener(config, listener, Arc::new(lambda))?;
        proxy.shards = shards;
        Ok(proxy)
    }

    /// Like [`Proxy::bind`] on an already bound listener, invoking through `lambda`.
    pub fn with_listener(
        config: ProxyConfig,
        listener: tokio::net::TcpListener,
        lambda: Arc<dyn Lambda>,
    ) -> Result<Self, ProxyError> {
        let tls = crate::tls::server_config(&config.tls, &config.suffix)?.map(tokio_rustls::TlsAcceptor::from);
        let limits = config.limits.clone();
        let auto = builder(&limits);
        let shared = Shared {
            h2: auto.clone().http2_only(),
            h1: auto.clone().http1_only(),
            auto,
            limits,
            handler: Handler::new(config, lambda),
        };
        Ok(Self { listener, shards: Vec::new(), tls, shared: Arc::new(shared) })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The request handler shared by all connections (metrics, draining).
    pub fn handler(&self) -> Arc<Handler> {
        self.shared.handler.clone()
    }

    /// Whether connections are TLS (`https`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `https` with TLS, `http` without.
    pub fn scheme(&self) -> &'static str {
        if self.is_tls() { "https" } else { "http" }
    }

    /// Serves until `shutdown` resolves, then waits up to `drain` for open
    /// requests to finish; connections still open after that are closed.
    /// The first shard runs on the caller's runtime; each other shard on a
    /// thread of its own, which ends with the last of its connections.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let (phase, _) = watch::channel(Phase::Open);
        let phase = Arc::new(phase);
        let (stop, stopped) = watch::channel(false);
        let threads: Vec<_> = self
            .shards
            .into_iter()
            .enumerate()
            .filter_map(|(i, listener)| {
                let shard = Shard { shared: self.shared.clone(), tls: self.tls.clone(), phase: phase.clone() };
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("ownstak-proxy-{}", i + 1))
                    .spawn(move || shard.run(listener, stopped))
                    .map_err(|e| tracing::warn!(error = %e, "cannot start a proxy shard; serving with fewer"))
                    .ok()
            })
            .collect();
        let first = Shard { shared: self.shared.clone(), tls: self.tls.clone(), phase: phase.clone() };
        tokio::pin!(shutdown);
        let handler = self.shared.handler.clone();
        let purges = handler.purge_follower().map(tokio::spawn);
        let domains = handler.domain_follower().map(tokio::spawn);
        // Once `shutdown` resolves the proxy drains: health says 503 so that
        // load balancers stop sending, but connections are still accepted
        // and served until no request has been in progress for a moment, or
        // the drain deadline passes. Only then is the listener closed.
        let mut draining_since: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(DRAIN_POLL);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown, if draining_since.is_none() => {
                    tracing::info!(deadline_s = drain.as_secs(), "draining: health now answers 503; open and new requests are still served");
                    handler.start_draining();
                    draining_since = Some(tokio::time::Instant::now());
                    continue;
                }
                _ = tick.tick(), if draining_since.is_some() => {
                    let since = draining_since.map(|t| t.elapsed()).unwrap_or_default();
                    let quiet = handler.idle_for().is_some_and(|idle| idle >= DRAIN_QUIET && since >= DRAIN_QUIET);
                    if quiet || since >= drain {
                        break;
                    }
                    continue;
                }
            };
            first.spawn_connection(stream, peer);
        }
        let _ = stop.send(true);
        for follower in [purges, domains].into_iter().flatten() {
            follower.abort();
        }
        drop(self.listener);
        let _ = phase.send(Phase::Draining);
        let left = drain.saturating_sub(draining_since.map(|t| t.elapsed()).unwrap_or_default()).max(DRAIN_QUIET);
        if tokio::time::timeout(left, phase.closed()).await.is_err() {
            tracing::warn!("some connections were still open after the drain deadline; closing them");
            let _ = phase.send(Phase::Abort);
        }
        if !threads.is_empty() {
            let joined = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            });
            let _ = joined.await;
        }
    }
}

/// A listener that shares its address with the other shards' (`SO_REUSEPORT`).
fn shard_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// One accept loop's view of the proxy.
struct Shard {
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    phase: Arc<watch::Sender<Phase>>,
}

impl Shard {
    /// Serves one connection on the current runtime.
    fn spawn_connection(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        let phase = self.phase.subscribe();
        tokio::spawn(async move {
            match tls {
                None => serve_plain(shared, stream, peer, phase).await,
                Some(acceptor) => serve_tls(shared, acceptor, stream, peer, phase).await,
            }
        });
    }

    /// A shard's thread: accepts on `listener` until `stopped`, then keeps
    /// its connections running until every connection of the proxy ended
    /// (the first shard drives the drain and its deadline).
    fn run(self, listener: std::net::TcpListener, mut stopped: watch::Receiver<bool>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error = %e, "cannot start a proxy shard's runtime; serving with fewer"),
        };
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return tracing::warn!(error = %e, "cannot register a proxy shard's listener"),
            };
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => self.spawn_connection(stream, peer),
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
            drop(listener);
            self.phase.closed().await;
        });
    }
}

/// How long no request must have been in progress before a drain ends early.
const DRAIN_QUIET: Duration = Duration::from_millis(1000);
/// How often a drain checks whether it may end.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// The connection builder with the configured limits.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        // The head limit (hyper reads the head into this buffer).
        .max_buf_size(limits.max_header_bytes.max(HYPER_MIN_BUF))
        // hyper's own header timer also closes idle keep-alive connections
        // after the same time; heads are timed by `conn_limits` instead.
        .header_read_timeout(None);
    b.http2().max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX)).timer(TokioTimer::new());
    b
}

async fn serve_plain(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    phase: watch::Receiver<Phase>,
) {
    let activity = Activity::new(Protocol::Unknown);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let service = service(shared.clone(), activity.clone(), peer);
    let conn = shared.auto.serve_connection_with_upgrades(io, service);
    drive(conn, |c| c.graceful_shutdown(), &activity, &shared.limits, phase, peer).await;
}

async fn serve_tls(
    shared: Arc<Shared>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut phase: watch::Receiver<Phase>,
) {
    // The handshake is part of the request head: same deadline.
    let handshake = tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        },
        _ = phase.wait_for(|p| *p != Phase::Open) => return,
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Activity::new(if h2 { Protocol::Http2 } else { Protocol::Http1 });
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let service = service(shared.clone(), activity.clone(), peer);
    let builder = if h2 { &shared.h2 } else { &shared.h1 };
    // `serve_connection` (not `_with_upgrades`) so that the ALPN choice holds.
    let conn = builder.serve_connection(io, service);
    drive(conn, |c| c.graceful_shutdown(), &activity, &shared.limits, phase, peer).await;
}

/// The per-connection service: counts each request on its connection and
/// hands it to the handler.
fn service(
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ProxyBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static {
    service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let guard = activity.begin();
        async move { Ok::<_, Infallible>(shared.handler.handle(req, peer, guard).await) }
    })
}

/// Runs one connection to its end, closing it gracefully when it has been
/// idle too long or the server drains, and at once when a request head
/// stalls or the drain deadline passes.
async fn drive<C, E>(
    conn: C,
    shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: &Limits,
    mut phase: watch::Receiver<Phase>,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut open = true;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Abort };
                match now {
                    Phase::Open => {}
                    Phase::Draining => {
                        if open {
                            shutdown(conn.as_mut());
                            open = false;
                        }
                    }
                    Phase::Abort => return,
                }
            }
            expiry = activity.expiry(open, limits.idle_timeout, limits.header_read_timeout) => match expiry {
                Expiry::HeadTimeout => {
                    tracing::debug!(%peer, timeout = ?limits.header_read_timeout, "closing a connection whose request head did not arrive in time");
                    return;
                }
                Expiry::Idle => {
                    tracing::trace!(%peer, "closing an idle connection");
                    shutdown(conn.as_mut());
                    open = false;
                }
            },
        }
    }
}
