//! Invoking functions through the official aws-sdk-lambda client: a function
//! built with the official `lambda_runtime` crate, bootstraps that crash,
//! hang or are missing, warm reuse and concurrent environments.

use crate::common::{ROLE, Server};

use std::path::Path;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use serde_json::{Value, json};

async fn create(client: &Client, name: &str, zip: Vec<u8>, timeout: i32, memory: i32, env: &[(&str, &str)]) {
    let mut e = Environment::builder();
    for (k, v) in env {
        e = e.variables(*k, *v);
    }
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .timeout(timeout)
        .memory_size(memory)
        .environment(e.build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"));
}

/// The answer of a synchronous invoke.
#[derive(Debug)]
struct Answer {
    status: i32,
    function_error: Option<String>,
    executed_version: Option<String>,
    payload: Value,
}

async fn invoke(client: &Client, name: &str, qualifier: Option<&str>, event: &Value) -> Answer {
    let out = client
        .invoke()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Invoke {name}: {e:?}"));
    let bytes = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
    let payload =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("payload {:?}: {e}", String::from_utf8_lossy(&bytes)));
    Answer {
        status: out.status_code(),
        function_error: out.function_error().map(str::to_owned),
        executed_version: out.executed_version().map(str::to_owned),
        payload,
    }
}

