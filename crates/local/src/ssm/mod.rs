//! A minimal AWS Systems Manager Parameter Store endpoint, so that the CLI
//! and `ownstak-runtime` use the official SSM clients against the local
//! backend as they do against AWS. It speaks the JSON 1.1 protocol
//! (`POST /`, `X-Amz-Target: AmazonSSM.<Operation>`) on the Lambda API's
//! listener, behind the same endpoint rules, and implements PutParameter,
//! GetParameter, GetParameters, GetParametersByPath, DeleteParameter and
//! DeleteParameters with versions (`name:version` selectors) and
//! `WithDecryption`. SecureString values are stored as written in a file
//! private to the backend's owner; without decryption they are answered
//! with an opaque stand-in, never the value.

mod error;
mod store;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::service::Service;
pub(crate) use error::SsmError;
pub(crate) use store::ParameterStore;
use store::{Parameter, check_name};

/// The `X-Amz-Target` prefix of SSM operations.
const TARGET_PREFIX: &str = "AmazonSSM.";
/// The content type of the JSON 1.1 protocol.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Most names GetParameters and DeleteParameters take at once.
const MAX_NAMES: usize = 10;
/// Most results of one GetParametersByPath page.
const MAX_RESULTS: usize = 10;

/// `POST /`: one SSM operation, named by `X-Amz-Target`.
pub(crate) async fn handle(State(svc): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return SsmError::new("UnknownOperationException", format!("Unknown operation `{target}`")).into_response();
    };
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let params = svc.parameters.as_ref();
    let result = match operation {
        "PutParameter" => parse(body).and_then(|r| put(params, r)),
        "GetParameter" => parse(body).and_then(|r| get_one(&svc, params, r)),
        "GetParameters" => parse(body).and_then(|r| get_many(&svc, params, r)),
        "GetParametersByPath" => parse(body).and_then(|r| by_path(&svc, params, r)),
        "DeleteParameter" => parse(body).and_then(|r| delete_one(params, r)),
        "DeleteParameters" => parse(body).and_then(|r| delete_many(params, r)),
        other => Err(SsmError::new(
            "UnknownOperationException",
            format!("The local SSM endpoint does not implement {other}"),
        )),
    };
    match result {
        Ok(v) => json_body(&v).into_response(),
        Err(e) => {
            tracing::debug!(operation, code = e.code, message = %e.message, "SSM request refused");
            e.into_response()
        }
    }
}

