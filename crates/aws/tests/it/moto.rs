//! `backend create/status/plan/destroy` against moto's server.
//!
//! Needs the project's Python virtualenv (`OWNSTAK_PYTHON`) with `moto[server]`.

use std::time::Duration;

use ownstak_testkit::moto::Moto;

use aws_credential_types::Credentials;
use ownstak_aws::Ipv4Cidr;
use ownstak_aws::template::outputs;
use ownstak_aws::{AwsError, AwsSettings, BackendSpec, DnsTarget, Timing, VpcSpec};

/// Starts moto; `acm_wait` is how long its certificates stay pending.
async fn moto(acm_wait: u32) -> Moto {
    Moto::start(acm_wait)
}

fn settings(moto: &Moto) -> AwsSettings {
    AwsSettings {
        profile: None,
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.url.clone()),
        credentials: Some(Credentials::new("testing", "testing", None, None, "test")),
    }
}

fn timing() -> Timing {
    Timing {
        poll: Duration::from_millis(200),
        stack_timeout: Duration::from_secs(60),
        certificate_timeout: Duration::from_secs(20),
    }
}

fn spec() -> BackendSpec {
    BackendSpec::new(
        "acme",
        "prod",
        "ownstak.link",
        "ownstak",
        VpcSpec::New { cidr: Ipv4Cidr::parse("10.42.0.0/16").unwrap() },
    )
    .unwrap()
}

/// An existing VPC with four subnets (see [`Moto::create_network`]).
fn existing_vpc(moto: &Moto) -> VpcSpec {
    let net = moto.create_network();
    VpcSpec::Existing {
        vpc_id: net.vpc_id,
        cidr: Ipv4Cidr::parse(net.cidr).unwrap(),
        public_subnets: net.public_subnets,
        private_subnets: net.private_subnets,
    }
}

async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    settings(moto).load("test").await.unwrap()
}

/// Creates the platform zone for `name`; returns its id.
async fn zone(moto: &Moto, name: &str) -> String {
    let r53 = aws_sdk_route53::Client::new(&sdk(moto).await);
    let out = r53.create_hosted_zone().name(name).caller_reference(format!("ref-{name}")).send().await.unwrap();
    out.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_owned()
}

async fn cnames(moto: &Moto, zone_id: &str) -> Vec<(String, String)> {
    let r53 = aws_sdk_route53::Client::new(&sdk(moto).await);
    let out = r53.list_resource_record_sets().hosted_zone_id(zone_id).send().await.unwrap();
    out.resource_record_sets()
        .iter()
        .filter(|s| s.r#type().as_str() == "CNAME")
        .map(|s| {
            (
                ownstak_aws::canonical_dns_name(s.name()),
                ownstak_aws::canonical_dns_name(s.resource_records()[0].value()),
            )
        })
        .collect()
}

#[tokio::test]
async fn new_vpc_stack_is_created() {
    let moto = moto(0).await;
    let zone_id = zone(&moto, "ownstak.link").await;
    let dns = DnsTarget { zone_id, settings: settings(&moto) };
    let created = ownstak_aws::create_backend(&spec(), &settings(&moto), &dns, "img:1", &timing()).await.unwrap();
    assert!(created.created);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk(&moto).await);
    let res = cfn.describe_stack_resources().stack_name(&created.stack).send().await.unwrap();
    let kinds: Vec<&str> = res.stack_resources().iter().filter_map(|r| r.resource_type()).collect();
    for kind in [
        "AWS::EC2::VPC",
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
    ] {
        assert!(kinds.contains(&kind), "{kind} not created: {kinds:?}");
    }
}

