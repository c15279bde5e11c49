//! The LambdaProxy: turns each HTTP request into an invocation of the
//! function and alias its host name names, and the function's answer into
//! the HTTP response.
//!
//! `<project>-<env>-<N>.<suffix>` invokes `<prefix>-<project>-<env>` with
//! qualifier `deployment-<N>`; `<project>-<env>.<suffix>` uses `current`.
//! A custom domain (`ownstak domains add`, read from the backend's domain
//! map) uses its environment's `current` too.
//! Functions are invoked through the [`Lambda`] boundary: the official AWS
//! SDK ([`SdkLambda`]) against AWS or any Lambda API endpoint, or an
//! in-process implementation the embedded backend provides.
//!
//! The public face: [`Proxy`] (bind, serve, drain) configured by
//! [`ProxyConfig`], [`Limits`] and [`CacheConfig`]; [`Lambda`] and its event types for
//! whoever invokes functions; [`FailureKind`], the proxy's own answers.
//! `handler.rs` tells one request's path in order.

mod assets;
mod body;
mod cache;
mod compress;
mod config;
mod conn_limits;
mod direct;
mod domains;
mod event;
mod failure;
mod forward;
mod forwarded;
mod handler;
mod internal;
mod invoker;
mod limits;
mod metrics;
mod response;
mod routing;
mod scope;
mod server;
mod skew;
mod tls;
mod versions;

pub use assets::AssetsConfig;
pub use cache::{CacheConfig, DEFAULT_PURGE_POLL_INTERVAL, DEFAULT_SESSION_COOKIES};
pub use config::{DEFAULT_SKEW_WINDOW, InvokeMode, ProxyConfig};
pub use direct::DirectLambda;
pub use failure::FailureKind;
pub use forwarded::TrustedProxies;
pub use invoker::{
    AliasEntry, BoxFuture, FunctionError, InvokeFailure, Invoked, Lambda, ResponseEvents, SdkLambda, StreamEvent,
    function_error,
};
pub use limits::Limits;
pub use server::{Proxy, ProxyError};
pub use tls::TlsSetting;
