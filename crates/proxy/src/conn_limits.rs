//! Per-connection limits that hyper has no direct knob for: the idle
//! keep-alive timeout and the request-head read timeout. A request counts
//! on its connection through a [`RequestGuard`], which its response body
//! holds until the last byte is sent.
//!
//! Each connection has one [`Activity`]: the service marks a request as
//! started when hyper hands it over and as finished when its response body
//! ends or is dropped; the IO wrapper [`Watched`] notes when the first bytes
//! of a new HTTP/1 request head arrive. The connection task waits on
//! [`Activity::expiry`] next to the connection itself and closes it
//! gracefully when idle, or at once when a head stalls.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The client preface that starts every HTTP/2 connection.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol spoken on a connection, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Not decided yet (plain listener, before the first bytes).
    Unknown,
    /// HTTP/1.x: request heads are timed.
    Http1,
    /// HTTP/2: frames flow without requests; only idleness is timed.
    Http2,
}

/// Why a connection should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No request has been in flight for the idle timeout: close gracefully.
    Idle,
    /// A request head started arriving and did not complete in time: close now.
    HeadTimeout,
}

#[derive(Debug)]
struct State {
    protocol: Protocol,
    /// Bytes of the HTTP/2 preface matched so far (while `Unknown`).
    sniffed: usize,
    in_flight: usize,
    idle_since: Instant,
    head_started: Option<Instant>,
}

/// What one connection is doing, shared by its IO, service and task.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    /// A fresh connection: idle since now.
    pub(crate) fn new(protocol: Protocol) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                protocol,
                sniffed: 0,
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The protocol as known now.
    #[cfg(test)]
    fn protocol(&self) -> Protocol {
        self.lock().protocol
    }

    /// A request reached the service; it counts until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        {
            let mut s = self.lock();
            s.in_flight += 1;
            s.head_started = None;
        }
        self.changed.notify_one();
        RequestGuard(Some(self.clone()))
    }

    fn end(&self) {
        {
            let mut s = self.lock();
            s.in_flight -= 1;
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        }
        self.changed.notify_one();
    }

    /// Bytes arrived from the client.
    fn on_read(&self, bytes: &[u8]) {
        let mut s = self.lock();
        let mut wake = false;
        if s.protocol == Protocol::Unknown {
            for &b in bytes {
                if b == H2_PREFACE[s.sniffed] {
                    s.sniffed += 1;
                    if s.sniffed == H2_PREFACE.len() {
                        s.protocol = Protocol::Http2;
                        s.head_started = None;
                        wake = true;
                        break;
                    }
                } else {
                    s.protocol = Protocol::Http1;
                    break;
                }
            }
        }
        if s.protocol != Protocol::Http2 && s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            wake = true;
        }
        drop(s);
        if wake {
            self.changed.notify_one();
        }
    }

    /// Resolves when the connection should end: after `idle` with no
    /// request in flight (only when `watch_idle`), or `header` after the
    /// first bytes of an HTTP/1 request head that has not completed.
    pub(crate) async fn expiry(&self, watch_idle: bool, idle: Duration, header: Duration) -> Expiry {
        loop {
            // Created before the state is read, so no change is missed.
            let changed = self.changed.notified();
            let next = {
                let s = self.lock();
                if let Some(started) = s.head_started {
                    Some((started + header, Expiry::HeadTimeout))
                } else if watch_idle && s.in_flight == 0 {
                    Some((s.idle_since + idle, Expiry::Idle))
                } else {
                    None
                }
            };
            match next {
                Some((deadline, expiry)) => tokio::select! {
                    biased;
                    () = changed => {}
                    () = tokio::time::sleep_until(deadline) => return expiry,
                },
                None => changed.await,
            }
        }
    }
}

/// Keeps one request counted as in flight on its connection.
#[derive(Debug)]
pub(crate) struct RequestGuard(Option<Arc<Activity>>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.end();
        }
    }
}

/// An IO stream that reports the bytes read to its connection's [`Activity`].
pub(crate) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            this.activity.on_read(new);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_protocol_and_times_only_http1_heads() {
        let a = Activity::new(Protocol::Unknown);
        a.on_read(b"PRI * HTTP/2.0\r\n");
        assert_eq!(a.protocol(), Protocol::Unknown);
        assert!(a.lock().head_started.is_some(), "a stalled partial preface is timed too");
        a.on_read(b"\r\nSM\r\n\r\n\0\0");
        assert_eq!(a.protocol(), Protocol::Http2);
        assert!(a.lock().head_started.is_none());

        let a = Activity::new(Protocol::Unknown);
        a.on_read(b"GET / HTTP/1.1\r\n");
        assert_eq!(a.protocol(), Protocol::Http1);
        assert!(a.lock().head_started.is_some());
        let g = a.begin();
        assert!(a.lock().head_started.is_none());
        a.on_read(b"body bytes");
        assert!(a.lock().head_started.is_none(), "body bytes of a request in flight are not a head");
        drop(g);
        assert_eq!(a.lock().in_flight, 0);
    }

    #[tokio::test]
    async fn expires_when_idle_or_when_a_head_stalls() {
        let a = Activity::new(Protocol::Http1);
        let g = a.begin();
        let short = Duration::from_millis(20);
        drop(g);
        assert_eq!(a.expiry(true, short, short).await, Expiry::Idle);
        a.on_read(b"GE");
        assert_eq!(a.expiry(false, short, short).await, Expiry::HeadTimeout);
    }
}
