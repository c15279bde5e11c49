//! Foreign clients nobody here wrote, against the local Lambda service:
//! boto3 (the official Python SDK) drives the control plane, and
//! awslambdaric (the official Python runtime interface client) runs a
//! Python handler through the Runtime API.
//!
//! Both need the project's Python virtualenv, whose interpreter is named by
//! `OWNSTAK_PYTHON`; `scripts/test.sh` sets it up.

use crate::common::{ROLE, Server};

use std::path::{Path, PathBuf};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::RequestId as _;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use serde_json::{Value, json};

/// The virtualenv's interpreter (with boto3 and awslambdaric). A missing
/// setup fails the test: these clients are part of what is tested.
pub(crate) fn python() -> PathBuf {
    let Some(path) = std::env::var_os("OWNSTAK_PYTHON").filter(|p| !p.is_empty()) else {
        panic!(
            "OWNSTAK_PYTHON is not set: these tests need the project's Python virtualenv with boto3 and awslambdaric. \
             Run them through `scripts/test.sh`, or first `source scripts/env.sh && python_env` in this shell."
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_absolute(),
        "OWNSTAK_PYTHON must be an absolute path (the sandbox has its own PATH): {}",
        path.display()
    );
    let check = std::process::Command::new(&path).args(["-c", "import boto3, awslambdaric"]).output();
    match check {
        Ok(o) if o.status.success() => path,
        Ok(o) => panic!(
            "{} cannot import boto3 and awslambdaric ({}); run `scripts/test.sh` or `source scripts/env.sh && python_env`:\n{}",
            path.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "cannot run OWNSTAK_PYTHON={}: {e}; run `scripts/test.sh` or `source scripts/env.sh && python_env`",
            path.display()
        ),
    }
}

/// A file of `tests/python/`.
pub(crate) fn python_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("python").join(name)
}

