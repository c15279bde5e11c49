//! Uploading a build's static files at deploy time (see the crate docs for
//! the key layout).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use serde::Serialize;
use sha2::Sha256;

use crate::client::StoreConfig;
use crate::error::{AssetError, sdk};
use crate::index::{DeploymentIndex, INDEX_FORMAT_VERSION};
use crate::keys;
use crate::precompress;
use crate::{DEPLOYMENT_CACHE_CONTROL, PERMANENT_CACHE_CONTROL, SHA256_METADATA};

/// How many files are uploaded at once.
pub(crate) const UPLOAD_CONCURRENCY: usize = 4;
/// Deepest directory nesting followed (guards against symlink loops).
const MAX_DEPTH: usize = 64;

/// What a deployment uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadPlan {
    /// `.ownstak/permanent`, if the build has one.
    pub permanent_dir: Option<PathBuf>,
    /// The URL prefix of permanent files (`/_next/static/`).
    pub permanent_prefix: Option<String>,
    /// `.ownstak/assets`, if the build has one.
    pub assets_dir: Option<PathBuf>,
    /// The URL prefix of per-deployment files (`/` or a base path ending in `/`).
    pub assets_base: String,
}

/// One file handled during an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    /// The object key.
    pub key: String,
    /// Its size.
    pub bytes: u64,
    /// Whether it was skipped (already stored with the same content).
    pub skipped: bool,
    /// Files handled so far, this one included.
    pub done: usize,
    /// Files to handle in all.
    pub total: usize,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadReport {
    /// Files uploaded.
    pub uploaded_files: u64,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Files already stored with the same content.
    pub skipped_files: u64,
    /// Bytes of the skipped files.
    pub skipped_bytes: u64,
}

/// Where a file goes.
#[derive(Debug, Clone)]
enum Destination {
    /// A permanent file: the content object holding its bytes.
    Content(String),
    /// A per-deployment file at this path relative to `assets/`.
    Deployment(String),
}

/// A file to upload, hashed.
#[derive(Debug, Clone)]
struct Job {
    destination: Destination,
    path: PathBuf,
    rel: String,
    size: u64,
    hashes: Hashes,
    cache_control: &'static str,
    /// An encoded copy's bytes and coding (`br`, `gzip`), uploaded instead
    /// of the file at `path` (whose `rel` still gives the content type).
    encoded: Option<(bytes::Bytes, &'static str)>,
}

/// The hashes of a file's bytes.
#[derive(Debug, Clone)]
struct Hashes {
    md5: [u8; 16],
    sha256: String,
}

/// A build's files, listed and hashed, with the index the deployment will
/// serve: everything an upload needs except where to (function and
/// version), so that its [`digest`](Self::digest) can go into the
/// function's configuration before the version is published.
#[derive(Debug, Clone)]
pub struct PreparedUpload {
    jobs: Vec<Job>,
    index: DeploymentIndex,
    digest: String,
}

impl PreparedUpload {
    /// An upload of no files: it writes an empty index, so the store
    /// serves nothing for the deployment.
    pub fn empty() -> Self {
        // Infallible: no directories to read.
        prepare_blocking(&UploadPlan { assets_base: "/".to_owned(), ..UploadPlan::default() })
            .unwrap_or_else(|_| Self { jobs: Vec::new(), index: DeploymentIndex::default(), digest: String::new() })
    }

    /// The hex SHA-256 of everything the deployment will serve from the
    /// store (the index, and the bytes of every file). Deploys put it in
    /// the function's configuration, so that a build whose files differ
    /// always publishes a new version: the files stored for a version never
    /// change once an alias points at it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// How many files the upload handles.
    pub fn files(&self) -> usize {
        self.jobs.len()
    }

    /// The index the deployment will serve.
    pub fn index(&self) -> &DeploymentIndex {
        &self.index
    }
}

/// Lists and hashes a plan's files (off the async threads). Permanent
/// files are addressed by their content (see the crate docs), so that no
/// later deploy can change the bytes an earlier deployment serves under a
/// path, whatever the build names its files.
pub async fn prepare_upload(plan: &UploadPlan) -> Result<PreparedUpload, AssetError> {
    let plan = plan.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(&plan))
        .await
        .map_err(|e| AssetError::Server(format!("hashing task failed: {e}")))?
}

