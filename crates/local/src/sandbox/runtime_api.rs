//! The Runtime API (`/2018-06-01/runtime/...`) of one environment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::{FunctionFailure, Outcome, StreamItem};
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
    /// Told how the invocation ended (or that its response streams).
    pub reply: oneshot::Sender<Outcome>,
    /// Told when the runtime has finished the invocation, streamed or not.
    pub done: oneshot::Sender<()>,
}

struct Active {
    request_id: String,
    reply: oneshot::Sender<Outcome>,
    done: oneshot::Sender<()>,
}

/// State shared by the Runtime API handlers and the environment.
pub(super) struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    active: Mutex<Option<Active>>,
    max_response: usize,
    /// Set when the runtime reported an init error; the environment is not reused.
    pub init_failed: std::sync::atomic::AtomicBool,
    /// The reported init error, which answers any invocation still pending
    /// (even one queued after the report).
    init_failure: Mutex<Option<FunctionFailure>>,
}

impl Shared {
    pub fn new(queue: mpsc::Receiver<Invocation>, max_response: usize) -> Self {
        Self {
            queue: tokio::sync::Mutex::new(queue),
            active: Mutex::new(None),
            max_response,
            init_failed: std::sync::atomic::AtomicBool::new(false),
            init_failure: Mutex::new(None),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        // The slot holds plain data; a panic elsewhere cannot leave it half-updated.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the running or queued invocation, if any: used when the
    /// process dies or reports an init error.
    pub fn fail_pending(&self, failure: impl Fn(&str) -> FunctionFailure) {
        let reported = self.init_failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let failure = |rid: &str| reported.clone().unwrap_or_else(|| failure(rid));
        if let Some(active) = self.active().take() {
            let _ = active.reply.send(Outcome::Failure(failure(&active.request_id)));
            let _ = active.done.send(());
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
    *shared.active() = Some(Active { request_id: inv.request_id, reply: inv.reply, done: inv.done });
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
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(active) = take_active(&shared, &id) else { return bad_request_id(&id) };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.eq_ignore_ascii_case("streaming"));
    if streaming {
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let resp = stream_response(active.reply, content_type, body).await;
        let _ = active.done.send(());
        return resp;
    }
    let resp = match read_limited(body, shared.max_response).await {
        Ok(Some(bytes)) => {
            let _ = active.reply.send(Outcome::Success(bytes));
            accepted()
        }
        Ok(None) => {
            let msg =
                format!("Response payload size exceeded maximum allowed payload size ({} bytes).", shared.max_response);
            let _ = active
                .reply
                .send(Outcome::Failure(FunctionFailure::platform("Function.ResponseSizeTooLarge", msg.clone())));
            let body = serde_json::json!({ "errorMessage": msg, "errorType": "RequestEntityTooLarge" });
            (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
        }
        Err(e) => {
            let _ = active.reply.send(Outcome::Failure(FunctionFailure::platform(
                "Runtime.ExitError",
                format!("the runtime's response broke off: {e}"),
            )));
            (StatusCode::BAD_REQUEST, "incomplete body").into_response()
        }
    };
    let _ = active.done.send(());
    resp
}

/// Passes a streamed response on frame by frame. Errors reported in the
/// trailers, or a body that breaks off, end the stream as failed. If the
/// invoker goes away, the rest is read and dropped so that the runtime can
/// finish and the environment stays usable.
async fn stream_response(reply: oneshot::Sender<Outcome>, content_type: Option<String>, mut body: Body) -> Response {
    let (tx, items) = mpsc::channel(super::STREAM_BUFFER_CHUNKS);
    let _ = reply.send(Outcome::Stream(super::ResponseStream { content_type, items }));
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
                    "Runtime.ExitError",
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

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(active) = take_active(&shared, &id) else { return bad_request_id(&id) };
    let body = read_limited(body, shared.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    let _ = active.reply.send(Outcome::Failure(FunctionFailure::reported(header_type, body)));
    let _ = active.done.send(());
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = read_limited(body, shared.max_response).await.ok().flatten().unwrap_or_default();
    let header_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
    let failure = FunctionFailure::reported(header_type, body);
    *shared.init_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure.clone());
    shared.init_failed.store(true, std::sync::atomic::Ordering::SeqCst);
    shared.fail_pending(|_| failure.clone());
    accepted()
}
