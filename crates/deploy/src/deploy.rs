//! One deploy, in steps that never race other deploys or promotes into a
//! wrong state:
//!
//! 1. [`prepare_function`]: create the function with its ownership tags,
//!    or check that the existing one belongs to the request's project,
//!    environment and backend (adopting one made before ownership tags);
//! 2. [`publish`]: update configuration and code and publish exactly that
//!    state (checked, and named by its `RevisionId`), so no other deploy's
//!    code or configuration is mixed into the version;
//! 3. (the caller's `after_publish`, e.g. uploading static assets);
//! 4. [`claim_number`]: claim the next free `deployment-<N>`;
//! 5. [`make_live`](crate::make_live): move `current`, conditionally (see
//!    [`crate::current`]).
//!
//! [`deploy_with`] runs them in order. The local backend and AWS go through
//! the same steps; they differ only in the client (endpoint and
//! credentials) and in where the code comes from ([`Code::Zip`] bytes for
//! the local backend, [`Code::S3`] on AWS).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, State, VpcConfig};
use ownstak_core::{DEPLOYMENT_ID_VARIABLE, DeploymentNumber, EnvironmentName, valid_deployment_id};
use serde::Serialize;

use crate::bundle::Arch;
use crate::client::Endpoint;
use crate::current::{Skipped, make_live};
use crate::deployments::{alias_description, deployment_aliases};
use crate::error::{DeployError, sdk};
use crate::ownership::{BackendId, Claim, adopt, read_owner};
use crate::runtime::FunctionRuntime;

/// Role given to functions on backends without IAM (the local backend).
pub const LOCAL_ROLE: &str = "arn:aws:iam::000000000000:role/ownstak-local";
/// The function variable holding the digest of the deployment's static
/// assets ([`ownstak_assets::PreparedUpload::digest`]): other files make
/// another configuration, so another version, and the files stored for a
/// version never change.
pub const ASSETS_DIGEST_VARIABLE: &str = "OWNSTAK_ASSETS_DIGEST";
/// How long publishing keeps retrying while other deploys change the
/// function: each round one of them publishes, so several deploys at once
/// all finish, however long their code takes to apply.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(180);
/// The longest pause between two rounds.
const PUBLISH_MAX_BACKOFF_MS: u64 = 1000;
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
    /// The backend deploying it (with `env`, the function's owner).
    pub backend: BackendId,
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
    /// Function environment variables (the runtime's exec wrapper and the
    /// deployment id are added to them).
    pub variables: BTreeMap<String, String>,
    /// The deployment id (see [`ownstak_core::valid_deployment_id`]),
    /// derived from the build: the function gets it as
    /// `OWNSTAK_DEPLOYMENT_ID` and the deployment's alias records it, so
    /// the proxy can pin clients of this build to it (skew protection).
    pub deployment_id: String,
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

    fn variables(&self) -> BTreeMap<String, String> {
        let mut variables = self.variables.clone();
        variables.insert(DEPLOYMENT_ID_VARIABLE.to_owned(), self.deployment_id.clone());
        self.runtime.variables(&variables)
    }

    fn environment(&self) -> Environment {
        Environment::builder().set_variables(Some(self.variables().into_iter().collect())).build()
    }

    /// The first setting (or `code`, with `code_sha256` as this request's
    /// code) in which a function's `$LATEST` differs from this request, if any.
    fn mismatch(&self, conf: &Conf, code_sha256: Option<&str>) -> Option<&'static str> {
        if code_sha256.is_none() || conf.code_sha256.as_deref() != code_sha256 {
            return Some("code");
        }
        self.config_mismatch(conf)
    }

    /// The first setting in which a function's `$LATEST` differs from this request, if any.
    fn config_mismatch(&self, conf: &Conf) -> Option<&'static str> {
        let (subnets, groups): (BTreeSet<String>, BTreeSet<String>) = match &self.vpc {
            Some(v) => (v.subnet_ids.iter().cloned().collect(), v.security_group_ids.iter().cloned().collect()),
            None => Default::default(),
        };
        let checks = [
            ("runtime", conf.runtime.as_deref() == Some(self.runtime.name())),
            ("handler", conf.handler.as_deref() == Some(self.runtime.handler())),
            ("role", conf.role.as_deref() == Some(self.role.as_str())),
            ("memory", conf.memory == i32::try_from(self.memory).ok()),
            ("timeout", conf.timeout == i32::try_from(self.timeout).ok()),
            ("environment variables", conf.variables == self.variables()),
            ("subnets", conf.subnets == subnets),
            ("security groups", conf.security_groups == groups),
            ("architecture", conf.architectures.is_empty() || conf.architectures == [self.architecture.as_str()]),
        ];
        checks.into_iter().find(|(_, ok)| !ok).map(|(what, _)| what)
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
    /// Why `current` was left alone although promotion was asked for.
    pub not_promoted: Option<Skipped>,
    /// Whether this deploy created the function.
    pub created_function: bool,
    /// Whether this deploy adopted a function made before ownership tags.
    pub adopted_function: bool,
    /// The deployment id.
    pub deployment_id: String,
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
    if !valid_deployment_id(&req.deployment_id) {
        return Err(DeployError::InvalidDeploymentId(req.deployment_id.clone()));
    }
    let prepared = prepare_function(client, ep, req, &mut progress).await?;
    let version = publish(client, ep, req, &prepared, &mut progress).await?;
    let extra = after_publish(&function, &version).await?;

    progress(DeployStep::ClaimingNumber);
    let number = claim_number(client, ep, &function, &version, &req.deployment_id).await?;

    let not_promoted = if req.promote {
        progress(DeployStep::Promoting);
        make_live(client, ep, &function, &version, number).await?
    } else {
        None
    };
    let promoted = req.promote && not_promoted.is_none();
    if let Some(why) = not_promoted {
        tracing::info!(%function, deployment = number.get(), "not promoted: {}", why.describe(number));
    }
    tracing::info!(%function, %version, deployment = number.get(), promoted, "deployed");
    Ok((
        DeployOutcome {
            function,
            version,
            deployment: number.get(),
            promoted,
            not_promoted,
            created_function: prepared.created.is_some(),
            adopted_function: prepared.adopted,
            deployment_id: req.deployment_id.clone(),
        },
        extra,
    ))
}

