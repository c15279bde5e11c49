//! Integration tests of ownstak-aws: the backend template and its lifecycle against moto's server.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod logs;
mod moto;
mod template;
