//! End-to-end tests of the `ownstak` binary: builds, deploys, assets, streaming, drains and AWS backends, with real processes.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assets;
mod aws_backend;
mod build;
mod cache;
mod domains;
mod drain;
mod e2e;
mod endpoint_security;
mod logs;
mod ownership;
mod skew;
mod start;
mod streaming;
mod vars;
