//! Unpacking an untrusted deployment package into a fresh directory.
//!
//! A `.zip` sent to CreateFunction or UpdateFunctionCode is attacker
//! controlled. [`unpack`] writes it into a new, empty directory and
//! guarantees, or refuses the package with a [`Refusal`] that says what was
//! wrong and what to do:
//!
//! * **Lambda's limits.** At most [`MAX_UNZIPPED_BYTES`] (250 MB) unzipped
//!   in total, counted from the bytes actually written; the sizes the zip
//!   declares are used only to refuse early, never to accept. No entry may
//!   inflate past the size its headers declare. At most [`MAX_ENTRIES`]
//!   entries, paths of at most [`MAX_PATH_BYTES`] bytes and [`MAX_DEPTH`]
//!   components, names of at most 255 bytes.
//! * **Names.** Relative paths only: no absolute path, no `..` component,
//!   no NUL byte; `.` and empty components are ignored.
//! * **Kinds.** Regular files, directories and symlinks only: devices,
//!   FIFOs, sockets and hard links are refused.
//! * **Nothing is written through a symlink.** Every component of an
//!   entry's path is checked with `symlink_metadata` (never followed) to be
//!   a real directory made by this unpack, files are created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`, and an entry may never replace one
//!   written before it (a directory entry may repeat a directory).
//! * **Symlinks stay inside.** Once every entry is written, each symlink is
//!   resolved the way the kernel will resolve it, component by component
//!   against what is on disk (following the package's other symlinks), and
//!   the package is refused if any step leaves the package root. Absolute
//!   targets are refused outright.
//! * **Modes.** Files keep their permission bits, including the owner's
//!   executable bit (`bootstrap` must stay executable), without setuid,
//!   setgid, sticky and world-writable bits; directories are `0755`.
//!
//! On any error the caller removes the directory: as nothing is ever
//! written outside it, that leaves nothing behind.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::CodeError;

/// Lambda's limit on the unzipped size of a `.zip` package: 250 MB.
const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

/// Most entries (files, directories and symlinks) a package may hold. Far
/// more than fit in 250 MB of real code (dependency trees average several
/// kilobytes a file); it bounds the inodes and the time one upload costs.
const MAX_ENTRIES: usize = 100_000;

/// Longest path of an entry, in bytes.
const MAX_PATH_BYTES: usize = 1024;

/// Most components of an entry's path.
const MAX_DEPTH: usize = 64;

/// Longest single path component (the file system's `NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;

/// Longest symlink target, in bytes.
const MAX_LINK_TARGET_BYTES: u64 = 1024;

/// Most symlinks followed while resolving one (the kernel's own limit).
const MAX_LINK_HOPS: usize = 40;

/// Most path components looked at while resolving all of a package's
/// symlinks, so that a package of long link chains cannot make the check slow.
const MAX_RESOLVE_STEPS: usize = 1_000_000;

/// Mode of every directory of an unpacked package.
const DIR_MODE: u32 = 0o755;

/// Mode of a file whose entry carries no unix mode.
const DEFAULT_FILE_MODE: u32 = 0o644;

/// The file type bits of a unix mode, and the types a zip entry may claim.
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// The PKWARE Unix extra field, whose variable part names the file a hard
/// link links to.
const PKWARE_UNIX_FIELD: u16 = 0x000d;

/// Its fixed part: atime, mtime, uid and gid.
const PKWARE_UNIX_FIXED: usize = 12;

