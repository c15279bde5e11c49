//! How a function's configuration names its secrets without holding them:
//! `OWNSTAK_SECRETS_PATH` is the environment's SSM parameter path and
//! `OWNSTAK_SECRETS` lists `KEY:version` pairs, so that each published
//! version fetches exactly the secret values it was deployed with.

/// The variable holding the SSM path of an environment's parameters (ends with `/`).
pub const SECRETS_PATH_VARIABLE: &str = "OWNSTAK_SECRETS_PATH";
/// The variable listing a deployment's secrets as `KEY:version,KEY:version`.
pub const SECRETS_VARIABLE: &str = "OWNSTAK_SECRETS";

/// The secrets a deployment runs with: each name and the SSM parameter
/// version it was deployed with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRefs {
    /// The environment's parameter path, e.g. `/ownstak/acme/prod/shop/prod/`.
    pub path: String,
    /// Variable names and parameter versions, sorted by name.
    pub entries: Vec<(String, u64)>,
}

/// Why the secret references of a function configuration are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefsError {
    /// `OWNSTAK_SECRETS` is set without `OWNSTAK_SECRETS_PATH`.
    #[error(
        "{SECRETS_VARIABLE} is set but {SECRETS_PATH_VARIABLE} is not; redeploy the function with `ownstak deploy`"
    )]
    MissingPath,
    /// An entry is not `KEY:version`.
    #[error("{SECRETS_VARIABLE} has `{0}`, which is not KEY:version; redeploy the function with `ownstak deploy`")]
    Malformed(String),
}

impl SecretRefs {
    /// The full parameter name of `key` with its version selector (`<path><key>:<version>`).
    pub fn selector(&self, key: &str, version: u64) -> String {
        format!("{}{key}:{version}", self.path)
    }

    /// The function variables that carry these references (none without secrets).
    pub fn to_variables(&self) -> Vec<(String, String)> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let list = self.entries.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
        vec![(SECRETS_PATH_VARIABLE.to_owned(), self.path.clone()), (SECRETS_VARIABLE.to_owned(), list)]
    }

    /// Reads the references through `lookup`; `Ok(None)` when the function has no secrets.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SecretRefsError> {
        let Some(list) = lookup(SECRETS_VARIABLE).filter(|l| !l.trim().is_empty()) else {
            return Ok(None);
        };
        let path = lookup(SECRETS_PATH_VARIABLE).filter(|p| !p.is_empty()).ok_or(SecretRefsError::MissingPath)?;
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, version) = item.rsplit_once(':').ok_or_else(|| SecretRefsError::Malformed(item.to_owned()))?;
            let version = version.parse::<u64>().map_err(|_| SecretRefsError::Malformed(item.to_owned()))?;
            if key.is_empty() {
                return Err(SecretRefsError::Malformed(item.to_owned()));
            }
            entries.push((key.to_owned(), version));
        }
        Ok(Some(Self { path, entries }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_round_trip() {
        let refs = SecretRefs { path: "/ownstak/o/b/p/e/".into(), entries: vec![("A".into(), 3), ("B_2".into(), 1)] };
        let vars = refs.to_variables();
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(SecretRefs::from_lookup(lookup).unwrap(), Some(refs.clone()));
        assert_eq!(refs.selector("A", 3), "/ownstak/o/b/p/e/A:3");
        assert!(SecretRefs::default().to_variables().is_empty());
        assert_eq!(SecretRefs::from_lookup(|_| None).unwrap(), None);
        let only_list = |k: &str| (k == SECRETS_VARIABLE).then(|| "A:1".to_owned());
        assert_eq!(SecretRefs::from_lookup(only_list).unwrap_err(), SecretRefsError::MissingPath);
        let bad = |k: &str| Some(if k == SECRETS_VARIABLE { "A:x".to_owned() } else { "/p/".to_owned() });
        assert!(matches!(SecretRefs::from_lookup(bad).unwrap_err(), SecretRefsError::Malformed(_)));
    }
}
