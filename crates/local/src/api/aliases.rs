//! CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::AwsJson;
use crate::arn::FunctionRef;
use crate::error::ApiError;
use crate::model::{AliasRecord, FunctionRecord, LATEST, new_revision_id};
use crate::service::Service;
use crate::store::not_found;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateAlias {
    name: String,
    function_version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    routing_config: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateAlias {
    #[serde(default)]
    function_version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    revision_id: Option<String>,
    #[serde(default)]
    routing_config: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

fn check_alias_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )))
    }
}

fn check_target(f: &FunctionRecord, version: &str, svc: &Service) -> Result<(), ApiError> {
    let exists = version == LATEST || version.parse::<u64>().ok().is_some_and(|n| f.versions.contains_key(&n));
    if exists {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("Function not found: {}", svc.arns.qualified(&f.name, version))))
    }
}

fn no_routing(rc: &Option<serde_json::Value>) -> Result<(), ApiError> {
    let weighted = rc
        .as_ref()
        .and_then(|v| v.get("AdditionalVersionWeights"))
        .and_then(|w| w.as_object())
        .is_some_and(|m| !m.is_empty());
    if weighted {
        Err(ApiError::invalid("Weighted aliases (RoutingConfig) are not supported by the local backend"))
    } else {
        Ok(())
    }
}

pub(super) async fn create(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateAlias>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let r = FunctionRef::parse(&name)?;
    check_alias_name(&req.name)?;
    no_routing(&req.routing_config)?;
    let (alias, f) = svc.store.update(&r.name, |f| {
        if f.aliases.contains_key(&req.name) {
            return Err(ApiError::conflict(format!(
                "Alias already exists: {}",
                svc.arns.qualified(&f.name, &req.name)
            )));
        }
        check_target(f, &req.function_version, &svc)?;
        let alias = AliasRecord {
            name: req.name.clone(),
            function_version: req.function_version.clone(),
            description: req.description.clone().unwrap_or_default(),
            revision_id: new_revision_id(),
        };
        f.aliases.insert(alias.name.clone(), alias.clone());
        Ok(alias)
    })?;
    Ok((StatusCode::CREATED, Json(alias.configuration(&f.name, &svc.arns))))
}

fn alias_not_found(svc: &Service, function: &str, alias: &str) -> ApiError {
    ApiError::not_found(format!("Alias not found: {}", svc.arns.qualified(function, alias)))
}

pub(super) async fn get(
    State(svc): State<Arc<Service>>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = FunctionRef::parse(&name)?;
    let f = svc.store.get(&r.name).ok_or_else(|| not_found(&r.name))?;
    let a = f.aliases.get(&alias).ok_or_else(|| alias_not_found(&svc, &f.name, &alias))?;
    Ok(Json(a.configuration(&f.name, &svc.arns)))
}

pub(super) async fn update(
    State(svc): State<Arc<Service>>,
    Path((name, alias)): Path<(String, String)>,
    AwsJson(req): AwsJson<UpdateAlias>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = FunctionRef::parse(&name)?;
    no_routing(&req.routing_config)?;
    let (a, f) = svc.store.update(&r.name, |f| {
        let current = f.aliases.get(&alias).ok_or_else(|| alias_not_found(&svc, &f.name, &alias))?;
        if let Some(rev) = &req.revision_id
            && *rev != current.revision_id
        {
            return Err(ApiError::precondition(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
        if let Some(v) = &req.function_version {
            check_target(f, v, &svc)?;
        }
        let mut next = current.clone();
        if let Some(v) = &req.function_version {
            next.function_version = v.clone();
        }
        if let Some(d) = &req.description {
            next.description = d.clone();
        }
        next.revision_id = new_revision_id();
        f.aliases.insert(alias.clone(), next.clone());
        Ok(next)
    })?;
    tracing::info!(function = %f.name, alias = %a.name, version = %a.function_version, "alias updated");
    Ok(Json(a.configuration(&f.name, &svc.arns)))
}

pub(super) async fn delete(
    State(svc): State<Arc<Service>>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let r = FunctionRef::parse(&name)?;
    // Deleting a missing alias succeeds, as in Lambda.
    svc.store.update(&r.name, |f| {
        f.aliases.remove(&alias);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = FunctionRef::parse(&name)?;
    let f = svc.store.get(&r.name).ok_or_else(|| not_found(&r.name))?;
    let all: Vec<_> = f
        .aliases
        .values()
        .filter(|a| q.function_version.as_deref().is_none_or(|v| a.function_version == v))
        .map(|a| a.configuration(&f.name, &svc.arns))
        .collect();
    let (page, next) = super::page(all, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Aliases": page });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    Ok(Json(out))
}
