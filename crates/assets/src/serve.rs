//! Answering asset requests from the store (used by the proxy).
//!
//! A request path is looked up in the deployment's [`DeploymentIndex`]
//! (fetched once per function version and kept: versions never change);
//! the permanent files it lists map to the content objects it names
//! (`content/…`), its per-deployment files to `deployments/…`. So a path
//! always resolves through the deployment's own index to the bytes that
//! deployment was built with. Anything else, and anything not in the store,
//! is `Ok(None)`: the function answers it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use ownstak_core::negotiate_coding;

use crate::client::StoreConfig;
use crate::error::{AssetError, sdk};
use crate::index::{DeploymentIndex, Located};
use crate::keys;
use crate::store::content_type;
use crate::{DEPLOYMENT_CACHE_CONTROL, PERMANENT_CACHE_CONTROL};

/// How long a missing index is remembered (an upload may be under way).
const MISSING_INDEX_TTL: Duration = Duration::from_secs(2);
/// Most cached indexes; the cache starts over when full.
const MAX_CACHED_INDEXES: usize = 4096;

/// An asset answer: status, headers and a streamed body.
#[derive(Debug)]
pub struct AssetResponse {
    /// 200, 206, 304, 412 or 416.
    pub status: StatusCode,
    /// Content-Type, Content-Length, Content-Range, ETag, Last-Modified,
    /// Accept-Ranges and Cache-Control, as they apply.
    pub headers: HeaderMap,
    /// The body (empty for HEAD and for statuses without one).
    pub body: AssetBody,
}

/// An object's bytes as they arrive from the store.
#[derive(Debug, Default)]
pub struct AssetBody {
    stream: Option<ByteStream>,
}

impl AssetBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self { stream: None }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.stream.is_none()
    }

    /// Polls for the next chunk; `None` at the end.
    pub fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, AssetError>>> {
        let Some(stream) = self.get_mut().stream.as_mut() else { return std::task::Poll::Ready(None) };
        std::pin::Pin::new(stream).poll_next(cx).map(|item| {
            item.map(|r| {
                r.map_err(|e| AssetError::Unreachable { endpoint: "asset store".to_owned(), detail: e.to_string() })
            })
        })
    }

    /// The next chunk; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, AssetError>> {
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut *self).poll_next(cx)).await
    }
}

/// A cached index lookup.
#[derive(Clone)]
enum Cached {
    Found(Arc<DeploymentIndex>),
    Missing(Instant),
}

/// Resolves asset requests against the store.
#[derive(Debug)]
pub struct AssetResolver {
    client: aws_sdk_s3::Client,
    config: StoreConfig,
    indexes: Mutex<HashMap<(String, String), Cached>>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cached::Found(_) => f.write_str("Found"),
            Cached::Missing(_) => f.write_str("Missing"),
        }
    }
}

/// The request method an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
}

impl AssetResolver {
    /// A resolver for a store.
    pub async fn new(config: StoreConfig) -> Self {
        Self { client: config.client().await, config, indexes: Mutex::new(HashMap::new()) }
    }

    /// Answers `GET path` for a deployment (function + published version).
    pub async fn get(
        &self,
        function: &str,
        version: &str,
        path: &str,
        req_headers: &HeaderMap,
    ) -> Result<Option<AssetResponse>, AssetError> {
        self.resolve(Method::Get, function, version, path, req_headers).await
    }

    /// Answers `HEAD path` like [`Self::get`], without a body.
    pub async fn head(
        &self,
        function: &str,
        version: &str,
        path: &str,
        req_headers: &HeaderMap,
    ) -> Result<Option<AssetResponse>, AssetError> {
        self.resolve(Method::Head, function, version, path, req_headers).await
    }

