//! Integration tests of ownstak-core: hostile input against the shared parsers.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod robustness;
