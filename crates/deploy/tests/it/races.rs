//! Deploys and promotes racing each other, made deterministic by running
//! the library's steps (prepare, publish, claim, make live) in a chosen
//! order against a real `ownstak local up` process.

use std::collections::BTreeMap;

use ownstak_core::{DeploymentNumber, EnvironmentName, FunctionPrefix};
use ownstak_deploy::current::{MakeLive, read_current, try_make_live};
use ownstak_deploy::{
    Arch, BackendId, Code, DeployError, DeployRequest, Endpoint, FunctionRuntime, LOCAL_ROLE, Skipped, claim_number,
    deploy, lambda_client, list_deployments, make_live, prepare_function, promote, publish,
};
use ownstak_testkit::{Backend, tempdir, zip};

struct Fixture {
    backend: Backend,
    client: aws_sdk_lambda::Client,
    endpoint: Endpoint,
}

impl Fixture {
    fn start(data: &std::path::Path) -> Fixture {
        let backend = Backend::start(data, &["--s3-addr", "127.0.0.1:0"]);
        let keys = ownstak_deploy::local_keys(Some(data)).expect("the backend's key pair");
        let endpoint = Endpoint::Local { url: backend.lambda.clone(), keys };
        Fixture { client: lambda_client(&endpoint), endpoint, backend }
    }

