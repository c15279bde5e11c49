//! Serving the Lambda API with graceful shutdown.

use axum::serve::ListenerExt as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::LocalConfig;
use crate::service::Service;
use crate::store::StoreError;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The state could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}; pick another address with --lambda-addr")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the Lambda API server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// A bound, not yet serving, local Lambda service.
pub struct LocalLambda {
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
}

impl LocalLambda {
    /// Opens the state and binds the listener.
    pub async fn bind(config: LocalConfig) -> Result<Self, ServerError> {
        let addr = config.lambda_addr;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        Self::with_listener(config, listener)
    }

    /// Opens the state and serves on an already bound listener (so that a
    /// caller can learn the port before building the configuration).
    pub fn with_listener(mut config: LocalConfig, listener: tokio::net::TcpListener) -> Result<Self, ServerError> {
        // Functions reach the SSM endpoint at the address actually bound (port 0 included).
        if let Ok(addr) = listener.local_addr() {
            config.lambda_addr = addr;
        }
        let service = Service::open(config)?;
        Ok(Self { service, listener })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener.local_addr().unwrap_or(self.service.config.lambda_addr)
    }

    /// The service, for in-process inspection.
    pub fn service(&self) -> Arc<Service> {
        self.service.clone()
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish,
    /// then stops every environment.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let app = crate::api::router(self.service.clone());
        let result = axum::serve(
            self.listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            app,
        )
        .with_graceful_shutdown(shutdown)
        .await;
        self.service.pool.shutdown();
        result.map_err(ServerError::Serve)
    }
}
