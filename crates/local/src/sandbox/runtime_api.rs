//! The Runtime API (`/2018-06-01/runtime/...`) of one environment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::{FunctionFailure, Outcome};
use crate::clock::epoch_millis;

/// Header naming the error type of `/error` and `/init/error` posts.
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// An invocation handed to an environment.
pub(super) struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub invoked_arn: String,
    pub timeout: Duration,
    /// Told when the runtime takes the invocation.
    pub started: oneshot::Sender<()>,
    /// Told how the invocation ended.
    pub reply: oneshot::Sender<Outcome>,
}

struct Active {
    request_id: String,
    reply: oneshot::Sender<Outcome>,
}

/// State shared by the Runtime API handlers and the environment.
pub(super) struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    active: Mutex<Option<Active>>,
    max_response: usize,
    /// Set when the runtime reported an init error; the environment is not reused.
    pub init_failed: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new(queue: mpsc::Receiver<Invocation>, max_response: usize) -> Self {
        Self {
            queue: tokio::sync::Mutex::new(queue),
            active: Mutex::new(None),
            max_response,
            init_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        // The slot holds plain data; a panic elsewhere cannot leave it half-updated.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the running or queued invocation, if any: used when the
    /// process dies or reports an init error.
    pub fn fail_pending(&self, failure: impl Fn(&str) -> FunctionFailure) {
        if let Some(active) = self.active().take() {
            let _ = active.reply.send(Outcome::Failure(failure(&active.request_id)));
            return;
        }
        if let Ok(mut queue) = self.queue.try_lock()
            && let Ok(inv) = queue.try_recv()
        {
            let _ = inv.reply.send(Outcome::Failure(failure(&inv.request_id)));
        }
    }
}

/// The Runtime API routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let mut queue = shared.queue.lock().await;
    let Some(inv) = queue.recv().await else {
        // The environment is shutting down; the process is about to be killed.
        return (StatusCode::GONE, "environment stopped").into_response();
    };
    drop(queue);
    let deadline = epoch_millis() + inv.timeout.as_millis() as u64;
    let trace = format!("Root=1-{:08x}-{};Parent={};Sampled=0", epoch_millis() / 1000, &uuid::Uuid::new_v4().simple().to_string()[..24], &uuid::Uuid::new_v4().simple().to_string()[..16]);
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
    *shared.active() = Some(Active { request_id: inv.request_id, reply: inv.reply });
    let _ = inv.started.send(());
    (StatusCode::OK, headers, inv.payload).into_response()
}

fn take_active(shared: &Shared, id: &str) -> Option<Active> {
    let mut slot = shared.active();
    match slot.as_ref() {
        Some(a) if a.request_id == id => slot.take(),
        _ => None,
    }
}

fn bad_request_id(id: &str) -> Response {
    let body = serde_json::json!({ "errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID" });
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

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Body) -> Response {
    let Some(active) = take_active(&shared, &id) else { return bad_request_id(&id) };
    match read_limited(body, shared.max_response).await {
        Ok(Some(bytes)) => {
            let _ = active.reply.send(Outcome::Success(bytes));
            accepted()
        }
        Ok(None) => {
            let msg = format!("Response payload size exceeded maximum allowed payload size ({} bytes).", shared.max_response);
            let _ = active.reply.send(Outcome::Failure(FunctionFailure::platform("Function.ResponseSizeTooLarge", msg.clone())));
            let body = serde_json::json!({ "errorMessage": msg, "errorType": "RequestEntityTooLarge" });
            (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
        }
        Err(e) => {
            let _ = active.reply.send(Outcome::Failure(FunctionFailure::platform("Runtime.ExitError", format!("the runtime's response broke off: {e}"))));
            (StatusCode::BAD_REQUEST, "incomplete body").into_response()
        }
    }
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(active) = take_active(&shared, &id) else { return bad_request_id(&id) };
    let body = read_limited(body, shared.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    let _ = active.reply.send(Outcome::Failure(FunctionFailure::reported(header_type, body)));
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = read_limited(body, shared.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    let failure = FunctionFailure::reported(header_type, body);
    shared.init_failed.store(true, std::sync::atomic::Ordering::SeqCst);
    shared.fail_pending(|_| failure.clone());
    accepted()
}
