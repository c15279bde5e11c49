//! Settings of the local Lambda service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the local Lambda service can be told; built once by the CLI.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Where the Lambda REST API listens.
    pub lambda_addr: SocketAddr,
    /// Where state, code and logs live.
    pub data_dir: PathBuf,
    /// Region reported in ARNs and to functions.
    pub region: String,
    /// Account id reported in ARNs.
    pub account_id: String,
    /// Most environments that run one function's invocations at once.
    pub max_environments: usize,
    /// How long an invoke waits for a free environment before it is
    /// throttled with `TooManyRequestsException`.
    pub queue_timeout: Duration,
    /// How long an invoke that finds every environment busy waits for one
    /// to come free before starting another (zero: start one at once).
    pub warm_wait: Duration,
    /// How long a sandbox may take to ask for its first invocation.
    pub init_timeout: Duration,
    /// Idle environments older than this are stopped.
    pub idle_timeout: Duration,
    /// Largest `ZipFile` accepted by CreateFunction / UpdateFunctionCode.
    pub max_zip_bytes: usize,
    /// Largest synchronous Invoke request and response payload.
    pub max_payload_bytes: usize,
    /// Facts served at `/__ownstak__/backend` so that clients can print URLs.
    pub backend_info: Option<ownstak_core::BackendInfo>,
    /// Origins whose web pages may call the Lambda API (`--allow-origin`);
    /// requests from any other page are refused.
    pub allowed_origins: Vec<ownstak_guard::AllowedOrigin>,
    /// Whether only requests signed with [`LocalConfig::keys`] are accepted
    /// (`--verify-signatures`); otherwise any SigV4 signature is.
    pub verify_signatures: bool,
    /// The backend's key pair (from [`LocalConfig::credentials_path`]).
    pub keys: ownstak_guard::KeyPair,
}

impl LocalConfig {
    /// Defaults for a data directory, listening on 127.0.0.1:9001.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            lambda_addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
            data_dir,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            max_environments: 16,
            queue_timeout: Duration::from_secs(5),
            warm_wait: Duration::from_millis(20),
            init_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_zip_bytes: 250 * 1024 * 1024,
            max_payload_bytes: 6 * 1024 * 1024,
            backend_info: None,
            allowed_origins: Vec::new(),
            verify_signatures: false,
            keys: ownstak_guard::KeyPair::fallback(),
        }
    }

    /// SQLite database with the functions, versions and aliases.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("state.sqlite3")
    }

    /// SQLite database with the SSM endpoint's parameters (variables and
    /// secrets, 0600).
    pub fn parameters_path(&self) -> PathBuf {
        self.data_dir.join("parameters.sqlite3")
    }

    /// Unpacked code, one directory per distinct zip.
    pub fn code_dir(&self) -> PathBuf {
        self.data_dir.join("code")
    }

    /// The file with the backend's key pair (see `ownstak_guard::credentials`).
    pub fn credentials_path(&self) -> PathBuf {
        ownstak_guard::credentials::credentials_path(&self.data_dir)
    }

    /// Per-function log files.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}
