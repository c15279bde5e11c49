//! Deploying apps to a Lambda-compatible backend: packaging a directory as
//! a bundle, creating or updating the environment's function, publishing a
//! version, allocating the next `deployment-<N>` alias and moving `current`,
//! only ever on functions that belong to the command's project, environment
//! and backend (see the ownership tags in [`check_owner`]).
//!
//! The same code drives the local backend and AWS: only the client's
//! endpoint and credentials differ.

mod access;
mod assets;
mod bundle;
mod client;
pub mod current;
mod deploy;
mod deployments;
mod env_store;
mod error;
mod logs;
mod ownership;
mod project;
mod redeploy;
mod runtime;
mod vars;

pub use access::AccessRecord;
pub use assets::{asset_plan, find_build_output, local_asset_store, upload_assets, upload_assets_to};
pub use bundle::{Arch, Bundle, BundleInput, build_bundle, bundle_code_dir};
pub use client::{Endpoint, fetch_backend_info, lambda_client, local_keys};
pub use current::{Skipped, make_live};
pub use deploy::{
    ASSETS_DIGEST_VARIABLE, Code, DeployOutcome, DeployRequest, DeployStep, LOCAL_ROLE, Prepared, VpcPlacement,
    claim_number, deploy, deploy_with, prepare_function, publish,
};
pub use deployments::{Deployment, PromoteOutcome, list_deployments, promote};
pub use env_store::{
    EnvironmentStore, MAX_VALUE_BYTES, NEXT_ACTIONS_KEY, Snapshot, StoredVariable, check_value, new_actions_key,
    parameter_path, ssm_client,
};
pub use error::DeployError;
pub use logs::{LogEvent, LogFilter, LogReader, LogRecord, read_local_log};
pub use ownership::{BackendId, Claim, FunctionOwner, TAG_BACKEND, TAG_ENV, TAG_ORG, TAG_PROJECT, check_owner};
pub use project::ProjectConfig;
pub use redeploy::{PreviousDeployment, read_deployment};
pub use runtime::FunctionRuntime;
pub use vars::{LocalVariables, MAX_KEY_LEN, check_variable_name, parse_assignment, parse_env_file};
