//! The parameters behind the local SSM endpoint: every version of every
//! parameter in SQLite (`parameters.sqlite3`, 0600, every commit synced),
//! SecureString values included.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::error::SsmError;
use crate::store::{StoreError, open_db};

/// The longest value of a standard parameter, in bytes.
pub(crate) const MAX_VALUE_BYTES: usize = 4096;
/// The most versions SSM keeps of a parameter; writing one more drops the oldest.
pub(crate) const MAX_VERSIONS: u64 = 100;
/// The longest parameter name.
const MAX_NAME_LEN: usize = 1011;
/// The deepest hierarchy SSM accepts.
const MAX_LEVELS: usize = 15;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS parameters (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (name, version)
);
";

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parameter {
    /// The full name, e.g. `/ownstak/dev/local/shop/prod/API_KEY`.
    pub(crate) name: String,
    /// `String`, `StringList` or `SecureString`.
    pub(crate) kind: String,
    /// The value as stored (plain text: the file is private to its owner).
    pub(crate) value: String,
    /// The version, from 1.
    pub(crate) version: u64,
    /// When this version was written, in Unix seconds.
    pub(crate) modified: f64,
}

/// Every parameter of the local backend.
pub(crate) struct ParameterStore {
    db: Mutex<Connection>,
}

impl ParameterStore {
    /// Opens (or creates) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_db(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { db: Mutex::new(conn) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // The connection holds no Rust-side invariants a panic could break.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a new version (the first when `name` is new) and returns its number.
    pub(crate) fn put(&self, name: &str, kind: &str, value: &str, overwrite: bool) -> Result<u64, SsmError> {
        check_name(name)?;
        if !matches!(kind, "String" | "StringList" | "SecureString") {
            return Err(SsmError::validation(format!(
                "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            )));
        }
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(SsmError::validation(format!(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_BYTES} and greater than or equal to 1 (it has {} bytes); standard parameters hold at most 4 KiB",
                value.len()
            )));
        }
        let db = self.lock();
        let tx = db.unchecked_transaction().map_err(SsmError::store)?;
        let latest: Option<u64> = tx
            .query_row("SELECT MAX(version) FROM parameters WHERE name = ?1", params![name], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(SsmError::store)?
            .map(|v| v as u64);
        if latest.is_some() && !overwrite {
            return Err(SsmError::new(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        let version = latest.unwrap_or(0) + 1;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        tx.execute(
            "INSERT INTO parameters (name, version, type, value, modified) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, version as i64, kind, value, now],
        )
        .map_err(SsmError::store)?;
        if version > MAX_VERSIONS {
            tx.execute(
                "DELETE FROM parameters WHERE name = ?1 AND version <= ?2",
                params![name, (version - MAX_VERSIONS) as i64],
            )
            .map_err(SsmError::store)?;
        }
        tx.commit().map_err(SsmError::store)?;
        Ok(version)
    }

    /// A version of `name` (the latest without one); `None` when missing.
    pub(crate) fn get(&self, name: &str, version: Option<u64>) -> Result<Option<Parameter>, SsmError> {
        let db = self.lock();
        let row = match version {
            Some(v) => db
                .query_row(
                    "SELECT name, type, value, version, modified FROM parameters WHERE name = ?1 AND version = ?2",
                    params![name, v as i64],
                    row,
                )
                .optional(),
            None => db
                .query_row(
                    "SELECT name, type, value, version, modified FROM parameters WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                    params![name],
                    row,
                )
                .optional(),
        };
        row.map_err(SsmError::store)
    }

    /// Whether any version of `name` exists.
    pub(crate) fn exists(&self, name: &str) -> Result<bool, SsmError> {
        Ok(self.get(name, None)?.is_some())
    }

    /// The latest version of each parameter under `path` (`/a/b` or
    /// `/a/b/`): its direct children, or every descendant when `recursive`.
    pub(crate) fn by_path(&self, path: &str, recursive: bool) -> Result<Vec<Parameter>, SsmError> {
        if !path.starts_with('/') {
            return Err(SsmError::validation(format!(
                "The parameter path {path} is not valid: a path starts with a forward slash (/)"
            )));
        }
        let prefix = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
        let db = self.lock();
        let mut stmt = db
            .prepare(
                "SELECT p.name, p.type, p.value, p.version, p.modified FROM parameters p
                 JOIN (SELECT name, MAX(version) AS v FROM parameters GROUP BY name) l
                   ON p.name = l.name AND p.version = l.v
                 WHERE substr(p.name, 1, length(?1)) = ?1 ORDER BY p.name",
            )
            .map_err(SsmError::store)?;
        let rows = stmt.query_map(params![prefix], row).map_err(SsmError::store)?;
        let mut out = Vec::new();
        for r in rows {
            let p = r.map_err(SsmError::store)?;
            if recursive || !p.name[prefix.len()..].contains('/') {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Deletes every version of `name`; false when it did not exist.
    pub(crate) fn delete(&self, name: &str) -> Result<bool, SsmError> {
        let n =
            self.lock().execute("DELETE FROM parameters WHERE name = ?1", params![name]).map_err(SsmError::store)?;
        Ok(n > 0)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Parameter> {
    Ok(Parameter {
        name: r.get(0)?,
        kind: r.get(1)?,
        value: r.get(2)?,
        version: r.get::<_, i64>(3)? as u64,
        modified: r.get(4)?,
    })
}

/// SSM's rules for names: letters, digits, `.-_/`, a leading `/` for a
/// hierarchy, at most 15 levels and 1011 characters, no `aws`/`ssm` prefix.
pub(crate) fn check_name(name: &str) -> Result<(), SsmError> {
    let invalid = |why: &str| SsmError::validation(format!("Parameter name {name:?} is not valid: {why}"));
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid("a name has 1 to 1011 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
        return Err(invalid("only a-zA-Z0-9_.- and / are allowed"));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(invalid("a hierarchical name starts with a forward slash (/)"));
    }
    if name.ends_with('/') || name.contains("//") {
        return Err(invalid("a name has no empty level"));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(invalid("names beginning with aws or ssm are reserved"));
    }
    if name.matches('/').count() > MAX_LEVELS {
        return Err(SsmError::new(
            "HierarchyLevelLimitExceededException",
            format!("Parameter name {name} has more than {MAX_LEVELS} levels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn versions_paths_and_deletes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parameters.sqlite3");
        let store = ParameterStore::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(store.put("/a/b/K", "SecureString", "one", false).unwrap(), 1);
        assert_eq!(store.put("/a/b/K", "SecureString", "two", true).unwrap(), 2);
        assert!(store.put("/a/b/K", "String", "x", false).is_err());
        store.put("/a/b/c/deep", "String", "d", false).unwrap();
        assert_eq!(store.get("/a/b/K", Some(1)).unwrap().unwrap().value, "one");
        assert_eq!(store.get("/a/b/K", None).unwrap().unwrap().value, "two");
        let direct: Vec<String> = store.by_path("/a/b", false).unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(direct, ["/a/b/K"]);
        assert_eq!(store.by_path("/a/b/", true).unwrap().len(), 2);
        assert!(store.delete("/a/b/K").unwrap());
        assert!(!store.delete("/a/b/K").unwrap());
        assert!(store.get("/a/b/K", Some(1)).unwrap().is_none());
        assert!(store.put("/a/b/big", "SecureString", &"x".repeat(4097), false).is_err());
        for bad in ["a/b", "/a//b", "/aws/x", "/a b", "/a/"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_last_hundred_versions_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ParameterStore::open(&dir.path().join("p.sqlite3")).unwrap();
        for i in 0..=MAX_VERSIONS {
            store.put("/k", "String", &i.to_string(), true).unwrap();
        }
        assert!(store.get("/k", Some(1)).unwrap().is_none());
        assert_eq!(store.get("/k", Some(2)).unwrap().unwrap().value, "1");
    }
}
