//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration and DeleteFunction
//! (tags given at creation are returned by GetFunction and ListTags).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::{AwsJson, ListQuery};
use crate::arn::{FunctionRef, check_name};
use crate::clock::last_modified_now;
use crate::code::{CodeError, StoredCode};
use crate::error::{ApiError, ErrorKind};
use crate::model::{FunctionRecord, LATEST, VersionRecord, new_revision_id};
use crate::service::Service;
use crate::store::not_found;

/// Runtimes the local backend can run: custom runtimes with a `bootstrap`,
/// and the managed Node.js runtime ownstak deploys Node.js apps on (emulated
/// by the machine's `node`; the package's `bootstrap` still starts, through
/// `AWS_LAMBDA_EXEC_WRAPPER` when it is set).
const SUPPORTED_RUNTIMES: &[&str] =
    &["provided", "provided.al2", "provided.al2023", ownstak_core::lambda::NODE_RUNTIME];

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EnvironmentInput {
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CodeInput {
    #[serde(default)]
    zip_file: Option<String>,
    #[serde(default)]
    s3_bucket: Option<String>,
    #[serde(default)]
    image_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateFunction {
    function_name: String,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    code: CodeInput,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    memory_size: Option<u32>,
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    environment: Option<EnvironmentInput>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateCode {
    #[serde(default)]
    zip_file: Option<String>,
    #[serde(default)]
    s3_bucket: Option<String>,
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    revision_id: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateConfiguration {
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    memory_size: Option<u32>,
    #[serde(default)]
    environment: Option<EnvironmentInput>,
    #[serde(default)]
    revision_id: Option<String>,
}

/// `Qualifier` of GetFunction and friends.
#[derive(Deserialize, Default)]
pub(super) struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    pub qualifier: Option<String>,
}

fn check_runtime(runtime: &str) -> Result<(), ApiError> {
    if SUPPORTED_RUNTIMES.contains(&runtime) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "The runtime parameter of {runtime} is not supported by the ownstak local backend. Use one of {SUPPORTED_RUNTIMES:?} with an executable `bootstrap` in the package."
        )))
    }
}

fn check_timeout(t: u32) -> Result<u32, ApiError> {
    if (1..=900).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{t}' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900"
        )))
    }
}

fn check_memory(m: u32) -> Result<u32, ApiError> {
    if (128..=10_240).contains(&m) {
        Ok(m)
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{m}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240"
        )))
    }
}

fn check_role(role: &str) -> Result<(), ApiError> {
    let ok = role.starts_with("arn:") && role.contains(":iam::") && role.contains(":role/");
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: Member must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )))
    }
}

fn check_architectures(a: &[String]) -> Result<(), ApiError> {
    match a {
        [one] if one == "x86_64" || one == "arm64" => Ok(()),
        _ => Err(ApiError::invalid("Architectures must hold exactly one of x86_64 or arm64")),
    }
}

/// Decodes and stores a base64 zip, off the async threads.
async fn store_zip(svc: &Arc<Service>, zip_b64: Option<String>, s3: Option<&str>) -> Result<StoredCode, ApiError> {
    let Some(b64) = zip_b64 else {
        let what = if s3.is_some() {
            "S3 code locations are not supported by the local backend; send the package as ZipFile"
        } else {
            "Please provide a source for function code (ZipFile)."
        };
        return Err(ApiError::invalid(what));
    };
    let svc = svc.clone();
    tokio::task::spawn_blocking(move || {
        let zip = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| ApiError::invalid(format!("ZipFile is not valid base64: {e}")))?;
        if zip.len() > svc.config.max_zip_bytes {
            return Err(ApiError::new(
                ErrorKind::RequestTooLarge,
                format!("the deployment package is {} bytes; the limit is {}", zip.len(), svc.config.max_zip_bytes),
            ));
        }
        svc.code.put(&zip).map_err(|e| match e {
            CodeError::BadZip(_) | CodeError::Refused(_) => ApiError::invalid(e.to_string()),
            CodeError::Io(_) => ApiError::service(e.to_string()),
        })
    })
    .await
    .map_err(|e| ApiError::service(format!("storing the code failed: {e}")))?
}

