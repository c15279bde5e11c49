//! Settings of the runtime, read from the environment in one place.

use std::path::PathBuf;

use crate::bridge::ResponseMode;
use crate::error::ConfigError;

/// The Runtime API endpoint variable (`host:port`), set by Lambda.
pub(crate) const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";
/// The unpacked bundle directory, set by Lambda.
pub(crate) const TASK_ROOT_VAR: &str = "LAMBDA_TASK_ROOT";
/// Overrides the app's port (otherwise a free one is picked).
pub(crate) const APP_PORT_VAR: &str = "OWNSTAK_APP_PORT";
/// The log filter (`tracing` env-filter syntax); `info` when unset.
pub(crate) const LOG_VAR: &str = "OWNSTAK_LOG";
/// `streaming` (the default) or `buffered`: how responses reach the Runtime API.
pub(crate) const RESPONSE_MODE_VAR: &str = "OWNSTAK_RESPONSE_MODE";
/// `json` for JSON log lines; anything else for plain text.
pub(crate) const LOG_FORMAT_VAR: &str = "OWNSTAK_LOG_FORMAT";

/// Everything the runtime needs to know before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Runtime API endpoint, `host:port`.
    pub runtime_api: String,
    /// The bundle directory holding `ownstak.json`; the app's working directory.
    pub task_root: PathBuf,
    /// A fixed port for the app, or `None` to pick a free one.
    pub app_port: Option<u16>,
    /// How responses are delivered to the Runtime API.
    pub response_mode: ResponseMode,
    /// The deployment id (`OWNSTAK_DEPLOYMENT_ID`), sent back with every
    /// answer for the proxy's skew protection; `None` when unset or invalid.
    pub deployment_id: Option<String>,
    /// The secrets to fetch at init (`OWNSTAK_SECRETS_PATH`,
    /// `OWNSTAK_SECRETS`): none, references, or why they are unusable
    /// (reported as an init error).
    pub secrets: Result<Option<ownstak_core::SecretRefs>, ownstak_core::SecretRefsError>,
}

/// How the runtime logs (to stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// An env-filter directive such as `info` or `ownstak_runtime=debug`.
    pub filter: String,
    /// Whether to write JSON lines instead of text.
    pub json: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which returns a variable's value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let runtime_api = non_empty(lookup(RUNTIME_API_VAR)).ok_or(ConfigError::MissingRuntimeApi)?;
        let task_root = non_empty(lookup(TASK_ROOT_VAR)).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let app_port = match non_empty(lookup(APP_PORT_VAR)) {
            None => None,
            Some(raw) => match raw.trim().parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => return Err(ConfigError::InvalidPort(raw)),
            },
        };
        let response_mode = match non_empty(lookup(RESPONSE_MODE_VAR)) {
            None => ResponseMode::default(),
            Some(raw) => ResponseMode::from_name(&raw).ok_or(ConfigError::InvalidResponseMode(raw))?,
        };
        let deployment_id =
            non_empty(lookup(ownstak_core::DEPLOYMENT_ID_VARIABLE)).filter(|id| ownstak_core::valid_deployment_id(id));
        let secrets = ownstak_core::SecretRefs::from_lookup(&lookup);
        Ok(Self { runtime_api, task_root, app_port, response_mode, deployment_id, secrets })
    }
}

impl LogConfig {
    /// Reads the logging settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the logging settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            filter: non_empty(lookup(LOG_VAR)).unwrap_or_else(|| "info".to_owned()),
            json: lookup(LOG_FORMAT_VAR).is_some_and(|f| f.trim().eq_ignore_ascii_case("json")),
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn reads_required_and_defaults() {
        let c = Config::from_lookup(lookup(&[(RUNTIME_API_VAR, "127.0.0.1:9001")])).unwrap();
        assert_eq!(c.runtime_api, "127.0.0.1:9001");
        assert_eq!(c.task_root, PathBuf::from("."));
        assert_eq!(c.app_port, None);
        assert_eq!(c.response_mode, ResponseMode::Streaming);
        assert_eq!(LogConfig::from_lookup(lookup(&[])), LogConfig { filter: "info".into(), json: false });
    }

    #[test]
    fn reads_overrides() {
        let vars = [
            (RUNTIME_API_VAR, "localhost:9001"),
            (TASK_ROOT_VAR, "/var/task"),
            (APP_PORT_VAR, "3000"),
            (LOG_VAR, "debug"),
            (LOG_FORMAT_VAR, "JSON"),
        ];
        let c = Config::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.task_root, PathBuf::from("/var/task"));
        assert_eq!(c.app_port, Some(3000));
        assert_eq!(c.response_mode, ResponseMode::Streaming);
        let c = Config::from_lookup(lookup(&[(RUNTIME_API_VAR, "h:1"), (RESPONSE_MODE_VAR, "BUFFERED")])).unwrap();
        assert_eq!(c.response_mode, ResponseMode::Buffered);
        assert_eq!(LogConfig::from_lookup(lookup(&vars)), LogConfig { filter: "debug".into(), json: true });
    }

    #[test]
    fn rejects_missing_api_and_bad_port() {
        assert!(matches!(Config::from_lookup(lookup(&[])), Err(ConfigError::MissingRuntimeApi)));
        assert!(matches!(Config::from_lookup(lookup(&[(RUNTIME_API_VAR, " ")])), Err(ConfigError::MissingRuntimeApi)));
        for bad in ["0", "70000", "http"] {
            let err = Config::from_lookup(lookup(&[(RUNTIME_API_VAR, "h:1"), (APP_PORT_VAR, bad)])).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidPort(ref p) if p == bad), "{bad}");
        }
        assert!(ConfigError::MissingRuntimeApi.to_string().contains(RUNTIME_API_VAR));
        let err = Config::from_lookup(lookup(&[(RUNTIME_API_VAR, "h:1"), (RESPONSE_MODE_VAR, "chunked")])).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidResponseMode(ref m) if m == "chunked"));
        assert_eq!(err.to_string(), "OWNSTAK_RESPONSE_MODE is `chunked`; use `streaming` (the default) or `buffered`");
    }
}
