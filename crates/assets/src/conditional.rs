//! The local store: s3s-fs, plus the HTTP preconditions (`If-None-Match`,
//! `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`) of GetObject and
//! HeadObject that S3 honours and s3s-fs leaves to its callers, and
//! conditional writes (`If-Match`, `If-None-Match: *` on PutObject) made
//! atomic: s3s-fs checks the condition and then writes, so two writers
//! could both pass the check; here one conditional write runs at a time.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

/// s3s-fs with conditional reads.
#[derive(Debug)]
pub(crate) struct ConditionalFs {
    inner: FileSystem,
    /// Held through each conditional write, from its check to its rename.
    writes: tokio::sync::Mutex<()>,
}

impl ConditionalFs {
    /// Wraps a file-system store.
    pub(crate) fn new(inner: FileSystem) -> Self {
        Self { inner, writes: tokio::sync::Mutex::new(()) }
    }
}

/// The preconditions of a read.
struct Preconditions {
    if_match: Option<IfMatch>,
    if_none_match: Option<IfNoneMatch>,
    if_modified_since: Option<IfModifiedSince>,
    if_unmodified_since: Option<IfUnmodifiedSince>,
}

/// Whole seconds since the epoch: HTTP dates have no finer resolution.
fn seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

impl Preconditions {
    /// Evaluates them against the object (RFC 9110 §13.2.2 order).
    fn check(&self, e_tag: Option<&ETag>, last_modified: Option<&Timestamp>) -> S3Result<()> {
        if let Some(cond) = &self.if_match {
            let ok = match cond {
                ETagCondition::Any => true,
                ETagCondition::ETag(want) => e_tag.is_some_and(|have| have.strong_cmp(want)),
            };
            if !ok {
                return Err(s3_error!(PreconditionFailed, "If-Match does not match"));
            }
        } else if let (Some(since), Some(lm)) = (&self.if_unmodified_since, last_modified)
            && seconds(lm) > seconds(since)
        {
            return Err(s3_error!(PreconditionFailed, "modified since If-Unmodified-Since"));
        }
        let not_modified = match (&self.if_none_match, &self.if_modified_since) {
            (Some(ETagCondition::Any), _) => true,
            (Some(ETagCondition::ETag(want)), _) => e_tag.is_some_and(|have| have.weak_cmp(want)),
            (None, Some(since)) => last_modified.is_some_and(|lm| seconds(lm) <= seconds(since)),
            (None, None) => false,
        };
        if not_modified {
            let mut err = S3Error::new(S3ErrorCode::NotModified);
            let mut headers = http::HeaderMap::new();
            if let Some(v) = e_tag.and_then(|e| e.to_http_header().ok()) {
                headers.insert(http::header::ETAG, v);
            }
            if let Some(lm) = last_modified {
                let mut buf = Vec::new();
                if lm.format(TimestampFormat::HttpDate, &mut buf).is_ok()
                    && let Ok(v) = http::HeaderValue::from_bytes(&buf)
                {
                    headers.insert(http::header::LAST_MODIFIED, v);
                }
            }
            err.set_headers(headers);
            return Err(err);
        }
        Ok(())
    }
}

/// Implements [`S3`] for [`ConditionalFs`]: the listed operations go
/// straight to s3s-fs; reads check preconditions first. (One macro so that
/// `async_trait` sees every method.)
macro_rules! conditional_s3 {
    ($($op:ident: $input:ident => $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for ConditionalFs {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.inner.$op(req).await
                }
            )*

            async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
                let pre = Preconditions {
                    if_match: req.input.if_match.take(),
                    if_none_match: req.input.if_none_match.take(),
                    if_modified_since: req.input.if_modified_since.take(),
                    if_unmodified_since: req.input.if_unmodified_since.take(),
                };
                let resp = self.inner.get_object(req).await?;
                // On failure the response (and its open file) is dropped unread.
                pre.check(resp.output.e_tag.as_ref(), resp.output.last_modified.as_ref())?;
                Ok(resp)
            }

            async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
                if req.input.if_match.is_none() && req.input.if_none_match.is_none() {
                    return self.inner.put_object(req).await;
                }
                let _one_at_a_time = self.writes.lock().await;
                self.inner.put_object(req).await
            }

            async fn head_object(&self, mut req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
                let pre = Preconditions {
                    if_match: req.input.if_match.take(),
                    if_none_match: req.input.if_none_match.take(),
                    if_modified_since: req.input.if_modified_since.take(),
                    if_unmodified_since: req.input.if_unmodified_since.take(),
                };
                let resp = self.inner.head_object(req).await?;
                pre.check(resp.output.e_tag.as_ref(), resp.output.last_modified.as_ref())?;
                Ok(resp)
            }
        }
    };
}

conditional_s3! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    delete_bucket: DeleteBucketInput => DeleteBucketOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    copy_object: CopyObjectInput => CopyObjectOutput;
    delete_object: DeleteObjectInput => DeleteObjectOutput;
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
    list_objects: ListObjectsInput => ListObjectsOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: UploadPartInput => UploadPartOutput;
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
    list_parts: ListPartsInput => ListPartsOutput;
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
}
