//! Deploying apps to a Lambda-compatible backend: packaging a directory as
//! a bundle, creating or updating the environment's function, publishing a
//! version, allocating the next `deployment-<N>` alias and moving `current`.
//!
//! The same code drives the local backend and AWS: only the client's
//! endpoint and credentials differ.

mod assets;
mod bundle;
mod client;
mod deploy;
mod deployments;
mod error;
mod project;
mod runtime;

pub use assets::{asset_plan, find_build_output, upload_assets, upload_assets_to};
pub use bundle::{Arch, Bundle, BundleInput, build_bundle};
pub use client::{Endpoint, fetch_backend_info, lambda_client, local_keys};
pub use deploy::{Code, DeployOutcome, DeployRequest, DeployStep, LOCAL_ROLE, VpcPlacement, deploy, deploy_with};
pub use deployments::{Deployment, list_deployments, promote};
pub use error::DeployError;
pub use project::ProjectConfig;
pub use runtime::FunctionRuntime;
