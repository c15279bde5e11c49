//! AWS backends end to end against moto's server: the real `ownstak` binary
//! runs `backend create`, `deploy --backend` (Node.js and native apps), `promote`,
//! `deployments` and `backend destroy`, and the official SDK's describe
//! calls check what each step left in the (moto) account.
//!
//! Needs the project's Python virtualenv (`OWNSTAK_PYTHON`) with `moto[server]`.
//! Functions are created, published and aliased but never invoked (moto
//! would need docker for that).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_credential_types::Credentials;
use ownstak_testkit::moto::{Moto, python};
use ownstak_testkit::{bin, tempdir};
use serde_json::Value;

async fn moto() -> Moto {
    Moto::start(0)
}

/// The SDK clients and the `ownstak` CLI of the test account in moto.
trait Account {
    fn moto(&self) -> &Moto;

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.moto().url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk().await).force_path_style(true).build(),
        )
    }

    /// Runs `ownstak ARGS` against moto, with test credentials and no
    /// shared AWS config of the machine.
    fn cli(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run ownstak");
        eprintln!("$ ownstak {}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        out
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("ownstak"));
        c.args(args)
            .stdin(Stdio::null())
            .env("OWNSTAK_AWS_ENDPOINT", &self.moto().url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.moto().config_file())
            .env("AWS_SHARED_CREDENTIALS_FILE", self.moto().credentials_file())
            .env("OWNSTAK_RUNTIME_BINARY", bin("ownstak-runtime"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("OWNSTAK_ORG")
            .env_remove("OWNSTAK_FUNCTION_PREFIX")
            .env_remove("OWNSTAK_ZONE_ID");
        c
    }

    /// Runs a command that must succeed with `--json`; returns its JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(out.status.success(), "ownstak {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("ownstak {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        self.fails_with(args, self.command(args))
    }

    /// Runs a command that must fail without any AWS credentials; returns its stderr.
    fn fails_without_credentials(&self, args: &[&str]) -> String {
        let mut c = self.command(args);
        c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
        self.fails_with(args, c)
    }

    fn fails_with(&self, args: &[&str], mut command: Command) -> String {
        let out = command.output().expect("run ownstak");
        eprintln!("$ ownstak {}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "ownstak {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Creates the platform zone for `name`; returns its id.
    async fn zone(&self, name: &str) -> String {
        let r53 = aws_sdk_route53::Client::new(&self.sdk().await);
        let out = r53.create_hosted_zone().name(name).caller_reference(format!("ref-{name}")).send().await.unwrap();
        out.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_owned()
    }

    /// The CNAME records of a zone, canonical names to targets.
    async fn cnames(&self, zone_id: &str) -> BTreeMap<String, String> {
        let r53 = aws_sdk_route53::Client::new(&self.sdk().await);
        let out = r53.list_resource_record_sets().hosted_zone_id(zone_id).send().await.unwrap();
        let canonical = |s: &str| s.replace("\\052", "*").trim_end_matches('.').to_ascii_lowercase();
        out.resource_record_sets()
            .iter()
            .filter(|s| s.r#type().as_str() == "CNAME")
            .map(|s| (canonical(s.name()), canonical(s.resource_records()[0].value())))
            .collect()
    }

    /// The `backend create` flags for an existing VPC with four subnets
    /// (see [`Moto::create_network`]).
    fn existing_vpc(&self) -> Vec<String> {
        let net = self.moto().create_network();
        vec![
            "--vpc-id".into(),
            net.vpc_id,
            "--vpc-cidr".into(),
            net.cidr.into(),
            "--public-subnets".into(),
            net.public_subnets.join(","),
            "--private-subnets".into(),
            net.private_subnets.join(","),
        ]
    }
}

impl Account for Moto {
    fn moto(&self) -> &Moto {
        self
    }
}

/// `backend create prod --org acme` on `ownstak.link` with its zone, a test
/// proxy image and the network flags `vpc`.
fn create_args(zone_id: &str, vpc: &[String]) -> Vec<String> {
    let fixed = ["backend", "create", "prod", "--org", "acme", "--root-domain", "ownstak.link", "--zone-id", zone_id];
    let image = ["--proxy-image", "img:test", "--json"];
    fixed.iter().chain(&image).map(|s| (*s).to_owned()).chain(vpc.iter().cloned()).collect()
}

/// A static site built with `ownstak build` whose home page says `message`.
fn static_site(root: &Path, moto: &Moto, message: &str) -> PathBuf {
    let dir = root.join(message);
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::write(dir.join("index.html"), format!("<!doctype html><h1>{message}</h1>")).unwrap();
    std::fs::write(dir.join("404.html"), "<!doctype html><h1>missing</h1>").unwrap();
    std::fs::write(dir.join("img/logo.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    moto.json(&["build", dir.to_str().unwrap(), "--framework", "static", "--json"]);
    dir
}

const BACKEND: &[&str] = &["--backend", "prod", "--org", "acme"];
/// The function of `web`/`prod` on backend `prod` of `acme`: a backend made
/// without `--function-prefix` has its own prefix.
const FUNCTION: &str = "ownstak_acme_prod-web-prod";
/// The function of `web`/`api` there.
const API_FUNCTION: &str = "ownstak_acme_prod-web-api";

/// A function's environment variables (none when it has no environment).
fn variables(
    conf: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> BTreeMap<String, String> {
    conf.environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(extra).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_deploy_promote_list_destroy() {
    let moto = moto().await;
    let zone_id = moto.zone("ownstak.link").await;
    let vpc = moto.existing_vpc();
    let create = create_args(&zone_id, &vpc);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();

    // Before the backend exists, deploys say how to create it.
    let apps = tempdir();
    let first = static_site(apps.path(), &moto, "first");
    let deploy_args = |dir: &Path| -> Vec<String> {
        [
            "deploy",
            dir.to_str().unwrap(),
            "--project",
            "web",
            "--env",
            "prod",
            "--memory",
            "512",
            "--timeout",
            "20",
            "--json",
        ]
        .iter()
        .chain(BACKEND)
        .map(|s| (*s).to_owned())
        .collect()
    };
    let args = deploy_args(&first);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = moto.fails(&args);
    assert!(
        err.contains("does not exist in us-east-1") && err.contains("ownstak backend create prod --org acme"),
        "{err}"
    );

    // Create, then create again: the second changes nothing.
    let created = moto.json(&create);
    assert_eq!(created["created"], true, "{created}");
    let outputs: BTreeMap<String, String> = serde_json::from_value(created["outputs"].clone()).unwrap();
    let again = moto.json(&create);
    for key in ["created", "updated", "certificateRequested", "dnsChanged"] {
        assert_eq!(again[key], false, "second create changed {key}: {again}");
    }
    assert_eq!(again["outputs"], created["outputs"]);

    // The stack's resources, through CloudFormation.
    let config = moto.sdk().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let res = cfn.describe_stack_resources().stack_name("ownstak-backend-acme-prod").send().await.unwrap();
    let kinds: Vec<&str> = res.stack_resources().iter().filter_map(|r| r.resource_type()).collect();
    for kind in [
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ECS::Service",
        "AWS::S3::Bucket",
        "AWS::IAM::Role",
        "AWS::EC2::SecurityGroup",
    ] {
        assert!(kinds.contains(&kind), "{kind} not created: {kinds:?}");
    }

    // The platform zone: the certificate's validation record and the wildcard CNAME.
    let records = moto.cnames(&zone_id).await;
    assert_eq!(
        records.get("*.prod.acme.ownstak.link"),
        Some(&outputs["AlbDnsName"].to_ascii_lowercase()),
        "{records:?}"
    );
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records.keys().any(|k| k.starts_with('_') && k.ends_with(".prod.acme.ownstak.link")),
        "no validation record: {records:?}"
    );

    // A runtime Lambda cannot run is refused before anything is uploaded.
    let script = apps.path().join("not-elf");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let err = moto.fails(&with(&args, &["--runtime-binary", script.to_str().unwrap()]));
    assert!(err.contains("not a Linux x86_64 or arm64 executable") && err.contains("--runtime-binary"), "{err}");

    // Three deploys.
    let mut deployed = Vec::new();
    for (i, msg) in ["first", "second", "third"].iter().enumerate() {
        let dir = if i == 0 { first.clone() } else { static_site(apps.path(), &moto, msg) };
        let args = deploy_args(&dir);
        let out = moto.json(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let n = i as u64 + 1;
        assert_eq!(out["deployment"], n, "{out}");
        assert_eq!(out["version"], n.to_string(), "{out}");
        assert_eq!(out["function"], FUNCTION);
        assert_eq!(out["promoted"], true);
        assert_eq!(out["createdFunction"], i == 0);
        assert_eq!(out["urls"]["deployment"], format!("https://web-prod-{n}.prod.acme.ownstak.link/"));
        assert_eq!(out["urls"]["environment"], "https://web-prod.prod.acme.ownstak.link/");
        assert_eq!(out["bundle"]["object"]["bucket"], outputs["CodeBucket"].as_str());
        assert!(out["assets"]["uploadedFiles"].as_u64().unwrap() >= 1, "{out}");
        assert_eq!(out["runtime"], "nodejs22.x", "{out}");
        deployed.push(out);
    }

    // Cache purges go to the purge log in the assets bucket, which every
    // proxy task polls: created by the first, appended to by the next
    // (conditional writes, as S3 and moto do them).
    for (n, selector) in [(1, ["--tag", "home"]), (2, ["--path", "/img/logo.svg"])] {
        let purge = with(&["cache", "purge", "--project", "web", "--env", "prod", "--json"], BACKEND);
        let out = moto.json(&with(&purge, &selector));
        assert_eq!((out["function"].as_str(), out["purge"].as_u64()), (Some(FUNCTION), Some(n)), "{out}");
    }
    let log = moto.s3().await.get_object().bucket(&outputs["AssetsBucket"]).key("purge/log.json").send().await.unwrap();
    let log: Value = serde_json::from_slice(&log.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(log["records"][0]["tags"][0], "home", "{log}");
    assert_eq!(log["records"][1]["paths"][0], "/img/logo.svg", "{log}");

    // The function as Lambda describes it.
    let lambda = aws_sdk_lambda::Client::new(&config);
    let conf = lambda.get_function_configuration().function_name(FUNCTION).send().await.unwrap();
    assert_eq!(conf.role(), Some(outputs["FunctionRoleArn"].as_str()));
    // A static site is served by Node.js: the managed Node.js runtime, with
    // the bundle's bootstrap started in place of its runtime client.
    assert_eq!(conf.runtime().map(|r| r.as_str()), Some("nodejs22.x"));
    assert_eq!(conf.handler(), Some("bootstrap.handler"));
    assert_eq!(conf.memory_size(), Some(512));
    assert_eq!(conf.timeout(), Some(20));
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86_64" };
    assert_eq!(conf.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [arch]);
    let vpc_config = conf.vpc_config().expect("the function runs in the backend's VPC");
    let private: Vec<&str> = outputs["FunctionSubnetIds"].split(',').collect();
    assert_eq!(vpc_config.subnet_ids(), private.as_slice());
    assert_eq!(vpc_config.security_group_ids(), [outputs["FunctionSecurityGroupId"].as_str()]);
    let vars = variables(&conf);
    assert_eq!(
        vars.keys().map(String::as_str).collect::<Vec<_>>(),
        ["AWS_LAMBDA_EXEC_WRAPPER", "OWNSTAK_ASSETS_DIGEST", "OWNSTAK_DEPLOYMENT_ID"],
        "only the exec wrapper, the assets' digest and the deployment id are set"
    );
    assert_eq!(vars["AWS_LAMBDA_EXEC_WRAPPER"], "/var/task/bootstrap");
    let function = lambda.get_function().function_name(FUNCTION).send().await.unwrap();
    let tags = function.tags().cloned().unwrap_or_default();
    let owner: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        owner,
        BTreeMap::from([
            ("ownstak:backend", "prod"),
            ("ownstak:env", "prod"),
            ("ownstak:org", "acme"),
            ("ownstak:project", "web")
        ]),
        "{tags:?}"
    );

    // Promote deployment 1, then list.
    let promoted = moto.json(&with(&["promote", "1", "--project", "web", "--env", "prod", "--json"], BACKEND));
    assert_eq!(promoted["version"], "1");
    assert_eq!(promoted["url"], "https://web-prod.prod.acme.ownstak.link/");
    let list = moto.json(&with(&["deployments", "--project", "web", "--env", "prod", "--json"], BACKEND));
    let items = list["deployments"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    let live: Vec<u64> =
        items.iter().filter(|d| d["live"] == true).map(|d| d["deployment"].as_u64().unwrap()).collect();
    assert_eq!(live, [1]);
    assert_eq!(items[2]["url"], "https://web-prod-3.prod.acme.ownstak.link/");

    // Versions and aliases.
    let versions = lambda.list_versions_by_function().function_name(FUNCTION).send().await.unwrap();
    let mut numbers: Vec<&str> = versions.versions().iter().filter_map(|v| v.version()).collect();
    numbers.sort();
    assert_eq!(numbers, ["$LATEST", "1", "2", "3"]);
    let aliases = lambda.list_aliases().function_name(FUNCTION).send().await.unwrap();
    let aliases: BTreeMap<&str, &str> =
        aliases.aliases().iter().map(|a| (a.name().unwrap(), a.function_version().unwrap())).collect();
    assert_eq!(
        aliases,
        BTreeMap::from([("current", "1"), ("deployment-1", "1"), ("deployment-2", "2"), ("deployment-3", "3")])
    );

    // The bundles in the code bucket (one per distinct bundle), the assets in the assets bucket.
    let s3 = moto.s3().await;
    let code = s3.list_objects_v2().bucket(&outputs["CodeBucket"]).send().await.unwrap();
    let mut keys: Vec<&str> = code.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort();
    let mut expected: Vec<&str> = deployed.iter().map(|d| d["bundle"]["object"]["key"].as_str().unwrap()).collect();
    expected.sort();
    assert_eq!(keys, expected);
    for d in &deployed {
        let key = d["bundle"]["object"]["key"].as_str().unwrap();
        assert_eq!(key, format!("bundles/{FUNCTION}/{}.zip", d["bundle"]["sha256"].as_str().unwrap()));
    }
    for v in 1..=3 {
        let prefix = format!("deployments/{FUNCTION}/{v}/");
        let listed = s3.list_objects_v2().bucket(&outputs["AssetsBucket"]).prefix(&prefix).send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert!(keys.iter().any(|k| k.ends_with("index.html")), "{prefix}: {keys:?}");
        assert!(keys.iter().any(|k| k.ends_with("img/logo.svg")), "{prefix}: {keys:?}");
    }
    let home = s3
        .get_object()
        .bucket(&outputs["AssetsBucket"])
        .key(format!("deployments/{FUNCTION}/2/index.html"))
        .send()
        .await
        .unwrap();
    let body = home.body.collect().await.unwrap().into_bytes();
    assert!(String::from_utf8_lossy(&body).contains("second"), "{}", String::from_utf8_lossy(&body));

    // The proxy task, as moto holds it: told the assets bucket, allowed to read and list it.
    let resources = cfn.describe_stack_resources().stack_name("ownstak-backend-acme-prod").send().await.unwrap();
    let physical = |logical: &str| {
        let found = resources.stack_resources().iter().find(|r| r.logical_resource_id() == Some(logical));
        found.and_then(|r| r.physical_resource_id()).unwrap_or_else(|| panic!("no {logical}")).to_owned()
    };
    let script = r#"
import sys, ast, json, urllib.parse, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
task = boto3.client("ecs", **kw).describe_task_definition(taskDefinition=sys.argv[2])["taskDefinition"]
role = sys.argv[3].split("/")[-1]
policy = boto3.client("iam", **kw).get_role_policy(RoleName=role, PolicyName="invoke-functions-read-assets")["PolicyDocument"]
if isinstance(policy, str):
    text = urllib.parse.unquote(policy)
    try:
        policy = json.loads(text)
    except ValueError:  # moto keeps a template's inline policy as Python's repr of it
        policy = ast.literal_eval(text)
print(json.dumps({"environment": task["containerDefinitions"][0]["environment"], "policy": policy}))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&moto.url)
        .arg(physical("ProxyTaskDefinition"))
        .arg(physical("ProxyTaskRole"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bucket = outputs["AssetsBucket"].as_str();
    assert!(
        task["environment"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"name": "OWNSTAK_ASSETS_BUCKET", "value": bucket})),
        "{task}"
    );
    let statements = task["policy"]["Statement"].as_array().unwrap();
    let actions = |s: &Value| -> Vec<String> {
        match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            list => list.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        }
    };
    let list_statement = statements.iter().find(|s| actions(s).contains(&"s3:ListBucket".to_owned())).unwrap();
    assert_eq!(actions(list_statement), ["s3:ListBucket"]);
    assert_eq!(list_statement["Resource"], serde_json::json!([format!("arn:aws:s3:::{bucket}")]), "{task}");

    // `ownstak proxy` with that bucket serves the static files from S3; moto
    // never runs functions, so these answers cannot come from an invocation.
    let proxy_data = tempdir();
    let argv = [
        "proxy",
        "--json",
        "--proxy-addr",
        "127.0.0.1:0",
        "--org",
        "acme",
        "--backend",
        "prod",
        "--root-domain",
        "ownstak.link",
        "--function-prefix",
        "ownstak_acme_prod",
        "--lambda-endpoint",
        &moto.url,
        "--assets-endpoint",
        &moto.url,
        "--assets-bucket",
        bucket,
        "--data-dir",
        proxy_data.path().to_str().unwrap(),
    ];
    let args: Vec<&std::ffi::OsStr> = argv.iter().map(std::ffi::OsStr::new).collect();
    let proxy = ownstak_testkit::ServerProcess::start(&args);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |host: &str, headers: &[(&str, &str)]| {
        let mut req = http.get(format!("http://{}/img/logo.svg", proxy.addr("proxy"))).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    for host in ["web-prod-2.prod.acme.ownstak.link", "web-prod.prod.acme.ownstak.link"] {
        let resp = get(host, &[]).await.unwrap();
        assert_eq!(resp.status(), 200, "{host}");
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(resp.headers()["cache-control"], "public, max-age=0, must-revalidate");
        assert_eq!(resp.text().await.unwrap(), svg);
        let again = get(host, &[("if-none-match", &etag)]).await.unwrap();
        assert_eq!(again.status(), 304, "{host}");
        let part = get(host, &[("range", "bytes=0-3")]).await.unwrap();
        assert_eq!(part.status(), 206, "{host}");
        assert_eq!(part.text().await.unwrap(), "<svg");
    }
    drop(proxy);

    // The same bundle again is not uploaded again.
    let args = deploy_args(&apps.path().join("third"));
    let again = moto.json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again["bundle"]["object"]["uploaded"], false, "{again}");
    assert_eq!(again["deployment"], 4);

    // An app started by a native executable stays on `provided.al2023`,
    // without the wrapper; switching the same function to a Node.js command
    // and back sets and then removes it.
    let native = apps.path().join("native");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::write(native.join("server"), b"\x7fELF not really").unwrap();
    std::fs::write(
        native.join("server.js"),
        "require('http').createServer((_, r) => r.end('hi')).listen(process.env.PORT)",
    )
    .unwrap();
    let deploy_native = |command: &str| -> Value {
        let args = with(
            &["deploy", native.to_str().unwrap(), "--project", "web", "--env", "api", "--command", command, "--json"],
            BACKEND,
        );
        moto.json(&args)
    };
    let api_conf = async || lambda.get_function_configuration().function_name(API_FUNCTION).send().await.unwrap();
    let out = deploy_native("./server --port $PORT");
    assert_eq!(
        (out["runtime"].as_str(), out["createdFunction"].as_bool()),
        (Some("provided.al2023"), Some(true)),
        "{out}"
    );
    let conf = api_conf().await;
    assert_eq!(conf.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(conf.handler(), Some("bootstrap"));
    let only_id = |conf: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput| {
        variables(conf).keys().map(String::as_str).collect::<Vec<_>>() == ["OWNSTAK_DEPLOYMENT_ID"]
    };
    assert!(only_id(&conf), "a native app needs only its deployment id: {:?}", conf.environment());
    let out = deploy_native("node server.js");
    assert_eq!(out["runtime"], "nodejs22.x", "{out}");
    let conf = api_conf().await;
    assert_eq!((conf.runtime().map(|r| r.as_str()), conf.handler()), (Some("nodejs22.x"), Some("bootstrap.handler")));
    assert_eq!(variables(&conf).get("AWS_LAMBDA_EXEC_WRAPPER").map(String::as_str), Some("/var/task/bootstrap"));
    let out = deploy_native("./server --port $PORT");
    assert_eq!(out["deployment"], 3, "{out}");
    let conf = api_conf().await;
    assert_eq!((conf.runtime().map(|r| r.as_str()), conf.handler()), (Some("provided.al2023"), Some("bootstrap")));
    assert!(only_id(&conf), "the wrapper is removed with the Node.js runtime: {:?}", conf.environment());

    // A second backend in the same account gets its own prefix: the same
    // project and environment deploy there too, to a function of its own.
    let mut staging: Vec<&str> = vec![
        "backend",
        "create",
        "staging",
        "--org",
        "acme",
        "--root-domain",
        "ownstak.link",
        "--zone-id",
        &zone_id,
        "--proxy-image",
        "img:test",
        "--json",
    ];
    staging.extend(vpc.iter().map(String::as_str));
    let staging_created = moto.json(&staging);
    assert_eq!(staging_created["outputs"]["FunctionPrefix"], "ownstak_acme_staging", "{staging_created}");
    let on_staging = ["--backend", "staging", "--org", "acme"];
    let out = moto.json(&with(
        &[
            "deploy",
            native.to_str().unwrap(),
            "--project",
            "web",
            "--env",
            "prod",
            "--command",
            "node server.js",
            "--json",
        ],
        &on_staging,
    ));
    assert_eq!(
        (out["function"].as_str(), out["deployment"].as_u64()),
        (Some("ownstak_acme_staging-web-prod"), Some(1))
    );

    // Destroy: refused while the function exists, then forced; the other
    // backend's function is left alone.
    let destroy = ["backend", "destroy", "prod", "--org", "acme", "--zone-id", &zone_id, "--json"];
    let err = moto.fails(&destroy);
    assert!(err.contains("--force"), "{err}");
    let gone = moto.json(&with(&destroy, &["--force"]));
    let mut functions: Vec<&str> =
        gone["deletedFunctions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    functions.sort();
    assert_eq!(functions, [API_FUNCTION, FUNCTION], "{gone}");
    assert_eq!(gone["keptFunctions"], serde_json::json!([]), "{gone}");
    lambda.get_function().function_name("ownstak_acme_staging-web-prod").send().await.unwrap();
    let list = moto.json(&with(&["deployments", "--project", "web", "--env", "prod", "--json"], &on_staging));
    assert_eq!(list["deployments"].as_array().unwrap().len(), 1, "{list}");
    // Only the staging backend's records are left in the platform zone.
    let left = moto.cnames(&zone_id).await;
    assert!(left.len() == 2 && left.keys().all(|k| k.ends_with("staging.acme.ownstak.link")), "{left:?}");
    assert!(lambda.get_function().function_name(FUNCTION).send().await.is_err());
    let err = moto.fails(&with(&["deployments", "--project", "web", "--env", "prod"], BACKEND));
    assert!(err.contains("ownstak backend create"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_errors_say_what_to_do() {
    let moto = moto().await;
    let apps = tempdir();
    let site = static_site(apps.path(), &moto, "site");
    let deploy = |extra: &[&str]| -> String {
        let mut args = vec!["deploy", site.to_str().unwrap(), "--project", "web", "--env", "prod"];
        args.extend(extra);
        moto.fails(&args)
    };

    // No organization.
    let err = deploy(&["--backend", "prod"]);
    assert!(err.contains("--org"), "{err}");
    // A backend that does not exist, and the right one in the wrong region.
    let err = deploy(&["--backend", "nope", "--org", "acme"]);
    assert!(
        err.contains("backend `nope` of `acme` does not exist in us-east-1")
            && err.contains("ownstak backend create nope --org acme"),
        "{err}"
    );
    let err = deploy(&["--backend", "nope", "--org", "acme", "--region", "eu-west-3"]);
    assert!(err.contains("does not exist in eu-west-3") && err.contains("--region"), "{err}");
    // Not a region at all.
    let err = deploy(&["--backend", "nope", "--org", "acme", "--region", "moon"]);
    assert!(err.contains("--region"), "{err}");
    // No credentials at all, or none for the named profile.
    let base =
        ["deploy", site.to_str().unwrap(), "--project", "web", "--env", "prod", "--backend", "prod", "--org", "acme"];
    let err = moto.fails_without_credentials(&base);
    assert!(err.contains("no AWS credentials found for the backend account") && err.contains("aws configure"), "{err}");
    let err = moto.fails_without_credentials(&with(&base, &["--profile", "ownstak-test-no-such-profile"]));
    assert!(
        err.contains("no AWS credentials found") && err.contains("--profile ownstak-test-no-such-profile"),
        "{err}"
    );

    // A stack whose creation was planned (a change set) but never executed.
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk().await);
    let template = serde_json::json!({ "Resources": { "Bucket": { "Type": "AWS::S3::Bucket" } } });
    cfn.create_change_set()
        .stack_name("ownstak-backend-acme-planned")
        .change_set_name("plan")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let err = deploy(&["--backend", "planned", "--org", "acme"]);
    assert!(err.contains("REVIEW_IN_PROGRESS") && err.contains("ownstak backend create"), "{err}");

    // A stack that is not an ownstak backend (no outputs).
    cfn.create_stack()
        .stack_name("ownstak-backend-acme-other")
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let err = deploy(&["--backend", "other", "--org", "acme"]);
    assert!(err.contains("has no output") && err.contains("ownstak backend create"), "{err}");

    // A zone that does not cover the root domain.
    let zone_id = moto.zone("example.com").await;
    let err = moto.fails(&[
        "backend",
        "create",
        "prod",
        "--org",
        "acme",
        "--root-domain",
        "ownstak.link",
        "--zone-id",
        &zone_id,
        "--proxy-image",
        "img",
    ]);
    assert!(err.contains("does not cover `prod.acme.ownstak.link`") && err.contains("--zone-id"), "{err}");
}

/// moto cannot delete a stack's own VPC: it has no CloudFormation delete
/// for `AWS::EC2::RouteTable`, and its DeleteVpc refuses while those route
/// tables remain. The test removes them through EC2's own API (with boto3,
/// the one EC2 client at hand) and checks that `backend destroy` then
/// removes everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_vpc_backend_is_destroyed() {
    let moto = moto().await;
    let zone_id = moto.zone("ownstak.link").await;
    let created = moto.json(&[
        "backend",
        "create",
        "edge",
        "--org",
        "acme",
        "--root-domain",
        "ownstak.link",
        "--zone-id",
        &zone_id,
        "--proxy-image",
        "img",
        "--json",
    ]);
    assert_eq!(created["created"], true);
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk().await);
    let res = cfn.describe_stack_resources().stack_name("ownstak-backend-acme-edge").send().await.unwrap();
    let tables: Vec<&str> = res
        .stack_resources()
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::EC2::RouteTable"))
        .filter_map(|r| r.physical_resource_id())
        .collect();
    assert_eq!(tables.len(), 2);
    let script = r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
for table in ec2.describe_route_tables(RouteTableIds=sys.argv[2:])["RouteTables"]:
    for a in table["Associations"]:
        ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=table["RouteTableId"])
"#;
    let out = Command::new(python()).arg("-c").arg(script).arg(&moto.url).args(&tables).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gone = moto.json(&["backend", "destroy", "edge", "--org", "acme", "--zone-id", &zone_id, "--json"]);
    assert_eq!(gone["deletedRecords"], 2, "{gone}");
    let status = moto.fails(&["backend", "status", "edge", "--org", "acme"]);
    assert!(status.contains("ownstak backend create"), "{status}");
}

/// The listener's certificate ARNs, through ELBv2's own API.
async fn listener_certificates(moto: &Moto, listener: &str) -> Vec<String> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk().await);
    let out = elb.describe_listener_certificates().listener_arn(listener).send().await.unwrap();
    out.certificates().iter().filter_map(|c| c.certificate_arn().map(str::to_owned)).collect()
}

/// The domain map in the assets bucket.
async fn domain_map(moto: &Moto, bucket: &str) -> Value {
    match moto.s3().await.get_object().bucket(bucket).key("domains/map.json").send().await {
        Ok(out) => serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap(),
        Err(_) => Value::Null,
    }
}

/// `ownstak domains` on an AWS backend: the certificate requested from ACM
/// with its validation record written to the user's zone, put on the HTTPS
/// listener once issued (a pending domain is finished by `list`), the
/// mapping in the assets bucket, and `remove` undoing all of it. moto
/// issues certificates `acm_wait` seconds after they are requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_domains_get_a_certificate_on_the_listener() {
    let acm_wait = 3;
    let moto = Moto::start(acm_wait);
    let platform_zone = moto.zone("ownstak.link").await;
    let user_zone = moto.zone("example.com").await;
    let vpc = moto.existing_vpc();
    let create = create_args(&platform_zone, &vpc);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let created = moto.json(&create);
    let outputs: BTreeMap<String, String> = serde_json::from_value(created["outputs"].clone()).unwrap();
    let listener = outputs["HttpsListenerArn"].clone();
    let alb = outputs["AlbDnsName"].to_ascii_lowercase();
    let bucket = outputs["AssetsBucket"].clone();
    let add = |domain: &'static str, env: &'static str| {
        with(&["domains", "add", domain, "--project", "web", "--env", env, "--json"], BACKEND)
    };

    // No deployment yet: nothing to serve, nothing requested.
    let err = moto.fails(&add("shop.example.com", "prod"));
    assert!(err.contains("has no deployments"), "{err}");
    let apps = tempdir();
    let site = static_site(apps.path(), &moto, "home");
    moto.json(&with(&["deploy", site.to_str().unwrap(), "--project", "web", "--env", "prod", "--json"], BACKEND));

    // Without --wait, a certificate ACM has not issued yet leaves the domain pending.
    let pending = moto.json(&with(&add("shop.example.com", "prod"), &["--zone-id", &user_zone]));
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["certificate"]["status"], "PENDING_VALIDATION", "{pending}");
    assert_eq!(pending["certificate"]["requested"], true, "{pending}");
    assert_eq!(pending["cname"]["value"].as_str(), Some(alb.as_str()), "{pending}");
    let arn = pending["certificate"]["arn"].as_str().unwrap().to_owned();
    // Its validation record is in the user's zone; the listener does not have it yet.
    let records = moto.cnames(&user_zone).await;
    let validation = pending["certificate"]["validation"]["name"].as_str().unwrap();
    assert!(validation.starts_with('_') && validation.ends_with(".shop.example.com"), "{pending}");
    assert_eq!(records.get(validation).map(String::as_str), pending["certificate"]["validation"]["value"].as_str());
    assert!(!listener_certificates(&moto, &listener).await.contains(&arn));
    let map = domain_map(&moto, &bucket).await;
    assert_eq!(map["domains"]["shop.example.com"]["status"], "pending", "{map}");
    // Another environment cannot take the name, pending or not.
    let err = moto.fails(&add("shop.example.com", "api"));
    assert!(err.contains("shop.example.com already serves web/prod"), "{err}");

    // Once ACM issued it, `list` finishes the job: the certificate goes on the listener.
    tokio::time::sleep(std::time::Duration::from_secs(acm_wait as u64 + 1)).await;
    let listed = moto.json(&with(&["domains", "list", "--json"], BACKEND));
    let item = &listed["domains"][0];
    assert_eq!(
        (item["domain"].as_str(), item["status"].as_str(), item["function"].as_str()),
        (Some("shop.example.com"), Some("active"), Some(FUNCTION)),
        "{listed}"
    );
    assert_eq!(
        (item["certificateArn"].as_str(), item["cnameTarget"].as_str()),
        (Some(arn.as_str()), Some(alb.as_str()))
    );
    assert!(listener_certificates(&moto, &listener).await.contains(&arn));
    let map = domain_map(&moto, &bucket).await;
    let entry = &map["domains"]["shop.example.com"];
    assert_eq!((entry["status"].as_str(), entry["certificate_arn"].as_str()), (Some("active"), Some(arn.as_str())));
    assert_eq!(entry["validation_zone_id"].as_str(), Some(user_zone.as_str()), "{map}");
    // Adding it again changes nothing.
    let again = moto.json(&add("shop.example.com", "prod"));
    assert_eq!((again["status"].as_str(), again["attachedNow"].as_bool()), (Some("active"), Some(false)), "{again}");
    assert_eq!(again["certificate"]["arn"].as_str(), Some(arn.as_str()));

    // With --wait, `add` waits for the certificate and finishes at once.
    let waited = moto.json(&with(&add("www.example.com", "prod"), &["--wait", "--wait-timeout", "60s"]));
    assert_eq!((waited["status"].as_str(), waited["attachedNow"].as_bool()), (Some("active"), Some(true)), "{waited}");
    assert_eq!(waited["validationRecordWritten"], false, "without --zone-id the record is only printed");
    let www = waited["certificate"]["arn"].as_str().unwrap().to_owned();
    assert!(listener_certificates(&moto, &listener).await.contains(&www));

    // Bad input.
    let err = moto.fails(&add("web-prod.prod.acme.ownstak.link", "prod"));
    assert!(err.contains("under this backend's own domain"), "{err}");
    let err = moto.fails(&with(&["domains", "remove", "nope.example.com"], BACKEND));
    assert!(err.contains("nope.example.com is not a custom domain"), "{err}");

    // Remove undoes all of it: listener, validation record, certificate, mapping.
    let removed = moto.json(&with(&["domains", "remove", "shop.example.com", "--json"], BACKEND));
    assert_eq!(
        (removed["detached"].as_bool(), removed["deletedRecords"].as_u64(), removed["certificateDeleted"].as_bool()),
        (Some(true), Some(1), Some(true)),
        "{removed}"
    );
    let on_listener = listener_certificates(&moto, &listener).await;
    assert!(!on_listener.contains(&arn) && on_listener.contains(&www), "{on_listener:?}");
    assert!(!moto.cnames(&user_zone).await.contains_key(validation));
    let acm = aws_sdk_acm::Client::new(&moto.sdk().await);
    assert!(acm.describe_certificate().certificate_arn(&arn).send().await.is_err(), "the certificate is deleted");
    let map = domain_map(&moto, &bucket).await;
    assert!(map["domains"].get("shop.example.com").is_none() && map["domains"].get("www.example.com").is_some());
    let listed = moto.json(&with(&["domains", "list", "--json"], BACKEND));
    assert_eq!(listed["domains"].as_array().map(Vec::len), Some(1), "{listed}");
}

/// `ownstak env` on an AWS backend: SSM parameters under the backend's path
/// (String for variables, SecureString for secrets), snapshotted by each
/// deploy (values for variables, versioned references for secrets), and
/// `deploy --redeploy N` reusing N's bundle and assets with the current values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_and_secrets_live_in_ssm() {
    let moto = moto().await;
    let zone_id = moto.zone("ownstak.link").await;
    let vpc = moto.existing_vpc();
    let create = create_args(&zone_id, &vpc);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let created = moto.json(&create);
    let bucket = created["outputs"]["AssetsBucket"].as_str().unwrap().to_owned();
    let env = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = ["env"].iter().chain(args).map(|s| (*s).to_owned()).collect();
        all.extend(["--project", "web", "--env", "prod", "--json"].iter().chain(BACKEND).map(|s| (*s).to_owned()));
        all
    };
    let run = |args: Vec<String>| moto.json(&args.iter().map(String::as_str).collect::<Vec<_>>());

    run(env(&["set", "GREETING=hi", "EMPTY="]));
    run(env(&["set", "API_TOKEN=aws-s3cret-1", "--secret"]));
    let listed = run(env(&["list"]));
    assert_eq!(
        listed["variables"],
        serde_json::json!({ "API_TOKEN": "********", "EMPTY": "", "GREETING": "hi" }),
        "{listed}"
    );
    assert_eq!(listed["path"], "/ownstak/acme/prod/web/prod/");

    // The parameters as SSM keeps them.
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk().await);
    let token =
        ssm.get_parameter().name("/ownstak/acme/prod/web/prod/API_TOKEN").with_decryption(true).send().await.unwrap();
    let token = token.parameter().unwrap();
    assert_eq!(token.r#type().map(|t| t.as_str()), Some("SecureString"));
    assert_eq!(token.value(), Some("aws-s3cret-1"));
    let greeting = ssm.get_parameter().name("/ownstak/acme/prod/web/prod/GREETING").send().await.unwrap();
    assert_eq!(greeting.parameter().unwrap().r#type().map(|t| t.as_str()), Some("String"));

    // Two deployments, each with its own values.
    let apps = tempdir();
    let site = static_site(apps.path(), &moto, "first");
    let deploy: Vec<String> = ["deploy", site.to_str().unwrap(), "--project", "web", "--env", "prod", "--json"]
        .iter()
        .chain(BACKEND)
        .map(|s| (*s).to_owned())
        .collect();
    let first = run(deploy.clone());
    assert_eq!(first["secrets"], serde_json::json!(["API_TOKEN"]), "{first}");
    run(env(&["set", "API_TOKEN=aws-s3cret-2", "--secret"]));
    run(env(&["set", "GREETING=hello"]));
    let second_site = static_site(apps.path(), &moto, "second");
    let mut deploy2 = deploy.clone();
    deploy2[1] = second_site.to_str().unwrap().to_owned();
    let second = run(deploy2);
    assert_eq!(second["deployment"], 2, "{second}");

    let lambda = aws_sdk_lambda::Client::new(&moto.sdk().await);
    let conf = |q: &'static str| {
        let lambda = lambda.clone();
        async move {
            variables(&lambda.get_function_configuration().function_name(FUNCTION).qualifier(q).send().await.unwrap())
        }
    };
    let one = conf("deployment-1").await;
    let two = conf("deployment-2").await;
    assert_eq!((one["GREETING"].as_str(), two["GREETING"].as_str()), ("hi", "hello"));
    assert_eq!(one["EMPTY"], "");
    assert_eq!((one["OWNSTAK_SECRETS"].as_str(), two["OWNSTAK_SECRETS"].as_str()), ("API_TOKEN:1", "API_TOKEN:2"));
    assert_eq!(one["OWNSTAK_SECRETS_PATH"], "/ownstak/acme/prod/web/prod/");
    for vars in [&one, &two] {
        assert!(!vars.contains_key("API_TOKEN") && !vars.values().any(|v| v.contains("aws-s3cret")), "{vars:?}");
    }
    // What the runtime fetches for each: exactly the deployed versions.
    let got = ssm
        .get_parameters()
        .names("/ownstak/acme/prod/web/prod/API_TOKEN:1")
        .names("/ownstak/acme/prod/web/prod/API_TOKEN:2")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let mut values: Vec<&str> = got.parameters().iter().filter_map(|p| p.value()).collect();
    values.sort();
    assert_eq!(values, ["aws-s3cret-1", "aws-s3cret-2"]);

    // --redeploy 1: the first bundle and assets with the current values.
    let mut redeploy: Vec<String> = ["deploy", "--redeploy", "1", "--project", "web", "--env", "prod", "--json"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    redeploy.extend(BACKEND.iter().map(|s| (*s).to_owned()));
    let third = run(redeploy);
    assert_eq!((third["deployment"].as_u64(), third["redeployOf"].as_u64()), (Some(3), Some(1)), "{third}");
    assert_eq!(third["deploymentId"], first["deploymentId"]);
    let three =
        lambda.get_function_configuration().function_name(FUNCTION).qualifier("deployment-3").send().await.unwrap();
    let first_conf =
        lambda.get_function_configuration().function_name(FUNCTION).qualifier("deployment-1").send().await.unwrap();
    assert_eq!(three.code_sha256(), first_conf.code_sha256(), "the first deployment's code");
    let vars = variables(&three);
    assert_eq!((vars["GREETING"].as_str(), vars["OWNSTAK_SECRETS"].as_str()), ("hello", "API_TOKEN:2"));
    let s3 = moto.s3().await;
    let key = format!("deployments/{FUNCTION}/{}/_index.json", third["version"].as_str().unwrap());
    let index = s3.get_object().bucket(&bucket).key(&key).send().await.unwrap();
    let index = index.body.collect().await.unwrap().into_bytes();
    let first_index = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("deployments/{FUNCTION}/{}/_index.json", first["version"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(index, first_index, "the first deployment's assets");

    // Bad input and a missing deployment: clear errors, nothing written.
    let err = moto.fails(&env(&["set", "AWS_REGION=x"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("is reserved"), "{err}");
    let mut missing: Vec<&str> = vec!["deploy", "--redeploy", "9", "--project", "web", "--env", "prod"];
    missing.extend(BACKEND);
    let err = moto.fails(&missing);
    assert!(err.contains("deployment 9 of web/prod does not exist"), "{err}");
    run(env(&["unset", "API_TOKEN"]));
    assert_eq!(run(env(&["list"]))["secrets"], serde_json::json!([]));
}
