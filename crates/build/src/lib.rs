//! `ownstak build`: turns an app directory into the `.ownstak/` layout that
//! ownstak deploys — `compute/` for the function, `assets/` for
//! per-deployment static files, `permanent/` for content-hashed files shared
//! across deployments, and `build.json` describing them.
//!
//! Supported apps: Next.js (14 or newer, run as its standalone server), a
//! static site (a folder with `index.html`), and any server started by a
//! user-given command. The user's files are never modified; only
//! `DIR/.ownstak/` (and the framework's own build output, e.g. `.next/`) is
//! written.

mod custom;
mod detect;
mod error;
mod layout;
mod nextjs;
mod process;
mod static_site;

use std::path::Path;

pub use detect::{Detection, detect};
pub use error::BuildError;
pub use layout::{
    ASSETS_DIR, AssetRoute, BUILD_FILE, BuildOutput, COMPUTE_DIR, ComputePart, Framework, OUT_DIR, PERMANENT_DIR,
    PartSize, RouteMatch, StaticPart, compute_dir,
};

/// What the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Build as this framework instead of detecting one.
    pub framework: Option<Framework>,
    /// The command that starts a custom server (implies [`Framework::Custom`]).
    pub command: Option<String>,
}

/// A step of a build, reported as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStep {
    /// Deciding what kind of app the directory holds.
    Detect,
    /// The app was recognised.
    Detected {
        /// The kind of app.
        framework: Framework,
        /// Its version, when known.
        version: Option<String>,
    },
    /// Checking that the app's dependencies are installed and its config fits.
    CheckDependencies,
    /// Running the framework's own build (its output follows as [`BuildEvent::Output`]).
    FrameworkBuild {
        /// What runs, for display.
        command: String,
    },
    /// Copying what the function runs into `compute/`.
    CopyCompute,
    /// Copying per-deployment static files into `assets/`.
    CopyAssets,
    /// Copying content-hashed files into `permanent/`.
    CopyPermanent,
    /// Writing `compute/ownstak.toml` and `build.json`.
    WriteLayout,
}

impl BuildStep {
    /// A short description for progress displays.
    pub fn describe(&self) -> String {
        match self {
            BuildStep::Detect => "detecting the app".to_owned(),
            BuildStep::Detected { framework, version: Some(v) } => format!("found a {framework} app ({v})"),
            BuildStep::Detected { framework, version: None } => format!("found a {framework} app"),
            BuildStep::CheckDependencies => "checking dependencies and config".to_owned(),
            BuildStep::FrameworkBuild { command } => format!("running {command}"),
            BuildStep::CopyCompute => "copying the server into compute/".to_owned(),
            BuildStep::CopyAssets => "copying static files into assets/".to_owned(),
            BuildStep::CopyPermanent => "copying hashed files into permanent/".to_owned(),
            BuildStep::WriteLayout => "writing ownstak.toml and build.json".to_owned(),
        }
    }
}

/// What a build reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A new step started.
    Step(BuildStep),
    /// A line printed by the framework's build tool.
    Output(String),
}

/// Builds the app in `dir` into `dir/.ownstak/`, reporting steps and the
/// build tool's output through `progress`.
pub fn build(
    dir: &Path,
    options: &BuildOptions,
    mut progress: impl FnMut(BuildEvent),
) -> Result<BuildOutput, BuildError> {
    let progress: &mut dyn FnMut(BuildEvent) = &mut progress;
    progress(BuildEvent::Step(BuildStep::Detect));
    let detection = detect(dir, options)?;
    progress(BuildEvent::Step(BuildStep::Detected {
        framework: detection.framework,
        version: detection.version.clone(),
    }));
    let next_version = match detection.framework {
        Framework::Nextjs => {
            progress(BuildEvent::Step(BuildStep::CheckDependencies));
            Some(nextjs::preflight(dir)?)
        }
        _ => None,
    };
    let out = layout::prepare_out_dir(dir)?;
    let output = match (detection.framework, options.command.as_deref()) {
        (Framework::Nextjs, _) => nextjs::build(dir, out, next_version.unwrap_or_default(), progress)?,
        (Framework::Static, _) => static_site::build(dir, out, progress)?,
        (Framework::Custom, Some(command)) => custom::build(dir, out, command, progress)?,
        (Framework::Custom, None) => return Err(BuildError::CustomWithoutCommand),
    };
    tracing::info!(
        framework = %output.framework,
        compute_files = output.compute.size.files,
        compute_bytes = output.compute.size.bytes,
        "built {}",
        output.out_dir.display()
    );
    Ok(output)
}
