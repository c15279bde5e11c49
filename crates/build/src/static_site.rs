//! Building a static site: its files as `assets/`, and for the function a
//! small built-in Node server (`ownstak-static.js`) with the files in
//! `compute/site/`, so the site works from the function alone.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::BuildError;
use crate::layout::{self, ASSETS_DIR, BuildOutput, COMPUTE_DIR, Framework, OUT_DIR, PROJECT_FILE};
use crate::{BuildEvent, BuildStep};

/// The server script's name inside `compute/`.
pub(crate) const SERVER_SCRIPT: &str = "ownstak-static.js";
/// Where the site's files go inside `compute/`.
pub(crate) const SITE_DIR: &str = "site";
/// The server: content types, `index.html` for directories, `404.html` for misses.
const SERVER_SOURCE: &str = include_str!("static_server.js");

/// Top-level names of the app directory that are not part of the site.
fn skipped(rel: &Path) -> bool {
    let mut parts = rel.components();
    let first = parts.next().map(|c| c.as_os_str());
    let top_level = parts.next().is_none();
    match first {
        Some(name) if name == ".git" || name == OUT_DIR || name == "node_modules" => true,
        Some(name) if top_level && name == PROJECT_FILE => true,
        _ => false,
    }
}

/// Builds the static site in `dir` into `out` (already prepared).
pub(crate) fn build(dir: &Path, out: PathBuf, progress: &mut dyn FnMut(BuildEvent)) -> Result<BuildOutput, BuildError> {
    let compute = out.join(COMPUTE_DIR);
    progress(BuildEvent::Step(BuildStep::CopyAssets));
    layout::copy_tree(dir, &out.join(ASSETS_DIR), &skipped)?;
    progress(BuildEvent::Step(BuildStep::CopyCompute));
    layout::copy_tree(dir, &compute.join(SITE_DIR), &skipped)?;
    let script = compute.join(SERVER_SCRIPT);
    fs::write(&script, SERVER_SOURCE).map_err(BuildError::io("cannot write", &script))?;

    progress(BuildEvent::Step(BuildStep::WriteLayout));
    let command = format!("node {SERVER_SCRIPT}");
    let manifest = layout::write_project_file(dir, &compute, &command)?;
    let routes = layout::routes_for_dir(&out.join(ASSETS_DIR), "/", ASSETS_DIR)?;
    layout::finish(out, Framework::Static, None, command, manifest, routes, None)
}
