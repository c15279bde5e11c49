//! The domain map: which environment each custom domain of the backend
//! serves, one small JSON object in the asset store's bucket
//! ([`DOMAIN_MAP_KEY`]). `ownstak domains add` and `remove` change it with
//! conditional writes (see [`crate::document`]), and every proxy follows
//! it with conditional GETs ([`DomainFeed`]), so a change reaches every
//! proxy within one poll interval.
//!
//! ```json
//! {"domains": {"shop.example.com": {"function": "ownstak-shop-prod",
//!   "project": "shop", "env": "prod", "added_at_ms": 1767225600000,
//!   "status": "active", "certificate_arn": "arn:aws:acm:…",
//!   "certificate_requested": true, "validation_zone_id": "Z123",
//!   "validation_records": ["_x.shop.example.com"]}}}
//! ```
//!
//! Proxies route only `active` domains; a `pending` one (its certificate
//! not issued yet) only holds the name for its environment.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::client::StoreConfig;
use crate::document::{Document, Read};
use crate::error::AssetError;
use crate::store::AssetStore;

/// The key of the domain map in the asset store's bucket.
pub const DOMAIN_MAP_KEY: &str = "domains/map.json";

/// The domain map as a document of the store.
const DOMAIN_MAP: Document = Document {
    key: DOMAIN_MAP_KEY,
    what: "the domain map",
    unreadable_hint: "fix or delete the object (deleting it unmaps every custom domain; add them again)",
};

/// Whether a domain serves requests yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Its certificate is not issued yet: the name is held, not routed.
    Pending,
    /// Routed to its environment's live deployment.
    #[default]
    Active,
}

impl DomainStatus {
    /// How the map spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Pending => "pending",
            DomainStatus::Active => "active",
        }
    }
}

/// One custom domain's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEntry {
    /// The function it serves (`<prefix>-<project>-<env>`).
    pub function: String,
    /// The project.
    pub project: String,
    /// The environment.
    pub env: String,
    /// When it was first added, in milliseconds since the Unix epoch.
    pub added_at_ms: u64,
    /// Whether it is routed yet.
    #[serde(default)]
    pub status: DomainStatus,
    /// Its ACM certificate (AWS backends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// Whether `ownstak domains add` requested the certificate (so
    /// `remove` deletes it; a certificate found in ACM is left alone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub certificate_requested: bool,
    /// The Route 53 zone the certificate's validation records were written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_zone_id: Option<String>,
    /// The names of the validation records written there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_records: Vec<String>,
}

impl DomainEntry {
    /// A new entry for `function` of `project`/`env`, added now.
    pub fn new(function: &str, project: &str, env: &str, status: DomainStatus) -> Self {
        let added_at_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        Self {
            function: function.to_owned(),
            project: project.to_owned(),
            env: env.to_owned(),
            added_at_ms,
            status,
            certificate_arn: None,
            certificate_requested: false,
            validation_zone_id: None,
            validation_records: Vec::new(),
        }
    }
}

/// The map object: every custom domain of the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainMap {
    /// Entries by domain (lower case, without a trailing dot).
    pub domains: BTreeMap<String, DomainEntry>,
}

/// Why the domain map was not changed.
#[derive(Debug, thiserror::Error)]
pub enum DomainMapError {
    /// The domain serves another environment.
    #[error(
        "{domain} already serves {project}/{env} ({function}); remove it there first with `ownstak domains remove {domain}`"
    )]
    Taken {
        /// The domain.
        domain: String,
        /// Its project.
        project: String,
        /// Its environment.
        env: String,
        /// Its function.
        function: String,
    },
    /// The domain is not in the map.
    #[error("{0} is not a custom domain of this backend; `ownstak domains list` shows them")]
    Unknown(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] AssetError),
}

impl AssetStore {
    /// The domain map (empty when no domain was ever added).
    pub async fn domain_map(&self) -> Result<DomainMap, AssetError> {
        Ok(DOMAIN_MAP.get(self.client(), self.config()).await?.0)
    }

    /// Maps `domain` to `entry`'s environment: adds it, or updates the
    /// entry of the same function (keeping when it was first added);
    /// refuses a domain of another function. Returns the stored entry
    /// and whether the domain was new.
    pub async fn put_domain(&self, domain: &str, entry: DomainEntry) -> Result<(DomainEntry, bool), DomainMapError> {
        DOMAIN_MAP
            .update(self.client(), self.config(), |map: &mut DomainMap| {
                let existing = map.domains.get(domain);
                if let Some(old) = existing.filter(|old| old.function != entry.function) {
                    return Err(DomainMapError::Taken {
                        domain: domain.to_owned(),
                        project: old.project.clone(),
                        env: old.env.clone(),
                        function: old.function.clone(),
                    });
                }
                let mut new = entry.clone();
                if let Some(old) = existing {
                    new.added_at_ms = old.added_at_ms;
                }
                let added = map.domains.insert(domain.to_owned(), new.clone()).is_none();
                Ok((new, added))
            })
            .await
    }

    /// Removes `domain` from the map; returns its entry.
    pub async fn remove_domain(&self, domain: &str) -> Result<DomainEntry, DomainMapError> {
        DOMAIN_MAP
            .update(self.client(), self.config(), |map: &mut DomainMap| {
                map.domains.remove(domain).ok_or_else(|| DomainMapError::Unknown(domain.to_owned()))
            })
            .await
    }
}

/// A proxy's reader of the domain map.
#[derive(Debug)]
pub struct DomainFeed {
    client: aws_sdk_s3::Client,
    config: StoreConfig,
    etag: Option<String>,
    /// Whether the last read found no map (so another miss is no news).
    missing: bool,
}

impl DomainFeed {
    /// A feed of the map in `config`'s bucket.
    pub async fn new(config: StoreConfig) -> Self {
        Self { client: config.client().await, config, etag: None, missing: false }
    }

    /// The map, if it changed since the last poll (the first poll always
    /// returns it; no map is an empty one).
    pub async fn poll(&mut self) -> Result<Option<DomainMap>, AssetError> {
        match DOMAIN_MAP.read(&self.client, &self.config, self.etag.as_deref()).await? {
            Read::Changed(map, etag) => {
                self.etag = etag;
                self.missing = false;
                Ok(Some(map))
            }
            Read::Unchanged => Ok(None),
            Read::Missing if self.missing => Ok(None),
            Read::Missing => {
                self.etag = None;
                self.missing = true;
                Ok(Some(DomainMap::default()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_round_trips_in_its_documented_shape() {
        let mut entry = DomainEntry::new("ownstak-shop-prod", "shop", "prod", DomainStatus::Pending);
        entry.added_at_ms = 5;
        entry.certificate_arn = Some("arn:c".into());
        let mut map = DomainMap::default();
        map.domains.insert("shop.example.com".into(), entry);
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(
            text,
            r#"{"domains":{"shop.example.com":{"function":"ownstak-shop-prod","project":"shop","env":"prod","added_at_ms":5,"status":"pending","certificate_arn":"arn:c"}}}"#
        );
        assert_eq!(DOMAIN_MAP.parse::<DomainMap>(text.as_bytes()).unwrap(), map);
        // A hand-written entry without a status is active.
        let plain = r#"{"domains":{"a.localhost":{"function":"f","project":"a","env":"b","added_at_ms":1}}}"#;
        let map: DomainMap = serde_json::from_str(plain).unwrap();
        assert_eq!(map.domains["a.localhost"].status, DomainStatus::Active);
    }
}
