//! Invoke (RequestResponse, Event and DryRun).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::functions::{QualifierQuery, resolve};
use crate::error::{ApiError, ErrorKind};
use crate::model::{FunctionRecord, VersionRecord};
use crate::sandbox::{FunctionSpec, InvokeRequest};
use crate::service::Service;

/// Builds what the pool needs to run `version` of `f` as invoked with `qualifier`.
pub(crate) fn spec(
    svc: &Service,
    f: &FunctionRecord,
    version: &VersionRecord,
    qualifier: Option<&str>,
) -> FunctionSpec {
    FunctionSpec {
        function: f.name.clone(),
        version: version.version.clone(),
        revision_id: version.revision_id.clone(),
        invoked_arn: match qualifier {
            Some(q) => svc.arns.qualified(&f.name, q),
            None => svc.arns.function(&f.name),
        },
        code_dir: svc.code.dir(&version.code_id),
        runtime: version.runtime.clone(),
        handler: version.handler.clone(),
        timeout: Duration::from_secs(u64::from(version.timeout)),
        memory_size: version.memory_size,
        environment: version.environment.clone(),
        log_path: svc.log_path(&f.name),
        region: svc.config.region.clone(),
        ssm_endpoint: format!("http://{}", svc.config.lambda_addr),
        keys: svc.config.keys.clone(),
    }
}

/// Reads an invoke payload, enforcing the synchronous payload limit and
/// checking that it is JSON.
pub(super) async fn read_payload(svc: &Service, body: Body) -> Result<Bytes, ApiError> {
    let limit = svc.config.max_payload_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(ApiError::new(
                ErrorKind::RequestTooLarge,
                format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
            ));
        }
        Err(e) => return Err(ApiError::invalid(format!("Could not read the request body: {e}"))),
    };
    if bytes.is_empty() {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| {
        ApiError::new(ErrorKind::InvalidParameterValue, format!("Could not parse request body into json: {e}"))
    })?;
    Ok(bytes)
}

/// Which InvocationType an Invoke asked for.
pub(super) fn invocation_type(headers: &HeaderMap) -> &str {
    headers.get("x-amz-invocation-type").and_then(|v| v.to_str().ok()).unwrap_or("RequestResponse")
}

pub(super) async fn invoke(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (f, version, qualifier) = resolve(&svc, &name, q.qualifier.as_deref())?;
    let payload = read_payload(&svc, body).await?;
    let spec = spec(&svc, &f, &version, qualifier.as_deref());
    let request_id = uuid::Uuid::new_v4().to_string();
    let mode = invocation_type(&headers);
    match mode {
        "RequestResponse" => {}
        "Event" => {
            let pool = svc.pool.clone();
            tokio::spawn(async move {
                let _ = pool.invoke(InvokeRequest { spec, request_id, payload }).await;
            });
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid InvocationType: {other} (use RequestResponse, Event or DryRun)"
            )));
        }
    }
    let outcome = svc
        .pool
        .invoke(InvokeRequest { spec, request_id: request_id.clone(), payload })
        .await
        .map_err(|t| ApiError::new(ErrorKind::TooManyRequests, t.to_string()))?
        .buffered(svc.config.max_payload_bytes)
        .await;
    let mut resp = match outcome {
        Ok(payload) => (StatusCode::OK, payload).into_response(),
        Err(failure) => {
            tracing::debug!(function = %f.name, error_type = %failure.error_type, "invocation failed");
            let mut r = (StatusCode::OK, failure.payload).into_response();
            r.headers_mut().insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
            r
        }
    };
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&version.version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    Ok(resp)
}
