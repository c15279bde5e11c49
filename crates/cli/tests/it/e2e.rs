//! End to end: the real `ownstak` binary runs the local backend, deploys
//! the hello example (a Node.js server run by `ownstak-runtime`), and the
//! tests talk to deployments through the LambdaProxy by host name.

use std::path::{Path, PathBuf};

use ownstak_testkit::{Backend, copy_dir, tempdir, workspace_root};

/// A copy of examples/hello whose page says `message`.
fn hello_variant(root: &Path, message: &str) -> PathBuf {
    let dir = root.join(message);
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    std::fs::write(dir.join("message.txt"), message).unwrap();
    dir
}

struct Http {
    client: reqwest::Client,
    proxy: std::net::SocketAddr,
}

impl Http {
    fn new(backend: &Backend) -> Self {
        Self { client: reqwest::Client::builder().no_proxy().build().unwrap(), proxy: backend.proxy }
    }

    fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("http://{}{path}", self.proxy)).header("host", host)
    }

    async fn text(&self, host: &str, path: &str) -> (u16, String) {
        let r = self.get(host, path).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn host(label: &str) -> String {
    format!("{label}.local.dev.localhost")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_promotes_survives_restart_and_numbers_concurrent_deploys() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);

    for (i, msg) in ["first", "second", "third"].iter().enumerate() {
        let out = backend.deploy(&hello_variant(apps.path(), msg), "hello", "prod", &[]);
        assert_eq!(out["deployment"], i as u64 + 1, "{out}");
        assert_eq!(out["function"], "ownstak-hello-prod");
        assert_eq!(out["promoted"], true);
        assert_eq!(out["runtime"], "nodejs22.x", "{out}");
        let port = backend.proxy.port();
        assert_eq!(out["urls"]["deployment"], format!("http://hello-prod-{}.local.dev.localhost:{port}/", i + 1));
        assert_eq!(out["urls"]["environment"], format!("http://hello-prod.local.dev.localhost:{port}/"));
    }
    // `node server.js` gets the managed Node.js runtime, with our bootstrap as
    // the exec wrapper; the local backend runs it that way, as Lambda does.
    let conf = ownstak_testkit::lambda_client(&backend.lambda)
        .get_function_configuration()
        .function_name("ownstak-hello-prod")
        .send()
        .await
        .unwrap();
    assert_eq!((conf.runtime().map(|r| r.as_str()), conf.handler()), (Some("nodejs22.x"), Some("bootstrap.handler")));
    let wrapper = conf.environment().and_then(|e| e.variables()).and_then(|v| v.get("AWS_LAMBDA_EXEC_WRAPPER"));
    assert_eq!(wrapper.map(String::as_str), Some("/var/task/bootstrap"));
    for (n, msg) in [(1, "first"), (2, "second"), (3, "third")] {
        let (status, body) = http.text(&host(&format!("hello-prod-{n}")), "/").await;
        assert_eq!(status, 200);
        assert!(body.contains(msg), "deployment {n}: {body}");
    }
    assert!(http.text(&host("hello-prod"), "/").await.1.contains("third"));

    let out = backend.cli(&["promote", "1", "--project", "hello", "--env", "prod", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(http.text(&host("hello-prod"), "/").await.1.contains("first"));
    let list = backend.cli(&["deployments", "--project", "hello", "--env", "prod", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let live: Vec<_> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["live"] == true)
        .map(|d| d["deployment"].clone())
        .collect();
    assert_eq!(live, [serde_json::json!(1)]);
    assert_eq!(list["deployments"].as_array().unwrap().len(), 3);
    assert!(list["deployments"][0]["deployedAt"].as_str().is_some_and(|t| t.contains('T')), "{list}");

    // Restart on the same data directory: everything is still served.
    assert!(backend.stop().success(), "the backend must exit cleanly on SIGTERM");
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);
    for (n, msg) in [(1, "first"), (2, "second"), (3, "third")] {
        assert!(http.text(&host(&format!("hello-prod-{n}")), "/").await.1.contains(msg));
    }
    assert!(http.text(&host("hello-prod"), "/").await.1.contains("first"), "promotion survives a restart");
    let out = backend.deploy(&hello_variant(apps.path(), "fourth"), "hello", "prod", &[]);
    assert_eq!(out["deployment"], 4);
    assert!(http.text(&host("hello-prod"), "/").await.1.contains("fourth"));

    // Concurrent deploys of different code: distinct, consecutive numbers,
    // and each number serves its own code.
    let dirs: Vec<PathBuf> = ["fifth", "sixth", "seventh"].iter().map(|m| hello_variant(apps.path(), m)).collect();
    let results: Vec<serde_json::Value> = std::thread::scope(|s| {
        let handles: Vec<_> =
            dirs.iter().map(|d| s.spawn(|| backend.deploy(d, "hello", "prod", &["--no-promote"]))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut numbers: Vec<u64> = results.iter().map(|r| r["deployment"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, [5, 6, 7]);
    for (r, msg) in results.iter().zip(["fifth", "sixth", "seventh"]) {
        let n = r["deployment"].as_u64().unwrap();
        let body = http.text(&host(&format!("hello-prod-{n}")), "/").await.1;
        assert!(body.contains(msg), "deployment {n} should serve {msg}: {body}");
        assert_eq!(r["promoted"], false);
    }
    assert!(http.text(&host("hello-prod"), "/").await.1.contains("fourth"), "--no-promote leaves current alone");
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_and_cookies_round_trip() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);
    backend.deploy(&workspace_root().join("examples/hello"), "echo", "test", &[]);

    let body: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert!(std::str::from_utf8(&body).is_err(), "the body must not be valid UTF-8");
    let resp = http
        .client
        .post(format!("http://{}/api/echo", http.proxy))
        .header("host", host("echo-test-1"))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-body-length"], body.len().to_string());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), body.as_slice(), "binary body must round-trip byte for byte");

    // A chunked request body (no Content-Length) arrives whole.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(b"part one, ".to_vec()), Ok(b"part two".to_vec())];
    let resp = http
        .client
        .post(format!("http://{}/api/echo", http.proxy))
        .header("host", host("echo-test"))
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "part one, part two");

    let resp = http.get(&host("echo-test"), "/api/cookies").send().await.unwrap();
    let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies, ["session=abc123; Path=/; HttpOnly", "theme=dark; Path=/; Max-Age=3600"]);
    assert!(resp.headers().contains_key("x-request-id"));
    assert!(backend.stop().success());
}

/// A stream of body chunks for reqwest.
fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_breaks_nothing() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);
    let hello = workspace_root().join("examples/hello");
    let hello_str = hello.to_str().unwrap();

    // Invalid slugs are refused before anything is created.
    for (project, env, needle) in
        [("Hello_World", "prod", "project slug"), ("hello", "prod-2", "deployment 2"), ("hello", "", "empty")]
    {
        let out = backend.cli(&["deploy", hello_str, "--project", project, "--env", env]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{project}/{env}: {err}");
    }
    let out = backend.cli(&["deployments", "--project", "hello", "--env", "prod"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no deployments yet"),
        "no function may exist after refused deploys"
    );

    backend.deploy(&hello, "hello", "prod", &["--timeout", "1"]);

    // Hosts: malformed → 400, outside the suffix → 404, HTML for browsers.
    let r = http.get("bad_host.local.dev.localhost", "/").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "malformed_host");
    assert!(doc["error"]["requestId"].as_str().is_some_and(|s| !s.is_empty()));
    let r = http.get("example.com", "/").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "unknown_host");
    let r = http.get("hello-prod-0.local.dev.localhost", "/").header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    // Unknown deployment and unknown environment: 404 naming them.
    let r = http.get(&host("hello-prod-99"), "/").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let msg = r.json::<serde_json::Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("deployment 99") && msg.contains("hello-prod"), "{msg}");
    let r = http.get(&host("nope-prod"), "/").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let out = backend.cli(&["promote", "42", "--project", "hello", "--env", "prod"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deployment 42"), "{}", String::from_utf8_lossy(&out.stderr));

    // A function past its timeout: 504 with the error type; the next request is served.
    let r = http.get(&host("hello-prod"), "/api/slow?ms=4000").send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.headers()["x-own-function-error"], "Sandbox.Timedout");
    assert_eq!(http.text(&host("hello-prod"), "/").await.0, 200, "a fresh environment serves after a timeout");

    // An app that exits at start: 502 naming the start error; the next good
    // deploy of the same environment works.
    let broken = apps.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("index.js"), "process.exit(3)").unwrap();
    let out = backend.deploy(&broken, "hello", "prod", &["--command", "node index.js"]);
    let n = out["deployment"].as_u64().unwrap();
    let r = http.get(&host(&format!("hello-prod-{n}")), "/").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["x-own-function-error"], "Runtime.AppStartError");
    let msg = r.json::<serde_json::Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("exit"), "{msg}");
    let out = backend.deploy(&hello, "hello", "prod", &[]);
    assert_eq!(out["deployment"], n + 1);
    assert_eq!(http.text(&host("hello-prod"), "/").await.0, 200);
    assert_eq!(http.text(&host("hello-prod-1"), "/").await.0, 200, "older deployments are untouched");

    // A deploy without a start command says how to give one.
    let no_cmd = apps.path().join("nocmd");
    std::fs::create_dir_all(&no_cmd).unwrap();
    let out = backend.cli(&["deploy", no_cmd.to_str().unwrap(), "--project", "hello", "--env", "prod"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--command"));
    assert!(backend.stop().success());
}

#[test]
fn unreachable_backend_is_a_clear_error() {
    let hello = workspace_root().join("examples/hello");
    let out = ownstak_testkit::ownstak(&[
        "deploy",
        hello.to_str().unwrap(),
        "--project",
        "hello",
        "--env",
        "prod",
        "--lambda-endpoint",
        "http://127.0.0.1:1",
        "--json",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach") && err.contains("ownstak local up"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["error"].as_str().is_some_and(|e| e.contains("cannot reach")));
}
