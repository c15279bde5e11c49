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
//!   `deployments`, and uploads bundles to its code bucket.

pub mod backend;
pub mod cert;
pub mod config;
pub mod dns;
pub mod errors;
pub mod spec;
pub mod stack;
pub mod target;
pub mod template;

pub use backend::{BackendStatus, CreateOutcome, DestroyOutcome, DnsTarget, Plan, PlannedChange, Timing};
pub use config::AwsSettings;
pub use errors::AwsError;
pub use spec::{BackendSpec, VpcSpec};
pub use target::{BundleObject, DeployTarget};
pub use template::backend_template;
