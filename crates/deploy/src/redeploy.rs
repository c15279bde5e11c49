//! `ownstak deploy --redeploy N`: what a new deployment takes from
//! deployment N (its code, runtime, memory, timeout, deployment id and
//! static assets), while its variables and secrets are the current ones.

use std::collections::BTreeMap;

use base64::Engine as _;
use ownstak_core::{DEPLOYMENT_ID_VARIABLE, DeploymentNumber, EnvironmentName};

use crate::bundle::Arch;
use crate::client::Endpoint;
use crate::deploy::ASSETS_DIGEST_VARIABLE;
use crate::error::{DeployError, sdk};
use crate::runtime::FunctionRuntime;

/// Deployment N as `deploy --redeploy N` reuses it.
#[derive(Debug, Clone)]
pub struct PreviousDeployment {
    /// Its number.
    pub number: DeploymentNumber,
    /// The function version it runs.
    pub version: String,
    /// Its Lambda runtime.
    pub runtime: FunctionRuntime,
    /// Its memory in MB.
    pub memory: u32,
    /// Its timeout in seconds.
    pub timeout: u32,
    /// Its instruction set.
    pub architecture: Option<Arch>,
    /// The variables of its configuration.
    pub variables: BTreeMap<String, String>,
    /// The SHA-256 of its code zip, base64 (as Lambda reports it).
    pub code_sha256: String,
    /// Where its code is: a `file://` directory on the local backend, a
    /// download URL on AWS.
    pub code_location: Option<String>,
}

impl PreviousDeployment {
    /// Its deployment id.
    pub fn deployment_id(&self) -> Option<&str> {
        self.variables.get(DEPLOYMENT_ID_VARIABLE).map(String::as_str)
    }

    /// The digest of its static assets, if it has any.
    pub fn assets_digest(&self) -> Option<&str> {
        self.variables.get(ASSETS_DIGEST_VARIABLE).map(String::as_str)
    }

    /// The SHA-256 of its code zip in lower-case hex (names the bundle in an
    /// AWS backend's code bucket).
    pub fn code_sha256_hex(&self) -> Result<String, DeployError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.code_sha256).map_err(|e| {
            DeployError::NotFound(format!("deployment {} reports an unreadable CodeSha256: {e}", self.number.get()))
        })?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The directory of its unpacked code on a local backend.
    pub fn local_code_dir(&self) -> Option<std::path::PathBuf> {
        self.code_location.as_deref().and_then(|l| l.strip_prefix("file://")).map(std::path::PathBuf::from)
    }
}

/// Reads deployment `n` of `env`; a clear error when it does not exist.
pub async fn read_deployment(
    client: &aws_sdk_lambda::Client,
    endpoint: &Endpoint,
    env: &EnvironmentName,
    n: DeploymentNumber,
) -> Result<PreviousDeployment, DeployError> {
    let function = env.function();
    let got = client.get_function().function_name(function).qualifier(n.alias()).send().await;
    let got = match got {
        Ok(g) => g,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            return Err(DeployError::NotFound(format!(
                "deployment {} of {}/{} does not exist; `ownstak deployments --project {} --env {}` lists them",
                n.get(),
                env.project(),
                env.env(),
                env.project(),
                env.env()
            )));
        }
        Err(e) => return Err(sdk("GetFunction", endpoint)(e)),
    };
    let conf = got.configuration().ok_or_else(|| {
        DeployError::NotFound(format!("the backend described deployment {} without its configuration", n.get()))
    })?;
    let runtime_name = conf.runtime().map(|r| r.as_str().to_owned()).unwrap_or_default();
    let runtime = FunctionRuntime::from_name(&runtime_name).ok_or_else(|| {
        DeployError::NotFound(format!(
            "deployment {} runs on `{runtime_name}`, which ownstak does not deploy; deploy the app again instead",
            n.get()
        ))
    })?;
    let architecture = conf.architectures().first().and_then(|a| match a.as_str() {
        "x86_64" => Some(Arch::X86_64),
        "arm64" => Some(Arch::Arm64),
        _ => None,
    });
    Ok(PreviousDeployment {
        number: n,
        version: conf.version().unwrap_or_default().to_owned(),
        runtime,
        memory: conf.memory_size().and_then(|m| u32::try_from(m).ok()).unwrap_or(1024),
        timeout: conf.timeout().and_then(|t| u32::try_from(t).ok()).unwrap_or(30),
        architecture,
        variables: conf
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        code_sha256: conf.code_sha256().unwrap_or_default().to_owned(),
        code_location: got.code().and_then(|c| c.location()).map(str::to_owned),
    })
}
