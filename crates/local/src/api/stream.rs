//! InvokeWithResponseStream: the function's response as it is produced,
//! framed as `application/vnd.amazon.eventstream` with `PayloadChunk`
//! events and a final `InvokeComplete`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_smithy_types::event_stream::{Header, HeaderValue as EsHeaderValue, Message};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

use super::functions::{QualifierQuery, resolve};
use super::invoke::{invocation_type, read_payload, spec};
use crate::error::{ApiError, ErrorKind};
use crate::sandbox::{FunctionFailure, InvokeRequest, Outcome, StreamItem};
use crate::service::Service;

/// Encodes one event-stream message.
fn frame(event_type: &'static str, content_type: &'static str, payload: Bytes) -> Bytes {
    let message = Message::new_from_parts(
        vec![
            Header::new(":event-type", EsHeaderValue::String(event_type.into())),
            Header::new(":message-type", EsHeaderValue::String("event".into())),
            Header::new(":content-type", EsHeaderValue::String(content_type.into())),
        ],
        payload,
    );
    let mut out = Vec::with_capacity(message.payload().len() + 96);
    // Writing to a Vec cannot fail; only oversized headers could, and these are fixed.
    if let Err(e) = aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        tracing::error!(error = %e, "event-stream framing failed");
    }
    Bytes::from(out)
}

fn payload_chunk(data: Bytes) -> Bytes {
    frame("PayloadChunk", "application/octet-stream", data)
}

fn invoke_complete(failure: Option<&FunctionFailure>) -> Bytes {
    let doc = match failure {
        None => serde_json::json!({}),
        Some(f) => {
            serde_json::json!({ "ErrorCode": f.error_type, "ErrorDetails": String::from_utf8_lossy(&f.payload) })
        }
    };
    frame("InvokeComplete", "application/json", Bytes::from(doc.to_string()))
}

/// The response body: chunks framed as they arrive, then `InvokeComplete`.
struct EventStreamBody {
    source: Source,
    finished: bool,
}

enum Source {
    /// A finished outcome, sent as (at most) one chunk and the completion.
    Ready(Vec<Bytes>),
    /// A live stream from the runtime.
    Live(mpsc::Receiver<StreamItem>),
}

impl http_body::Body for EventStreamBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match &mut self.source {
            Source::Ready(frames) => {
                if frames.is_empty() {
                    self.finished = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(Frame::data(frames.remove(0)))))
            }
            Source::Live(rx) => match rx.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(StreamItem::Chunk(c))) => Poll::Ready(Some(Ok(Frame::data(payload_chunk(c))))),
                Poll::Ready(Some(StreamItem::End)) => {
                    self.finished = true;
                    Poll::Ready(Some(Ok(Frame::data(invoke_complete(None)))))
                }
                Poll::Ready(Some(StreamItem::Failed(f))) => {
                    self.finished = true;
                    Poll::Ready(Some(Ok(Frame::data(invoke_complete(Some(&f))))))
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    let f = FunctionFailure::platform(
                        ownstak_core::lambda::error_type::RUNTIME_EXIT_ERROR,
                        "the response stream was cut off",
                    );
                    Poll::Ready(Some(Ok(Frame::data(invoke_complete(Some(&f))))))
                }
            },
        }
    }
}

pub(super) async fn invoke_stream(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (f, version, qualifier) = resolve(&svc, &name, q.qualifier.as_deref())?;
    let payload = read_payload(&svc, body).await?;
    let spec = spec(&svc, &f, &version, qualifier.as_deref());
    match invocation_type(&headers) {
        "RequestResponse" => {}
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid InvocationType for a streaming invoke: {other} (use RequestResponse or DryRun)"
            )));
        }
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let outcome = svc
        .pool
        .invoke(InvokeRequest { spec, request_id: request_id.clone(), payload })
        .await
        .map_err(|t| ApiError::new(ErrorKind::TooManyRequests, t.to_string()))?;
    let mut content_type = "application/octet-stream".to_owned();
    let source = match outcome {
        Outcome::Success(p) => Source::Ready(vec![payload_chunk(p), invoke_complete(None)]),
        Outcome::Failure(f) => Source::Ready(vec![invoke_complete(Some(&f))]),
        Outcome::Stream(s) => {
            if let Some(ct) = s.content_type {
                content_type = ct;
            }
            Source::Live(s.items)
        }
    };
    let mut resp = Body::new(EventStreamBody { source, finished: false }).into_response();
    let h = resp.headers_mut();
    // The body is event-stream framed; `Content-Type` carries the function's
    // own stream type, which the SDK reports as `ResponseStreamContentType`.
    h.insert(
        "content-type",
        HeaderValue::from_str(&content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&version.version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    Ok(resp)
}
