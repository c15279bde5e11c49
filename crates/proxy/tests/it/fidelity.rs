//! Event fidelity and error answers of the LambdaProxy, against the real
//! local backend running a function built with the official
//! `lambda_runtime` crate that echoes the event it received.

use std::time::Duration;

use base64::Engine as _;
use ownstak_core::HostSuffix;
use ownstak_proxy::TrustedProxies;
use ownstak_proxy::{Proxy, ProxyConfig};
use ownstak_testkit::{Backend, tempdir};
use serde_json::Value;

const HOST: &str = "echo-prod.local.dev.localhost";

/// Deploys the echoing fixture as `ownstak-echo-prod` with a `current` alias.
async fn deploy_echo(backend: &Backend) {
    ownstak_testkit::deploy_binary(
        &ownstak_testkit::lambda_client(&backend.lambda),
        "ownstak-echo-prod",
        "fixture-lambda-rs",
        "current",
    )
    .await;
}

/// An in-process proxy in front of the backend, trusting `127.0.0.1` as a load balancer.
async fn proxy(backend: &Backend, trusted: &[&str]) -> std::net::SocketAddr {
    let mut config =
        ProxyConfig::new(HostSuffix::new("local", "dev", "localhost").unwrap(), Some(backend.lambda.clone()));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.trusted_proxies = TrustedProxies::parse(trusted.iter().copied()).unwrap();
    config.expose_metrics = true;
    let proxy = Proxy::bind(config).await.unwrap();
    let addr = proxy.local_addr();
    tokio::spawn(proxy.serve(std::future::pending(), Duration::from_secs(1)));
    addr
}