fn prepare_blocking(plan: &UploadPlan) -> Result<PreparedUpload, AssetError> {
    let mut jobs = Vec::new();
    let mut index =
        DeploymentIndex { version: INDEX_FORMAT_VERSION, assets_base: plan.assets_base.clone(), ..Default::default() };
    if let Some(dir) = plan.permanent_dir.as_deref().filter(|d| d.is_dir()) {
        for (rel, path, size) in list_files(dir)? {
            let hashes = hash_file(&path)?;
            let object = keys::content_object(&hashes.sha256, &rel);
            index.permanent.insert(rel.clone(), object.clone());
            jobs.push(Job {
                destination: Destination::Content(object),
                path,
                rel,
                size,
                hashes,
                cache_control: PERMANENT_CACHE_CONTROL,
                encoded: None,
            });
        }
        if !jobs.is_empty() {
            index.permanent_prefix = Some(plan.permanent_prefix.clone().unwrap_or_else(|| "/_next/static/".to_owned()));
        }
    }
    let mut asset_hashes = Vec::new();
    if let Some(dir) = plan.assets_dir.as_deref().filter(|d| d.is_dir()) {
        for (rel, path, size) in list_files(dir)? {
            let hashes = hash_file(&path)?;
            asset_hashes.push((rel.clone(), hashes.sha256.clone()));
            index.assets.insert(rel.clone());
            jobs.push(Job {
                destination: Destination::Deployment(rel.clone()),
                path,
                rel,
                size,
                hashes,
                cache_control: DEPLOYMENT_CACHE_CONTROL,
                encoded: None,
            });
        }
    }
    add_encoded_copies(&mut jobs, &mut index)?;
    let mut digest = Sha256::new();
    digest.update(serde_json::to_vec(&index).unwrap_or_default());
    for (rel, sha) in &asset_hashes {
        digest.update(format!("\n{sha} {rel}"));
    }
    Ok(PreparedUpload { jobs, index, digest: hex::encode(digest.finalize()) })
}

/// Adds a job per encoded copy worth storing of each file (see
/// `precompress`) and lists the copies in the index by request path.
fn add_encoded_copies(jobs: &mut Vec<Job>, index: &mut DeploymentIndex) -> Result<(), AssetError> {
    let mut copies = Vec::new();
    for job in jobs.iter() {
        let request_path = match &job.destination {
            Destination::Content(_) => format!("{}{}", index.permanent_prefix.as_deref().unwrap_or("/"), job.rel),
            Destination::Deployment(rel) => format!("{}{rel}", index.assets_base),
        };
        for variant in precompress::variants(&job.path, &job.rel, job.size)? {
            let hashes = hash_bytes(&variant.bytes);
            let object = keys::content_object(&hashes.sha256, &format!("x.{}", variant.extension()));
            let token = variant.coding.token();
            index.encoded.entry(request_path.clone()).or_default().insert(token.to_owned(), object.clone());
            copies.push(Job {
                destination: Destination::Content(object),
                path: job.path.clone(),
                rel: job.rel.clone(),
                size: variant.bytes.len() as u64,
                hashes,
                cache_control: job.cache_control,
                encoded: Some((variant.bytes, token)),
            });
        }
    }
    jobs.extend(copies);
    Ok(())
}

/// The asset store seen by deploys.
#[derive(Debug, Clone)]
pub struct AssetStore {
    client: aws_sdk_s3::Client,
    config: StoreConfig,
}

impl AssetStore {
    /// A store for a configuration.
    pub async fn new(config: StoreConfig) -> Self {
        Self { client: config.client().await, config }
    }

    /// A store reached through an S3 client built elsewhere (an AWS
    /// backend's account configuration).
    pub fn with_client(client: aws_sdk_s3::Client, config: StoreConfig) -> Self {
        Self { client, config }
    }

