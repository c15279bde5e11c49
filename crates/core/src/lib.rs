//! Shared vocabulary of ownstak: slugs and names, host routing, the bundle
//! manifest and the API Gateway v2 payloads exchanged with functions.
//!
//! Everything here is pure (no I/O) so that the CLI, the LambdaProxy, the
//! local backend and the runtime agree on one definition of each rule.

mod apigw;
mod backend;
mod coding;
mod event_writer;
mod headers;
mod host;
pub mod lambda;
mod logline;
mod manifest;
mod names;
mod secrets;
mod skew;
mod slug;
mod stream;

pub use apigw::{ConvertError, HttpContext, HttpEvent, HttpResponse, RequestContext};
pub use backend::{BackendInfo, BackendInfoError};
pub use coding::{ContentCoding, compressible_type, negotiate_coding};
pub use event_writer::{EventContext, RequestView, event_size_hint, write_event};
pub use headers::{HOP_BY_HOP, MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, strip_hop_by_hop, valid_request_id};
pub use host::{DomainNameError, HostError, HostSuffix, Route};
pub use logline::{
    KIND_REQUEST, KIND_STDERR, KIND_STDOUT, LogLine, log_time, log_time_now, parse_line, platform_line, runtime_line,
    start_version, stream_version,
};
pub use manifest::{BundleManifest, DEFAULT_READY_TIMEOUT_MS, MANIFEST_FILE, MANIFEST_VERSION, ManifestError};
pub use names::{
    CURRENT_ALIAS, DEPLOYMENT_ALIAS_PREFIX, DeploymentNumber, EnvironmentName, FunctionPrefix, MAX_DNS_LABEL,
    MAX_FUNCTION_NAME, NameError, Qualifier,
};
pub use secrets::{SECRETS_PATH_VARIABLE, SECRETS_VARIABLE, SecretRefs, SecretRefsError};
pub use skew::{
    DEPLOYMENT_COOKIE, DEPLOYMENT_ID_HEADER, DEPLOYMENT_ID_QUERY, DEPLOYMENT_ID_RESPONSE_HEADER,
    DEPLOYMENT_ID_VARIABLE, DeploymentNote, MAX_DEPLOYMENT_ID_LEN, deployment_id_from_digest, valid_deployment_id,
};
pub use slug::{EnvSlug, ProjectSlug, SlugError};
pub use stream::{
    DELIMITER, Decoded, HTTP_INTEGRATION_CONTENT_TYPE, Prelude, PreludeDecoder, StreamError, decode_whole,
};
