//! The proxy in front of a real local backend with examples/hello
//! deployed: HTTPS with a self-signed certificate and ALPN (HTTP/2 and
//! HTTP/1.1), h2c, the `ownstak proxy` TLS flags, and the in-flight limit
//! with a slow function.

use std::ffi::OsStr;
use std::time::Duration;

use crate::common::{Running, SOON, config, get, get_absolute, h1, h2c, host, send1, text, tls};
use http::Version;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ownstak_proxy::TlsSetting;
use ownstak_testkit::{Backend, ServerProcess, ownstak, tempdir, workspace_root};

fn hello_backend(data: &std::path::Path) -> Backend {
    let backend = Backend::start(data, &[]);
    backend.deploy(&workspace_root().join("examples/hello"), "hello", "prod", &[]);
    backend
}

/// Deploys the fixture built on the official `lambda_runtime` crate, which
/// answers with the event it received, as `ownstak-echo-prod` (`current`).
async fn deploy_echo(backend: &Backend) {
    ownstak_testkit::deploy_binary(
        &ownstak_testkit::lambda_client(&backend.lambda),
        "ownstak-echo-prod",
        "fixture-lambda-rs",
        "current",
    )
    .await;
}

/// `requestContext.http.protocol` of the event the echo function received.
async fn event_protocol(resp: http::Response<hyper::body::Incoming>) -> String {
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    doc["event"]["requestContext"]["http"]["protocol"]
        .as_str()
        .unwrap_or_else(|| panic!("no protocol in {doc}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate_serves_http2_and_http1_by_alpn() {
    let data = tempdir();
    let backend = hello_backend(data.path());
    deploy_echo(&backend).await;
    let certs = data.path().join("tls");
    let mut c = config(Some(&backend.lambda));
    c.tls = TlsSetting::SelfSigned { dir: certs.clone() };
    let proxy = Running::start(c).await;
    let ca = certs.join("cert.pem");
    let site = host("hello-prod");

    // ALPN h2: HTTP/2 end to end, routed by :authority.
    let (stream, alpn) = tls(proxy.addr, &ca, &site, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (mut send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(get_absolute("https", &site, "/api/info")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), Version::HTTP_2);
    let info: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(info["function"], "ownstak-hello-prod", "{info}");
    assert_eq!(info["path"], "/api/info");
    // The function's event says HTTP/2.0.
    let resp = send.send_request(get_absolute("https", &host("echo-prod"), "/proto")).await.unwrap();
    assert_eq!(event_protocol(resp).await, "HTTP/2.0");

    // ALPN http/1.1 only: HTTP/1.1.
    let (stream, alpn) = tls(proxy.addr, &ca, &site, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(get(&site, "/api/info")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), Version::HTTP_11);
    assert!(text(resp).await.contains("ownstak-hello-prod"));
    let resp = send1(&mut send, get(&host("echo-prod"), "/proto")).await.unwrap();
    assert_eq!(event_protocol(resp).await, "HTTP/1.1");

    // The certificate also covers localhost and 127.0.0.1.
    for name in ["localhost", "127.0.0.1"] {
        let (_stream, alpn) = tls(proxy.addr, &ca, name, &[b"h2"]).await;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "{name}");
    }
    proxy.stop().await;

    // The plain listener: cleartext HTTP/2 by prior knowledge.
    let plain = Running::start(config(Some(&backend.lambda))).await;
    let (mut send, _conn) = h2c(plain.addr).await;
    let resp = send.send_request(get_absolute("http", &site, "/api/info")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), Version::HTTP_2);
    assert!(text(resp).await.contains("ownstak-hello-prod"));
    let resp = send.send_request(get_absolute("http", &host("echo-prod"), "/proto")).await.unwrap();
    assert_eq!(event_protocol(resp).await, "HTTP/2.0");
    plain.stop().await;

    // `ownstak proxy --tls-self-signed`: reports an https URL and serves it,
    // reusing the pair generated above byte for byte.
    let before = std::fs::read(&ca).unwrap();
    let argv = [
        "proxy",
        "--json",
        "--proxy-addr",
        "127.0.0.1:0",
        "--lambda-endpoint",
        &backend.lambda,
        "--tls-self-signed",
        certs.to_str().unwrap(),
    ];
    let process = ServerProcess::start(&argv.iter().map(OsStr::new).collect::<Vec<_>>());
    let url = process.ready["proxy"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (stream, _) = tls(process.addr("proxy"), &ca, &site, &[b"h2"]).await;
    let (mut send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(get_absolute("https", &site, "/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(std::fs::read(&ca).unwrap(), before);
    assert!(process.stop().success());
    assert!(backend.stop().success());
}

#[test]
fn ownstak_proxy_refuses_half_a_self_signed_pair_and_bad_flag_combinations() {
    let dir = tempdir();
    std::fs::write(dir.path().join("cert.pem"), b"mine").unwrap();
    let path = dir.path().to_str().unwrap();
    let out = ownstak(&["proxy", "--proxy-addr", "127.0.0.1:0", "--tls-self-signed", path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cert.pem") && stderr.contains("key.pem"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("cert.pem")).unwrap(), b"mine");
    assert!(!dir.path().join("key.pem").exists());

    // clap: the pair needs both halves, and excludes --tls-self-signed.
    let out = ownstak(&["proxy", "--tls-cert", "c.pem"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let out = ownstak(&["proxy", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-self-signed", path]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    let out = ownstak(&["proxy", "--max-in-flight", "0"]);
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_holds_the_only_permit_and_outlasts_the_idle_timeout() {
    let data = tempdir();
    let backend = hello_backend(data.path());
    let mut c = config(Some(&backend.lambda));
    c.limits.max_in_flight = 1;
    c.limits.idle_timeout = Duration::from_secs(1);
    let proxy = Running::start(c).await;
    let addr = proxy.addr;
    let site = host("hello-prod");
    let (mut send, _conn) = h1(addr).await;
    // Warm the function so that probes below are quick.
    let warm = send.send_request(get(&site, "/api/info")).await.unwrap();
    assert_eq!(warm.status(), 200);
    text(warm).await;

    let (shed_headers, shed_body, status, body) = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let (mut send, _conn) = h1(addr).await;
            // A 3 s request on its own connection, idle timeout 1 s.
            let mut slow = tokio::spawn({
                let site = site.clone();
                async move {
                    let (mut send, _conn) = h1(addr).await;
                    let resp = send.send_request(get(&site, "/api/slow?ms=3000")).await.unwrap();
                    let status = resp.status();
                    (status, text(resp).await)
                }
            });
            loop {
                tokio::select! {
                    biased;
                    done = &mut slow => {
                        let (status, body) = done.unwrap();
                        // A probe held the permit when the slow request came in: try again.
                        assert_eq!(status, 503, "the slow request finished before any request was shed: {body}");
                        break;
                    }
                    resp = send1(&mut send, get(&site, "/api/info")) => {
                        let resp = resp.unwrap();
                        if resp.status() == 503 {
                            let headers = resp.headers().clone();
                            let shed_body = text(resp).await;
                            let (status, body) = tokio::time::timeout(SOON, &mut slow).await.expect("the slow request ends").unwrap();
                            if status == 503 {
                                // The slow request was itself shed by a probe
                                // whose permit was not yet released: try again.
                                break;
                            }
                            return (headers, shed_body, status, body);
                        }
                        text(resp).await;
                    }
                }
            }
        }
    })
    .await
    .expect("a request is shed while the slow one is in flight");
    assert_eq!(shed_headers["retry-after"], "1");
    let doc: serde_json::Value = serde_json::from_str(&shed_body).unwrap();
    assert_eq!(doc["error"]["code"], "overloaded", "{doc}");

    // The slow request itself is not cut by the idle timeout.
    assert_eq!(status, 200);
    assert_eq!(body, "slept 3000 ms\n");

    // With the permit back, requests are served again (on a new connection:
    // the probing one has been idle for longer than the idle timeout).
    let (mut send, _conn) = h1(addr).await;
    let status = tokio::time::timeout(SOON, async {
        loop {
            let resp = send1(&mut send, get(&site, "/api/info")).await.unwrap();
            let status = resp.status();
            text(resp).await;
            if status != 503 {
                return status;
            }
        }
    })
    .await
    .expect("served again");
    assert_eq!(status, 200);
    proxy.stop().await;
    assert!(backend.stop().success());
}