    /// The S3 client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), AssetError> {
        let res = self.client.create_bucket().bucket(&self.config.bucket).send().await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk("CreateBucket", self.config.endpoint_name())(e)),
        }
    }

    /// Uploads a build's files for `version` of `function`: permanent files
    /// unless already stored, then per-deployment files, then the index.
    pub async fn upload(
        &self,
        function: &str,
        version: &str,
        plan: &UploadPlan,
        progress: impl FnMut(&UploadProgress),
    ) -> Result<UploadReport, AssetError> {
        let prepared = prepare_upload(plan).await?;
        self.upload_prepared(function, version, &prepared, progress).await
    }

    /// Uploads prepared files for `version` of `function` (content objects
    /// already stored are skipped), then writes the index last.
    pub async fn upload_prepared(
        &self,
        function: &str,
        version: &str,
        prepared: &PreparedUpload,
        mut progress: impl FnMut(&UploadProgress),
    ) -> Result<UploadReport, AssetError> {
        keys::check_function(function)?;
        keys::check_version(version)?;
        let mut jobs = Vec::with_capacity(prepared.jobs.len());
        for job in &prepared.jobs {
            let key = match &job.destination {
                Destination::Content(object) => keys::content_key(function, object)?,
                Destination::Deployment(rel) => keys::deployment_key(function, version, rel)?,
            };
            jobs.push((key, job));
        }
        let total = jobs.len();
        let mut report = UploadReport::default();
        let mut results = futures_util::stream::iter(jobs.into_iter().map(|(key, job)| self.put_file(key, job)))
            .buffer_unordered(UPLOAD_CONCURRENCY);
        let mut done = 0;
        while let Some(result) = results.next().await {
            let (key, bytes, skipped) = result?;
            done += 1;
            if skipped {
                report.skipped_files += 1;
                report.skipped_bytes += bytes;
            } else {
                report.uploaded_files += 1;
                report.uploaded_bytes += bytes;
            }
            progress(&UploadProgress { key, bytes, skipped, done, total });
        }
        drop(results);
        self.put_index(function, version, &prepared.index).await?;
        tracing::info!(%function, %version, uploaded = report.uploaded_files, skipped = report.skipped_files, "assets uploaded");
        Ok(report)
    }

    /// Gives `to` the static assets of `from` (another version of the same
    /// function, for `deploy --redeploy`): its per-deployment files, then its
    /// index (last, as an upload does); content objects are shared already.
    /// `Ok(None)` when `from` has no index, so nothing was copied.
    pub async fn copy_deployment(
        &self,
        function: &str,
        from: &str,
        to: &str,
    ) -> Result<Option<UploadReport>, AssetError> {
        let ep = self.config.endpoint_name();
        let from_prefix = keys::deployment_prefix(function, from)?;
        let to_prefix = keys::deployment_prefix(function, to)?;
        let index = keys::index_key(function, from)?;
        let mut report = UploadReport::default();
        if from == to {
            return Ok(Some(report));
        }
        match self.client.head_object().bucket(&self.config.bucket).key(&index).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(sdk("HeadObject", ep)(e)),
        }
        let mut keys_found = Vec::new();
        let mut pages =
            self.client.list_objects_v2().bucket(&self.config.bucket).prefix(&from_prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk("ListObjectsV2", ep))?;
            keys_found
                .extend(page.contents().iter().filter_map(|o| o.key()).filter(|k| *k != index).map(str::to_owned));
        }
        // The index goes last, so a reader never finds it before its files.
        keys_found.push(index.clone());
        for key in keys_found {
            let rel = key.strip_prefix(&from_prefix).unwrap_or(&key);
            let got = self
                .client
                .get_object()
                .bucket(&self.config.bucket)
                .key(&key)
                .send()
                .await
                .map_err(sdk("GetObject", ep))?;
            let (content_type, cache_control, metadata) = (
                got.content_type().map(str::to_owned),
                got.cache_control().map(str::to_owned),
                got.metadata().cloned(),
            );
            let body =
                got.body.collect().await.map_err(|e| AssetError::Index { key: key.clone(), detail: e.to_string() })?;
            let bytes = body.into_bytes();
            self.client
                .put_object()
                .bucket(&self.config.bucket)
                .key(format!("{to_prefix}{rel}"))
                .set_content_type(content_type)
                .set_cache_control(cache_control)
                .set_metadata(metadata)
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await
                .map_err(sdk("PutObject", ep))?;
            if key != index {
                report.uploaded_files += 1;
                report.uploaded_bytes += bytes.len() as u64;
            }
        }
        tracing::info!(%function, %from, %to, files = report.uploaded_files, "assets copied from another deployment");
        Ok(Some(report))
    }

    /// Writes the deployment index (last, so it marks a complete upload).
    async fn put_index(&self, function: &str, version: &str, index: &DeploymentIndex) -> Result<(), AssetError> {
        let key = keys::index_key(function, version)?;
        let body =
            serde_json::to_vec(index).map_err(|e| AssetError::Index { key: key.clone(), detail: e.to_string() })?;
        self.client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type("application/json")
            .cache_control("no-cache")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk("PutObject", self.config.endpoint_name()))?;
        Ok(())
    }

    /// Uploads one file unless the store has the same bytes under its key;
    /// returns its key, size and whether it was skipped.
    async fn put_file(&self, key: String, job: &Job) -> Result<(String, u64, bool), AssetError> {
        let hashes = &job.hashes;
        let ep = self.config.endpoint_name();
        match self.client.head_object().bucket(&self.config.bucket).key(&key).send().await {
            Ok(head) => {
                let same_size = head.content_length().and_then(|n| u64::try_from(n).ok()) == Some(job.size);
                let same_sha = head
                    .metadata()
                    .and_then(|m| m.get(SHA256_METADATA))
                    .is_some_and(|s| s.eq_ignore_ascii_case(&hashes.sha256));
                let same_md5 = head
                    .e_tag()
                    .map(|e| e.trim_matches('"'))
                    .is_some_and(|e| e.eq_ignore_ascii_case(&hex::encode(hashes.md5)));
                if same_size && (same_sha || same_md5) {
                    tracing::debug!(%key, "unchanged; skipped");
                    return Ok((key, job.size, true));
                }
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(sdk("HeadObject", ep)(e)),
        }
        let body = match &job.encoded {
            Some((bytes, _)) => ByteStream::from(bytes.clone()),
            None => ByteStream::from_path(&job.path).await.map_err(|e| AssetError::Io {
                action: "cannot read",
                path: job.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
        };
        // Content-MD5 makes the store refuse the body if the file changed since it was hashed.
        self.client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type(content_type(&job.rel))
            .cache_control(job.cache_control)
            .content_length(i64::try_from(job.size).unwrap_or(i64::MAX))
            .content_md5(base64::engine::general_purpose::STANDARD.encode(hashes.md5))
            .metadata(SHA256_METADATA, &hashes.sha256)
            .set_content_encoding(job.encoded.as_ref().map(|(_, coding)| (*coding).to_owned()))
            .body(body)
            .send()
            .await
            .map_err(sdk("PutObject", ep))?;
        Ok((key, job.size, false))
    }
}

/// The `Content-Type` of a file by its extension (UTF-8 for text).
pub(crate) fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(essence, "application/javascript" | "application/json" | "image/svg+xml");
    if textual && mime.get_param("charset").is_none() {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

fn hash_bytes(bytes: &[u8]) -> Hashes {
    Hashes { md5: Md5::digest(bytes).into(), sha256: hex::encode(Sha256::digest(bytes)) }
}

fn hash_file(path: &Path) -> Result<Hashes, AssetError> {
    let mut file = std::fs::File::open(path).map_err(AssetError::io("cannot open", path))?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(AssetError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    Ok(Hashes { md5: md5.finalize().into(), sha256: hex::encode(sha.finalize()) })
}

/// Every file under `dir` (symlinks followed) as `(relative path with /, path, size)`,
/// sorted; names that are not UTF-8 or not usable in keys are skipped with a warning.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf, u64)>, AssetError> {
    let mut out = Vec::new();
    walk(dir, "", 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, rel: &str, depth: usize, out: &mut Vec<(String, PathBuf, u64)>) -> Result<(), AssetError> {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "directories nested too deep (a symlink loop?); skipped");
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(AssetError::io("cannot read", dir))? {
        let entry = entry.map_err(AssetError::io("cannot read", dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %path.display(), "file name is not UTF-8; not uploaded");
            continue;
        };
        let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        // Follows symlinks; a dangling one is skipped.
        let Ok(meta) = std::fs::metadata(&path) else {
            tracing::warn!(path = %path.display(), "dangling symlink; not uploaded");
            continue;
        };
        if meta.is_dir() {
            walk(&path, &child, depth + 1, out)?;
        } else if meta.is_file() {
            if keys::check_relative(&child).is_err() {
                tracing::warn!(path = %path.display(), "file name cannot be an object key; not uploaded");
                continue;
            }
            out.push((child, path, meta.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("x.png"), "image/png");
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