    async fn resolve(
        &self,
        method: Method,
        function: &str,
        version: &str,
        path: &str,
        req: &HeaderMap,
    ) -> Result<Option<AssetResponse>, AssetError> {
        keys::check_function(function)?;
        keys::check_version(version)?;
        let Some(path) = keys::normalize_request_path(path) else { return Ok(None) };
        let Some(index) = self.index(function, version).await? else { return Ok(None) };
        let (key, cache_control) = match index.locate(&path) {
            Some(Located::Content(object)) => (keys::content_key(function, &object)?, PERMANENT_CACHE_CONTROL),
            Some(Located::LegacyPermanent(rel)) => {
                (keys::legacy_permanent_key(function, &rel)?, PERMANENT_CACHE_CONTROL)
            }
            Some(Located::Deployment(rel)) => {
                (keys::deployment_key(function, version, &rel)?, DEPLOYMENT_CACHE_CONTROL)
            }
            None => return Ok(None),
        };
        // An encoded copy when the client takes one (see `precompress`).
        let variants = index.encoded.get(&path);
        let chosen = variants.and_then(|v| {
            let coding = negotiate_coding(req);
            v.get(coding.token()).map(|object| (coding, object))
        });
        let key = match chosen {
            Some((_, object)) => keys::content_key(function, object)?,
            None => key,
        };
        let answer = self.read(method, &key, cache_control, &path, req).await?;
        Ok(answer.map(|mut a| {
            if variants.is_some() {
                a.headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            if let Some((coding, _)) = chosen {
                a.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
            }
            a
        }))
    }

    /// Reads one object as the answer to a request for `path`.
    async fn read(
        &self,
        method: Method,
        key: &str,
        cache_control: &'static str,
        path: &str,
        req: &HeaderMap,
    ) -> Result<Option<AssetResponse>, AssetError> {
        let cond = Conditions::from_headers(req);
        let ep = self.config.endpoint_name();
        let fallback_type = content_type(path);
        match method {
            Method::Get => {
                let res = self
                    .client
                    .get_object()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .set_range(cond.range.clone())
                    .set_if_none_match(cond.if_none_match.clone())
                    .set_if_modified_since(cond.if_modified_since)
                    .send()
                    .await;
                match res {
                    Ok(out) => {
                        let meta = Meta {
                            content_type: out.content_type().map(str::to_owned),
                            content_length: out.content_length(),
                            content_range: out.content_range().map(str::to_owned),
                            e_tag: out.e_tag().map(str::to_owned),
                            last_modified: out.last_modified().copied(),
                        };
                        Ok(Some(meta.answer(
                            &cond,
                            cache_control,
                            &fallback_type,
                            AssetBody { stream: Some(out.body) },
                        )))
                    }
                    Err(e) => refusal(e, key, cache_control, ep, "GetObject"),
                }
            }
            Method::Head => {
                let res = self
                    .client
                    .head_object()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .set_range(cond.range.clone())
                    .set_if_none_match(cond.if_none_match.clone())
                    .set_if_modified_since(cond.if_modified_since)
                    .send()
                    .await;
                match res {
                    Ok(out) => {
                        let meta = Meta {
                            content_type: out.content_type().map(str::to_owned),
                            content_length: out.content_length(),
                            content_range: out.content_range().map(str::to_owned),
                            e_tag: out.e_tag().map(str::to_owned),
                            last_modified: out.last_modified().copied(),
                        };
                        Ok(Some(meta.answer(&cond, cache_control, &fallback_type, AssetBody::empty())))
                    }
                    Err(e) => refusal(e, key, cache_control, ep, "HeadObject"),
                }
            }
        }
    }

    /// The deployment's index, cached per (function, version).
    async fn index(&self, function: &str, version: &str) -> Result<Option<Arc<DeploymentIndex>>, AssetError> {
        let id = (function.to_owned(), version.to_owned());
        if let Some(cached) = self.cache().get(&id).cloned() {
            match cached {
                Cached::Found(index) => return Ok(Some(index)),
                Cached::Missing(at) if at.elapsed() < MISSING_INDEX_TTL => return Ok(None),
                Cached::Missing(_) => {}
            }
        }
        let key = keys::index_key(function, version)?;
        let res = self.client.get_object().bucket(&self.config.bucket).key(&key).send().await;
        let entry = match res {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AssetError::Index { key: key.clone(), detail: e.to_string() })?
                    .into_bytes();
                let index: DeploymentIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| AssetError::Index { key: key.clone(), detail: e.to_string() })?;
                Cached::Found(Arc::new(index))
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Cached::Missing(Instant::now())
            }
            Err(e) => return Err(sdk("GetObject", self.config.endpoint_name())(e)),
        };
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED_INDEXES {
            cache.clear();
        }
        cache.insert(id, entry.clone());
        Ok(match entry {
            Cached::Found(index) => Some(index),
            Cached::Missing(_) => None,
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Cached>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.indexes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The request headers passed through to the store.
#[derive(Debug, Default)]
struct Conditions {
    range: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<DateTime>,
}

impl Conditions {
    fn from_headers(h: &HeaderMap) -> Self {
        let text = |name: header::HeaderName| {
            h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        Self {
            // Only byte ranges; anything else is ignored as HTTP allows.
            range: text(header::RANGE).filter(|r| r.starts_with("bytes=")),
            if_none_match: text(header::IF_NONE_MATCH),
            if_modified_since: text(header::IF_MODIFIED_SINCE)
                .and_then(|s| DateTime::from_str(&s, DateTimeFormat::HttpDate).ok()),
        }
    }

    /// Whether `If-None-Match` names this ETag (for stores that ignore it).
    fn none_match_hits(&self, e_tag: Option<&str>) -> bool {
        let (Some(list), Some(e_tag)) = (&self.if_none_match, e_tag) else { return false };
        let bare = |t: &str| t.trim().trim_start_matches("W/").trim_matches('"').to_owned();
        list.split(',').any(|t| t.trim() == "*" || bare(t) == bare(e_tag))
    }
}

/// What the store said about an object.
struct Meta {
    content_type: Option<String>,
    content_length: Option<i64>,
    content_range: Option<String>,
    e_tag: Option<String>,
    last_modified: Option<DateTime>,
}

impl Meta {
    fn answer(self, cond: &Conditions, cache_control: &str, fallback_type: &str, body: AssetBody) -> AssetResponse {
        let mut headers = HeaderMap::new();
        let mut put = |name: header::HeaderName, value: Option<&str>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        };
        put(header::ETAG, self.e_tag.as_deref());
        put(header::LAST_MODIFIED, self.last_modified.and_then(|t| t.fmt(DateTimeFormat::HttpDate).ok()).as_deref());
        // By the kind of file, whatever the object says: an encoded copy is
        // one object for every file with its bytes, whichever kind each is.
        put(header::CACHE_CONTROL, Some(cache_control));
        if cond.none_match_hits(self.e_tag.as_deref()) {
            // The store ignored If-None-Match; the body is dropped unread.
            return AssetResponse { status: StatusCode::NOT_MODIFIED, headers, body: AssetBody::empty() };
        }
        put(header::CONTENT_TYPE, Some(self.content_type.as_deref().unwrap_or(fallback_type)));
        put(header::ACCEPT_RANGES, Some("bytes"));
        put(header::CONTENT_LENGTH, self.content_length.map(|n| n.to_string()).as_deref());
        put(header::CONTENT_RANGE, self.content_range.as_deref());
        let status = if self.content_range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
        AssetResponse { status, headers, body }
    }
}

/// Turns a refused read into an answer: 304/412/416 as responses, a
/// missing object as `None`, anything else as an error.
fn refusal<E, R>(
    err: aws_sdk_s3::error::SdkError<E, R>,
    key: &str,
    cache_control: &str,
    ep: &str,
    operation: &'static str,
) -> Result<Option<AssetResponse>, AssetError>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + RawResponse,
{
    let status = err.raw_response().map(RawResponse::status);
    let header = |name: &str| err.raw_response().and_then(|r| r.header(name));
    let mut headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: Option<String>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, v);
        }
    };
    match status {
        Some(304) => {
            put(header::ETAG, header("etag"));
            put(header::LAST_MODIFIED, header("last-modified"));
            put(header::CACHE_CONTROL, Some(cache_control.to_owned()));
            Ok(Some(AssetResponse { status: StatusCode::NOT_MODIFIED, headers, body: AssetBody::empty() }))
        }
        Some(412) => {
            Ok(Some(AssetResponse { status: StatusCode::PRECONDITION_FAILED, headers, body: AssetBody::empty() }))
        }
        Some(416) => {
            put(header::ACCEPT_RANGES, Some("bytes".to_owned()));
            Ok(Some(AssetResponse { status: StatusCode::RANGE_NOT_SATISFIABLE, headers, body: AssetBody::empty() }))
        }
        Some(404) => {
            tracing::debug!(%key, "listed asset missing from the store; the function answers");
            Ok(None)
        }
        _ => Err(sdk(operation, ep)(err)),
    }
}

/// The parts of an SDK raw response read here.
trait RawResponse {
    fn status(&self) -> u16;
    fn header(&self, name: &str) -> Option<String>;
}

impl RawResponse for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers().get(name).map(str::to_owned)
    }
}
