//! The embedded local backend: a service that speaks the AWS Lambda REST API
//! (control plane and Invoke), runs each function's code in sandbox
//! processes with their own Runtime API, and keeps its state in SQLite so
//! that it survives restarts.
//!
//! Clients written for AWS (aws-sdk-lambda, boto3) work against it
//! unchanged; only the endpoint differs. Web pages do not: every request
//! passes the rules of `ownstak_guard` first (Host, Origin, an AWS
//! Signature V4; see the `guard` module), and each Runtime API serves only
//! its own sandbox's processes.
//!
//! The same listener answers a minimal SSM Parameter Store (the `ssm`
//! module), where `ownstak env` keeps an environment's variables and
//! secrets and from which `ownstak-runtime` fetches a function's secrets.

mod api;
mod arn;
mod clock;
mod code;
mod config;
mod error;
mod guard;
mod model;
mod private;
mod sandbox;
mod server;
mod service;
mod ssm;
mod store;

pub use config::LocalConfig;
pub use sandbox::{FunctionFailure, Outcome, ResponseStream, StreamItem};
pub use server::{LocalLambda, ServerError};
pub use service::{InvokeError, Service};
