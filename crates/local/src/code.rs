//! Content-addressed storage of function code: each distinct zip is
//! unpacked once into `code/<sha256-hex>/`, by [`unpack`], which refuses
//! packages that are unsafe or over Lambda's limits.

mod unpack;

pub(crate) use unpack::Refusal;

use std::fs;
use std::io;
use std::path::PathBuf;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A stored deployment package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256_base64: String,
    /// Hex SHA-256 naming the directory.
    pub id: String,
    /// Size of the zip in bytes.
    pub size: u64,
}

/// Why code could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The upload is not a usable zip.
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again. ({0})")]
    BadZip(String),
    /// The zip is unsafe to unpack or over Lambda's limits.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The disk failed us.
    #[error("could not store the code: {0}")]
    Io(#[from] io::Error),
}

/// The code directory tree.
#[derive(Debug, Clone)]
pub struct CodeStore {
    root: PathBuf,
}

impl CodeStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Where the code with this id is unpacked.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Unpacks a zip unless the same bytes are already stored. The
    /// directory appears whole or not at all: it is unpacked beside its
    /// final place and renamed; a refused or failed unpack is removed, and
    /// never wrote anything outside its own directory.
    pub fn put(&self, zip: &[u8]) -> Result<StoredCode, CodeError> {
        let digest = Sha256::digest(zip);
        let id = hex::encode(digest);
        let stored = StoredCode {
            sha256_base64: base64::engine::general_purpose::STANDARD.encode(digest),
            id: id.clone(),
            size: zip.len() as u64,
        };
        let dest = self.dir(&id);
        if dest.is_dir() {
            return Ok(stored);
        }
        fs::create_dir_all(&self.root)?;
        let tmp = self.root.join(format!(".tmp-{id}-{}", uuid::Uuid::new_v4().simple()));
        let unpacked = unpack::unpack(zip, &tmp);
        if let Err(e) = unpacked {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(stored),
            // Another upload of the same bytes won the race; theirs is identical.
            Err(_) if dest.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(stored)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e.into())
            }
        }
    }

    /// Removes unpack directories left by a crash mid-upload.
    pub fn clean_partial(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in files {
            w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_once_with_modes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = CodeStore::new(tmp.path().join("code"));
        let zip = zip_of(&[("bootstrap", b"#!/bin/sh\n", 0o755), ("app/index.js", b"x", 0o644)]);
        let a = store.put(&zip).unwrap();
        let b = store.put(&zip).unwrap();
        assert_eq!(a, b);
        let dir = store.dir(&a.id);
        assert_eq!(fs::read(dir.join("app/index.js")).unwrap(), b"x");
        let mode = fs::metadata(dir.join("bootstrap")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn rejects_garbage_and_escapes_without_leftovers() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("code");
        let store = CodeStore::new(root.clone());
        assert!(matches!(store.put(b"not a zip"), Err(CodeError::BadZip(_))));
        let evil = zip_of(&[("../evil", b"x", 0o644)]);
        assert!(matches!(store.put(&evil), Err(CodeError::Refused(Refusal::ParentComponent(_)))));
        let left: Vec<_> = fs::read_dir(&root).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
        assert!(!tmp.path().join("evil").exists());
    }
}
