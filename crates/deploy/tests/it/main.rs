//! Integration tests of ownstak-deploy: the deploy steps, through the official SDK, against a real local backend.

// A failed step in a test is a failed test: unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod races;
