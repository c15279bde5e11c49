//! Who may drive the Lambda API and the Runtime APIs: requests a web page
//! can send (a cross-site form POST, a DNS-rebound page, a plain `<img>`)
//! are refused with 403 before they create or run anything; allowed
//! origins get through; with signature verification only the backend's key
//! pair works; and a sandbox's Runtime API answers only that sandbox.

use crate::common::{ROLE, Server};
use crate::python_clients::{python, python_file};

use std::path::Path;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::ProvideErrorMetadata as _;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use ownstak_testkit::{RawResponse, raw_http};
use serde_json::{Value, json};

/// A well-formed SigV4 header with a made-up key: what "any credentials" look like.
const ANY_SIGNATURE: &str = "Authorization: AWS4-HMAC-SHA256 Credential=AKIAANYTHING/20250101/us-east-1/lambda/aws4_request, \
     SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000\n\
     X-Amz-Date: 20250101T000000Z";

/// Asserts a Lambda API refusal: 403, `AccessDeniedException`, a message with `needle`.
fn assert_lambda_refusal(r: &RawResponse, needle: &str) {
    assert_eq!(r.status, 403, "{r:?} {}", r.text());
    assert_eq!(r.header("x-amzn-errortype"), Some("AccessDeniedException"), "{r:?}");
    let body = r.json();
    assert_eq!(body["Type"], "User", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "expected {needle:?} in {message:?}");
}

/// A function whose bootstrap leaves a marker file when it ever runs.
async fn create_marker_function(client: &Client, name: &str, marker: &Path) {
    let bootstrap = format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display());
    let zip = ownstak_testkit::zip(&[("bootstrap", bootstrap.as_bytes(), 0o755)]);
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .expect("CreateFunction");
}

async fn function_names(client: &Client) -> Vec<String> {
    let out = client.list_functions().send().await.expect("ListFunctions");
    out.functions().iter().filter_map(|f| f.function_name().map(str::to_owned)).collect()
}

#[tokio::test]
async fn browser_requests_neither_create_nor_run_functions() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let marker = dir.path().join("bootstrap-ran");
    create_marker_function(&client, "victim", &marker).await;
    let addr = server.addr;
    let port = addr.port();
    let create = br#"{"FunctionName":"pwned","Runtime":"provided.al2023","Role":"arn:aws:iam::000000000000:role/x","Handler":"bootstrap","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}"#;

    // The attack that used to work: a cross-site form POST through a rebound name.
    let r = raw_http(
        addr,
        &format!(
            "POST /2015-03-31/functions HTTP/1.1\nHost: evil.example:{port}\nOrigin: http://evil.example\nContent-Type: text/plain"
        ),
        create,
    )
    .await;
    assert_lambda_refusal(&r, "Host `evil.example");
    // Each rule on its own: a rebound page (foreign Host) even with a signature,
    let r = raw_http(
        addr,
        &format!("POST /2015-03-31/functions HTTP/1.1\nHost: evil.example:{port}\n{ANY_SIGNATURE}"),
        create,
    )
    .await;
    assert_lambda_refusal(&r, "does not name this machine");
    // a cross-site page (Origin) addressing 127.0.0.1, even with a signature,
    let r = raw_http(
        addr,
        &format!(
            "POST /2015-03-31/functions HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: http://evil.example\nContent-Type: text/plain\n{ANY_SIGNATURE}"
        ),
        create,
    )
    .await;
    assert_lambda_refusal(&r, "Origin: http://evil.example");
    assert_lambda_refusal(&r, "--allow-origin http://evil.example");
    // and a request without any signature (a browser without Origin, a script).
    let r = raw_http(
        addr,
        &format!("POST /2015-03-31/functions HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json"),
        create,
    )
    .await;
    assert_lambda_refusal(&r, "not signed with AWS Signature Version 4");
    // Invoking the existing function the same ways.
    for head in [
        format!(
            "POST /2015-03-31/functions/victim/invocations HTTP/1.1\nHost: evil.example:{port}\nOrigin: http://evil.example\nContent-Type: text/plain"
        ),
        format!(
            "POST /2015-03-31/functions/victim/invocations HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: null\nContent-Type: text/plain\n{ANY_SIGNATURE}"
        ),
        format!("POST /2015-03-31/functions/victim/invocations HTTP/1.1\nHost: localhost:{port}"),
        format!("GET /2015-03-31/functions/ HTTP/1.1\nHost: app.localhost:{port}\n{ANY_SIGNATURE}"),
    ] {
        let r = raw_http(addr, &head, b"{}").await;
        assert_eq!((r.status, r.header("x-amzn-errortype")), (403, Some("AccessDeniedException")), "{head}: {r:?}");
    }

    // Nothing was created, nothing ran.
    assert_eq!(function_names(&client).await, ["victim"]);
    assert!(!marker.exists(), "the victim's bootstrap never ran");
    assert!(!dir.path().join("logs").join("victim.log").exists(), "no environment was started");

    // The health check needs no signature, but keeps the Host and Origin rules.
    let r = raw_http(addr, &format!("GET /__ownstak__/health HTTP/1.1\nHost: 127.0.0.1:{port}"), b"").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let r = raw_http(addr, &format!("GET /__ownstak__/health HTTP/1.1\nHost: evil.example:{port}"), b"").await;
    assert_lambda_refusal(&r, "evil.example");
    let r = raw_http(
        addr,
        &format!("GET /__ownstak__/health HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: http://evil.example"),
        b"",
    )
    .await;
    assert_lambda_refusal(&r, "Origin");
    // Other internal paths are signed like the API.
    let r = raw_http(addr, &format!("GET /__ownstak__/backend HTTP/1.1\nHost: 127.0.0.1:{port}"), b"").await;
    assert_lambda_refusal(&r, "not signed");
    server.stop().await;
}

