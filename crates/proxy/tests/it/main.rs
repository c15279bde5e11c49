//! Integration tests of the LambdaProxy: event fidelity, limits, TLS and HTTP/2 against real clients and backends.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod common;
mod compression;
mod fidelity;
mod limits;
mod tls_http2;