/// Why a package was refused. Entry names are shown escaped and shortened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The package unzips to more than the limit.
    #[error(
        "the package unzips to more than 250 MB ({MAX_UNZIPPED_BYTES} bytes, Lambda's limit for .zip packages); ship fewer or smaller files, or use a container image"
    )]
    TooLarge,
    /// An entry (0) inflates past the size its headers declare (1), or ends short of it.
    #[error(
        "entry `{0}` does not inflate to the {1} bytes the zip declares for it: the package is corrupt or a zip bomb; rebuild it with a standard zip tool"
    )]
    SizeMismatch(String, u64),
    /// The package has this many entries.
    #[error("the package has {0} entries; the limit is {MAX_ENTRIES}; ship fewer files (bundle or prune dependencies)")]
    TooManyEntries(usize),
    /// The central directory lists a name twice.
    #[error("the package lists the same entry name twice; rebuild it so that every name appears once")]
    DuplicateNames,
    /// An entry (0) has a path this many bytes long (1).
    #[error("entry `{0}` is {1} bytes long; the limit is {MAX_PATH_BYTES} bytes; shorten its path")]
    PathTooLong(String, usize),
    /// An entry (0) has a path this many components deep (1).
    #[error("entry `{0}` is {1} directories deep; the limit is {MAX_DEPTH}; flatten the directory tree")]
    TooDeep(String, usize),
    /// An entry has a component longer than the file system allows.
    #[error("entry `{0}` has a name longer than {MAX_NAME_BYTES} bytes; shorten it")]
    NameTooLong(String),
    /// An entry has an absolute path.
    #[error("entry `{0}` has an absolute path; entries must be relative to the package root")]
    AbsolutePath(String),
    /// An entry has a `..` component.
    #[error("entry `{0}` has a `..` component; entries must name paths inside the package without `..`")]
    ParentComponent(String),
    /// An entry's name holds a NUL byte.
    #[error("entry `{0}` has a NUL byte in its name; rename it")]
    NulByte(String),
    /// An entry's name is empty (or only `.` and `/`) but it is not a directory.
    #[error("entry `{0}` names no file; every file entry needs a name")]
    EmptyName(String),
    /// An entry (0) is of a kind (1) a package may not hold.
    #[error("entry `{0}` is a {1}; a package may hold only regular files, directories and symlinks")]
    SpecialFile(String, &'static str),
    /// An entry is a hard link.
    #[error("entry `{0}` is a hard link; store the file's content instead")]
    HardLink(String),
    /// An entry (0) would be written through a symlink (1) made by an earlier entry.
    #[error(
        "entry `{0}` would be written through symlink `{1}`; a package may not write through its own symlinks, put the file at its real path"
    )]
    ThroughSymlink(String, String),
    /// An entry (0) needs a path (1) that an earlier entry made a file to be a directory.
    #[error("entry `{0}` needs `{1}` to be a directory, but an earlier entry made it a file; remove one of them")]
    NotADirectory(String, String),
    /// An entry (0) names a path an earlier entry wrote (a 1).
    #[error(
        "entry `{0}` appears twice in the package (it would replace the {1} written before it); remove the duplicate"
    )]
    Duplicate(String, &'static str),
    /// A symlink (0) has an absolute target (1).
    #[error("symlink `{0}` has the absolute target `{1}`; symlinks must use relative targets inside the package")]
    AbsoluteLink(String, String),
    /// A symlink (0) resolves, through its target (1), outside the package.
    #[error(
        "symlink `{0}` points to `{1}`, which resolves outside the package; symlinks must point inside the package"
    )]
    LinkEscapes(String, String),
    /// A symlink (0) has a target that cannot be used, for a reason (1).
    #[error("symlink `{0}` has an unusable target: {1}")]
    BadLinkTarget(String, &'static str),
    /// Resolving a symlink followed too many others.
    #[error(
        "symlink `{0}` is part of a loop or of a chain of more than {MAX_LINK_HOPS} symlinks; point it at its target directly"
    )]
    LinkLoop(String),
    /// Resolving every symlink took too many steps.
    #[error("the package's symlinks take too long to resolve; point each symlink at its target directly")]
    LinksTooIntricate,
}

/// What an entry is, by its unix mode and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A regular file with its permission bits as the zip gives them.
    File(u32),
    /// A directory.
    Dir,
    /// A symlink; its content is the target.
    Symlink,
}