    /// A request deploying code that says `tag` to `project`/`env` on the
    /// local backend (`local` of `dev`).
    fn request(&self, project: &str, env: &str, tag: &str) -> DeployRequest {
        let script = format!("#!/bin/sh\n# {tag}\nexit 1\n");
        DeployRequest {
            env: EnvironmentName::new(&FunctionPrefix::default(), project, env).unwrap(),
            backend: BackendId { backend: "local".into(), org: "dev".into() },
            code: Code::Zip(zip(&[("bootstrap", script.as_bytes(), 0o755)])),
            architecture: Arch::host().unwrap_or(Arch::X86_64),
            runtime: FunctionRuntime::Custom,
            memory: 128,
            timeout: 3,
            variables: BTreeMap::new(),
            deployment_id: format!("dpl-{}", tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
            role: LOCAL_ROLE.to_owned(),
            vpc: None,
            promote: true,
        }
    }

    /// Steps 1, 2 and 4 of a deploy: its version and deployment number,
    /// not yet live.
    async fn claimed(&self, req: &DeployRequest) -> (String, DeploymentNumber) {
        let prepared = prepare_function(&self.client, &self.endpoint, req, &mut |_| {}).await.unwrap();
        let version = publish(&self.client, &self.endpoint, req, &prepared, &mut |_| {}).await.unwrap();
        let n =
            claim_number(&self.client, &self.endpoint, req.env.function(), &version, &req.deployment_id).await.unwrap();
        (version, n)
    }

    /// The deployment `current` points at and its version.
    async fn live(&self, function: &str) -> (Option<u32>, Option<String>) {
        let state = read_current(&self.client, &self.endpoint, function).await.unwrap();
        (state.deployment, state.version)
    }
}

fn n(n: u32) -> DeploymentNumber {
    DeploymentNumber::new(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_ends_at_the_newest_deployment_and_promotes_are_never_undone() {
    let data = tempdir();
    let fx = Fixture::start(data.path());
    let (client, ep) = (&fx.client, &fx.endpoint);
    let f = "ownstak-web-prod";

    // A first deploy makes itself live.
    let first = deploy(client, ep, &fx.request("web", "prod", "a"), |_| {}).await.unwrap();
    assert_eq!((first.deployment, first.promoted), (1, true));

    // Two deploys claim 2 and 3; 3 moves `current` first, then 2 must not
    // move it back.
    let (_, two) = fx.claimed(&fx.request("web", "prod", "b")).await;
    let (v3, three) = fx.claimed(&fx.request("web", "prod", "c")).await;
    assert_eq!((two.get(), three.get()), (2, 3));
    assert_eq!(make_live(client, ep, f, &v3, three).await.unwrap(), None);
    let v2 = list_version(&fx, 2).await;
    assert_eq!(make_live(client, ep, f, &v2, two).await.unwrap(), Some(Skipped::NewerLive { live: 3 }));
    assert_eq!(fx.live(f).await, (Some(3), Some(v3.clone())));

    // A deploy claims 4; then the user promotes 2 (a rollback). The deploy
    // finishing afterwards leaves the rollback in place and says so.
    let (v4, four) = fx.claimed(&fx.request("web", "prod", "d")).await;
    let env = EnvironmentName::new(&FunctionPrefix::default(), "web", "prod").unwrap();
    let backend = BackendId { backend: "local".into(), org: "dev".into() };
    let rollback = promote(client, ep, &env, &backend, two).await.unwrap();
    assert_eq!((rollback.promoted.previous, rollback.promoted.superseded_by), (Some(3), None));
    let skipped = make_live(client, ep, f, &v4, four).await.unwrap();
    assert_eq!(skipped, Some(Skipped::PromotedSince { live: Some(2) }));
    assert!(skipped.unwrap().describe(four).contains("ownstak promote 4"), "the way out is named");
    assert_eq!(fx.live(f).await, (Some(2), Some(v2.clone())));

    // A deploy claims 5 and reads `current`; a promote of 1 lands before
    // its write. The write names the revision it read, so it fails instead
    // of undoing the promote; read again, the deploy leaves it alone.
    let (v5, five) = fx.claimed(&fx.request("web", "prod", "e")).await;
    let before = read_current(client, ep, f).await.unwrap();
    assert!(before.seen < 5, "{before:?}");
    promote(client, ep, &env, &backend, n(1)).await.unwrap();
    assert_eq!(try_make_live(client, ep, f, &before, &v5, five).await.unwrap(), MakeLive::Stale);
    assert_eq!(make_live(client, ep, f, &v5, five).await.unwrap(), Some(Skipped::PromotedSince { live: Some(1) }));
    assert_eq!(fx.live(f).await.0, Some(1));

    // The next deploy is newer than everything any promote knew of: it goes live.
    let sixth = deploy(client, ep, &fx.request("web", "prod", "f"), |_| {}).await.unwrap();
    assert_eq!((sixth.deployment, sixth.promoted, sixth.not_promoted), (6, true, None));
    let listed = list_deployments(client, ep, &env, &backend).await.unwrap();
    let live: Vec<u32> = listed.iter().filter(|d| d.live).map(|d| d.deployment).collect();
    assert_eq!(live, [6]);
    assert_eq!(listed.len(), 6);
    // Each deployment records its id; one that was live records when it
    // stopped being live (skew protection pins its clients for a while),
    // one that never was does not.
    let ids: Vec<Option<&str>> = listed.iter().map(|d| d.deployment_id.as_deref()).collect();
    assert_eq!(ids, [Some("dpl-a"), Some("dpl-b"), Some("dpl-c"), Some("dpl-d"), Some("dpl-e"), Some("dpl-f")]);
    let retired: Vec<u32> = listed.iter().filter(|d| d.retired_at.is_some()).map(|d| d.deployment).collect();
    assert_eq!(retired, [1, 2, 3], "1, 3, 2 and 1 again were live before 6; 4 and 5 never: {listed:?}");

    // Concurrent full deploys, in whatever order they finish: `current`
    // ends at the highest number.
    let (g, h, i) = (fx.request("web", "prod", "g"), fx.request("web", "prod", "h"), fx.request("web", "prod", "i"));
    let (g, h, i) =
        tokio::join!(deploy(client, ep, &g, |_| {}), deploy(client, ep, &h, |_| {}), deploy(client, ep, &i, |_| {}));
    let mut numbers = [g.unwrap().deployment, h.unwrap().deployment, i.unwrap().deployment];
    numbers.sort();
    assert_eq!(numbers, [7, 8, 9]);
    assert_eq!(fx.live(f).await.0, Some(9));

    assert!(fx.backend.stop().success());
}

/// The version of deployment `n`.
async fn list_version(fx: &Fixture, n: u32) -> String {
    let alias = fx
        .client
        .get_alias()
        .function_name("ownstak-web-prod")
        .name(DeploymentNumber::new(n).unwrap().alias())
        .send()
        .await
        .unwrap();
    alias.function_version().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_holds_one_deploys_code_and_configuration_only() {
    let data = tempdir();
    let fx = Fixture::start(data.path());
    let (client, ep) = (&fx.client, &fx.endpoint);

    // A first deploy creates the function; before it publishes, another
    // deploy's configuration lands in $LATEST. The publish names the
    // revision it created, so it is refused, and the retry publishes this
    // deploy's own configuration again with its code.
    let req = fx.request("api", "prod", "mine");
    let prepared = prepare_function(client, ep, &req, &mut |_| {}).await.unwrap();
    assert!(prepared.created());
    client
        .update_function_configuration()
        .function_name("ownstak-api-prod")
        .memory_size(512)
        .environment(aws_sdk_lambda::types::Environment::builder().variables("FROM", "another deploy").build())
        .send()
        .await
        .unwrap();
    let version = publish(client, ep, &req, &prepared, &mut |_| {}).await.unwrap();
    let published =
        client.get_function_configuration().function_name("ownstak-api-prod").qualifier(&version).send().await.unwrap();
    assert_eq!(published.memory_size(), Some(128));
    // Only this deploy's own variables: its deployment id, nothing from the other one.
    let variables = published.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    let expected = std::collections::HashMap::from([("OWNSTAK_DEPLOYMENT_ID".to_owned(), req.deployment_id.clone())]);
    assert_eq!(variables, expected, "{published:?}");
    let code = match &req.code {
        Code::Zip(z) => z.clone(),
        Code::S3 { .. } => unreachable!(),
    };
    use base64::Engine as _;
    use sha2::Digest as _;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&code));
    assert_eq!(published.code_sha256(), Some(sha.as_str()));

    // Ownership: another backend's deploy of the same environment is refused
    // before it changes anything, and says whose the function is.
    let mut other = fx.request("api", "prod", "theirs");
    other.backend = BackendId { backend: "other".into(), org: "dev".into() };
    let err = prepare_function(client, ep, &other, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, DeployError::NotOwner { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("backend `local` of organization `dev`") && text.contains("--backend local --org dev"),
        "{text}"
    );
    assert!(fx.backend.stop().success());
}
