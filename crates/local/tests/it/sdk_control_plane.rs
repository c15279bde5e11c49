//! Every control-plane operation of the local Lambda service, driven by the
//! official aws-sdk-lambda client: shapes, version numbering, aliases,
//! pagination, typed errors and persistence across a restart.

use crate::common::{ROLE, Server};

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, Runtime, State};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:000000000000:function:";

/// A trivial package; `tag` makes its bytes (and so its CodeSha256) distinct.
fn package(tag: &str) -> Vec<u8> {
    let script = format!("#!/bin/sh\n# {tag}\nexit 0\n");
    ownstak_testkit::zip(&[("bootstrap", script.as_bytes(), 0o755)])
}

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn code(zip: &[u8]) -> FunctionCode {
    FunctionCode::builder().zip_file(Blob::new(zip.to_vec())).build()
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Environment::builder().set_variables(Some(vars)).build()
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Checks the fields every FunctionConfiguration-shaped output shares.
macro_rules! assert_config {
    ($out:expr, name: $name:expr, version: $version:expr, zip: $zip:expr, timeout: $timeout:expr, memory: $memory:expr, env: $env:expr) => {{
        let out = &$out;
        let name: &str = $name;
        let version: &str = $version;
        let zip: &[u8] = $zip;
        assert_eq!(out.function_name(), Some(name));
        let arn =
            if version == "$LATEST" { format!("{ARN_PREFIX}{name}") } else { format!("{ARN_PREFIX}{name}:{version}") };
        assert_eq!(out.function_arn(), Some(arn.as_str()));
        assert_eq!(out.version(), Some(version));
        assert_eq!(out.code_sha256(), Some(sha256_b64(zip).as_str()));
        assert_eq!(out.code_size(), zip.len() as i64);
        assert_eq!(out.runtime(), Some(&Runtime::Providedal2023));
        assert_eq!(out.role(), Some(ROLE));
        assert_eq!(out.state(), Some(&State::Active));
        assert_eq!(out.last_update_status(), Some(&LastUpdateStatus::Successful));
        assert_eq!(out.timeout(), Some($timeout));
        assert_eq!(out.memory_size(), Some($memory));
        let expected_env: HashMap<String, String> = vars($env);
        assert_eq!(out.environment().and_then(|e| e.variables()).cloned().unwrap_or_default(), expected_env);
        assert!(out.revision_id().is_some_and(|r| !r.is_empty()), "a RevisionId");
        assert!(out.last_modified().is_some_and(|r| !r.is_empty()), "a LastModified");
    }};
}

async fn create(
    client: &Client,
    name: &str,
    zip: &[u8],
) -> aws_sdk_lambda::operation::create_function::CreateFunctionOutput {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(code(zip))
        .timeout(7)
        .memory_size(256)
        .environment(env(&[("A", "1")]))
        .send()
        .await
        .expect("CreateFunction")
}

/// All version names of a function, read one item per page.
async fn versions_paged(client: &Client, name: &str) -> Vec<String> {
    let pages = client
        .list_versions_by_function()
        .function_name(name)
        .into_paginator()
        .page_size(1)
        .send()
        .try_collect()
        .await
        .expect("ListVersionsByFunction");
    let mut out = Vec::new();
    for page in &pages {
        assert_eq!(page.versions().len(), 1, "MaxItems=1 gives one version per page");
        out.extend(page.versions().iter().map(|v| v.version().unwrap_or_default().to_owned()));
    }
    out
}

/// All (alias, version) pairs of a function, read one item per page.
async fn aliases_paged(client: &Client, name: &str) -> Vec<(String, String)> {
    let pages = client
        .list_aliases()
        .function_name(name)
        .into_paginator()
        .page_size(1)
        .send()
        .try_collect()
        .await
        .expect("ListAliases");
    let mut out = Vec::new();
    for page in &pages {
        assert_eq!(page.aliases().len(), 1, "MaxItems=1 gives one alias per page");
        out.extend(
            page.aliases().iter().map(|a| {
                (a.name().unwrap_or_default().to_owned(), a.function_version().unwrap_or_default().to_owned())
            }),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_plane_operation_through_the_sdk_and_across_a_restart() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let (zip1, zip2, zip3, zip4, zip5) =
        (package("one"), package("two"), package("three"), package("four"), package("five"));

    // CreateFunction.
    let created = create(&client, "app", &zip1).await;
    assert_config!(created, name: "app", version: "$LATEST", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    assert_eq!(created.handler(), Some("bootstrap"));
    let rev_created = created.revision_id().unwrap().to_owned();
    create(&client, "other", &zip1).await;

    // GetFunction and GetFunctionConfiguration.
    let got = client.get_function().function_name("app").send().await.expect("GetFunction");
    let got = got.configuration().expect("Configuration");
    assert_config!(got, name: "app", version: "$LATEST", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    assert_eq!(got.revision_id(), Some(rev_created.as_str()));
    let conf = client.get_function_configuration().function_name("app").send().await.expect("GetFunctionConfiguration");
    assert_config!(conf, name: "app", version: "$LATEST", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    // The ARN form of the name works too.
    let by_arn = client
        .get_function_configuration()
        .function_name(format!("{ARN_PREFIX}app"))
        .send()
        .await
        .expect("GetFunctionConfiguration by ARN");
    assert_eq!(by_arn.revision_id(), Some(rev_created.as_str()));

    // ListFunctions, one per page.
    let pages =
        client.list_functions().into_paginator().page_size(1).send().try_collect().await.expect("ListFunctions");
    let names: Vec<_> =
        pages.iter().flat_map(|p| p.functions()).map(|f| f.function_name().unwrap_or_default().to_owned()).collect();
    assert_eq!(pages.len(), 2, "two functions, one per page");
    assert_eq!(names, ["app", "other"]);

    // PublishVersion: 1, and an unchanged $LATEST publishes nothing new.
    let v1 = client.publish_version().function_name("app").send().await.expect("PublishVersion");
    assert_config!(v1, name: "app", version: "1", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    let again = client
        .publish_version()
        .function_name("app")
        .code_sha256(sha256_b64(&zip1))
        .revision_id(&rev_created)
        .send()
        .await
        .expect("PublishVersion unchanged");
    assert_eq!(again.version(), Some("1"));
    assert_eq!(again.revision_id(), v1.revision_id());

    // UpdateFunctionCode changes the code and the revision.
    let updated = client
        .update_function_code()
        .function_name("app")
        .zip_file(Blob::new(zip2.clone()))
        .send()
        .await
        .expect("UpdateFunctionCode");
    assert_config!(updated, name: "app", version: "$LATEST", zip: &zip2, timeout: 7, memory: 256, env: &[("A", "1")]);
    let rev_code = updated.revision_id().unwrap().to_owned();
    assert_ne!(rev_code, rev_created);

    // UpdateFunctionConfiguration replaces the environment and limits.
    let reconf = client
        .update_function_configuration()
        .function_name("app")
        .environment(env(&[("B", "2"), ("C", "three")]))
        .timeout(9)
        .memory_size(512)
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    assert_config!(reconf, name: "app", version: "$LATEST", zip: &zip2, timeout: 9, memory: 512, env: &[("B", "2"), ("C", "three")]);
    let rev_conf = reconf.revision_id().unwrap().to_owned();
    assert_ne!(rev_conf, rev_code);
    let conf = client.get_function_configuration().function_name("app").send().await.expect("GetFunctionConfiguration");
    assert_eq!(conf.revision_id(), Some(rev_conf.as_str()));
    assert_eq!(conf.timeout(), Some(9));

    // Version 2 snapshots the new state; version 1 is unchanged.
    let v2 = client
        .publish_version()
        .function_name("app")
        .revision_id(&rev_conf)
        .code_sha256(sha256_b64(&zip2))
        .send()
        .await
        .expect("PublishVersion 2");
    assert_config!(v2, name: "app", version: "2", zip: &zip2, timeout: 9, memory: 512, env: &[("B", "2"), ("C", "three")]);
    let still_v1 = client
        .get_function_configuration()
        .function_name("app")
        .qualifier("1")
        .send()
        .await
        .expect("GetFunctionConfiguration:1");
    assert_config!(still_v1, name: "app", version: "1", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    let v2_by_name = client.get_function().function_name("app:2").send().await.expect("GetFunction app:2");
    assert_eq!(v2_by_name.configuration().and_then(|c| c.version()), Some("2"));

    // Aliases: create, get, update, list, delete.
    let live = client
        .create_alias()
        .function_name("app")
        .name("live")
        .function_version("1")
        .description("prod")
        .send()
        .await
        .expect("CreateAlias");
    assert_eq!(live.alias_arn(), Some(format!("{ARN_PREFIX}app:live").as_str()));
    assert_eq!(live.name(), Some("live"));
    assert_eq!(live.function_version(), Some("1"));
    assert_eq!(live.description(), Some("prod"));
    let live_rev = live.revision_id().unwrap().to_owned();
    let got = client.get_alias().function_name("app").name("live").send().await.expect("GetAlias");
    assert_eq!((got.function_version(), got.revision_id()), (Some("1"), Some(live_rev.as_str())));
    let moved = client
        .update_alias()
        .function_name("app")
        .name("live")
        .function_version("2")
        .revision_id(&live_rev)
        .send()
        .await
        .expect("UpdateAlias");
    assert_eq!(moved.function_version(), Some("2"));
    assert_eq!(moved.description(), Some("prod"), "an update without Description keeps it");
    let live_rev2 = moved.revision_id().unwrap().to_owned();
    assert_ne!(live_rev2, live_rev);
    let via_alias = client
        .get_function_configuration()
        .function_name("app")
        .qualifier("live")
        .send()
        .await
        .expect("GetFunctionConfiguration:live");
    assert_eq!(via_alias.version(), Some("2"));
    client
        .create_alias()
        .function_name("app")
        .name("beta")
        .function_version("1")
        .send()
        .await
        .expect("CreateAlias beta");
    client
        .create_alias()
        .function_name("app")
        .name("edge")
        .function_version("$LATEST")
        .send()
        .await
        .expect("CreateAlias edge");
    assert_eq!(
        aliases_paged(&client, "app").await,
        [
            ("beta".to_owned(), "1".to_owned()),
            ("edge".to_owned(), "$LATEST".to_owned()),
            ("live".to_owned(), "2".to_owned())
        ]
    );
    client.delete_alias().function_name("app").name("edge").send().await.expect("DeleteAlias");
    let err = client.get_alias().function_name("app").name("edge").send().await.expect_err("deleted alias");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");

    // A version that an alias points at cannot be deleted.
    let err = client
        .delete_function()
        .function_name("app")
        .qualifier("1")
        .send()
        .await
        .expect_err("version 1 is aliased by beta");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_conflict_exception()), "{err:?}");

    // Version numbers are never reused, even after the newest is deleted.
    client
        .update_function_code()
        .function_name("app")
        .zip_file(Blob::new(zip3.clone()))
        .send()
        .await
        .expect("UpdateFunctionCode 3");
    let v3 = client.publish_version().function_name("app").send().await.expect("PublishVersion 3");
    assert_eq!(v3.version(), Some("3"));
    client.delete_function().function_name("app").qualifier("3").send().await.expect("DeleteFunction:3");
    let err = client
        .get_function_configuration()
        .function_name("app")
        .qualifier("3")
        .send()
        .await
        .expect_err("version 3 is gone");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    client
        .update_function_code()
        .function_name("app")
        .zip_file(Blob::new(zip4.clone()))
        .send()
        .await
        .expect("UpdateFunctionCode 4");
    let v4 = client.publish_version().function_name("app").send().await.expect("PublishVersion 4");
    assert_config!(v4, name: "app", version: "4", zip: &zip4, timeout: 9, memory: 512, env: &[("B", "2"), ("C", "three")]);
    assert_eq!(versions_paged(&client, "app").await, ["$LATEST", "1", "2", "4"]);

    // Everything survives a restart on the same data directory.
    let latest_rev = client
        .get_function_configuration()
        .function_name("app")
        .send()
        .await
        .expect("GetFunctionConfiguration")
        .revision_id()
        .unwrap()
        .to_owned();
    server.stop().await;
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let conf = client
        .get_function_configuration()
        .function_name("app")
        .send()
        .await
        .expect("GetFunctionConfiguration after restart");
    assert_config!(conf, name: "app", version: "$LATEST", zip: &zip4, timeout: 9, memory: 512, env: &[("B", "2"), ("C", "three")]);
    assert_eq!(conf.revision_id(), Some(latest_rev.as_str()));
    let v1 = client
        .get_function_configuration()
        .function_name("app")
        .qualifier("1")
        .send()
        .await
        .expect("version 1 after restart");
    assert_config!(v1, name: "app", version: "1", zip: &zip1, timeout: 7, memory: 256, env: &[("A", "1")]);
    assert_eq!(versions_paged(&client, "app").await, ["$LATEST", "1", "2", "4"]);
    assert_eq!(
        aliases_paged(&client, "app").await,
        [("beta".to_owned(), "1".to_owned()), ("live".to_owned(), "2".to_owned())]
    );
    let live = client.get_alias().function_name("app").name("live").send().await.expect("GetAlias after restart");
    assert_eq!(live.revision_id(), Some(live_rev2.as_str()));
    let names: Vec<_> = client
        .list_functions()
        .send()
        .await
        .expect("ListFunctions")
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["app", "other"]);
    // Unchanged $LATEST still maps to 4; a change continues with 5.
    assert_eq!(
        client.publish_version().function_name("app").send().await.expect("PublishVersion").version(),
        Some("4")
    );
    client
        .update_function_code()
        .function_name("app")
        .zip_file(Blob::new(zip5.clone()))
        .send()
        .await
        .expect("UpdateFunctionCode 5");
    let v5 = client.publish_version().function_name("app").send().await.expect("PublishVersion 5");
    assert_config!(v5, name: "app", version: "5", zip: &zip5, timeout: 9, memory: 512, env: &[("B", "2"), ("C", "three")]);

    // DeleteFunction removes the function with its versions and aliases.
    client.delete_function().function_name("app").send().await.expect("DeleteFunction");
    let err = client.get_function().function_name("app").send().await.expect_err("deleted function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err =
        client.get_alias().function_name("app").name("live").send().await.expect_err("alias of a deleted function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let names: Vec<_> = client
        .list_functions()
        .send()
        .await
        .expect("ListFunctions")
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["other"]);
    server.stop().await;

    // The deletion is durable as well.
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let err = client.get_function().function_name("app").send().await.expect_err("deleted function after restart");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    assert!(client.get_function().function_name("other").send().await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_the_sdks_typed_errors() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let zip = package("errors");

    // 404: a missing function, in every read operation.
    let err = client.get_function().function_name("missing").send().await.expect_err("missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client.get_function_configuration().function_name("missing").send().await.expect_err("missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client.publish_version().function_name("missing").send().await.expect_err("missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");

    // 409: a duplicate function.
    let created = create(&client, "f", &zip).await;
    let rev = created.revision_id().unwrap().to_owned();
    let err = client
        .create_function()
        .function_name("f")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .code(code(&zip))
        .send()
        .await
        .expect_err("duplicate function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_conflict_exception()), "{err:?}");

    // 400: invalid runtime, timeout, memory, package and name; none creates anything.
    let base =
        || client.create_function().function_name("g").runtime(Runtime::Providedal2023).role(ROLE).code(code(&zip));
    let err = base().runtime(Runtime::Nodejs20x).send().await.expect_err("unsupported runtime");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().timeout(901).send().await.expect_err("timeout above 900");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().timeout(0).send().await.expect_err("timeout of 0");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().memory_size(64).send().await.expect_err("memory below 128");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().code(code(b"this is not a zip")).send().await.expect_err("bad zip");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().function_name("bad name!").send().await.expect_err("bad function name");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().function_name("x".repeat(65)).send().await.expect_err("function name too long");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = base().role("not-a-role").send().await.expect_err("bad role");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = client.get_function().function_name("g").send().await.expect_err("no rejected create left a function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client
        .update_function_configuration()
        .function_name("f")
        .timeout(1000)
        .send()
        .await
        .expect_err("bad timeout update");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = client
        .update_function_code()
        .function_name("f")
        .zip_file(Blob::new(b"PK-but-not-really".to_vec()))
        .send()
        .await
        .expect_err("bad zip update");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let conf = client.get_function_configuration().function_name("f").send().await.expect("GetFunctionConfiguration");
    assert_eq!(conf.revision_id(), Some(rev.as_str()), "rejected updates change nothing");
    assert_eq!(conf.timeout(), Some(7));

    // 412: PublishVersion with a stale RevisionId or a wrong CodeSha256.
    let updated = client
        .update_function_configuration()
        .function_name("f")
        .timeout(8)
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    let fresh = updated.revision_id().unwrap().to_owned();
    assert_ne!(fresh, rev);
    let err = client.publish_version().function_name("f").revision_id(&rev).send().await.expect_err("stale RevisionId");
    assert!(err.as_service_error().is_some_and(|e| e.is_precondition_failed_exception()), "{err:?}");
    let err = client
        .publish_version()
        .function_name("f")
        .code_sha256(sha256_b64(b"other bytes"))
        .send()
        .await
        .expect_err("wrong CodeSha256");
    assert!(err.as_service_error().is_some_and(|e| e.is_precondition_failed_exception()), "{err:?}");
    assert_eq!(versions_paged(&client, "f").await, ["$LATEST"], "failed publishes create no version");
    let v1 = client
        .publish_version()
        .function_name("f")
        .revision_id(&fresh)
        .code_sha256(sha256_b64(&zip))
        .send()
        .await
        .expect("PublishVersion");
    assert_eq!(v1.version(), Some("1"));

    // Aliases: 409 duplicate, 404 missing target, 412 stale RevisionId.
    let live =
        client.create_alias().function_name("f").name("live").function_version("1").send().await.expect("CreateAlias");
    let err = client
        .create_alias()
        .function_name("f")
        .name("live")
        .function_version("1")
        .send()
        .await
        .expect_err("duplicate alias");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_conflict_exception()), "{err:?}");
    let err = client
        .create_alias()
        .function_name("f")
        .name("next")
        .function_version("9")
        .send()
        .await
        .expect_err("alias to a missing version");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client
        .create_alias()
        .function_name("missing")
        .name("live")
        .function_version("1")
        .send()
        .await
        .expect_err("alias of a missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client
        .update_alias()
        .function_name("f")
        .name("live")
        .function_version("9")
        .send()
        .await
        .expect_err("update to a missing version");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let first = client
        .update_alias()
        .function_name("f")
        .name("live")
        .description("moved")
        .revision_id(live.revision_id().unwrap())
        .send()
        .await
        .expect("UpdateAlias");
    let err = client
        .update_alias()
        .function_name("f")
        .name("live")
        .description("again")
        .revision_id(live.revision_id().unwrap())
        .send()
        .await
        .expect_err("stale alias RevisionId");
    assert!(err.as_service_error().is_some_and(|e| e.is_precondition_failed_exception()), "{err:?}");
    let now = client.get_alias().function_name("f").name("live").send().await.expect("GetAlias");
    assert_eq!(
        (now.description(), now.revision_id()),
        (Some("moved"), first.revision_id()),
        "the rejected update changed nothing"
    );
    let err = client.get_alias().function_name("f").name("nope").send().await.expect_err("missing alias");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client
        .update_alias()
        .function_name("f")
        .name("nope")
        .function_version("1")
        .send()
        .await
        .expect_err("update of a missing alias");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");

    // Deleting a version that does not exist is a 404.
    let err = client.delete_function().function_name("f").qualifier("7").send().await.expect_err("missing version");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client.delete_function().function_name("missing").send().await.expect_err("missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_at_creation_listed_added_removed_and_kept_across_a_restart() {
    let dir = ownstak_testkit::tempdir();
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let zip = package("tags");
    let arn = format!("{ARN_PREFIX}tagged");
    client
        .create_function()
        .function_name("tagged")
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .code(code(&zip))
        .tags("ownstak:project", "web")
        .tags("ownstak:env", "prod")
        .send()
        .await
        .expect("CreateFunction with tags");
    let expected = vars(&[("ownstak:project", "web"), ("ownstak:env", "prod")]);
    let got = client.get_function().function_name("tagged").send().await.expect("GetFunction");
    assert_eq!(got.tags().cloned().unwrap_or_default(), expected);
    let listed = client.list_tags().resource(&arn).send().await.expect("ListTags");
    assert_eq!(listed.tags().cloned().unwrap_or_default(), expected);

    client
        .tag_resource()
        .resource(&arn)
        .tags("ownstak:backend", "local")
        .tags("ownstak:env", "staging")
        .send()
        .await
        .expect("TagResource");
    client.untag_resource().resource(&arn).tag_keys("ownstak:project").send().await.expect("UntagResource");
    let after = vars(&[("ownstak:backend", "local"), ("ownstak:env", "staging")]);
    let listed = client.list_tags().resource(&arn).send().await.expect("ListTags");
    assert_eq!(listed.tags().cloned().unwrap_or_default(), after);

    // Tags belong to the function: not to a version, not to a missing function; `aws:` is reserved.
    let err = client.list_tags().resource(format!("{arn}:1")).send().await.expect_err("qualified ARN");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");
    let err = client.list_tags().resource(format!("{ARN_PREFIX}missing")).send().await.expect_err("missing function");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let err = client.tag_resource().resource(&arn).tags("aws:x", "y").send().await.expect_err("reserved key");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_value_exception()), "{err:?}");

    server.stop().await;
    let server = Server::start(dir.path()).await;
    let client = server.client();
    let listed = client.list_tags().resource(&arn).send().await.expect("ListTags after restart");
    assert_eq!(listed.tags().cloned().unwrap_or_default(), after);
    server.stop().await;
}
