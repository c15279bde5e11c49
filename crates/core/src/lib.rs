//! Shared vocabulary of ownstak: slugs and names, host routing, the bundle
//! manifest and the API Gateway v2 payloads exchanged with functions.
//!
//! Everything here is pure (no I/O) so that the CLI, the LambdaProxy, the
//! local backend and the runtime agree on one definition of each rule.

pub mod apigw;
pub mod backend;
pub mod host;
pub mod lambda;
pub mod manifest;
pub mod names;
pub mod slug;
pub mod stream;

pub use backend::BackendInfo;
pub use host::{HostError, HostSuffix, Route};
pub use manifest::{BundleManifest, MANIFEST_FILE};
pub use names::{DeploymentNumber, EnvironmentName, FunctionPrefix, NameError, Qualifier};
pub use slug::{EnvSlug, ProjectSlug, SlugError};
