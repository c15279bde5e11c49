//! ListTags, TagResource and UntagResource on functions (by ARN, as Lambda).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::AwsJson;
use crate::arn::FunctionRef;
use crate::error::ApiError;
use crate::service::Service;
use crate::store::not_found;

/// Most tags a function may carry.
const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagResource {
    tags: BTreeMap<String, String>,
}

/// The function an ARN names; tags live on the unqualified function only.
fn function_of(resource: &str) -> Result<String, ApiError> {
    let r = FunctionRef::parse(resource)?;
    if r.qualifier.is_some() {
        return Err(ApiError::invalid(format!(
            "Tags apply to the function, not to a version or alias: use its unqualified ARN instead of {resource}"
        )));
    }
    Ok(r.name)
}

fn check_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 128 || value.len() > 256 || key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::invalid(format!(
            "Invalid tag `{key}`: keys are 1-128 characters and may not start with `aws:`; values are at most 256 characters"
        )));
    }
    Ok(())
}

/// Checks tags given to CreateFunction or TagResource.
pub(super) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    tags.iter().try_for_each(|(k, v)| check_tag(k, v))
}

pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Path(resource): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = function_of(&resource)?;
    let f = svc.store.get(&name).ok_or_else(|| not_found(&name))?;
    Ok(Json(json!({ "Tags": f.tags })))
}

pub(super) async fn tag(
    State(svc): State<Arc<Service>>,
    Path(resource): Path<String>,
    AwsJson(req): AwsJson<TagResource>,
) -> Result<StatusCode, ApiError> {
    let name = function_of(&resource)?;
    check_tags(&req.tags)?;
    svc.store.update(&name, |f| {
        f.tags.extend(req.tags);
        if f.tags.len() > MAX_TAGS {
            return Err(ApiError::invalid(format!("A function may carry at most {MAX_TAGS} tags")));
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn untag(
    State(svc): State<Arc<Service>>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let name = function_of(&resource)?;
    // `tagKeys` repeats once per key.
    let keys: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "tagKeys")
        .map(|(_, v)| decode(v))
        .collect::<Result<_, _>>()?;
    svc.store.update(&name, |f| {
        for k in &keys {
            f.tags.remove(k);
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn decode(v: &str) -> Result<String, ApiError> {
    let bad = || ApiError::invalid(format!("Invalid tagKeys value {v:?}"));
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = v.get(i + 1..i + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_form_values() {
        assert_eq!(super::decode("ownstak%3Abackend").unwrap(), "ownstak:backend");
        assert_eq!(super::decode("a+b").unwrap(), "a b");
        assert!(super::decode("%zz").is_err());
        assert!(super::decode("%4").is_err());
    }
}
