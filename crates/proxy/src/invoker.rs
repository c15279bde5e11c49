//! Invoking functions through aws-sdk-lambda.

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_lambda::primitives::Blob;
use bytes::Bytes;

use crate::config::ProxyConfig;

/// What an invocation returned.
#[derive(Debug)]
pub enum Invoked {
    /// The function's payload.
    Payload(Bytes),
    /// The function failed; its error document and type.
    FunctionError {
        /// `errorType` from the document, or the header value.
        error_type: String,
        /// `errorMessage` from the document, if any.
        message: Option<String>,
    },
}

/// Why an invocation did not happen.
#[derive(Debug)]
pub enum InvokeFailure {
    /// The function or alias does not exist.
    NotFound,
    /// Lambda throttled the call.
    Throttled,
    /// The request payload is too large for Lambda.
    TooLarge,
    /// The proxy's role may not invoke the function.
    AccessDenied(String),
    /// Lambda refused the call for another reason.
    Api {
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
    /// Lambda could not be reached.
    Unreachable(String),
}

/// Invokes functions.
#[derive(Clone, Debug)]
pub struct Invoker {
    client: aws_sdk_lambda::Client,
}

impl Invoker {
    /// Builds the client: fixed local credentials for a local endpoint, the
    /// default AWS chain otherwise. `http_client` replaces the SDK's own
    /// HTTP client (the embedded backend passes one that stays in process).
    pub async fn new(config: &ProxyConfig, http_client: Option<SharedHttpClient>) -> Self {
        let client = match &config.lambda_endpoint {
            Some(url) => {
                let mut builder = aws_sdk_lambda::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(config.region.clone()))
                    .credentials_provider(Credentials::new(
                        "ownstak-local",
                        "ownstak-local",
                        None,
                        None,
                        "ownstak-local",
                    ))
                    .endpoint_url(url.trim_end_matches('/'))
                    .retry_config(retry_config())
                    .timeout_config(timeout_config(config));
                builder.set_http_client(http_client);
                aws_sdk_lambda::Client::from_conf(builder.build())
            }
            None => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(config.region.clone()))
                    .retry_config(retry_config())
                    .timeout_config(timeout_config(config))
                    .load()
                    .await;
                aws_sdk_lambda::Client::new(&shared)
            }
        };
        Self { client }
    }

    /// The version an alias of `function` points at; `Ok(None)` when the
    /// function or alias does not exist.
    pub async fn alias_version(&self, function: &str, alias: &str) -> Result<Option<String>, InvokeFailure> {
        match self.client.get_alias().function_name(function).name(alias).send().await {
            Ok(out) => Ok(out.function_version().map(str::to_owned)),
            Err(err) => match classify(err) {
                InvokeFailure::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Invokes `function` at `qualifier` with a JSON payload.
    pub async fn invoke(&self, function: &str, qualifier: &str, payload: Vec<u8>) -> Result<Invoked, InvokeFailure> {
        let res =
            self.client.invoke().function_name(function).qualifier(qualifier).payload(Blob::new(payload)).send().await;
        match res {
            Ok(out) => {
                let body = out.payload.map(|b| Bytes::from(b.into_inner())).unwrap_or_default();
                match out.function_error {
                    None => Ok(Invoked::Payload(body)),
                    Some(header) => {
                        let doc: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                        let field =
                            |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
                        Ok(Invoked::FunctionError {
                            error_type: field("errorType").unwrap_or(header),
                            message: field("errorMessage"),
                        })
                    }
                }
            }
            Err(err) => Err(classify(err)),
        }
    }
}

/// Throttled and transient failures are retried a bounded number of times
/// with exponential backoff and full jitter (the SDK's standard strategy).
fn retry_config() -> aws_sdk_lambda::config::retry::RetryConfig {
    aws_sdk_lambda::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(50))
        .with_max_backoff(std::time::Duration::from_secs(1))
}

/// Connecting is quick or fails; an invocation may take up to the invoke limit.
fn timeout_config(config: &ProxyConfig) -> aws_sdk_lambda::config::timeout::TimeoutConfig {
    aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(config.limits.invoke_timeout)
        .build()
}

/// A piece of a streamed invocation.
#[derive(Debug)]
pub enum StreamEvent {
    /// Payload bytes.
    Chunk(Bytes),
    /// The invocation finished; `Some` when it failed.
    Complete(Option<Invoked>),
}

/// The events of an InvokeWithResponseStream call.
pub struct ResponseEvents {
    inner: aws_sdk_lambda::primitives::event_stream::EventReceiver<
        aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent,
        aws_sdk_lambda::types::error::InvokeWithResponseStreamResponseEventError,
    >,
}

impl ResponseEvents {
    /// The next event; `Ok(None)` if the stream ended without completion
    /// (which callers must treat as a failure).
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, String> {
        use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent as E;
        loop {
            match self.inner.recv().await {
                Ok(Some(E::PayloadChunk(c))) => {
                    let bytes = c.payload.map(|b| Bytes::from(b.into_inner())).unwrap_or_default();
                    if !bytes.is_empty() {
                        return Ok(Some(StreamEvent::Chunk(bytes)));
                    }
                }
                Ok(Some(E::InvokeComplete(done))) => {
                    let failure = done.error_code.map(|code| {
                        let details = done.error_details.unwrap_or_default();
                        let doc: Option<serde_json::Value> = serde_json::from_str(&details).ok();
                        let message = doc
                            .as_ref()
                            .and_then(|d| d.get("errorMessage"))
                            .and_then(|m| m.as_str())
                            .map(str::to_owned)
                            .or(Some(details).filter(|d| !d.is_empty()));
                        Invoked::FunctionError { error_type: code, message }
                    });
                    return Ok(Some(StreamEvent::Complete(failure)));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok(None),
                Err(e) => return Err(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string()),
            }
        }
    }
}

impl Invoker {
    /// Invokes with InvokeWithResponseStream; events arrive as produced.
    pub async fn invoke_stream(
        &self,
        function: &str,
        qualifier: &str,
        payload: Vec<u8>,
    ) -> Result<ResponseEvents, InvokeFailure> {
        let res = self
            .client
            .invoke_with_response_stream()
            .function_name(function)
            .qualifier(qualifier)
            .payload(Blob::new(payload))
            .send()
            .await;
        match res {
            Ok(out) => Ok(ResponseEvents { inner: out.event_stream }),
            Err(err) => Err(classify(err)),
        }
    }
}

fn classify<E, R>(err: aws_sdk_lambda::error::SdkError<E, R>) -> InvokeFailure
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::{ProvideErrorMetadata as _, SdkError};
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            InvokeFailure::Unreachable(aws_sdk_lambda::error::DisplayErrorContext(&err).to_string())
        }
        _ => {
            match err.code() {
                Some("ResourceNotFoundException") => return InvokeFailure::NotFound,
                Some("TooManyRequestsException") => return InvokeFailure::Throttled,
                Some("RequestTooLargeException") => return InvokeFailure::TooLarge,
                Some("AccessDeniedException") | Some("AccessDenied") => {
                    return InvokeFailure::AccessDenied(err.message().unwrap_or("access denied").to_owned());
                }
                _ => {}
            }
            InvokeFailure::Api {
                code: err.code().unwrap_or("Unknown").to_owned(),
                message: err.message().unwrap_or("no message").to_owned(),
            }
        }
    }
}
