//! `ownstak-runtime`: the bootstrap inside every ownstak Lambda function.
//!
//! It reads the bundle manifest, starts the app server on a local port,
//! then speaks the Lambda Runtime API: each API Gateway v2 event becomes an
//! HTTP/1.1 request to the app, and the app's answer becomes the
//! invocation's response.
//!
//! Modules, one concept each:
//! * [`config`]: settings read from the environment, in one place;
//! * [`logging`]: the `tracing` subscriber;
//! * [`error`]: typed errors and the Runtime API error body;
//! * [`conn`]: one persistent HTTP/1.1 connection that reconnects on demand;
//! * [`runtime_api`]: the Runtime API client;
//! * [`app`]: the app process and its readiness;
//! * `secrets`: the function's secrets, fetched from SSM at init;
//! * [`bridge`]: event → app request → function response;
//! * [`stream`]: the streamed response body and its error trailers;
//! * [`runner`]: the init phase, the invocation loop and shutdown.

#![warn(missing_docs)]

mod app;
mod bridge;
mod config;
mod conn;
mod error;
mod logging;
mod relay;
mod runner;
mod runtime_api;
mod secrets;
mod stream;

pub use bridge::{Bridge, Reply, ResponseMode};
pub use config::{Config, LogConfig};
pub use error::{ErrorReport, RunError, StreamError, chain as error_chain};
pub use logging::init as init_logging;
pub use runner::{Shutdown, run};
