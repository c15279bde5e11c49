//! One deploy: create or update the function, publish a version without
//! racing other deploys, claim the next deployment number, promote.
//!
//! The local backend and AWS go through the same steps; they differ only in
//! the client (endpoint and credentials) and in where the code comes from
//! ([`Code::Zip`] bytes for the local backend, [`Code::S3`] on AWS).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, State, VpcConfig};
use ownstak_core::CURRENT_ALIAS;
use ownstak_core::{DeploymentNumber, EnvironmentName};
use serde::Serialize;

use crate::bundle::Arch;
use crate::client::Endpoint;
use crate::deployments::{alias_description, deployment_aliases};
use crate::error::{DeployError, sdk};
use crate::runtime::FunctionRuntime;

/// Role given to functions on backends without IAM (the local backend).
pub const LOCAL_ROLE: &str = "arn:aws:iam::000000000000:role/ownstak-local";
/// How often publishing is retried when other deploys change the function.
const PUBLISH_ATTEMPTS: u32 = 12;
/// How often a deployment number is re-claimed after losing a race.
const CLAIM_ATTEMPTS: u32 = 64;
/// Interval between checks of a function that is still being updated.
const READY_POLL: Duration = Duration::from_millis(500);
/// How many checks before giving up on an update (5 minutes).
const READY_CHECKS: u32 = 600;

/// Where the function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// The zip bytes, sent with the request (the local backend).
    Zip(Vec<u8>),
    /// An object in S3 that Lambda reads (AWS: the backend's code bucket).
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

/// Subnets and security groups a function runs in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpcPlacement {
    /// Private subnet ids.
    pub subnet_ids: Vec<String>,
    /// Security group ids.
    pub security_group_ids: Vec<String>,
}

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The project environment.
    pub env: EnvironmentName,
    /// The bundle.
    pub code: Code,
    /// The instruction set of the bundle's runtime.
    pub architecture: Arch,
    /// The Lambda runtime, which sets the handler and exec wrapper too.
    pub runtime: FunctionRuntime,
    /// Function memory in MB.
    pub memory: u32,
    /// Function timeout in seconds.
    pub timeout: u32,
    /// Function environment variables (the runtime's exec wrapper is added to them).
    pub variables: BTreeMap<String, String>,
    /// Execution role ARN.
    pub role: String,
    /// The VPC placement; `None` outside a VPC (the local backend).
    pub vpc: Option<VpcPlacement>,
    /// Whether to move `current` to the new deployment.
    pub promote: bool,
}

impl DeployRequest {
    fn function_code(&self) -> FunctionCode {
        match &self.code {
            Code::Zip(zip) => FunctionCode::builder().zip_file(Blob::new(zip.clone())).build(),
            Code::S3 { bucket, key } => FunctionCode::builder().s3_bucket(bucket).s3_key(key).build(),
        }
    }

    fn vpc_config(&self) -> Option<VpcConfig> {
        self.vpc.as_ref().map(|v| {
            VpcConfig::builder()
                .set_subnet_ids(Some(v.subnet_ids.clone()))
                .set_security_group_ids(Some(v.security_group_ids.clone()))
                .build()
        })
    }

    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.runtime.variables(&self.variables).into_iter().collect()))
            .build()
    }
}

/// A step of a deploy, for progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    /// Creating the function for the first deploy of an environment.
    CreatingFunction,
    /// Uploading the new code.
    UploadingCode,
    /// Waiting for Lambda to finish applying an update.
    WaitingForUpdate,
    /// Publishing the version.
    Publishing,
    /// Claiming `deployment-<N>`.
    ClaimingNumber,
    /// Moving `current`.
    Promoting,
}

impl DeployStep {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            DeployStep::CreatingFunction => "creating function",
            DeployStep::UploadingCode => "uploading code",
            DeployStep::WaitingForUpdate => "waiting for the function update",
            DeployStep::Publishing => "publishing version",
            DeployStep::ClaimingNumber => "claiming deployment number",
            DeployStep::Promoting => "promoting",
        }
    }
}

/// What a deploy produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployOutcome {
    /// The function name.
    pub function: String,
    /// The published version.
    pub version: String,
    /// The deployment number.
    pub deployment: u32,
    /// Whether `current` now points at it.
    pub promoted: bool,
    /// Whether this deploy created the function.
    pub created_function: bool,
}

/// Deploys a bundle; see the module docs for the steps.
pub async fn deploy(
    client: &aws_sdk_lambda::Client,
    endpoint: &Endpoint,
    req: &DeployRequest,
    progress: impl FnMut(DeployStep),
) -> Result<DeployOutcome, DeployError> {
    let (outcome, ()) = deploy_with(client, endpoint, req, progress, async |_: &str, _: &str| Ok(())).await?;
    Ok(outcome)
}

