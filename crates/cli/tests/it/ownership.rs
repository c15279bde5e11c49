//! Function ownership end to end: the real `ownstak` binary against a real
//! local backend. Names that make the same function (`a-b`/`c` and
//! `a`/`b-c`) and other backends are refused with the owner named;
//! functions made before ownership tags are adopted.

use std::path::{Path, PathBuf};

use ownstak_testkit::{Backend, copy_dir, tempdir, workspace_root};

/// A copy of examples/hello whose page says `message`.
fn hello_variant(root: &Path, message: &str) -> PathBuf {
    let dir = root.join(message);
    copy_dir(&workspace_root().join("examples/hello"), &dir);
    std::fs::write(dir.join("message.txt"), message).unwrap();
    dir
}

async fn page(backend: &Backend, label: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .get(format!("http://{}/", backend.proxy))
        .header("host", format!("{label}.local.dev.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{label}");
    r.text().await.unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn refused(backend: &Backend, args: &[&str]) -> String {
    let out = backend.cli(args);
    assert!(!out.status.success(), "{args:?} should be refused: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn tags(backend: &Backend, function: &str) -> std::collections::BTreeMap<String, String> {
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    let got = lambda.get_function().function_name(function).send().await.unwrap();
    got.tags().cloned().unwrap_or_default().into_iter().collect()
}

fn owner_tags(project: &str, env: &str, backend: &str) -> std::collections::BTreeMap<String, String> {
    [("ownstak:project", project), ("ownstak:env", env), ("ownstak:backend", backend), ("ownstak:org", "dev")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_function_is_refused_and_keeps_serving() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0"]);

    let first = backend.deploy(&hello_variant(apps.path(), "owner"), "a-b", "c", &[]);
    assert_eq!((first["function"].as_str(), first["deployment"].as_u64()), (Some("ownstak-a-b-c"), Some(1)));
    assert_eq!(tags(&backend, "ownstak-a-b-c").await, owner_tags("a-b", "c", "local"));

    // `a`/`b-c` makes the same function name: refused, owner and way out named.
    let intruder = hello_variant(apps.path(), "intruder");
    let err = refused(&backend, &["deploy", intruder.to_str().unwrap(), "--project", "a", "--env", "b-c", "--json"]);
    assert!(
        err.contains(
            "function ownstak-a-b-c belongs to project `a-b`, environment `c` (backend `local` of organization `dev`)"
        ) && err.contains("pick another project or environment name"),
        "{err}"
    );
    // Nor may it promote or list the owner's deployments.
    let err = refused(&backend, &["promote", "1", "--project", "a", "--env", "b-c"]);
    assert!(err.contains("belongs to project `a-b`, environment `c`") && err.contains("pick another"), "{err}");
    let err = refused(&backend, &["deployments", "--project", "a", "--env", "b-c"]);
    assert!(err.contains("belongs to project `a-b`, environment `c`"), "{err}");

    // The owner's live deployment is untouched: still one deployment, still serving.
    assert!(page(&backend, "a-b-c").await.contains("owner"));
    assert!(page(&backend, "a-b-c-1").await.contains("owner"));
    let list = backend.cli(&["deployments", "--project", "a-b", "--env", "c", "--json"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["deployments"].as_array().unwrap().len(), 1, "{list}");
    assert!(backend.stop().success());

    // The same data under another backend name: the function is that
    // backend's, so this one refuses it.
    let other = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0", "--backend", "other"]);
    let err = refused(&other, &["deploy", intruder.to_str().unwrap(), "--project", "a-b", "--env", "c"]);
    assert!(
        err.contains("(backend `local` of organization `dev`)") && err.contains("deploy it through backend `local`"),
        "{err}"
    );
    let err = refused(&other, &["promote", "1", "--project", "a-b", "--env", "c"]);
    assert!(err.contains("backend `local`"), "{err}");
    assert!(other.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_made_before_ownership_tags_are_adopted() {
    let data = tempdir();
    let apps = tempdir();
    let backend = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0"]);
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);

    // As an older ownstak made them: no tags at all, or project and
    // environment only.
    let code = ownstak_testkit::zip(&[("bootstrap", b"#!/bin/sh\nexit 1\n", 0o755)]);
    for (name, tags) in
        [("ownstak-old-app", &[][..]), ("ownstak-x-y-z", &[("ownstak:project", "x-y"), ("ownstak:env", "z")][..])]
    {
        let mut create = lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role("arn:aws:iam::000000000000:role/old")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(code.clone()))
                    .build(),
            );
        for (k, v) in tags {
            create = create.tags(*k, *v);
        }
        create.send().await.unwrap();
    }

    // The next deploy adopts the untagged one, says so, and serves.
    let dir = hello_variant(apps.path(), "adopted");
    let out = backend.cli(&["deploy", dir.to_str().unwrap(), "--project", "old", "--env", "app", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no ownership tags") && stderr.contains("adopting it"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["adoptedFunction"].as_bool(), json["deployment"].as_u64()), (Some(true), Some(1)), "{json}");
    assert_eq!(tags(&backend, "ownstak-old-app").await, owner_tags("old", "app", "local"));
    assert!(page(&backend, "old-app").await.contains("adopted"));
    // Adopted once: the next deploy is an ordinary one.
    let again = backend.deploy(&hello_variant(apps.path(), "again"), "old", "app", &[]);
    assert_eq!((again["adoptedFunction"].as_bool(), again["deployment"].as_u64()), (Some(false), Some(2)));

    // The older function's project and environment tags still name its owner.
    let err = refused(&backend, &["deploy", dir.to_str().unwrap(), "--project", "x", "--env", "y-z"]);
    assert!(err.contains("belongs to project `x-y`, environment `z`"), "{err}");
    assert!(backend.stop().success());
}