#[tokio::test]
async fn create_status_idempotent_dns_destroy() {
    let moto = moto(0).await;
    let zone_id = zone(&moto, "ownstak.link").await;
    let dns = DnsTarget { zone_id: zone_id.clone(), settings: settings(&moto) };
    let spec = BackendSpec::new("acme", "prod", "ownstak.link", "ownstak", existing_vpc(&moto)).unwrap();
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ownstak:test";

    let first = ownstak_aws::create_backend(&spec, &settings(&moto), &dns, image, &timing()).await.unwrap();
    assert!(first.created && first.certificate_requested && first.dns_changed, "{first:?}");
    for key in outputs::ALL {
        assert!(first.outputs.contains_key(*key), "output {key} missing: {:?}", first.outputs);
    }
    assert_eq!(first.outputs[outputs::FUNCTION_PREFIX], "ownstak");
    assert_eq!(first.outputs[outputs::DOMAIN], "prod.acme.ownstak.link");

    // The resources exist, seen through the services' own APIs.
    let config = sdk(&moto).await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let res = cfn.describe_stack_resources().stack_name(&first.stack).send().await.unwrap();
    let kinds: Vec<&str> = res.stack_resources().iter().filter_map(|r| r.resource_type()).collect();
    for kind in [
        "AWS::EC2::SecurityGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ECS::Service",
        "AWS::S3::Bucket",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",
    ] {
        assert!(kinds.contains(&kind), "{kind} not created: {kinds:?}");
    }
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    s3.head_bucket().bucket(&first.outputs[outputs::CODE_BUCKET]).send().await.unwrap();
    s3.head_bucket().bucket(&first.outputs[outputs::ASSETS_BUCKET]).send().await.unwrap();

    // Status.
    let status = ownstak_aws::backend_status("ownstak", "acme", "prod", &settings(&moto), &timing()).await.unwrap();
    assert_eq!(status.stack.status, "CREATE_COMPLETE");
    assert!(!status.resources.is_empty());

    // DNS: the wildcard CNAME to the ALB and the validation record.
    let records = cnames(&moto, &zone_id).await;
    let alb = first.outputs[outputs::ALB_DNS_NAME].to_ascii_lowercase();
    assert!(records.contains(&("*.prod.acme.ownstak.link".to_owned(), alb.clone())), "{records:?}");
    assert_eq!(records.len(), 2, "{records:?}");

    // A second create changes nothing; plan shows no changes.
    let second = ownstak_aws::create_backend(&spec, &settings(&moto), &dns, image, &timing()).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.certificate_arn, first.certificate_arn);
    assert_eq!(second.outputs, first.outputs);
    assert_eq!(cnames(&moto, &zone_id).await, records);
    let plan = ownstak_aws::plan_backend(&spec, &settings(&moto), image, &timing()).await.unwrap();
    assert!(plan.exists && plan.changes.is_empty() && !plan.parameters_change, "{plan:?}");
    // A new image is a parameter change.
    let plan = ownstak_aws::plan_backend(&spec, &settings(&moto), "other:image", &timing()).await.unwrap();
    assert!(plan.parameters_change, "{plan:?}");

    // Destroy refuses while a function of the backend exists.
    let lambda = aws_sdk_lambda::Client::new(&config);
    function(&lambda, "ownstak-hello-prod", &first.outputs[outputs::FUNCTION_ROLE_ARN], Some(("prod", "acme"))).await;
    let err = ownstak_aws::destroy_backend("ownstak", "acme", "prod", &settings(&moto), Some(&dns), false, &timing())
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::FunctionsExist { count: 1, .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");

    let gone = ownstak_aws::destroy_backend("ownstak", "acme", "prod", &settings(&moto), Some(&dns), true, &timing())
        .await
        .unwrap();
    assert_eq!(gone.deleted_functions, ["ownstak-hello-prod"]);
    assert_eq!(gone.deleted_records, 2);
    assert!(cnames(&moto, &zone_id).await.is_empty());
    let err = ownstak_aws::backend_status("ownstak", "acme", "prod", &settings(&moto), &timing()).await.unwrap_err();
    assert!(matches!(err, AwsError::StackNotFound(_)), "{err}");
}

/// Creates a function as a deploy of `backend` (backend, org) would tag
/// it, or without ownership tags (as an older ownstak made them).
async fn function(lambda: &aws_sdk_lambda::Client, name: &str, role: &str, backend: Option<(&str, &str)>) {
    let mut create = lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder().zip_file(aws_smithy_types::Blob::new(minimal_zip())).build(),
        );
    if let Some((backend, org)) = backend {
        create = create
            .tags("ownstak:project", "web")
            .tags("ownstak:env", "x")
            .tags("ownstak:backend", backend)
            .tags("ownstak:org", org);
    }
    create.send().await.unwrap();
}

