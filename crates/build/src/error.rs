//! Why a build fails, phrased so the user knows what to do next.

use std::path::PathBuf;

/// Why `ownstak build` could not produce the `.ownstak/` layout.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The app directory does not exist or is not a directory.
    #[error("{} is not a directory; pass the app directory to build", .0.display())]
    NotADirectory(PathBuf),

    /// Nothing in the directory looks like an app ownstak can build.
    #[error(
        "no supported app found in {}: looked for a Next.js app (package.json depending on `next` >= 14) \
         and a static site (index.html); choose one with `--framework nextjs|static`, \
         or run a custom Node server with `--command \"node server.js\"`",
        .0.display()
    )]
    NoApp(PathBuf),

    /// `--framework` named a framework whose marker files are missing.
    #[error("--framework {framework} was given, but {}: {reason}", .dir.display())]
    NotThatFramework {
        /// The framework asked for.
        framework: &'static str,
        /// The app directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// `--framework custom` without a start command.
    #[error("--framework custom needs the command that starts the server: pass --command \"node server.js\"")]
    CustomWithoutCommand,

    /// `--command` combined with a framework that has its own start command.
    #[error("--command only applies to --framework custom; ownstak starts {0} apps itself")]
    CommandNotApplicable(&'static str),

    /// The installed (or required) Next.js is older than ownstak supports.
    #[error("{} uses Next.js {version}, but ownstak builds Next.js 14 or newer; upgrade with `npm install next@latest`", .dir.display())]
    UnsupportedNext {
        /// The app directory.
        dir: PathBuf,
        /// The version found.
        version: String,
    },

    /// The app's dependencies are not installed.
    #[error("{} has no node_modules/next: install the app's dependencies first with `npm ci` (or `npm install`) in {}", .0.display(), .0.display())]
    MissingNodeModules(PathBuf),

    /// The user's next.config sets an `output` other than standalone.
    #[error(
        "{} sets `output: \"{output}\"`, but ownstak deploys Next.js as a server and needs standalone output; \
         remove the `output` line (ownstak forces standalone itself) or set `output: \"standalone\"`",
        .config.display()
    )]
    ConflictingOutput {
        /// The config file.
        config: PathBuf,
        /// The `output` value it sets.
        output: String,
    },

    /// A tool (node, next) could not be started.
    #[error("cannot run `{command}`: {source}; is Node.js installed and on PATH?")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// `next build` (or another step's command) exited unsuccessfully.
    #[error("`{command}` failed ({status}); see its output above")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
    },

    /// The build ran but did not produce what ownstak needs.
    #[error("{0}")]
    MissingOutput(String),

    /// The app's config sets a `deploymentId` that cannot travel in URLs,
    /// headers and cookies as is.
    #[error(
        "next.config sets deploymentId `{0}`; use 1 to 64 ASCII letters, digits, `_` and `-`, or remove it and let ownstak choose one"
    )]
    InvalidDeploymentId(String),

    /// The app directory contains a name ownstak adds to every bundle.
    #[error("{} contains `{name}`, a name ownstak adds to every bundle; rename or remove it", .dir.display())]
    Reserved {
        /// The app directory.
        dir: PathBuf,
        /// The reserved name.
        name: &'static str,
    },

    /// A file could not be read, copied or written.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done ("cannot copy", "cannot write" …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A JSON or TOML file of the app could not be parsed.
    #[error("cannot parse {}: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl BuildError {
    /// An I/O error about `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { action, path, source }
    }
}
