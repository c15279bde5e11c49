//! Moving `current` without undoing anyone: every move is conditional on
//! the alias's `RevisionId`, and the alias's description records which
//! deployment it points at and the newest deployment number its mover
//! knew of (`seen`).
//!
//! * A deploy moves `current` to its deployment `N` only while `seen < N`:
//!   neither a newer deployment nor a promote made after `N` was claimed
//!   (a promote records the newest number claimed at that moment) has
//!   moved it since. Otherwise it leaves `current` alone and says why.
//! * A promote always moves `current` (it is the user's latest word), and
//!   records the newest claimed number, so deploys claimed before it never
//!   undo it; a deploy that claims a number while the promote is writing
//!   is caught by a second look after the write.
//! * A write that finds the alias changed since it was read (a
//!   `PreconditionFailedException`) reads it again and decides again.

use ownstak_core::{CURRENT_ALIAS, DeploymentNumber};
use serde::{Deserialize, Serialize};

use crate::client::Endpoint;
use crate::deployments::{deployment_aliases, mark_retired};
use crate::error::{DeployError, sdk};

/// How often a move of `current` is retried after losing a race.
const MOVE_ATTEMPTS: u32 = 16;

/// What ownstak writes into `current`'s description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CurrentNote {
    /// The deployment `current` points at.
    deployment: u32,
    /// The newest deployment number its mover knew of.
    seen: u32,
}

/// `current` and the deployments, as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentState {
    /// The version `current` points at (`None`: no deployment is live yet).
    pub version: Option<String>,
    /// The deployment `current` points at, when known.
    pub deployment: Option<u32>,
    /// The newest deployment number known when `current` was last moved
    /// (for an alias moved before this was recorded: its deployment).
    pub seen: u32,
    /// The newest deployment number claimed.
    pub newest: u32,
    revision: Option<String>,
}

/// Reads `current` and the deployment numbers of a function.
pub async fn read_current(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
) -> Result<CurrentState, DeployError> {
    let deployments = deployment_aliases(client, ep, function).await?;
    let newest = deployments.iter().map(|(n, _)| n.get()).max().unwrap_or(0);
    let alias = match client.get_alias().function_name(function).name(CURRENT_ALIAS).send().await {
        Ok(a) => a,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            return Ok(CurrentState { version: None, deployment: None, seen: 0, newest, revision: None });
        }
        Err(e) => return Err(sdk("GetAlias", ep)(e)),
    };
    let version = alias.function_version().map(str::to_owned);
    let note = alias.description().and_then(|d| serde_json::from_str::<CurrentNote>(d).ok());
    let (deployment, seen) = match note {
        Some(n) => (Some(n.deployment), n.seen),
        None => {
            // Moved by an older ownstak: the newest deployment of its version.
            let d = deployments
                .iter()
                .filter(|(_, a)| a.function_version() == version.as_deref())
                .map(|(n, _)| n.get())
                .max();
            (d, d.unwrap_or(0))
        }
    };
    Ok(CurrentState { version, deployment, seen, newest, revision: alias.revision_id().map(str::to_owned) })
}

/// Why a deploy left `current` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum Skipped {
    /// A newer deployment is live.
    NewerLive {
        /// The live deployment.
        live: u32,
    },
    /// A promote made after this deployment's number was claimed chose
    /// what is live.
    PromotedSince {
        /// The live deployment, when known.
        live: Option<u32>,
    },
}

impl Skipped {
    /// A sentence for the deploy's output.
    pub fn describe(self, n: DeploymentNumber) -> String {
        match self {
            Skipped::NewerLive { live } => format!(
                "deployment {live}, newer than this one, is already live; `ownstak promote {n}` makes this one live"
            ),
            Skipped::PromotedSince { live } => format!(
                "{} was promoted after this deploy claimed deployment {n}, and a promote is not undone; `ownstak promote {n}` makes this one live",
                live.map_or_else(|| "another deployment".to_owned(), |l| format!("deployment {l}"))
            ),
        }
    }
}

/// What a deploy's attempt to make its deployment live did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MakeLive {
    /// `current` points at the deployment now.
    Live,
    /// `current` was left alone.
    Skipped(Skipped),
    /// `current` changed since it was read; read it again and retry.
    Stale,
}

