//! Client of the Lambda Runtime API (`/2018-06-01/runtime/...`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, TRAILER, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Either, Full};

use crate::conn::Connection;
use crate::error::{ConnError, ErrorReport, RuntimeApiError};
use crate::stream::{ResponseStream, TRAILER_ANNOUNCEMENT};

/// The Runtime API's path prefix.
pub(crate) const API_PREFIX: &str = "/2018-06-01/runtime";
/// Header with the invocation's request id.
pub(crate) const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
/// Header with the invocation's deadline in epoch milliseconds.
pub(crate) const DEADLINE_HEADER: &str = "lambda-runtime-deadline-ms";
/// Header with the invoked function's ARN.
pub(crate) const FUNCTION_ARN_HEADER: &str = "lambda-runtime-invoked-function-arn";
/// Header with the X-Ray trace id.
pub(crate) const TRACE_ID_HEADER: &str = "lambda-runtime-trace-id";
/// Header carrying the error type of an error report.
pub(crate) const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// Header that marks a response upload as streamed.
pub(crate) const RESPONSE_MODE_HEADER: &str = "lambda-runtime-function-response-mode";

/// A request body to the Runtime API: a whole document, or a streamed response.
pub(crate) type UploadBody = Either<Full<Bytes>, ResponseStream>;

/// One invocation, as `invocation/next` delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The request id, used in the response path.
    pub request_id: String,
    /// The deadline in epoch milliseconds, when the Runtime API sent one.
    pub deadline_ms: Option<u64>,
    /// The invoked function's ARN.
    pub function_arn: Option<String>,
    /// The X-Ray trace id.
    pub trace_id: Option<String>,
    /// The event payload.
    pub payload: Bytes,
}

impl Invocation {
    /// Reads an invocation from the head and body of an `invocation/next` response.
    pub fn from_parts(headers: &HeaderMap, payload: Bytes) -> Result<Self, RuntimeApiError> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id =
            text(REQUEST_ID_HEADER).filter(|id| !id.is_empty()).ok_or(RuntimeApiError::MissingRequestId)?;
        // The id goes into a URL path; refuse anything that would change the path.
        if !ownstak_core::valid_request_id(&request_id) {
            return Err(RuntimeApiError::InvalidRequestId(request_id));
        }
        Ok(Self {
            request_id,
            deadline_ms: text(DEADLINE_HEADER).and_then(|d| d.trim().parse().ok()),
            function_arn: text(FUNCTION_ARN_HEADER),
            trace_id: text(TRACE_ID_HEADER),
            payload,
        })
    }

    /// The time left until the deadline at `now` (zero once passed), or `None` without a deadline.
    pub fn time_left(&self, now: SystemTime) -> Option<Duration> {
        self.deadline_ms.map(|deadline| time_left(deadline, now))
    }
}

/// The time from `now` until `deadline_ms` (epoch milliseconds), zero once passed.
pub(crate) fn time_left(deadline_ms: u64, now: SystemTime) -> Duration {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    deadline.duration_since(now).unwrap_or(Duration::ZERO)
}

/// A client of the Runtime API over one kept-alive connection.
#[derive(Debug)]
pub(crate) struct RuntimeApi {
    conn: Connection<UploadBody>,
    host: HeaderValue,
}

impl RuntimeApi {
    /// A client for the Runtime API at `endpoint` (`host:port`); connects lazily.
    pub(crate) fn new(endpoint: &str) -> Self {
        let host = HeaderValue::from_str(endpoint).unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Self { conn: Connection::new(endpoint), host }
    }

    /// Opens the connection ahead of the first request.
    pub(crate) async fn warm_up(&mut self) -> Result<(), RuntimeApiError> {
        Ok(self.conn.warm_up().await?)
    }

    /// Waits (without timeout) for the next invocation.
    pub(crate) async fn next(&mut self) -> Result<Invocation, RuntimeApiError> {
        let path = format!("{API_PREFIX}/invocation/next");
        // A long poll can outlive an idle connection; ask again once on a fresh one.
        let (headers, body) = match self.call(Method::GET, &path, None, Bytes::new()).await {
            Err(RuntimeApiError::Conn(ConnError::Http { .. })) => {
                tracing::debug!("the Runtime API connection dropped during invocation/next; reconnecting");
                self.call(Method::GET, &path, None, Bytes::new()).await?
            }
            other => other?,
        };
        Invocation::from_parts(&headers, body)
    }

    /// Posts a buffered response for `request_id`.
    pub(crate) async fn respond(&mut self, request_id: &str, payload: Bytes) -> Result<(), RuntimeApiError> {
        let path = format!("{API_PREFIX}/invocation/{request_id}/response");
        self.call(Method::POST, &path, None, payload).await.map(drop)
    }

