//! One persistent HTTP/1.1 keep-alive connection that reconnects on demand.
//!
//! The runtime handles one invocation at a time, so a pool of one
//! connection per peer (the Runtime API, the app) is all it needs, and it
//! costs no locking or pool bookkeeping on the hot path.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::error::ConnError;

/// The default request body type sent on a [`Connection`]: a whole body in memory.
pub(crate) type RequestBody = Full<Bytes>;

/// A lazily opened, reused HTTP/1.1 connection to one peer, sending request bodies of type `B`.
#[derive(Debug)]
pub(crate) struct Connection<B = RequestBody> {
    addr: String,
    socket_addr: Option<SocketAddr>,
    sender: Option<SendRequest<B>>,
    driver: Option<JoinHandle<()>>,
}

impl<B> Connection<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A connection to `addr` (`host:port`), opened at the first request.
    pub(crate) fn new(addr: impl Into<String>) -> Self {
        let addr = addr.into();
        // A literal address avoids a DNS lookup (and its blocking thread).
        let socket_addr = addr.parse().ok();
        Self { addr, socket_addr, sender: None, driver: None }
    }

    /// The peer's `host:port`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Opens the connection now unless one is open already.
    pub(crate) async fn warm_up(&mut self) -> Result<(), ConnError> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.open(None).await?;
        }
        Ok(())
    }

    /// Adopts an already connected stream (such as a readiness probe's) as the connection.
    pub(crate) async fn adopt(&mut self, stream: TcpStream) -> Result<(), ConnError> {
        self.open(Some(stream)).await.map(drop)
    }

    /// Sends a request and returns the response head and its streaming body.
    ///
    /// A request that was never written because the kept-alive connection
    /// had closed is retried once on a fresh connection; anything that may
    /// have reached the peer is not retried.
    pub(crate) async fn send(&mut self, mut request: Request<B>) -> Result<Response<Incoming>, ConnError> {
        let mut fresh = false;
        loop {
            let sender = match self.sender.as_mut() {
                Some(sender) if !sender.is_closed() => sender,
                _ => {
                    fresh = true;
                    self.open(None).await?
                }
            };
            if let Err(source) = sender.ready().await {
                self.reset();
                if fresh {
                    return Err(ConnError::Http { addr: self.addr.clone(), source });
                }
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(response),
                Err(mut err) => {
                    self.reset();
                    match err.take_message() {
                        Some(unsent) if !fresh => request = unsent,
                        _ => return Err(ConnError::Http { addr: self.addr.clone(), source: err.into_error() }),
                    }
                }
            }
        }
    }

    async fn open(&mut self, stream: Option<TcpStream>) -> Result<&mut SendRequest<B>, ConnError> {
        self.reset();
        let stream = match stream {
            Some(stream) => stream,
            None => {
                let connected = match self.socket_addr {
                    Some(addr) => TcpStream::connect(addr).await,
                    None => TcpStream::connect(self.addr.as_str()).await,
                };
                connected.map_err(|source| ConnError::Connect { addr: self.addr.clone(), source })?
            }
        };
        // Small requests and responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ConnError::Http { addr: self.addr.clone(), source })?;
        let addr = self.addr.clone();
        self.driver = Some(tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%addr, error = %err, "connection closed with an error");
            }
        }));
        Ok(self.sender.insert(sender))
    }
}

impl<B> Connection<B> {
    /// Closes the connection (for instance after an abandoned exchange); the next request reconnects.
    pub(crate) fn reset(&mut self) {
        self.sender = None;
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

impl<B> Drop for Connection<B> {
    fn drop(&mut self) {
        self.reset();
    }
}
