//! Building a Next.js app: `next build` with standalone output forced, then
//! the standalone server as `compute/`, `public/` as `assets/` and
//! `.next/static/` as `permanent/`.
//!
//! Standalone output is forced through the environment, not by editing the
//! user's files: Next.js (13.x–16.x) reads `NEXT_PRIVATE_STANDALONE` as the
//! *default* of `output` (`config-shared.js`:
//! `output: !!process.env.NEXT_PRIVATE_STANDALONE ? 'standalone' : undefined`),
//! so it applies whenever next.config leaves `output` unset. A config that
//! sets another `output` (`"export"`) is reported before building.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::detect::installed_next;
use crate::error::BuildError;
use crate::layout::{self, ASSETS_DIR, AssetRoute, BuildOutput, COMPUTE_DIR, Framework, PERMANENT_DIR, RouteMatch};
use crate::process::run_streaming;
use crate::{BuildEvent, BuildStep};

/// The environment variable that makes standalone the default `output`.
pub(crate) const STANDALONE_ENV: &str = "NEXT_PRIVATE_STANDALONE";
/// The environment variable Next.js takes its deployment id from at build time.
const DEPLOYMENT_ID_ENV: &str = "NEXT_DEPLOYMENT_ID";
/// The names Next.js loads its config from.
const CONFIG_FILES: &[&str] =
    &["next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts", "next.config.mts", "next.config.cts"];
/// The Next.js CLI inside node_modules.
const NEXT_BIN: &str = "node_modules/next/dist/bin/next";

/// The part of `.next/required-server-files.json` ownstak reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequiredServerFiles {
    #[serde(default)]
    relative_app_dir: Option<String>,
    #[serde(default)]
    config: ServerConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerConfig {
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    base_path: String,
    #[serde(default)]
    dist_dir: Option<String>,
    #[serde(default)]
    deployment_id: Option<String>,
}

/// Finds an `output: "<value>"` setting in a next.config source, skipping
/// commented-out lines. This is a text scan, not an evaluation: a value
/// computed at runtime is caught after the build instead.
pub(crate) fn configured_output(source: &str) -> Option<String> {
    for line in source.lines() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        let mut rest = code;
        while let Some(at) = rest.find("output") {
            let before = rest[..at].chars().next_back();
            let after = rest[at + "output".len()..].trim_start();
            rest = &rest[at + "output".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
                continue;
            }
            let Some(value) = after.strip_prefix(':') else { continue };
            let value = value.trim_start();
            let Some(quote) = value.chars().next().filter(|c| matches!(c, '"' | '\'' | '`')) else { continue };
            let inner = &value[1..];
            if let Some(end) = inner.find(quote) {
                return Some(inner[..end].to_owned());
            }
        }
    }
    None
}

/// Fails early when next.config sets an `output` other than standalone.
fn check_config(dir: &Path) -> Result<(), BuildError> {
    for name in CONFIG_FILES {
        let path = dir.join(name);
        let source = match fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BuildError::Io { action: "cannot read", path, source: e }),
        };
        if let Some(output) = configured_output(&source)
            && output != "standalone"
        {
            return Err(BuildError::ConflictingOutput { config: path, output });
        }
    }
    Ok(())
}

/// Checks, before anything is written, that the app's config allows a
/// server build and that Next.js is installed; returns the installed version.
pub(crate) fn preflight(dir: &Path) -> Result<String, BuildError> {
    check_config(dir)?;
    installed_next(dir)?.ok_or_else(|| BuildError::MissingNodeModules(dir.to_owned()))
}

