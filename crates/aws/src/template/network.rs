//! The network: a new VPC (two public and two private subnets, internet
//! gateway, one NAT gateway, route tables) or an existing one, and the three
//! security groups (load balancer, proxy tasks, functions).

use serde_json::{Value, json};

use super::{Template, get_att, outputs, r, tags};
use crate::spec::{BackendSpec, PROXY_PORT, VpcSpec};

/// Load balancer security group: 80 and 443 from anywhere.
pub const ALB_SG: &str = "AlbSecurityGroup";
/// Proxy task security group: the proxy port from the load balancer only.
pub const PROXY_SG: &str = "ProxySecurityGroup";
/// Function security group: no ingress, egress only.
pub const FUNCTION_SG: &str = "FunctionSecurityGroup";
/// The new VPC (absent with an existing VPC).
pub const VPC: &str = "Vpc";
/// The NAT gateway (absent with an existing VPC).
pub const NAT_GATEWAY: &str = "NatGateway";

/// References to the network for the other modules.
pub struct Network {
    /// The VPC id.
    pub vpc_id: Value,
    /// The public subnet ids.
    pub public_subnets: Vec<Value>,
    /// The private subnet ids.
    pub private_subnets: Vec<Value>,
    /// Resources that must exist before anything in the private subnets can
    /// reach out (the private default route), as `DependsOn` names.
    pub egress_ready: Vec<String>,
}

/// Adds the network resources and outputs.
pub(crate) fn add(t: &mut Template, spec: &BackendSpec) -> Network {
    let network = match &spec.vpc {
        VpcSpec::Existing { vpc_id, public_subnets, private_subnets, .. } => Network {
            vpc_id: json!(vpc_id),
            public_subnets: public_subnets.iter().map(|s| json!(s)).collect(),
            private_subnets: private_subnets.iter().map(|s| json!(s)).collect(),
            egress_ready: Vec::new(),
        },
        VpcSpec::New { cidr } => new_vpc(t, spec, *cidr),
    };
    let cidr = spec.vpc_cidr().to_string();

    t.resource(
        ALB_SG,
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": format!("ownstak {} load balancer: HTTP and HTTPS from anywhere", spec.domain()),
            "VpcId": network.vpc_id,
            "SecurityGroupIngress": [
                { "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0", "Description": "HTTP (redirected to HTTPS)" },
                { "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0", "Description": "HTTPS" }
            ],
            "SecurityGroupEgress": [
                { "IpProtocol": "tcp", "FromPort": PROXY_PORT, "ToPort": PROXY_PORT, "CidrIp": cidr, "Description": "to the proxy tasks" }
            ],
            "Tags": tags(spec, "alb"),
        }),
    );
    t.resource(
        PROXY_SG,
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": format!("ownstak {} proxy tasks: traffic from the load balancer only", spec.domain()),
            "VpcId": network.vpc_id,
            "SecurityGroupIngress": [
                { "IpProtocol": "tcp", "FromPort": PROXY_PORT, "ToPort": PROXY_PORT, "SourceSecurityGroupId": get_att(ALB_SG, "GroupId"), "Description": "from the load balancer" }
            ],
            "SecurityGroupEgress": [
                { "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0", "Description": "AWS APIs (Lambda, S3, ECR, logs) through the NAT gateway" }
            ],
            "Tags": tags(spec, "proxy"),
        }),
    );
    t.resource(
        FUNCTION_SG,
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": format!("ownstak {} functions: egress only", spec.domain()),
            "VpcId": network.vpc_id,
            "SecurityGroupEgress": [
                { "IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "outbound through the NAT gateway" }
            ],
            "Tags": tags(spec, "functions"),
        }),
    );

    t.output(outputs::VPC_ID, "VPC of the backend", network.vpc_id.clone());
    t.output(
        outputs::FUNCTION_SUBNET_IDS,
        "Private subnets for functions (comma-separated)",
        json!({ "Fn::Join": [",", network.private_subnets] }),
    );
    t.output(outputs::FUNCTION_SECURITY_GROUP_ID, "Security group for functions", get_att(FUNCTION_SG, "GroupId"));
    network
}