/// A function's settings as Lambda reports them, from any of the
/// operations that return a function configuration.
#[derive(Debug, Clone, Default)]
struct Conf {
    state: Option<State>,
    status: Option<LastUpdateStatus>,
    reason: Option<String>,
    revision: Option<String>,
    code_sha256: Option<String>,
    runtime: Option<String>,
    handler: Option<String>,
    role: Option<String>,
    memory: Option<i32>,
    timeout: Option<i32>,
    variables: BTreeMap<String, String>,
    subnets: BTreeSet<String>,
    security_groups: BTreeSet<String>,
    architectures: Vec<String>,
}

macro_rules! conf_from {
    ($($t:ty),*) => {$(
        impl From<&$t> for Conf {
            fn from(c: &$t) -> Conf {
                Conf {
                    state: c.state().cloned(),
                    status: c.last_update_status().cloned(),
                    reason: c.last_update_status_reason().or(c.state_reason()).map(str::to_owned),
                    revision: c.revision_id().map(str::to_owned),
                    code_sha256: c.code_sha256().map(str::to_owned),
                    runtime: c.runtime().map(|r| r.as_str().to_owned()),
                    handler: c.handler().map(str::to_owned),
                    role: c.role().map(str::to_owned),
                    memory: c.memory_size(),
                    timeout: c.timeout(),
                    variables: c
                        .environment()
                        .and_then(|e| e.variables())
                        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                    subnets: c.vpc_config().map(|v| v.subnet_ids().iter().cloned().collect()).unwrap_or_default(),
                    security_groups: c
                        .vpc_config()
                        .map(|v| v.security_group_ids().iter().cloned().collect())
                        .unwrap_or_default(),
                    architectures: c.architectures().iter().map(|a| a.as_str().to_owned()).collect(),
                }
            }
        }
    )*};
}

conf_from!(
    aws_sdk_lambda::operation::create_function::CreateFunctionOutput,
    aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationOutput,
    aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeOutput,
    aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput
);

/// A function made by this deploy, as it was once ready.
#[derive(Debug, Clone)]
struct Created {
    conf: Conf,
    code_sha256: Option<String>,
}

/// The function of a request, ready for a new version (see [`prepare_function`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    created: Option<Created>,
    adopted: bool,
}

impl Prepared {
    /// Whether this deploy created the function.
    pub fn created(&self) -> bool {
        self.created.is_some()
    }

    /// Whether this deploy adopted a function made before ownership tags.
    pub fn adopted(&self) -> bool {
        self.adopted
    }
}

