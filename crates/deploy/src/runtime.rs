//! Which Lambda runtime a function gets.
//!
//! `ownstak-runtime` (the bundle's `bootstrap`) is always the process that
//! talks to the Runtime API and starts the app, but the app may need an
//! interpreter that the bundle does not carry. `provided.al2023` has no
//! Node.js, so a bundle whose start command runs `node` (every Next.js and
//! static build, and custom Node servers) gets the managed Node.js runtime
//! instead, which puts `node` on `PATH`. Lambda would then start its own
//! Node.js runtime client with the handler; setting
//! `AWS_LAMBDA_EXEC_WRAPPER` to our `bootstrap` makes Lambda run our runtime
//! in its place (with the managed runtime's start command as arguments,
//! which ownstak-runtime ignores). The local backend honours the same
//! variable, so both backends take the same path.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::Runtime;
use ownstak_build::Framework;
pub(crate) use ownstak_core::lambda::{EXEC_WRAPPER_VAR, NODE_RUNTIME};

/// The runtime of functions whose start command runs a program the bundle brings.
pub(crate) const CUSTOM_RUNTIME: &str = "provided.al2023";
/// The handler of [`CUSTOM_RUNTIME`] functions: Lambda runs the bundle's `bootstrap`.
pub(crate) const CUSTOM_HANDLER: &str = "bootstrap";
/// The handler of [`NODE_RUNTIME`] functions; Lambda requires one, and
/// nothing reads it, as the exec wrapper replaces the runtime client that would.
pub(crate) const WRAPPED_HANDLER: &str = "bootstrap.handler";
/// The bundle's `bootstrap` in the execution environment (Lambda unpacks
/// the bundle into `/var/task`; the local backend maps that to its copy).
pub(crate) const BOOTSTRAP_PATH: &str = "/var/task/bootstrap";
/// Programs that are Node.js or run on it.
const NODE_PROGRAMS: &[&str] = &["node", "npm", "npx"];
/// Shell words that separate one simple command from the next.
const SEPARATORS: &[&str] = &["&&", "||", ";", "|", "&"];

/// The Lambda runtime of a function and how our `bootstrap` is started in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionRuntime {
    /// `provided.al2023`: Lambda runs `bootstrap` directly.
    Custom,
    /// [`NODE_RUNTIME`]: `node` on `PATH`, `bootstrap` started as the exec wrapper.
    Node,
}

impl FunctionRuntime {
    /// The runtime for a bundle started with `command`, built (when it was
    /// built by `ownstak build`) as `framework`: Node.js when the command
    /// runs a Node.js program or the framework's server is one.
    pub fn choose(command: &str, framework: Option<Framework>) -> Self {
        let node_framework = matches!(framework, Some(Framework::Nextjs | Framework::Static));
        if node_framework || programs(command).any(|p| NODE_PROGRAMS.contains(&p)) {
            FunctionRuntime::Node
        } else {
            FunctionRuntime::Custom
        }
    }

    /// The runtime Lambda names `name` (as a function configuration reports it), if ours.
    pub fn from_name(name: &str) -> Option<Self> {
        [FunctionRuntime::Custom, FunctionRuntime::Node].into_iter().find(|r| r.name() == name)
    }

    /// Lambda's name for the runtime.
    pub fn name(self) -> &'static str {
        match self {
            FunctionRuntime::Custom => CUSTOM_RUNTIME,
            FunctionRuntime::Node => NODE_RUNTIME,
        }
    }

    /// The SDK's value.
    pub(crate) fn lambda(self) -> Runtime {
        Runtime::from(self.name())
    }

    /// The function's handler.
    pub fn handler(self) -> &'static str {
        match self {
            FunctionRuntime::Custom => CUSTOM_HANDLER,
            FunctionRuntime::Node => WRAPPED_HANDLER,
        }
    }

    /// The exec wrapper the function needs, if any.
    pub fn exec_wrapper(self) -> Option<&'static str> {
        match self {
            FunctionRuntime::Custom => None,
            FunctionRuntime::Node => Some(BOOTSTRAP_PATH),
        }
    }

    /// The function's variables: `requested`, plus the exec wrapper when
    /// the runtime needs one (replacing any requested value, which would
    /// keep our runtime from starting).
    pub fn variables(self, requested: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut vars = requested.clone();
        if let Some(wrapper) = self.exec_wrapper() {
            vars.insert(EXEC_WRAPPER_VAR.to_owned(), wrapper.to_owned());
        }
        vars
    }
}