pub(super) async fn create(
    State(svc): State<Arc<Service>>,
    AwsJson(req): AwsJson<CreateFunction>,
) -> Result<Response, ApiError> {
    let name = FunctionRef::parse(&req.function_name)?;
    if name.qualifier.is_some() {
        return Err(ApiError::invalid("FunctionName must not carry a qualifier in CreateFunction"));
    }
    check_name(&name.name)?;
    if req.code.image_uri.is_some() {
        return Err(ApiError::invalid(
            "Container image functions are not supported by the local backend; use a .zip package",
        ));
    }
    let runtime = req.runtime.ok_or_else(|| ApiError::invalid("Runtime is required for .zip packages"))?;
    check_runtime(&runtime)?;
    let role = req.role.ok_or_else(|| ApiError::invalid("Role is required"))?;
    check_role(&role)?;
    let architectures = req.architectures.unwrap_or_else(|| vec!["x86_64".to_owned()]);
    check_architectures(&architectures)?;
    let timeout = check_timeout(req.timeout.unwrap_or(3))?;
    let memory_size = check_memory(req.memory_size.unwrap_or(128))?;
    let tags = req.tags.unwrap_or_default();
    super::tags::check_tags(&tags)?;
    if svc.store.get(&name.name).is_some() {
        return Err(ApiError::conflict(format!("Function already exist: {}", name.name)));
    }
    let code = store_zip(&svc, req.code.zip_file, req.code.s3_bucket.as_deref()).await?;
    let latest = VersionRecord {
        version: LATEST.to_owned(),
        description: req.description.unwrap_or_default(),
        runtime,
        role,
        handler: req.handler.unwrap_or_else(|| "bootstrap".to_owned()),
        timeout,
        memory_size,
        environment: req.environment.and_then(|e| e.variables).unwrap_or_default(),
        architectures,
        code_sha256: code.sha256_base64,
        code_size: code.size,
        code_id: code.id,
        last_modified: last_modified_now(),
        revision_id: new_revision_id(),
    };
    let record = FunctionRecord {
        name: name.name.clone(),
        latest,
        versions: BTreeMap::new(),
        aliases: BTreeMap::new(),
        tags,
        next_version: 1,
    };
    let mut created = svc.store.create(record)?;
    let mut shown = created.latest.clone();
    if req.publish {
        let (v, f) = svc.store.update(&name.name, |f| super::versions::publish_in(f, None, None, None))?;
        created = f;
        shown = v;
    }
    tracing::info!(function = %created.name, "function created");
    Ok((StatusCode::CREATED, Json(shown.configuration(&created.name, &svc.arns))).into_response())
}

pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let all: Vec<serde_json::Value> =
        svc.store.all().iter().map(|f| f.latest.configuration(&f.name, &svc.arns)).collect();
    let (page, next) = super::page(all, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Functions": page });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    Ok(Json(out))
}

/// Finds a function and the version a qualifier names, or a not-found error
/// naming the qualified ARN.
pub(super) fn resolve(
    svc: &Service,
    raw: &str,
    query: Option<&str>,
) -> Result<(Arc<FunctionRecord>, VersionRecord, Option<String>), ApiError> {
    let (name, qualifier) = FunctionRef::parse(raw)?.with_query(query)?;
    let missing = || {
        let arn = match &qualifier {
            Some(q) => svc.arns.qualified(&name, q),
            None => svc.arns.function(&name),
        };
        ApiError::not_found(format!("Function not found: {arn}"))
    };
    let f = svc.store.get(&name).ok_or_else(missing)?;
    let v = f.resolve(qualifier.as_deref()).cloned().ok_or_else(missing)?;
    Ok((f, v, qualifier))
}

pub(super) async fn get(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (f, v, _) = resolve(&svc, &name, q.qualifier.as_deref())?;
    Ok(Json(json!({
        "Configuration": v.configuration(&f.name, &svc.arns),
        "Code": { "RepositoryType": "S3", "Location": format!("file://{}", svc.code.dir(&v.code_id).display()) },
        "Tags": f.tags,
    })))
}

