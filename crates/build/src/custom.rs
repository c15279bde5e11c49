//! Building an app started by a user-given command (a custom Node server,
//! or anything that listens on `$PORT`): the app directory itself, minus
//! version control and caches, is `compute/`.

use std::path::{Path, PathBuf};

use ownstak_core::MANIFEST_FILE;

use crate::error::BuildError;
use crate::layout::{self, BuildOutput, COMPUTE_DIR, Framework, OUT_DIR, PROJECT_FILE};
use crate::{BuildEvent, BuildStep};

/// Names at the root of every bundle that `ownstak deploy` adds itself.
const RESERVED: &[&str] = &["bootstrap", MANIFEST_FILE];

/// What is never copied into `compute/`.
fn skipped(rel: &Path) -> bool {
    rel == Path::new(".git")
        || rel == Path::new(OUT_DIR)
        || rel == Path::new(".next/cache")
        || rel == Path::new(PROJECT_FILE)
}

/// Builds the app in `dir`, started with `command`, into `out` (already prepared).
pub(crate) fn build(
    dir: &Path,
    out: PathBuf,
    command: &str,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<BuildOutput, BuildError> {
    for name in RESERVED {
        if dir.join(name).exists() {
            return Err(BuildError::Reserved { dir: dir.to_owned(), name });
        }
    }
    let compute = out.join(COMPUTE_DIR);
    progress(BuildEvent::Step(BuildStep::CopyCompute));
    layout::copy_tree(dir, &compute, &skipped)?;
    progress(BuildEvent::Step(BuildStep::WriteLayout));
    let manifest = layout::write_project_file(dir, &compute, command)?;
    layout::finish(out, Framework::Custom, None, command.to_owned(), manifest, Vec::new(), None)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::{BuildOptions, Framework, build};

    #[test]
    fn copies_the_app_without_vcs_and_caches() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::create_dir_all(dir.join(".next/cache")).unwrap();
        fs::create_dir_all(dir.join(".next/server")).unwrap();
        fs::write(dir.join("server.js"), "require('http')").unwrap();
        fs::write(dir.join(".git/HEAD"), "ref").unwrap();
        fs::write(dir.join(".next/cache/big"), "cache").unwrap();
        fs::write(dir.join(".next/server/page.js"), "page").unwrap();
        fs::write(dir.join("ownstak.toml"), "[function]\nmemory = 256\n").unwrap();
        let options = BuildOptions { framework: None, command: Some("node server.js".into()) };
        let out = build(dir, &options, |_| {}).unwrap();
        assert_eq!(out.framework, Framework::Custom);
        let compute = dir.join(".ownstak/compute");
        assert!(compute.join("server.js").is_file() && compute.join(".next/server/page.js").is_file());
        assert!(
            !compute.join(".git").exists()
                && !compute.join(".next/cache").exists()
                && !compute.join(".ownstak").exists()
        );
        let toml = fs::read_to_string(compute.join("ownstak.toml")).unwrap();
        assert!(toml.contains("command = \"node server.js\"") && toml.contains("memory = 256"), "{toml}");
        // Rebuilding replaces the previous layout.
        fs::remove_file(dir.join(".next/server/page.js")).unwrap();
        build(dir, &options, |_| {}).unwrap();
        assert!(!compute.join(".next/server/page.js").exists());

        fs::write(dir.join("bootstrap"), "x").unwrap();
        let e = build(dir, &options, |_| {}).unwrap_err().to_string();
        assert!(e.contains("bootstrap"), "{e}");
    }
}
