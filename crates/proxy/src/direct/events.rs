//! The body of an `InvokeWithResponseStream` answer: event-stream frames
//! (decoded with `aws-smithy-eventstream`) read as the HTTP body arrives,
//! turned into [`StreamEvent`]s without waiting for the whole response.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::Bytes;
use bytes_utils::SegmentedBuf;
use futures_util::Stream;
use http_body::Body;
use hyper::body::Incoming;

use crate::invoker::{FunctionError, StreamEvent};

/// The events of one streamed invocation's HTTP body.
pub(crate) struct EventStreamBody {
    body: Incoming,
    buffered: SegmentedBuf<Bytes>,
    decoder: MessageFrameDecoder,
    done: bool,
}

impl EventStreamBody {
    /// Reads events from `body`.
    pub(crate) fn new(body: Incoming) -> Self {
        Self { body, buffered: SegmentedBuf::new(), decoder: MessageFrameDecoder::new(), done: false }
    }
}

impl Stream for EventStreamBody {
    type Item = Result<StreamEvent, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.decode_frame(&mut this.buffered) {
                Ok(DecodedFrame::Complete(message)) => match event(&message) {
                    Some(Ok(event)) => {
                        this.done = !matches!(event, StreamEvent::Chunk(_));
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Some(Err(e)) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => continue,
                },
                Ok(DecodedFrame::Incomplete) => {}
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(format!("malformed event stream: {e}"))));
                }
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        this.buffered.push(data);
                    }
                }
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(format!("the event stream broke off: {e}"))));
                }
                // The end, without InvokeComplete: the reader sees a cut-off stream.
                None => {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// The event a message carries; `None` for events of no interest (an
/// empty chunk, or an event type added after this was written).
fn event(message: &Message) -> Option<Result<StreamEvent, String>> {
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    };
    match (header(":message-type"), header(":event-type")) {
        (Some("event"), Some("PayloadChunk")) => {
            let payload = message.payload();
            (!payload.is_empty()).then(|| Ok(StreamEvent::Chunk(payload.clone())))
        }
        (Some("event"), Some("InvokeComplete")) => Some(Ok(complete(message.payload()))),
        (Some("exception"), _) => {
            let kind = header(":exception-type").unwrap_or("exception");
            Some(Err(format!("{kind}: {}", String::from_utf8_lossy(message.payload()))))
        }
        _ => None,
    }
}

/// `InvokeComplete`: success, or the function's error.
fn complete(payload: &[u8]) -> StreamEvent {
    #[derive(serde::Deserialize)]
    struct Complete {
        #[serde(rename = "ErrorCode")]
        error_code: Option<String>,
        #[serde(rename = "ErrorDetails")]
        error_details: Option<String>,
    }
    let parsed: Complete =
        serde_json::from_slice(payload).unwrap_or(Complete { error_code: None, error_details: None });
    match parsed.error_code.filter(|c| !c.is_empty()) {
        None => StreamEvent::Completed,
        Some(error_type) => {
            let details = parsed.error_details.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&details)
                .ok()
                .and_then(|d| d.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned))
                .or(Some(details).filter(|d| !d.is_empty()));
            StreamEvent::Failed(FunctionError { error_type, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue};

    fn frame(event_type: &str, payload: &[u8]) -> Vec<u8> {
        let message = Message::new(Bytes::copy_from_slice(payload))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
            .add_header(Header::new(":event-type", HeaderValue::String(event_type.to_owned().into())));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn decodes_chunks_and_completion() {
        let mut d = MessageFrameDecoder::new();
        let mut buf = SegmentedBuf::new();
        let mut all = frame("PayloadChunk", b"hello");
        all.extend(frame(
            "InvokeComplete",
            br#"{"ErrorCode":"Runtime.ExitError","ErrorDetails":"{\"errorMessage\":\"boom\"}"}"#,
        ));
        // Fed a byte at a time, as a slow network would.
        let mut events = Vec::new();
        for b in all {
            buf.push(Bytes::copy_from_slice(&[b]));
            while let Ok(DecodedFrame::Complete(m)) = d.decode_frame(&mut buf) {
                events.extend(event(&m));
            }
        }
        assert!(matches!(&events[0], Ok(StreamEvent::Chunk(c)) if c.as_ref() == b"hello"));
        assert!(
            matches!(&events[1], Ok(StreamEvent::Failed(e)) if e.error_type == "Runtime.ExitError" && e.message.as_deref() == Some("boom"))
        );
        assert!(matches!(complete(br#"{}"#), StreamEvent::Completed));
    }
}
