//! The bundle manifest: what `ownstak-runtime` needs to start an app.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest's file name at the root of every bundle.
pub const MANIFEST_FILE: &str = "ownstak.json";
/// The manifest format this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;
/// How long the runtime waits for the app's port by default.
pub const DEFAULT_READY_TIMEOUT_MS: u64 = 10_000;

/// Describes how to run the app inside a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleManifest {
    /// Format version; always [`MANIFEST_VERSION`].
    pub version: u32,
    /// Shell command that starts the app server, run with `/bin/sh -c` in
    /// the bundle directory. The app must listen on `$PORT`.
    pub command: String,
    /// How long the app may take to accept connections, in milliseconds.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_ms: u64,
    /// Extra environment variables for the app.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

fn default_ready_timeout() -> u64 {
    DEFAULT_READY_TIMEOUT_MS
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It is not valid JSON of the expected shape.
    #[error("{MANIFEST_FILE} is not a valid bundle manifest: {0}")]
    Parse(#[from] serde_json::Error),
    /// It was written by a newer ownstak.
    #[error(
        "{MANIFEST_FILE} has version {0}, but this runtime reads version {MANIFEST_VERSION}; rebuild the bundle with this ownstak"
    )]
    Version(u32),
    /// The start command is empty.
    #[error("{MANIFEST_FILE} has an empty start command")]
    EmptyCommand,
}

impl BundleManifest {
    /// A manifest for a start command with default settings.
    pub fn for_command(command: impl Into<String>) -> Self {
        Self {
            version: MANIFEST_VERSION,
            command: command.into(),
            ready_timeout_ms: DEFAULT_READY_TIMEOUT_MS,
            env: BTreeMap::new(),
        }
    }

    /// Parses and checks a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: Self = serde_json::from_slice(bytes)?;
        if m.version != MANIFEST_VERSION {
            return Err(ManifestError::Version(m.version));
        }
        if m.command.trim().is_empty() {
            return Err(ManifestError::EmptyCommand);
        }
        Ok(m)
    }

    /// Serializes the manifest as pretty JSON.
    #[allow(clippy::expect_used, reason = "a manifest of strings and integers always serializes")]
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec_pretty(self).expect("manifest serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_validates() {
        let m = BundleManifest::for_command("node server.js");
        assert_eq!(BundleManifest::from_json(&m.to_json()).unwrap(), m);
        assert!(matches!(BundleManifest::from_json(br#"{"version":2,"command":"x"}"#), Err(ManifestError::Version(2))));
        assert!(matches!(
            BundleManifest::from_json(br#"{"version":1,"command":" "}"#),
            Err(ManifestError::EmptyCommand)
        ));
        assert!(matches!(BundleManifest::from_json(b"not json"), Err(ManifestError::Parse(_))));
        let m = BundleManifest::from_json(br#"{"version":1,"command":"x"}"#).unwrap();
        assert_eq!(m.ready_timeout_ms, DEFAULT_READY_TIMEOUT_MS);
    }
}