/// Deploys a bundle like [`deploy`], running `after_publish(function,
/// version)` once the version is published and before any alias points at
/// it (e.g. to upload the deployment's static assets, so its URLs never
/// exist without them); its failure fails the deploy.
pub async fn deploy_with<T>(
    client: &aws_sdk_lambda::Client,
    endpoint: &Endpoint,
    req: &DeployRequest,
    mut progress: impl FnMut(DeployStep),
    after_publish: impl AsyncFnOnce(&str, &str) -> Result<T, DeployError>,
) -> Result<(DeployOutcome, T), DeployError> {
    let ep = endpoint;
    let function = req.env.function().to_owned();

    let exists = match client.get_function_configuration().function_name(&function).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => false,
        Err(e) => return Err(sdk("GetFunctionConfiguration", ep)(e)),
    };
    let mut created = false;
    if !exists {
        progress(DeployStep::CreatingFunction);
        let tags = [("ownstak:project", req.env.project().as_str()), ("ownstak:env", req.env.env().as_str())];
        let res = client
            .create_function()
            .function_name(&function)
            .runtime(req.runtime.lambda())
            .handler(req.runtime.handler())
            .role(&req.role)
            .architectures(req.architecture.lambda())
            .memory_size(req.memory as i32)
            .timeout(req.timeout as i32)
            .environment(req.environment())
            .set_vpc_config(req.vpc_config())
            .code(req.function_code())
            .set_tags(Some(tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
            .send()
            .await;
        match res {
            Ok(f) => {
                created = true;
                // On AWS a new function is `Pending` until its code and network are ready.
                progress(DeployStep::WaitingForUpdate);
                wait_ready(client, ep, &function, f.state(), f.last_update_status()).await?;
            }
            // Another deploy created it first; update it like any other.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {}
            Err(e) => return Err(sdk("CreateFunction", ep)(e)),
        }
    }

    let version = publish_with_retries(client, ep, req, &function, created, &mut progress).await?;
    let extra = after_publish(&function, &version).await?;

    progress(DeployStep::ClaimingNumber);
    let number = claim_number(client, ep, &function, &version).await?;

    if req.promote {
        progress(DeployStep::Promoting);
        point_current(client, ep, &function, &version).await?;
    }
    tracing::info!(%function, %version, deployment = number.get(), promoted = req.promote, "deployed");
    Ok((
        DeployOutcome { function, version, deployment: number.get(), promoted: req.promote, created_function: created },
        extra,
    ))
}

/// Whether an update was refused because another update of the function is
/// still running (a concurrent deploy).
fn update_in_progress<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_lambda::error::SdkError<E, R>,
) -> bool {
    use aws_sdk_lambda::error::ProvideErrorMetadata as _;
    e.code() == Some("ResourceConflictException")
}

/// Updates configuration and code and publishes exactly that code, using
/// `RevisionId` so that a concurrent deploy's code is never published under
/// our name; on a lost race it starts over.
async fn publish_with_retries(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    req: &DeployRequest,
    function: &str,
    fresh: bool,
    progress: &mut impl FnMut(DeployStep),
) -> Result<String, DeployError> {
    for attempt in 0..PUBLISH_ATTEMPTS {
        if attempt > 0 {
            let backoff = 20u64 << attempt.min(5);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(backoff / 2..=backoff))).await;
        }
        progress(DeployStep::UploadingCode);
        if !(fresh && attempt == 0) {
            let conf = client
                .update_function_configuration()
                .function_name(function)
                .runtime(req.runtime.lambda())
                .handler(req.runtime.handler())
                .role(&req.role)
                .memory_size(req.memory as i32)
                .timeout(req.timeout as i32)
                .environment(req.environment())
                .set_vpc_config(req.vpc_config())
                .send()
                .await;
            match conf {
                Ok(conf) => {
                    progress(DeployStep::WaitingForUpdate);
                    wait_ready(client, ep, function, conf.state(), conf.last_update_status()).await?;
                }
                Err(e) if update_in_progress(&e) => {
                    tracing::debug!(attempt, "another update of the function is running; waiting");
                    wait_ready(client, ep, function, None, Some(&LastUpdateStatus::InProgress)).await?;
                    continue;
                }
                Err(e) => return Err(sdk("UpdateFunctionConfiguration", ep)(e)),
            }
        }
        let update = client.update_function_code().function_name(function).architectures(req.architecture.lambda());
        let update = match &req.code {
            Code::Zip(zip) => update.zip_file(Blob::new(zip.clone())),
            Code::S3 { bucket, key } => update.s3_bucket(bucket).s3_key(key),
        };
        let code = match update.send().await {
            Ok(code) => code,
            Err(e) if update_in_progress(&e) => {
                tracing::debug!(attempt, "another update of the function is running; waiting");
                wait_ready(client, ep, function, None, Some(&LastUpdateStatus::InProgress)).await?;
                continue;
            }
            Err(e) => return Err(sdk("UpdateFunctionCode", ep)(e)),
        };
        progress(DeployStep::WaitingForUpdate);
        wait_ready(client, ep, function, code.state(), code.last_update_status()).await?;
        let revision = match client.get_function_configuration().function_name(function).send().await {
            Ok(c) if c.code_sha256() == code.code_sha256() => c.revision_id().map(str::to_owned),
            Ok(_) => continue, // someone else's code is in $LATEST now
            Err(e) => return Err(sdk("GetFunctionConfiguration", ep)(e)),
        };
        progress(DeployStep::Publishing);
        let published = client
            .publish_version()
            .function_name(function)
            .set_code_sha256(code.code_sha256().map(str::to_owned))
            .set_revision_id(revision)
            .send()
            .await;
        match published {
            Ok(v) => {
                return v.version().map(str::to_owned).ok_or_else(|| DeployError::Api {
                    operation: "PublishVersion",
                    code: "MissingVersion".to_owned(),
                    message: "the response had no version".to_owned(),
                });
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_precondition_failed_exception() || s.is_resource_conflict_exception()) =>
            {
                tracing::debug!(attempt, "publish lost a race with another deploy; retrying");
            }
            Err(e) => return Err(sdk("PublishVersion", ep)(e)),
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: PUBLISH_ATTEMPTS })
}