fn assert_platform_error(a: &Answer, error_type: &str) {
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"), "{a:?}");
    assert_eq!(a.payload["errorType"], error_type, "{a:?}");
    assert!(a.payload["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{a:?}");
}

/// A shell bootstrap speaking the Runtime API with curl. It answers
/// `{"pid": <its pid>}`; an event containing `"slow"` makes it sleep 5 s
/// first; with `BARRIER_DIR` set it waits (up to 10 s) until two
/// environments have registered there, and reports whether they did.
const CURL_BOOTSTRAP: &str = r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
hdr=$(mktemp) || exit 1
body=$(mktemp) || exit 1
while true; do
  curl -sS -D "$hdr" -o "$body" "$api/invocation/next" || exit 1
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$hdr" | tr -d '\r' | cut -d' ' -f2)
  if grep -q '"slow"' "$body"; then sleep 5; fi
  met=true
  if [ -n "$BARRIER_DIR" ]; then
    touch "$BARRIER_DIR/$$"
    n=0
    while [ "$(ls "$BARRIER_DIR" | wc -l)" -lt 2 ]; do
      n=$((n + 1))
      if [ "$n" -gt 200 ]; then met=false; break; fi
      sleep 0.05
    done
  fi
  curl -sS -o /dev/null -X POST -H 'content-type: application/json' --data "{\"pid\":$$,\"met\":$met}" "$api/invocation/$rid/response" || exit 1
done
"#;

fn curl_available() {
    let ok =
        std::process::Command::new("sh").args(["-c", "command -v curl"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "these tests need curl on PATH for their shell bootstraps");
}

fn log_of(data_dir: &Path, function: &str) -> String {
    std::fs::read_to_string(data_dir.join("logs").join(format!("{function}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_runtime_function_runs_through_an_alias_and_stays_warm() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let exe = std::fs::read(ownstak_testkit::bin("fixture-lambda-rs")).expect("read fixture-lambda-rs");
    let zip = ownstak_testkit::zip(&[("bootstrap", &exe, 0o755)]);
    create(&client, "rs-fn", zip, 5, 256, &[]).await;
    let v = client.publish_version().function_name("rs-fn").send().await.expect("PublishVersion");
    assert_eq!(v.version(), Some("1"));
    client.create_alias().function_name("rs-fn").name("live").function_version("1").send().await.expect("CreateAlias");

    let event = json!({"version": "2.0", "rawPath": "/hello", "requestContext": {"http": {"method": "GET"}}});
    let a = invoke(&client, "rs-fn", Some("live"), &event).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.function_error, None, "{a:?}");
    assert_eq!(a.executed_version.as_deref(), Some("1"));
    assert_eq!(a.payload["statusCode"], 200, "{a:?}");
    assert_eq!(a.payload["headers"]["x-fixture"], "lambda_runtime");
    let body: Value = serde_json::from_str(a.payload["body"].as_str().expect("a string body")).expect("a JSON body");
    assert_eq!(body["event"], event, "the function received the event unchanged");
    assert_eq!(
        body,
        json!({"runtime": "lambda_runtime", "rawPath": "/hello", "function": "rs-fn", "version": "1", "memory": "256", "event": event})
    );

    // A second invoke is served by the same, warm environment: the platform
    // log reports exactly one cold start for two invocations.
    let b = invoke(&client, "rs-fn", Some("live"), &event).await;
    assert_eq!((b.status, b.function_error.as_deref(), b.executed_version.as_deref()), (200, None, Some("1")), "{b:?}");
    let log = log_of(dir.path(), "rs-fn");
    assert_eq!(log.matches("REPORT RequestId:").count(), 2, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 1, "{log}");

    // A handled function error is reported as Unhandled with the runtime's
    // error document, and does not cost the warm environment.
    let f = invoke(&client, "rs-fn", Some("live"), &json!({"fail": true})).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.function_error.as_deref(), Some("Unhandled"), "{f:?}");
    assert_eq!(f.executed_version.as_deref(), Some("1"));
    assert!(f.payload["errorType"].as_str().is_some_and(|t| !t.is_empty()), "{f:?}");
    assert!(
        f.payload["errorMessage"].as_str().is_some_and(|m| m.contains("the event asked the fixture to fail")),
        "{f:?}"
    );
    let log = log_of(dir.path(), "rs-fn");
    assert_eq!(log.matches("REPORT RequestId:").count(), 3, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 1, "{log}");

    // $LATEST is a different version: its own environment and its own facts.
    let l = invoke(&client, "rs-fn", None, &event).await;
    assert_eq!((l.function_error.as_deref(), l.executed_version.as_deref()), (None, Some("$LATEST")), "{l:?}");
    let body: Value = serde_json::from_str(l.payload["body"].as_str().expect("a string body")).expect("a JSON body");
    assert_eq!(body["version"], "$LATEST");
    assert_eq!(log_of(dir.path(), "rs-fn").matches("Init: cold").count(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_timeouts_and_missing_bootstraps_are_reported_and_recovered_from() {
    curl_available();
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();

    // A bootstrap that exits at once.
    create(&client, "crash", ownstak_testkit::zip(&[("bootstrap", b"#!/bin/sh\nexit 3\n", 0o755)]), 3, 128, &[]).await;
    let a = invoke(&client, "crash", None, &json!({})).await;
    assert_platform_error(&a, "Runtime.ExitError");
    assert!(a.payload["errorMessage"].as_str().is_some_and(|m| m.contains("exit status 3")), "{a:?}");
    assert_eq!(a.executed_version.as_deref(), Some("$LATEST"));

    // No bootstrap at all, or one that is not executable.
    create(&client, "empty", ownstak_testkit::zip(&[("README", b"no bootstrap here", 0o644)]), 3, 128, &[]).await;
    assert_platform_error(&invoke(&client, "empty", None, &json!({})).await, "Runtime.InvalidEntrypoint");
    create(&client, "noexec", ownstak_testkit::zip(&[("bootstrap", CURL_BOOTSTRAP.as_bytes(), 0o644)]), 3, 128, &[])
        .await;
    assert_platform_error(&invoke(&client, "noexec", None, &json!({})).await, "Runtime.InvalidEntrypoint");

    // A function that takes its invocation and then runs past its 1 s timeout.
    create(&client, "slow", ownstak_testkit::zip(&[("bootstrap", CURL_BOOTSTRAP.as_bytes(), 0o755)]), 1, 128, &[])
        .await;
    let t = invoke(&client, "slow", None, &json!({"slow": true})).await;
    assert_platform_error(&t, "Sandbox.Timedout");
    assert!(
        t.payload["errorMessage"].as_str().is_some_and(|m| m.contains("Task timed out after 1.00 seconds")),
        "{t:?}"
    );
    // The same function still works afterwards, in a fresh environment.
    let ok = invoke(&client, "slow", None, &json!({"fast": true})).await;
    assert_eq!((ok.status, ok.function_error.as_deref()), (200, None), "{ok:?}");
    assert!(ok.payload["pid"].as_u64().is_some(), "{ok:?}");
    let log = log_of(dir.path(), "slow");
    assert_eq!(log.matches("Init: cold").count(), 2, "the timed-out environment is not reused: {log}");
    assert_eq!(log.matches("ErrorType: Sandbox.Timedout").count(), 1, "{log}");

    // A normal function is unaffected too.
    let exe = std::fs::read(ownstak_testkit::bin("fixture-lambda-rs")).expect("read fixture-lambda-rs");
    create(&client, "rs-fn", ownstak_testkit::zip(&[("bootstrap", &exe, 0o755)]), 5, 128, &[]).await;
    let n = invoke(&client, "rs-fn", None, &json!({"rawPath": "/after"})).await;
    assert_eq!((n.status, n.function_error.as_deref()), (200, None), "{n:?}");
    assert_eq!(n.payload["statusCode"], 200);

    // A crash is not sticky either: it is reported again, not cached.
    assert_platform_error(&invoke(&client, "crash", None, &json!({})).await, "Runtime.ExitError");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invokes_run_in_separate_environments() {
    curl_available();
    let dir = ownstak_testkit::tempdir();
    let barrier = dir.path().join("barrier");
    std::fs::create_dir(&barrier).expect("mkdir barrier");
    let server = Server::start(&dir.path().join("data")).await;
    let client = server.client();
    let barrier_env = barrier.to_str().expect("utf-8 path");
    create(
        &client,
        "par",
        ownstak_testkit::zip(&[("bootstrap", CURL_BOOTSTRAP.as_bytes(), 0o755)]),
        30,
        128,
        &[("BARRIER_DIR", barrier_env)],
    )
    .await;

    // Each invocation waits until two environments are inside an invocation
    // at the same time; that only happens if the service started a second one.
    let event = json!({});
    let (a, b) = tokio::join!(invoke(&client, "par", None, &event), invoke(&client, "par", None, &event));
    for x in [&a, &b] {
        assert_eq!((x.status, x.function_error.as_deref()), (200, None), "{x:?}");
        assert_eq!(x.payload["met"], true, "both invocations were in flight at once: {x:?}");
    }
    let (pa, pb) = (a.payload["pid"].as_u64().expect("pid"), b.payload["pid"].as_u64().expect("pid"));
    assert_ne!(pa, pb, "two concurrent invocations ran in two environments");
    let mut registered: Vec<u64> = std::fs::read_dir(&barrier)
        .expect("read barrier")
        .map(|e| e.expect("entry").file_name().to_string_lossy().parse().expect("pid file"))
        .collect();
    registered.sort_unstable();
    let mut expected = vec![pa, pb];
    expected.sort_unstable();
    assert_eq!(registered, expected);

    // Afterwards both environments are warm: a third invoke reuses one of them.
    let c = invoke(&client, "par", None, &event).await;
    assert_eq!(c.function_error, None, "{c:?}");
    assert!(
        c.payload["pid"] == a.payload["pid"] || c.payload["pid"] == b.payload["pid"],
        "{c:?} reuses a warm environment"
    );
    assert_eq!(log_of(&dir.path().join("data"), "par").matches("Init: cold").count(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_waits_for_the_warm_environment_instead_of_starting_new_ones() {
    let dir = ownstak_testkit::tempdir();
    // A warm wait far longer than the burst takes: every invocation of the
    // burst is handed the one warm environment in turn.
    let server = Server::start_with(dir.path(), |c| c.warm_wait = std::time::Duration::from_secs(30)).await;
    let client = server.client();
    let exe = std::fs::read(ownstak_testkit::bin("fixture-lambda-rs")).expect("read fixture-lambda-rs");
    create(&client, "burst", ownstak_testkit::zip(&[("bootstrap", &exe, 0o755)]), 5, 128, &[]).await;
    let first = invoke(&client, "burst", None, &json!({"rawPath": "/warm"})).await;
    assert_eq!((first.status, first.function_error.as_deref()), (200, None), "{first:?}");

    let burst: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(
                async move { invoke(&client, "burst", None, &json!({"rawPath": format!("/burst/{i}")})).await },
            )
        })
        .collect();
    for task in burst {
        let a = task.await.expect("invoke task");
        assert_eq!((a.status, a.function_error.as_deref()), (200, None), "{a:?}");
    }
    let log = log_of(dir.path(), "burst");
    assert_eq!(log.matches("Init: cold").count(), 1, "the burst reused the warm environment: {log}");
    assert_eq!(log.matches("REPORT RequestId").count(), 9, "{log}");
    server.stop().await;
}
