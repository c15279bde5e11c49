//! Response bodies: whole, or streamed from a function with backpressure.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// Why a streamed body stopped early; the connection is then aborted so the
/// client never mistakes a cut-off response for a complete one.
#[derive(Debug, thiserror::Error)]
#[error("the function's response broke off: {0}")]
pub struct BodyError(pub String);

/// A response body of the proxy.
pub enum ProxyBody {
    /// A body known in full.
    Full(Option<Bytes>),
    /// A body still arriving; `Err` aborts the response.
    Stream(mpsc::Receiver<Result<Bytes, BodyError>>),
}

impl ProxyBody {
    /// A complete body.
    pub fn full(bytes: Bytes) -> Self {
        ProxyBody::Full(Some(bytes))
    }
}

impl http_body::Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ProxyBody::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            ProxyBody::Stream(rx) => rx.poll_recv(cx).map(|item| item.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ProxyBody::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            ProxyBody::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => http_body::SizeHint::with_exact(0),
            ProxyBody::Stream(_) => http_body::SizeHint::default(),
        }
    }
}
