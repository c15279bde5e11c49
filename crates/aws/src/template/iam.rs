//! IAM: the proxy task role, the task execution role, the functions' role and
//! the deployer's managed policy, each limited to what its user calls.

use serde_json::{Value, json};

use super::{Template, get_att, outputs, r, storage, sub};
use crate::spec::BackendSpec;

/// The role the proxy tasks run as.
pub const PROXY_TASK_ROLE: &str = "ProxyTaskRole";
/// The role ECS uses to pull the proxy image and write its logs.
pub const TASK_EXECUTION_ROLE: &str = "TaskExecutionRole";
/// The role functions run as.
pub const FUNCTION_ROLE: &str = "FunctionRole";
/// The managed policy for `ownstak deploy`.
pub const DEPLOYER_POLICY: &str = "DeployerPolicy";
/// The proxy's log group (defined here so the execution role can name it).
pub const PROXY_LOG_GROUP: &str = "ProxyLogGroup";

/// Actions AWS only authorizes on `Resource: "*"` (no resource-level
/// permissions); the policy tests allow `*` resources for these alone.
pub const RESOURCE_WILDCARD_ACTIONS: &[&str] = &[
    "ecr:GetAuthorizationToken",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "acm:RequestCertificate",
    "acm:ListCertificates",
    "elasticloadbalancing:DescribeListenerCertificates",
];

/// Everything `ownstak deploy`, `promote` and `deployments` call on
/// existing functions (allowed while the function's ownership tags, if it
/// has any, name this backend).
pub const DEPLOYER_LAMBDA_ACTIONS: &[&str] = &[
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:CreateAlias",
    "lambda:UpdateAlias",
    "lambda:GetAlias",
    "lambda:ListAliases",
    "lambda:ListVersionsByFunction",
    "lambda:ListTags",
];

/// What `ownstak deploy` calls to create a function or adopt one made
/// before ownership tags (allowed only with this backend's ownership tags
/// in the request).
pub const DEPLOYER_TAGGING_ACTIONS: &[&str] = &["lambda:CreateFunction", "lambda:TagResource"];

/// What `ownstak env` and `ownstak deploy` call on the backend's parameters.
pub const DEPLOYER_SSM_ACTIONS: &[&str] =
    &["ssm:PutParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:DeleteParameters"];

/// What functions call to fetch their secrets at init.
pub const FUNCTION_SSM_ACTIONS: &[&str] = &["ssm:GetParameters"];

