//! Invoking functions: what an invocation returns, why one fails, and the
//! [`Lambda`] boundary the request path calls through. [`SdkLambda`]
//! implements it with the official aws-sdk-lambda client, against AWS or
//! any endpoint that speaks the Lambda API.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use bytes::Bytes;
use futures_util::Stream;
use ownstak_sdk_error::SdkFailure;

use crate::config::ProxyConfig;

/// A boxed future, as the [`Lambda`] boundary returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A function's failure as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType` from the error document, or the error header's value.
    pub error_type: String,
    /// `errorMessage` from the document, if any.
    pub message: Option<String>,
}

/// What a buffered invocation returned.
#[derive(Debug)]
pub enum Invoked {
    /// The function's payload.
    Payload(Bytes),
    /// The function failed.
    Failed(FunctionError),
}

/// One piece of a streamed invocation.
#[derive(Debug)]
pub enum StreamEvent {
    /// Payload bytes, in order.
    Chunk(Bytes),
    /// The invocation finished successfully; nothing follows.
    Completed,
    /// The invocation finished with the function's failure; nothing follows.
    Failed(FunctionError),
}

/// Why an invocation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl From<SdkFailure> for InvokeFailure {
    fn from(failure: SdkFailure) -> Self {
        match failure {
            SdkFailure::NotFound(_) => InvokeFailure::NotFound,
            SdkFailure::Throttled(_) => InvokeFailure::Throttled,
            SdkFailure::TooLarge(_) => InvokeFailure::TooLarge,
            SdkFailure::AccessDenied(e) => InvokeFailure::AccessDenied(e.message),
            SdkFailure::Unreachable { detail } | SdkFailure::NoCredentials { detail } => {
                InvokeFailure::Unreachable(detail)
            }
            SdkFailure::Service(e) => InvokeFailure::Api { code: e.code, message: e.message },
        }
    }
}

/// The events of a streamed invocation, in order. A stream that ends
/// without [`StreamEvent::Completed`] or [`StreamEvent::Failed`] was cut off.
pub struct ResponseEvents(Pin<Box<dyn Stream<Item = Result<StreamEvent, String>> + Send>>);

impl ResponseEvents {
    /// Events from any stream of them.
    pub fn new(stream: impl Stream<Item = Result<StreamEvent, String>> + Send + 'static) -> Self {
        Self(Box::pin(stream))
    }

    /// Polls for the next event; `None` when the stream ended.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<StreamEvent, String>>> {
        self.0.as_mut().poll_next(cx)
    }

    /// The next event; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, String>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

/// What the request path needs from Lambda.
pub trait Lambda: Send + Sync {
    /// Invokes `function` at `qualifier` and waits for the whole answer.
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>>;

    /// Invokes with response streaming; events arrive as produced.
    fn invoke_stream<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<ResponseEvents, InvokeFailure>>;

    /// The version an alias of `function` points at; `Ok(None)` when the
    /// function or alias does not exist.
    fn alias_version<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, InvokeFailure>>;

    /// Whether [`Lambda::alias_version`] costs nothing (an in-process
    /// backend), so `current` can be resolved afresh for every request;
    /// otherwise the proxy trusts a resolution of `current` for up to a second.
    fn alias_lookups_are_free(&self) -> bool {
        false
    }
    /// Every alias of `function` (skew protection reads the deployments'
    /// notes from their descriptions); empty when the function does not exist.
    fn list_aliases<'a>(&'a self, function: &'a str) -> BoxFuture<'a, Result<Vec<AliasEntry>, InvokeFailure>>;
}

/// One alias of a function, as [`Lambda::list_aliases`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    /// The alias name.
    pub name: String,
    /// The version it points at.
    pub version: String,
    /// Its description.
    pub description: String,
}

/// [`Lambda`] through the official aws-sdk-lambda client.
#[derive(Clone, Debug)]
pub struct SdkLambda {
    client: aws_sdk_lambda::Client,
}

