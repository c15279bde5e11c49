//! The backend template: structure, IAM scope, and cfn-lint.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ownstak_aws::Ipv4Cidr;
use ownstak_aws::template::{alb, iam, outputs, storage};
use ownstak_aws::{BackendSpec, VpcSpec, backend_template};
use serde_json::Value;

fn new_vpc_spec() -> BackendSpec {
    BackendSpec::new(
        "acme",
        "prod",
        "ownstak.link",
        "ownstak",
        VpcSpec::New { cidr: Ipv4Cidr::parse("10.42.0.0/16").unwrap() },
    )
    .unwrap()
}

/// A backend made without `--function-prefix`: its own function prefix.
fn own_prefix_spec() -> BackendSpec {
    BackendSpec::with_own_prefix(
        "acme",
        "staging",
        "ownstak.link",
        VpcSpec::New { cidr: Ipv4Cidr::parse("10.43.0.0/16").unwrap() },
    )
    .unwrap()
}

fn existing_vpc_spec() -> BackendSpec {
    BackendSpec::new(
        "acme",
        "eu",
        "example.com",
        "acme",
        VpcSpec::Existing {
            vpc_id: "vpc-0123456789abcdef0".into(),
            cidr: Ipv4Cidr::parse("172.31.0.0/16").unwrap(),
            public_subnets: vec!["subnet-0000000a".into(), "subnet-0000000b".into()],
            private_subnets: vec!["subnet-0000000c".into(), "subnet-0000000d".into()],
        },
    )
    .unwrap()
}

/// Resource types the template may use (all real CloudFormation types).
const KNOWN_TYPES: &[&str] = &[
    "AWS::EC2::VPC",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::EIP",
    "AWS::EC2::NatGateway",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroup",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ECS::Cluster",
    "AWS::ECS::TaskDefinition",
    "AWS::ECS::Service",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
];

/// Collects every `Ref`, `Fn::GetAtt` and `${…}` target in `v`.
fn references(v: &Value, refs: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("Ref", Value::String(s)) => refs.push(s.clone()),
                    ("Fn::GetAtt", Value::Array(a)) => refs.push(a[0].as_str().unwrap().to_owned()),
                    ("Fn::Sub", Value::String(s)) => {
                        let mut rest = s.as_str();
                        while let Some(i) = rest.find("${") {
                            let end = rest[i..].find('}').unwrap() + i;
                            let name = &rest[i + 2..end];
                            refs.push(name.split('.').next().unwrap().to_owned());
                            rest = &rest[end + 1..];
                        }
                    }
                    _ => references(x, refs),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, refs)),
        _ => {}
    }
}

fn check_structure(t: &Value) {
    assert_eq!(t["AWSTemplateFormatVersion"], "2010-09-09");
    let resources = t["Resources"].as_object().unwrap();
    let params = t["Parameters"].as_object().unwrap();
    assert!(resources.len() < 500, "CloudFormation allows 500 resources");
    for (id, r) in resources {
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "logical id {id}");
        let ty = r["Type"].as_str().unwrap();
        assert!(KNOWN_TYPES.contains(&ty), "{id} has unknown type {ty}");
        assert!(r["Properties"].is_object(), "{id} has no Properties");
        for dep in r
            .get("DependsOn")
            .map(|d| match d {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
                _ => panic!("bad DependsOn"),
            })
            .unwrap_or_default()
        {
            assert!(resources.contains_key(&dep), "{id} depends on missing {dep}");
        }
    }
    let mut refs = Vec::new();
    references(&t["Resources"], &mut refs);
    references(&t["Outputs"], &mut refs);
    for target in &refs {
        assert!(
            target.starts_with("AWS::") || resources.contains_key(target) || params.contains_key(target),
            "reference to missing {target}"
        );
    }
    // Every parameter is used.
    for p in params.keys() {
        assert!(refs.contains(p), "parameter {p} is unused");
    }
    let outs = t["Outputs"].as_object().unwrap();
    for key in outputs::ALL {
        assert!(outs.contains_key(*key), "output {key} missing");
    }
    assert_eq!(outs.len(), outputs::ALL.len());
}

