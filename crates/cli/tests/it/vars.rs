//! `ownstak env set/unset/list` on a real `local up`: a deployment runs
//! with the variables and secrets it was deployed with, whatever is set
//! later, `env set` wins over ownstak.toml's [env], and secrets reach the
//! app through the runtime without ever being in the bundle or the
//! function's configuration.

use std::path::{Path, PathBuf};

use ownstak_testkit::{Backend, copy_dir, tempdir, workspace_root};

/// A copy of examples/hello that answers `/api/env` with two variables,
/// and sets both in its ownstak.toml.
fn env_hello(root: &Path) -> PathBuf {
    let dir = root.join("env-hello");
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    let server = std::fs::read_to_string(dir.join("server.js")).unwrap();
    let hook = "const server = http.createServer((req, res) => {";
    assert!(server.contains(hook), "examples/hello/server.js changed; update this test");
    let route = r#"
  if (req.url === "/api/secret") {
    res.setHeader("content-type", "application/json");
    const codeFile = require("path").join(__dirname, "code.txt");
    const code = require("fs").existsSync(codeFile) ? require("fs").readFileSync(codeFile, "utf8") : null;
    res.end(JSON.stringify({ token: process.env.API_TOKEN ?? null, greeting: process.env.GREETING ?? null, code }));
    return;
  }
  if (req.url === "/api/env") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ greeting: process.env.GREETING ?? null, fromToml: process.env.FROM_TOML ?? null }));
    return;
  }"#;
    std::fs::write(dir.join("server.js"), server.replace(hook, &format!("{hook}{route}"))).unwrap();
    let mut toml = std::fs::read_to_string(dir.join("ownstak.toml")).unwrap();
    toml.push_str("\n[env]\nGREETING = \"from toml\"\nFROM_TOML = \"yes\"\n");
    std::fs::write(dir.join("ownstak.toml"), toml).unwrap();
    dir
}