/// One attempt to point `current` at deployment `n` (version `version`)
/// for a deploy, decided on `state` and written only if `current` has not
/// changed since `state` was read.
pub async fn try_make_live(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    state: &CurrentState,
    version: &str,
    n: DeploymentNumber,
) -> Result<MakeLive, DeployError> {
    let n = n.get();
    if state.deployment == Some(n) {
        return Ok(MakeLive::Live);
    }
    if state.seen >= n {
        return Ok(MakeLive::Skipped(match state.deployment {
            Some(live) if live > n => Skipped::NewerLive { live },
            live => Skipped::PromotedSince { live },
        }));
    }
    write(client, ep, function, state, version, CurrentNote { deployment: n, seen: n })
        .await
        .map(|written| if written.is_some() { MakeLive::Live } else { MakeLive::Stale })
}

/// Points `current` at deployment `n` for a deploy (see the module docs),
/// reading it again whenever it changed under the write; `Some` says why
/// it was left alone.
pub async fn make_live(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    version: &str,
    n: DeploymentNumber,
) -> Result<Option<Skipped>, DeployError> {
    for _ in 0..MOVE_ATTEMPTS {
        let state = read_current(client, ep, function).await?;
        match try_make_live(client, ep, function, &state, version, n).await? {
            MakeLive::Live => {
                if let Some(previous) = state.deployment.filter(|&p| p != n.get()) {
                    mark_retired(client, function, previous).await;
                }
                return Ok(None);
            }
            MakeLive::Skipped(why) => return Ok(Some(why)),
            MakeLive::Stale => tracing::debug!(%function, "current changed while it was being moved; reading it again"),
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: MOVE_ATTEMPTS })
}

/// What a promote did to `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promoted {
    /// The deployment that was live before, when known.
    pub previous: Option<u32>,
    /// A deployment a concurrent deploy made live right after the promote
    /// (the promote is then no longer in effect).
    pub superseded_by: Option<u32>,
}

/// Points `current` at deployment `n` for a promote (see the module docs).
pub(crate) async fn promote_to(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    version: &str,
    n: DeploymentNumber,
) -> Result<Promoted, DeployError> {
    let n = n.get();
    for _ in 0..MOVE_ATTEMPTS {
        let state = read_current(client, ep, function).await?;
        let note = CurrentNote { deployment: n, seen: state.newest.max(n).max(state.seen) };
        let Some(revision) = write(client, ep, function, &state, version, note).await? else {
            tracing::debug!(%function, "current changed while it was being promoted; reading it again");
            continue;
        };
        let previous = state.deployment;
        if let Some(previous) = previous.filter(|&p| p != n) {
            mark_retired(client, function, previous).await;
        }
        // A deploy that claimed its number after the read above would not
        // know of this promote: record its number too, unless it has
        // already moved `current` (then say so).
        let mut seen = note.seen;
        let mut revision = revision;
        loop {
            let newest = deployment_aliases(client, ep, function).await?.iter().map(|(d, _)| d.get()).max();
            let Some(newest) = newest.filter(|&d| d > seen) else {
                return Ok(Promoted { previous, superseded_by: None });
            };
            let mine = CurrentState {
                version: Some(version.to_owned()),
                deployment: Some(n),
                seen,
                newest,
                revision: Some(revision.clone()),
            };
            match write(client, ep, function, &mine, version, CurrentNote { deployment: n, seen: newest }).await? {
                Some(r) => {
                    revision = r;
                    seen = newest;
                }
                None => {
                    let now = read_current(client, ep, function).await?;
                    return Ok(Promoted { previous, superseded_by: now.deployment.filter(|&d| d != n) });
                }
            }
        }
    }
    Err(DeployError::Contended { function: function.to_owned(), attempts: MOVE_ATTEMPTS })
}

/// Writes `current` if it is still as `state` saw it; `Some(new revision)`
/// when written, `None` when it had changed (or was created meanwhile).
async fn write(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    function: &str,
    state: &CurrentState,
    version: &str,
    note: CurrentNote,
) -> Result<Option<String>, DeployError> {
    let description = serde_json::to_string(&note).unwrap_or_default();
    let Some(revision) = &state.revision else {
        let created = client
            .create_alias()
            .function_name(function)
            .name(CURRENT_ALIAS)
            .function_version(version)
            .description(description)
            .send()
            .await;
        return match created {
            Ok(a) => Ok(Some(a.revision_id().unwrap_or_default().to_owned())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_conflict_exception()) => Ok(None),
            Err(e) => Err(sdk("CreateAlias", ep)(e)),
        };
    };
    let updated = client
        .update_alias()
        .function_name(function)
        .name(CURRENT_ALIAS)
        .function_version(version)
        .description(description)
        .revision_id(revision)
        .send()
        .await;
    match updated {
        Ok(a) => Ok(Some(a.revision_id().unwrap_or_default().to_owned())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_precondition_failed_exception() || s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk("UpdateAlias", ep)(e)),
    }
}
