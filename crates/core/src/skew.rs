//! Skew protection's shared rules: what a deployment id looks like, the
//! names it travels under between browsers, the proxy and functions, and
//! the note each `deployment-<N>` alias carries in its description.

use http::HeaderName;
use serde::{Deserialize, Serialize};

/// The request header Next.js sends on client navigations and server
/// actions with the deployment id the page was built with.
pub const DEPLOYMENT_ID_HEADER: HeaderName = HeaderName::from_static("x-deployment-id");
/// The query parameter Next.js adds to asset URLs (`?dpl=<id>`).
pub const DEPLOYMENT_ID_QUERY: &str = "dpl";
/// The cookie the proxy sets on HTML answers of an environment host.
pub const DEPLOYMENT_COOKIE: &str = "__ownstak_dpl";
/// The function variable holding its deployment id.
pub const DEPLOYMENT_ID_VARIABLE: &str = "OWNSTAK_DEPLOYMENT_ID";
/// The response header by which `ownstak-runtime` tells the proxy which
/// deployment answered (the proxy removes it).
pub const DEPLOYMENT_ID_RESPONSE_HEADER: HeaderName = HeaderName::from_static("x-ownstak-deployment-id");
/// The longest deployment id.
pub const MAX_DEPLOYMENT_ID_LEN: usize = 64;

/// Whether `id` may be a deployment id: 1 to [`MAX_DEPLOYMENT_ID_LEN`]
/// ASCII letters, digits, `_` and `-` (safe in a query, a header, a cookie
/// and an alias description without escaping).
pub fn valid_deployment_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DEPLOYMENT_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A deployment id derived from a hex digest of what a deployment runs:
/// `dpl_` and the digest's first 20 hex digits (80 bits).
pub fn deployment_id_from_digest(hex_digest: &str) -> String {
    let digits: String = hex_digest.chars().filter(char::is_ascii_hexdigit).take(20).collect();
    format!("dpl_{}", digits.to_ascii_lowercase())
}

/// What ownstak writes into a `deployment-<N>` alias's description: when
/// the deployment was made, its id, and when it last stopped being live.
/// Lambda limits descriptions to 256 characters; this stays far below.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentNote {
    /// When it was deployed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// Its deployment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// When `current` last moved away from it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
}

impl DeploymentNote {
    /// Reads a note from an alias description; `None` for anything else
    /// (an alias made by hand, or by an older ownstak), and a deployment id
    /// that breaks [`valid_deployment_id`] is dropped.
    pub fn parse(description: &str) -> Option<Self> {
        let mut note: Self = serde_json::from_str(description).ok()?;
        if note.deployment_id.as_deref().is_some_and(|id| !valid_deployment_id(id)) {
            note.deployment_id = None;
        }
        Some(note)
    }

    /// The note as an alias description.
    pub fn to_description(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid_deployment_id("dpl_0123456789abcdef0123"));
        assert!(valid_deployment_id("A-b_9"));
        for bad in ["", "a b", "a;b", "dpl=x", "ä", "a/b", &"x".repeat(65)] {
            assert!(!valid_deployment_id(bad), "{bad:?}");
        }
        assert_eq!(deployment_id_from_digest(&"aB".repeat(32)), "dpl_abababababababababab");
        assert!(valid_deployment_id(&deployment_id_from_digest("")));
    }

    #[test]
    fn notes_round_trip_and_tolerate_older_ones() {
        let note = DeploymentNote {
            deployed_at: Some("2026-01-01T00:00:00Z".into()),
            deployment_id: Some("dpl_1".into()),
            retired_at: Some(1_700_000_000),
        };
        let text = note.to_description();
        assert!(text.len() < 256, "{text}");
        assert_eq!(DeploymentNote::parse(&text), Some(note));
        let old = DeploymentNote::parse(r#"{"deployedAt":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!((old.deployment_id, old.retired_at), (None, None));
        assert_eq!(DeploymentNote::parse("made by hand"), None);
        assert_eq!(DeploymentNote::parse(r#"{"deploymentId":"a b"}"#).unwrap().deployment_id, None);
    }
}
