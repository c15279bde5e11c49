//! The two private, encrypted buckets: code bundles and static assets.

use serde_json::json;

use super::{Template, outputs, r, tags};
use crate::spec::BackendSpec;

/// The bucket for code bundles (read by Lambda on CreateFunction/UpdateFunctionCode).
pub const CODE_BUCKET: &str = "CodeBucket";
/// The bucket for static assets (read by the proxy).
pub const ASSETS_BUCKET: &str = "AssetsBucket";

/// Adds the buckets and their outputs.
pub(crate) fn add(t: &mut Template, spec: &BackendSpec) {
    for (id, name, what) in [(CODE_BUCKET, "code", "code bundles"), (ASSETS_BUCKET, "assets", "static assets")] {
        t.resource(
            id,
            "AWS::S3::Bucket",
            json!({
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }, "BucketKeyEnabled": true }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true,
                    "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true,
                    "RestrictPublicBuckets": true
                },
                "OwnershipControls": { "Rules": [ { "ObjectOwnership": "BucketOwnerEnforced" } ] },
                "LifecycleConfiguration": {
                    "Rules": [ { "Id": "abort-incomplete-uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 } } ]
                },
                "Tags": tags(spec, name),
            }),
        );
        t.output(
            if id == CODE_BUCKET { outputs::CODE_BUCKET } else { outputs::ASSETS_BUCKET },
            &format!("Bucket for {what}"),
            r(id),
        );
    }
}
