//! Packaging an app directory as a Lambda bundle: the app's files, the
//! runtime as `bootstrap` and the bundle manifest, in a deterministic zip
//! (same inputs, same bytes), so unchanged code is recognised by its hash.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use ownstak_core::{BundleManifest, MANIFEST_FILE};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime};

use crate::error::DeployError;

/// Names the app directory may not contain at its root, as the bundle adds them.
const RESERVED: &[&str] = &["bootstrap", MANIFEST_FILE];
/// Directories never packaged.
const SKIPPED_DIRS: &[&str] = &[".git", ".ownstak"];

/// What goes into a bundle.
#[derive(Debug, Clone)]
pub struct BundleInput {
    /// The app directory.
    pub app_dir: PathBuf,
    /// The `ownstak-runtime` executable to add as `bootstrap`.
    pub runtime_binary: PathBuf,
    /// The manifest to add.
    pub manifest: BundleManifest,
}

/// A packaged bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The zip bytes.
    pub zip: Vec<u8>,
    /// Number of files in it.
    pub files: usize,
    /// Total size of the files before compression.
    pub unpacked_bytes: u64,
    /// The instruction set of the bundled runtime, when it is a Linux executable.
    pub architecture: Option<Arch>,
}

impl Bundle {
    /// The SHA-256 of the zip in lower-case hex (names the bundle in the code bucket).
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(&self.zip).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The deployment id of a build that brought none of its own: derived
    /// from this bundle and the digest of its static assets, so the same
    /// build always gets the same id.
    pub fn deployment_id(&self, assets_digest: Option<&str>) -> String {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        hash.update(&self.zip);
        hash.update(assets_digest.unwrap_or_default().as_bytes());
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        ownstak_core::deployment_id_from_digest(&hex)
    }
}

/// The instruction sets Lambda runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Arch {
    /// 64-bit x86.
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit ARM (Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The instruction set of a Linux ELF executable, from its header;
    /// `None` for anything else (or another instruction set).
    pub fn of_executable(bytes: &[u8]) -> Option<Arch> {
        const EM_X86_64: u16 = 62;
        const EM_AARCH64: u16 = 183;
        // ELF magic, 64-bit class, then e_machine at offset 18 in the data encoding of byte 5.
        if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
            return None;
        }
        let machine = match bytes[5] {
            1 => u16::from_le_bytes([bytes[18], bytes[19]]),
            2 => u16::from_be_bytes([bytes[18], bytes[19]]),
            _ => return None,
        };
        match machine {
            EM_X86_64 => Some(Arch::X86_64),
            EM_AARCH64 => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The instruction set of this machine, when Lambda has it.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Lambda's name for it (`x86_64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The SDK's value.
    pub(crate) fn lambda(self) -> aws_sdk_lambda::types::Architecture {
        match self {
            Arch::X86_64 => aws_sdk_lambda::types::Architecture::X8664,
            Arch::Arm64 => aws_sdk_lambda::types::Architecture::Arm64,
        }
    }
}

/// Builds the bundle zip; `progress` is told each file's path as it is added.
pub fn build_bundle(input: &BundleInput, mut progress: impl FnMut(&Path)) -> Result<Bundle, DeployError> {
    let dir = &input.app_dir;
    if !dir.is_dir() {
        return Err(DeployError::Bundle(format!(
            "{} is not a directory; pass the app directory to deploy",
            dir.display()
        )));
    }
    for name in RESERVED {
        if dir.join(name).exists() {
            return Err(DeployError::Bundle(format!(
                "{} contains `{name}`, a name ownstak adds to every bundle; rename or remove it",
                dir.display()
            )));
        }
    }
    let runtime = fs::read(&input.runtime_binary).map_err(|e| {
        DeployError::Bundle(format!(
            "cannot read the runtime binary {}: {e}; build it with `cargo build -p ownstak-runtime` or pass --runtime-binary",
            input.runtime_binary.display()
        ))
    })?;
    let architecture = Arch::of_executable(&runtime);
    let manifest = input.manifest.to_json();
    write_zip(dir, &[("bootstrap", &runtime, 0o755), (MANIFEST_FILE, &manifest, 0o644)], architecture, &mut progress)
}

/// Zips `extra` files first, then every file under `dir` (`.git` and
/// `.ownstak` at the top skipped), deterministically.
fn write_zip(
    dir: &Path,
    extra: &[(&str, &[u8], u32)],
    architecture: Option<Arch>,
    progress: &mut impl FnMut(&Path),
) -> Result<Bundle, DeployError> {
    let mut files = Vec::new();
    collect(dir, Path::new(""), &mut files)?;
    files.sort();

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = |mode: u32| {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1))
            .last_modified_time(DateTime::default())
            .unix_permissions(mode)
            .large_file(false)
    };
    let mut unpacked = 0u64;
    let zerr = |e: zip::result::ZipError| DeployError::Bundle(format!("cannot write the bundle: {e}"));
    for (name, bytes, mode) in extra {
        zip.start_file(*name, opts(*mode)).map_err(zerr)?;
        zip.write_all(bytes)?;
        unpacked += bytes.len() as u64;
    }
    for rel in &files {
        let path = dir.join(rel);
        let meta = fs::symlink_metadata(&path)?;
        let name = rel.to_string_lossy().replace('\\', "/");
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?;
            zip.add_symlink(name, target.to_string_lossy(), opts(0o777)).map_err(zerr)?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            zip.start_file(name, opts(mode)).map_err(zerr)?;
            let data = fs::read(&path)?;
            unpacked += data.len() as u64;
            zip.write_all(&data)?;
        }
        progress(rel);
    }
    let zip = zip.finish().map_err(zerr)?.into_inner();
    Ok(Bundle { zip, files: files.len() + extra.len(), unpacked_bytes: unpacked, architecture })
}

