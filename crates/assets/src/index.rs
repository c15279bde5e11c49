//! `_index.json`: which request paths a deployment serves from the store.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Format version of [`DeploymentIndex`] written now: 2 maps permanent
/// files to content objects; 1 (read only) found them by path.
pub(crate) const INDEX_FORMAT_VERSION: u32 = 2;

/// A deployment's asset index, stored at `deployments/<function>/<version>/_index.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentIndex {
    /// Always [`INDEX_FORMAT_VERSION`].
    pub version: u32,
    /// The URL prefix per-deployment files are served under (`/`, or a
    /// base path ending in `/`).
    pub assets_base: String,
    /// Per-deployment files, as paths relative to `assets/` (and to `assets_base`).
    pub assets: BTreeSet<String>,
    /// The URL prefix of permanent files (`/_next/static/`), when the
    /// deployment has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent_prefix: Option<String>,
    /// Format 2: each permanent file (as a path relative to `permanent/`
    /// and to `permanent_prefix`) and the content object holding its
    /// bytes (`<sha256>[.<ext>]` under `content/<function>/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permanent: BTreeMap<String, String>,
    /// Encoded copies of files (see `precompress`): request path → coding
    /// (`br`, `gzip`) → the content object holding the encoded bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encoded: BTreeMap<String, BTreeMap<String, String>>,
}

/// Where a request path is found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// A permanent file of a format-1 index, at this path relative to `permanent/`.
    LegacyPermanent(String),
    /// A permanent file in this content object.
    Content(String),
    /// A per-deployment file, at this path relative to `assets/`.
    Deployment(String),
}

impl DeploymentIndex {
    /// Whether the deployment has permanent assets.
    pub fn has_permanent(&self) -> bool {
        self.permanent_prefix.is_some()
    }

    /// Where a normalized request path (see
    /// [`crate::keys::normalize_request_path`]) is stored, if anywhere.
    pub fn locate(&self, path: &str) -> Option<Located> {
        if let Some(rest) =
            self.permanent_prefix.as_deref().and_then(|p| path.strip_prefix(p)).filter(|r| !r.is_empty())
        {
            if self.version < 2 {
                return Some(Located::LegacyPermanent(rest.to_owned()));
            }
            // Only the files this deployment was built with, in the bytes it was built with.
            return self.permanent.get(rest).map(|object| Located::Content(object.clone()));
        }
        let rel = path.strip_prefix(self.assets_base.as_str())?;
        self.assets.contains(rel).then(|| Located::Deployment(rel.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_paths() {
        let index = DeploymentIndex {
            version: 2,
            assets_base: "/".into(),
            assets: ["robots.txt".to_owned(), "img/a.png".to_owned()].into(),
            permanent_prefix: Some("/_next/static/".into()),
            permanent: [("chunks/x.js".to_owned(), "ab12.js".to_owned())].into(),
            encoded: BTreeMap::new(),
        };
        assert_eq!(index.locate("/robots.txt"), Some(Located::Deployment("robots.txt".into())));
        assert_eq!(index.locate("/img/a.png"), Some(Located::Deployment("img/a.png".into())));
        assert_eq!(index.locate("/_next/static/chunks/x.js"), Some(Located::Content("ab12.js".into())));
        assert_eq!(index.locate("/_next/static/chunks/other.js"), None);
        assert_eq!(index.locate("/_next/static/"), None);
        assert_eq!(index.locate("/missing.txt"), None);
        let json = serde_json::to_value(&index).unwrap();
        assert_eq!(json["permanentPrefix"], "/_next/static/");
        assert_eq!(json["permanent"]["chunks/x.js"], "ab12.js");
    }

    #[test]
    fn format_1_indexes_are_still_read() {
        let json = r#"{"version":1,"assetsBase":"/","assets":["robots.txt"],"permanentPrefix":"/_next/static/"}"#;
        let index: DeploymentIndex = serde_json::from_str(json).unwrap();
        assert_eq!(index.locate("/_next/static/chunks/x.js"), Some(Located::LegacyPermanent("chunks/x.js".into())));
        assert_eq!(index.locate("/robots.txt"), Some(Located::Deployment("robots.txt".into())));
    }
}
