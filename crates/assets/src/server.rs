//! The local backend's S3-compatible endpoint: s3s serving a directory
//! through s3s-fs (see [`crate::conditional`]), over hyper.
//!
//! Requests must be signed with the fixed local credentials
//! ([`crate::LOCAL_ACCESS_KEY`] / [`crate::LOCAL_SECRET_KEY`]); addressing
//! is path-style (`http://<addr>/<bucket>/<key>`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;

use crate::conditional::ConditionalFs;
use crate::error::AssetError;
use crate::{LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY};

/// How long open connections may finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);

/// A bound, not yet serving, S3 endpoint.
pub struct AssetServer {
    listener: TcpListener,
    service: S3Service,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for AssetServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetServer").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl AssetServer {
    /// Binds `addr` and serves the objects under `root_dir` (created if
    /// missing; each bucket is a directory in it).
    pub async fn bind(addr: SocketAddr, root_dir: &Path) -> Result<Self, AssetError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| AssetError::Server(format!("cannot listen on {addr}: {e}")))?;
        Self::with_listener(listener, root_dir)
    }

    /// Serves on an already bound listener.
    pub fn with_listener(listener: TcpListener, root_dir: &Path) -> Result<Self, AssetError> {
        std::fs::create_dir_all(root_dir).map_err(AssetError::io("cannot create", root_dir))?;
        let fs = s3s_fs::FileSystem::new(root_dir)
            .map_err(|e| AssetError::Server(format!("cannot open {}: {e:?}", root_dir.display())))?;
        let mut builder = S3ServiceBuilder::new(ConditionalFs::new(fs));
        builder.set_auth(SimpleAuth::from_single(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY));
        let service = builder.build();
        let local_addr = listener.local_addr().map_err(|e| AssetError::Server(e.to_string()))?;
        Ok(Self { listener, service, local_addr })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint URL for S3 clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Serves until `shutdown` resolves, then lets open connections finish
    /// for a few seconds.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let http = ConnBuilder::new(TokioExecutor::new());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(addr = %self.local_addr, "asset store (S3) listening");
        loop {
            let socket = tokio::select! {
                res = self.listener.accept() => match res {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!(error = %e, "asset store: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = shutdown.as_mut() => break,
            };
            let conn = http.serve_connection(TokioIo::new(socket), self.service.clone());
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "asset store connection ended with an error");
                }
            });
        }
        if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
            tracing::debug!("asset store: connections still open after the drain time; closing");
        }
        tracing::info!("asset store stopped");
    }
}
