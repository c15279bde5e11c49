//! What a backend is made of: its names and its network.

use std::net::Ipv4Addr;

use ownstak_core::{FunctionPrefix, HostSuffix};

use crate::errors::AwsError;

/// The port the LambdaProxy listens on inside its task.
pub(crate) const PROXY_PORT: u16 = 3000;

/// The path the load balancer's health check asks the proxy for.
pub(crate) const HEALTH_CHECK_PATH: &str = "/__ownstak__/health";

/// The network a backend runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcSpec {
    /// A new VPC with two public and two private subnets, an internet
    /// gateway and a NAT gateway; `cidr` is an IPv4 block of /16 to /20.
    New {
        /// The VPC's address block.
        cidr: Ipv4Cidr,
    },
    /// An existing VPC; the private subnets need a route to a NAT gateway
    /// (functions and proxy tasks reach AWS APIs through it).
    Existing {
        /// The VPC id (`vpc-…`).
        vpc_id: String,
        /// The VPC's address block (trusted as the load balancer's range).
        cidr: Ipv4Cidr,
        /// At least two public subnets in different zones, for the load balancer.
        public_subnets: Vec<String>,
        /// At least two private subnets, for proxy tasks and functions.
        private_subnets: Vec<String>,
    },
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length.
    pub len: u8,
}

impl Ipv4Cidr {
    /// Parses `a.b.c.d/len`, requiring the host bits to be zero.
    pub fn parse(s: &str) -> Result<Self, AwsError> {
        let bad = || AwsError::Invalid(format!("`{s}` is not an IPv4 CIDR block like 10.0.0.0/16"));
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        if u32::from(addr) & !mask != 0 {
            return Err(AwsError::Invalid(format!(
                "`{s}` has host bits set; use {}/{len}",
                Ipv4Addr::from(u32::from(addr) & mask)
            )));
        }
        Ok(Self { addr, len })
    }

    /// The `index`-th sub-block of prefix length `len` (which must be longer
    /// than this block's and leave room for `index`).
    fn subnet(&self, len: u8, index: u32) -> Self {
        let size = 1u32 << (32 - len);
        Self { addr: Ipv4Addr::from(u32::from(self.addr) + index * size), len }
    }

