//! The backend's CloudFormation template, built from a [`BackendSpec`].
//!
//! One template holds the whole backend; it has two parameters, the proxy
//! image and the ARN of the wildcard certificate (requested by `ownstak
//! backend create` outside the stack, because its validation records live in
//! the platform's zone, which may be in another account). Each concept has
//! its module: [`network`], [`alb`], [`ecs`], [`storage`], [`iam`].

pub mod alb;
pub mod ecs;
pub mod iam;
pub mod network;
pub mod storage;

use serde_json::{Map, Value, json};

use crate::spec::BackendSpec;

/// Parameter: the LambdaProxy container image.
pub const PARAM_PROXY_IMAGE: &str = "ProxyImage";
/// Parameter: the ARN of the ACM certificate for `*.<backend>.<org>.<root>`.
pub const PARAM_CERTIFICATE_ARN: &str = "CertificateArn";

/// The stack outputs later commands read (the CLI keeps no local state).
pub mod outputs {
    /// The load balancer's DNS name (target of the wildcard CNAME).
    pub const ALB_DNS_NAME: &str = "AlbDnsName";
    /// The load balancer's canonical hosted zone id (for alias records).
    pub const ALB_HOSTED_ZONE_ID: &str = "AlbCanonicalHostedZoneId";
    /// The bucket for code bundles.
    pub const CODE_BUCKET: &str = "CodeBucket";
    /// The bucket for static assets.
    pub const ASSETS_BUCKET: &str = "AssetsBucket";
    /// The role functions run as.
    pub const FUNCTION_ROLE_ARN: &str = "FunctionRoleArn";
    /// The proxy task's role.
    pub const PROXY_TASK_ROLE_ARN: &str = "ProxyTaskRoleArn";
    /// The managed policy for whoever runs `ownstak deploy`.
    pub const DEPLOYER_POLICY_ARN: &str = "DeployerPolicyArn";
    /// Comma-separated private subnet ids for functions.
    pub const FUNCTION_SUBNET_IDS: &str = "FunctionSubnetIds";
    /// The functions' security group.
    pub const FUNCTION_SECURITY_GROUP_ID: &str = "FunctionSecurityGroupId";
    /// The VPC id.
    pub const VPC_ID: &str = "VpcId";
    /// The ECS cluster name.
    pub const CLUSTER_NAME: &str = "ClusterName";
    /// The ECS service name.
    pub const SERVICE_NAME: &str = "ProxyServiceName";
    /// The function prefix.
    pub const FUNCTION_PREFIX: &str = "FunctionPrefix";
    /// The organization slug.
    pub const ORG: &str = "Org";
    /// The backend slug.
    pub const BACKEND: &str = "Backend";
    /// The root domain.
    pub const ROOT_DOMAIN: &str = "RootDomain";
    /// `<backend>.<org>.<root>`.
    pub const DOMAIN: &str = "Domain";
    /// The certificate the HTTPS listener serves.
    pub const CERTIFICATE_ARN: &str = "CertificateArn";
    /// The HTTPS listener (custom domains add their certificates to it).
    pub const HTTPS_LISTENER_ARN: &str = "HttpsListenerArn";
    /// Every output key the template defines.
    pub const ALL: &[&str] = &[
        ALB_DNS_NAME,
        ALB_HOSTED_ZONE_ID,
        CODE_BUCKET,
        ASSETS_BUCKET,
        FUNCTION_ROLE_ARN,
        PROXY_TASK_ROLE_ARN,
        DEPLOYER_POLICY_ARN,
        FUNCTION_SUBNET_IDS,
        FUNCTION_SECURITY_GROUP_ID,
        VPC_ID,
        CLUSTER_NAME,
        SERVICE_NAME,
        FUNCTION_PREFIX,
        ORG,
        BACKEND,
        ROOT_DOMAIN,
        DOMAIN,
        HTTPS_LISTENER_ARN,
        CERTIFICATE_ARN,
    ];
}

/// `{"Ref": name}`.
pub fn r(name: &str) -> Value {
    json!({ "Ref": name })
}

/// `{"Fn::GetAtt": [resource, attribute]}`.
pub fn get_att(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// Standard tags on every taggable resource.
pub(crate) fn tags(spec: &BackendSpec, name: &str) -> Value {
    json!([
        { "Key": "Name", "Value": format!("{}-{}-{}-{name}", spec.prefix, spec.org, spec.backend) },
        { "Key": "ownstak:backend", "Value": spec.domain() },
    ])
}

/// A builder collecting resources and outputs.
#[derive(Default)]
pub(crate) struct Template {
    pub(crate) parameters: Map<String, Value>,
    pub(crate) resources: Map<String, Value>,
    pub(crate) outputs: Map<String, Value>,
}

impl Template {
    /// Adds a resource of `kind` with `properties`.
    pub(crate) fn resource(&mut self, id: &str, kind: &str, properties: Value) -> &mut Map<String, Value> {
        self.resources.insert(id.to_owned(), json!({ "Type": kind, "Properties": properties }));
        match self.resources.get_mut(id) {
            Some(Value::Object(m)) => m,
            // Invariant: the value was inserted as an object just above.
            _ => unreachable!("resource {id} was just inserted as an object"),
        }
    }

    /// Adds an output.
    pub(crate) fn output(&mut self, key: &str, description: &str, value: Value) {
        self.outputs.insert(key.to_owned(), json!({ "Description": description, "Value": value }));
    }
}

/// The complete template of a backend.
pub fn backend_template(spec: &BackendSpec) -> Value {
    let mut t = Template::default();
    t.parameters.insert(
        PARAM_PROXY_IMAGE.to_owned(),
        json!({
            "Type": "String",
            "Description": "Container image of the LambdaProxy (`ownstak proxy`), e.g. <account>.dkr.ecr.<region>.amazonaws.com/ownstak:0.1.0",
            "MinLength": 1
        }),
    );
    t.parameters.insert(
        PARAM_CERTIFICATE_ARN.to_owned(),
        json!({
            "Type": "String",
            "Description": format!("ARN of the issued ACM certificate for {}", spec.wildcard()),
            "AllowedPattern": "^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$"
        }),
    );
    let net = network::add(&mut t, spec);
    storage::add(&mut t, spec);
    let roles = iam::add(&mut t, spec);
    alb::add(&mut t, spec, &net);
    ecs::add(&mut t, spec, &net, &roles);

    t.output(outputs::FUNCTION_PREFIX, "Prefix of the functions this backend manages", json!(spec.prefix));
    t.output(outputs::ORG, "Organization slug", json!(spec.org));
    t.output(outputs::BACKEND, "Backend slug", json!(spec.backend));
    t.output(outputs::ROOT_DOMAIN, "Root domain", json!(spec.root_domain));
    t.output(outputs::DOMAIN, "Domain of this backend's deployments", json!(spec.domain()));
    t.output(outputs::CERTIFICATE_ARN, "Certificate of the HTTPS listener", r(PARAM_CERTIFICATE_ARN));

    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("ownstak backend {} (LambdaProxy on ECS Fargate behind an ALB; functions `{}-*`)", spec.domain(), spec.prefix),
        "Parameters": Value::Object(t.parameters),
        "Resources": Value::Object(t.resources),
        "Outputs": Value::Object(t.outputs),
    })
}
