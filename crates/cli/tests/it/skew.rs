//! Skew protection end to end: two deployments of the hello example on a
//! real `local up`; requests to the environment host that name the first
//! deployment's id (header, `?dpl=`, cookie) reach it after the second
//! went live, within the window, and nothing else does.

use std::path::{Path, PathBuf};

use ownstak_testkit::{Backend, copy_dir, tempdir, workspace_root};

fn hello_variant(root: &Path, message: &str) -> PathBuf {
    let dir = root.join(message);
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    std::fs::write(dir.join("message.txt"), message).unwrap();
    dir
}

/// The message of the deployment that answered `/api/info` on `host` with `headers`.
async fn served_by(backend: &Backend, host: &str, path_and_query: &str, headers: &[(&str, &str)]) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.get(format!("http://{}{path_and_query}", backend.proxy)).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{host}{path_and_query} {headers:?}");
    let info: serde_json::Value = resp.json().await.unwrap();
    info["message"].as_str().unwrap().to_owned()
}

const ENV_HOST: &str = "hello-prod.local.dev.localhost";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_clients_keep_their_deployment_within_the_window() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &[]);

    let first = backend.deploy(&hello_variant(apps.path(), "first"), "hello", "prod", &[]);
    let a = first["deploymentId"].as_str().unwrap().to_owned();
    assert!(a.starts_with("dpl_") && a.len() == 24, "{first}");

    // The environment host's HTML answers carry the live deployment's id
    // in a cookie; the runtime's header does not reach the client.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client.get(format!("http://{}/", backend.proxy)).header("host", ENV_HOST).send().await.unwrap();
    let cookie = page.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(cookie, format!("__ownstak_dpl={a}; Path=/; HttpOnly; SameSite=Lax"));
    assert!(page.headers().get("x-ownstak-deployment-id").is_none());
    let json = client.get(format!("http://{}/api/info", backend.proxy)).header("host", ENV_HOST).send().await.unwrap();
    assert!(json.headers().get("set-cookie").is_none(), "only HTML answers set the cookie");

    let second = backend.deploy(&hello_variant(apps.path(), "second"), "hello", "prod", &[]);
    let b = second["deploymentId"].as_str().unwrap().to_owned();
    assert_ne!(a, b, "another build, another id");
    // An id of another environment's deployment never leaves this one.
    let other = backend.deploy(&hello_variant(apps.path(), "other"), "other", "prod", &[]);
    let c = other["deploymentId"].as_str().unwrap().to_owned();

    let list = backend.cli(&["deployments", "--project", "hello", "--env", "prod", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let ids: Vec<&str> =
        list["deployments"].as_array().unwrap().iter().map(|d| d["deploymentId"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert!(list["deployments"][0]["retiredAt"].is_string(), "{list}");

    let cookie_a = format!("theme=dark; __ownstak_dpl={a}");
    let api = "/api/info";
    assert_eq!(served_by(&backend, ENV_HOST, api, &[]).await, "second");
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", &a)]).await, "first");
    assert_eq!(served_by(&backend, ENV_HOST, &format!("{api}?x=1&dpl={a}"), &[]).await, "first");
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("cookie", &cookie_a)]).await, "first");
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", &b), ("cookie", &cookie_a)]).await, "second");
    // A page load is not pinned by the cookie: a reload shows the live deployment.
    let navigate = [("cookie", cookie_a.as_str()), ("sec-fetch-mode", "navigate")];
    assert_eq!(served_by(&backend, ENV_HOST, api, &navigate).await, "second");
    // Unknown, malformed and foreign ids get the live deployment.
    for id in ["dpl_00000000000000000000", "x y;z", "", &c] {
        assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", id)]).await, "second", "{id:?}");
    }
    assert_eq!(served_by(&backend, ENV_HOST, &format!("{api}?dpl=%2F{a}"), &[]).await, "second");
    // A numbered host names its deployment already.
    assert_eq!(
        served_by(&backend, "hello-prod-2.local.dev.localhost", api, &[("x-deployment-id", &a)]).await,
        "second"
    );
    assert_eq!(served_by(&backend, "other-prod.local.dev.localhost", api, &[("x-deployment-id", &a)]).await, "other");

    // A rollback: the first is live again, clients of the second stay on it.
    let out = backend.cli(&["promote", "1", "--project", "hello", "--env", "prod", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(served_by(&backend, ENV_HOST, api, &[]).await, "first");
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", &b)]).await, "second");
    assert!(backend.stop().success());

    // With a zero window, only the live deployment is pinned to.
    let backend = Backend::start(data.path(), &["--skew-window", "0"]);
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", &b)]).await, "first");
    assert_eq!(served_by(&backend, ENV_HOST, api, &[("x-deployment-id", &a)]).await, "first");
    assert!(backend.stop().success());
}