/// A symlink this unpack created, for the final resolution check.
struct Link {
    parts: Vec<OsString>,
    shown: String,
    target: String,
}

/// Unzips `zip` into `dest`, which must not exist yet; see the module
/// documentation for what is guaranteed. On error `dest` may hold a partial
/// unpack, which the caller removes.
pub(super) fn unpack(zip: &[u8], dest: &Path) -> Result<(), CodeError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| CodeError::BadZip(e.to_string()))?;
    if archive.has_duplicate_names() {
        return Err(Refusal::DuplicateNames.into());
    }
    if archive.len() > MAX_ENTRIES {
        return Err(Refusal::TooManyEntries(archive.len()).into());
    }
    // Declared sizes can only refuse early; the bytes written are what count.
    if archive.decompressed_size().is_some_and(|total| total > u128::from(MAX_UNZIPPED_BYTES)) {
        return Err(Refusal::TooLarge.into());
    }
    fs::DirBuilder::new().mode(DIR_MODE).create(dest)?;
    let mut budget = Budget::new(MAX_UNZIPPED_BYTES);
    let mut links = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| CodeError::BadZip(e.to_string()))?;
        let name = entry.name().map_err(|e| CodeError::BadZip(e.to_string()))?.into_owned();
        let shown = shown(&name);
        if entry.name_raw().contains(&0) || name.contains('\0') {
            return Err(Refusal::NulByte(shown).into());
        }
        let parts = parse_path(&name, &shown)?;
        let kind = kind_of(entry.unix_mode(), entry.is_dir(), &shown)?;
        if matches!(kind, Kind::File(_)) && is_hard_link(entry.extra_data().as_deref()) {
            return Err(Refusal::HardLink(shown).into());
        }
        let Some((leaf, parents)) = parts.split_last() else {
            if kind == Kind::Dir {
                continue; // `./` and the like: the root itself.
            }
            return Err(Refusal::EmptyName(shown).into());
        };
        let parent = make_parents(dest, parents, &shown)?;
        let path = parent.join(leaf);
        match fs::symlink_metadata(&path) {
            Ok(m) if kind == Kind::Dir && m.is_dir() => continue,
            Ok(m) => return Err(Refusal::Duplicate(shown, describe(&m)).into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let declared = entry.size();
        match kind {
            Kind::Dir => fs::DirBuilder::new().mode(DIR_MODE).create(&path)?,
            Kind::File(mode) => {
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)?;
                copy_entry(&mut entry, declared, &mut out, &mut budget, &shown)?;
                out.set_permissions(fs::Permissions::from_mode(file_mode(mode)))?;
            }
            Kind::Symlink => {
                if declared > MAX_LINK_TARGET_BYTES {
                    return Err(Refusal::BadLinkTarget(shown, "it is longer than 1024 bytes").into());
                }
                let mut target = Vec::new();
                copy_entry(&mut entry, declared, &mut target, &mut budget, &shown)?;
                let target = check_link_target(&target, &shown)?;
                std::os::unix::fs::symlink(&target, &path)?;
                links.push(Link { parts, shown, target: target.to_string_lossy().into_owned() });
            }
        }
    }
    let mut steps = 0;
    for link in &links {
        check_link_inside(dest, link, &mut steps)?;
    }
    Ok(())
}

/// An entry name for messages: escaped, at most about 160 characters.
fn shown(name: &str) -> String {
    let escaped: String = name.escape_debug().collect();
    match escaped.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// The components of an entry's path, checked: relative, no `..`, within
/// the length and depth limits. `.` and empty components are dropped.
fn parse_path(name: &str, shown: &str) -> Result<Vec<OsString>, Refusal> {
    if name.len() > MAX_PATH_BYTES {
        return Err(Refusal::PathTooLong(shown.to_owned(), name.len()));
    }
    if name.starts_with('/') {
        return Err(Refusal::AbsolutePath(shown.to_owned()));
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Refusal::ParentComponent(shown.to_owned())),
            _ if c.len() > MAX_NAME_BYTES => return Err(Refusal::NameTooLong(shown.to_owned())),
            _ => parts.push(OsString::from(c)),
        }
    }
    if parts.len() > MAX_DEPTH {
        return Err(Refusal::TooDeep(shown.to_owned(), parts.len()));
    }
    Ok(parts)
}

