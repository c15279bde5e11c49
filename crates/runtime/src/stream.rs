//! The body of a streamed function response: the prelude, then the app's
//! body frame by frame as it arrives, then — only if the app's body broke
//! off — the error trailers.
//!
//! [`ResponseStream`] reads the app's body only when hyper asks for the
//! next frame of the upload, so the Runtime API's pace (TCP backpressure)
//! bounds how much of the body is in memory: one frame at a time, never
//! the whole body.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use crate::error::{ErrorReport, StreamError};
use ownstak_core::Prelude;

/// The trailer naming the error type of a broken-off stream.
pub(crate) const ERROR_TYPE_TRAILER: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");
/// The trailer carrying the base64 JSON error body of a broken-off stream.
pub(crate) const ERROR_BODY_TRAILER: HeaderName = HeaderName::from_static("lambda-runtime-function-error-body");
/// The `Trailer` request header announcing both error trailers (hyper sends only announced trailers).
pub(crate) const TRAILER_ANNOUNCEMENT: &str = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body";

/// How a streamed response ended.
#[derive(Debug)]
pub enum StreamOutcome {
    /// The app's whole body was forwarded.
    Complete {
        /// The body bytes forwarded.
        bytes: u64,
    },
    /// The app's body broke off; the upload ended with error trailers.
    Failed(StreamError),
}

/// Learns how a [`ResponseStream`] ended, once the upload is over.
#[derive(Debug)]
pub struct OutcomeReceiver(oneshot::Receiver<StreamOutcome>);

impl OutcomeReceiver {
    /// The outcome, or `None` when the stream was dropped before its end
    /// (the upload to the Runtime API was interrupted).
    pub fn outcome(mut self) -> Option<StreamOutcome> {
        self.0.try_recv().ok()
    }
}

/// The error trailers for a broken-off stream: the error type, and the
/// report's JSON in base64.
pub(crate) fn error_trailers(report: &ErrorReport) -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    // Invariant: error types are ASCII `Category.Reason` constants and base64 is ASCII,
    // so both are valid header values; a failure would only drop the trailer.
    if let Ok(value) = HeaderValue::from_str(&report.error_type) {
        trailers.insert(ERROR_TYPE_TRAILER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&BASE64.encode(report.to_json())) {
        trailers.insert(ERROR_BODY_TRAILER, value);
    }
    trailers
}

/// The upload body of a streamed response (see the module docs). It never
/// fails: a broken app body becomes the error trailers.
pub struct ResponseStream<B = Incoming> {
    /// The prelude and delimiter, until sent.
    prelude: Option<Bytes>,
    /// A frame read together with the prelude but sent after it (the error trailers).
    held: Option<Frame<Bytes>>,
    /// The app's body, until it ends or fails.
    body: Option<B>,
    deadline: Option<Pin<Box<Sleep>>>,
    port: u16,
    bytes: u64,
    outcome: Option<oneshot::Sender<StreamOutcome>>,
}

impl<B> std::fmt::Debug for ResponseStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").field("port", &self.port).field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

impl<B> ResponseStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A stream of `prelude`, then `body` (from the app on `port`) until it
    /// ends or `deadline` passes; and the receiver of how it ended.
    pub fn new(prelude: &Prelude, body: B, port: u16, deadline: Option<Instant>) -> (Self, OutcomeReceiver) {
        let (tx, rx) = oneshot::channel();
        let stream = Self {
            prelude: Some(prelude.encode()),
            held: None,
            body: Some(body),
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            port,
            bytes: 0,
            outcome: Some(tx),
        };
        (stream, OutcomeReceiver(rx))
    }

    fn finish(&mut self, outcome: StreamOutcome) {
        self.body = None;
        if let Some(tx) = self.outcome.take() {
            // The receiver may be gone; the outcome is then of no interest.
            let _ = tx.send(outcome);
        }
    }

    fn fail(&mut self, err: StreamError) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
        let trailers = error_trailers(&err.report());
        self.finish(StreamOutcome::Failed(err));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

