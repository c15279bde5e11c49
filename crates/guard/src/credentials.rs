//! The local backend's access key pair, kept in `<data-dir>/credentials`.
//!
//! `ownstak local up` creates the file the first time it starts on a data
//! directory (mode 0600, never rewritten afterwards) and uses the key pair
//! for its own clients; with `--verify-signatures` it accepts no other.
//! `ownstak` commands pointed at a local backend read the same file from
//! their data directory (`--data-dir`, `OWNSTAK_DATA_DIR`, else
//! `~/.ownstak/local`) and fall back to [`KeyPair::fallback`] when it is
//! missing.
//!
//! The file has the format of `~/.aws/credentials`, with the key pair as
//! the `default` profile, so AWS tools use it as it is:
//!
//! ```text
//! AWS_SHARED_CREDENTIALS_FILE=~/.ownstak/local/credentials aws lambda list-functions --endpoint-url http://127.0.0.1:9001
//! ```

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The file name inside the data directory.
pub const CREDENTIALS_FILE: &str = "credentials";
/// The profile section holding the key pair.
pub const PROFILE: &str = "default";

/// An AWS access key pair. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    access_key_id: String,
    secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A key pair.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self { access_key_id: access_key_id.into(), secret_access_key: secret_access_key.into() }
    }

    /// The fixed pair ownstak signs with when no credentials file is found:
    /// good for a backend that accepts any key, refused by one that verifies.
    pub fn fallback() -> Self {
        Self::new("ownstak-local", "ownstak-local")
    }

    /// A fresh random pair: a 20-character key id starting with `OWNSTAK`
    /// and a 40-character secret, from the operating system's generator.
    pub fn generate() -> Result<Self, CredentialsError> {
        let mut id = [0u8; 13];
        let mut secret = [0u8; 30];
        getrandom::fill(&mut id)
            .and_then(|()| getrandom::fill(&mut secret))
            .map_err(|e| CredentialsError::Random(e.to_string()))?;
        const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let id: String = id.iter().map(|b| char::from(BASE32[usize::from(b % 32)])).collect();
        Ok(Self::new(format!("OWNSTAK{id}"), base64::engine::general_purpose::STANDARD.encode(secret)))
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

/// The credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not what `ownstak local up` writes.
    #[error("{} is not a valid credentials file ({reason}); delete it and run `ownstak local up` to make a new key pair", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No random bytes.
    #[error("cannot generate a key pair: {0}")]
    Random(String),
}

/// The credentials file of a data directory.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIALS_FILE)
}

/// The key pair of a data directory; `None` when it has no credentials file.
pub fn load(data_dir: &Path) -> Result<Option<KeyPair>, CredentialsError> {
    let path = credentials_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map(Some).map_err(|reason| CredentialsError::Invalid { path, reason }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialsError::Io { action: "cannot read", path, source }),
    }
}

/// The key pair of a data directory, created (mode 0600) when it has none.
/// Two backends starting at once on the same directory end up with the
/// same pair: the file appears complete or not at all.
pub fn load_or_create(data_dir: &Path) -> Result<KeyPair, CredentialsError> {
    let path = credentials_path(data_dir);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| CredentialsError::Io { action, path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io("cannot create", data_dir))?;
    if let Some(keys) = load(data_dir)? {
        tighten(&path)?;
        return Ok(keys);
    }
    let keys = KeyPair::generate()?;
    let nonce = getrandom::u32().unwrap_or_default();
    let tmp = data_dir.join(format!(".{CREDENTIALS_FILE}.{}.{nonce:08x}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(render(&keys).as_bytes())?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(keys),
        // Another backend made it first: use its pair.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(data_dir)?.ok_or_else(|| {
            CredentialsError::Invalid { path: path.clone(), reason: "it vanished while being created".to_owned() }
        }),
        Err(source) => Err(CredentialsError::Io { action: "cannot write", path, source }),
    }
}

/// Makes an existing file private again if someone widened its mode.
fn tighten(path: &Path) -> Result<(), CredentialsError> {
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| CredentialsError::Io { action, path, source }
    };
    let mode = std::fs::metadata(path).map_err(io("cannot read"))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the credentials file was readable by others; making it 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io("cannot restrict"))?;
    }
    Ok(())
}

fn render(keys: &KeyPair) -> String {
    format!(
        "# The access key pair of the ownstak local backend that keeps its data in this directory.\n\
         # `ownstak local up --verify-signatures` accepts only requests signed with it; ownstak\n\
         # commands pointed at this data directory sign with it. AWS tools can use it as it is:\n\
         # AWS_SHARED_CREDENTIALS_FILE=<this file>. Delete the file to get a new pair.\n\
         [{PROFILE}]\n\
         aws_access_key_id = {}\n\
         aws_secret_access_key = {}\n",
        keys.access_key_id, keys.secret_access_key
    )
}

/// Reads the `default` profile's key pair from a file in the
/// `~/.aws/credentials` format.
fn parse(text: &str) -> Result<KeyPair, String> {
    let (mut section, mut id, mut secret) = (None::<&str>, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim());
            continue;
        }
        if section != Some(PROFILE) {
            continue;
        }
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("aws_access_key_id", v)) if !v.is_empty() => id = Some(v.to_owned()),
            Some(("aws_secret_access_key", v)) if !v.is_empty() => secret = Some(v.to_owned()),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(KeyPair::new(id, secret)),
        _ => Err(format!("no [{PROFILE}] profile with aws_access_key_id and aws_secret_access_key")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(load(&data).unwrap().is_none());
        let keys = load_or_create(&data).unwrap();
        let path = credentials_path(&data);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(keys.access_key_id().starts_with("OWNSTAK") && keys.access_key_id().len() == 20);
        assert_eq!(keys.secret_access_key().len(), 40);
        assert!(!format!("{keys:?}").contains(keys.secret_access_key()), "Debug hides the secret");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[default]\naws_access_key_id = OWNSTAK"), "{text}");

        assert_eq!(load_or_create(&data).unwrap(), keys, "reused, not regenerated");
        assert_eq!(load(&data).unwrap(), Some(keys.clone()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create(&data).unwrap(), keys);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "tightened again");

        let other = load_or_create(&dir.path().join("other")).unwrap();
        assert_ne!(other, keys, "each data directory has its own pair");
        assert!(std::fs::read_dir(&data).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    }

    #[test]
    fn parses_aws_credentials_files() {
        let keys = parse(
            "[other]\naws_access_key_id=X\n\n; comment\n[default]\naws_access_key_id = A\naws_secret_access_key= B \n",
        )
        .unwrap();
        assert_eq!(keys, KeyPair::new("A", "B"));
        assert!(parse("[other]\naws_access_key_id=A\naws_secret_access_key=B\n").is_err());
        assert!(parse("[default]\naws_access_key_id=A\n").is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(credentials_path(dir.path()), "garbage").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("delete it"), "{err}");
    }
}