/// The program names (without directories) of the simple commands in a
/// shell command line, skipping variable assignments and the `exec`,
/// `env` and `command` prefixes.
fn programs(command: &str) -> impl Iterator<Item = &str> {
    let mut at_start = true;
    command.split_whitespace().filter_map(move |word| {
        if SEPARATORS.contains(&word) {
            at_start = true;
            return None;
        }
        if !at_start || is_assignment(word) || matches!(word, "exec" | "env" | "command") {
            return None;
        }
        at_start = false;
        let word = word.trim_matches(|c| c == '"' || c == '\'');
        Some(word.rsplit('/').next().unwrap_or(word))
    })
}

/// Whether a shell word is a variable assignment (`NAME=value`).
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_commands_get_the_node_runtime() {
        for command in [
            "node server.js",
            "node .next/standalone/server.js",
            "/usr/local/bin/node server.js",
            "NODE_ENV=production node server.js",
            "exec node server.js",
            "env HOSTNAME=0.0.0.0 node app.js",
            "cd app && node server.js",
            "npm start",
            "'node' server.js",
        ] {
            assert_eq!(FunctionRuntime::choose(command, None), FunctionRuntime::Node, "{command}");
            assert_eq!(FunctionRuntime::choose(command, Some(Framework::Custom)), FunctionRuntime::Node, "{command}");
        }
    }

    #[test]
    fn native_commands_stay_on_provided() {
        for command in [
            "./server",
            "bin/app --port $PORT",
            "python3 -m http.server $PORT",
            "./server --node",
            "./nodejs-free",
            "NODE=1 ./server",
        ] {
            assert_eq!(FunctionRuntime::choose(command, None), FunctionRuntime::Custom, "{command}");
            assert_eq!(FunctionRuntime::choose(command, Some(Framework::Custom)), FunctionRuntime::Custom, "{command}");
        }
    }

    #[test]
    fn nextjs_and_static_builds_get_the_node_runtime() {
        assert_eq!(FunctionRuntime::choose("./anything", Some(Framework::Nextjs)), FunctionRuntime::Node);
        assert_eq!(FunctionRuntime::choose("./anything", Some(Framework::Static)), FunctionRuntime::Node);
    }

    #[test]
    fn node_functions_start_bootstrap_as_the_exec_wrapper() {
        let node = FunctionRuntime::Node;
        assert_eq!(
            (node.name(), node.handler(), node.exec_wrapper()),
            ("nodejs22.x", "bootstrap.handler", Some("/var/task/bootstrap"))
        );
        assert_eq!(node.lambda(), Runtime::Nodejs22x);
        let custom = FunctionRuntime::Custom;
        assert_eq!((custom.name(), custom.handler(), custom.exec_wrapper()), ("provided.al2023", "bootstrap", None));
        assert_eq!(custom.lambda(), Runtime::Providedal2023);

        let requested =
            BTreeMap::from([("A".to_owned(), "1".to_owned()), (EXEC_WRAPPER_VAR.to_owned(), "/opt/other".to_owned())]);
        let vars = node.variables(&requested);
        assert_eq!(vars.get(EXEC_WRAPPER_VAR).map(String::as_str), Some(BOOTSTRAP_PATH));
        assert_eq!(vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(custom.variables(&BTreeMap::new()), BTreeMap::new());
        assert_eq!(BOOTSTRAP_PATH, format!("{}/bootstrap", ownstak_core::lambda::TASK_ROOT));
    }
}