/// A JSON 1.1 response body.
pub(crate) fn json_body(v: &Value) -> impl IntoResponse + use<> {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], v.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SsmError> {
    serde_json::from_slice(body)
        .map_err(|e| SsmError::new("SerializationException", format!("Cannot read the request: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    name: String,
    value: String,
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    overwrite: bool,
}

fn put(params: &ParameterStore, r: PutRequest) -> Result<Value, SsmError> {
    let kind = match r.kind {
        Some(k) => k,
        // A new parameter needs a type; an overwrite keeps the one it had.
        None => match params.get(&r.name, None)? {
            Some(p) => p.kind,
            None => return Err(SsmError::validation("A parameter type is required when you create a parameter.")),
        },
    };
    let version = params.put(&r.name, &kind, &r.value, r.overwrite)?;
    Ok(json!({ "Version": version, "Tier": "Standard" }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRequest {
    name: String,
    #[serde(default)]
    with_decryption: bool,
}

/// `name` or `name:version`.
fn selector(raw: &str) -> Result<(&str, Option<u64>), SsmError> {
    match raw.rsplit_once(':') {
        None => Ok((raw, None)),
        Some((name, v)) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok((name, Some(n))),
            _ => Err(SsmError::validation(format!(
                "The selector `{v}` of {raw} is not a version number (labels are not supported by the local endpoint)"
            ))),
        },
    }
}

/// Finds `raw` (with its selector); a missing parameter or version is an error.
fn lookup(params: &ParameterStore, raw: &str) -> Result<Parameter, SsmError> {
    let (name, version) = selector(raw)?;
    check_name(name)?;
    match (params.get(name, version)?, version) {
        (Some(p), _) => Ok(p),
        (None, Some(v)) if params.exists(name)? => Err(SsmError::new(
            "ParameterVersionNotFound",
            format!("Systems Manager could not find version {v} of {name}. Verify the version and try again."),
        )),
        (None, _) => Err(SsmError::not_found(raw)),
    }
}

fn get_one(svc: &Service, params: &ParameterStore, r: GetRequest) -> Result<Value, SsmError> {
    let p = lookup(params, &r.name)?;
    Ok(json!({ "Parameter": render(svc, &p, r.with_decryption, selector_of(&r.name)) }))
}

fn selector_of(raw: &str) -> Option<String> {
    raw.rsplit_once(':').map(|(_, s)| format!(":{s}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetManyRequest {
    names: Vec<String>,
    #[serde(default)]
    with_decryption: bool,
}

fn check_count(names: &[String]) -> Result<(), SsmError> {
    if names.is_empty() || names.len() > MAX_NAMES {
        return Err(SsmError::validation(format!(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAMES} and greater than or equal to 1"
        )));
    }
    Ok(())
}

fn get_many(svc: &Service, params: &ParameterStore, r: GetManyRequest) -> Result<Value, SsmError> {
    check_count(&r.names)?;
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    for raw in &r.names {
        match lookup(params, raw) {
            Ok(p) => found.push(render(svc, &p, r.with_decryption, selector_of(raw))),
            Err(e) if matches!(e.code, "ParameterNotFound" | "ParameterVersionNotFound") => invalid.push(raw.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(json!({ "Parameters": found, "InvalidParameters": invalid }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PathRequest {
    path: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn by_path(svc: &Service, params: &ParameterStore, r: PathRequest) -> Result<Value, SsmError> {
    let all = params.by_path(&r.path, r.recursive)?;
    let start = match r.next_token.as_deref() {
        None | Some("") => 0,
        Some(t) => t.parse::<usize>().map_err(|_| SsmError::new("InvalidNextToken", "The NextToken is not valid."))?,
    };
    let max = r.max_results.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS);
    let page: Vec<Value> = all.iter().skip(start).take(max).map(|p| render(svc, p, r.with_decryption, None)).collect();
    let end = start + page.len();
    let mut out = json!({ "Parameters": page });
    if end < all.len() {
        out["NextToken"] = json!(end.to_string());
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRequest {
    name: String,
}

fn delete_one(params: &ParameterStore, r: DeleteRequest) -> Result<Value, SsmError> {
    check_name(&r.name)?;
    if params.delete(&r.name)? { Ok(json!({})) } else { Err(SsmError::not_found(&r.name)) }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteManyRequest {
    names: Vec<String>,
}

fn delete_many(params: &ParameterStore, r: DeleteManyRequest) -> Result<Value, SsmError> {
    check_count(&r.names)?;
    let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
    for name in r.names {
        if check_name(&name).is_ok() && params.delete(&name)? { deleted.push(name) } else { invalid.push(name) }
    }
    Ok(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
}

/// A parameter as SSM answers it; a SecureString without decryption is an
/// opaque stand-in (AWS answers its ciphertext).
fn render(svc: &Service, p: &Parameter, decrypt: bool, selector: Option<String>) -> Value {
    let value = if p.kind == "SecureString" && !decrypt {
        base64::engine::general_purpose::STANDARD.encode(format!("ownstak-local-encrypted:{}:{}", p.name, p.version))
    } else {
        p.value.clone()
    };
    let arn = format!(
        "arn:aws:ssm:{}:{}:parameter/{}",
        svc.config.region,
        svc.config.account_id,
        p.name.trim_start_matches('/')
    );
    let mut v = json!({
        "Name": p.name,
        "Type": p.kind,
        "Value": value,
        "Version": p.version,
        "LastModifiedDate": p.modified,
        "ARN": arn,
        "DataType": "text",
    });
    if let Some(s) = selector {
        v["Selector"] = json!(s);
    }
    v
}
