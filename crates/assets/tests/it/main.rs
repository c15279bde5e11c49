//! Integration tests of ownstak-assets: the local S3 endpoint driven by the official aws-sdk-s3 client.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod endpoint_guard;
mod s3_endpoint;