/// The event the function received for a request.
async fn event_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    body["event"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_field_is_faithful() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    deploy_echo(&backend).await;
    // The test client is a trusted balancer, and 10.0.0.0/8 is the network of trusted proxies behind it.
    let addr = proxy(&backend, &["127.0.0.1", "10.0.0.0/8"]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| http.get(format!("http://{addr}{path}")).header("host", HOST);

    type Check = fn(&Value);
    let cases: Vec<(&str, reqwest::RequestBuilder, Check)> = vec![
        ("rawPath keeps percent-encoding", get("/a%20b/%7Ec/caf%C3%A9"), |e| {
            assert_eq!(e["rawPath"], "/a%20b/%7Ec/caf%C3%A9");
            assert_eq!(e["requestContext"]["http"]["path"], "/a%20b/%7Ec/caf%C3%A9");
        }),
        ("rawQueryString as sent", get("/q?b=2&a=1&a=3&e=%20x&flag"), |e| {
            assert_eq!(e["rawQueryString"], "b=2&a=1&a=3&e=%20x&flag")
        }),
        ("queryStringParameters join repeated keys", get("/q?b=2&a=1&a=3&e=%20x&flag"), |e| {
            let q = &e["queryStringParameters"];
            assert_eq!(
                (q["a"].as_str(), q["b"].as_str(), q["e"].as_str(), q["flag"].as_str()),
                (Some("1,3"), Some("2"), Some(" x"), Some(""))
            );
        }),
        (
            "headers lower-cased and repeated values joined",
            get("/h").header("X-Multi", "one").header("x-multi", "two").header("X-Single", "Value"),
            |e| {
                assert_eq!(e["headers"]["x-multi"], "one,two");
                assert_eq!(e["headers"]["x-single"], "Value");
                assert!(e["headers"].as_object().unwrap().keys().all(|k| k.chars().all(|c| !c.is_ascii_uppercase())));
            },
        ),
        ("cookies split out of Cookie", get("/c").header("cookie", "a=1; b=2"), |e| {
            assert_eq!(e["cookies"], serde_json::json!(["a=1", "b=2"]));
            assert!(e["headers"].get("cookie").is_none());
        }),
        ("http method, protocol and userAgent", get("/m").header("user-agent", "fidelity/1.0"), |e| {
            let h = &e["requestContext"]["http"];
            assert_eq!(
                (h["method"].as_str(), h["protocol"].as_str(), h["userAgent"].as_str()),
                (Some("GET"), Some("HTTP/1.1"), Some("fidelity/1.0"))
            );
        }),
        ("sourceIp is the peer without a forwarding header", get("/s"), |e| {
            assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1")
        }),
        (
            "sourceIp from X-Forwarded-For of a trusted balancer",
            get("/s").header("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            |e| {
                assert_eq!(e["requestContext"]["http"]["sourceIp"], "203.0.113.9");
            },
        ),
        (
            "sourceIp is the rightmost untrusted X-Forwarded-For entry (a client cannot pick it)",
            get("/s").header("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.1"),
            |e| {
                assert_eq!(e["requestContext"]["http"]["sourceIp"], "198.51.100.7");
            },
        ),
        ("domainName and domainPrefix", get("/d"), |e| {
            assert_eq!(e["requestContext"]["domainName"], HOST);
            assert_eq!(e["requestContext"]["domainPrefix"], "echo-prod");
        }),
        ("requestId propagated from X-Request-ID", get("/r").header("x-request-id", "req-fidelity-1"), |e| {
            assert_eq!(e["requestContext"]["requestId"], "req-fidelity-1");
            assert_eq!(e["headers"]["x-request-id"], "req-fidelity-1");
        }),
        ("time and timeEpoch", get("/t"), |e| {
            let epoch = e["requestContext"]["timeEpoch"].as_i64().unwrap();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
            assert!((now - epoch).abs() < 600_000, "timeEpoch {epoch} vs now {now}");
            let t = e["requestContext"]["time"].as_str().unwrap();
            assert!(t.len() == 26 && t.ends_with(" +0000") && t.as_bytes()[2] == b'/', "{t}");
        }),
        (
            "X-Own-* control headers never reach the function",
            get("/o").header("x-own-secret", "s").header("x-own-host", HOST),
            |e| {
                assert!(e["headers"].as_object().unwrap().keys().all(|k| !k.starts_with("x-own-")), "{}", e["headers"]);
            },
        ),
        ("version and routeKey", get("/v"), |e| {
            assert_eq!(e["version"], "2.0");
            assert_eq!(e["routeKey"], "$default");
        }),
    ];
    for (name, req, check) in cases {
        let event = event_of(req.send().await.unwrap()).await;
        println!("case: {name}");
        check(&event);
    }

    // Bodies: text as is, anything else base64.
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, 10];
    let e =
        event_of(http.post(format!("http://{addr}/b")).header("host", HOST).body(binary.clone()).send().await.unwrap())
            .await;
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(e["body"].as_str().unwrap()).unwrap(), binary);
    let e =
        event_of(http.post(format!("http://{addr}/b")).header("host", HOST).body("héllo").send().await.unwrap()).await;
    assert_eq!((e["isBase64Encoded"].as_bool(), e["body"].as_str()), (Some(false), Some("héllo")));

    // An untrusted peer cannot spoof its address.
    let untrusted = proxy(&backend, &[]).await;
    let e = event_of(
        http.get(format!("http://{untrusted}/s"))
            .header("host", HOST)
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_health_and_metrics() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    deploy_echo(&backend).await;
    let addr = proxy(&backend, &[]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // A function error: 502 with the error type, JSON or HTML.
    let r = http.get(format!("http://{addr}/fail")).header("host", HOST).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().contains_key("x-own-function-error"));
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "function_error");
    assert_eq!(doc["error"]["requestId"], rid.as_str(), "the error carries the request id");

    // A request body over the limit: 413 without invoking.
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];
    let r = http.post(format!("http://{addr}/big")).header("host", HOST).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);

    // Health, and metrics counting what happened.
    let r = http.get(format!("http://{addr}/__ownstak__/health")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "ok\n".to_owned()));
    let ok = http.get(format!("http://{addr}/fine")).header("host", HOST).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let _ = ok.bytes().await.unwrap();
    let metrics = http.get(format!("http://{addr}/__ownstak__/metrics")).send().await.unwrap().text().await.unwrap();
    for needle in [
        "ownstak_proxy_requests_total{class=\"5xx\"} 1",
        "ownstak_proxy_requests_total{class=\"4xx\"} 1",
        "ownstak_proxy_requests_total{class=\"2xx\"} 1",
        "ownstak_proxy_invoke_duration_seconds_count",
        "ownstak_proxy_in_flight_requests",
        "ownstak_proxy_request_bytes_total",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }

    // Without the setting, metrics are not public.
    let private = {
        let mut config =
            ProxyConfig::new(HostSuffix::new("local", "dev", "localhost").unwrap(), Some(backend.lambda.clone()));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let p = Proxy::bind(config).await.unwrap();
        let a = p.local_addr();
        tokio::spawn(p.serve(std::future::pending(), Duration::from_secs(1)));
        a
    };
    let r = http.get(format!("http://{private}/__ownstak__/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_becomes_503_with_retry_after() {
    let data = tempdir();
    // One environment, and a short wait for it: a second concurrent request is throttled.
    let backend = Backend::start(data.path(), &["--max-environments", "1", "--queue-timeout-ms", "50"]);
    let hello = ownstak_testkit::workspace_root().join("examples/hello");
    backend.deploy(&hello, "slow", "prod", &[]);
    let addr = proxy(&backend, &[]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let slow = {
        let http = http.clone();
        tokio::spawn(async move {
            http.get(format!("http://{addr}/api/slow?ms=4000"))
                .header("host", "slow-prod.local.dev.localhost")
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // Wait until the slow request holds the only environment: its START
    // line is in the function log.
    let log = data.path().join("logs/ownstak-slow-prod.log");
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("START RequestId") {
        tokio::task::yield_now().await;
    }
    let metrics_url = format!("http://{addr}/__ownstak__/metrics");
    let r = http.get(format!("http://{addr}/")).header("host", "slow-prod.local.dev.localhost").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "throttled");
    assert_eq!(slow.await.unwrap(), 200);
    let m = http.get(&metrics_url).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("ownstak_proxy_throttles_total 1"), "{m}");
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_buffered_limit_is_a_502() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    backend.deploy(&ownstak_testkit::workspace_root().join("examples/streaming"), "big", "prod", &[]);
    let mut config =
        ProxyConfig::new(HostSuffix::new("local", "dev", "localhost").unwrap(), Some(backend.lambda.clone()));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.invoke_mode = ownstak_proxy::InvokeMode::Buffered;
    let proxy = Proxy::bind(config).await.unwrap();
    let addr = proxy.local_addr();
    tokio::spawn(proxy.serve(std::future::pending(), Duration::from_secs(1)));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Buffered responses are limited to 6 MiB, as in Lambda.
    let r = http
        .get(format!("http://{addr}/big?bytes={}", 7 * 1024 * 1024))
        .header("host", "big-prod.local.dev.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["x-own-function-error"], "Function.ResponseSizeTooLarge");
    // Under the limit the same route answers in full.
    let ok = http
        .get(format!("http://{addr}/big?bytes=1000"))
        .header("host", "big-prod.local.dev.localhost")
        .send()
        .await
        .unwrap();
    let status = ok.status();
    let body = ok.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body.len(), 1000);
    assert!(backend.stop().success());
}

/// Threads of this process named as the proxy's shards.
fn shard_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"))
                .is_ok_and(|name| name.starts_with("ownstak-proxy-"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_proxy_serves_on_every_shard_and_its_threads_end_with_it() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    deploy_echo(&backend).await;
    let mut config =
        ProxyConfig::new(HostSuffix::new("local", "dev", "localhost").unwrap(), Some(backend.lambda.clone()));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.shards = 3;
    let proxy = Proxy::bind(config).await.unwrap();
    let addr = proxy.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(proxy.serve(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    // Many connections (the kernel spreads them over the shards' listeners),
    // a few requests on each; every one reaches the function intact.
    let clients: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(async move {
                let http = reqwest::Client::builder().no_proxy().build().unwrap();
                for j in 0..3 {
                    let r = http.get(format!("http://{addr}/c{i}/r{j}")).header("host", HOST).send().await.unwrap();
                    let status = r.status();
                    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(body["event"]["rawPath"], format!("/c{i}/r{j}"));
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(shard_threads(), 2, "two shards run besides the caller's");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), served).await.expect("serve returns after the drain").unwrap();
    assert_eq!(shard_threads(), 0, "the shards' threads ended with serve");
    assert!(backend.stop().success());
}