    /// Four equal subnets (public 1, public 2, private 1, private 2), each a
    /// quarter of this block.
    pub fn four_subnets(&self) -> [Ipv4Cidr; 4] {
        let len = self.len + 2;
        [self.subnet(len, 0), self.subnet(len, 1), self.subnet(len, 2), self.subnet(len, 3)]
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Everything the backend template depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec {
    /// Organization slug.
    pub org: String,
    /// Backend slug (the stack and host names use it).
    pub backend: String,
    /// Root domain of host names (`ownstak.link`).
    pub root_domain: String,
    /// Prefix of the functions the backend manages.
    pub prefix: String,
    /// First part of the stack name (`<stack_prefix>-backend-<org>-<backend>`):
    /// `ownstak`, or the `--function-prefix` a backend was created with.
    pub stack_prefix: String,
    /// The network.
    pub vpc: VpcSpec,
    /// Days CloudWatch keeps the proxy's logs.
    pub log_retention_days: u32,
    /// Fewest proxy tasks.
    pub min_tasks: u32,
    /// Most proxy tasks.
    pub max_tasks: u32,
    /// vCPU units of one proxy task (Fargate: 256, 512, 1024, …).
    pub task_cpu: u32,
    /// Memory in MiB of one proxy task.
    pub task_memory: u32,
}

/// Log retention periods CloudWatch accepts.
const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

impl BackendSpec {
    /// A backend with default sizes (2–10 tasks of 0.5 vCPU / 1 GiB, logs kept
    /// 30 days), after checking the names and the network; `prefix` is the
    /// function prefix and the first part of the stack name (an explicit
    /// `--function-prefix`).
    pub fn new(org: &str, backend: &str, root_domain: &str, prefix: &str, vpc: VpcSpec) -> Result<Self, AwsError> {
        let mut spec = Self::with_own_prefix(org, backend, root_domain, vpc)?;
        spec.prefix = prefix.to_owned();
        spec.stack_prefix = prefix.to_owned();
        spec.validate()?;
        Ok(spec)
    }

    /// Like [`Self::new`], without an explicit prefix: the stack is
    /// `ownstak-backend-<org>-<backend>` and a new backend gets its own
    /// function prefix, [`FunctionPrefix::for_backend`] (`ownstak_<org>_<backend>`),
    /// so two backends in one account never share function names. An
    /// existing stack keeps the prefix it has (`create` and `plan` read it
    /// from the stack), so backends made with the shared `ownstak` prefix
    /// and their functions keep working; their functions are told apart by
    /// their ownership tags.
    pub fn with_own_prefix(org: &str, backend: &str, root_domain: &str, vpc: VpcSpec) -> Result<Self, AwsError> {
        let spec = Self {
            org: org.to_owned(),
            backend: backend.to_owned(),
            root_domain: root_domain.trim_end_matches('.').to_ascii_lowercase(),
            prefix: FunctionPrefix::for_backend(org, backend).as_str().to_owned(),
            stack_prefix: DEFAULT_STACK_PREFIX.to_owned(),
            vpc,
            log_retention_days: 30,
            min_tasks: 2,
            max_tasks: 10,
            task_cpu: 512,
            task_memory: 1024,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the names, the network and the sizes.
    pub fn validate(&self) -> Result<(), AwsError> {
        for (kind, slug) in [("organization", &self.org), ("backend", &self.backend)] {
            if !is_slug(slug) {
                return Err(AwsError::Invalid(format!(
                    "the {kind} slug `{slug}` must be lower-case letters, digits and single hyphens, e.g. `acme`"
                )));
            }
        }
        HostSuffix::new(&self.backend, &self.org, &self.root_domain).map_err(|e| AwsError::Invalid(e.to_string()))?;
        FunctionPrefix::new(&self.prefix).map_err(|e| AwsError::Invalid(e.to_string()))?;
        if !is_slug(&self.stack_prefix) {
            return Err(AwsError::Invalid(format!(
                "the stack prefix `{}` must be lower-case letters, digits and single hyphens (it starts the CloudFormation stack name)",
                self.stack_prefix
            )));
        }
        if self.stack_name().len() > 128 {
            return Err(AwsError::Invalid(format!(
                "stack name `{}` is over CloudFormation's 128 characters; shorten the org or backend slug",
                self.stack_name()
            )));
        }
        match &self.vpc {
            VpcSpec::New { cidr } => {
                if !(16..=20).contains(&cidr.len) {
                    return Err(AwsError::Invalid(format!("VPC block {cidr} must be between /16 and /20")));
                }
            }
            VpcSpec::Existing { vpc_id, public_subnets, private_subnets, .. } => {
                if !vpc_id.starts_with("vpc-") {
                    return Err(AwsError::Invalid(format!("`{vpc_id}` is not a VPC id (vpc-…)")));
                }
                for (kind, subnets) in [("public", public_subnets), ("private", private_subnets)] {
                    if subnets.len() < 2 {
                        return Err(AwsError::Invalid(format!(
                            "give at least two {kind} subnets (in different availability zones) with --{kind}-subnets"
                        )));
                    }
                    if let Some(bad) = subnets.iter().find(|s| !s.starts_with("subnet-")) {
                        return Err(AwsError::Invalid(format!("`{bad}` is not a subnet id (subnet-…)")));
                    }
                }
            }
        }
        if !RETENTION_DAYS.contains(&self.log_retention_days) {
            return Err(AwsError::Invalid(format!(
                "log retention {} days is not one CloudWatch accepts ({RETENTION_DAYS:?})",
                self.log_retention_days
            )));
        }
        if self.min_tasks == 0 || self.min_tasks > self.max_tasks {
            return Err(AwsError::Invalid(format!(
                "proxy task counts must satisfy 1 <= min ({}) <= max ({})",
                self.min_tasks, self.max_tasks
            )));
        }
        Ok(())
    }

    /// The backend's domain `<backend>.<org>.<root>`.
    pub fn domain(&self) -> String {
        format!("{}.{}.{}", self.backend, self.org, self.root_domain)
    }

    /// The wildcard host name `*.<backend>.<org>.<root>` of the certificate and CNAME.
    pub fn wildcard(&self) -> String {
        format!("*.{}", self.domain())
    }

    /// The CloudFormation stack name.
    pub fn stack_name(&self) -> String {
        stack_name(&self.stack_prefix, &self.org, &self.backend)
    }

    /// The address block trusted to set `X-Forwarded-For` (the VPC's).
    pub fn vpc_cidr(&self) -> Ipv4Cidr {
        match &self.vpc {
            VpcSpec::New { cidr } | VpcSpec::Existing { cidr, .. } => *cidr,
        }
    }
}

/// Whether `s` follows the slug grammar `[a-z0-9]+(-[a-z0-9]+)*`.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The first part of stack names of backends made without `--function-prefix`.
pub const DEFAULT_STACK_PREFIX: &str = "ownstak";

/// The stack name of backend `backend` of `org` with stack prefix `prefix`.
pub(crate) fn stack_name(prefix: &str, org: &str, backend: &str) -> String {
    format!("{prefix}-backend-{org}-{backend}")
}