impl<B> Body for ResponseStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(prelude) = this.prelude.take() {
            // The body's first bytes travel with the prelude when they are
            // already here: one frame (one chunk, one event downstream)
            // for a response that is ready at once. Nothing waits for them.
            let first = match this.poll_body(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => data,
                    Err(trailers) => {
                        this.held = Some(trailers);
                        Bytes::new()
                    }
                },
                Poll::Ready(None) | Poll::Pending => Bytes::new(),
            };
            if first.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(prelude))));
            }
            let mut joined = bytes::BytesMut::with_capacity(prelude.len() + first.len());
            joined.extend_from_slice(&prelude);
            joined.extend_from_slice(&first);
            return Poll::Ready(Some(Ok(Frame::data(joined.freeze()))));
        }
        if let Some(frame) = this.held.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        this.poll_body(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prelude.is_none() && self.held.is_none() && self.body.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B> ResponseStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// The next frame of the app's body: data, the error trailers when it
    /// broke off or outlived the deadline, or the end.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
        let this = self;
        loop {
            let Some(body) = this.body.as_mut() else { return Poll::Ready(None) };
            if let Some(deadline) = this.deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return this.fail(StreamError::Deadline { port: this.port, bytes: this.bytes });
            }
            match ready!(Pin::new(body).poll_frame(cx)) {
                None => {
                    this.finish(StreamOutcome::Complete { bytes: this.bytes });
                    return Poll::Ready(None);
                }
                Some(Err(err)) => {
                    return this.fail(StreamError::AppBody { port: this.port, bytes: this.bytes, source: err.into() });
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        this.bytes += data.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    // The app's own trailers have no place in the prelude format.
                    Err(_trailers) => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::future::poll_fn;

    use std::time::Duration;

    use http::StatusCode;

    /// A body that yields scripted frames, pending forever after them unless `end`.
    struct Scripted {
        frames: VecDeque<Result<Frame<Bytes>, std::io::Error>>,
        end: bool,
    }

    impl Body for Scripted {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.frames.pop_front() {
                Some(frame) => Poll::Ready(Some(frame)),
                None if self.end => Poll::Ready(None),
                None => Poll::Pending,
            }
        }
    }

    fn scripted(frames: Vec<Result<Frame<Bytes>, std::io::Error>>, end: bool) -> Scripted {
        Scripted { frames: frames.into(), end }
    }

    fn data(s: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    async fn next<B>(stream: &mut ResponseStream<B>) -> Option<Frame<Bytes>>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        poll_fn(|cx| Pin::new(&mut *stream).poll_frame(cx)).await.map(|f| f.unwrap_or_else(|never| match never {}))
    }

    fn prelude() -> Prelude {
        Prelude::from_head(StatusCode::OK, &HeaderMap::new())
    }

    #[tokio::test]
    async fn forwards_prelude_then_frames_and_ends_cleanly() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-app-trailer", HeaderValue::from_static("ignored"));
        let body = scripted(vec![data("first"), data(""), data("second"), Ok(Frame::trailers(trailers))], true);
        let (mut stream, outcome) = ResponseStream::new(&prelude(), body, 3000, None);
        // Body bytes already there travel in the prelude's frame.
        let first = next(&mut stream).await.unwrap().into_data().unwrap();
        let mut expected = prelude().encode().to_vec();
        expected.extend_from_slice(b"first");
        assert_eq!(first, expected);
        assert!(expected.starts_with(b"{\"statusCode\":200"));
        assert_eq!(next(&mut stream).await.unwrap().into_data().unwrap(), "second");
        assert!(next(&mut stream).await.is_none());
        assert!(stream.is_end_stream());
        assert!(matches!(outcome.outcome(), Some(StreamOutcome::Complete { bytes: 11 })));
    }

    #[tokio::test]
    async fn a_broken_body_ends_with_error_trailers() {
        let body = scripted(vec![data("part"), Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))], true);
        let (mut stream, outcome) = ResponseStream::new(&prelude(), body, 3000, None);
        assert!(next(&mut stream).await.unwrap().into_data().unwrap().ends_with(b"part"));
        let trailers = next(&mut stream).await.unwrap().into_trailers().unwrap();
        assert!(next(&mut stream).await.is_none());
        assert_eq!(trailers[ERROR_TYPE_TRAILER], "Runtime.AppError");
        let json = BASE64.decode(trailers[ERROR_BODY_TRAILER].as_bytes()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["errorType"], "Runtime.AppError");
        assert_eq!(
            json["errorMessage"],
            "the app on port 3000 broke off its response body after 4 bytes: connection reset"
        );
        match outcome.outcome() {
            Some(StreamOutcome::Failed(err)) => assert!(err.is_app_failure()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_deadline_ends_a_stalled_body_with_a_timeout() {
        let body = scripted(vec![data("slow")], false);
        let deadline = Instant::now() + Duration::from_millis(20);
        let (mut stream, outcome) = ResponseStream::new(&prelude(), body, 3000, Some(deadline));
        assert!(next(&mut stream).await.unwrap().into_data().unwrap().ends_with(b"slow"));
        let trailers = next(&mut stream).await.unwrap().into_trailers().unwrap();
        assert_eq!(trailers[ERROR_TYPE_TRAILER], "Runtime.AppTimeout");
        match outcome.outcome() {
            Some(StreamOutcome::Failed(err @ StreamError::Deadline { bytes: 4, .. })) => assert!(!err.is_app_failure()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_not_ready_yet_leaves_the_prelude_alone_and_a_failure_follows_it() {
        let (mut stream, _) = ResponseStream::new(&prelude(), scripted(vec![], false), 3000, None);
        assert_eq!(next(&mut stream).await.unwrap().into_data().unwrap(), prelude().encode());
        let body = scripted(vec![Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))], true);
        let (mut stream, outcome) = ResponseStream::new(&prelude(), body, 3000, None);
        assert_eq!(next(&mut stream).await.unwrap().into_data().unwrap(), prelude().encode());
        assert!(!stream.is_end_stream(), "the held trailers are still to come");
        let trailers = next(&mut stream).await.unwrap().into_trailers().unwrap();
        assert_eq!(trailers[ERROR_TYPE_TRAILER], "Runtime.AppError");
        assert!(next(&mut stream).await.is_none());
        assert!(matches!(outcome.outcome(), Some(StreamOutcome::Failed(_))));
    }

    #[test]
    fn a_dropped_stream_has_no_outcome() {
        let (stream, outcome) = ResponseStream::new(&prelude(), scripted(vec![], true), 3000, None);
        drop(stream);
        assert!(outcome.outcome().is_none());
    }
}
