//! Deploying apps to a Lambda-compatible backend: packaging a directory as
//! a bundle, creating or updating the environment's function, publishing a
//! version, allocating the next `deployment-<N>` alias and moving `current`.
//!
//! The same code drives the local backend and AWS: only the client's
//! endpoint and credentials differ.

pub mod assets;
pub mod bundle;
pub mod client;
pub mod deploy;
pub mod deployments;
pub mod error;
pub mod project;
pub mod runtime;

pub use bundle::{Arch, Bundle, BundleInput};
pub use client::{Endpoint, fetch_backend_info, lambda_client};
pub use deploy::{Code, DeployOutcome, DeployRequest, DeployStep, VpcPlacement, deploy, deploy_with};
pub use deployments::{Deployment, list_deployments, promote};
pub use error::DeployError;
pub use project::ProjectConfig;
pub use runtime::FunctionRuntime;
