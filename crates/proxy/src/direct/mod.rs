//! The hot path's Lambda client: `Invoke` and `InvokeWithResponseStream`
//! as direct signed HTTP requests over a pooled hyper client (HTTP/2 where
//! the endpoint offers it by ALPN), without the SDK's per-call machinery.
//! Everything else (alias lookups) goes through the SDK ([`SdkLambda`]).
//!
//! Throttles and connection failures are retried a bounded number of times
//! with jittered exponential backoff; nothing is retried once the request
//! may have reached a function (a response other than a throttle, or a
//! connection that failed after the request was sent).

mod events;
mod signer;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use self::events::EventStreamBody;
use self::signer::{CredentialsSource, Signer, encode_segment};
use crate::config::ProxyConfig;
use crate::invoker::{
    AliasEntry, BoxFuture, InvokeFailure, Invoked, Lambda, ResponseEvents, SdkLambda, function_error,
};

/// Attempts per invocation (the first and two retries).
const ATTEMPTS: u32 = 3;
/// The first retry's backoff ceiling; it doubles per retry.
const BACKOFF: Duration = Duration::from_millis(50);
/// The largest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Time to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;
type HttpsClient = Client<HttpsConnector, Full<Bytes>>;

/// [`Lambda`] with direct signed requests on the hot path.
pub struct DirectLambda {
    connector: HttpsConnector,
    /// One connection pool per thread that invokes: a sharded proxy serves
    /// each connection on one thread, and a pooled connection's task lives
    /// on the thread that opened it, so a request never wakes another
    /// thread to reach Lambda.
    clients: thread_local::ThreadLocal<HttpsClient>,
    /// `scheme://authority` of the endpoint.
    base: String,
    /// The `Host` header value (the endpoint's authority).
    host: HeaderValue,
    credentials: CredentialsSource,
    signer: Signer,
    invoke_timeout: Duration,
    control: SdkLambda,
}

