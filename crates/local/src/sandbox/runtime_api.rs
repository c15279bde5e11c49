//! The Runtime API (`/2018-06-01/runtime/...`) of one environment.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use ownstak_core::lambda::error_type;
use tokio::sync::mpsc;

use super::state::{EnvState, Reply};
use super::{FunctionFailure, Outcome, StreamItem};
use crate::clock::epoch_millis;

/// Header naming the error type of `/error` and `/init/error` posts.
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// The Runtime API routes, behind the guard of [`crate::guard::runtime`].
pub(super) fn router(state: Arc<EnvState>, gate: Arc<crate::guard::RuntimeGate>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(axum::middleware::from_fn_with_state(gate, crate::guard::runtime))
        .with_state(state)
}

async fn next(State(state): State<Arc<EnvState>>) -> Response {
    let Some(inv) = state.next().await else {
        // The environment is closed; the process is about to be stopped.
        return (StatusCode::GONE, "environment stopped").into_response();
    };
    let deadline = epoch_millis() + inv.timeout.as_millis() as u64;
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        epoch_millis() / 1000,
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let mut headers = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(&mut headers, "content-type", "application/json");
    put(&mut headers, "lambda-runtime-aws-request-id", &inv.request_id);
    put(&mut headers, "lambda-runtime-deadline-ms", &deadline.to_string());
    put(&mut headers, "lambda-runtime-invoked-function-arn", &inv.invoked_arn);
    put(&mut headers, "lambda-runtime-trace-id", &trace);
    (StatusCode::OK, headers, inv.payload).into_response()
}

fn bad_request_id(id: &str) -> Response {
    let body =
        serde_json::json!({ "errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID" });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "status": "OK" }))).into_response()
}

/// Reads a body up to `limit` bytes; `None` when it is larger.
async fn read_limited(body: Body, limit: usize) -> Result<Option<Bytes>, axum::Error> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(Some(c.to_bytes())),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Ok(None),
        Err(e) => Err(axum::Error::new(e)),
    }
}

async fn response(
    State(state): State<Arc<EnvState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(reply) = state.take_active(&id) else { return bad_request_id(&id) };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.eq_ignore_ascii_case("streaming"));
    if streaming {
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let resp = stream_response(&reply, content_type, body).await;
        reply.finish();
        return resp;
    }
    match read_limited(body, state.max_response).await {
        Ok(Some(bytes)) => {
            reply.complete(Outcome::Success(bytes));
            accepted()
        }
        Ok(None) => {
            let msg =
                format!("Response payload size exceeded maximum allowed payload size ({} bytes).", state.max_response);
            reply.complete(Outcome::Failure(FunctionFailure::platform(
                error_type::RESPONSE_SIZE_TOO_LARGE,
                msg.clone(),
            )));
            let body = serde_json::json!({ "errorMessage": msg, "errorType": "RequestEntityTooLarge" });
            (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
        }
        Err(e) => {
            reply.complete(Outcome::Failure(FunctionFailure::platform(
                error_type::RUNTIME_EXIT_ERROR,
                format!("the runtime's response broke off: {e}"),
            )));
            (StatusCode::BAD_REQUEST, "incomplete body").into_response()
        }
    }
}

/// Passes a streamed response on frame by frame. Errors reported in the
/// trailers, or a body that breaks off, end the stream as failed. If the
/// invoker goes away, the rest is read and dropped so that the runtime can
/// finish and the environment stays usable.
async fn stream_response(reply: &Reply, content_type: Option<String>, mut body: Body) -> Response {
    let (tx, items) = mpsc::channel(super::STREAM_BUFFER_CHUNKS);
    reply.outcome(Outcome::Stream(super::ResponseStream { content_type, items }));
    let mut listening = true;
    let send = async |item: StreamItem, listening: &mut bool| {
        if *listening && tx.send(item).await.is_err() {
            *listening = false;
        }
    };
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if frame.is_data() {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        send(StreamItem::Chunk(data), &mut listening).await;
                    }
                } else if let Ok(trailers) = frame.into_trailers()
                    && let Some(failure) = trailer_failure(&trailers)
                {
                    send(StreamItem::Failed(failure), &mut listening).await;
                    return accepted();
                }
            }
            Some(Err(e)) => {
                let failure = FunctionFailure::platform(
                    error_type::RUNTIME_EXIT_ERROR,
                    format!("the runtime's streamed response broke off: {e}"),
                );
                send(StreamItem::Failed(failure), &mut listening).await;
                return (StatusCode::BAD_REQUEST, "incomplete body").into_response();
            }
            None => {
                send(StreamItem::End, &mut listening).await;
                return accepted();
            }
        }
    }
}

/// The failure a runtime reported in the trailers of a streamed response.
fn trailer_failure(trailers: &HeaderMap) -> Option<FunctionFailure> {
    let error_type = trailers.get(ERROR_TYPE_HEADER)?.to_str().ok()?.to_owned();
    let body = trailers
        .get("lambda-runtime-function-error-body")
        .and_then(|v| v.to_str().ok())
        .map(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map(Bytes::from)
                .unwrap_or_else(|_| Bytes::copy_from_slice(b.as_bytes()))
        })
        .unwrap_or_default();
    Some(FunctionFailure::reported(Some(&error_type), body))
}

async fn error(State(state): State<Arc<EnvState>>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(reply) = state.take_active(&id) else { return bad_request_id(&id) };
    let body = read_limited(body, state.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    reply.complete(Outcome::Failure(FunctionFailure::reported(header_type, body)));
    accepted()
}

async fn init_error(State(state): State<Arc<EnvState>>, headers: HeaderMap, body: Body) -> Response {
    let body = read_limited(body, state.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    state.init_failed(FunctionFailure::reported(header_type, body));
    accepted()
}
