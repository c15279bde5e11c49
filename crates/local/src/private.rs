//! Owner-only modes for the service's own files. The data directory holds
//! function environments (in the state database) and function output (in
//! the logs): it is created `0700`, those files `0600`, and files or
//! directories an older version left with wider modes are tightened when
//! they are next opened.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the service's directories.
const DIR_MODE: u32 = 0o700;

/// Mode of the service's files.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or tightens an
/// existing one that others can read, write or enter.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Tightens an existing file to mode 0600; a missing one is fine.
pub(crate) fn private_file(path: &Path) -> io::Result<()> {
    match tighten(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens a log file for appending: created 0600, or tightened to 0600 if an
/// older version made it readable by others.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).mode(FILE_MODE).open(path)?;
    if file.metadata()?.permissions().mode() & 0o777 & !FILE_MODE != 0 {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// Takes away every permission bit beyond `mode`. Uses the metadata of the
/// path itself: a symlink is left alone (chmod would change its target).
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let current = meta.permissions().mode() & 0o7777;
    if current & !mode != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_and_tightens() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        let log = dir.join("f.log");
        drop(open_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
        fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);

        fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
        private_file(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
        fs::set_permissions(&log, fs::Permissions::from_mode(0o400)).unwrap();
        private_file(&log).unwrap();
        assert_eq!(mode(&log), 0o400, "narrower modes are kept");
        private_file(&dir.join("missing")).unwrap();
    }
}
