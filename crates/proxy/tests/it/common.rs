//! Helpers shared by the proxy's integration tests: an in-process proxy on
//! a free port, and HTTP/1.1, h2c and TLS clients built on hyper and rustls.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ownstak_core::HostSuffix;
use ownstak_proxy::{Proxy, ProxyConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A generous upper bound for anything that should happen "soon".
pub(crate) const SOON: Duration = Duration::from_secs(15);

pub(crate) fn suffix() -> HostSuffix {
    HostSuffix::new("local", "dev", "localhost").unwrap()
}

/// The host name of `<label>` under the test suffix.
pub(crate) fn host(label: &str) -> String {
    format!("{label}.local.dev.localhost")
}

/// A config on a free port; without a backend, the Lambda endpoint is a
/// port nothing listens on (invocations fail fast with 502).
pub(crate) fn config(lambda: Option<&str>) -> ProxyConfig {
    let mut c = ProxyConfig::new(suffix(), Some(lambda.unwrap_or("http://127.0.0.1:9").to_owned()));
    c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c
}

/// An in-process proxy; it shuts down (drain 1 s) when dropped.
pub(crate) struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    pub(crate) async fn start(config: ProxyConfig) -> Running {
        let proxy = Proxy::bind(config).await.expect("bind the proxy");
        let addr = proxy.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(proxy.serve(
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        Running { addr, stop: Some(tx), task: Some(task) }
    }

    /// Stops and waits for the serve loop to return.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.task.take() {
            tokio::time::timeout(SOON, t).await.expect("serve returns after shutdown").expect("serve task");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}

pub(crate) type Body = Empty<Bytes>;

/// An HTTP/1.1 client connection; the handle resolves when the server closes it.
pub(crate) async fn h1(addr: SocketAddr) -> (http1::SendRequest<Body>, JoinHandle<hyper::Result<()>>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.expect("http1 handshake");
    (send, tokio::spawn(conn))
}

/// A cleartext HTTP/2 (prior knowledge) client connection.
pub(crate) async fn h2c(addr: SocketAddr) -> (http2::SendRequest<Body>, JoinHandle<hyper::Result<()>>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.expect("h2c handshake");
    (send, tokio::spawn(conn))
}

/// A TLS connection that trusts only the certificate in `ca_pem`, offering
/// `alpn`; returns the stream and the protocol the server chose.
pub(crate) async fn tls(
    addr: SocketAddr,
    ca_pem: &Path,
    server_name: &str,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).expect("read the CA file") {
        roots.add(cert.expect("a PEM certificate")).expect("add the root");
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let stream = connector.connect(name, tcp).await.expect("TLS handshake with a certificate the client trusts");
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (stream, alpn)
}

/// Sends a request on an HTTP/1.1 connection once it is ready for one.
pub(crate) async fn send1(
    send: &mut http1::SendRequest<Body>,
    req: Request<Body>,
) -> hyper::Result<Response<hyper::body::Incoming>> {
    send.ready().await?;
    send.send_request(req).await
}

/// A GET of `path` for `host` (HTTP/1.1 style: Host header, origin-form URI).
pub(crate) fn get(host: &str, path: &str) -> Request<Body> {
    Request::get(path).header("host", host).body(Empty::new()).unwrap()
}

/// A GET in absolute form (what HTTP/2 sends as :scheme/:authority/:path).
pub(crate) fn get_absolute(scheme: &str, host: &str, path: &str) -> Request<Body> {
    Request::get(format!("{scheme}://{host}{path}")).body(Empty::new()).unwrap()
}

/// Reads a whole response body as text.
pub(crate) async fn text(resp: Response<hyper::body::Incoming>) -> String {
    let bytes = resp.into_body().collect().await.expect("read the body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}
