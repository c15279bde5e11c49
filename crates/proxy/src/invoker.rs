//! Invoking functions through aws-sdk-lambda.

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
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
    /// default AWS chain otherwise.
    pub async fn new(config: &ProxyConfig) -> Self {
        let client = match &config.lambda_endpoint {
            Some(url) => aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(config.region.clone()))
                    .credentials_provider(Credentials::new("ownstak-local", "ownstak-local", None, None, "ownstak-local"))
                    .endpoint_url(url.trim_end_matches('/'))
                    .build(),
            ),
            None => {
                let shared = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone())).load().await;
                aws_sdk_lambda::Client::new(&shared)
            }
        };
        Self { client }
    }

    /// Invokes `function` at `qualifier` with a JSON payload.
    pub async fn invoke(&self, function: &str, qualifier: &str, payload: Vec<u8>) -> Result<Invoked, InvokeFailure> {
        let res = self.client.invoke().function_name(function).qualifier(qualifier).payload(Blob::new(payload)).send().await;
        match res {
            Ok(out) => {
                let body = out.payload.map(|b| Bytes::from(b.into_inner())).unwrap_or_default();
                match out.function_error {
                    None => Ok(Invoked::Payload(body)),
                    Some(header) => {
                        let doc: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                        let field = |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
                        Ok(Invoked::FunctionError { error_type: field("errorType").unwrap_or(header), message: field("errorMessage") })
                    }
                }
            }
            Err(err) => Err(classify(err)),
        }
    }
}

fn classify<R: std::fmt::Debug>(err: aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::invoke::InvokeError, R>) -> InvokeFailure {
    use aws_sdk_lambda::error::{ProvideErrorMetadata as _, SdkError};
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            InvokeFailure::Unreachable(aws_sdk_lambda::error::DisplayErrorContext(&err).to_string())
        }
        _ => {
            if let Some(s) = err.as_service_error() {
                if s.is_resource_not_found_exception() {
                    return InvokeFailure::NotFound;
                }
                if s.is_too_many_requests_exception() {
                    return InvokeFailure::Throttled;
                }
                if s.is_request_too_large_exception() {
                    return InvokeFailure::TooLarge;
                }
            }
            InvokeFailure::Api {
                code: err.code().unwrap_or("Unknown").to_owned(),
                message: err.message().unwrap_or("no message").to_owned(),
            }
        }
    }
}
