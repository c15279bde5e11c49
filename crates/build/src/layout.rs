//! The `.ownstak/` layout a build produces, its description (`build.json`)
//! and the file-tree helpers that fill it.
//!
//! ```text
//! DIR/.ownstak/
//!   compute/     everything the function runs (deployed with `ownstak deploy`),
//!                with an `ownstak.toml` holding the start command
//!   assets/      per-deployment static files (Next.js `public/`, a static site)
//!   permanent/   content-hashed files shared across deployments (`/_next/static/`)
//!   build.json   this layout: framework, asset routes, sizes
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ownstak_core::BundleManifest;
use serde::{Deserialize, Serialize};

use crate::error::BuildError;

/// The directory, inside the app directory, that a build writes.
pub const OUT_DIR: &str = ".ownstak";
/// What the function runs, inside [`OUT_DIR`].
pub const COMPUTE_DIR: &str = "compute";
/// Per-deployment static files, inside [`OUT_DIR`].
pub const ASSETS_DIR: &str = "assets";
/// Content-hashed files shared across deployments, inside [`OUT_DIR`].
pub const PERMANENT_DIR: &str = "permanent";
/// The layout description, inside [`OUT_DIR`].
pub const BUILD_FILE: &str = "build.json";
/// The project file `ownstak deploy` reads (written into `compute/`).
pub(crate) const PROJECT_FILE: &str = "ownstak.toml";
/// The format version of [`BUILD_FILE`].
pub(crate) const BUILD_FORMAT_VERSION: u32 = 1;
/// Function memory written into `compute/ownstak.toml` unless the app's own says otherwise.
pub(crate) const DEFAULT_MEMORY: u32 = 1024;
/// Function timeout written into `compute/ownstak.toml` unless the app's own says otherwise.
pub(crate) const DEFAULT_TIMEOUT: u32 = 30;

/// The directory `ownstak deploy` deploys for a built app in `app_dir`.
pub fn compute_dir(app_dir: &Path) -> PathBuf {
    app_dir.join(OUT_DIR).join(COMPUTE_DIR)
}

/// The kinds of app ownstak builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// A Next.js app (14 or newer), run as its standalone server.
    Nextjs,
    /// A folder of static files with an `index.html`.
    Static,
    /// Any app started by a user-given command (e.g. a custom Node server).
    Custom,
}

impl Framework {
    /// The name used on the command line and in `build.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Nextjs => "nextjs",
            Framework::Static => "static",
            Framework::Custom => "custom",
        }
    }
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which requests an asset route answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteMatch {
    /// Every path starting with this prefix (which ends in `/`); the rest of
    /// the path is the file's path inside the route's directory.
    Prefix(String),
    /// Exactly this path; the file is the path's last segment inside the
    /// route's directory.
    Path(String),
}

/// One way a request maps onto a static part of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetRoute {
    /// The paths it answers.
    #[serde(flatten)]
    pub matches: RouteMatch,
    /// The part of the layout holding the files ([`ASSETS_DIR`] or [`PERMANENT_DIR`]).
    pub dir: String,
    /// Whether the files never change under their names (cache forever).
    pub immutable: bool,
}

/// Size of one part of the layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSize {
    /// Number of files (symlinks count as files).
    pub files: u64,
    /// Total bytes of the files.
    pub bytes: u64,
}

impl PartSize {
    fn add(&mut self, other: PartSize) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// The function part of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputePart {
    /// Its directory inside [`OUT_DIR`].
    pub dir: String,
    /// The start command (also in `compute/ownstak.toml`).
    pub command: String,
    /// The manifest `ownstak deploy` will add to the bundle.
    pub manifest: BundleManifest,
    /// Its size.
    #[serde(flatten)]
    pub size: PartSize,
}

/// A static part of the layout (assets or permanent files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticPart {
    /// Its directory inside [`OUT_DIR`].
    pub dir: String,
    /// Its size.
    #[serde(flatten)]
    pub size: PartSize,
}

/// What a build produced; also written as `.ownstak/build.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutput {
    /// Format version; always [`BUILD_FORMAT_VERSION`].
    pub version: u32,
    /// The kind of app.
    pub framework: Framework,
    /// The framework's version, when known (Next.js).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_version: Option<String>,
    /// The `.ownstak` directory.
    pub out_dir: PathBuf,
    /// What the function runs.
    pub compute: ComputePart,
    /// Per-deployment static files.
    pub assets: StaticPart,
    /// Content-hashed static files shared across deployments.
    pub permanent: StaticPart,
    /// How requests map onto the static parts, most specific first.
    pub routes: Vec<AssetRoute>,
    /// The deployment id the framework was built with (Next.js embeds it
    /// in asset URLs and client requests); `ownstak deploy` uses it as the
    /// deployment's id. Without one, deploy derives the id from the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
}

