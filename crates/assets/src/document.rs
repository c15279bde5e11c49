//! Small JSON documents in the asset store's bucket that the CLI updates
//! and every proxy follows: the purge log and the domain map.
//!
//! A writer reads the document with its ETag, changes it and puts it back
//! with `If-Match` (or `If-None-Match: *` when it did not exist), so two
//! writers never lose each other's change: the one that lost the race
//! reads again and retries. A reader polls with `If-None-Match`, so an
//! unchanged document costs a 304. A missing document reads as the
//! document's default.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::StoreConfig;
use crate::error::{AssetError, sdk};

/// Attempts of a conditional write that lost a race with another writer.
const WRITE_ATTEMPTS: u32 = 20;

/// One document: its key and how errors name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Document {
    /// The key in the bucket.
    pub(crate) key: &'static str,
    /// What it is, for messages (`the purge log`).
    pub(crate) what: &'static str,
    /// What to do when it cannot be parsed.
    pub(crate) unreadable_hint: &'static str,
}

impl Document {
    pub(crate) fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, AssetError> {
        serde_json::from_slice(bytes).map_err(|e| AssetError::Index {
            key: self.key.to_owned(),
            detail: format!("{e}; {}", self.unreadable_hint),
        })
    }

    /// Reads the document and its ETag; the default without an ETag when
    /// it does not exist.
    pub(crate) async fn get<T: DeserializeOwned + Default>(
        &self,
        client: &aws_sdk_s3::Client,
        config: &StoreConfig,
    ) -> Result<(T, Option<String>), AssetError> {
        match self.read(client, config, None).await? {
            Read::Changed(value, etag) => Ok((value, etag)),
            Read::Missing => Ok((T::default(), None)),
            // Only a conditional read answers 304.
            Read::Unchanged => Ok((T::default(), None)),
        }
    }

    /// Reads the document unless its ETag is still `etag`.
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        client: &aws_sdk_s3::Client,
        config: &StoreConfig,
        etag: Option<&str>,
    ) -> Result<Read<T>, AssetError> {
        let ep = config.endpoint_name();
        let mut get = client.get_object().bucket(&config.bucket).key(self.key);
        if let Some(etag) = etag {
            get = get.if_none_match(etag);
        }
        match get.send().await {
            Ok(out) => {
                let etag = out.e_tag.clone();
                let bytes = out.body.collect().await.map_err(|e| AssetError::Unreachable {
                    endpoint: ep.to_owned(),
                    detail: format!("reading {} broke off: {e}", self.what),
                })?;
                Ok(Read::Changed(self.parse(&bytes.into_bytes())?, etag))
            }
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => Ok(Read::Unchanged),
            Err(e) if missing(&e) => Ok(Read::Missing),
            Err(e) => Err(sdk("GetObject", ep)(e)),
        }
    }

    /// Changes the document with `change` and writes it back with a
    /// conditional write, reading and changing it again when another
    /// writer won; returns what `change` returned. A change that leaves an
    /// existing document as it was writes nothing, and an error of
    /// `change` writes nothing.
    pub(crate) async fn update<T, R, E>(
        &self,
        client: &aws_sdk_s3::Client,
        config: &StoreConfig,
        mut change: impl FnMut(&mut T) -> Result<R, E>,
    ) -> Result<R, E>
    where
        T: Serialize + DeserializeOwned + Default,
        E: From<AssetError>,
    {
        let (bucket, ep) = (&config.bucket, config.endpoint_name());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut doc, etag): (T, _) = self.get(client, config).await?;
            let before = serde_json::to_vec(&doc).map_err(|e| self.unencodable(e))?;
            let result = change(&mut doc)?;
            let body = serde_json::to_vec(&doc).map_err(|e| self.unencodable(e))?;
            if etag.is_some() && body == before {
                return Ok(result);
            }
            let put = client
                .put_object()
                .bucket(bucket)
                .key(self.key)
                .content_type("application/json")
                .cache_control("no-store")
                .body(ByteStream::from(body));
            // Only the document this change was made to may be replaced.
            let put = match etag {
                Some(etag) => put.if_match(etag),
                None => put.if_none_match("*"),
            };
            match put.send().await {
                Ok(_) => return Ok(result),
                Err(e) if lost_race(&e) && attempt < WRITE_ATTEMPTS => {
                    tracing::debug!(attempt, key = self.key, "another writer was first; changing the document again");
                    let pause = Duration::from_millis(10 + fastrand::u64(..40 * u64::from(attempt)));
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(sdk("PutObject", ep)(e).into()),
            }
        }
    }

    fn unencodable(&self, e: serde_json::Error) -> AssetError {
        AssetError::Server(format!("cannot encode {}: {e}", self.what))
    }
}

/// What a read found.
#[derive(Debug)]
pub(crate) enum Read<T> {
    /// The document (changed since the ETag given, if any) and its ETag.
    Changed(T, Option<String>),
    /// The ETag given is still the document's.
    Unchanged,
    /// There is no such document.
    Missing,
}

/// The rhythm of a follower of a document: a tick every interval (late
/// ticks are delayed, never bunched), and a failing read logged once per
/// outage rather than on every poll; what the follower holds stays as it
/// was meanwhile.
#[derive(Debug)]
pub struct Poller {
    ticks: tokio::time::Interval,
    what: &'static str,
    failing: bool,
}

impl Poller {
    /// Polls every `interval` the document named `what` (`the purge log`).
    pub fn new(interval: Duration, what: &'static str) -> Self {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { ticks, what, failing: false }
    }

    /// Waits for the next poll (the first comes at once).
    pub async fn tick(&mut self) {
        self.ticks.tick().await;
    }

    /// Notes how a poll went.
    pub fn outcome(&mut self, result: Result<(), &AssetError>) {
        match result {
            Ok(()) if self.failing => {
                tracing::info!("{} is readable again", self.what);
                self.failing = false;
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                tracing::warn!(error = %e, "cannot read {}; its changes reach this proxy once it can", self.what);
                self.failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Whether an S3 error is a lost conditional-write race (412, or 409
/// while another conditional write of the key is in progress).
fn lost_race<E, R: std::fmt::Debug>(err: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    let code = err.as_service_error().and_then(|e| e.code());
    matches!(code, Some("PreconditionFailed" | "ConditionalRequestConflict"))
}

/// Whether an S3 error means the object does not exist.
fn missing<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("NoSuchKey")
        || err.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}