#[tokio::test]
async fn an_allowed_origin_gets_through_and_no_other() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start_with(dir.path(), |c| {
        c.allowed_origins = vec!["http://localhost:5173".parse().unwrap()];
    })
    .await;
    let (addr, port) = (server.addr, server.addr.port());
    let list = |origin: &str| {
        format!("GET /2015-03-31/functions/ HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: {origin}\n{ANY_SIGNATURE}")
    };
    let r = raw_http(addr, &list("http://localhost:5173"), b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert_eq!(r.json()["Functions"], json!([]));
    for other in ["http://localhost:5174", "https://localhost:5173", "http://evil.example"] {
        let r = raw_http(addr, &list(other), b"").await;
        assert_lambda_refusal(&r, other);
    }
    // The browser's preflight for a signed request: answered for the allowed origin only.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /2015-03-31/functions HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: {origin}\n\
             Access-Control-Request-Method: POST\nAccess-Control-Request-Headers: authorization,x-amz-date,content-type"
        )
    };
    let r = raw_http(addr, &preflight("http://localhost:5173"), b"").await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert_eq!(r.header("access-control-allow-headers"), Some("authorization,x-amz-date,content-type"));
    let r = raw_http(addr, &preflight("http://evil.example"), b"").await;
    assert_eq!(r.status, 403, "{r:?}");
    // An allowed page still has to sign.
    let r = raw_http(
        addr,
        &format!("GET /2015-03-31/functions/ HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: http://localhost:5173"),
        b"",
    )
    .await;
    assert_lambda_refusal(&r, "not signed");
    server.stop().await;
}

/// A Lambda client with a given key pair.
fn client_with(endpoint: &str, id: &str, secret: &str) -> Client {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(id, secret, None, None, "test"))
            .endpoint_url(endpoint)
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verified_signatures_only_the_backends_key_pair_works() {
    let dir = ownstak_testkit::tempdir();
    let keys = ownstak_guard::credentials::load_or_create(dir.path()).unwrap();
    let credentials = ownstak_guard::credentials::credentials_path(dir.path());
    let server = Server::start_with(dir.path(), |c| {
        c.keys = keys.clone();
        c.verify_signatures = true;
    })
    .await;
    let endpoint = server.endpoint();

    // The SDK with the generated keys: the whole control plane works.
    let good = client_with(&endpoint, keys.access_key_id(), keys.secret_access_key());
    let marker = dir.path().join("ran");
    create_marker_function(&good, "signed", &marker).await;
    assert_eq!(function_names(&good).await, ["signed"]);
    let payload = good.invoke().function_name("signed").payload(Blob::new("{}")).send().await.expect("Invoke");
    assert_eq!(payload.function_error(), Some("Unhandled"), "the bootstrap ran and exited");
    assert!(marker.exists());

    // A wrong secret, and another key id, are refused with what to do.
    let wrong_secret = client_with(&endpoint, keys.access_key_id(), "not-the-secret-access-key");
    let err = wrong_secret.list_functions().send().await.expect_err("a wrong secret is refused");
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("does not match") && message.contains(&credentials.display().to_string()), "{message}");
    let other = client_with(&endpoint, "AKIAANYTHING", "anything");
    let err = other.delete_function().function_name("signed").send().await.expect_err("another key is refused");
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("AKIAANYTHING") && message.contains(keys.access_key_id()), "{message}");
    assert!(message.contains(&credentials.display().to_string()), "names where the keys are: {message}");
    assert_eq!(function_names(&good).await, ["signed"], "nothing was deleted");

    // boto3 with the credentials file as it is, and with a wrong secret.
    let script = r#"
import sys, boto3, botocore.exceptions
endpoint = sys.argv[1]
client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-west-2")
try:
    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    print("ok", names)
except botocore.exceptions.ClientError as e:
    print("denied", e.response["Error"]["Code"], e.response["Error"]["Message"])