/// Packs the unpacked code of a deployment (its `bootstrap`, manifest and
/// app, as the local backend keeps it) into a bundle again, for
/// `deploy --redeploy`.
pub fn bundle_code_dir(dir: &Path) -> Result<Bundle, DeployError> {
    let bootstrap = fs::read(dir.join("bootstrap")).map_err(|e| {
        DeployError::Bundle(format!("the deployment's code in {} has no readable bootstrap: {e}", dir.display()))
    })?;
    write_zip(dir, &[], Arch::of_executable(&bootstrap), &mut |_| {})
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), DeployError> {
    let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let path = rel.join(&name);
        let ft = e.file_type()?;
        if ft.is_dir() {
            if rel.as_os_str().is_empty() && SKIPPED_DIRS.iter().any(|s| name == *s) {
                continue;
            }
            collect(root, &path, out)?;
        } else if ft.is_file() || ft.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dir: &Path) -> BundleInput {
        let runtime = dir.join("..").join("fake-runtime");
        fs::write(&runtime, b"\x7fELF runtime").unwrap();
        BundleInput {
            app_dir: dir.to_owned(),
            runtime_binary: runtime,
            manifest: BundleManifest::for_command("node server.js"),
        }
    }

    #[test]
    fn deterministic_and_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        fs::create_dir_all(app.join("lib")).unwrap();
        fs::create_dir_all(app.join(".git")).unwrap();
        fs::write(app.join("server.js"), "x").unwrap();
        fs::write(app.join("lib/a.js"), "y").unwrap();
        fs::write(app.join(".git/HEAD"), "z").unwrap();
        let a = build_bundle(&input(&app), |_| {}).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::write(app.join("server.js"), "x").unwrap(); // new mtime, same content
        let b = build_bundle(&input(&app), |_| {}).unwrap();
        assert_eq!(a.zip, b.zip);
        assert_eq!(a.files, 4);
        let mut z = zip::ZipArchive::new(Cursor::new(a.zip)).unwrap();
        let names: Vec<_> = (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().into_owned()).collect();
        assert_eq!(names, ["bootstrap", "ownstak.json", "lib/a.js", "server.js"]);
        assert_eq!(z.by_name("bootstrap").unwrap().unix_mode().unwrap() & 0o777, 0o755);
    }

    #[test]
    fn reads_the_architecture_of_elf_executables() {
        let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        elf.resize(18, 0);
        assert_eq!(Arch::of_executable(&[elf.as_slice(), &62u16.to_le_bytes()].concat()), Some(Arch::X86_64));
        assert_eq!(Arch::of_executable(&[elf.as_slice(), &183u16.to_le_bytes()].concat()), Some(Arch::Arm64));
        assert_eq!(Arch::of_executable(&[elf.as_slice(), &3u16.to_le_bytes()].concat()), None);
        assert_eq!(Arch::of_executable(b"#!/bin/sh\n"), None);
        assert_eq!(Arch::of_executable(b""), None);
        let own = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(Arch::of_executable(&own), Arch::host());
    }

    #[test]
    fn rejects_reserved_names_and_missing_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        fs::create_dir_all(&app).unwrap();
        fs::write(app.join("bootstrap"), "x").unwrap();
        let e = build_bundle(&input(&app), |_| {}).unwrap_err().to_string();
        assert!(e.contains("`bootstrap`"), "{e}");
        let mut i = input(&app);
        i.app_dir = tmp.path().join("missing");
        assert!(build_bundle(&i, |_| {}).unwrap_err().to_string().contains("not a directory"));
    }
}