/// The SSM parameters of the backend's environments,
/// `/ownstak/<org>/<backend>/<project>/<env>/<KEY>` (see
/// `ownstak_deploy::parameter_path`), as an IAM resource.
pub fn parameters_arn(spec: &BackendSpec) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/ownstak/{}/{}/*",
        spec.org, spec.backend
    ))
}

/// `{ "<operator>": { "aws:<key>/ownstak:backend": <backend>, "aws:<key>/ownstak:org": <org> } }`
/// entries of a condition.
fn ownership(spec: &BackendSpec, operator: &str, key: &str) -> (String, Value) {
    (
        operator.to_owned(),
        json!({
            format!("aws:{key}/ownstak:backend"): spec.backend,
            format!("aws:{key}/ownstak:org"): spec.org,
        }),
    )
}

/// The condition of actions on existing functions: a function tagged for
/// another backend or organization is refused; one without ownership tags
/// (made by an older ownstak) is allowed, so it keeps working and can be
/// adopted.
pub fn owned_function_condition(spec: &BackendSpec) -> Value {
    let (op, v) = ownership(spec, "StringEqualsIfExists", "ResourceTag");
    json!({ op: v })
}

/// The condition of creating and tagging functions: the request must tag
/// the function as this backend's, and may not retag another backend's.
pub fn tagging_condition(spec: &BackendSpec) -> Value {
    let (req_op, req) = ownership(spec, "StringEquals", "RequestTag");
    let (res_op, res) = ownership(spec, "StringEqualsIfExists", "ResourceTag");
    json!({ req_op: req, res_op: res })
}

/// ARN references to the roles, for the task definition.
pub struct Roles {
    /// The proxy task role ARN.
    pub task_role: Value,
    /// The task execution role ARN.
    pub execution_role: Value,
}

/// The function ARNs under the prefix, unqualified and qualified.
fn function_arns(spec: &BackendSpec) -> Value {
    json!([
        sub(&format!("arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{}-*", spec.prefix)),
        sub(&format!(
            "arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{}-*:*",
            spec.prefix
        )),
    ])
}

/// `arn:…:s3:::<bucket>` and `arn:…:s3:::<bucket>/*` of a bucket resource.
fn bucket_arn(bucket: &str, objects: bool) -> Value {
    if objects { sub(&format!("${{{bucket}.Arn}}/*")) } else { get_att(bucket, "Arn") }
}

fn assume(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [ { "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" } ]
    })
}

/// Adds the roles and the deployer policy.
pub(crate) fn add(t: &mut Template, spec: &BackendSpec) -> Roles {
    t.resource(
        PROXY_TASK_ROLE,
        "AWS::IAM::Role",
        json!({
            "Description": format!("ownstak {} LambdaProxy tasks: invoke {}-* functions, read assets", spec.domain(), spec.prefix),
            "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
            "Policies": [ {
                "PolicyName": "invoke-functions-read-assets",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "InvokeBackendFunctions",
                            "Effect": "Allow",
                            "Action": ["lambda:InvokeFunction"],
                            "Resource": function_arns(spec),
                            "Condition": owned_function_condition(spec)
                        },
                        { "Sid": "ReadAssets", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [bucket_arn(storage::ASSETS_BUCKET, true)] },
                        // With ListBucket, S3 answers a missing key with 404 instead of 403, so the
                        // proxy can tell "not a static file" (remembered briefly) from a refusal.
                        // It covers the whole bucket, not a prefix: a GetObject names no s3:prefix, so a
                        // prefix condition could keep that check from matching; and the bucket holds only
                        // this backend's assets, every one of which the role may read anyway.
                        { "Sid": "ListAssets", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn(storage::ASSETS_BUCKET, false)] }
                    ]
                }
            } ]
        }),
    );
    t.resource(
        TASK_EXECUTION_ROLE,
        "AWS::IAM::Role",
        json!({
            "Description": format!("ownstak {} ECS task execution: pull the proxy image, write its logs", spec.domain()),
            "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
            "Policies": [ {
                "PolicyName": "pull-image-write-logs",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        { "Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*" },
                        {
                            "Sid": "PullImage",
                            "Effect": "Allow",
                            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                            "Resource": [sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*")]
                        },
                        {
                            "Sid": "WriteLogs",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": [sub(&format!("${{{PROXY_LOG_GROUP}.Arn}}")), sub(&format!("${{{PROXY_LOG_GROUP}.Arn}}:log-stream:*"))]
                        }
                    ]
                }
            } ]
        }),
    );
    t.resource(
        FUNCTION_ROLE,
        "AWS::IAM::Role",
        json!({
            "Description": format!("ownstak {} functions: basic and VPC execution, reading the backend's secrets", spec.domain()),
            "AssumeRolePolicyDocument": assume("lambda.amazonaws.com"),
            // Secrets are SecureStrings under the AWS managed key `aws/ssm`,
            // whose key policy lets the account's principals decrypt through
            // SSM: no KMS statement is needed.
            "Policies": [ {
                "PolicyName": "read-backend-parameters",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [ {
                        "Sid": "ReadBackendParameters",
                        "Effect": "Allow",
                        "Action": FUNCTION_SSM_ACTIONS,
                        "Resource": [parameters_arn(spec)]
                    } ]
                }
            } ],
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
            ]
        }),
    );
    t.resource(
        DEPLOYER_POLICY,
        "AWS::IAM::ManagedPolicy",
        json!({
            "Description": format!("ownstak {}: what `ownstak deploy`, `promote`, `deployments`, `logs`, `cache` and `domains` call", spec.domain()),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ManageBackendFunctions",
                        "Effect": "Allow",
                        "Action": DEPLOYER_LAMBDA_ACTIONS,
                        "Resource": function_arns(spec),
                        "Condition": owned_function_condition(spec)
                    },
                    {
                        "Sid": "CreateAndTagBackendFunctions",
                        "Effect": "Allow",
                        "Action": DEPLOYER_TAGGING_ACTIONS,
                        "Resource": function_arns(spec),
                        "Condition": tagging_condition(spec)
                    },
                    {
                        "Sid": "ManageEnvironmentParameters",
                        "Effect": "Allow",
                        "Action": DEPLOYER_SSM_ACTIONS,
                        "Resource": [parameters_arn(spec)]
                    },
                    {
                        "Sid": "ReadFunctionLogs",
                        "Effect": "Allow",
                        "Action": ["logs:FilterLogEvents"],
                        "Resource": [
                            sub(&format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{}-*", spec.prefix)),
                            sub(&format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{}-*:*", spec.prefix)),
                            // `ownstak logs --proxy`: the proxy tasks' access log.
                            sub(&format!("${{{PROXY_LOG_GROUP}.Arn}}")),
                        ]
                    },
                    {
                        "Sid": "PassFunctionRole",
                        "Effect": "Allow",
                        "Action": ["iam:PassRole"],
                        "Resource": [get_att(FUNCTION_ROLE, "Arn")],
                        "Condition": { "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }
                    },
                    {
                        "Sid": "WriteBundlesAndAssets",
                        "Effect": "Allow",
                        "Action": ["s3:PutObject", "s3:GetObject"],
                        "Resource": [bucket_arn(storage::CODE_BUCKET, true), bucket_arn(storage::ASSETS_BUCKET, true)]
                    },
                    {
                        "Sid": "ListBundlesAndAssets",
                        "Effect": "Allow",
                        "Action": ["s3:ListBucket"],
                        "Resource": [bucket_arn(storage::CODE_BUCKET, false), bucket_arn(storage::ASSETS_BUCKET, false)]
                    },
                    {
                        "Sid": "VpcConfigChecks",
                        "Effect": "Allow",
                        "Action": ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"],
                        "Resource": "*"
                    },
                    { "Sid": "ReadBackendOutputs", "Effect": "Allow", "Action": ["cloudformation:DescribeStacks", "cloudformation:DescribeStackResources"], "Resource": [r("AWS::StackId")] },
                    // `ownstak domains`: each custom domain's certificate, validated through DNS
                    // (RequestCertificate and ListCertificates take no resource), on the HTTPS listener.
                    { "Sid": "RequestDomainCertificates", "Effect": "Allow", "Action": ["acm:RequestCertificate", "acm:ListCertificates"], "Resource": "*" },
                    {
                        "Sid": "ManageDomainCertificates",
                        "Effect": "Allow",
                        "Action": ["acm:DescribeCertificate", "acm:DeleteCertificate"],
                        "Resource": [sub("arn:${AWS::Partition}:acm:${AWS::Region}:${AWS::AccountId}:certificate/*")]
                    },
                    {
                        "Sid": "ListenerDomainCertificates",
                        "Effect": "Allow",
                        "Action": ["elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates"],
                        "Resource": [r(super::alb::HTTPS_LISTENER)]
                    },
                    { "Sid": "DescribeListenerCertificates", "Effect": "Allow", "Action": ["elasticloadbalancing:DescribeListenerCertificates"], "Resource": "*" },
                    {
                        "Sid": "DomainValidationRecords",
                        "Effect": "Allow",
                        "Action": ["route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets"],
                        "Resource": [sub("arn:${AWS::Partition}:route53:::hostedzone/*")]
                    }
                ]
            }
        }),
    );
    t.output(outputs::FUNCTION_ROLE_ARN, "Role functions run as", get_att(FUNCTION_ROLE, "Arn"));
    t.output(outputs::PROXY_TASK_ROLE_ARN, "Role of the proxy tasks", get_att(PROXY_TASK_ROLE, "Arn"));
    t.output(
        outputs::DEPLOYER_POLICY_ARN,
        "Managed policy to attach to whoever runs `ownstak deploy`",
        r(DEPLOYER_POLICY),
    );
    Roles { task_role: get_att(PROXY_TASK_ROLE, "Arn"), execution_role: get_att(TASK_EXECUTION_ROLE, "Arn") }
}
