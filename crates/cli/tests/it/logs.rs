//! `ownstak logs` on a real `local up`: a request's X-Request-ID reaches
//! the function, and its output and START/END/REPORT lines are found by
//! that id, with their time and deployment; `--deployment` and `--follow`.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ownstak_testkit::{Backend, bin, copy_dir, tempdir, workspace_root};

const HOST: &str = "hello-prod.local.dev.localhost";

/// A copy of examples/hello that logs every request on stdout and stderr.
fn logging_hello(root: &Path, message: &str) -> PathBuf {
    let dir = root.join(message);
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    std::fs::write(dir.join("message.txt"), message).unwrap();
    let server = std::fs::read_to_string(dir.join("server.js")).unwrap();
    let hook = "const server = http.createServer((req, res) => {";
    assert!(server.contains(hook), "examples/hello/server.js changed; update this test");
    let server = server.replace(
        hook,
        &format!("{hook}\n  console.log(`{message} handling ${{req.url}}`);\n  console.error(`{message} on stderr`);"),
    );
    std::fs::write(dir.join("server.js"), server).unwrap();
    dir
}

async fn get(backend: &Backend, path: &str, request_id: &str) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("http://{}{path}", backend.proxy))
        .header("host", HOST)
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], request_id);
    resp.json().await.unwrap()
}

/// `ownstak logs --json` records for the arguments.
fn logs(backend: &Backend, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["logs", "--project", "hello", "--env", "prod", "--json"];
    args.extend(extra);
    let out = backend.cli(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The records of a request once its REPORT line is written (the local
/// backend writes it right after the answer).
fn request_logs(backend: &Backend, request_id: &str) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let records = logs(backend, &["--request-id", request_id]);
        if records.iter().any(|r| r["message"].as_str().unwrap().starts_with("REPORT RequestId:")) {
            return records;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no REPORT line for {request_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_found_by_its_id_with_its_output_and_deployment() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    backend.deploy(&logging_hello(apps.path(), "first"), "hello", "prod", &[]);

    let info = get(&backend, "/api/info?secret=1", "find-me-1").await;
    assert_eq!(info["requestId"], "find-me-1", "the proxy's id reaches the function");
    get(&backend, "/api/info", "someone-else").await;

    let records = request_logs(&backend, "find-me-1");
    let kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap_or("-")).collect();
    let messages: Vec<&str> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert!(messages[0].starts_with("START RequestId: "), "{messages:?}");
    assert!(messages.contains(&"GET /api/info"), "the request line, without the query: {messages:?}");
    assert!(messages.contains(&"first handling /api/info?secret=1"), "{messages:?}");
    assert!(messages.contains(&"first on stderr"), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("END RequestId: ")), "{messages:?}");
    for kind in ["platform", "request", "stdout", "stderr"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let lambda_id = records[0]["lambdaRequestId"].as_str().unwrap().to_owned();
    for r in &records {
        assert_eq!(r["requestId"], "find-me-1", "{r}");
        assert_eq!(r["lambdaRequestId"], lambda_id.as_str(), "{r}");
        assert_eq!(r["deployment"], 1, "{r}");
        assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");
        assert!(!r["message"].as_str().unwrap().contains("someone-else"));
    }
    // Lambda's id finds the same lines.
    assert_eq!(logs(&backend, &["--request-id", &lambda_id]).len(), records.len());

    // Text output: time, deployment, request id, message.
    let out = backend.cli(&["logs", "--project", "hello", "--env", "prod", "--request-id", "find-me-1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains(" #1 ") && l.ends_with("find-me-1 first on stderr")), "{text}");

    // A second deployment: --deployment picks its lines only.
    backend.deploy(&logging_hello(apps.path(), "second"), "hello", "prod", &[]);
    get(&backend, "/api/info", "find-me-2").await;
    request_logs(&backend, "find-me-2");
    let second = logs(&backend, &["--deployment", "2"]);
    assert!(!second.is_empty() && second.iter().all(|r| r["deployment"] == 2), "{second:?}");
    assert!(second.iter().any(|r| r["message"] == "second handling /api/info"));
    assert!(logs(&backend, &["--deployment", "1"]).iter().all(|r| r["deployment"] == 1));

    // The proxy's access log: one line per request routed to the environment.
    let access = logs(&backend, &["--proxy", "--request-id", "find-me-1"]);
    assert_eq!(access.len(), 1, "{access:?}");
    let line = &access[0];
    assert_eq!((line["status"].as_u64(), line["method"].as_str()), (Some(200), Some("GET")), "{line}");
    assert_eq!((line["path"].as_str(), line["host"].as_str()), (Some("/api/info"), Some(HOST)), "{line}");
    assert_eq!(line["function"], "ownstak-hello-prod", "{line}");
    let all = logs(&backend, &["--proxy"]);
    let ids: Vec<&str> = all.iter().filter_map(|r| r["requestId"].as_str()).collect();
    for id in ["find-me-1", "someone-else", "find-me-2"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let pinned = logs(&backend, &["--proxy", "--deployment", "2"]);
    assert!(pinned.iter().all(|r| r["qualifier"] == "deployment-2"), "{pinned:?}");
    let out = backend.cli(&["logs", "--project", "hello", "--env", "prod", "--proxy", "--request-id", "find-me-2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(" 200 GET hello-prod.") && text.trim_end().ends_with("current find-me-2"), "{text}");

    // Bad input is refused with a clear message.
    for (args, says) in [
        (&["--deployment", "9"][..], "deployment 9 of hello/prod does not exist"),
        (&["--request-id", "a b"][..], "is not a request id"),
        (&["--since", "3w"][..], "unknown unit"),
    ] {
        let mut all = vec!["logs", "--project", "hello", "--env", "prod"];
        all.extend(args);
        let out = backend.cli(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }

    // --follow prints lines as they come.
    let mut follow = Command::new(bin("ownstak"))
        .args(["logs", "--project", "hello", "--env", "prod", "--json", "--follow", "--since", "0s"])
        .args(["--lambda-endpoint", &backend.lambda])
        .env("OWNSTAK_DATA_DIR", &backend.data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let found = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if record["requestId"] == "followed-1" && record["kind"] == "stdout" {
                return Some(record);
            }
        }
        None
    });
    // Ask until the follower has shown it (it may start after the first request).
    while !found.is_finished() {
        get(&backend, "/api/info", "followed-1").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let record = found.join().unwrap().expect("the followed request's line");
    assert_eq!(record["message"], "second handling /api/info");
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert!(backend.stop().success());
}
