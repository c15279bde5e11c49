//! The response cache's flags on `ownstak local up` and `ownstak proxy`
//! (the cache itself is tested in `crates/proxy/tests/it/cache.rs`).

use std::ffi::OsStr;

use ownstak_testkit::{Backend, ServerProcess, tempdir};

const HOST: &str = "shop-prod.local.dev.localhost";

/// `Cache-Status` of two GETs of a shareable page through the proxy at `addr`.
async fn two_gets(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> [String; 2] {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut out = [String::new(), String::new()];
    for status in &mut out {
        let mut req = http.get(format!("http://{addr}/page?cc=s-maxage%3D600")).header("host", HOST);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        *status = resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_up_caches_by_default_and_the_flags_reach_the_proxy() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &["--cache-session-cookie", "my_session"]);
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    ownstak_testkit::deploy_binary(&lambda, "ownstak-shop-prod", "fixture-lambda-rs-cache", "current").await;

    let [first, second] = two_gets(backend.proxy, &[]).await;
    assert_eq!(first, "ownstak; fwd=miss; stored");
    assert!(second.starts_with("ownstak; hit"), "{second}");
    // The app's own session cookie keeps requests out of the cache.
    let [a, b] = two_gets(backend.proxy, &[("cookie", "my_session=1")]).await;
    assert_eq!([a.as_str(), b.as_str()], ["ownstak; fwd=bypass"; 2]);

    // `ownstak proxy --cache-size 0`: no cache at all.
    let argv =
        ["proxy", "--json", "--proxy-addr", "127.0.0.1:0", "--cache-size", "0", "--lambda-endpoint", &backend.lambda];
    let mut args: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("--data-dir"), data.path().as_os_str()]);
    let proxy = ServerProcess::start(&args);
    let [a, b] = two_gets(proxy.addr("proxy"), &[]).await;
    assert_eq!([a.as_str(), b.as_str()], ["", ""], "without a cache there is no Cache-Status");
    // With a size, it caches.
    let argv =
        ["proxy", "--json", "--proxy-addr", "127.0.0.1:0", "--cache-size", "16", "--lambda-endpoint", &backend.lambda];
    let mut args: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("--data-dir"), data.path().as_os_str()]);
    let proxy = ServerProcess::start(&args);
    let [a, b] = two_gets(proxy.addr("proxy"), &[]).await;
    assert_eq!(a, "ownstak; fwd=miss; stored");
    assert!(b.starts_with("ownstak; hit"), "{b}");
}
