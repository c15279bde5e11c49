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
        // The answer is stored once its body has gone out whole.
        resp.bytes().await.unwrap();
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

/// `Cache-Status` of a GET of `path` through the proxy at `addr`.
async fn status_of(http: &reqwest::Client, addr: std::net::SocketAddr, path: &str) -> String {
    let resp = http.get(format!("http://{addr}{path}")).header("host", HOST).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let status = resp.headers().get("cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    // The answer is stored once its body has gone out whole.
    resp.bytes().await.unwrap();
    status
}

/// Waits until a GET of `path` on `addr` is no longer a hit (the purge
/// reached that proxy), and returns how long that took.
async fn until_purged(http: &reqwest::Client, addr: std::net::SocketAddr, path: &str) -> std::time::Duration {
    let start = std::time::Instant::now();
    loop {
        let status = status_of(http, addr, path).await;
        if !status.starts_with("ownstak; hit") {
            assert_eq!(status, "ownstak; fwd=miss; stored", "{path} on {addr}");
            return start.elapsed();
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(15), "{path} on {addr} is still cached");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_reaches_every_proxy_and_only_removes_what_it_names() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    ownstak_testkit::deploy_binary(&lambda, "ownstak-shop-prod", "fixture-lambda-rs-cache", "deployment-1").await;
    let create = lambda.create_alias().function_name("ownstak-shop-prod").name("current");
    create.function_version("1").send().await.unwrap();
    // A second proxy, as another ECS task would be: same backend, same asset store.
    let second = backend.another_proxy(&[]);
    let proxies = [backend.proxy, second.addr("proxy")];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let page = |name: &str| format!("/{name}?cc=s-maxage%3D600");
    let (red, blue, post, home) =
        (page("p/red") + "&tag=red,colors", page("p/blue") + "&tag=blue,colors", page("blog/post"), page("home"));
    for addr in proxies {
        for path in [&red, &blue, &post, &home] {
            assert_eq!(status_of(&http, addr, path).await, "ownstak; fwd=miss; stored", "{path} on {addr}");
            let again = status_of(&http, addr, path).await;
            assert!(again.starts_with("ownstak; hit"), "{path} on {addr}: {again}");
        }
    }
    let purge = |args: &[&str]| {
        let mut all = vec!["cache", "purge", "--project", "shop", "--env", "prod", "--json"];
        all.extend(args);
        let out = backend.cli(&all);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    // By tag: only the answers whose Cache-Tag names it, on every proxy.
    let first = purge(&["--tag", "red"]);
    assert_eq!(
        (first["function"].as_str(), first["scope"]["tags"][0].as_str()),
        (Some("ownstak-shop-prod"), Some("red"))
    );
    for addr in proxies {
        let took = until_purged(&http, addr, &red).await;
        eprintln!("the tag purge reached {addr} after {took:?}");
        for path in [&blue, &post, &home] {
            assert!(status_of(&http, addr, path).await.starts_with("ownstak; hit"), "{path} stays cached");
        }
    }
    // By prefix, then by path (any query), then everything.
    let second_purge = purge(&["--prefix", "/blog/"]);
    assert_eq!(second_purge["purge"].as_u64(), first["purge"].as_u64().map(|n| n + 1), "purges are numbered in order");
    for addr in proxies {
        until_purged(&http, addr, &post).await;
        assert!(status_of(&http, addr, &home).await.starts_with("ownstak; hit"));
    }
    purge(&["--path", "/home"]);
    for addr in proxies {
        until_purged(&http, addr, &home).await;
        assert!(status_of(&http, addr, &blue).await.starts_with("ownstak; hit"));
    }
    purge(&["--all"]);
    for addr in proxies {
        until_purged(&http, addr, &blue).await;
    }

    // Bad input is refused before anything is written, and says what to do.
    for (args, says) in [
        (vec![], "say what to purge"),
        (vec!["--path", "blog"], "is not a URL path"),
        (vec!["--tag", "a,b"], "is not a cache tag"),
    ] {
        let mut all = vec!["cache", "purge", "--project", "shop", "--env", "prod"];
        all.extend(args.iter());
        let out = backend.cli(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = backend.cli(&["cache", "purge", "--project", "shop", "--env", "staging", "--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("has no deployments"), "{stderr}");
    let out = backend.cli(&["cache", "purge", "--project", "shop", "--env", "prod", "--all", "--tag", "x"]);
    assert!(!out.status.success(), "--all with a selector is refused");
}
