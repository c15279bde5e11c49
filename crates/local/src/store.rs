//! Persistent state: functions, versions and aliases in SQLite, mirrored in
//! memory so that reads on the invoke path never touch the disk.
//!
//! Every change runs as one SQLite transaction; memory is updated only
//! after the commit, so a crash leaves either the old or the new state.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, params};

use crate::error::ApiError;
use crate::model::{AliasRecord, FunctionRecord, VersionRecord};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("state database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record did not decode.
    #[error("state database holds a record this version cannot read: {0}")]
    Decode(#[from] serde_json::Error),
    /// The data directory could not be prepared.
    #[error("cannot open the state database: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::service(e.to_string())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    latest TEXT NOT NULL,
    tags TEXT NOT NULL,
    next_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (function, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (function, name)
);
";

/// The functions of the local backend.
pub struct Store {
    db: Mutex<Connection>,
    functions: RwLock<HashMap<String, Arc<FunctionRecord>>>,
}

impl Store {
    /// Opens (or creates) the database and loads it into memory. The
    /// database and its companions are readable by their owner only (they
    /// hold function environments), and every commit is synced to disk.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_db(path)?;
        conn.execute_batch(SCHEMA)?;
        let functions = load(&conn)?;
        Ok(Self { db: Mutex::new(conn), functions: RwLock::new(functions) })
    }

    /// A snapshot of one function.
    pub fn get(&self, name: &str) -> Option<Arc<FunctionRecord>> {
        self.read().get(name).cloned()
    }

    /// Snapshots of every function, by name.
    pub fn all(&self) -> Vec<Arc<FunctionRecord>> {
        let mut v: Vec<_> = self.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<FunctionRecord>>> {
        // A poisoned lock only means a panic elsewhere; the map is still consistent
        // because it is replaced whole per change.
        self.functions.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a function; fails with a conflict if the name is taken.
    pub fn create(&self, record: FunctionRecord) -> Result<Arc<FunctionRecord>, ApiError> {
        let db = self.lock_db();
        if self.read().contains_key(&record.name) {
            return Err(ApiError::conflict(format!("Function already exist: {}", record.name)));
        }
        persist(&db, None, &record).map_err(ApiError::from)?;
        let record = Arc::new(record);
        self.write().insert(record.name.clone(), record.clone());
        Ok(record)
    }

    /// Applies a change to one function atomically. `change` edits a copy;
    /// its result is stored only if it returns `Ok`.
    pub fn update<R>(
        &self,
        name: &str,
        change: impl FnOnce(&mut FunctionRecord) -> Result<R, ApiError>,
    ) -> Result<(R, Arc<FunctionRecord>), ApiError> {
        let db = self.lock_db();
        let old = self.get(name).ok_or_else(|| not_found(name))?;
        let mut new = (*old).clone();
        let out = change(&mut new)?;
        if new != *old {
            persist(&db, Some(&old), &new).map_err(ApiError::from)?;
        }
        let new = Arc::new(new);
        self.write().insert(name.to_owned(), new.clone());
        Ok((out, new))
    }

    /// Deletes a function with its versions and aliases.
    pub fn delete(&self, name: &str) -> Result<Arc<FunctionRecord>, ApiError> {
        let db = self.lock_db();
        let old = self.get(name).ok_or_else(|| not_found(name))?;
        db.execute("DELETE FROM functions WHERE name = ?1", params![name])
            .map_err(|e| ApiError::from(StoreError::from(e)))?;
        self.write().remove(name);
        Ok(old)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<FunctionRecord>>> {
        self.functions.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // The connection holds no Rust-side invariants a panic could break.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Opens (or creates) a SQLite database readable by its owner only (it and
/// its -wal, -shm and -journal companions are 0600), in WAL mode with every
/// commit synced to disk.
pub(crate) fn open_db(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // SQLite creates a database 0644 and gives its -wal, -shm and
    // -journal files the database's mode: create it 0600 first, and
    // tighten what an older version left.
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        crate::private::private_file(Path::new(&file))?;
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// The error for a missing function.
pub(crate) fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Function not found: {name}"))
}

fn load(conn: &Connection) -> Result<HashMap<String, Arc<FunctionRecord>>, StoreError> {
    let mut out = HashMap::new();
    let mut stmt = conn.prepare("SELECT name, latest, tags, next_version FROM functions")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut functions: BTreeMap<String, FunctionRecord> = BTreeMap::new();
    for row in rows {
        let (name, latest, tags, next) = row?;
        functions.insert(
            name.clone(),
            FunctionRecord {
                name,
                latest: serde_json::from_str(&latest)?,
                versions: BTreeMap::new(),
                aliases: BTreeMap::new(),
                tags: serde_json::from_str(&tags)?,
                next_version: next as u64,
            },
        );
    }
    let mut stmt = conn.prepare("SELECT function, version, record FROM versions")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (f, v, rec) = row?;
        if let Some(func) = functions.get_mut(&f) {
            func.versions.insert(v as u64, serde_json::from_str::<VersionRecord>(&rec)?);
        }
    }
    let mut stmt = conn.prepare("SELECT function, name, record FROM aliases")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (f, name, rec) = row?;
        if let Some(func) = functions.get_mut(&f) {
            func.aliases.insert(name, serde_json::from_str::<AliasRecord>(&rec)?);
        }
    }
    for (name, f) in functions {
        out.insert(name, Arc::new(f));
    }
    Ok(out)
}

/// Writes the difference between `old` and `new` in one transaction.
fn persist(conn: &Connection, old: Option<&FunctionRecord>, new: &FunctionRecord) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO functions (name, latest, tags, next_version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET latest = excluded.latest, tags = excluded.tags, next_version = excluded.next_version",
        params![new.name, serde_json::to_string(&new.latest)?, serde_json::to_string(&new.tags)?, new.next_version as i64],
    )?;
    let empty_v = BTreeMap::new();
    let empty_a = BTreeMap::new();
    let (old_versions, old_aliases) = old.map(|o| (&o.versions, &o.aliases)).unwrap_or((&empty_v, &empty_a));
    for (n, v) in &new.versions {
        if old_versions.get(n) != Some(v) {
            tx.execute(
                "INSERT OR REPLACE INTO versions (function, version, record) VALUES (?1, ?2, ?3)",
                params![new.name, *n as i64, serde_json::to_string(v)?],
            )?;
        }
    }
    for n in old_versions.keys().filter(|n| !new.versions.contains_key(n)) {
        tx.execute("DELETE FROM versions WHERE function = ?1 AND version = ?2", params![new.name, *n as i64])?;
    }
    for (name, a) in &new.aliases {
        if old_aliases.get(name) != Some(a) {
            tx.execute(
                "INSERT OR REPLACE INTO aliases (function, name, record) VALUES (?1, ?2, ?3)",
                params![new.name, name, serde_json::to_string(a)?],
            )?;
        }
    }
    for name in old_aliases.keys().filter(|n| !new.aliases.contains_key(*n)) {
        tx.execute("DELETE FROM aliases WHERE function = ?1 AND name = ?2", params![new.name, name])?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_commit_is_synced() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("state.sqlite3")).unwrap();
        let synchronous: i64 = store.lock_db().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 2, "PRAGMA synchronous=FULL");
    }
}
