//! moto's server (the AWS control plane stand-in) on a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server, killed on drop, with empty AWS config and
/// credentials files so that the machine's own are never read.
pub struct Moto {
    child: Child,
    /// The endpoint URL for every AWS service.
    pub url: String,
    aws_home: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's Python (`OWNSTAK_PYTHON`, the virtualenv with moto[server]).
pub fn python() -> PathBuf {
    let Some(path) = std::env::var_os("OWNSTAK_PYTHON").filter(|p| !p.is_empty()) else {
        panic!(
            "OWNSTAK_PYTHON is not set: these tests need the project's Python virtualenv with moto[server]. \
             Run them through `scripts/test.sh`, or first `source scripts/env.sh && python_env` in this shell."
        );
    };
    PathBuf::from(path)
}

impl Moto {
    /// Starts moto and waits until it listens; its ACM certificates stay
    /// pending for `acm_wait_secs`.
    pub fn start(acm_wait_secs: u32) -> Moto {
        let server = python().with_file_name("moto_server");
        assert!(
            server.exists(),
            "{} is missing: install moto[server] with `source scripts/env.sh && python_env`",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ACM_VALIDATION_WAIT", acm_wait_secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let aws_home = crate::tempdir();
        std::fs::write(aws_home.path().join("config"), "").expect("write an empty AWS config");
        std::fs::write(aws_home.path().join("credentials"), "").expect("write empty AWS credentials");
        let moto = Moto { child, url: format!("http://127.0.0.1:{port}"), aws_home };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The empty shared AWS config file, for `AWS_CONFIG_FILE`.
    pub fn config_file(&self) -> PathBuf {
        self.aws_home.path().join("config")
    }

    /// The empty shared credentials file, for `AWS_SHARED_CREDENTIALS_FILE`.
    pub fn credentials_file(&self) -> PathBuf {
        self.aws_home.path().join("credentials")
    }

    /// The directory of both files.
    pub fn aws_home(&self) -> &Path {
        self.aws_home.path()
    }
}

/// A VPC with two public and two private subnets, made in moto.
pub struct Network {
    /// The VPC id.
    pub vpc_id: String,
    /// The VPC's address range.
    pub cidr: &'static str,
    /// Two subnets for the load balancer.
    pub public_subnets: Vec<String>,
    /// Two subnets for the proxy and the functions.
    pub private_subnets: Vec<String>,
}

/// Creates the VPC and subnets with boto3 against the endpoint in argv[1]; prints their ids as JSON.
const CREATE_NETWORK: &str = r#"
import json, sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
blocks = ["10.42.0.0/18", "10.42.64.0/18", "10.42.128.0/18", "10.42.192.0/18"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=b)["Subnet"]["SubnetId"] for b in blocks]
print(json.dumps({"vpc": vpc, "subnets": subnets}))
"#;

impl Moto {
    /// An existing network for `backend create` (moto cannot delete a
    /// stack's own VPC: it has no CloudFormation delete for
    /// `AWS::EC2::RouteTable`, and its DeleteVpc refuses while those remain).
    pub fn create_network(&self) -> Network {
        let out = Command::new(python()).arg("-c").arg(CREATE_NETWORK).arg(&self.url).output().expect("run python");
        assert!(out.status.success(), "creating the test network failed: {}", String::from_utf8_lossy(&out.stderr));
        let ids: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the network's ids as JSON");
        let id = |v: &serde_json::Value| v.as_str().expect("an id").to_owned();
        let subnets: Vec<String> = ids["subnets"].as_array().expect("subnet ids").iter().map(id).collect();
        Network {
            vpc_id: id(&ids["vpc"]),
            cidr: "10.42.0.0/16",
            public_subnets: subnets[..2].to_vec(),
            private_subnets: subnets[2..].to_vec(),
        }
    }
}