/// Builds the Next.js app in `dir` (checked by [`preflight`], which returned
/// `version`) into `out` (already prepared).
pub(crate) fn build(
    dir: &Path,
    out: PathBuf,
    version: String,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<BuildOutput, BuildError> {
    progress(BuildEvent::Step(BuildStep::FrameworkBuild { command: "next build".to_owned() }));
    // One deployment id per build, given to Next.js so that it tags asset
    // URLs with `?dpl=` and client requests with `x-deployment-id`.
    let deployment_id = new_deployment_id();
    run_streaming(
        dir,
        "node",
        &[NEXT_BIN, "build"],
        &[(STANDALONE_ENV, "true"), ("NEXT_TELEMETRY_DISABLED", "1"), (DEPLOYMENT_ID_ENV, &deployment_id)],
        &mut |line| progress(BuildEvent::Output(line)),
    )?;

    // `distDir` moves `.next`; it is only known from the build's own record.
    let mut dist = dir.join(".next");
    let mut required = read_required(&dist)?;
    if let Some(d) = required.config.dist_dir.as_deref().filter(|d| *d != ".next") {
        dist = dir.join(d);
        required = read_required(&dist)?;
    }
    if let Some(output) = required.config.output.as_deref().filter(|o| *o != "standalone") {
        return Err(BuildError::ConflictingOutput { config: dir.join("next.config.*"), output: output.to_owned() });
    }
    let standalone = dist.join("standalone");
    let app_rel = PathBuf::from(required.relative_app_dir.unwrap_or_default());
    if !standalone.join(&app_rel).join("server.js").is_file() {
        return Err(BuildError::MissingOutput(format!(
            "`next build` finished but {} has no server.js; make sure next.config leaves `output` unset or sets `output: \"standalone\"`",
            standalone.join(&app_rel).display()
        )));
    }

    let compute = out.join(COMPUTE_DIR);
    progress(BuildEvent::Step(BuildStep::CopyCompute));
    layout::copy_tree(&standalone, &compute, &|_| false)?;
    // The standalone server also serves public/ and .next/static/ when they sit
    // next to it, so the function works on its own before assets move to a store.
    let server_dir = compute.join(&app_rel);
    let static_dir = dist.join("static");
    let public = dir.join("public");
    if static_dir.is_dir() {
        let dist_name = dist.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".next"));
        layout::copy_tree(&static_dir, &server_dir.join(dist_name).join("static"), &|_| false)?;
    }
    if public.is_dir() {
        layout::copy_tree(&public, &server_dir.join("public"), &|_| false)?;
    }

    progress(BuildEvent::Step(BuildStep::CopyAssets));
    if public.is_dir() {
        layout::copy_tree(&public, &out.join(ASSETS_DIR), &|_| false)?;
    }
    progress(BuildEvent::Step(BuildStep::CopyPermanent));
    if static_dir.is_dir() {
        layout::copy_tree(&static_dir, &out.join(PERMANENT_DIR), &|_| false)?;
    }

    progress(BuildEvent::Step(BuildStep::WriteLayout));
    let server = if app_rel.as_os_str().is_empty() {
        "server.js".to_owned()
    } else {
        format!("{}/server.js", app_rel.display())
    };
    let command = format!("node {server}");
    let manifest = layout::write_project_file(dir, &compute, &command)?;
    let base = format!("{}/", required.config.base_path.trim_end_matches('/'));
    let mut routes = vec![AssetRoute {
        matches: RouteMatch::Prefix(format!("{base}_next/static/")),
        dir: PERMANENT_DIR.to_owned(),
        immutable: true,
    }];
    routes.extend(layout::routes_for_dir(&out.join(ASSETS_DIR), &base, ASSETS_DIR)?);
    // Next.js records the id it used; a `deploymentId` of the app's own
    // config that it kept instead is the one its pages carry.
    let deployment_id = match required.config.deployment_id.filter(|id| !id.is_empty()) {
        Some(id) if ownstak_core::valid_deployment_id(&id) => id,
        Some(id) => return Err(BuildError::InvalidDeploymentId(id)),
        None => {
            tracing::warn!("Next.js did not record the deployment id; skew protection only pins by the proxy's cookie");
            deployment_id
        }
    };
    layout::finish(out, Framework::Nextjs, Some(version), command, manifest, routes, Some(deployment_id))
}

/// A fresh deployment id: `dpl_` and 20 random hex digits.
fn new_deployment_id() -> String {
    ownstak_core::deployment_id_from_digest(&uuid::Uuid::new_v4().simple().to_string())
}

fn read_required(dist: &Path) -> Result<RequiredServerFiles, BuildError> {
    let path = dist.join("required-server-files.json");
    let bytes = fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::MissingOutput(format!(
                "`next build` finished but wrote no {}; a static export (`output: \"export\"`) cannot run as a server: remove `output` from next.config",
                path.display()
            ))
        } else {
            BuildError::Io { action: "cannot read", path: path.clone(), source: e }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| BuildError::Parse { path, message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_configured_output() {
        assert_eq!(configured_output("const c = { output: \"export\" };"), Some("export".into()));
        assert_eq!(configured_output("module.exports = {\n  output: 'standalone',\n}"), Some("standalone".into()));
        assert_eq!(configured_output("// output: \"export\"\nconst c = {};"), None);
        assert_eq!(configured_output("const c = { outputFileTracingRoot: __dirname };"), None);
        assert_eq!(configured_output("const c = { images: { output: x } };"), None);
        assert_eq!(configured_output("  output: \"standalone\", // output: 'export'"), Some("standalone".into()));
    }

    #[test]
    fn rejects_export_before_building() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("next.config.mjs"), "export default { output: \"export\" };\n").unwrap();
        let e = check_config(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("export") && e.contains("standalone") && e.contains("remove"), "{e}");
    }
}
