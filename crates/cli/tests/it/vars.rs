//! `ownstak env set/unset/list` on a real `local up`: a deployment runs
//! with the variables it was deployed with, whatever is set later, and
//! `env set` wins over ownstak.toml's [env].

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
