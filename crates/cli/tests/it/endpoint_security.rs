//! `ownstak local up` against callers it should and should not serve: the
//! generated key pair (`<data-dir>/credentials`) and `--verify-signatures`
//! with the CLI, the embedded proxy, the AWS SDK and boto3; any credentials
//! by default; web pages refused unless `--allow-origin` names them.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ownstak_testkit::{Backend, bin, raw_http, tempdir};
use serde_json::Value;

/// The virtualenv's interpreter with boto3 (see `scripts/test.sh`).
fn python() -> PathBuf {
    let path = std::env::var_os("OWNSTAK_PYTHON")
        .filter(|p| !p.is_empty())
        .expect("OWNSTAK_PYTHON is not set: run the tests through scripts/test.sh (they need boto3)");
    PathBuf::from(path)
}

/// Runs tests/python/boto3_endpoints.py against `backend` with the given
/// credential variables and nothing from the developer's AWS setup.
fn boto3(backend: &Backend, env: &[(&str, &str)]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/boto3_endpoints.py");
    let out = Command::new(python())
        .arg(&script)
        .args([&backend.lambda, &backend.s3, ownstak_assets::DEFAULT_BUCKET])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "boto3 script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A static site, built with `ownstak build`.
fn build_site(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><h1>signed home</h1>").unwrap();
    std::fs::write(dir.join("robots.txt"), "User-agent: signed\n").unwrap();
    let out = Command::new(bin("ownstak"))
        .args(["build", dir.to_str().unwrap(), "--framework", "static", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "ownstak build failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

async fn get(backend: &Backend, label: &str, path: &str) -> (u16, String, String) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .get(format!("http://{}{path}", backend.proxy))
        .header("host", format!("{label}.local.dev.localhost"))
        .send()
        .await
        .unwrap();
    let cache = r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), cache, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_signatures_accepts_only_the_generated_key_pair() {
    let data = tempdir();
    let apps = tempdir();
    let site = apps.path().join("site");
    build_site(&site);
    let args = ["--verify-signatures", "--s3-addr", "127.0.0.1:0"];
    let backend = Backend::start(data.path(), &args);

    // The key pair: generated into the data directory, private, an AWS credentials file.
    let path = data.path().join("credentials");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let file = std::fs::read_to_string(&path).unwrap();
    let keys = ownstak_guard::credentials::load(data.path()).unwrap().expect("a key pair");
    assert!(file.contains(&format!("[default]\naws_access_key_id = {}\n", keys.access_key_id())), "{file}");

    // The CLI signs with it (the test kit points it at the data directory):
    // deploy creates the function and uploads the assets; the embedded
    // proxy invokes in process and reads the store with it.
    let out = backend.deploy(&site, "site", "prod", &[]);
    assert_eq!((&out["deployment"], &out["assets"]["uploadedFiles"]), (&1.into(), &2.into()), "{out}");
    let (status, _, page) = get(&backend, "site-prod-1", "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("signed home"), "{page}");
    let (status, cache, robots) = get(&backend, "site-prod-1", "/robots.txt").await;
    assert_eq!((status, robots.as_str()), (200, "User-agent: signed\n"));
    assert_eq!(cache, "public, max-age=0, must-revalidate", "served from the asset store");

    // Pointed at another data directory (no credentials: the fallback pair), the CLI is refused with what to do.
    let elsewhere = tempdir();
    let out = Command::new(bin("ownstak"))
        .args(["deployments", "--project", "site", "--env", "prod", "--lambda-endpoint", &backend.lambda])
        .env("OWNSTAK_DATA_DIR", elsewhere.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--verify-signatures") && stderr.contains(&path.display().to_string()), "{stderr}");

    // boto3 with the file as it is: Lambda and S3 work.
    let ok = boto3(&backend, &[("AWS_SHARED_CREDENTIALS_FILE", path.to_str().unwrap())]);
    assert_eq!(ok["functions"], serde_json::json!(["ownstak-site-prod"]), "{ok}");
    assert_eq!((&ok["put"], &ok["get"]), (&200.into(), &"hello from boto3".into()), "{ok}");
    // A wrong secret: refused by both, saying why.
    let denied = boto3(
        &backend,
        &[("AWS_ACCESS_KEY_ID", keys.access_key_id()), ("AWS_SECRET_ACCESS_KEY", "not-the-secret-access-key")],
    );
    assert_eq!(denied["functions"]["error"], "AccessDeniedException", "{denied}");
    for call in ["functions", "put", "get"] {
        let message = denied[call]["message"].as_str().unwrap_or_default();
        assert!(message.contains("does not match"), "{call}: {denied}");
    }
    assert_eq!((&denied["put"]["error"], &denied["get"]["error"]), (&"AccessDenied".into(), &"AccessDenied".into()));

    // The AWS SDK for Rust: the key pair works, a wrong secret does not.
    let sdk = |secret: &str| {
        use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new(keys.access_key_id(), secret, None, None, "test"))
                .endpoint_url(&backend.lambda)
                .build(),
        )
    };
    let list = sdk(keys.secret_access_key()).list_functions().send().await.expect("the key pair");
    assert_eq!(list.functions().len(), 1);
    let err = sdk("wrong").list_functions().send().await.expect_err("a wrong secret");
    use aws_sdk_lambda::error::ProvideErrorMetadata as _;
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");

    // A restart keeps the key pair.
    assert!(backend.stop().success());
    let backend = Backend::start(data.path(), &args);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), file, "the credentials file is reused as it is");
    let out = backend.cli(&["deployments", "--project", "site", "--env", "prod", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_any_credentials_work_and_only_allowed_pages_get_in() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0", "--allow-origin", "http://localhost:5173"]);
    let path = data.path().join("credentials");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "made in every mode");

    // boto3 with made-up keys, as against other local emulators.
    let ok = boto3(&backend, &[("AWS_ACCESS_KEY_ID", "AKIAMADEUP"), ("AWS_SECRET_ACCESS_KEY", "made/up+secret")]);
    assert_eq!(ok["functions"], serde_json::json!([]), "{ok}");
    assert_eq!((&ok["put"], &ok["get"]), (&200.into(), &"hello from boto3".into()), "{ok}");

    let lambda = backend.lambda.trim_start_matches("http://").parse().unwrap();
    let s3 = backend.s3.trim_start_matches("http://").parse().unwrap();
    let signature = "X-Amz-Date: 20250101T000000Z\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAMADEUP/20250101/us-east-1/lambda/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    // A cross-site page (and a rebound one) is refused by the Lambda API and the S3 endpoint.
    for (addr, head) in [
        (
            lambda,
            "POST /2015-03-31/functions HTTP/1.1\nHost: evil.example\nOrigin: http://evil.example\nContent-Type: text/plain"
                .to_owned(),
        ),
        (
            lambda,
            format!("GET /2015-03-31/functions/ HTTP/1.1\nHost: {lambda}\nOrigin: http://evil.example\n{signature}"),
        ),
        (
            s3,
            format!(
                "PUT /ownstak-assets/pwned.txt HTTP/1.1\nHost: {s3}\nOrigin: http://evil.example\nContent-Type: text/plain"
            ),
        ),
        (s3, "GET /ownstak-assets/boto3/hello.txt HTTP/1.1\nHost: evil.example".to_owned()),
    ] {
        let r = raw_http(addr, &head, b"pwned").await;
        assert_eq!(r.status, 403, "{head}: {r:?}");
    }
    // The allowed page gets through (it signs, as it must) and gets CORS answers.
    let r = raw_http(
        lambda,
        &format!("GET /2015-03-31/functions/ HTTP/1.1\nHost: {lambda}\nOrigin: http://localhost:5173\n{signature}"),
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:5173"));
    let r = raw_http(
        s3,
        &format!("OPTIONS /ownstak-assets/x HTTP/1.1\nHost: {s3}\nOrigin: http://localhost:5173\nAccess-Control-Request-Method: PUT"),
        b"",
    )
    .await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (204, Some("http://localhost:5173")), "{r:?}");
    assert!(backend.stop().success());
}
