//! Custom domains on a real `local up`: `ownstak domains add` maps a
//! `*.localhost` name to an environment's live deployment on every proxy
//! of the backend (the embedded one and a second `ownstak proxy` on the
//! same asset store), skew protection pins on it as on the environment
//! host, `remove` unmaps it everywhere, and bad input is refused with a
//! clear error before anything is written.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ownstak_testkit::{Backend, copy_dir, tempdir, workspace_root};
use serde_json::Value;

const DOMAIN: &str = "shop.localhost";

fn hello_variant(root: &Path, message: &str) -> PathBuf {
    let dir = root.join(message);
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    std::fs::write(dir.join("message.txt"), message).unwrap();
    dir
}

/// The status and, on a 200, the message of the deployment that answered
/// `/api/info` on `host` through the proxy at `addr`.
async fn served(addr: SocketAddr, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.get(format!("http://{addr}/api/info")).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        return (status, String::new());
    }
    let info: Value = resp.json().await.unwrap();
    (status, info["message"].as_str().unwrap().to_owned())
}

/// Waits until `host` on `addr` answers `want` (a change reaches every
/// proxy within a few seconds); returns how long that took.
async fn until(addr: SocketAddr, host: &str, want: (u16, &str)) -> Duration {
    let start = Instant::now();
    loop {
        let (status, message) = served(addr, host, &[]).await;
        if (status, message.as_str()) == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{host} on {addr}: {status} {message}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `ownstak ARGS --json` against `backend`, which must succeed.
fn json(backend: &Backend, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = backend.cli(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `ownstak ARGS` against `backend`, which must fail; returns stderr.
fn fails(backend: &Backend, args: &[&str]) -> String {
    let out = backend.cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_serves_the_live_deployment_on_every_proxy() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let add = |domain: &'static str, project: &'static str| {
        vec!["domains", "add", domain, "--project", project, "--env", "prod"]
    };

    // An environment without deployments has nothing to serve.
    let err = fails(&backend, &add(DOMAIN, "hello"));
    assert!(err.contains("has no deployments") && err.contains("ownstak deploy"), "{err}");

    let first = backend.deploy(&hello_variant(apps.path(), "first"), "hello", "prod", &[]);
    let first_id = first["deploymentId"].as_str().unwrap().to_owned();
    let added = json(&backend, &add(DOMAIN, "hello"));
    assert_eq!(
        (added["domain"].as_str(), added["function"].as_str(), added["status"].as_str(), added["added"].as_bool()),
        (Some(DOMAIN), Some("ownstak-hello-prod"), Some("active"), Some(true)),
        "{added}"
    );
    // Adding it again to the same environment changes nothing.
    let again = json(&backend, &add("Shop.LocalHost", "hello"));
    assert_eq!((again["added"].as_bool(), &again["addedAtMs"]), (Some(false), &added["addedAtMs"]), "{again}");

    // A second proxy, as another ECS task would be: same backend, same asset store.
    let second = backend.another_proxy(&["--trusted-proxy", "127.0.0.1/32"]);
    let proxies = [backend.proxy, second.addr("proxy")];
    for addr in proxies {
        let took = until(addr, DOMAIN, (200, "first")).await;
        eprintln!("{DOMAIN} reached {addr} after {took:?}");
    }
    // A trusted front end (a CDN) names the host in X-Own-Host.
    let own_host = [("x-own-host", DOMAIN)];
    assert_eq!(served(proxies[1], "cdn-origin.example.net", &own_host).await, (200, "first".to_owned()));

    // A new deployment goes live on the domain; a client pinned to the
    // first one keeps it, as on the environment host.
    backend.deploy(&hello_variant(apps.path(), "second"), "hello", "prod", &[]);
    for addr in proxies {
        until(addr, DOMAIN, (200, "second")).await;
        let pinned = [("x-deployment-id", first_id.as_str())];
        assert_eq!(served(addr, DOMAIN, &pinned).await, (200, "first".to_owned()), "{addr}");
    }
    // Its HTML answers set the deployment cookie, as the environment host's do.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client.get(format!("http://{}/", backend.proxy)).header("host", DOMAIN).send().await.unwrap();
    let cookie = page.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(cookie.starts_with("__ownstak_dpl=dpl_"), "{cookie}");

    // Bad input: a clear error, and the map is left as it was.
    backend.deploy(&hello_variant(apps.path(), "other"), "other", "prod", &[]);
    for (args, says) in [
        (add(DOMAIN, "other"), "shop.localhost already serves hello/prod"),
        (add("shop.example.com", "hello"), "--allow-any"),
        (add("*.shop.localhost", "hello"), "wildcards are not supported"),
        (add("shop.localhost.", "hello"), "without the trailing dot"),
        (add("shop_1.localhost", "hello"), "not a valid domain name"),
        (add("localhost", "hello"), "at least two labels"),
        (add("hello-prod.local.dev.localhost", "hello"), "under this backend's own domain"),
        (vec!["domains", "remove", "nope.localhost"], "nope.localhost is not a custom domain of this backend"),
    ] {
        let err = fails(&backend, &args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let listed = json(&backend, &["domains", "list"]);
    let domains = listed["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1, "{listed}");
    assert_eq!(
        (domains[0]["domain"].as_str(), domains[0]["project"].as_str(), domains[0]["env"].as_str()),
        (Some(DOMAIN), Some("hello"), Some("prod"))
    );
    assert_eq!(domains[0]["status"], "active");

    // Any name with --allow-any (the user points it at 127.0.0.1).
    let any = json(&backend, &[add("shop.example.com", "other").as_slice(), &["--allow-any"]].concat());
    assert_eq!(any["function"], "ownstak-other-prod", "{any}");
    until(proxies[1], "shop.example.com", (200, "other")).await;

    // Removing unmaps it on every proxy; the other domain stays.
    let removed = json(&backend, &["domains", "remove", "SHOP.localhost"]);
    assert_eq!((removed["domain"].as_str(), removed["removed"].as_bool()), (Some(DOMAIN), Some(true)), "{removed}");
    for addr in proxies {
        until(addr, DOMAIN, (404, "")).await;
        assert_eq!(served(addr, "shop.example.com", &[]).await, (200, "other".to_owned()));
    }
    let err = fails(&backend, &["domains", "remove", DOMAIN]);
    assert!(err.contains("is not a custom domain"), "{err}");
    drop(second);
    assert!(backend.stop().success());
}