/// Waits until the function is `Active` and its last update `Successful`
/// (immediate on the local backend; on AWS creation and updates are
/// asynchronous and the next update or a publish is refused meanwhile).
async fn wait_ready(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    state: Option<&State>,
    status: Option<&LastUpdateStatus>,
) -> Result<(), DeployError> {
    let (mut state, mut status) = (state.cloned(), status.cloned());
    let mut reason: Option<String> = None;
    for _ in 0..READY_CHECKS {
        if state == Some(State::Failed) {
            return Err(DeployError::NotReady {
                function: function.to_owned(),
                state: "failed to become active".to_owned(),
                reason: reason.map(|r| format!(": {r}")).unwrap_or_default(),
            });
        }
        if status == Some(LastUpdateStatus::Failed) {
            return Err(DeployError::NotReady {
                function: function.to_owned(),
                state: "failed to update".to_owned(),
                reason: reason.map(|r| format!(": {r}")).unwrap_or_default(),
            });
        }
        let busy = state == Some(State::Pending) || status == Some(LastUpdateStatus::InProgress);
        if !busy {
            return Ok(());
        }
        tokio::time::sleep(READY_POLL).await;
        let c = client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(sdk("GetFunctionConfiguration", ep))?;
        state = c.state().cloned();
        status = c.last_update_status().cloned();
        reason = c.last_update_status_reason().or(c.state_reason()).map(str::to_owned);
    }
    Err(DeployError::NotReady {
        function: function.to_owned(),
        state: "was still being updated after 5 minutes".to_owned(),
        reason: String::new(),
    })
}

/// Claims the next free `deployment-<N>` for `version`. Creating an alias
/// is atomic, so two deploys can never share a number; a lost race moves
/// on to the next number, so none is skipped.
async fn claim_number(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    version: &str,
) -> Result<DeploymentNumber, DeployError> {
    let existing = deployment_aliases(client, ep, function).await?;
    let mut n =
        existing.iter().map(|(n, _)| *n).max().and_then(DeploymentNumber::next).unwrap_or(DeploymentNumber::FIRST);
    for _ in 0..CLAIM_ATTEMPTS {
        let res = client
            .create_alias()
            .function_name(function)
            .name(n.alias())
            .function_version(version)
            .description(alias_description())
            .send()
            .await;
        match res {
            Ok(_) => return Ok(n),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {
                n = n.next().ok_or_else(|| DeployError::NotFound("deployment numbers are exhausted".to_owned()))?;
            }
            Err(e) => return Err(sdk("CreateAlias", ep)(e)),
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: CLAIM_ATTEMPTS })
}

/// Points `current` at a version, creating the alias on first use.
pub(crate) async fn point_current(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    version: &str,
) -> Result<(), DeployError> {
    for _ in 0..3 {
        let updated =
            client.update_alias().function_name(function).name(CURRENT_ALIAS).function_version(version).send().await;
        match updated {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(sdk("UpdateAlias", ep)(e)),
        }
        let created =
            client.create_alias().function_name(function).name(CURRENT_ALIAS).function_version(version).send().await;
        match created {
            Ok(_) => return Ok(()),
            // Created meanwhile by a concurrent deploy: update it instead.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => {}
            Err(e) => return Err(sdk("CreateAlias", ep)(e)),
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: 3 })
}
