//! Accepting connections (HTTP/1.1 and cleartext HTTP/2) and draining
//! them on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

use crate::config::ProxyConfig;
use crate::handler::Handler;
use crate::invoker::Invoker;

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
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
}

impl Proxy {
    /// Binds the listener and builds the Lambda client.
    pub async fn bind(config: ProxyConfig) -> Result<Self, ProxyError> {
        let addr = config.listen;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?;
        let invoker = Invoker::new(&config).await;
        Ok(Self { listener, handler: Handler::new(config, invoker) })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` resolves, then waits up to `drain` for open
    /// requests to finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
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
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let handler = self.handler.clone();
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler.handle(req, peer).await) }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
            tracing::warn!("some connections were still open after the drain deadline");
        }
    }
}
