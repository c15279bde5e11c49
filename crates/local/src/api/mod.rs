//! The AWS Lambda REST API: routes, request parsing and handlers.

mod aliases;
mod body;
mod functions;
pub(crate) mod invoke;
mod stream;
mod tags;
mod versions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::service::Service;

pub(crate) use body::AwsJson;

/// All routes of the Lambda API, plus `/__ownstak__/health` and the SSM
/// endpoint (`POST /`), behind the
/// endpoint rules of [`crate::guard`] (for in-process clients too: they
/// sign like any other).
pub(crate) fn router(service: Arc<Service>) -> Router {
    let limit = service.config.max_zip_bytes / 3 * 4 + 64 * 1024;
    let gate = crate::guard::LambdaGate::new(&service.config, limit);
    Router::new()
        .route("/2015-03-31/functions", post(functions::create).get(functions::list))
        .route("/2015-03-31/functions/", get(functions::list))
        .route("/2015-03-31/functions/{name}", get(functions::get).delete(functions::delete))
        .route("/2015-03-31/functions/{name}/code", axum::routing::put(functions::update_code))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route("/2015-03-31/functions/{name}/versions", post(versions::publish).get(versions::list))
        .route("/2015-03-31/functions/{name}/aliases", post(aliases::create).get(aliases::list))
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(aliases::get).put(aliases::update).delete(aliases::delete),
        )
        .route("/2015-03-31/functions/{name}/invocations", post(invoke::invoke))
        .route("/2017-03-31/tags/{arn}", get(tags::list).post(tags::tag).delete(tags::untag))
        .route("/2021-11-15/functions/{name}/response-streaming-invocations", post(stream::invoke_stream))
        // SSM's JSON 1.1 protocol (`X-Amz-Target: AmazonSSM.*`) on the same listener.
        .route("/", post(crate::ssm::handle))
        .route(crate::guard::HEALTH_PATH, get(|| async { "ok" }))
        .route("/__ownstak__/backend", get(backend_info))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::new(crate::error::ErrorKind::ResourceNotFound, format!("Unknown operation {uri}"))
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(gate, crate::guard::lambda))
        .with_state(service)
}

/// `Marker` and `MaxItems` of the list operations.
#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

/// Pagination of list operations: `Marker` is an offset, `MaxItems` a count.
fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<usize>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match marker {
        None | Some("") => 0,
        Some(m) => m.parse::<usize>().map_err(|_| ApiError::invalid(format!("Invalid Marker: {m}")))?,
    };
    let max = max_items.unwrap_or(50).clamp(1, 10_000);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
    Ok((page, next))
}

/// The backend facts for clients, or 404 when none were configured.
async fn backend_info(
    axum::extract::State(svc): axum::extract::State<Arc<Service>>,
) -> Result<axum::Json<ownstak_core::BackendInfo>, ApiError> {
    svc.config
        .backend_info
        .clone()
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("this Lambda service has no backend facts configured"))
}