impl SdkLambda {
    /// Builds the client: the local key pair for a local endpoint, the
    /// default AWS chain otherwise.
    pub async fn new(config: &ProxyConfig) -> Self {
        let client = match &config.lambda_endpoint {
            Some(url) => {
                let builder = aws_sdk_lambda::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(config.region.clone()))
                    .credentials_provider({
                        let keys = config.local_keys.clone().unwrap_or_else(ownstak_guard::KeyPair::fallback);
                        Credentials::new(keys.access_key_id(), keys.secret_access_key(), None, None, "ownstak-local")
                    })
                    .endpoint_url(url.trim_end_matches('/'))
                    .retry_config(retry_config())
                    .timeout_config(timeout_config(config));
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
}

impl Lambda for SdkLambda {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        Box::pin(async move {
            let out = self
                .client
                .invoke()
                .function_name(function)
                .qualifier(qualifier)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| InvokeFailure::from(ownstak_sdk_error::classify(&e)))?;
            let body = out.payload.map(|b| Bytes::from(b.into_inner())).unwrap_or_default();
            Ok(match out.function_error {
                None => Invoked::Payload(body),
                Some(header) => Invoked::Failed(function_error(&body, header)),
            })
        })
    }

    fn invoke_stream<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<ResponseEvents, InvokeFailure>> {
        Box::pin(async move {
            let out = self
                .client
                .invoke_with_response_stream()
                .function_name(function)
                .qualifier(qualifier)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| InvokeFailure::from(ownstak_sdk_error::classify(&e)))?;
            let events = futures_util::stream::unfold(Some(out.event_stream), |receiver| async move {
                let mut receiver = receiver?;
                let event = next_sdk_event(&mut receiver).await;
                // After a final event or an error, the stream is over.
                let done = !matches!(event, Some(Ok(StreamEvent::Chunk(_))));
                event.map(|e| (e, (!done).then_some(receiver)))
            });
            Ok(ResponseEvents::new(events))
        })
    }

    fn alias_version<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, InvokeFailure>> {
        Box::pin(async move {
            match self.client.get_alias().function_name(function).name(alias).send().await {
                Ok(out) => Ok(out.function_version().map(str::to_owned)),
                Err(err) => match InvokeFailure::from(ownstak_sdk_error::classify(&err)) {
                    InvokeFailure::NotFound => Ok(None),
                    other => Err(other),
                },
            }
        })
    }

    fn list_aliases<'a>(&'a self, function: &'a str) -> BoxFuture<'a, Result<Vec<AliasEntry>, InvokeFailure>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let page =
                    match self.client.list_aliases().function_name(function).set_marker(marker.take()).send().await {
                        Ok(page) => page,
                        Err(err) => {
                            return match InvokeFailure::from(ownstak_sdk_error::classify(&err)) {
                                InvokeFailure::NotFound => Ok(Vec::new()),
                                other => Err(other),
                            };
                        }
                    };
                out.extend(page.aliases().iter().map(|a| AliasEntry {
                    name: a.name().unwrap_or_default().to_owned(),
                    version: a.function_version().unwrap_or_default().to_owned(),
                    description: a.description().unwrap_or_default().to_owned(),
                }));
                match page.next_marker() {
                    Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                    _ => return Ok(out),
                }
            }
        })
    }
}

type SdkEvents = aws_sdk_lambda::primitives::event_stream::EventReceiver<
    aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent,
    aws_sdk_lambda::types::error::InvokeWithResponseStreamResponseEventError,
>;

/// The next event the SDK decoded, skipping empty chunks and unknown events.
async fn next_sdk_event(receiver: &mut SdkEvents) -> Option<Result<StreamEvent, String>> {
    use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent as E;
    loop {
        match receiver.recv().await {
            Ok(Some(E::PayloadChunk(c))) => {
                let bytes = c.payload.map(|b| Bytes::from(b.into_inner())).unwrap_or_default();
                if !bytes.is_empty() {
                    return Some(Ok(StreamEvent::Chunk(bytes)));
                }
            }
            Ok(Some(E::InvokeComplete(done))) => {
                return Some(Ok(match done.error_code {
                    None => StreamEvent::Completed,
                    Some(code) => {
                        let details = done.error_details.unwrap_or_default();
                        let message = serde_json::from_str::<serde_json::Value>(&details)
                            .ok()
                            .and_then(|d| d.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned))
                            .or(Some(details).filter(|d| !d.is_empty()));
                        StreamEvent::Failed(FunctionError { error_type: code, message })
                    }
                }));
            }
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())),
        }
    }
}

/// The failure in a function's error document, with the error header as
/// the type when the document names none.
pub fn function_error(document: &[u8], header: String) -> FunctionError {
    let doc: Option<serde_json::Value> = serde_json::from_slice(document).ok();
    let field = |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
    FunctionError { error_type: field("errorType").unwrap_or(header), message: field("errorMessage") }
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
