//! Execution environments: one process per environment, each with its own
//! Runtime API endpoint, pooled per function version.

mod cpu;
mod environment;
mod peer;
mod pool;
mod runtime_api;
mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use ownstak_core::lambda::error_type;

pub(crate) use peer::Peer;
pub(crate) use pool::{Pool, PoolConfig};

/// How many streamed chunks may wait between the runtime and the invoker.
pub(crate) const STREAM_BUFFER_CHUNKS: usize = 8;

/// Everything needed to start and invoke one version of a function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function name.
    pub function: String,
    /// The version number or `$LATEST`.
    pub version: String,
    /// Changes with the version's code or configuration; environments are
    /// only reused for the same revision.
    pub revision_id: String,
    /// The ARN as invoked (qualified with the alias or version used).
    pub invoked_arn: String,
    /// The unpacked code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// The runtime identifier, e.g. `provided.al2023`.
    pub runtime: String,
    /// `_HANDLER`.
    pub handler: String,
    /// Invocation time limit.
    pub timeout: Duration,
    /// Reported memory size in MB.
    pub memory_size: u32,
    /// The function's environment variables.
    pub environment: BTreeMap<String, String>,
    /// The function's log file.
    pub log_path: PathBuf,
    /// Region reported to the function.
    pub region: String,
    /// The backend's own endpoint, given to the function as
    /// `AWS_ENDPOINT_URL_SSM` so that its SSM clients (the runtime fetching
    /// secrets) reach the local parameter store as they would reach AWS.
    pub ssm_endpoint: String,
    /// The credentials given to the function, as Lambda gives it its
    /// role's: the backend's key pair, which its endpoints accept.
    pub keys: ownstak_guard::KeyPair,
}

/// One invocation for the pool to run.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The version to run.
    pub spec: FunctionSpec,
    /// The invocation's request id.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
}

/// How an invocation ended, or how its streamed response goes on.
#[derive(Debug)]
pub enum Outcome {
    /// The function returned this payload.
    Success(Bytes),
    /// The function or its environment failed.
    Failure(FunctionFailure),
    /// The function is streaming its response.
    Stream(ResponseStream),
}

/// One piece of a streamed response.
#[derive(Debug)]
pub enum StreamItem {
    /// Body bytes, in order.
    Chunk(Bytes),
    /// The function failed mid-stream.
    Failed(FunctionFailure),
    /// The response is complete.
    End,
}

/// A response the function is still writing. A stream whose channel closes
/// without [`StreamItem::End`] was cut off and must be treated as failed.
#[derive(Debug)]
pub struct ResponseStream {
    /// The runtime's `Content-Type` for the stream.
    pub content_type: Option<String>,
    /// The pieces, as the runtime sends them (bounded: a slow reader slows
    /// the function down instead of filling memory).
    pub items: tokio::sync::mpsc::Receiver<StreamItem>,
}

impl Outcome {
    /// The whole payload or the failure, collecting a stream of up to
    /// `limit` bytes.
    pub async fn buffered(self, limit: usize) -> Result<Bytes, FunctionFailure> {
        let mut s = match self {
            Outcome::Success(b) => return Ok(b),
            Outcome::Failure(f) => return Err(f),
            Outcome::Stream(s) => s,
        };
        let mut buf = bytes::BytesMut::new();
        loop {
            match s.items.recv().await {
                Some(StreamItem::Chunk(c)) => {
                    if buf.len() + c.len() > limit {
                        return Err(FunctionFailure::platform(
                            error_type::RESPONSE_SIZE_TOO_LARGE,
                            format!("Response payload size exceeded maximum allowed payload size ({limit} bytes)."),
                        ));
                    }
                    buf.extend_from_slice(&c);
                }
                Some(StreamItem::Failed(f)) => return Err(f),
                Some(StreamItem::End) => return Ok(buf.freeze()),
                None => {
                    return Err(FunctionFailure::platform(
                        error_type::RUNTIME_EXIT_ERROR,
                        "the response stream was cut off",
                    ));
                }
            }
        }
    }
}

/// A failed invocation: reported with `X-Amz-Function-Error` and the error
/// document as the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFailure {
    /// `errorType`, e.g. `Sandbox.Timedout` or `Runtime.ExitError`.
    pub error_type: String,
    /// The JSON error document.
    pub payload: Bytes,
}

impl FunctionFailure {
    /// A failure reported by the platform, not by the function.
    pub fn platform(error_type: &str, message: impl Into<String>) -> Self {
        let doc = serde_json::json!({ "errorType": error_type, "errorMessage": message.into() });
        Self { error_type: error_type.to_owned(), payload: Bytes::from(doc.to_string()) }
    }

    /// A failure posted by the runtime; the type comes from the header or
    /// the document, and a body that is not JSON is wrapped.
    pub fn reported(header_type: Option<&str>, body: Bytes) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let doc_type = parsed.as_ref().and_then(|v| v.get("errorType")).and_then(|t| t.as_str()).map(str::to_owned);
        let error_type =
            header_type.map(str::to_owned).or(doc_type).unwrap_or_else(|| error_type::UNHANDLED.to_owned());
        let payload = match parsed {
            Some(serde_json::Value::Object(_)) => body,
            _ => Bytes::from(
                serde_json::json!({ "errorType": error_type, "errorMessage": String::from_utf8_lossy(&body) })
                    .to_string(),
            ),
        };
        Self { error_type, payload }
    }
}
