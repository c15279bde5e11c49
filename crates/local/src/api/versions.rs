//! PublishVersion and ListVersionsByFunction.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{AwsJson, ListQuery};
use crate::arn::FunctionRef;
use crate::error::ApiError;
use crate::model::{FunctionRecord, VersionRecord, new_revision_id};
use crate::service::Service;
use crate::store::not_found;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Publish {
    #[serde(default)]
    code_sha256: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    revision_id: Option<String>,
}

/// Publishes `$LATEST` inside a store update, honouring the preconditions.
/// If the newest version already has the same code and configuration, it
/// is returned instead of a new one, as Lambda does.
pub(super) fn publish_in(
    f: &mut FunctionRecord,
    code_sha256: Option<&str>,
    revision_id: Option<&str>,
    description: Option<String>,
) -> Result<VersionRecord, ApiError> {
    if let Some(r) = revision_id
        && r != f.latest.revision_id
    {
        return Err(ApiError::precondition(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    if let Some(sha) = code_sha256
        && sha != f.latest.code_sha256
    {
        return Err(ApiError::precondition(format!(
            "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the current CodeSHA256.",
            f.latest.code_sha256
        )));
    }
    if let Some((_, newest)) = f.versions.last_key_value()
        && newest.same_content(&f.latest)
    {
        return Ok(newest.clone());
    }
    let n = f.next_version;
    let mut v = f.latest.clone();
    v.version = n.to_string();
    v.revision_id = new_revision_id();
    if let Some(d) = description {
        v.description = d;
    }
    f.versions.insert(n, v.clone());
    f.next_version = n + 1;
    Ok(v)
}

pub(super) async fn publish(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<Publish>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let r = FunctionRef::parse(&name)?;
    let (v, f) = svc
        .store
        .update(&r.name, |f| publish_in(f, req.code_sha256.as_deref(), req.revision_id.as_deref(), req.description))?;
    tracing::info!(function = %f.name, version = %v.version, "version published");
    Ok((StatusCode::CREATED, Json(v.configuration(&f.name, &svc.arns))))
}

pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = FunctionRef::parse(&name)?;
    let f = svc.store.get(&r.name).ok_or_else(|| not_found(&r.name))?;
    let all: Vec<_> =
        std::iter::once(&f.latest).chain(f.versions.values()).map(|v| v.configuration(&f.name, &svc.arns)).collect();
    let (page, next) = super::page(all, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Versions": page });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    Ok(Json(out))
}