#[test]
fn new_vpc_template_is_structurally_valid() {
    let t = backend_template(&new_vpc_spec());
    check_structure(&t);
    let r = &t["Resources"];
    assert_eq!(r["Vpc"]["Properties"]["CidrBlock"], "10.42.0.0/16");
    let blocks: BTreeSet<_> = ["PublicSubnet1", "PublicSubnet2", "PrivateSubnet1", "PrivateSubnet2"]
        .iter()
        .map(|s| r[*s]["Properties"]["CidrBlock"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        blocks,
        ["10.42.0.0/18", "10.42.64.0/18", "10.42.128.0/18", "10.42.192.0/18"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(r["PrivateDefaultRoute"]["Properties"]["NatGatewayId"]["Ref"], "NatGateway");
    assert_eq!(r["PublicDefaultRoute"]["Properties"]["GatewayId"]["Ref"], "InternetGateway");
}

#[test]
fn existing_vpc_template_uses_given_subnets() {
    let t = backend_template(&existing_vpc_spec());
    check_structure(&t);
    let r = t["Resources"].as_object().unwrap();
    assert!(!r.contains_key("Vpc") && !r.contains_key("NatGateway"));
    assert_eq!(r["LoadBalancer"]["Properties"]["Subnets"], serde_json::json!(["subnet-0000000a", "subnet-0000000b"]));
    assert_eq!(
        r["ProxyService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"],
        serde_json::json!(["subnet-0000000c", "subnet-0000000d"])
    );
    assert_eq!(
        t["Outputs"]["FunctionSubnetIds"]["Value"],
        serde_json::json!({"Fn::Join": [",", ["subnet-0000000c", "subnet-0000000d"]]})
    );
    let cmd = r["ProxyTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"].as_array().unwrap();
    let cmd: Vec<&str> = cmd.iter().map(|v| v.as_str().unwrap()).collect();
    assert!(cmd.windows(2).any(|w| w == ["--trusted-proxy", "172.31.0.0/16"]), "{cmd:?}");
    assert!(cmd.windows(2).any(|w| w == ["--function-prefix", "acme"]), "{cmd:?}");
    // The proxy is told the assets bucket, so static files never invoke a function.
    let env = &r["ProxyTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&serde_json::json!({"Name": "OWNSTAK_ASSETS_BUCKET", "Value": {"Ref": "AssetsBucket"}})),
        "{env}"
    );
}

#[test]
fn load_balancer_proxy_and_scaling() {
    let t = backend_template(&new_vpc_spec());
    let r = &t["Resources"];
    let tg = &r["ProxyTargetGroup"]["Properties"];
    assert_eq!(tg["HealthCheckPath"], "/__ownstak__/health");
    assert_eq!(tg["Port"], 3000);
    assert_eq!(tg["Protocol"], "HTTP");
    let https = &r["HttpsListener"]["Properties"];
    assert_eq!(https["Port"], 443);
    assert_eq!(https["Certificates"][0]["CertificateArn"]["Ref"], "CertificateArn");
    let http = &r["HttpListener"]["Properties"];
    assert_eq!(http["DefaultActions"][0]["Type"], "redirect");
    assert_eq!(http["DefaultActions"][0]["RedirectConfig"]["Protocol"], "HTTPS");
    // Security groups: ALB open on 80/443, proxy only from the ALB SG, functions egress only.
    let alb_in: Vec<i64> = r["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["FromPort"].as_i64().unwrap())
        .collect();
    assert_eq!(alb_in, [80, 443]);
    let proxy_in = r["ProxySecurityGroup"]["Properties"]["SecurityGroupIngress"].as_array().unwrap();
    assert_eq!(proxy_in.len(), 1);
    assert_eq!(proxy_in[0]["SourceSecurityGroupId"]["Fn::GetAtt"][0], "AlbSecurityGroup");
    assert!(proxy_in[0].get("CidrIp").is_none());
    assert!(r["FunctionSecurityGroup"]["Properties"].get("SecurityGroupIngress").is_none());
    // Service in private subnets, no public IP.
    let svc = &r["ProxyService"]["Properties"];
    assert_eq!(svc["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"], "DISABLED");
    assert_eq!(svc["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"][0]["Ref"], "PrivateSubnet1");
    let cmd = &r["ProxyTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"];
    assert_eq!(cmd[0], "proxy");
    assert!(cmd.as_array().unwrap().iter().any(|v| v == "0.0.0.0:3000"));
    assert!(cmd.as_array().unwrap().iter().any(|v| v == "10.42.0.0/16"));
    // Autoscaling on CPU and requests per target.
    let metrics: BTreeSet<_> = ["ProxyCpuScaling", "ProxyRequestScaling"]
        .iter()
        .map(|p| r[*p]["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"].into_iter().collect());
    assert_eq!(r["ProxyLogGroup"]["Properties"]["RetentionInDays"], 30);
    // Buckets: encrypted, public access blocked.
    for b in ["CodeBucket", "AssetsBucket"] {
        let p = &r[b]["Properties"];
        assert!(p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"].is_string());
        let pab = p["PublicAccessBlockConfiguration"].as_object().unwrap();
        assert_eq!(pab.len(), 4);
        assert!(pab.values().all(|v| v == true), "{b}");
    }
}

/// Every policy document in the template, with where it is.
fn policy_documents(t: &Value) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for (id, r) in t["Resources"].as_object().unwrap() {
        match r["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                for p in r["Properties"]["Policies"].as_array().into_iter().flatten() {
                    docs.push((id.clone(), p["PolicyDocument"].clone()));
                }
            }
            "AWS::IAM::ManagedPolicy" => docs.push((id.clone(), r["Properties"]["PolicyDocument"].clone())),
            _ => {}
        }
    }
    docs
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// A resource as text: a literal string or the text of a `Fn::Sub`; other
/// intrinsic functions are rendered as JSON.
fn resource_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("Fn::Sub") => m["Fn::Sub"].as_str().unwrap().to_owned(),
        other => other.to_string(),
    }
}

fn statements(t: &Value, role: &str) -> Vec<Value> {
    policy_documents(t).into_iter().filter(|(id, _)| id == role).flat_map(|(_, d)| list(&d["Statement"])).collect()
}

#[test]
fn iam_documents_are_scoped() {
    for spec in [new_vpc_spec(), existing_vpc_spec(), own_prefix_spec()] {
        let t = backend_template(&spec);
        let docs = policy_documents(&t);
        assert!(docs.len() >= 3);
        let fn_arn =
            format!("arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{}-*", spec.prefix);
        for (id, doc) in &docs {
            for st in list(&doc["Statement"]) {
                assert_eq!(st["Effect"], "Allow", "{id}: only Allow statements");
                assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none(), "{id}: no Not*");
                let actions: Vec<String> = list(&st["Action"]).iter().map(|a| a.as_str().unwrap().to_owned()).collect();
                for a in &actions {
                    assert!(!a.contains('*'), "{id}: wildcard action {a}");
                    assert!(a.contains(':'), "{id}: action {a} has no service");
                }
                let resources: Vec<String> = list(&st["Resource"]).iter().map(resource_text).collect();
                assert!(!resources.is_empty());
                if resources.iter().any(|r| r == "*") {
                    assert!(
                        actions.iter().all(|a| iam::RESOURCE_WILDCARD_ACTIONS.contains(&a.as_str())),
                        "{id}: `*` resource for {actions:?}"
                    );
                }
                if actions.iter().any(|a| a.starts_with("lambda:")) {
                    for r in &resources {
                        assert!(
                            r == &fn_arn || r == &format!("{fn_arn}:*"),
                            "{id}: lambda resource {r} is not under the prefix"
                        );
                    }
                    assert!(
                        actions.iter().all(|a| a.starts_with("lambda:")),
                        "{id}: mixed services in a lambda statement"
                    );
                    // Never a function tagged for another backend or organization.
                    let cond = &st["Condition"]["StringEqualsIfExists"];
                    assert_eq!(cond["aws:ResourceTag/ownstak:backend"], spec.backend.as_str(), "{id}: {st}");
                    assert_eq!(cond["aws:ResourceTag/ownstak:org"], spec.org.as_str(), "{id}: {st}");
                    // Creating or tagging: only with this backend's ownership tags.
                    if actions.iter().any(|a| a == "lambda:CreateFunction" || a == "lambda:TagResource") {
                        let req = &st["Condition"]["StringEquals"];
                        assert_eq!(req["aws:RequestTag/ownstak:backend"], spec.backend.as_str(), "{id}: {st}");
                        assert_eq!(req["aws:RequestTag/ownstak:org"], spec.org.as_str(), "{id}: {st}");
                    }
                }
                if actions.iter().any(|a| a.starts_with("logs:") && id == iam::DEPLOYER_POLICY) {
                    // Reading logs: only the functions' log groups under the prefix, and the proxy's.
                    let group = format!(
                        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{}-*",
                        spec.prefix
                    );
                    assert_eq!(actions, ["logs:FilterLogEvents"], "{id}");
                    let proxy = format!("${{{}.Arn}}", iam::PROXY_LOG_GROUP);
                    assert_eq!(resources, [group.clone(), format!("{group}:*"), proxy], "{id}");
                }
                if actions.iter().any(|a| a.starts_with("ssm:")) {
                    // Parameters: only this backend's path, never another backend's or SSM's own.
                    let path = format!(
                        "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/ownstak/{}/{}/*",
                        spec.org, spec.backend
                    );
                    assert_eq!(resources, [path], "{id}");
                    assert!(actions.iter().all(|a| a.starts_with("ssm:")), "{id}: mixed services");
                    if id == iam::FUNCTION_ROLE {
                        assert_eq!(actions, ["ssm:GetParameters"], "{id}: functions only read");
                    }
                }
                if actions.iter().any(|a| a == "iam:PassRole") {
                    assert_eq!(actions, ["iam:PassRole"]);
                    assert_eq!(
                        list(&st["Resource"]),
                        vec![serde_json::json!({"Fn::GetAtt": ["FunctionRole", "Arn"]})],
                        "{id}: PassRole only on the function role"
                    );
                    assert_eq!(st["Condition"]["StringEquals"]["iam:PassedToService"], "lambda.amazonaws.com");
                }
                if actions.iter().any(|a| a.starts_with("s3:")) {
                    for r in &resources {
                        assert!(
                            r.starts_with("${CodeBucket.Arn}")
                                || r.starts_with("${AssetsBucket.Arn}")
                                || r.contains("\"CodeBucket\"")
                                || r.contains("\"AssetsBucket\""),
                            "{id}: s3 resource {r} is not one of the buckets"
                        );
                    }
                }
            }
        }

        // The proxy may invoke only prefixed functions and read only assets.
        let proxy = statements(&t, iam::PROXY_TASK_ROLE);
        let proxy_actions: BTreeSet<String> =
            proxy.iter().flat_map(|s| list(&s["Action"])).map(|a| a.as_str().unwrap().to_owned()).collect();
        assert_eq!(
            proxy_actions,
            ["lambda:InvokeFunction", "s3:GetObject", "s3:ListBucket"].iter().map(|s| s.to_string()).collect()
        );
        let get = proxy.iter().find(|s| list(&s["Action"]).contains(&serde_json::json!("s3:GetObject"))).unwrap();
        assert_eq!(list(&get["Resource"]).iter().map(resource_text).collect::<Vec<_>>(), ["${AssetsBucket.Arn}/*"]);
        // Listing (so that a missing key is a 404, not a 403) only on the assets bucket itself.
        let listing = proxy.iter().find(|s| list(&s["Action"]).contains(&serde_json::json!("s3:ListBucket"))).unwrap();
        assert_eq!(list(&listing["Action"]).len(), 1);
        let listed: Vec<String> = list(&listing["Resource"]).iter().map(resource_text).collect();
        assert!(listed.len() == 1 && listed[0].contains("AssetsBucket") && !listed[0].contains("/*"), "{listed:?}");
        // InvokeFunction appears nowhere else.
        for (id, doc) in &docs {
            if id != iam::PROXY_TASK_ROLE {
                assert!(!doc.to_string().contains("lambda:InvokeFunction"), "{id} may invoke");
            }
        }

        // Functions: basic + VPC execution, and reading the backend's parameters only.
        let fr = &t["Resources"][iam::FUNCTION_ROLE]["Properties"];
        let function_statements = statements(&t, iam::FUNCTION_ROLE);
        assert_eq!(function_statements.len(), 1, "{function_statements:?}");
        assert_eq!(list(&function_statements[0]["Action"]), vec![serde_json::json!("ssm:GetParameters")]);
        let managed: Vec<String> = fr["ManagedPolicyArns"].as_array().unwrap().iter().map(resource_text).collect();
        assert_eq!(
            managed,
            [
                "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
            ]
        );
        assert_eq!(fr["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com");

        // Deployer: exactly the deploy calls.
        let dep = statements(&t, iam::DEPLOYER_POLICY);
        let dep_actions: BTreeSet<String> =
            dep.iter().flat_map(|s| list(&s["Action"])).map(|a| a.as_str().unwrap().to_owned()).collect();
        let mut expected: BTreeSet<String> =
            iam::DEPLOYER_LAMBDA_ACTIONS.iter().chain(iam::DEPLOYER_TAGGING_ACTIONS).map(|s| s.to_string()).collect();
        for a in [
            "iam:PassRole",
            "s3:PutObject",
            "s3:GetObject",
            "s3:ListBucket",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackResources",
            "logs:FilterLogEvents",
            // `ownstak domains`.
            "acm:RequestCertificate",
            "acm:ListCertificates",
            "acm:DescribeCertificate",
            "acm:DeleteCertificate",
            "elasticloadbalancing:AddListenerCertificates",
            "elasticloadbalancing:RemoveListenerCertificates",
            "elasticloadbalancing:DescribeListenerCertificates",
            "route53:GetHostedZone",
            "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            // `ownstak env`.
            "ssm:PutParameter",
            "ssm:GetParameters",
            "ssm:GetParametersByPath",
            "ssm:DeleteParameters",
        ] {
            expected.insert(a.to_owned());
        }
        assert_eq!(dep_actions, expected);
        // Listener certificates change only on this backend's HTTPS listener.
        let listener = dep
            .iter()
            .find(|s| list(&s["Action"]).contains(&serde_json::json!("elasticloadbalancing:AddListenerCertificates")))
            .unwrap();
        assert_eq!(list(&listener["Resource"]), vec![serde_json::json!({"Ref": alb::HTTPS_LISTENER})]);
        assert!(!dep_actions.iter().any(|a| a.starts_with("lambda:Delete") || a == "lambda:AddPermission"));
    }
}

#[test]
fn tls_policy_and_transport_only_over_tls() {
    for spec in [new_vpc_spec(), existing_vpc_spec(), own_prefix_spec()] {
        let t = backend_template(&spec);
        let r = &t["Resources"];
        assert_eq!(r[alb::HTTPS_LISTENER]["Properties"]["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-Res-2021-06");
        // Both buckets refuse every request that is not over TLS.
        for (bucket, policy) in [
            (storage::CODE_BUCKET, storage::CODE_BUCKET_POLICY),
            (storage::ASSETS_BUCKET, storage::ASSETS_BUCKET_POLICY),
        ] {
            let p = &r[policy];
            assert_eq!(p["Type"], "AWS::S3::BucketPolicy");
            assert_eq!(p["Properties"]["Bucket"]["Ref"], bucket);
            let statements = list(&p["Properties"]["PolicyDocument"]["Statement"]);
            let deny = statements
                .iter()
                .find(|st| st["Condition"]["Bool"]["aws:SecureTransport"] == "false")
                .unwrap_or_else(|| panic!("{policy}: no SecureTransport statement"));
            assert_eq!(deny["Effect"], "Deny");
            assert_eq!(deny["Principal"], "*");
            assert_eq!(deny["Action"], "s3:*");
            let resources: Vec<String> = list(&deny["Resource"]).iter().map(resource_text).collect();
            assert_eq!(
                resources,
                [format!(r#"{{"Fn::GetAtt":["{bucket}","Arn"]}}"#), format!("${{{bucket}.Arn}}/*")],
                "{policy}: the bucket and every object"
            );
        }
    }
}

#[test]
fn backends_without_an_explicit_prefix_get_their_own() {
    let spec = own_prefix_spec();
    assert_eq!(spec.prefix, "ownstak_acme_staging");
    assert_eq!(spec.stack_name(), "ownstak-backend-acme-staging");
    let t = backend_template(&spec);
    let r = &t["Resources"];
    let cmd = r["ProxyTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"].as_array().unwrap();
    let cmd: Vec<&str> = cmd.iter().map(|v| v.as_str().unwrap()).collect();
    assert!(cmd.windows(2).any(|w| w == ["--function-prefix", "ownstak_acme_staging"]), "{cmd:?}");
    assert_eq!(t["Outputs"]["FunctionPrefix"]["Value"], "ownstak_acme_staging");
    // The proxy may invoke, and the deployer manage, only `<prefix>-*`: never
    // another backend's own prefix, nor the shared `ownstak-*`.
    let invoke = statements(&t, iam::PROXY_TASK_ROLE)
        .into_iter()
        .find(|s| list(&s["Action"]).contains(&serde_json::json!("lambda:InvokeFunction")))
        .unwrap();
    let resources: Vec<String> = list(&invoke["Resource"]).iter().map(resource_text).collect();
    assert!(resources.iter().all(|r| r.contains(":function:ownstak_acme_staging-*")), "{resources:?}");
    // An explicit prefix names the stack too, as before.
    let explicit = existing_vpc_spec();
    assert_eq!((explicit.prefix.as_str(), explicit.stack_name()), ("acme", "acme-backend-acme-eu".to_owned()));
}

#[test]
fn bad_specs_are_rejected() {
    let vpc = || VpcSpec::New { cidr: Ipv4Cidr::parse("10.0.0.0/16").unwrap() };
    assert!(BackendSpec::new("Acme", "prod", "ownstak.link", "ownstak", vpc()).is_err());
    assert!(BackendSpec::new("acme", "prod", "ownstak.link", "Own", vpc()).is_err());
    assert!(Ipv4Cidr::parse("10.0.0.1/16").is_err());
    assert!(
        BackendSpec::new(
            "acme",
            "prod",
            "ownstak.link",
            "ownstak",
            VpcSpec::New { cidr: Ipv4Cidr::parse("10.0.0.0/24").unwrap() }
        )
        .is_err()
    );
    let one_subnet = VpcSpec::Existing {
        vpc_id: "vpc-1".into(),
        cidr: Ipv4Cidr::parse("10.0.0.0/16").unwrap(),
        public_subnets: vec!["subnet-0000000a".into()],
        private_subnets: vec!["subnet-0000000b".into(), "subnet-0000000c".into()],
    };
    let err = BackendSpec::new("acme", "prod", "ownstak.link", "ownstak", one_subnet).unwrap_err().to_string();
    assert!(err.contains("--public-subnets"), "{err}");
}

/// The project's Python interpreter (with cfn-lint), from `OWNSTAK_PYTHON`.
fn python() -> PathBuf {
    let Some(path) = std::env::var_os("OWNSTAK_PYTHON").filter(|p| !p.is_empty()) else {
        panic!(
            "OWNSTAK_PYTHON is not set: this test needs the project's Python virtualenv with cfn-lint. \
             Run it through `scripts/test.sh`, or first `source scripts/env.sh && python_env` in this shell."
        );
    };
    PathBuf::from(path)
}

#[test]
fn cfn_lint_accepts_the_templates() {
    let python = python();
    let dir = tempfile_dir();
    for (name, spec) in
        [("new-vpc", new_vpc_spec()), ("existing-vpc", existing_vpc_spec()), ("own-prefix", own_prefix_spec())]
    {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&backend_template(&spec)).unwrap()).unwrap();
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())",
                "--regions",
                "us-east-1",
                "--format",
                "parseable",
                "--",
            ])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e}; run `source scripts/env.sh && python_env`", python.display())
            });
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("No module named 'cfnlint'"),
            "cfn-lint is not installed in {}: {stderr}; run `source scripts/env.sh && python_env`",
            python.display()
        );
        // Exit codes: 0 clean, 4 warnings only, 8 informational; 2 (errors) fails.
        assert!(
            out.status.code().is_some_and(|c| c & 2 == 0 && c & 1 == 0),
            "cfn-lint rejected {name} ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ownstak-aws-template-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