fn log_of(data_dir: &Path, function: &str) -> String {
    std::fs::read_to_string(data_dir.join("logs").join(format!("{function}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_the_control_plane_and_invoke() {
    let python = python();
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;

    let script = python_file("boto3_control_plane.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(server.endpoint())
        // Nothing from the developer's AWS setup may leak into the client.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_LAMBDA")
        .env("PYTHONUNBUFFERED", "1")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {} {}: {e}", python.display(), script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "{} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- function log\n{}",
        script.display(),
        out.status,
        log_of(dir.path(), "py-cp")
    );
    assert!(out.status.success(), "{report}");
    assert!(stdout.contains("boto3 control plane:") && stdout.contains("checks passed"), "{report}");
    println!("{}", stdout.trim_end());

    // The three invokes ran in one environment per version: version 1 via
    // the alias and then by number share one, version 2 has its own.
    let log = log_of(dir.path(), "py-cp");
    assert_eq!(log.matches("REPORT RequestId:").count(), 3, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 2, "{log}");
    server.stop().await;
}

/// The answer of a synchronous invoke through aws-sdk-lambda.
#[derive(Debug)]
struct Answer {
    status: i32,
    function_error: Option<String>,
    executed_version: Option<String>,
    request_id: Option<String>,
    payload: Value,
}

async fn invoke(client: &Client, name: &str, event: &Value) -> Answer {
    let out = client
        .invoke()
        .function_name(name)
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
        request_id: out.request_id().map(str::to_owned),
        payload,
    }
}

/// The JSON document in the `body` of an HTTP-shaped handler answer.
fn body_of(a: &Answer) -> Value {
    let body = a.payload["body"].as_str().unwrap_or_else(|| panic!("a string body: {a:?}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {a:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslambdaric_runs_a_python_handler_warm_and_reports_its_exceptions() {
    let python = python();
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();

    // The official runtime interface client, started the way the managed
    // Python runtimes start it, with the handler named by `_HANDLER`.
    let bootstrap = format!("#!/bin/sh\nexec '{}' -m awslambdaric \"$_HANDLER\"\n", python.display());
    let handler = std::fs::read(python_file("handler.py")).expect("read tests/python/handler.py");
    let zip = ownstak_testkit::zip(&[("bootstrap", bootstrap.as_bytes(), 0o755), ("handler.py", &handler, 0o644)]);
    client
        .create_function()
        .function_name("py-ric")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("handler.handler")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .timeout(30)
        .memory_size(192)
        .environment(Environment::builder().variables("GREETING", "from the function's environment").build())
        .send()
        .await
        .expect("CreateFunction");

    // First invoke: a cold start, then the handler's HTTP-shaped answer.
    let event = json!({"version": "2.0", "rawPath": "/py/hello", "requestContext": {"http": {"method": "GET"}}});
    let a = invoke(&client, "py-ric", &event).await;
    let log = log_of(dir.path(), "py-ric");
    assert_eq!(
        (a.status, a.function_error.as_deref(), a.executed_version.as_deref()),
        (200, None, Some("$LATEST")),
        "{a:?}\n{log}"
    );
    assert_eq!(a.payload["statusCode"], 200, "{a:?}");
    assert_eq!(a.payload["headers"]["content-type"], "application/json", "{a:?}");
    let body = body_of(&a);
    assert_eq!(body["runtime"], "awslambdaric", "{body}");
    assert_eq!(body["path"], "/py/hello", "{body}");
    assert_eq!(body["function"], "py-ric", "{body}");
    assert_eq!(body["version"], "$LATEST", "{body}");
    assert_eq!(body["arn"], "arn:aws:lambda:us-east-1:000000000000:function:py-ric", "{body}");
    assert_eq!(body["memory"], "192", "{body}");
    assert_eq!(body["greeting"], "from the function's environment", "{body}");
    // The deadline header was understood: time was left.
    assert_eq!(body["remaining_ms"], true, "{body}");
    // The request id the handler saw is the one the invoker was told.
    let rid = body["requestId"].as_str().expect("a request id");
    assert!(!rid.is_empty(), "{body}");
    assert_eq!(a.request_id.as_deref(), Some(rid), "x-amzn-RequestId is the invocation's request id");
    assert_eq!(body["invocations"], 1, "{body}");

    // Second invoke: the same warm process, with its module state.
    let b = invoke(&client, "py-ric", &json!({"rawPath": "/py/again"})).await;
    assert_eq!((b.status, b.function_error.as_deref()), (200, None), "{b:?}");
    let body_b = body_of(&b);
    assert_eq!(body_b["path"], "/py/again", "{body_b}");
    assert_eq!(body_b["pid"], body["pid"], "the second invoke ran in the same process: {body_b}");
    assert_eq!(body_b["invocations"], 2, "{body_b}");
    let rid_b = body_b["requestId"].as_str().expect("a request id");
    assert_ne!(rid_b, rid, "each invocation has its own request id");
    assert_eq!(b.request_id.as_deref(), Some(rid_b));
    let log = log_of(dir.path(), "py-ric");
    assert_eq!(log.matches("REPORT RequestId:").count(), 2, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 1, "{log}");

    // An exception in the handler: awslambdaric posts it to /error and the
    // invoker gets it as an Unhandled function error.
    let f = invoke(&client, "py-ric", &json!({"fail": true})).await;
    assert_eq!(f.status, 200, "{f:?}");
    assert_eq!(f.function_error.as_deref(), Some("Unhandled"), "{f:?}");
    assert_eq!(f.executed_version.as_deref(), Some("$LATEST"), "{f:?}");
    assert_eq!(f.payload["errorType"], "FixtureFailure", "{f:?}");
    assert_eq!(f.payload["errorMessage"], "the event asked the python handler to fail", "{f:?}");
    assert_eq!(f.payload["requestId"].as_str(), f.request_id.as_deref(), "{f:?}");
    let trace = f.payload["stackTrace"].as_array().unwrap_or_else(|| panic!("a stackTrace: {f:?}"));
    assert!(
        trace.iter().any(|l| l.as_str().is_some_and(|l| l.contains("handler.py"))),
        "the trace points into handler.py: {f:?}"
    );
    let log = log_of(dir.path(), "py-ric");
    assert!(log.contains("FixtureFailure"), "awslambdaric logged the exception to the function log: {log}");
    assert_eq!(log.matches("ErrorType: FixtureFailure").count(), 1, "{log}");

    // The failure did not cost the environment: the next invoke is warm.
    let c = invoke(&client, "py-ric", &json!({"rawPath": "/py/after"})).await;
    assert_eq!((c.status, c.function_error.as_deref()), (200, None), "{c:?}");
    let body_c = body_of(&c);
    assert_eq!((&body_c["pid"], &body_c["invocations"]), (&body["pid"], &json!(4)), "{body_c}");
    let log = log_of(dir.path(), "py-ric");
    assert_eq!(log.matches("REPORT RequestId:").count(), 4, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 1, "{log}");

    // A handler module that cannot be imported: awslambdaric reports it to
    // /init/error and exits; the invoke gets that error, every time.
    client
        .update_function_configuration()
        .function_name("py-ric")
        .handler("missing_module.handler")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    for attempt in 1..=2 {
        let e = invoke(&client, "py-ric", &json!({})).await;
        assert_eq!((e.status, e.function_error.as_deref()), (200, Some("Unhandled")), "attempt {attempt}: {e:?}");
        assert_eq!(e.payload["errorType"], "Runtime.ImportModuleError", "attempt {attempt}: {e:?}");
        let message = e.payload["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("Unable to import module 'missing_module'"), "attempt {attempt}: {e:?}");
    }
    let log = log_of(dir.path(), "py-ric");
    assert_eq!(log.matches("ErrorType: Runtime.ImportModuleError").count(), 2, "{log}");
    assert_eq!(log.matches("Init: cold").count(), 3, "a failed init is not reused: {log}");
    server.stop().await;
}
