//! Limits and timeouts that keep one client, or many, from tying the proxy up.

use std::time::Duration;

/// Every limit of the proxy; all are settings, with the defaults below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Largest request body passed to a function (Lambda's own limit is 6 MiB).
    pub max_body_bytes: usize,
    /// Time a client has to send the whole request head.
    pub header_read_timeout: Duration,
    /// Time a client has to send the whole request body.
    pub body_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Duration,
    /// Longest time one function invocation may take, response included.
    pub invoke_timeout: Duration,
    /// Requests served at once; beyond this, new requests get a fast 503.
    pub max_in_flight: usize,
    /// Request-body bytes held at once (a request reserves its
    /// `Content-Length`, or the body limit when it has none, until its
    /// invocation is sent); beyond this, new requests with a body get a
    /// fast 503. The default suits a task with 1 GiB of memory.
    pub max_body_bytes_in_flight: usize,
    /// Largest response head (status line and headers) passed on from a
    /// function; larger ones become 502 `invalid_response` (an ALB refuses
    /// heads over 32 KiB).
    pub max_response_head_bytes: usize,
    /// Largest function answer without a streaming prelude (Lambda's
    /// buffered payload limit).
    pub max_buffered_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_body_bytes: 6 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            invoke_timeout: Duration::from_secs(900),
            max_in_flight: 1024,
            max_body_bytes_in_flight: 256 * 1024 * 1024,
            max_response_head_bytes: 32 * 1024,
            max_buffered_response_bytes: 6 * 1024 * 1024,
        }
    }
}