    /// Streams a response for `request_id`: `stream` is sent as a chunked
    /// body announcing the error trailers, and this returns once the Runtime
    /// API has taken the whole stream.
    #[allow(
        clippy::expect_used,
        reason = "the path is built from constants and a checked request id, and the headers are constants"
    )]
    pub(crate) async fn respond_streaming(
        &mut self,
        request_id: &str,
        stream: ResponseStream,
    ) -> Result<(), RuntimeApiError> {
        let path = format!("{API_PREFIX}/invocation/{request_id}/response");
        let request = Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header(HOST, self.host.clone())
            .header(RESPONSE_MODE_HEADER, "streaming")
            .header(CONTENT_TYPE, ownstak_core::HTTP_INTEGRATION_CONTENT_TYPE)
            .header(TRANSFER_ENCODING, "chunked")
            .header(TRAILER, TRAILER_ANNOUNCEMENT)
            .body(Either::Right(stream))
            // Invariant: the path is built from a constant and a checked request id, and every header is a valid constant.
            .expect("streaming response request is valid");
        self.exchange(request, &path).await.map(drop)
    }

    /// Reports that invocation `request_id` failed.
    pub(crate) async fn invocation_error(
        &mut self,
        request_id: &str,
        report: &ErrorReport,
    ) -> Result<(), RuntimeApiError> {
        let path = format!("{API_PREFIX}/invocation/{request_id}/error");
        self.call(Method::POST, &path, Some(&report.error_type), Bytes::from(report.to_json())).await.map(drop)
    }

    /// Reports that the function could not initialize.
    pub(crate) async fn init_error(&mut self, report: &ErrorReport) -> Result<(), RuntimeApiError> {
        let path = format!("{API_PREFIX}/init/error");
        self.call(Method::POST, &path, Some(&report.error_type), Bytes::from(report.to_json())).await.map(drop)
    }

    #[allow(
        clippy::expect_used,
        reason = "the path is built from constants and a checked request id, and every header value is validated first"
    )]
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        error_type: Option<&str>,
        body: Bytes,
    ) -> Result<(HeaderMap, Bytes), RuntimeApiError> {
        let is_post = method == Method::POST;
        let mut request = Request::builder().method(method).uri(path).header(HOST, self.host.clone());
        if is_post {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(error_type) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
            request = request.header(ERROR_TYPE_HEADER, error_type);
        }
        // Invariant: `path` is built from constants and a checked request id,
        // and every header value was validated above, so the request is valid.
        let request = request.body(Either::Left(Full::new(body))).expect("runtime API request is valid");
        self.exchange(request, path).await
    }

    /// Sends a request, reads the whole answer (so the connection can be reused) and checks its status.
    async fn exchange(
        &mut self,
        request: Request<UploadBody>,
        path: &str,
    ) -> Result<(HeaderMap, Bytes), RuntimeApiError> {
        let response = self.conn.send(request).await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|source| ConnError::Http { addr: self.conn.addr().to_owned(), source })?
            .to_bytes();
        if !parts.status.is_success() {
            return Err(RuntimeApiError::Rejected {
                path: path.to_owned(),
                status: parts.status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok((parts.headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn reads_invocation_headers() {
        let h = headers(&[
            ("Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            ("Lambda-Runtime-Deadline-Ms", "1542409706888"),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime"),
            ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
        ]);
        let inv = Invocation::from_parts(&h, Bytes::from_static(b"{}")).unwrap();
        assert_eq!(inv.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(inv.deadline_ms, Some(1_542_409_706_888));
        assert_eq!(inv.function_arn.as_deref(), Some("arn:aws:lambda:us-east-2:123456789012:function:custom-runtime"));
        assert!(inv.trace_id.unwrap().starts_with("Root="));
        assert_eq!(inv.payload.as_ref(), b"{}");
    }

    #[test]
    fn rejects_missing_or_unsafe_request_ids() {
        assert!(matches!(Invocation::from_parts(&headers(&[]), Bytes::new()), Err(RuntimeApiError::MissingRequestId)));
        let h = headers(&[(REQUEST_ID_HEADER, "../../init/error")]);
        assert!(matches!(Invocation::from_parts(&h, Bytes::new()), Err(RuntimeApiError::InvalidRequestId(_))));
        let h = headers(&[(REQUEST_ID_HEADER, "abc"), (DEADLINE_HEADER, "soon")]);
        assert_eq!(Invocation::from_parts(&h, Bytes::new()).unwrap().deadline_ms, None);
    }

    #[test]
    fn deadline_math() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        assert_eq!(time_left(1_000_250, now), Duration::from_millis(250));
        assert_eq!(time_left(1_000_000, now), Duration::ZERO);
        assert_eq!(time_left(999_000, now), Duration::ZERO);
        let inv = Invocation {
            request_id: "r".into(),
            deadline_ms: None,
            function_arn: None,
            trace_id: None,
            payload: Bytes::new(),
        };
        assert_eq!(inv.time_left(now), None);
        let inv = Invocation { deadline_ms: Some(1_003_000), ..inv };
        assert_eq!(inv.time_left(now), Some(Duration::from_secs(3)));
    }
}