/// Creates `DIR/.ownstak` and clears what an earlier build left in it.
pub(crate) fn prepare_out_dir(app_dir: &Path) -> Result<PathBuf, BuildError> {
    let out = std::path::absolute(app_dir.join(OUT_DIR)).map_err(BuildError::io("cannot resolve", app_dir))?;
    fs::create_dir_all(&out).map_err(BuildError::io("cannot create", &out))?;
    for name in [COMPUTE_DIR, ASSETS_DIR, PERMANENT_DIR] {
        let p = out.join(name);
        if fs::symlink_metadata(&p).is_ok() {
            fs::remove_dir_all(&p).map_err(BuildError::io("cannot remove the old", &p))?;
        }
        fs::create_dir_all(&p).map_err(BuildError::io("cannot create", &p))?;
    }
    let build_file = out.join(BUILD_FILE);
    if build_file.exists() {
        fs::remove_file(&build_file).map_err(BuildError::io("cannot remove the old", &build_file))?;
    }
    // Keep build output out of the user's repository even without a root .gitignore entry.
    let gitignore = out.join(".gitignore");
    fs::write(&gitignore, "*\n").map_err(BuildError::io("cannot write", &gitignore))?;
    Ok(out)
}

/// Copies the tree `from` into `to` (created if missing). `skip` is asked
/// about every entry by its path relative to `from`; symlinks are copied as
/// symlinks and file modes are kept.
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<PartSize, BuildError> {
    let mut size = PartSize::default();
    copy_rec(from, to, Path::new(""), skip, &mut size)?;
    Ok(size)
}

fn copy_rec(
    from: &Path,
    to: &Path,
    rel: &Path,
    skip: &dyn Fn(&Path) -> bool,
    size: &mut PartSize,
) -> Result<(), BuildError> {
    let src_dir = from.join(rel);
    let dst_dir = to.join(rel);
    fs::create_dir_all(&dst_dir).map_err(BuildError::io("cannot create", &dst_dir))?;
    let entries = fs::read_dir(&src_dir).map_err(BuildError::io("cannot read", &src_dir))?;
    for entry in entries {
        let entry = entry.map_err(BuildError::io("cannot read", &src_dir))?;
        let rel = rel.join(entry.file_name());
        if skip(&rel) {
            continue;
        }
        let src = from.join(&rel);
        let dst = to.join(&rel);
        let ft = entry.file_type().map_err(BuildError::io("cannot inspect", &src))?;
        if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(BuildError::io("cannot read the link", &src))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(BuildError::io("cannot create the link", &dst))?;
            size.files += 1;
        } else if ft.is_dir() {
            copy_rec(from, to, &rel, skip, size)?;
        } else if ft.is_file() {
            let bytes = fs::copy(&src, &dst).map_err(BuildError::io("cannot copy", &src))?;
            size.files += 1;
            size.bytes += bytes;
        }
    }
    Ok(())
}

/// The size of a tree already on disk (symlinks are not followed).
pub(crate) fn tree_size(dir: &Path) -> Result<PartSize, BuildError> {
    let mut size = PartSize::default();
    let entries = fs::read_dir(dir).map_err(BuildError::io("cannot read", dir))?;
    for entry in entries {
        let entry = entry.map_err(BuildError::io("cannot read", dir))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(BuildError::io("cannot inspect", &path))?;
        if ft.is_dir() {
            size.add(tree_size(&path)?);
        } else {
            size.files += 1;
            if ft.is_file() {
                size.bytes += entry.metadata().map_err(BuildError::io("cannot inspect", &path))?.len();
            }
        }
    }
    Ok(size)
}