/// Step 1: creates the function with its ownership tags on the first
/// deploy; otherwise checks that it belongs to the request's project,
/// environment and backend (refusing it, with the owner named, when not)
/// and adopts it when it was made before ownership tags.
pub async fn prepare_function(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    req: &DeployRequest,
    progress: &mut impl FnMut(DeployStep),
) -> Result<Prepared, DeployError> {
    let function = req.env.function();
    if let Some(prepared) = existing(client, ep, req).await? {
        return Ok(prepared);
    }
    progress(DeployStep::CreatingFunction);
    let res = client
        .create_function()
        .function_name(function)
        .runtime(req.runtime.lambda())
        .handler(req.runtime.handler())
        .role(&req.role)
        .architectures(req.architecture.lambda())
        .memory_size(i32::try_from(req.memory).unwrap_or(i32::MAX))
        .timeout(i32::try_from(req.timeout).unwrap_or(i32::MAX))
        .environment(req.environment())
        .set_vpc_config(req.vpc_config())
        .code(req.function_code())
        .set_tags(Some(req.backend.tags(&req.env)))
        .send()
        .await;
    match res {
        Ok(f) => {
            // On AWS a new function is `Pending` until its code and network are ready.
            progress(DeployStep::WaitingForUpdate);
            let conf = wait_ready(client, ep, function, Conf::from(&f)).await?;
            Ok(Prepared {
                created: Some(Created { conf, code_sha256: f.code_sha256().map(str::to_owned) }),
                adopted: false,
            })
        }
        // Another deploy created it first: whose is it?
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => existing(client, ep, req)
            .await?
            .ok_or_else(|| DeployError::Contended { function: function.to_owned(), attempts: 1 }),
        Err(e) => Err(sdk("CreateFunction", ep)(e)),
    }
}

/// The existing function of a request, checked (and adopted) as
/// [`prepare_function`] says; `None` when there is none.
async fn existing(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    req: &DeployRequest,
) -> Result<Option<Prepared>, DeployError> {
    match read_owner(client, ep, &req.env, &req.backend).await? {
        None => Ok(None),
        Some((Claim::Owned, _)) => Ok(Some(Prepared { created: None, adopted: false })),
        Some((Claim::Unclaimed, arn)) => {
            adopt(client, ep, &req.env, &req.backend, &arn).await?;
            Ok(Some(Prepared { created: None, adopted: true }))
        }
    }
}

/// Whether a change was refused because the function changed since it was
/// read (`PreconditionFailedException`) or another update of it is still
/// running (`ResourceConflictException`): a concurrent deploy.
fn lost_race<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(e: &aws_sdk_lambda::error::SdkError<E, R>) -> bool {
    use aws_sdk_lambda::error::ProvideErrorMetadata as _;
    matches!(e.code(), Some("PreconditionFailedException" | "ResourceConflictException"))
}

/// Step 2: updates configuration and code, then publishes exactly that
/// state: `$LATEST` is read once both have settled and checked to hold this
/// request's code and every one of its settings, and the publish names the
/// `RevisionId` of that read, so a version never mixes another deploy's
/// code or configuration into this one's (Lambda refuses the publish if
/// anything changed since). A concurrent deploy's change starts it over.
///
/// The updates themselves are not conditional: with several deploys at
/// once, conditional updates would keep cancelling each other's chains,
/// while the last one to apply both always publishes. Returns the version.
pub async fn publish(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    req: &DeployRequest,
    prepared: &Prepared,
    progress: &mut impl FnMut(DeployStep),
) -> Result<String, DeployError> {
    let function = req.env.function();
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    while attempt == 0 || started.elapsed() < PUBLISH_PATIENCE {
        if attempt > 0 {
            let backoff = (20u64 << attempt.min(6)).min(PUBLISH_MAX_BACKOFF_MS);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(backoff / 2..=backoff))).await;
        }
        attempt += 1;
        let (conf, code_sha256) = match (&prepared.created, attempt) {
            (Some(created), 1) => (created.conf.clone(), created.code_sha256.clone()),
            _ => match update(client, ep, req, progress).await? {
                Some(updated) => updated,
                None => {
                    tracing::debug!(attempt, %function, "another deploy changed the function; starting over");
                    continue;
                }
            },
        };
        if let Some(what) = req.mismatch(&conf, code_sha256.as_deref()) {
            tracing::debug!(attempt, %function, "another deploy's {what} is in $LATEST now; starting over");
            continue;
        }
        progress(DeployStep::Publishing);
        let published = client
            .publish_version()
            .function_name(function)
            .set_code_sha256(code_sha256)
            .set_revision_id(conf.revision)
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
            Err(e) if lost_race(&e) => {
                tracing::debug!(attempt, %function, "publish lost a race with another deploy; retrying");
            }
            Err(e) => return Err(sdk("PublishVersion", ep)(e)),
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: attempt })
}

