//! Connection limits of the proxy, against an in-process proxy over real
//! sockets: request head size, header read timeout (slowloris), idle
//! keep-alive timeout, in-flight shedding, and self-signed certificates
//! that never overwrite a user's files.

use std::time::Duration;

use crate::common::{Running, SOON, config, get, h1, h2c, host, text};
use ownstak_proxy::{Proxy, ProxyError, TlsSetting};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (EOF or reset) and returns
/// what was read; panics if that does not happen within [`SOON`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(SOON, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server did not close the connection within {SOON:?}; read so far: {:?}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let mut c = config(None);
    c.limits.max_header_bytes = 16 * 1024;
    let proxy = Running::start(c).await;

    // Under the limit: the request reaches the handler (an unknown host: 404).
    let (mut send, _conn) = h1(proxy.addr).await;
    let req = http::Request::get("/")
        .header("host", "nope.example")
        .header("x-pad", "a".repeat(4 * 1024))
        .body(Default::default())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 404);

    // Over it: hyper answers 431 and closes.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!("GET / HTTP/1.1\r\nHost: nope.example\r\nX-Pad: {}\r\n\r\n", "a".repeat(32 * 1024));
    // The server may close before reading everything; a failed write is fine.
    let _ = tcp.write_all(head.as_bytes()).await;
    let answer = read_until_closed(&mut tcp).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "expected 431, got {answer:?}");

    // HTTP/2 (h2c): the h2 layer answers a header list over the limit with 431.
    let (mut send, _conn) = h2c(proxy.addr).await;
    let req = http::Request::get(format!("http://{}/", host("hello-prod")))
        .header("x-pad", "a".repeat(32 * 1024))
        .body(Default::default())
        .unwrap();
    let resp = send.send_request(req).await.expect("an HTTP/2 answer");
    assert_eq!(resp.status(), 431, "an oversized HTTP/2 header list");
    proxy.stop().await;
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_after_the_header_read_timeout() {
    let mut c = config(None);
    c.limits.header_read_timeout = Duration::from_secs(1);
    c.limits.idle_timeout = Duration::from_secs(600);
    let proxy = Running::start(c).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: hello-prod.local.dev.loc").await.unwrap();
    let seen = read_until_closed(&mut tcp).await;
    assert!(!String::from_utf8_lossy(&seen).contains(" 200 "), "no response to a partial head: {seen:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let mut c = config(None);
    c.limits.idle_timeout = Duration::from_secs(1);
    c.limits.header_read_timeout = Duration::from_secs(600);
    let proxy = Running::start(c).await;

    // HTTP/1.1: one request, then nothing; the server closes the connection.
    let (mut send, conn) = h1(proxy.addr).await;
    let resp = send.send_request(get("nope.example", "/")).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().get("connection").is_none_or(|v| v != "close"), "keep-alive was offered");
    text(resp).await;
    let ended = tokio::time::timeout(SOON, conn).await.expect("the idle HTTP/1.1 connection is closed by the server");
    ended.unwrap().expect("a clean close");

    // A connection that never sends a request is idle too.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    assert!(read_until_closed(&mut tcp).await.is_empty());

    // HTTP/2 (h2c): the server sends GOAWAY and closes.
    let (mut send, conn) = h2c(proxy.addr).await;
    let resp = send.send_request(crate::common::get_absolute("http", "nope.example", "/")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 404);
    text(resp).await;
    let ended = tokio::time::timeout(SOON, conn).await.expect("the idle h2c connection is closed by the server");
    ended.unwrap().expect("a clean close");
    proxy.stop().await;
}

#[tokio::test]
async fn beyond_max_in_flight_requests_get_an_immediate_503() {
    let mut c = config(None);
    c.limits.max_in_flight = 1;
    let proxy = Running::start(c).await;

    // The first request sends its head and part of its body, then stalls:
    // the handler is reading the body, so the request holds the only permit.
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!("POST /api/echo HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\nhalf-", host("hello-prod"));
    slow.write_all(head.as_bytes()).await.unwrap();

    // Other requests are shed (once the first one is in; until then they
    // pass and fail fast with 502, as no Lambda endpoint listens).
    let (mut send, _conn) = h1(proxy.addr).await;
    let shed = tokio::time::timeout(SOON, async {
        loop {
            let resp = crate::common::send1(&mut send, get(&host("hello-prod"), "/")).await.unwrap();
            if resp.status() == 503 {
                return resp;
            }
            text(resp).await;
        }
    })
    .await
    .expect("a request is shed while the stalled one holds the only permit");
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(shed.headers()["content-type"], "application/json");
    assert!(shed.headers().contains_key("x-request-id"));
    let doc: serde_json::Value = serde_json::from_str(&text(shed).await).unwrap();
    assert_eq!(doc["error"]["status"], 503);
    assert_eq!(doc["error"]["code"], "overloaded", "{doc}");
    // The proxy's own endpoints are never shed: health stays green.
    let health = crate::common::send1(&mut send, get("anything", "/__ownstak__/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    text(health).await;

    // The stalled request finishes (502: nothing serves Lambda here); its
    // permit is released and requests are served again.
    slow.write_all(b"12345").await.unwrap();
    let answer = read_first_response_head(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    let served = tokio::time::timeout(SOON, async {
        loop {
            let resp = crate::common::send1(&mut send, get(&host("hello-prod"), "/")).await.unwrap();
            let status = resp.status();
            text(resp).await;
            if status != 503 {
                return status;
            }
        }
    })
    .await
    .expect("requests are served again once the permit is back");
    assert_eq!(served, 502);
    proxy.stop().await;
}

/// Reads until the end of a response head.
async fn read_first_response_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(SOON, async {
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a response");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a response head");
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn self_signed_certificates_are_generated_once_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("tls");

    // A directory holding only a (junk) cert.pem: a clear error, nothing touched.
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("cert.pem"), b"junk, but the user's junk").unwrap();
    let mut c = config(None);
    c.tls = TlsSetting::SelfSigned { dir: certs.clone() };
    let err = Proxy::bind(c.clone()).await.err().expect("half a pair is refused");
    assert!(matches!(err, ProxyError::Tls(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("cert.pem") && message.contains("key.pem"), "the error names both files: {message}");
    assert_eq!(std::fs::read(certs.join("cert.pem")).unwrap(), b"junk, but the user's junk");
    assert!(!certs.join("key.pem").exists());

    // An empty directory: a pair is generated, then reused byte for byte.
    std::fs::remove_file(certs.join("cert.pem")).unwrap();
    let proxy = Running::start(c.clone()).await;
    let first = (std::fs::read(certs.join("cert.pem")).unwrap(), std::fs::read(certs.join("key.pem")).unwrap());
    assert!(first.0.starts_with(b"-----BEGIN CERTIFICATE-----"));
    proxy.stop().await;
    let proxy = Running::start(c.clone()).await;
    assert_eq!(first, (std::fs::read(certs.join("cert.pem")).unwrap(), std::fs::read(certs.join("key.pem")).unwrap()));
    proxy.stop().await;

    // Explicit files that are missing or invalid are named in the error.
    c.tls = TlsSetting::Files { cert: dir.path().join("missing.pem"), key: certs.join("key.pem") };
    let err = Proxy::bind(c.clone()).await.err().expect("a missing certificate file is refused");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    std::fs::write(dir.path().join("junk.pem"), b"junk").unwrap();
    c.tls = TlsSetting::Files { cert: certs.join("cert.pem"), key: dir.path().join("junk.pem") };
    let err = Proxy::bind(c).await.err().expect("an invalid key file is refused");
    assert!(err.to_string().contains("junk.pem"), "{err}");
}
