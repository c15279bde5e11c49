//! Command-line arguments: every flag of every command, parsed in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deploy web apps as Lambda functions, each deployment at its own URL.
#[derive(Debug, Parser)]
#[command(name = "ownstak", version, about)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "OWNSTAK_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `ownstak_proxy=debug`.
    #[arg(long, global = true, env = "OWNSTAK_LOG")]
    pub log: Option<String>,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded local backend.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Package an app directory and deploy it to an environment.
    Deploy(DeployArgs),
    /// Make a deployment the live one of its environment.
    Promote(PromoteArgs),
    /// List the deployments of an environment.
    Deployments(DeploymentsArgs),
    /// Run the LambdaProxy alone (as on ECS), in front of a Lambda endpoint.
    Proxy(ProxyArgs),
}

/// `ownstak proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "OWNSTAK_PROXY_ADDR")]
    pub proxy_addr: SocketAddr,
    /// Lambda API endpoint; without it, AWS Lambda with the default credential chain.
    #[arg(long, env = "OWNSTAK_LAMBDA_ENDPOINT")]
    pub lambda_endpoint: Option<String>,
    /// AWS region of the functions.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Organization slug in host names.
    #[arg(long, env = "OWNSTAK_ORG", default_value = "dev")]
    pub org: String,
    /// Backend slug in host names.
    #[arg(long, env = "OWNSTAK_BACKEND", default_value = "local")]
    pub backend: String,
    /// Root domain of host names.
    #[arg(long, env = "OWNSTAK_ROOT_DOMAIN", default_value = "localhost")]
    pub root_domain: String,
    /// Prefix of the functions the proxy may invoke.
    #[arg(long, env = "OWNSTAK_FUNCTION_PREFIX", default_value = "ownstak")]
    pub function_prefix: String,
    /// Use buffered Invoke instead of InvokeWithResponseStream.
    #[arg(long)]
    pub buffered: bool,
    /// Seconds open requests may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Print the address as one JSON object when ready.
    #[arg(long)]
    pub json: bool,
}

/// `ownstak local …`.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the local backend (Lambda API + LambdaProxy) in the foreground.
    Up(LocalUpArgs),
}

/// The backend a command talks to.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    /// Lambda API endpoint of the backend.
    #[arg(long, env = "OWNSTAK_LAMBDA_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    pub lambda_endpoint: String,
}

/// A project environment.
#[derive(Debug, Args, Clone)]
pub struct EnvArgs {
    /// Project slug (lower-case letters, digits, hyphens).
    #[arg(long, short = 'p', env = "OWNSTAK_PROJECT")]
    pub project: String,
    /// Environment slug; must not end in an all-digit segment.
    #[arg(long, short = 'e', env = "OWNSTAK_ENV")]
    pub env: String,
}

/// `ownstak local up`.
#[derive(Debug, Args)]
pub struct LocalUpArgs {
    /// Address of the Lambda API.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub lambda_addr: SocketAddr,
    /// Address of the LambdaProxy (where deployments are served).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub proxy_addr: SocketAddr,
    /// Where state, code and logs are kept [default: ~/.ownstak/local].
    #[arg(long, env = "OWNSTAK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Organization slug in host names.
    #[arg(long, default_value = "dev")]
    pub org: String,
    /// Backend slug in host names.
    #[arg(long, default_value = "local")]
    pub backend: String,
    /// Root domain of host names (`*.localhost` resolves to this machine).
    #[arg(long, default_value = "localhost")]
    pub root_domain: String,
    /// Prefix of the functions the proxy may invoke.
    #[arg(long, default_value = "ownstak")]
    pub function_prefix: String,
    /// Most environments per function running at once.
    #[arg(long, default_value_t = 16)]
    pub max_environments: usize,
    /// Seconds before an idle environment is stopped.
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// Seconds an open request may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Print the addresses as one JSON object when ready.
    #[arg(long)]
    pub json: bool,
}

/// `ownstak deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The app directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub env: EnvArgs,
    /// Command that starts the app (it must listen on $PORT); overrides ownstak.toml.
    #[arg(long)]
    pub command: Option<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Deploy without making it the live deployment.
    #[arg(long)]
    pub no_promote: bool,
    /// Function memory in MB [default: ownstak.toml, else 1024].
    #[arg(long)]
    pub memory: Option<u32>,
    /// Function timeout in seconds [default: ownstak.toml, else 30].
    #[arg(long)]
    pub timeout: Option<u32>,
    /// The ownstak-runtime executable to bundle [default: next to ownstak].
    #[arg(long, env = "OWNSTAK_RUNTIME_BINARY")]
    pub runtime_binary: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `ownstak promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The deployment number to make live.
    pub deployment: u32,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `ownstak deployments`.
#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print the list as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// Whether the command was asked for JSON output.
    pub fn json(&self) -> bool {
        match self {
            Command::Local(LocalCommand::Up(a)) => a.json,
            Command::Deploy(a) => a.json,
            Command::Promote(a) => a.json,
            Command::Deployments(a) => a.json,
            Command::Proxy(a) => a.json,
        }
    }

    /// The log level when none is given: servers log their work, one-shot
    /// commands only problems.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Local(_) | Command::Proxy(_) => "info",
            _ => "warn",
        }
    }
}
