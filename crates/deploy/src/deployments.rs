//! Listing deployments and promoting one.

use std::collections::HashMap;

use ownstak_core::{DeploymentNote, DeploymentNumber, EnvironmentName};
use serde::Serialize;

use crate::client::Endpoint;
use crate::current::{Promoted, promote_to, read_current};
use crate::error::{DeployError, sdk};
use crate::ownership::{BackendId, read_owner};

/// One deployment of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Its number.
    pub deployment: u32,
    /// The function version it runs.
    pub version: String,
    /// When it was deployed (RFC 3339), if recorded.
    pub deployed_at: Option<String>,
    /// Whether `current` points at it.
    pub live: bool,
    /// Its deployment id (skew protection), when recorded.
    pub deployment_id: Option<String>,
    /// When it last stopped being live (RFC 3339), when recorded.
    pub retired_at: Option<String>,
}

/// The description of a new deployment alias: when it was made and its id.
pub(crate) fn alias_description(deployment_id: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    // Whole seconds: enough to tell deployments apart, and readable in listings.
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let at = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    DeploymentNote { deployed_at: Some(at), deployment_id: Some(deployment_id.to_owned()), retired_at: None }
        .to_description()
}

/// Records on deployment `n`'s alias that `current` just moved away from
/// it, so the proxy keeps clients pinned to it for the skew window from
/// now on. Best effort: a failure is logged, and the deployment's clients
/// then go to the live deployment.
pub(crate) async fn mark_retired(client: &aws_sdk_lambda::Client, function: &str, n: u32) {
    let Some(n) = DeploymentNumber::new(n) else { return };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for _ in 0..3 {
        let alias = match client.get_alias().function_name(function).name(n.alias()).send().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%function, deployment = n.get(), error = %aws_sdk_lambda::error::DisplayErrorContext(&e), "cannot read the retired deployment's alias");
                return;
            }
        };
        let mut note = alias.description().and_then(DeploymentNote::parse).unwrap_or_default();
        note.retired_at = Some(now);
        let updated = client
            .update_alias()
            .function_name(function)
            .name(n.alias())
            .set_function_version(alias.function_version().map(str::to_owned))
            .description(note.to_description())
            .set_revision_id(alias.revision_id().map(str::to_owned))
            .send()
            .await;
        match updated {
            Ok(_) => return,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_precondition_failed_exception()) => continue,
            Err(e) => {
                tracing::warn!(%function, deployment = n.get(), error = %aws_sdk_lambda::error::DisplayErrorContext(&e), "cannot record when the deployment stopped being live");
                return;
            }
        }
    }
}

/// All `deployment-<N>` aliases of a function, with their versions and
/// descriptions, following pagination.
pub(crate) async fn deployment_aliases(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
) -> Result<Vec<(DeploymentNumber, aws_sdk_lambda::types::AliasConfiguration)>, DeployError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_aliases()
            .function_name(function)
            .set_marker(marker.take())
            .max_items(10_000)
            .send()
            .await
            .map_err(sdk("ListAliases", ep))?;
        for a in page.aliases() {
            if let Some(n) = a.name().and_then(DeploymentNumber::from_alias) {
                out.push((n, a.clone()));
            }
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

fn missing_env(env: &EnvironmentName) -> DeployError {
    DeployError::NotFound(format!(
        "environment `{}` of project `{}` has no deployments yet (no function {}); deploy with `ownstak deploy --project {} --env {}`",
        env.env(),
        env.project(),
        env.function(),
        env.project(),
        env.env()
    ))
}

/// Lists an environment's deployments, oldest first; refuses a function
/// of another project, environment or backend.
pub async fn list_deployments(
    client: &aws_sdk_lambda::Client,
    endpoint: &Endpoint,
    env: &EnvironmentName,
    backend: &BackendId,
) -> Result<Vec<Deployment>, DeployError> {
    let ep = endpoint;
    if read_owner(client, ep, env, backend).await?.is_none() {
        return Err(missing_env(env));
    }
    let current = read_current(client, ep, env.function()).await?.deployment;
    let aliases = deployment_aliases(client, ep, env.function()).await?;
    let mut times: HashMap<String, String> = HashMap::new();
    let needs_times = aliases.iter().any(|(_, a)| deployed_at(a).is_none());
    if needs_times {
        let mut marker = None;
        loop {
            let page = client
                .list_versions_by_function()
                .function_name(env.function())
                .set_marker(marker.take())
                .send()
                .await
                .map_err(sdk("ListVersionsByFunction", ep))?;
            for v in page.versions() {
                if let (Some(ver), Some(t)) = (v.version(), v.last_modified()) {
                    times.insert(ver.to_owned(), t.to_owned());
                }
            }
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => break,
            }
        }
    }
    Ok(aliases
        .into_iter()
        .map(|(n, a)| {
            let version = a.function_version().unwrap_or_default().to_owned();
            let note = a.description().and_then(DeploymentNote::parse).unwrap_or_default();
            Deployment {
                deployment: n.get(),
                deployed_at: note.deployed_at.or_else(|| times.get(&version).cloned()),
                live: current == Some(n.get()),
                version,
                deployment_id: note.deployment_id,
                retired_at: note.retired_at.and_then(rfc3339),
            }
        })
        .collect())
}

fn deployed_at(a: &aws_sdk_lambda::types::AliasConfiguration) -> Option<String> {
    a.description().and_then(DeploymentNote::parse).and_then(|n| n.deployed_at)
}

fn rfc3339(unix: u64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).ok()?).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

/// What a promote did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteOutcome {
    /// The version of the promoted deployment.
    pub version: String,
    /// How `current` moved.
    #[serde(flatten)]
    pub promoted: Promoted,
}

/// Moves `current` to deployment `n` (see [`crate::current`]); refuses a
/// function of another project, environment or backend.
pub async fn promote(
    client: &aws_sdk_lambda::Client,
    endpoint: &Endpoint,
    env: &EnvironmentName,
    backend: &BackendId,
    n: DeploymentNumber,
) -> Result<PromoteOutcome, DeployError> {
    let ep = endpoint;
    if read_owner(client, ep, env, backend).await?.is_none() {
        return Err(missing_env(env));
    }
    let alias = match client.get_alias().function_name(env.function()).name(n.alias()).send().await {
        Ok(a) => a,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            return Err(DeployError::NotFound(format!(
                "deployment {n} of `{}-{}` does not exist; `ownstak deployments --project {} --env {}` lists the deployments",
                env.project(),
                env.env(),
                env.project(),
                env.env()
            )));
        }
        Err(e) => return Err(sdk("GetAlias", ep)(e)),
    };
    let version = alias.function_version().unwrap_or_default().to_owned();
    let promoted = promote_to(client, ep, env.function(), &version, n).await?;
    Ok(PromoteOutcome { version, promoted })
}
