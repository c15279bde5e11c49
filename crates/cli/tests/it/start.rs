//! `ownstak start`: a built app served at one address, with plain
//! `localhost` mapped to it, through the same runtime and proxy as in Lambda.

use std::ffi::OsStr;

use ownstak_testkit::{ServerProcess, copy_dir, ownstak, tempdir, workspace_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_serves_the_built_app_on_localhost() {
    let tmp = tempdir();
    let app = tmp.path().join("app");
    copy_dir(&workspace_root().join("examples/hello"), &app);
    let out = ownstak(&["build", app.to_str().unwrap(), "--command", "node server.js"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let argv = ["start", app.to_str().unwrap(), "--addr", "127.0.0.1:0", "--json"];
    let args: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
    let server = ServerProcess::start(&args);
    let addr = server.addr("proxy");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for host in [format!("localhost:{}", addr.port()), addr.to_string()] {
        let info: serde_json::Value = http
            .get(format!("http://{addr}/api/info"))
            .header("host", &host)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["function"], "ownstak-app-local", "{host}");
        assert_eq!(info["message"], "Hello from ownstak!");
    }
    assert!(server.stop().success());

    // Without a build there is nothing to start, and the error says what to run.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ownstak(&["start", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ownstak build"));
}