"#;
    let run = |env: Vec<(&str, String)>| {
        let mut cmd = std::process::Command::new(python());
        cmd.args(["-c", script, &endpoint])
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(env);
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run python");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let out = run(vec![("AWS_SHARED_CREDENTIALS_FILE", credentials.display().to_string())]).await;
    assert_eq!(out.trim(), "ok ['signed']", "boto3 signs with the credentials file");
    let out = run(vec![
        ("AWS_ACCESS_KEY_ID", keys.access_key_id().to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "wrong".to_owned()),
    ])
    .await;
    assert!(out.starts_with("denied AccessDeniedException") && out.contains("does not match"), "{out}");
    server.stop().await;
}

/// Creates a function running `tests/python/probe.py` with awslambdaric.
async fn create_probe(client: &Client, name: &str) {
    let bootstrap = format!("#!/bin/sh\nexec '{}' -m awslambdaric \"$_HANDLER\"\n", python().display());
    let handler = std::fs::read(python_file("probe.py")).expect("read tests/python/probe.py");
    let zip = ownstak_testkit::zip(&[("bootstrap", bootstrap.as_bytes(), 0o755), ("probe.py", &handler, 0o644)]);
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("probe.handler")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .timeout(30)
        .send()
        .await
        .expect("CreateFunction");
}

async fn invoke(client: &Client, name: &str, event: Value) -> Value {
    let out = client
        .invoke()
        .function_name(name)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Invoke {name}: {e:?}"));
    assert_eq!(out.function_error(), None, "{out:?}");
    serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or_default()).expect("a JSON payload")
}

/// Asserts a Runtime API refusal: 403, `AccessDenied`, a message with `needle`.
fn assert_runtime_refusal(status: u64, body: &Value, needle: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errorType"], "AccessDenied", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "expected {needle:?} in {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_api_answers_only_its_own_sandbox() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    create_probe(&client, "probe-a").await;
    create_probe(&client, "probe-b").await;

    // A's environment is warm now, its runtime waiting in invocation/next.
    let a = invoke(&client, "probe-a", json!({"op": "address"})).await;
    let a_api = a["address"].as_str().expect("A's Runtime API").to_owned();
    let a_addr: std::net::SocketAddr = a_api.parse().unwrap();

    // Another sandbox's process reaches A's port, with a proper Host: refused.
    let b = invoke(
        &client,
        "probe-b",
        json!({"op": "call", "target": a_api, "path": "/2018-06-01/runtime/invocation/next"}),
    )
    .await;
    let status = b["status"].as_u64().unwrap_or_else(|| panic!("B got no answer: {b}"));
    assert_runtime_refusal(status, &b["body"], "outside that sandbox");
    assert_runtime_refusal(status, &b["body"], "probe-a");

    // So does any process outside the sandboxes (here the test), whatever it asks,
    // and requests a browser would send are refused by the Host and Origin rules first.
    for (head, needle) in [
        (format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\nHost: {a_api}"), "outside that sandbox"),
        (
            format!("POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\nHost: {a_api}\nContent-Type: text/plain"),
            "outside that sandbox",
        ),
        (
            format!(
                "POST /2018-06-01/runtime/init/error HTTP/1.1\nHost: {a_api}\nOrigin: http://evil.example\nContent-Type: text/plain"
            ),
            "Origin: http://evil.example",
        ),
        (
            format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\nHost: evil.example:{}", a_addr.port()),
            "does not name this machine",
        ),
    ] {
        let r = raw_http(a_addr, &head, b"{\"errorType\":\"Pwned\"}").await;
        assert_runtime_refusal(u64::from(r.status), &r.json(), needle);
    }

    // Inside A's own sandbox, a foreign Host or an Origin is still refused.
    let own_host = invoke(
        &client,
        "probe-a",
        json!({"op": "call", "path": "/2018-06-01/runtime/invocation/next", "headers": {"Host": "evil.example"}}),
    )
    .await;
    assert_runtime_refusal(own_host["status"].as_u64().unwrap(), &own_host["body"], "evil.example");
    let own_origin = invoke(
        &client,
        "probe-a",
        json!({"op": "call", "path": "/2018-06-01/runtime/invocation/next", "headers": {"Origin": "http://evil.example"}}),
    )
    .await;
    assert_runtime_refusal(own_origin["status"].as_u64().unwrap(), &own_origin["body"], "Origin");

    // None of it took or answered one of A's invocations: A is the same warm
    // process, and every invocation came back from the handler.
    let again = invoke(&client, "probe-a", json!({"op": "address"})).await;
    assert_eq!((&again["address"], &again["pid"]), (&a["address"], &a["pid"]), "{again}");
    let log = std::fs::read_to_string(dir.path().join("logs").join("probe-a.log")).unwrap();
    assert_eq!(log.matches("REPORT RequestId:").count(), 4, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 1, "{log}");
    assert!(!log.contains("Pwned"), "{log}");
    server.stop().await;
}