impl DirectLambda {
    /// A client for the configured endpoint (AWS Lambda in the configured
    /// region when none): the local key pair for an endpoint, the default
    /// AWS credential chain otherwise.
    pub async fn new(config: &ProxyConfig) -> Result<Self, String> {
        let base = match &config.lambda_endpoint {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://lambda.{}.amazonaws.com", config.region),
        };
        let uri: Uri = base.parse().map_err(|e| format!("invalid Lambda endpoint `{base}`: {e}"))?;
        let authority = uri.authority().ok_or_else(|| format!("the Lambda endpoint `{base}` has no host"))?;
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|e| format!("invalid Lambda endpoint host: {e}"))?;
        let credentials = match &config.lambda_endpoint {
            Some(_) => {
                // A local backend: its key pair (the fixed fallback pair when none was given).
                let keys = config.local_keys.clone().unwrap_or_else(ownstak_guard::KeyPair::fallback);
                CredentialsSource::Static(Credentials::new(
                    keys.access_key_id(),
                    keys.secret_access_key(),
                    None,
                    None,
                    "ownstak-local",
                ))
            }
            None => {
                let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(config.region.clone()))
                    .load()
                    .await;
                let provider = shared
                    .credentials_provider()
                    .ok_or("no AWS credential provider is configured (set credentials, a profile or a task role)")?;
                CredentialsSource::provider(provider)
            }
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Self {
            connector: https,
            clients: thread_local::ThreadLocal::new(),
            base,
            host,
            credentials,
            signer: Signer::new(&config.region, "lambda"),
            invoke_timeout: config.limits.invoke_timeout,
            control: SdkLambda::new(config).await,
        })
    }

    /// This thread's connection pool.
    fn client(&self) -> &HttpsClient {
        self.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .build(self.connector.clone())
        })
    }

    /// Sends one invocation request, retrying throttles and connection
    /// failures; returns the response head and body.
    async fn send(&self, path: &str, qualifier: &str, payload: Bytes) -> Result<Response<Incoming>, InvokeFailure> {
        let credentials = self.credentials.get().await.map_err(InvokeFailure::Unreachable)?;
        let host = self.host.to_str().unwrap_or_default();
        let uri = format!("{}{path}?Qualifier={}", self.base, encode_segment(qualifier));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let signature =
                self.signer.sign(&credentials, host, path, ("Qualifier", qualifier), &payload, SystemTime::now());
            let mut builder = Request::builder()
                .method(Method::POST)
                .uri(&uri)
                .header(HOST, self.host.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .header("x-amz-date", signature.date)
                .header(http::header::AUTHORIZATION, signature.authorization);
            if let Some(token) = signature.token {
                builder = builder.header("x-amz-security-token", token);
            }
            let request = builder
                .body(Full::new(payload.clone()))
                .map_err(|e| InvokeFailure::Unreachable(format!("cannot build the invoke request: {e}")))?;
            let retryable = match self.client().request(request).await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let failure = api_failure(resp).await;
                    if failure != InvokeFailure::Throttled {
                        return Err(failure);
                    }
                    failure
                }
                // Only a connection that never carried the request is retried.
                Err(e) if e.is_connect() => InvokeFailure::Unreachable(format!("cannot connect to {}: {e}", self.base)),
                Err(e) => return Err(InvokeFailure::Unreachable(format!("the request to {} failed: {e}", self.base))),
            };
            if attempt >= ATTEMPTS {
                return Err(retryable);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

impl Lambda for DirectLambda {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        Box::pin(async move {
            let path = format!("/2015-03-31/functions/{}/invocations", encode_segment(function));
            let call = async {
                let resp = self.send(&path, qualifier, payload).await?;
                let error_header = resp
                    .headers()
                    .get("x-amz-function-error")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| InvokeFailure::Unreachable(format!("the invoke response broke off: {e}")))?
                    .to_bytes();
                Ok(match error_header {
                    None => Invoked::Payload(body),
                    Some(header) => Invoked::Failed(function_error(&body, header)),
                })
            };
            tokio::time::timeout(self.invoke_timeout, call).await.map_err(|_| {
                InvokeFailure::Unreachable("the invocation outlasted the proxy's invoke limit".to_owned())
            })?
        })
    }

    fn invoke_stream<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<ResponseEvents, InvokeFailure>> {
        Box::pin(async move {
            let path = format!("/2021-11-15/functions/{}/response-streaming-invocations", encode_segment(function));
            let resp = self.send(&path, qualifier, payload).await?;
            Ok(ResponseEvents::new(EventStreamBody::new(resp.into_body())))
        })
    }

    fn alias_version<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, InvokeFailure>> {
        self.control.alias_version(function, alias)
    }

    fn list_aliases<'a>(&'a self, function: &'a str) -> BoxFuture<'a, Result<Vec<AliasEntry>, InvokeFailure>> {
        self.control.list_aliases(function)
    }
}

/// The failure a non-2xx Lambda API answer means.
async fn api_failure(resp: Response<Incoming>) -> InvokeFailure {
    let status = resp.status();
    // `x-amzn-ErrorType` may carry a namespace after a colon.
    let code = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned());
    let body = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let doc: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |k: &str| doc.as_ref().and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
    let code = code.or_else(|| field("__type").or_else(|| field("Type"))).unwrap_or_else(|| status.to_string());
    let message = field("Message").or_else(|| field("message")).unwrap_or_default();
    match (status, code.as_str()) {
        (_, "ResourceNotFoundException") | (StatusCode::NOT_FOUND, _) => InvokeFailure::NotFound,
        (_, "TooManyRequestsException") | (StatusCode::TOO_MANY_REQUESTS, _) => InvokeFailure::Throttled,
        (_, "RequestTooLargeException") | (StatusCode::PAYLOAD_TOO_LARGE, _) => InvokeFailure::TooLarge,
        (_, "AccessDeniedException" | "AccessDenied") | (StatusCode::FORBIDDEN, _) => {
            InvokeFailure::AccessDenied(message)
        }
        _ => InvokeFailure::Api { code, message },
    }
}

/// Full jitter: a random time up to the attempt's exponential ceiling.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(8)).min(MAX_BACKOFF);
    ceiling.mul_f64(fastrand::f64())
}
