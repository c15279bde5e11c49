//! The two private, encrypted buckets: code bundles and static assets,
//! each with a policy refusing any access that is not over TLS.

use serde_json::json;

use super::{Template, get_att, outputs, r, sub, tags};
use crate::spec::BackendSpec;

/// The bucket for code bundles (read by Lambda on CreateFunction/UpdateFunctionCode).
pub const CODE_BUCKET: &str = "CodeBucket";
/// The bucket for static assets (read by the proxy).
pub const ASSETS_BUCKET: &str = "AssetsBucket";
/// The code bucket's policy.
pub const CODE_BUCKET_POLICY: &str = "CodeBucketPolicy";
/// The assets bucket's policy.
pub const ASSETS_BUCKET_POLICY: &str = "AssetsBucketPolicy";

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
        t.resource(
            if id == CODE_BUCKET { CODE_BUCKET_POLICY } else { ASSETS_BUCKET_POLICY },
            "AWS::S3::BucketPolicy",
            json!({
                "Bucket": r(id),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [ {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [get_att(id, "Arn"), sub(&format!("${{{id}.Arn}}/*"))],
                        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                    } ]
                }
            }),
        );
        t.output(
            if id == CODE_BUCKET { outputs::CODE_BUCKET } else { outputs::ASSETS_BUCKET },
            &format!("Bucket for {what}"),
            r(id),
        );
    }
}
