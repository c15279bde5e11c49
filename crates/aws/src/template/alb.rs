//! The Application Load Balancer: public, HTTPS with the wildcard
//! certificate, HTTP redirected to HTTPS, forwarding to the proxy tasks.

use serde_json::json;

use super::{PARAM_CERTIFICATE_ARN, Template, get_att, network, outputs, r, tags};
use crate::spec::{BackendSpec, HEALTH_CHECK_PATH, PROXY_PORT};

/// The load balancer.
pub const LOAD_BALANCER: &str = "LoadBalancer";
/// The proxy tasks' target group.
pub const TARGET_GROUP: &str = "ProxyTargetGroup";
/// The HTTPS listener.
pub const HTTPS_LISTENER: &str = "HttpsListener";
/// The HTTP listener (redirects to HTTPS).
pub const HTTP_LISTENER: &str = "HttpListener";
/// The HTTPS listener's TLS policy: TLS 1.3 and 1.2 with forward-secret
/// AEAD ciphers only (the "restricted" variant of the 2021 policy).
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06";

/// Adds the load balancer, target group and listeners.
pub(crate) fn add(t: &mut Template, spec: &BackendSpec, net: &network::Network) {
    let lb = t.resource(
        LOAD_BALANCER,
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Type": "application",
            "Scheme": "internet-facing",
            "IpAddressType": "ipv4",
            "Subnets": net.public_subnets,
            "SecurityGroups": [get_att(network::ALB_SG, "GroupId")],
            "LoadBalancerAttributes": [
                { "Key": "idle_timeout.timeout_seconds", "Value": "60" },
                { "Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true" },
                { "Key": "routing.http2.enabled", "Value": "true" }
            ],
            "Tags": tags(spec, "alb"),
        }),
    );
    if net.egress_ready.iter().any(|d| d == "PrivateDefaultRoute") {
        lb.insert("DependsOn".to_owned(), json!("GatewayAttachment"));
    }
    t.resource(
        TARGET_GROUP,
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({
            "VpcId": net.vpc_id,
            "TargetType": "ip",
            "Protocol": "HTTP",
            "ProtocolVersion": "HTTP1",
            "Port": PROXY_PORT,
            "HealthCheckEnabled": true,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": HEALTH_CHECK_PATH,
            "HealthCheckIntervalSeconds": 15,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": { "HttpCode": "200" },
            "TargetGroupAttributes": [
                { "Key": "deregistration_delay.timeout_seconds", "Value": "35" }
            ],
            "Tags": tags(spec, "proxy"),
        }),
    );
    t.resource(
        HTTPS_LISTENER,
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r(LOAD_BALANCER),
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": TLS_POLICY,
            "Certificates": [ { "CertificateArn": r(PARAM_CERTIFICATE_ARN) } ],
            "DefaultActions": [ { "Type": "forward", "TargetGroupArn": r(TARGET_GROUP) } ],
        }),
    );
    t.resource(
        HTTP_LISTENER,
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r(LOAD_BALANCER),
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [ {
                "Type": "redirect",
                "RedirectConfig": { "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301" }
            } ],
        }),
    );
    t.output(
        outputs::ALB_DNS_NAME,
        "DNS name of the load balancer (target of the wildcard CNAME)",
        get_att(LOAD_BALANCER, "DNSName"),
    );
    t.output(
        outputs::HTTPS_LISTENER_ARN,
        "HTTPS listener (custom domains add their certificates to it)",
        r(HTTPS_LISTENER),
    );
    t.output(
        outputs::ALB_HOSTED_ZONE_ID,
        "Canonical hosted zone of the load balancer",
        get_att(LOAD_BALANCER, "CanonicalHostedZoneID"),
    );
}