/// One route per top-level entry of `dir` (a file → its exact path, a
/// directory → a prefix), under `url_prefix` (`/` or a base path ending in `/`).
pub(crate) fn routes_for_dir(dir: &Path, url_prefix: &str, part: &str) -> Result<Vec<AssetRoute>, BuildError> {
    let mut routes = Vec::new();
    if !dir.is_dir() {
        return Ok(routes);
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(BuildError::io("cannot read", dir))?
        .collect::<Result<_, _>>()
        .map_err(BuildError::io("cannot read", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // Follow symlinks here: a linked directory is served as a directory.
        let matches = if path.is_dir() {
            RouteMatch::Prefix(format!("{url_prefix}{name}/"))
        } else {
            RouteMatch::Path(format!("{url_prefix}{name}"))
        };
        routes.push(AssetRoute { matches, dir: part.to_owned(), immutable: false });
    }
    Ok(routes)
}

/// `[function]` of the generated `ownstak.toml`.
#[derive(Debug, Serialize)]
struct FunctionSection {
    memory: u32,
    timeout: u32,
}

/// The generated `compute/ownstak.toml`.
#[derive(Debug, Serialize)]
struct ProjectFile {
    command: String,
    function: FunctionSection,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
}

/// Settings carried over from the app's own `ownstak.toml`, if it has one.
#[derive(Debug, Default, Deserialize)]
struct UserProject {
    #[serde(default)]
    function: UserFunction,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct UserFunction {
    memory: Option<u32>,
    timeout: Option<u32>,
}

/// Writes `compute/ownstak.toml` with `command`, keeping `[function]` and
/// `[env]` of the app's own `ownstak.toml`; returns the bundle manifest
/// `ownstak deploy` will derive from it.
pub(crate) fn write_project_file(app_dir: &Path, compute: &Path, command: &str) -> Result<BundleManifest, BuildError> {
    let user_file = app_dir.join(PROJECT_FILE);
    let user: UserProject = match fs::read_to_string(&user_file) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| BuildError::Parse { path: user_file.clone(), message: e.to_string() })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => UserProject::default(),
        Err(e) => return Err(BuildError::Io { action: "cannot read", path: user_file, source: e }),
    };
    let file = ProjectFile {
        command: command.to_owned(),
        function: FunctionSection {
            memory: user.function.memory.unwrap_or(DEFAULT_MEMORY),
            timeout: user.function.timeout.unwrap_or(DEFAULT_TIMEOUT),
        },
        env: user.env,
    };
    let text = toml::to_string(&file)
        .map_err(|e| BuildError::Parse { path: compute.join(PROJECT_FILE), message: e.to_string() })?;
    let path = compute.join(PROJECT_FILE);
    let header = "# Written by `ownstak build`; deploy this directory with `ownstak deploy`.\n";
    fs::write(&path, format!("{header}{text}")).map_err(BuildError::io("cannot write", &path))?;
    let mut manifest = BundleManifest::for_command(command);
    manifest.env = file.env;
    Ok(manifest)
}

/// Writes `.ownstak/build.json`.
pub(crate) fn write_build_file(output: &BuildOutput) -> Result<(), BuildError> {
    let path = output.out_dir.join(BUILD_FILE);
    let json = serde_json::to_vec_pretty(output)
        .map_err(|e| BuildError::Parse { path: path.clone(), message: e.to_string() })?;
    fs::write(&path, json).map_err(BuildError::io("cannot write", &path))
}

/// Assembles the output once the parts are on disk.
pub(crate) fn finish(
    out_dir: PathBuf,
    framework: Framework,
    framework_version: Option<String>,
    command: String,
    manifest: BundleManifest,
    routes: Vec<AssetRoute>,
    deployment_id: Option<String>,
) -> Result<BuildOutput, BuildError> {
    let compute =
        ComputePart { dir: COMPUTE_DIR.to_owned(), command, manifest, size: tree_size(&out_dir.join(COMPUTE_DIR))? };
    let assets = StaticPart { dir: ASSETS_DIR.to_owned(), size: tree_size(&out_dir.join(ASSETS_DIR))? };
    let permanent = StaticPart { dir: PERMANENT_DIR.to_owned(), size: tree_size(&out_dir.join(PERMANENT_DIR))? };
    let output = BuildOutput {
        version: BUILD_FORMAT_VERSION,
        framework,
        framework_version,
        out_dir,
        compute,
        assets,
        permanent,
        routes,
        deployment_id,
    };
    write_build_file(&output)?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_serialize_flat() {
        let r = AssetRoute {
            matches: RouteMatch::Prefix("/_next/static/".into()),
            dir: PERMANENT_DIR.into(),
            immutable: true,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, serde_json::json!({"prefix": "/_next/static/", "dir": "permanent", "immutable": true}));
        let back: AssetRoute = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn copies_trees_with_links_and_skips() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::create_dir_all(src.join(".git")).unwrap();
        fs::write(src.join("a/b/f.txt"), "hello").unwrap();
        fs::write(src.join(".git/HEAD"), "x").unwrap();
        std::os::unix::fs::symlink("a/b/f.txt", src.join("link")).unwrap();
        let dst = tmp.path().join("dst");
        let size = copy_tree(&src, &dst, &|rel| rel == Path::new(".git")).unwrap();
        assert_eq!(size, PartSize { files: 2, bytes: 5 });
        assert_eq!(fs::read_to_string(dst.join("link")).unwrap(), "hello");
        assert!(fs::symlink_metadata(dst.join("link")).unwrap().file_type().is_symlink());
        assert!(!dst.join(".git").exists());
        assert_eq!(tree_size(&dst).unwrap(), size);
        let routes = routes_for_dir(&dst, "/", ASSETS_DIR).unwrap();
        assert_eq!(routes[0].matches, RouteMatch::Prefix("/a/".into()));
        assert_eq!(routes[1].matches, RouteMatch::Path("/link".into()));
    }

    #[test]
    fn project_file_keeps_user_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path();
        let compute = app.join("compute");
        fs::create_dir_all(&compute).unwrap();
        fs::write(app.join(PROJECT_FILE), "command = \"old\"\n[function]\nmemory = 512\n[env]\nA = \"1\"\n").unwrap();
        let m = write_project_file(app, &compute, "node server.js").unwrap();
        assert_eq!(m.command, "node server.js");
        assert_eq!(m.env["A"], "1");
        let text = fs::read_to_string(compute.join(PROJECT_FILE)).unwrap();
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["command"].as_str(), Some("node server.js"));
        assert_eq!(v["function"]["memory"].as_integer(), Some(512));
        assert_eq!(v["function"]["timeout"].as_integer(), Some(i64::from(DEFAULT_TIMEOUT)));
    }
}
