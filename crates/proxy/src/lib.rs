//! The LambdaProxy: turns each HTTP request into an invocation of the
//! function and alias its host name names, and the function's answer into
//! the HTTP response.
//!
//! `<project>-<env>-<N>.<suffix>` invokes `<prefix>-<project>-<env>` with
//! qualifier `deployment-<N>`; `<project>-<env>.<suffix>` uses `current`.
//! Functions are invoked through the official AWS SDK, so the same proxy
//! serves the local backend and AWS Lambda.

mod assets;
mod body;
mod config;
mod conn_limits;
mod error;
mod forwarded;
mod handler;
mod invoker;
mod limits;
mod metrics;
mod server;
mod tls;

pub use assets::AssetsConfig;
pub use config::{InvokeMode, ProxyConfig};
pub use forwarded::TrustedProxies;
pub use limits::Limits;
pub use server::{Proxy, ProxyError};
pub use tls::TlsSetting;