async fn function_names(lambda: &aws_sdk_lambda::Client) -> Vec<String> {
    let mut names: Vec<String> = lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter_map(|f| f.function_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Two backends on the same (shared, as before per-backend prefixes)
/// function prefix in one account: `destroy --force` of one deletes only
/// the functions tagged with its backend and organization.
#[tokio::test]
async fn destroying_one_of_two_backends_leaves_the_others_functions() {
    let moto = moto(0).await;
    let zone_id = zone(&moto, "ownstak.link").await;
    let dns = DnsTarget { zone_id, settings: settings(&moto) };
    let mut roles = Vec::new();
    for name in ["prod", "staging"] {
        let spec = BackendSpec::new("acme", name, "ownstak.link", "ownstak", existing_vpc(&moto)).unwrap();
        let out = ownstak_aws::create_backend(&spec, &settings(&moto), &dns, "img", &timing()).await.unwrap();
        assert_eq!(out.outputs[outputs::FUNCTION_PREFIX], "ownstak");
        roles.push(out.outputs[outputs::FUNCTION_ROLE_ARN].clone());
    }
    let lambda = aws_sdk_lambda::Client::new(&sdk(&moto).await);
    function(&lambda, "ownstak-web-prod", &roles[0], Some(("prod", "acme"))).await;
    function(&lambda, "ownstak-web-staging", &roles[1], Some(("staging", "acme"))).await;
    function(&lambda, "ownstak-web-other", &roles[1], Some(("staging", "other-org"))).await;
    function(&lambda, "ownstak-old-app", &roles[1], None).await;

    // Without --force: refused while its own (or untagged) functions exist.
    let err = ownstak_aws::destroy_backend("ownstak", "acme", "staging", &settings(&moto), None, false, &timing())
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::FunctionsExist { count: 2, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("ownstak-web-staging") && !text.contains("ownstak-web-prod"), "{text}");

    let gone = ownstak_aws::destroy_backend("ownstak", "acme", "staging", &settings(&moto), None, true, &timing())
        .await
        .unwrap();
    assert_eq!(gone.deleted_functions, ["ownstak-web-staging"]);
    assert_eq!(gone.kept_functions, ["ownstak-old-app"]);
    assert_eq!(function_names(&lambda).await, ["ownstak-old-app", "ownstak-web-other", "ownstak-web-prod"]);
    // The other backend is untouched and still knows its function.
    let status = ownstak_aws::backend_status("ownstak", "acme", "prod", &settings(&moto), &timing()).await.unwrap();
    assert_eq!(status.stack.status, "CREATE_COMPLETE");
    let err = ownstak_aws::destroy_backend("ownstak", "acme", "prod", &settings(&moto), None, false, &timing())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ownstak-web-prod"), "{err}");
}

/// An empty zip archive: just the end-of-central-directory record.
fn minimal_zip() -> Vec<u8> {
    let mut z = vec![0x50, 0x4b, 0x05, 0x06];
    z.extend_from_slice(&[0u8; 18]);
    z
}

#[tokio::test]
async fn zone_that_does_not_cover_the_domain_is_refused() {
    let moto = moto(0).await;
    let zone_id = zone(&moto, "example.com").await;
    let dns = DnsTarget { zone_id: zone_id.clone(), settings: settings(&moto) };
    let err = ownstak_aws::create_backend(&spec(), &settings(&moto), &dns, "img", &timing()).await.unwrap_err();
    assert!(matches!(err, AwsError::ZoneMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("example.com") && text.contains("prod.acme.ownstak.link") && text.contains("--zone-id"),
        "{text}"
    );
    // Nothing was created.
    let cfn = aws_sdk_cloudformation::Client::new(&sdk(&moto).await);
    assert!(cfn.list_stacks().send().await.unwrap().stack_summaries().is_empty());

    let dns = DnsTarget { zone_id: "ZNOSUCHZONE".into(), settings: settings(&moto) };
    let err = ownstak_aws::create_backend(&spec(), &settings(&moto), &dns, "img", &timing()).await.unwrap_err();
    assert!(matches!(err, AwsError::ZoneNotFound { .. }), "{err}");
}

#[tokio::test]
async fn certificate_stuck_in_validation_is_reported() {
    let moto = moto(3600).await;
    let zone_id = zone(&moto, "ownstak.link").await;
    let dns = DnsTarget { zone_id: zone_id.clone(), settings: settings(&moto) };
    let mut t = timing();
    t.certificate_timeout = Duration::from_secs(1);
    let err = ownstak_aws::create_backend(&spec(), &settings(&moto), &dns, "img", &t).await.unwrap_err();
    assert!(matches!(err, AwsError::CertificateNotIssued { .. }), "{err}");
    assert!(err.to_string().contains("PENDING_VALIDATION"), "{err}");
    // The validation record was written, so a later run can succeed.
    assert_eq!(cnames(&moto, &zone_id).await.len(), 1);
}

#[tokio::test]
async fn missing_credentials_are_reported() {
    let settings = AwsSettings {
        profile: Some("ownstak-test-no-such-profile".into()),
        region: Some("us-east-1".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        credentials: None,
    };
    let err = settings.load("the backend account").await.unwrap_err();
    assert!(matches!(err, AwsError::MissingCredentials { .. }), "{err}");
    assert!(err.to_string().contains("--profile ownstak-test-no-such-profile"), "{err}");
    let bad_region = AwsSettings { region: Some("moon-1".into()), ..AwsSettings::default() };
    assert!(matches!(bad_region.load("x").await.unwrap_err(), AwsError::BadRegion(_)));
}
