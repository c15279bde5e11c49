//! Content-addressed storage of function code: each distinct zip is
//! unpacked once into `code/<sha256-hex>/`.

use std::fs;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};

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
    /// final place and renamed.
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
        let unpacked = unpack(zip, &tmp);
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

fn unpack(zip: &[u8], dest: &Path) -> Result<(), CodeError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| CodeError::BadZip(e.to_string()))?;
    fs::create_dir_all(dest)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| CodeError::BadZip(e.to_string()))?;
        let shown = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("#{i}"));
        let rel = entry
            .enclosed_name()
            .ok_or_else(|| CodeError::BadZip(format!("entry `{}` escapes the package root", shown)))?;
        let path = dest.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        if entry.is_symlink() {
            let mut target = String::new();
            io::Read::read_to_string(&mut entry, &mut target)?;
            if Path::new(&target).is_absolute() || escapes(&rel, &target) {
                return Err(CodeError::BadZip(format!("symlink `{}` points outside the package", shown)));
            }
            std::os::unix::fs::symlink(&target, &path)?;
            continue;
        }
        let mut out = fs::File::create(&path)?;
        io::copy(&mut entry, &mut out).map_err(|e| CodeError::BadZip(format!("entry `{}`: {e}", shown)))?;
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))?;
        }
    }
    Ok(())
}

/// Whether a relative symlink target at `link` leaves the package root.
fn escapes(link: &Path, target: &str) -> bool {
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in Path::new(target).components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
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
        assert!(matches!(store.put(&evil), Err(CodeError::BadZip(_))));
        let left: Vec<_> = fs::read_dir(&root).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
        assert!(!tmp.path().join("evil").exists());
    }
}
