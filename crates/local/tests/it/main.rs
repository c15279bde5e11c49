//! Integration tests of the local Lambda service, driven by the official AWS SDK for Rust, boto3 and foreign runtime clients.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod endpoint_guard;
mod files;
mod foreign_runtime;
mod packages;
mod python_clients;
mod sdk_control_plane;
mod ssm;