pub(super) async fn get_configuration(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (f, v, _) = resolve(&svc, &name, q.qualifier.as_deref())?;
    Ok(Json(v.configuration(&f.name, &svc.arns)))
}

fn check_revision(given: Option<&str>, current: &str) -> Result<(), ApiError> {
    match given {
        Some(r) if r != current => Err(ApiError::precondition(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

fn unqualified(raw: &str) -> Result<String, ApiError> {
    let r = FunctionRef::parse(raw)?;
    match r.qualifier.as_deref() {
        None | Some(LATEST) => Ok(r.name),
        Some(q) => Err(ApiError::invalid(format!("Only $LATEST can be changed; `{q}` is immutable"))),
    }
}

pub(super) async fn update_code(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateCode>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = unqualified(&name)?;
    let current = svc.store.get(&name).ok_or_else(|| not_found(&name))?;
    check_revision(req.revision_id.as_deref(), &current.latest.revision_id)?;
    if let Some(a) = &req.architectures {
        check_architectures(a)?;
    }
    let code = store_zip(&svc, req.zip_file, req.s3_bucket.as_deref()).await?;
    let (shown, f) = svc.store.update(&name, |f| {
        // Checked again under the store lock: another update may have won meanwhile.
        check_revision(req.revision_id.as_deref(), &f.latest.revision_id)?;
        f.latest.code_sha256 = code.sha256_base64.clone();
        f.latest.code_size = code.size;
        f.latest.code_id = code.id.clone();
        if let Some(a) = req.architectures.clone() {
            f.latest.architectures = a;
        }
        f.latest.last_modified = last_modified_now();
        f.latest.revision_id = new_revision_id();
        if req.publish { super::versions::publish_in(f, None, None, None) } else { Ok(f.latest.clone()) }
    })?;
    Ok(Json(shown.configuration(&f.name, &svc.arns)))
}

pub(super) async fn update_configuration(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateConfiguration>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = unqualified(&name)?;
    if let Some(r) = &req.runtime {
        check_runtime(r)?;
    }
    if let Some(r) = &req.role {
        check_role(r)?;
    }
    let timeout = req.timeout.map(check_timeout).transpose()?;
    let memory = req.memory_size.map(check_memory).transpose()?;
    let (shown, f) = svc.store.update(&name, |f| {
        check_revision(req.revision_id.as_deref(), &f.latest.revision_id)?;
        let l = &mut f.latest;
        if let Some(v) = req.runtime {
            l.runtime = v;
        }
        if let Some(v) = req.role {
            l.role = v;
        }
        if let Some(v) = req.handler {
            l.handler = v;
        }
        if let Some(v) = req.description {
            l.description = v;
        }
        if let Some(v) = timeout {
            l.timeout = v;
        }
        if let Some(v) = memory {
            l.memory_size = v;
        }
        if let Some(env) = req.environment {
            l.environment = env.variables.unwrap_or_default();
        }
        l.last_modified = last_modified_now();
        l.revision_id = new_revision_id();
        Ok(l.clone())
    })?;
    Ok(Json(shown.configuration(&f.name, &svc.arns)))
}

pub(super) async fn delete(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Result<StatusCode, ApiError> {
    let (name, qualifier) = FunctionRef::parse(&name)?.with_query(q.qualifier.as_deref())?;
    match qualifier.as_deref() {
        None | Some(LATEST) => {
            svc.store.delete(&name)?;
        }
        Some(v) => {
            let n: u64 = v.parse().map_err(|_| {
                ApiError::invalid(format!(
                    "Deleting an alias through DeleteFunction is not allowed; `{v}` is not a version number"
                ))
            })?;
            svc.store.update(&name, |f| {
                if !f.versions.contains_key(&n) {
                    return Err(ApiError::not_found(format!("Function not found: {}", svc.arns.qualified(&name, v))));
                }
                if let Some(a) = f.aliases.values().find(|a| a.function_version == v) {
                    return Err(ApiError::conflict(format!(
                        "Unable to delete version because the following aliases reference it: [{}]",
                        a.name
                    )));
                }
                f.versions.remove(&n);
                Ok(())
            })?;
        }
    }
    svc.pool.retire(&name);
    Ok(StatusCode::NO_CONTENT)
}
