//! Static assets of deployments in an S3-compatible store.
//!
//! * [`server`]: the local backend's S3 endpoint (s3s over a directory).
//! * [`store`]: uploads at deploy time through the official `aws-sdk-s3`.
//! * [`serve`]: answers asset requests in the proxy from the store.
//! * [`purge`]: the purge log that carries cache purges to every proxy.
//! * [`domains`]: the domain map that carries custom domains to every proxy.
//! * [`document`]: what both share: small JSON documents changed with
//!   conditional writes and followed with conditional GETs.
//!
//! # Key layout
//!
//! All keys live in one bucket (locally [`DEFAULT_BUCKET`]):
//!
//! ```text
//! content/<function>/<sha256 of the bytes>[.<extension>]
//!     permanent files (`/_next/static/…`, under `.ownstak/permanent/`),
//!     addressed by their content, so a key's bytes never change: a later
//!     build with other bytes at the same path makes another object, and
//!     older deployments keep serving theirs. Shared by every deployment of
//!     the function with the same bytes; uploaded once, skipped when a HEAD
//!     finds the same size and sha256 metadata (or the MD5 ETag)
//! deployments/<function>/<version>/<path under .ownstak/assets/>
//!     per-deployment files (`public/`, a static site), keyed by the
//!     published Lambda version, which never changes (deploys put the
//!     upload's digest in the function's configuration, so other files
//!     always make another version)
//! content/<function>/<sha256 of the encoded bytes>.br | .gz
//!     Brotli- and gzip-encoded copies of text-like files (see
//!     `precompress`), listed per request path in the index
//! deployments/<function>/<version>/_index.json
//!     the [`DeploymentIndex`]: which request paths the deployment serves
//!     from the store, and for permanent files which content object holds
//!     each path's bytes; written last, so its presence means the upload is
//!     complete
//! permanent/<function>/<path under .ownstak/permanent/>
//!     permanent files of deployments made before content addressing
//!     (format-1 indexes); read, never written
//! purge/log.json
//!     the purge log ([`PurgeFeed`]): the newest cache purges of every
//!     function of the backend, appended by `ownstak cache purge` with a
//!     conditional write and polled by every proxy with a conditional GET
//! domains/map.json
//!     the domain map ([`DomainFeed`]): each custom domain's environment,
//!     changed by `ownstak domains` with conditional writes and polled by
//!     every proxy with a conditional GET
//! ```

mod client;
mod conditional;
mod document;
mod domains;
mod error;
mod index;
mod keys;
mod precompress;
mod purge;
mod serve;
mod server;
mod store;

pub use client::StoreConfig;
pub use document::Poller;
pub use domains::{DOMAIN_MAP_KEY, DomainEntry, DomainFeed, DomainMap, DomainMapError, DomainStatus};
pub use error::AssetError;
pub use index::DeploymentIndex;
pub use purge::{
    KEPT_RECORDS, MAX_SELECTORS, PURGE_LOG_KEY, Purge, PurgeError, PurgeFeed, PurgeNews, PurgeRecord, PurgeScope,
};
pub use serve::{AssetBody, AssetResolver, AssetResponse};
pub use server::{AssetServer, EndpointSecurity};
pub use store::{AssetStore, PreparedUpload, UploadPlan, UploadProgress, UploadReport, prepare_upload};

/// The bucket the local backend creates for assets.
pub const DEFAULT_BUCKET: &str = "ownstak-assets";
/// The access key clients of a local S3 endpoint sign with when they have
/// no credentials file (see [`ownstak_guard::credentials`]), and the key
/// of an [`AssetServer`] started with the default [`EndpointSecurity`].
pub const LOCAL_ACCESS_KEY: &str = "ownstak-local";
/// The secret key that goes with [`LOCAL_ACCESS_KEY`].
pub const LOCAL_SECRET_KEY: &str = "ownstak-local";
/// The region reported to S3 clients of the local endpoint.
pub const LOCAL_REGION: &str = "us-east-1";
/// `Cache-Control` of permanent (content-hashed) assets.
pub const PERMANENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of per-deployment assets.
pub const DEPLOYMENT_CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";
/// User metadata key (`x-amz-meta-sha256`) holding an object's hex SHA-256.
pub const SHA256_METADATA: &str = "sha256";
