//! The embedded local backend: a service that speaks the AWS Lambda REST API
//! (control plane and Invoke), runs each function's code in sandbox
//! processes with their own Runtime API, and keeps its state in SQLite so
//! that it survives restarts.
//!
//! Clients written for AWS (aws-sdk-lambda, boto3) work against it
//! unchanged; only the endpoint differs.

mod api;
mod arn;
mod clock;
mod code;
mod config;
mod error;
mod in_process;
mod model;
mod private;
mod sandbox;
mod server;
mod service;
mod store;

pub use config::LocalConfig;
pub use in_process::in_process_client;
pub use server::{LocalLambda, ServerError};
pub use sandbox::{FunctionFailure, Outcome, ResponseStream, StreamItem};
pub use service::{InvokeError, Service};
