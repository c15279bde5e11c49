//! The local SSM Parameter Store endpoint, driven by the official AWS SDK
//! for Rust: versions and `name:version` selectors, SecureString values
//! only with decryption, paths, SSM's errors, and the Lambda API's
//! endpoint rules (a request signed with another key is refused).

use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssm::types::ParameterType;
use ownstak_guard::KeyPair;

use crate::common::Server;

const KEYS: (&str, &str) = ("OWNSTAKSSMTEST000001", "ssm/test/secret/key/0123456789abcdefghijk");

fn client(server: &Server, keys: (&str, &str)) -> Client {
    Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(keys.0, keys.1, None, None, "test"))
            .endpoint_url(server.endpoint())
            .build(),
    )
}

async fn put(ssm: &Client, name: &str, value: &str, kind: ParameterType) -> i64 {
    ssm.put_parameter().name(name).value(value).r#type(kind).overwrite(true).send().await.unwrap().version()
}

#[tokio::test]
async fn parameters_with_versions_paths_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), |c| {
        c.verify_signatures = true;
        c.keys = KeyPair::new(KEYS.0, KEYS.1);
    })
    .await;
    let ssm = client(&server, KEYS);
    let name = "/ownstak/dev/local/shop/prod/API_TOKEN";

    assert_eq!(put(&ssm, name, "one", ParameterType::SecureString).await, 1);
    assert_eq!(put(&ssm, name, "two", ParameterType::SecureString).await, 2);
    put(&ssm, "/ownstak/dev/local/shop/prod/GREETING", "=hi", ParameterType::String).await;
    put(&ssm, "/ownstak/dev/local/shop/prod/deeper/X", "x", ParameterType::String).await;
    put(&ssm, "/ownstak/dev/local/shop/prodx/Y", "y", ParameterType::String).await;

    // Creating what exists without Overwrite is refused.
    let err = ssm.put_parameter().name(name).value("x").r#type(ParameterType::SecureString).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_parameter_already_exists(), "{err:?}");

    // A version by selector, decrypted; without decryption never the value.
    let got = ssm.get_parameter().name(format!("{name}:1")).with_decryption(true).send().await.unwrap();
    let p = got.parameter().unwrap();
    assert_eq!((p.value(), p.version(), p.selector()), (Some("one"), 1, Some(":1")));
    let hidden = ssm.get_parameter().name(name).send().await.unwrap();
    let hidden = hidden.parameter().unwrap();
    assert_eq!(hidden.version(), 2);
    assert!(!hidden.value().unwrap().contains("two"), "{hidden:?}");
    let err = ssm.get_parameter().name(format!("{name}:9")).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_parameter_version_not_found(), "{err:?}");
    let err = ssm.get_parameter().name("/nope").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_parameter_not_found(), "{err:?}");

    // Several at once: what is missing is listed, not an error.
    let many = ssm
        .get_parameters()
        .names(format!("{name}:1"))
        .names(format!("{name}:2"))
        .names(format!("{name}:7"))
        .names("/ownstak/none")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let values: Vec<&str> = many.parameters().iter().filter_map(|p| p.value()).collect();
    assert_eq!(values, ["one", "two"]);
    assert_eq!(many.invalid_parameters(), [format!("{name}:7"), "/ownstak/none".to_owned()]);

    // A path: its direct children (latest versions), page by page.
    let mut names = Vec::new();
    let mut pages =
        ssm.get_parameters_by_path().path("/ownstak/dev/local/shop/prod/").max_results(1).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.unwrap().parameters().iter().map(|p| (p.name().unwrap().to_owned(), p.version())));
    }
    assert_eq!(
        names,
        [
            ("/ownstak/dev/local/shop/prod/API_TOKEN".to_owned(), 2),
            ("/ownstak/dev/local/shop/prod/GREETING".to_owned(), 1)
        ]
    );
    let all = ssm.get_parameters_by_path().path("/ownstak/dev/local/shop/prod").recursive(true).send().await.unwrap();
    assert_eq!(all.parameters().len(), 3);

    // SSM's limits.
    let err = ssm
        .put_parameter()
        .name("/ownstak/big")
        .value("x".repeat(4097))
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| aws_sdk_ssm::error::ProvideErrorMetadata::code(e)),
        Some("ValidationException")
    );

    // Deleting: every version goes.
    let deleted = ssm.delete_parameters().names(name).names("/ownstak/none").send().await.unwrap();
    assert_eq!(deleted.deleted_parameters(), [name.to_owned()]);
    assert_eq!(deleted.invalid_parameters(), ["/ownstak/none".to_owned()]);
    let gone = ssm.get_parameters().names(format!("{name}:1")).send().await.unwrap();
    assert_eq!(gone.invalid_parameters().len(), 1);

    // The endpoint's rules: another key pair is refused.
    let stranger = client(&server, ("AKIDSTRANGER00000001", "not/the/backend/secret/key/0000000000000"));
    let err = stranger.get_parameter().name("/ownstak/dev/local/shop/prod/GREETING").send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403), "{err:?}");

    // Stored privately.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.path().join("parameters.sqlite3")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    server.stop().await;
}