/// A new VPC spanning two availability zones.
fn new_vpc(t: &mut Template, spec: &BackendSpec, cidr: crate::spec::Ipv4Cidr) -> Network {
    let [pub1, pub2, priv1, priv2] = cidr.four_subnets();
    t.resource(
        VPC,
        "AWS::EC2::VPC",
        json!({ "CidrBlock": cidr.to_string(), "EnableDnsSupport": true, "EnableDnsHostnames": true, "Tags": tags(spec, "vpc") }),
    );
    t.resource("InternetGateway", "AWS::EC2::InternetGateway", json!({ "Tags": tags(spec, "igw") }));
    t.resource(
        "GatewayAttachment",
        "AWS::EC2::VPCGatewayAttachment",
        json!({ "VpcId": r(VPC), "InternetGatewayId": r("InternetGateway") }),
    );

    let az = |i: usize| json!({ "Fn::Select": [i, { "Fn::GetAZs": "" }] });
    for (id, block, zone) in [
        ("PublicSubnet1", pub1, 0),
        ("PublicSubnet2", pub2, 1),
        ("PrivateSubnet1", priv1, 0),
        ("PrivateSubnet2", priv2, 1),
    ] {
        t.resource(
            id,
            "AWS::EC2::Subnet",
            json!({
                "VpcId": r(VPC),
                "CidrBlock": block.to_string(),
                "AvailabilityZone": az(zone),
                "MapPublicIpOnLaunch": false,
                "Tags": tags(spec, &id.to_ascii_lowercase()),
            }),
        );
    }

    t.resource("PublicRouteTable", "AWS::EC2::RouteTable", json!({ "VpcId": r(VPC), "Tags": tags(spec, "public") }));
    t.resource(
        "PublicDefaultRoute",
        "AWS::EC2::Route",
        json!({ "RouteTableId": r("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": r("InternetGateway") }),
    )
    .insert("DependsOn".to_owned(), json!("GatewayAttachment"));
    t.resource("NatEip", "AWS::EC2::EIP", json!({ "Domain": "vpc", "Tags": tags(spec, "nat") }))
        .insert("DependsOn".to_owned(), json!("GatewayAttachment"));
    t.resource(
        NAT_GATEWAY,
        "AWS::EC2::NatGateway",
        json!({ "AllocationId": get_att("NatEip", "AllocationId"), "SubnetId": r("PublicSubnet1"), "Tags": tags(spec, "nat") }),
    );
    t.resource("PrivateRouteTable", "AWS::EC2::RouteTable", json!({ "VpcId": r(VPC), "Tags": tags(spec, "private") }));
    t.resource(
        "PrivateDefaultRoute",
        "AWS::EC2::Route",
        json!({ "RouteTableId": r("PrivateRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": r(NAT_GATEWAY) }),
    );
    for (subnet, table) in [
        ("PublicSubnet1", "PublicRouteTable"),
        ("PublicSubnet2", "PublicRouteTable"),
        ("PrivateSubnet1", "PrivateRouteTable"),
        ("PrivateSubnet2", "PrivateRouteTable"),
    ] {
        t.resource(
            &format!("{subnet}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(subnet), "RouteTableId": r(table) }),
        );
    }
    Network {
        vpc_id: r(VPC),
        public_subnets: vec![r("PublicSubnet1"), r("PublicSubnet2")],
        private_subnets: vec![r("PrivateSubnet1"), r("PrivateSubnet2")],
        egress_ready: vec![
            "PrivateDefaultRoute".to_owned(),
            "PrivateSubnet1RouteTableAssociation".to_owned(),
            "PrivateSubnet2RouteTableAssociation".to_owned(),
        ],
    }
}
