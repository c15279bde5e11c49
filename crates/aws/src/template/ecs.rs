//! The LambdaProxy on ECS Fargate: cluster, log group, task definition,
//! service in the private subnets behind the target group, and autoscaling
//! on CPU and on requests per target.

use serde_json::json;

use super::{PARAM_PROXY_IMAGE, Template, alb, get_att, iam, network, outputs, r, storage, tags};
use crate::spec::{BackendSpec, PROXY_PORT};

/// The ECS cluster.
pub const CLUSTER: &str = "Cluster";
/// The proxy task definition.
pub const TASK_DEFINITION: &str = "ProxyTaskDefinition";
/// The proxy service.
pub const SERVICE: &str = "ProxyService";
/// The autoscaling target of the service's task count.
pub const SCALABLE_TARGET: &str = "ProxyScalableTarget";
/// The container name in the task definition.
pub const CONTAINER: &str = "proxy";

/// The arguments of `ownstak` in the proxy container.
pub fn proxy_command(spec: &BackendSpec) -> Vec<String> {
    [
        "proxy",
        "--proxy-addr",
        &format!("0.0.0.0:{PROXY_PORT}"),
        "--org",
        &spec.org,
        "--backend",
        &spec.backend,
        "--root-domain",
        &spec.root_domain,
        "--function-prefix",
        &spec.prefix,
        "--trusted-proxy",
        &spec.vpc_cidr().to_string(),
        "--log-format",
        "json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Adds the cluster, task definition, service and scaling.
pub(crate) fn add(t: &mut Template, spec: &BackendSpec, net: &network::Network, roles: &iam::Roles) {
    t.resource(
        iam::PROXY_LOG_GROUP,
        "AWS::Logs::LogGroup",
        json!({
            "LogGroupName": crate::logs::proxy_log_group(&spec.prefix, &spec.org, &spec.backend),
            "RetentionInDays": spec.log_retention_days,
        }),
    );
    t.resource(
        CLUSTER,
        "AWS::ECS::Cluster",
        json!({
            "ClusterSettings": [ { "Name": "containerInsights", "Value": "enabled" } ],
            "Tags": tags(spec, "cluster"),
        }),
    );
    t.resource(
        TASK_DEFINITION,
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": format!("{}-{}-{}-proxy", spec.prefix, spec.org, spec.backend),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": spec.task_cpu.to_string(),
            "Memory": spec.task_memory.to_string(),
            "RuntimePlatform": { "OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64" },
            "ExecutionRoleArn": roles.execution_role,
            "TaskRoleArn": roles.task_role,
            "ContainerDefinitions": [ {
                "Name": CONTAINER,
                "Image": r(PARAM_PROXY_IMAGE),
                "Essential": true,
                "Command": proxy_command(spec),
                "PortMappings": [ { "ContainerPort": PROXY_PORT, "Protocol": "tcp" } ],
                "Environment": [
                    { "Name": "AWS_REGION", "Value": r("AWS::Region") },
                    // Static files are answered from here without invoking a function.
                    { "Name": "OWNSTAK_ASSETS_BUCKET", "Value": r(storage::ASSETS_BUCKET) }
                ],
                "ReadonlyRootFilesystem": true,
                "StopTimeout": 40,
                "LogConfiguration": {
                    "LogDriver": "awslogs",
                    "Options": {
                        "awslogs-group": r(iam::PROXY_LOG_GROUP),
                        "awslogs-region": r("AWS::Region"),
                        "awslogs-stream-prefix": "proxy"
                    }
                }
            } ],
            "Tags": tags(spec, "proxy"),
        }),
    );
    let mut depends = vec![alb::HTTPS_LISTENER.to_owned()];
    depends.extend(net.egress_ready.iter().cloned());
    t.resource(
        SERVICE,
        "AWS::ECS::Service",
        json!({
            "Cluster": r(CLUSTER),
            "LaunchType": "FARGATE",
            "DesiredCount": spec.min_tasks,
            "TaskDefinition": r(TASK_DEFINITION),
            "HealthCheckGracePeriodSeconds": 30,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true }
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": net.private_subnets,
                    "SecurityGroups": [get_att(network::PROXY_SG, "GroupId")]
                }
            },
            "LoadBalancers": [ { "ContainerName": CONTAINER, "ContainerPort": PROXY_PORT, "TargetGroupArn": r(alb::TARGET_GROUP) } ],
            "Tags": tags(spec, "proxy"),
        }),
    )
    .insert("DependsOn".to_owned(), json!(depends));
    t.resource(
        SCALABLE_TARGET,
        "AWS::ApplicationAutoScaling::ScalableTarget",
        json!({
            "ServiceNamespace": "ecs",
            "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": { "Fn::Join": ["/", ["service", r(CLUSTER), get_att(SERVICE, "Name")]] },
            "MinCapacity": spec.min_tasks,
            "MaxCapacity": spec.max_tasks,
        }),
    );
    t.resource(
        "ProxyCpuScaling",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        json!({
            "PolicyName": "proxy-cpu",
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": r(SCALABLE_TARGET),
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": { "PredefinedMetricType": "ECSServiceAverageCPUUtilization" },
                "TargetValue": 60.0,
                "ScaleInCooldown": 120,
                "ScaleOutCooldown": 30
            }
        }),
    );
    t.resource(
        "ProxyRequestScaling",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        json!({
            "PolicyName": "proxy-requests",
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": r(SCALABLE_TARGET),
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ALBRequestCountPerTarget",
                    "ResourceLabel": { "Fn::Join": ["/", [get_att(alb::LOAD_BALANCER, "LoadBalancerFullName"), get_att(alb::TARGET_GROUP, "TargetGroupFullName")]] }
                },
                "TargetValue": 1000.0,
                "ScaleInCooldown": 120,
                "ScaleOutCooldown": 30
            }
        }),
    );
    t.output(outputs::CLUSTER_NAME, "ECS cluster of the proxy", r(CLUSTER));
    t.output(outputs::SERVICE_NAME, "ECS service of the proxy", get_att(SERVICE, "Name"));
}
