//! A function's answer as an HTTP response: a buffered payload decoded
//! whole, or a streamed one whose head is read first and whose body then
//! flows to the client as the function writes it ([`EventBody`]).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};
use ownstak_core::lambda::error_type;
use ownstak_core::{Decoded, PreludeDecoder, StreamError};

use crate::body::{BodyError, ProxyBody};
use crate::failure::{Failure, FailureKind};
use crate::invoker::{FunctionError, Invoked, ResponseEvents, StreamEvent};

/// Most body bytes gathered from already-arrived events before streaming:
/// a small response that arrived whole is answered in one write with a
/// `Content-Length`.
const COALESCE_LIMIT: usize = 256 * 1024;

/// The limits a function's answer must keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerLimits {
    /// Largest response head (status line and headers) passed on.
    pub(crate) head_bytes: usize,
    /// Largest answer without a streaming prelude (a buffered payload).
    pub(crate) buffered_bytes: usize,
}

/// The response for a buffered invocation's result.
pub(crate) fn from_invoked(invoked: Invoked, limits: AnswerLimits) -> Result<Response<ProxyBody>, Failure> {
    let payload = match invoked {
        Invoked::Payload(p) => p,
        Invoked::Failed(e) => return Err(function_failure(e)),
    };
    // A buffered payload is an API Gateway v2 response or, from a function
    // that streams, a prelude and body received whole.
    let (status, headers, body) = ownstak_core::decode_whole(&payload).map_err(malformed)?;
    build(status, headers, ProxyBody::full(body), limits)
}

/// Reads the response head from the events; the body then streams to the
/// client as it arrives, until `deadline`.
pub(crate) async fn from_events(
    mut events: ResponseEvents,
    deadline: Instant,
    limits: AnswerLimits,
) -> Result<Response<ProxyBody>, Failure> {
    let mut decoder = PreludeDecoder::new(limits.buffered_bytes);
    let (status, headers, first) = loop {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await.map_err(|_| {
            Failure::new(FailureKind::FunctionTimeout, "the function did not answer within the proxy's invoke limit")
                .with_function_error("Proxy.InvokeTimeout")
        })?;
        match next {
            Some(Ok(StreamEvent::Chunk(c))) => match decoder.push(&c).map_err(malformed)? {
                Decoded::NeedMore => {}
                Decoded::Head { status, headers, body } => break (status, headers, body),
            },
            Some(Ok(StreamEvent::Completed)) => {
                let (status, headers, body) = decoder.finish().map_err(malformed)?;
                return build(status, headers, ProxyBody::full(body), limits);
            }
            Some(Ok(StreamEvent::Failed(e))) => return Err(function_failure(e)),
            None => return Err(cut_off("the response ended before its head")),
            Some(Err(e)) => return Err(cut_off(&e)),
        }
    };
    // What has already arrived is taken without waiting, so that a complete
    // small response goes out whole (and a failure right after the head is
    // still a clean error page), while one still being produced streams.
    let mut ready = BytesMut::from(&first[..]);
    while ready.len() < COALESCE_LIMIT {
        let Some(next) = ready_now(events.next()) else { break };
        match next {
            Some(Ok(StreamEvent::Chunk(c))) => ready.extend_from_slice(&c),
            Some(Ok(StreamEvent::Completed)) => return build(status, headers, ProxyBody::full(ready.freeze()), limits),
            Some(Ok(StreamEvent::Failed(e))) => return Err(function_failure(e)),
            None => return Err(cut_off("the stream ended without completion")),
            Some(Err(e)) => return Err(cut_off(&e)),
        }
    }
    let body = EventBody {
        events,
        first: Some(ready.freeze()).filter(|b| !b.is_empty()),
        deadline: deadline_sleep(deadline),
        done: false,
    };
    build(status, headers, ProxyBody::events(body), limits)
}

/// A function's response body still arriving as events. A failure, a
/// stream that ends without completing, or the invoke deadline ends the
/// body with an error, which aborts the response.
pub(crate) struct EventBody {
    events: ResponseEvents,
    first: Option<Bytes>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl EventBody {
    /// The next body chunk; `None` once the function completed.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(BodyError("the function exceeded the proxy's invoke limit".to_owned()))));
        }
        let item = match ready!(self.events.poll_next(cx)) {
            Some(Ok(StreamEvent::Chunk(c))) => return Poll::Ready(Some(Ok(c))),
            Some(Ok(StreamEvent::Completed)) => None,
            Some(Ok(StreamEvent::Failed(e))) => {
                tracing::warn!(error_type = %e.error_type, message = e.message.as_deref().unwrap_or(""), "function failed mid-stream");
                Some(Err(BodyError(format!("{}: {}", e.error_type, e.message.unwrap_or_default()))))
            }
            None => Some(Err(BodyError("the stream ended without completion".to_owned()))),
            Some(Err(e)) => Some(Err(BodyError(e))),
        };
        self.done = true;
        Poll::Ready(item)
    }
}

