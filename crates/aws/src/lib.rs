//! Backend provisioning on AWS.
//!
//! A backend is one CloudFormation stack in the user's account (network,
//! load balancer, the LambdaProxy on ECS Fargate, buckets, IAM roles) plus two
//! kinds of records in the platform's Route53 zone: the validation records of
//! the backend's wildcard ACM certificate and the wildcard CNAME
//! `*.<backend>.<org>.<root>` pointing at the load balancer.
//!
//! * [`template`] builds the stack's template from a [`BackendSpec`] (pure);
//! * [`config`] builds SDK configurations (profile, region, endpoint);
//! * [`stack`], [`dns`] and [`cert`] wrap the CloudFormation, Route53 and ACM calls;
//! * [`backend`] composes them into `create`, `plan`, `status` and `destroy`;
//! * [`target`] reads a backend's stack outputs for `deploy`, `promote` and
//!   `deployments`, and uploads bundles to its code bucket;
//! * [`CloudWatchLogs`] reads a function's logs for `ownstak logs`;
//! * [`CustomDomains`] gives a custom domain its certificate (ACM, DNS
//!   validation) and puts it on the load balancer's HTTPS listener
//!   (`listener.rs`, ELBv2).

mod backend;
mod cert;
mod config;
mod dns;
mod domains;
mod errors;
mod listener;
mod logs;
mod spec;
mod stack;
mod target;
pub mod template;

pub use backend::{
    BackendStatus, CreateOutcome, DestroyOutcome, DnsTarget, Plan, PlannedChange, Timing, backend_status,
    create_backend, destroy_backend, plan_backend, template_text,
};
pub use config::AwsSettings;
pub use dns::canonical as canonical_dns_name;
pub use domains::{CustomDomains, DnsRecord, DomainCertificate};
pub use errors::AwsError;
pub use logs::{CloudWatchLogs, function_log_group, proxy_log_group};
pub use spec::{BackendSpec, DEFAULT_STACK_PREFIX, Ipv4Cidr, VpcSpec};
pub use target::{BundleObject, DeployTarget};
pub use template::backend_template;