/// What an entry is: its unix mode's file type decides; without one, a name
/// ending in `/` is a directory and anything else a file.
fn kind_of(unix_mode: Option<u32>, dir_name: bool, shown: &str) -> Result<Kind, Refusal> {
    let Some(mode) = unix_mode else {
        return Ok(if dir_name { Kind::Dir } else { Kind::File(DEFAULT_FILE_MODE) });
    };
    let special = |what| Err(Refusal::SpecialFile(shown.to_owned(), what));
    match mode & S_IFMT {
        0 | S_IFREG if dir_name => Ok(Kind::Dir),
        0 | S_IFREG => Ok(Kind::File(mode)),
        S_IFDIR => Ok(Kind::Dir),
        S_IFLNK => Ok(Kind::Symlink),
        S_IFCHR => special("character device"),
        S_IFBLK => special("block device"),
        S_IFIFO => special("FIFO"),
        S_IFSOCK => special("socket"),
        _ => special("file of an unknown type"),
    }
}

/// Whether an entry's extra fields mark it as a hard link: a PKWARE Unix
/// field (0x000d) whose variable part names the file it links to.
fn is_hard_link(extra: Option<&[u8]>) -> bool {
    let mut rest = extra.unwrap_or_default();
    while let [a, b, c, d, tail @ ..] = rest {
        let id = u16::from_le_bytes([*a, *b]);
        let len = usize::from(u16::from_le_bytes([*c, *d])).min(tail.len());
        if id == PKWARE_UNIX_FIELD && len > PKWARE_UNIX_FIXED {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

/// The permission bits a file is given: the zip's, without setuid, setgid,
/// sticky and world-writable bits.
fn file_mode(mode: u32) -> u32 {
    mode & 0o777 & !0o002
}

/// What an existing path is, for messages.
fn describe(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "directory"
    } else {
        "file"
    }
}

/// Makes sure every parent of an entry is a real directory inside `dest`,
/// creating the missing ones; returns the parent's path. Never follows a
/// symlink: one in the way refuses the entry.
fn make_parents(dest: &Path, parents: &[OsString], shown_entry: &str) -> Result<PathBuf, CodeError> {
    let mut path = dest.to_path_buf();
    for (i, c) in parents.iter().enumerate() {
        path.push(c);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                let so_far = parents[..=i].iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>().join("/");
                let so_far = shown(&so_far);
                return Err(if m.file_type().is_symlink() {
                    Refusal::ThroughSymlink(shown_entry.to_owned(), so_far)
                } else {
                    Refusal::NotADirectory(shown_entry.to_owned(), so_far)
                }
                .into());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new().mode(DIR_MODE).create(&path)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(path)
}

/// Bytes that may still be written.
#[derive(Debug)]
struct Budget {
    left: u64,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Self { left: limit }
    }

    /// Takes `n` bytes from the budget, or refuses the package.
    fn charge(&mut self, n: u64) -> Result<(), Refusal> {
        self.left = self.left.checked_sub(n).ok_or(Refusal::TooLarge)?;
        Ok(())
    }
}

/// Copies an entry's content to `out`: reads at most the `declared` size,
/// then one more byte to prove the entry ends there (which is also when the
/// zip reader checks the CRC), and charges every byte to `budget` before
/// writing it.
fn copy_entry(
    entry: &mut impl Read,
    declared: u64,
    out: &mut impl Write,
    budget: &mut Budget,
    shown: &str,
) -> Result<(), CodeError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written: u64 = 0;
    let mismatch = || CodeError::from(Refusal::SizeMismatch(shown.to_owned(), declared));
    loop {
        let remaining = declared - written;
        let want = usize::try_from(remaining).unwrap_or(usize::MAX).clamp(1, buf.len());
        let n = match entry.read(&mut buf[..want]) {
            Ok(0) if remaining == 0 => return Ok(()),
            Ok(0) => return Err(mismatch()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // At the declared end, the reader fails for data past it or a bad CRC.
            Err(_) if remaining == 0 => return Err(mismatch()),
            Err(e) => return Err(CodeError::BadZip(format!("entry `{shown}`: {e}"))),
        };
        if n as u64 > remaining {
            return Err(mismatch());
        }
        budget.charge(n as u64)?;
        out.write_all(&buf[..n])?;
        written += n as u64;
    }
}

/// A symlink target as read from the zip, checked to be usable: not empty,
/// no NUL byte, relative.
fn check_link_target(target: &[u8], shown: &str) -> Result<OsString, Refusal> {
    if target.is_empty() {
        return Err(Refusal::BadLinkTarget(shown.to_owned(), "it is empty"));
    }
    if target.contains(&0) {
        return Err(Refusal::BadLinkTarget(shown.to_owned(), "it holds a NUL byte"));
    }
    if target.starts_with(b"/") {
        return Err(Refusal::AbsoluteLink(shown.to_owned(), self::shown(&String::from_utf8_lossy(target))));
    }
    Ok(OsStr::from_bytes(target).to_os_string())
}

/// One step of a path walk.
enum Step {
    Up,
    Down(OsString),
}

/// The steps of a symlink target, or `None` if it is absolute.
fn steps_of(target: &Path) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(Step::Down(n.to_os_string())),
            Component::ParentDir => out.push(Step::Up),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolves a symlink of the unpacked package the way the kernel will,
/// one component at a time against what is on disk under `root`: `..` goes
/// up from where the walk really is, and every symlink met on the way is
/// followed from its own directory. Fails if any step leaves `root`.
/// Components that do not exist (or are files) are walked by name: the
/// kernel would fail there, so this only ever refuses more, never less.
fn check_link_inside(root: &Path, link: &Link, steps: &mut usize) -> Result<(), CodeError> {
    let escapes = || CodeError::from(Refusal::LinkEscapes(link.shown.clone(), shown(&link.target)));
    let mut at: Vec<OsString> = link.parts.clone();
    let mut pending: VecDeque<Step> = VecDeque::new();
    let mut hops = 0;
    // The walk starts by following the link itself.
    let mut follow = |at: &mut Vec<OsString>, pending: &mut VecDeque<Step>| -> Result<(), CodeError> {
        hops += 1;
        if hops > MAX_LINK_HOPS {
            return Err(Refusal::LinkLoop(link.shown.clone()).into());
        }
        let target = fs::read_link(join(root, at))?;
        let target_steps = steps_of(&target).ok_or_else(escapes)?;
        at.pop();
        for s in target_steps.into_iter().rev() {
            pending.push_front(s);
        }
        Ok(())
    };
    follow(&mut at, &mut pending)?;
    while let Some(step) = pending.pop_front() {
        *steps += 1;
        if *steps > MAX_RESOLVE_STEPS {
            return Err(Refusal::LinksTooIntricate.into());
        }
        match step {
            Step::Up => {
                at.pop().ok_or_else(escapes)?;
            }
            Step::Down(name) => {
                at.push(name);
                if fs::symlink_metadata(join(root, &at)).is_ok_and(|m| m.file_type().is_symlink()) {
                    follow(&mut at, &mut pending)?;
                }
            }
        }
    }
    Ok(())
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn parts(p: &str) -> Vec<OsString> {
        p.split('/').map(OsString::from).collect()
    }

    #[test]
    fn paths_are_relative_normal_and_bounded() {
        let ok = |n: &str| parse_path(n, n).map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect());
        assert_eq!(ok("a/./b//c/"), Ok(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]));
        assert_eq!(ok("./"), Ok(vec![]));
        assert!(matches!(parse_path("/etc/passwd", "x"), Err(Refusal::AbsolutePath(_))));
        assert!(matches!(parse_path("a/../b", "x"), Err(Refusal::ParentComponent(_))));
        assert!(matches!(parse_path("..", "x"), Err(Refusal::ParentComponent(_))));
        assert!(matches!(parse_path(&"n".repeat(256), "x"), Err(Refusal::NameTooLong(_))));
        assert!(parse_path(&"n".repeat(255), "x").is_ok());
        let deep = "d/".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse_path(&deep, "x"), Err(Refusal::TooDeep(_, n)) if n == MAX_DEPTH + 1));
        assert!(parse_path(&"d/".repeat(MAX_DEPTH), "x").is_ok());
        let long = "a/".repeat(MAX_PATH_BYTES / 2) + "b";
        assert!(matches!(parse_path(&long, "x"), Err(Refusal::PathTooLong(_, _))));
    }

    #[test]
    fn kinds_come_from_the_mode_and_specials_are_refused() {
        assert_eq!(kind_of(None, false, "f"), Ok(Kind::File(DEFAULT_FILE_MODE)));
        assert_eq!(kind_of(None, true, "d/"), Ok(Kind::Dir));
        assert_eq!(kind_of(Some(S_IFREG | 0o755), false, "f"), Ok(Kind::File(S_IFREG | 0o755)));
        assert_eq!(kind_of(Some(S_IFDIR | 0o700), false, "d"), Ok(Kind::Dir));
        assert_eq!(kind_of(Some(S_IFLNK | 0o777), false, "l"), Ok(Kind::Symlink));
        for (mode, what) in
            [(S_IFCHR, "character device"), (S_IFBLK, "block device"), (S_IFIFO, "FIFO"), (S_IFSOCK, "socket")]
        {
            assert_eq!(kind_of(Some(mode | 0o644), false, "x"), Err(Refusal::SpecialFile("x".to_owned(), what)));
        }
    }

    #[test]
    fn modes_keep_the_executable_bits_only() {
        assert_eq!(file_mode(S_IFREG | 0o755), 0o755);
        assert_eq!(file_mode(0o4777), 0o775);
        assert_eq!(file_mode(0o2644), 0o644);
        assert_eq!(file_mode(0o1666), 0o664);
    }

    #[test]
    fn hard_links_are_told_by_the_pkware_unix_field() {
        let field = |id: u16, data: &[u8]| {
            let mut v = id.to_le_bytes().to_vec();
            v.extend_from_slice(&(data.len() as u16).to_le_bytes());
            v.extend_from_slice(data);
            v
        };
        assert!(!is_hard_link(None));
        assert!(!is_hard_link(Some(&field(0x000d, &[0; 12]))), "timestamps and ids only");
        let mut both = field(0x5455, &[1, 2, 3, 4, 5]);
        both.extend(field(0x000d, b"0123456789abtarget"));
        assert!(is_hard_link(Some(&both)));
        assert!(!is_hard_link(Some(&field(0x7875, b"0123456789abcdef"))));
    }

    #[test]
    fn the_budget_counts_bytes_written_not_declared() {
        // An entry that keeps inflating within its declared size is stopped
        // by the budget before the byte that would exceed it is written.
        let mut budget = Budget::new(1000);
        let mut out = Vec::new();
        let mut endless = io::repeat(0).take(5000);
        let err = copy_entry(&mut endless, 5000, &mut out, &mut budget, "e").unwrap_err();
        assert!(matches!(err, CodeError::Refused(Refusal::TooLarge)), "{err:?}");
        assert!(out.len() <= 1000, "{}", out.len());

        // An entry that inflates past its declared size is refused at the
        // declared size, whatever the budget.
        let mut budget = Budget::new(1 << 20);
        let mut out = Vec::new();
        let mut liar = io::repeat(0).take(5000);
        let err = copy_entry(&mut liar, 100, &mut out, &mut budget, "e").unwrap_err();
        assert!(matches!(err, CodeError::Refused(Refusal::SizeMismatch(_, 100))), "{err:?}");
        assert_eq!(out.len(), 100);

        // One that ends short of it, too.
        let mut short = io::repeat(0).take(10);
        let err = copy_entry(&mut short, 100, &mut Vec::new(), &mut budget, "e").unwrap_err();
        assert!(matches!(err, CodeError::Refused(Refusal::SizeMismatch(_, 100))), "{err:?}");

        // An honest one is copied whole.
        let mut out = Vec::new();
        copy_entry(&mut io::repeat(7).take(70_000), 70_000, &mut out, &mut budget, "e").unwrap();
        assert_eq!(out, vec![7; 70_000]);
    }

    fn link_at(root: &Path, at: &str, target: &str) -> Link {
        let path = root.join(at);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, &path).unwrap();
        Link { parts: parts(at), shown: at.to_owned(), target: target.to_owned() }
    }

    fn inside(root: &Path, link: &Link) -> Result<(), CodeError> {
        check_link_inside(root, link, &mut 0)
    }

    #[test]
    fn links_are_resolved_against_the_disk_not_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("lib/v1")).unwrap();
        let current = link_at(root, "lib/current", "v1");
        let to_root = link_at(root, "lib/root", "..");
        let via = link_at(root, "lib/via", "current/../v1/x");
        let up = link_at(root, "a/b/c/d/up", "../../../..");
        assert!(inside(root, &current).is_ok());
        assert!(inside(root, &to_root).is_ok());
        assert!(inside(root, &via).is_ok());
        assert!(inside(root, &up).is_ok(), "four levels up from a/b/c/d is the root");

        let above = link_at(root, "lib/etc", "../../etc");
        assert!(matches!(inside(root, &above), Err(CodeError::Refused(Refusal::LinkEscapes(..)))));
        // Counted as text `x/../..` from `a/b` stays inside; but `a/b/x` is a
        // link to `a`, so the kernel goes `a` → root → above the root.
        let tricky = link_at(root, "a/b/L", "x/../..");
        assert!(inside(root, &tricky).is_ok(), "while `a/b/x` does not exist");
        link_at(root, "a/b/x", "..");
        assert!(matches!(inside(root, &tricky), Err(CodeError::Refused(Refusal::LinkEscapes(..)))));
        // Through another link that goes up: `lib/root` is the package root.
        let through = link_at(root, "lib/out", "root/..");
        assert!(matches!(inside(root, &through), Err(CodeError::Refused(Refusal::LinkEscapes(..)))));

        let a = link_at(root, "loop/a", "b");
        link_at(root, "loop/b", "a");
        assert!(matches!(inside(root, &a), Err(CodeError::Refused(Refusal::LinkLoop(_)))));
    }

    #[test]
    fn nothing_is_written_through_a_symlink_or_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("real")).unwrap();
        symlink("real", root.join("link")).unwrap();
        fs::write(root.join("file"), b"x").unwrap();
        assert!(make_parents(root, &parts("real/new"), "e").is_ok());
        assert!(root.join("real/new").is_dir());
        assert!(matches!(
            make_parents(root, &parts("link/sub"), "link/sub/f"),
            Err(CodeError::Refused(Refusal::ThroughSymlink(_, l))) if l == "link"
        ));
        assert!(!root.join("real/sub").exists());
        assert!(matches!(
            make_parents(root, &parts("file/sub"), "file/sub/f"),
            Err(CodeError::Refused(Refusal::NotADirectory(..)))
        ));
    }

    #[test]
    fn names_in_messages_are_escaped_and_short() {
        assert_eq!(shown("a\nb"), "a\\nb");
        let long = shown(&"x".repeat(500));
        assert!(long.chars().count() <= 161 && long.ends_with('…'), "{long}");
    }
}