async fn env_of(backend: &Backend, label: &str) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("http://{}/api/env", backend.proxy))
        .header("host", format!("{label}.local.dev.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn env_cmd(backend: &Backend, args: &[&str]) -> std::process::Output {
    let mut all = vec!["env"];
    all.extend(args);
    all.extend(["--project", "hello", "--env", "prod"]);
    backend.cli(&all)
}

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn listed(backend: &Backend) -> serde_json::Value {
    let out = env_cmd(backend, &["list", "--json"]);
    ok(&out);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["variables"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_keep_the_variables_they_were_deployed_with() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let app = env_hello(apps.path());

    ok(&env_cmd(&backend, &["set", "GREETING=hello", "EMPTY=", "--json"]));
    assert_eq!(listed(&backend), serde_json::json!({ "GREETING": "hello", "EMPTY": "" }));
    let first = backend.deploy(&app, "hello", "prod", &[]);
    assert_eq!(first["variables"], serde_json::json!(["EMPTY", "GREETING"]), "{first}");
    assert_eq!(env_of(&backend, "hello-prod").await, serde_json::json!({ "greeting": "hello", "fromToml": "yes" }));

    // A change takes effect at the next deploy; the first deployment keeps its value.
    ok(&env_cmd(&backend, &["set", "GREETING=bonjour"]));
    assert_eq!(env_of(&backend, "hello-prod").await["greeting"], "hello", "not before a deploy");
    backend.deploy(&app, "hello", "prod", &[]);
    assert_eq!(env_of(&backend, "hello-prod").await["greeting"], "bonjour");
    assert_eq!(env_of(&backend, "hello-prod-1").await["greeting"], "hello");
    ok(&backend.cli(&["promote", "1", "--project", "hello", "--env", "prod"]));
    assert_eq!(env_of(&backend, "hello-prod").await["greeting"], "hello", "a rollback runs with its own variables");

    // Unset: the next deploy goes without it, and ownstak.toml's value shows again.
    ok(&env_cmd(&backend, &["unset", "GREETING", "NOT_SET"]));
    assert_eq!(listed(&backend), serde_json::json!({ "EMPTY": "" }));
    backend.deploy(&app, "hello", "prod", &[]);
    assert_eq!(env_of(&backend, "hello-prod").await["greeting"], "from toml");

    // --env-file: over ownstak.toml, under `env set`; a bad line fails the deploy.
    let env_file = apps.path().join("prod.env");
    std::fs::write(&env_file, "# for prod\nGREETING=\"from the file\"\nFROM_TOML=file\nEMPTY=file\n").unwrap();
    let env_file = env_file.to_str().unwrap();
    backend.deploy(&app, "hello", "prod", &["--env-file", env_file]);
    assert_eq!(
        env_of(&backend, "hello-prod").await,
        serde_json::json!({ "greeting": "from the file", "fromToml": "file" })
    );
    std::fs::write(apps.path().join("bad.env"), "OK=1\nAWS_REGION=x\n").unwrap();
    let bad = apps.path().join("bad.env");
    let out = backend.cli(&[
        "deploy",
        app.to_str().unwrap(),
        "--project",
        "hello",
        "--env",
        "prod",
        "--env-file",
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.env:2: ") && err.contains("reserved"), "{err}");

    // Bad input: a clear error, and nothing is written.
    for (args, says) in [
        (&["set", "GOOD=1", "1BAD=x"][..], "is not a valid variable name"),
        (&["set", "AWS_REGION=eu-west-1"][..], "is reserved"),
        (&["set", "OWNSTAK_DEPLOYMENT_ID=x"][..], "is reserved"),
        (&["set", "NOVALUE"][..], "is not KEY=VALUE"),
        (&["unset", "_HANDLER"][..], "is reserved"),
    ] {
        let out = env_cmd(&backend, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(listed(&backend), serde_json::json!({ "EMPTY": "" }));
    assert!(backend.stop().success());
}

async fn get(backend: &Backend, label: &str, path: &str) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .get(format!("http://{}{path}", backend.proxy))
        .header("host", format!("{label}.local.dev.localhost"))
        .send()
        .await
        .unwrap()
}

async fn secret_of(backend: &Backend, label: &str) -> serde_json::Value {
    let resp = get(backend, label, "/api/secret").await;
    assert_eq!(resp.status(), 200, "{label}");
    resp.json().await.unwrap()
}

/// Whether `needle` occurs in any file under `dir`.
fn found_under(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            if let Some(p) = found_under(&path, needle) {
                return Some(p);
            }
        } else if meta.is_file() && std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            return Some(path);
        }
    }
    None
}

async fn configuration(backend: &Backend, qualifier: &str) -> std::collections::BTreeMap<String, String> {
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    let conf = lambda
        .get_function_configuration()
        .function_name("ownstak-hello-prod")
        .qualifier(qualifier)
        .send()
        .await
        .unwrap();
    conf.environment().and_then(|e| e.variables()).map(|v| v.clone().into_iter().collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_app_and_stay_out_of_the_bundle_and_configuration() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let app = env_hello(apps.path());
    const FIRST: &str = "first-s3cret-value-4b1d";
    const SECOND: &str = "second-s3cret-value-77ce";

    ok(&env_cmd(&backend, &["set", "GREETING=hello"]));
    ok(&env_cmd(&backend, &["set", &format!("API_TOKEN={FIRST}"), "--secret", "--json"]));
    let out = env_cmd(&backend, &["list", "--json"]);
    ok(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["variables"], serde_json::json!({ "API_TOKEN": "********", "GREETING": "hello" }), "{list}");
    assert_eq!(list["secrets"], serde_json::json!(["API_TOKEN"]), "{list}");
    assert_eq!(list["path"], "/ownstak/dev/local/hello/prod/", "{list}");
    let text = env_cmd(&backend, &["list"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("API_TOKEN=******** (secret)") && !text.contains(FIRST), "{text}");

    std::fs::write(app.join("code.txt"), "one").unwrap();
    let first = backend.deploy(&app, "hello", "prod", &[]);
    assert_eq!(first["secrets"], serde_json::json!(["API_TOKEN"]), "{first}");
    assert_eq!(
        secret_of(&backend, "hello-prod").await,
        serde_json::json!({ "token": FIRST, "greeting": "hello", "code": "one" })
    );

    // Only a reference is in the function's configuration.
    let vars = configuration(&backend, "deployment-1").await;
    assert_eq!(vars.get("OWNSTAK_SECRETS").map(String::as_str), Some("API_TOKEN:1"), "{vars:?}");
    assert_eq!(vars.get("OWNSTAK_SECRETS_PATH").map(String::as_str), Some("/ownstak/dev/local/hello/prod/"));
    assert!(!vars.contains_key("API_TOKEN") && !vars.values().any(|v| v.contains(FIRST)), "{vars:?}");

    // A second deployment with another value; each keeps its own.
    ok(&env_cmd(&backend, &["set", &format!("API_TOKEN={SECOND}"), "--secret"]));
    assert_eq!(secret_of(&backend, "hello-prod").await["token"], FIRST, "not before a deploy");
    std::fs::write(app.join("code.txt"), "two").unwrap();
    backend.deploy(&app, "hello", "prod", &[]);
    assert_eq!(secret_of(&backend, "hello-prod").await["token"], SECOND);
    assert_eq!(secret_of(&backend, "hello-prod-1").await["token"], FIRST);
    assert_eq!(configuration(&backend, "deployment-2").await["OWNSTAK_SECRETS"], "API_TOKEN:2");
    ok(&backend.cli(&["promote", "1", "--project", "hello", "--env", "prod"]));
    assert_eq!(secret_of(&backend, "hello-prod").await["token"], FIRST, "a rollback runs with its own secret");

    // Neither value is in the bundles, the function state or the logs;
    // the parameter store holding them is private to its owner.
    for value in [FIRST, SECOND] {
        for dir in ["code", "logs"] {
            assert_eq!(found_under(&data.path().join(dir), value.as_bytes()), None, "{value} in {dir}");
        }
        for file in ["state.sqlite3", "state.sqlite3-wal"] {
            let bytes = std::fs::read(data.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{value} in {file}");
        }
    }
    let mode = std::fs::metadata(data.path().join("parameters.sqlite3")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Bad input: a clear error, and nothing is written.
    let big = format!("API_TOKEN={}", "x".repeat(4097));
    for (args, says) in [
        (&["set", big.as_str(), "--secret"][..], "at most 4096"),
        (&["set", "API_TOKEN=", "--secret"][..], "is empty"),
        (&["set", "OTHER=1", "GREETING=x", "--secret"][..], "is a plain variable"),
        (&["set", "API_TOKEN=plain"][..], "is a secret"),
        (&["set", "AWS_SECRET_ACCESS_KEY=x", "--secret"][..], "is reserved"),
    ] {
        let out = env_cmd(&backend, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
    let out = env_cmd(&backend, &["list", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(after["variables"], list["variables"], "nothing written: {after}");

    // A deployment whose secret was removed before its first start fails
    // to start, and its log says which parameter and what to do.
    ok(&env_cmd(&backend, &["set", "API_TOKEN=third", "--secret"]));
    let third = backend.deploy(&app, "hello", "prod", &["--no-promote"]);
    assert_eq!(third["deployment"], 3, "{third}");
    ok(&env_cmd(&backend, &["unset", "API_TOKEN"]));
    let resp = get(&backend, "hello-prod-3", "/api/secret").await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let log = std::fs::read_to_string(data.path().join("logs/ownstak-hello-prod.log")).unwrap();
    assert!(
        log.contains("cannot fetch the secret parameter /ownstak/dev/local/hello/prod/API_TOKEN:3")
            && log.contains("ownstak env set KEY=VALUE --secret"),
        "{log}"
    );

    // --redeploy: deployment 1's code with the current variables and secrets.
    ok(&env_cmd(&backend, &["set", "API_TOKEN=fourth", "--secret"]));
    ok(&env_cmd(&backend, &["set", "GREETING=now"]));
    let out = backend.cli(&["deploy", "--redeploy", "1", "--project", "hello", "--env", "prod", "--json"]);
    ok(&out);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((again["deployment"].as_u64(), again["redeployOf"].as_u64()), (Some(4), Some(1)), "{again}");
    assert_eq!(again["deploymentId"], first["deploymentId"], "the same build keeps its id");
    assert_eq!(
        secret_of(&backend, "hello-prod").await,
        serde_json::json!({ "token": "fourth", "greeting": "now", "code": "one" })
    );
    assert_eq!(secret_of(&backend, "hello-prod-2").await["code"], "two");
    let out = backend.cli(&["deploy", "--redeploy", "99", "--project", "hello", "--env", "prod"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("deployment 99 of hello/prod does not exist"), "{err}");
    assert!(backend.stop().success());
}