fn deadline_sleep(deadline: Instant) -> Pin<Box<tokio::time::Sleep>> {
    Box::pin(tokio::time::sleep_until(deadline.into()))
}

/// The future's output if it is ready at the first poll; it is dropped
/// otherwise (the event stream keeps what it has read, so nothing is lost).
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// The response with the function's status and end-to-end headers, if its
/// head is within the limit.
fn build(
    status: StatusCode,
    mut headers: HeaderMap,
    body: ProxyBody,
    limits: AnswerLimits,
) -> Result<Response<ProxyBody>, Failure> {
    ownstak_core::strip_hop_by_hop(&mut headers);
    let declared = headers
        .remove(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()));
    let size = head_size(&headers);
    if size > limits.head_bytes {
        return Err(Failure::new(
            FailureKind::InvalidResponse,
            format!("the function's response head is {size} bytes, over the limit of {} bytes", limits.head_bytes),
        ));
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if let Some(length) = declared {
        resp.extensions_mut().insert(DeclaredLength(length));
    }
    Ok(resp)
}

/// The `Content-Length` a function declared (the proxy sets its own, or
/// streams); a hint for decisions such as whether to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeclaredLength(pub(crate) u64);

/// The size of a response head on the wire (HTTP/1.1: `name: value\r\n`
/// per header, plus the status line).
fn head_size(headers: &HeaderMap) -> usize {
    headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>() + "HTTP/1.1 200 OK\r\n\r\n".len()
}

/// The answer when the function failed.
pub(crate) fn function_failure(e: FunctionError) -> Failure {
    let (kind, text) = if error_type::is_timeout(&e.error_type) {
        (FailureKind::FunctionTimeout, "the function did not answer within its timeout")
    } else {
        (FailureKind::FunctionError, "the function failed while handling the request")
    };
    let detail = match &e.message {
        Some(m) => format!("{text}: {}: {m}", e.error_type),
        None => format!("{text}: {}", e.error_type),
    };
    Failure::new(kind, detail).with_function_error(e.error_type)
}

fn malformed(e: StreamError) -> Failure {
    Failure::new(FailureKind::MalformedResponse, format!("the function returned a malformed response: {e}"))
}

fn cut_off(detail: &str) -> Failure {
    Failure::new(FailureKind::ResponseCutOff, format!("the function's response broke off: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AnswerLimits = AnswerLimits { head_bytes: 32 * 1024, buffered_bytes: 6 * 1024 * 1024 };

    #[test]
    fn maps_function_errors() {
        let f = function_failure(FunctionError {
            error_type: error_type::SANDBOX_TIMEDOUT.into(),
            message: Some("Task timed out after 3.00 seconds".into()),
        });
        assert_eq!(f.kind, FailureKind::FunctionTimeout);
        assert_eq!(f.function_error.as_deref(), Some(error_type::SANDBOX_TIMEDOUT));
        let f = function_failure(FunctionError { error_type: error_type::RUNTIME_EXIT_ERROR.into(), message: None });
        assert_eq!(f.kind, FailureKind::FunctionError);
    }

    #[test]
    fn decodes_buffered_payloads() {
        assert!(from_invoked(Invoked::Payload(Bytes::from_static(b"not json")), LIMITS).is_err());
        let ok = from_invoked(
            Invoked::Payload(Bytes::from_static(
                br#"{"statusCode":201,"headers":{"content-length":"999","x-a":"1","connection":"x-a"},"body":"hi"}"#,
            )),
            LIMITS,
        )
        .unwrap();
        assert_eq!(ok.status(), 201);
        assert!(ok.headers().get("content-length").is_none());
        assert!(ok.headers().get("x-a").is_none(), "named by Connection: hop-by-hop");
    }

    #[test]
    fn a_head_over_the_limit_is_an_invalid_response() {
        let big = "x".repeat(40 * 1024);
        let payload = format!(r#"{{"statusCode":200,"headers":{{"x-big":"{big}"}},"body":""}}"#);
        let Err(err) = from_invoked(Invoked::Payload(Bytes::from(payload)), LIMITS) else { panic!("accepted") };
        assert_eq!(err.kind, FailureKind::InvalidResponse);
    }
}
