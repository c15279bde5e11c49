//! The local backend's S3-compatible endpoint: s3s serving a directory
//! through s3s-fs (see [`crate::conditional`]), over hyper, behind the
//! endpoint rules of [`ownstak_guard`].
//!
//! Every request first passes the shared guard (Host, Origin and an AWS
//! Signature V4); a refusal is answered in S3's XML error shape with code
//! `AccessDenied` (403). Then s3s checks the signature again with the one
//! key pair it knows, [`EndpointSecurity::keys`], which is also what
//! decodes `aws-chunked` uploads. With `verify_signatures` only that pair
//! is accepted (the guard verifies it with `aws-sigv4` first, for a clear
//! message). Otherwise any key is: a request signed with another key is
//! re-signed with the backend's pair before s3s sees it (see
//! [`ownstak_guard::resign`]), so boto3, the AWS CLI and the SDKs work with
//! whatever credentials they have. Addressing is path-style
//! (`http://<addr>/<bucket>/<key>`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use ownstak_guard::{AllowedOrigin, Api, Auth, Denial, Guard, KeyPair, Payload};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;

use crate::conditional::ConditionalFs;
use crate::error::AssetError;
use crate::{LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY};

/// Who may use the S3 endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSecurity {
    /// The backend's key pair: the one s3s knows, and with
    /// `verify_signatures` the only one accepted.
    pub keys: KeyPair,
    /// Where clients find `keys` (the credentials file), named in refusals.
    pub keys_source: String,
    /// Accept only requests signed with `keys`, instead of any key.
    pub verify_signatures: bool,
    /// Origins whose web pages may call the endpoint (`--allow-origin`).
    pub allowed_origins: Vec<AllowedOrigin>,
}

impl Default for EndpointSecurity {
    /// Any key accepted, the fixed local pair as the backend's, no origin allowed.
    fn default() -> Self {
        Self {
            keys: KeyPair::new(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
            keys_source: "the backend's data directory (file `credentials`)".to_owned(),
            verify_signatures: false,
            allowed_origins: Vec::new(),
        }
    }
}

/// The guard of one S3 endpoint.
struct S3Gate {
    guard: Guard,
    security: EndpointSecurity,
}

impl S3Gate {
    /// Host, Origin and signature; translates foreign signatures when any
    /// key is good. `Ok(Some(headers))` answers a CORS preflight.
    fn check(&self, parts: &mut http::request::Parts) -> Result<Option<http::HeaderMap>, Denial> {
        self.guard.check_caller(parts)?;
        if let Some(preflight) = self.guard.preflight(parts) {
            return Ok(Some(preflight));
        }
        self.guard.check_signature(parts, Api::S3, Payload::Declared)?;
        if !self.guard.verifies_signatures() {
            let sec = &self.security;
            ownstak_guard::resign(self.guard.endpoint(), parts, &sec.keys, &sec.keys_source)?;
        }
        Ok(None)
    }

    /// Serves one request: the guard, then s3s.
    async fn serve(
        &self,
        s3: &S3Service,
        request: http::Request<hyper::body::Incoming>,
    ) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
        let (mut parts, body) = request.into_parts();
        match self.check(&mut parts) {
            Ok(None) => {}
            Ok(Some(preflight)) => {
                let mut resp = http::Response::new(s3s::Body::empty());
                *resp.status_mut() = http::StatusCode::NO_CONTENT;
                *resp.headers_mut() = preflight;
                return Ok(resp);
            }
            Err(denial) => return Ok(refusal(&parts, &denial)),
        }
        let cors = self.guard.cors(&parts);
        let mut resp = s3.call(http::Request::from_parts(parts, s3s::Body::from(body))).await?;
        if let Some(headers) = cors {
            resp.headers_mut().extend(headers);
        }
        Ok(resp)
    }
}

/// S3's error document: `AccessDenied` with the guard's explanation.
fn refusal(parts: &http::request::Parts, denial: &Denial) -> http::Response<s3s::Body> {
    denial.log("S3 endpoint", &parts.method, parts.uri.path());
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{}</Message><Resource>{}</Resource></Error>",
        ownstak_guard::xml_escape(&denial.message),
        ownstak_guard::xml_escape(parts.uri.path())
    );
    let mut resp = http::Response::new(s3s::Body::from(xml));
    *resp.status_mut() = http::StatusCode::FORBIDDEN;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

/// How long open connections may finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);

/// A bound, not yet serving, S3 endpoint.
pub struct AssetServer {
    listener: TcpListener,
    service: S3Service,
    gate: Arc<S3Gate>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for AssetServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetServer").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl AssetServer {
    /// Binds `addr` and serves the objects under `root_dir` (created if
    /// missing; each bucket is a directory in it), with the default
    /// [`EndpointSecurity`].
    pub async fn bind(addr: SocketAddr, root_dir: &Path) -> Result<Self, AssetError> {
        Self::bind_with(addr, root_dir, EndpointSecurity::default()).await
    }

    /// Binds `addr` and serves the objects under `root_dir` to the clients
    /// `security` lets through.
    pub async fn bind_with(addr: SocketAddr, root_dir: &Path, security: EndpointSecurity) -> Result<Self, AssetError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| AssetError::Server(format!("cannot listen on {addr}: {e}")))?;
        Self::with_listener(listener, root_dir, security)
    }

    /// Serves on an already bound listener.
    pub fn with_listener(
        listener: TcpListener,
        root_dir: &Path,
        security: EndpointSecurity,
    ) -> Result<Self, AssetError> {
        std::fs::create_dir_all(root_dir).map_err(AssetError::io("cannot create", root_dir))?;
        let fs = s3s_fs::FileSystem::new(root_dir)
            .map_err(|e| AssetError::Server(format!("cannot open {}: {e:?}", root_dir.display())))?;
        let mut builder = S3ServiceBuilder::new(ConditionalFs::new(fs));
        let keys = &security.keys;
        builder.set_auth(SimpleAuth::from_single(keys.access_key_id(), keys.secret_access_key()));
        let service = builder.build();
        let local_addr = listener.local_addr().map_err(|e| AssetError::Server(e.to_string()))?;
        let auth = if security.verify_signatures {
            Auth::Verify { keys: security.keys.clone(), source: security.keys_source.clone() }
        } else {
            Auth::AnySignature
        };
        let guard = Guard::new("S3 endpoint", local_addr)
            .with_origins(security.allowed_origins.iter().cloned())
            .with_auth(auth);
        let gate = Arc::new(S3Gate { guard, security });
        Ok(Self { listener, service, gate, local_addr })
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
            let (s3, gate) = (self.service.clone(), self.gate.clone());
            let service = hyper::service::service_fn(move |req| {
                let (s3, gate) = (s3.clone(), gate.clone());
                async move { gate.serve(&s3, req).await }
            });
            let conn = http.serve_connection(TokioIo::new(socket), service);
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
