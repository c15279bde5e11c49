//! The modes of the service's own files: the data directory is private
//! (0700) and the state database and function logs, which hold function
//! environments and output, are readable by their owner only (0600), on a
//! fresh data directory and on one an older version left with wider modes.

use crate::common::{ROLE, Server};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

/// Answers every invocation with `{"ok":true}` and writes a line to stderr
/// (the function log) first.
const BOOTSTRAP: &str = r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
hdr=$(mktemp) || exit 1
while true; do
  curl -sS -D "$hdr" -o /dev/null "$api/invocation/next" || exit 1
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$hdr" | tr -d '\r' | cut -d' ' -f2)
  echo "handling $rid" >&2
  curl -sS -o /dev/null -X POST --data '{"ok":true}' "$api/invocation/$rid/response" || exit 1
done
"#;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn invoke_ok(client: &Client, name: &str) {
    let out = client.invoke().function_name(name).payload(Blob::new("{}")).send().await.unwrap();
    assert_eq!(out.function_error(), None, "{out:?}");
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"ok":true}"#);
}

/// Every file of the state database that exists (the database and its
/// -wal, -shm and -journal companions) has mode 0600, and the database exists.
fn assert_state_private(data: &Path) {
    assert_eq!(mode(&data.join("state.sqlite3")), 0o600, "state.sqlite3");
    for suffix in ["-wal", "-shm", "-journal"] {
        let p = data.join(format!("state.sqlite3{suffix}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_directory_is_private() {
    let root = ownstak_testkit::tempdir();
    let data = root.path().join("fresh/data");
    let server = Server::start(&data).await;
    let client = server.client();
    client
        .create_function()
        .function_name("secretive")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(ownstak_testkit::zip(&[("bootstrap", BOOTSTRAP.as_bytes(), 0o755)])))
                .build(),
        )
        .environment(Environment::builder().variables("API_KEY", "s3cr3t").build())
        .send()
        .await
        .unwrap();
    invoke_ok(&client, "secretive").await;

    assert_eq!(mode(&data), 0o700, "the data directory");
    assert!(data.join("state.sqlite3-wal").exists(), "the database runs in WAL mode");
    assert_state_private(&data);
    let log = data.join("logs/secretive.log");
    assert!(std::fs::read_to_string(&log).unwrap().contains("handling "), "the function wrote its log");
    assert_eq!(mode(&log), 0o600, "the function log");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_data_directory_keeps_working_and_is_tightened() {
    let root = ownstak_testkit::tempdir();
    let data = root.path().join("old");
    let zip = ownstak_testkit::zip(&[("bootstrap", BOOTSTRAP.as_bytes(), 0o755)]);
    let server = Server::start(&data).await;
    let client = server.client();
    client
        .create_function()
        .function_name("legacy")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap();
    invoke_ok(&client, "legacy").await;
    server.stop().await;

    // What an older version left: everything readable by everyone.
    chmod(&data, 0o755);
    for name in ["state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "logs/legacy.log"] {
        let p = data.join(name);
        if p.exists() {
            chmod(&p, 0o644);
        }
    }

    let server = Server::start(&data).await;
    let client = server.client();
    assert_eq!(mode(&data), 0o700, "the data directory is tightened on open");
    assert_state_private(&data);
    let f = client.get_function().function_name("legacy").send().await.expect("the function survived");
    assert_eq!(f.configuration().and_then(|c| c.function_name()), Some("legacy"));
    invoke_ok(&client, "legacy").await;
    assert_eq!(mode(&data.join("logs/legacy.log")), 0o600, "the log is tightened when it is next opened");
    assert_eq!(std::fs::read_to_string(data.join("logs/legacy.log")).unwrap().matches("handling ").count(), 2);
    server.stop().await;
}
