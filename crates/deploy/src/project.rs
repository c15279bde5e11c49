//! `ownstak.toml`: per-app settings next to the app's files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::DeployError;

/// The project config file's name.
pub(crate) const PROJECT_FILE: &str = "ownstak.toml";

/// Settings read from `ownstak.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Shell command that starts the app; it must listen on `$PORT`.
    #[serde(default)]
    pub command: Option<String>,
    /// Function settings.
    #[serde(default)]
    pub function: FunctionSettings,
    /// Environment variables for the app.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `[function]` of `ownstak.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSettings {
    /// Memory in MB (128–10240).
    #[serde(default)]
    pub memory: Option<u32>,
    /// Timeout in seconds (1–900).
    #[serde(default)]
    pub timeout: Option<u32>,
}

impl ProjectConfig {
    /// Reads `ownstak.toml` from `dir`; a missing file is an empty config.
    pub fn load(dir: &Path) -> Result<Self, DeployError> {
        let path = dir.join(PROJECT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(DeployError::Project { path: path.display().to_string(), message: e.to_string() }),
        };
        toml::from_str(&text)
            .map_err(|e| DeployError::Project { path: path.display().to_string(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ProjectConfig::load(dir.path()).unwrap(), ProjectConfig::default());
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "command = \"node server.js\"\n[function]\nmemory = 512\n[env]\nA = \"1\"\n",
        )
        .unwrap();
        let c = ProjectConfig::load(dir.path()).unwrap();
        assert_eq!(c.command.as_deref(), Some("node server.js"));
        assert_eq!(c.function.memory, Some(512));
        assert_eq!(c.env["A"], "1");
        std::fs::write(dir.path().join(PROJECT_FILE), "comand = \"typo\"\n").unwrap();
        let e = ProjectConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("comand"), "{e}");
    }
}
