//! Response bodies: whole, streamed from a function's events, or streamed
//! from the asset store, each pulled by hyper as the client reads (the
//! backpressure reaches the function or the store, and nothing is
//! buffered in between). A body also carries its request's
//! [`RequestScope`], which ends when the last byte is sent or the body is
//! dropped, so the request stays counted (and its access-log line waits)
//! for exactly as long as it is being answered. A body may also carry a
//! cache [`Recorder`], which keeps each chunk as it is sent and stores the
//! answer once the body completes, and a [`Compressor`] that encodes a
//! streamed body chunk by chunk (each flushed) before it is sent and
//! recorded.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::Frame;
use ownstak_assets::AssetBody;

use crate::cache::Recorder;
use crate::compress::Compressor;
use crate::response::EventBody;
use crate::scope::RequestScope;

/// Why a streamed body stopped early; the connection is then aborted so the
/// client never mistakes a cut-off response for a complete one.
#[derive(Debug, thiserror::Error)]
#[error("the response broke off: {0}")]
pub(crate) struct BodyError(pub String);

/// A response body of the proxy.
pub(crate) struct ProxyBody {
    source: Source,
    scope: Option<RequestScope>,
    recorder: Option<Recorder>,
    compressor: Option<Compressor>,
    sent: u64,
}

enum Source {
    /// A body known in full (`None` once sent).
    Full(Option<Bytes>),
    /// A function's streamed response.
    Events(Box<EventBody>),
    /// An object from the asset store.
    Asset(AssetBody),
}

impl ProxyBody {
    /// A complete body.
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self::from_source(Source::Full(Some(bytes).filter(|b| !b.is_empty())))
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        Self::from_source(Source::Full(None))
    }

    /// A function's response, still arriving.
    pub(crate) fn events(body: EventBody) -> Self {
        Self::from_source(Source::Events(Box::new(body)))
    }

    /// An object from the asset store.
    pub(crate) fn asset(body: AssetBody) -> Self {
        if body.is_empty() { Self::empty() } else { Self::from_source(Source::Asset(body)) }
    }

    fn from_source(source: Source) -> Self {
        Self { source, scope: None, recorder: None, compressor: None, sent: 0 }
    }

    /// Makes the body carry `scope` until it ends.
    pub(crate) fn attach(&mut self, scope: RequestScope) {
        self.scope = Some(scope);
        if matches!(self.source, Source::Full(None)) {
            self.finish();
        }
    }

    /// The body's length when it is known in full.
    pub(crate) fn known_len(&self) -> Option<usize> {
        match &self.source {
            Source::Full(b) => Some(b.as_ref().map_or(0, Bytes::len)),
            Source::Events(_) | Source::Asset(_) => None,
        }
    }

    /// Encodes a function's body with `compressor`: a body known in full at
    /// once, a streamed one chunk by chunk. `false` when it was left as it
    /// is (an empty body, an asset, or an encoder failure).
    pub(crate) fn compress(&mut self, compressor: Compressor) -> bool {
        match &mut self.source {
            Source::Full(Some(bytes)) => match compressor.whole(bytes) {
                Ok(encoded) => {
                    *bytes = encoded;
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "compression failed; the answer is sent as it is");
                    false
                }
            },
            Source::Events(_) => {
                self.compressor = Some(compressor);
                true
            }
            Source::Full(None) | Source::Asset(_) => false,
        }
    }

    /// Stores the body in the cache as it is sent: at once for a body
    /// known in full, else when the last chunk has gone out.
    pub(crate) fn record(&mut self, mut recorder: Recorder) {
        match &self.source {
            Source::Full(bytes) => {
                if bytes.as_ref().is_none_or(|b| recorder.push(b)) {
                    recorder.complete();
                }
            }
            Source::Events(_) | Source::Asset(_) => self.recorder = Some(recorder),
        }
    }

    /// Ends the request's scope with the bytes sent so far.
    fn finish(&mut self) {
        if let Some(scope) = self.scope.take() {
            scope.finish(self.sent);
        }
    }
}

impl http_body::Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let next = loop {
            let next = match &mut this.source {
                Source::Full(b) => b.take().map(Ok),
                Source::Events(body) => ready!(body.poll_chunk(cx)),
                Source::Asset(body) => {
                    ready!(Pin::new(body).poll_next(cx)).map(|r| r.map_err(|e| BodyError(e.to_string())))
                }
            };
            let Some(compressor) = &mut this.compressor else { break next };
            match next {
                Some(Ok(chunk)) => match compressor.chunk(&chunk) {
                    // The encoder kept everything for now: read on.
                    Ok(encoded) if encoded.is_empty() => {}
                    Ok(encoded) => break Some(Ok(encoded)),
                    Err(e) => {
                        this.compressor = None;
                        break Some(Err(BodyError(format!("compression failed: {e}"))));
                    }
                },
                // The encoder's last bytes come before the end.
                None => match this.compressor.take().map(Compressor::finish) {
                    Some(Ok(tail)) if !tail.is_empty() => break Some(Ok(tail)),
                    Some(Err(e)) => break Some(Err(BodyError(format!("compression failed: {e}")))),
                    _ => break None,
                },
                Some(Err(e)) => {
                    this.compressor = None;
                    break Some(Err(e));
                }
            }
        };
        match &next {
            Some(Ok(chunk)) => {
                let whole = this.recorder.as_mut().map(|r| r.push(chunk).then(|| r.is_whole()));
                match whole {
                    Some(None) => this.recorder = None,
                    Some(Some(true)) => {
                        if let Some(recorder) = this.recorder.take() {
                            recorder.complete();
                        }
                    }
                    _ => {}
                }
                this.sent += chunk.len() as u64;
                if matches!(this.source, Source::Full(None)) {
                    this.finish();
                }
            }
            None => {
                if let Some(recorder) = this.recorder.take() {
                    recorder.complete();
                }
                this.finish();
            }
            // A failure aborts the response; nothing is stored.
            Some(Err(_)) => {
                this.recorder = None;
                this.finish();
            }
        }
        Poll::Ready(next.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.source, Source::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.source {
            Source::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Source::Full(None) => http_body::SizeHint::with_exact(0),
            Source::Events(_) | Source::Asset(_) => http_body::SizeHint::default(),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // A client that went away, or hyper dropping a body it never polled.
        self.finish();
    }
}