/// Applies the request's configuration (unless `$LATEST` has it already),
/// then its code; returns the state once settled, read after both, and the
/// code's hash, or `None` when another update was running.
async fn update(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    req: &DeployRequest,
    progress: &mut impl FnMut(DeployStep),
) -> Result<Option<(Conf, Option<String>)>, DeployError> {
    let function = req.env.function();
    progress(DeployStep::UploadingCode);
    let start = client
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(sdk("GetFunctionConfiguration", ep))?;
    let start = wait_ready(client, ep, function, Conf::from(&start)).await?;
    if let Some(what) = req.config_mismatch(&start) {
        tracing::debug!(%function, "updating the configuration ({what} differs)");
        let conf = client
            .update_function_configuration()
            .function_name(function)
            .runtime(req.runtime.lambda())
            .handler(req.runtime.handler())
            .role(&req.role)
            .memory_size(i32::try_from(req.memory).unwrap_or(i32::MAX))
            .timeout(i32::try_from(req.timeout).unwrap_or(i32::MAX))
            .environment(req.environment())
            .set_vpc_config(req.vpc_config())
            .send()
            .await;
        match conf {
            Ok(c) => {
                progress(DeployStep::WaitingForUpdate);
                wait_ready(client, ep, function, Conf::from(&c)).await?;
            }
            Err(e) if lost_race(&e) => return Ok(None),
            Err(e) => return Err(sdk("UpdateFunctionConfiguration", ep)(e)),
        }
    }
    let code = client.update_function_code().function_name(function).architectures(req.architecture.lambda());
    let code = match &req.code {
        Code::Zip(zip) => code.zip_file(Blob::new(zip.clone())),
        Code::S3 { bucket, key } => code.s3_bucket(bucket).s3_key(key),
    };
    let code = match code.send().await {
        Ok(code) => code,
        Err(e) if lost_race(&e) => return Ok(None),
        Err(e) => return Err(sdk("UpdateFunctionCode", ep)(e)),
    };
    progress(DeployStep::WaitingForUpdate);
    wait_ready(client, ep, function, Conf::from(&code)).await?;
    // Read after both updates: the configuration too may have changed meanwhile.
    let settled = client
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(sdk("GetFunctionConfiguration", ep))?;
    let settled = wait_ready(client, ep, function, Conf::from(&settled)).await?;
    Ok(Some((settled, code.code_sha256().map(str::to_owned))))
}

/// Waits until the function is `Active` and its last update `Successful`
/// (immediate on the local backend; on AWS creation and updates are
/// asynchronous and the next update or a publish is refused meanwhile);
/// returns its settled state.
async fn wait_ready(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    first: Conf,
) -> Result<Conf, DeployError> {
    let mut conf = first;
    for _ in 0..READY_CHECKS {
        let why = || conf.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        if conf.state == Some(State::Failed) {
            return Err(DeployError::NotReady {
                function: function.to_owned(),
                state: "failed to become active".to_owned(),
                reason: why(),
            });
        }
        if conf.status == Some(LastUpdateStatus::Failed) {
            return Err(DeployError::NotReady {
                function: function.to_owned(),
                state: "failed to update".to_owned(),
                reason: why(),
            });
        }
        let busy = conf.state == Some(State::Pending) || conf.status == Some(LastUpdateStatus::InProgress);
        if !busy {
            return Ok(conf);
        }
        tokio::time::sleep(READY_POLL).await;
        let c = client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(sdk("GetFunctionConfiguration", ep))?;
        conf = Conf::from(&c);
    }
    Err(DeployError::NotReady {
        function: function.to_owned(),
        state: "was still being updated after 5 minutes".to_owned(),
        reason: String::new(),
    })
}

/// Step 4: claims the next free `deployment-<N>` for `version`, recording
/// `deployment_id` in its description. Creating an alias is atomic, so two
/// deploys can never share a number; a lost race moves on to the next
/// number, so none is skipped.
pub async fn claim_number(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    version: &str,
    deployment_id: &str,
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
            .description(alias_description(deployment_id))
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
