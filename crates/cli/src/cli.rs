//! Command-line arguments: every flag of every command, parsed in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deploy web apps as Lambda functions, each deployment at its own URL.
#[derive(Debug, Parser)]
#[command(name = "ownstak", version, about)]
pub(crate) struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Print results (and a server's ready line) as JSON objects, one per line, instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "OWNSTAK_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `ownstak_proxy=debug`.
    #[arg(long, global = true, env = "OWNSTAK_LOG")]
    pub log: Option<String>,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the embedded local backend.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Package an app directory and deploy it to an environment.
    Deploy(DeployArgs),
    /// Build an app (Next.js, static site, custom server) into DIR/.ownstak for `ownstak deploy`.
    Build(BuildArgs),
    /// Make a deployment the live one of its environment.
    Promote(PromoteArgs),
    /// List the deployments of an environment.
    Deployments(DeploymentsArgs),
    /// Show an environment's function logs: output, START/END/REPORT, by request.
    Logs(LogsArgs),
    /// Set, unset and list an environment's variables and secrets (taken by its next deploy).
    #[command(subcommand)]
    Env(VarsCommand),
    /// Run the LambdaProxy alone (as on ECS), in front of a Lambda endpoint.
    Proxy(ProxyArgs),
    /// Manage the proxies' response cache (purge answers of an environment).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Provision and manage an AWS backend (CloudFormation stack, certificate, DNS).
    #[command(subcommand)]
    Backend(BackendCommand),
    /// Run a built app (`.ownstak/`) locally exactly as it runs in Lambda,
    /// at http://127.0.0.1:3000.
    Start(StartArgs),
    /// Serve an environment on your own domain (certificate, listener, routing).
    #[command(subcommand)]
    Domains(DomainsCommand),
}

/// `ownstak start`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// The app directory holding `.ownstak/` (from `ownstak build`).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Address to serve the app on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// The ownstak-runtime executable to bundle [default: next to ownstak].
    #[arg(long, env = "OWNSTAK_RUNTIME_BINARY")]
    pub runtime_binary: Option<PathBuf>,
}

/// `ownstak proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Threads that serve connections, each with its own accept loop and
    /// Lambda connections (default: one per core).
    #[arg(long, env = "OWNSTAK_PROXY_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "OWNSTAK_PROXY_ADDR")]
    pub proxy_addr: SocketAddr,
    /// A load balancer's address or CIDR range whose `X-Forwarded-For` gives
    /// the client address (repeatable), e.g. the VPC range behind an ALB.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// Serve `/__ownstak__/metrics` on this listener (keep it private).
    #[arg(long)]
    pub expose_metrics: bool,
    /// Lambda API endpoint; without it, AWS Lambda with the default credential chain.
    #[arg(long, env = "OWNSTAK_LAMBDA_ENDPOINT")]
    pub lambda_endpoint: Option<String>,
    /// Data directory of the local backend at --lambda-endpoint, whose `credentials`
    /// file signs the requests [default: ~/.ownstak/local].
    #[arg(long, env = "OWNSTAK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// AWS region of the functions.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// The assets bucket (the stack's `AssetsBucket`): static files (`/_next/static/…`,
    /// `public/`) are answered from it without invoking a function.
    #[arg(long, value_name = "BUCKET", env = "OWNSTAK_ASSETS_BUCKET")]
    pub assets_bucket: Option<String>,
    /// An S3-compatible endpoint for --assets-bucket instead of AWS S3.
    #[arg(long, value_name = "URL", env = "OWNSTAK_ASSETS_ENDPOINT", requires = "assets_bucket")]
    pub assets_endpoint: Option<String>,
    /// Use buffered Invoke instead of InvokeWithResponseStream.
    #[arg(long)]
    pub buffered: bool,
    /// Seconds open requests may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with this PEM certificate chain; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", env = "OWNSTAK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert", env = "OWNSTAK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate kept in DIR (cert.pem, key.pem), generated
    /// there on first use for localhost and the served domain; existing files are never overwritten.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: Option<PathBuf>,
    /// Largest request head (request line and headers) in bytes; larger heads get 431
    /// (at least 8192 over HTTP/1.1).
    #[arg(long, value_name = "BYTES", default_value_t = ownstak_proxy::Limits::default().max_header_bytes)]
    pub max_header_bytes: usize,
    /// Largest request body in bytes passed to a function; larger bodies get 413.
    #[arg(long, value_name = "BYTES", default_value_t = ownstak_proxy::Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Seconds a client has to send a whole request head (and finish the TLS handshake).
    #[arg(long, value_name = "SECS", default_value_t = ownstak_proxy::Limits::default().header_read_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a whole request body.
    #[arg(long, value_name = "SECS", default_value_t = ownstak_proxy::Limits::default().body_read_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout: u64,
    /// Seconds a keep-alive connection may stay without a request in flight before it is
    /// closed (keep it above the load balancer's idle timeout, 60 s on an ALB).
    #[arg(long, value_name = "SECS", default_value_t = ownstak_proxy::Limits::default().idle_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Longest time in seconds one function invocation may take, response included.
    #[arg(long, value_name = "SECS", default_value_t = ownstak_proxy::Limits::default().invoke_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub invoke_timeout: u64,
    /// Requests served at once; beyond this, new requests get an immediate 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = ownstak_proxy::Limits::default().max_in_flight, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_in_flight: usize,
    /// Request-body bytes held at once; beyond this, new requests with a body get an immediate 503 with Retry-After.
    #[arg(long, value_name = "BYTES", default_value_t = ownstak_proxy::Limits::default().max_body_bytes_in_flight)]
    pub max_body_bytes_in_flight: usize,
    /// Largest response head (status line and headers) in bytes passed on from a function; larger ones get 502 `invalid_response`.
    #[arg(long, value_name = "BYTES", default_value_t = ownstak_proxy::Limits::default().max_response_head_bytes)]
    pub max_response_head_bytes: usize,
}

/// The host names a proxy serves (`*.<backend>.<org>.<root-domain>`) and
/// the functions it may invoke.
#[derive(Debug, Args, Clone)]
pub(crate) struct SiteArgs {
    /// Organization slug in host names.
    #[arg(long, env = "OWNSTAK_ORG", default_value = "dev")]
    pub org: String,
    /// Backend slug in host names.
    #[arg(long, env = "OWNSTAK_BACKEND", default_value = "local")]
    pub backend: String,
    /// Root domain of host names (`*.localhost` resolves to this machine).
    #[arg(long, env = "OWNSTAK_ROOT_DOMAIN", default_value = "localhost")]
    pub root_domain: String,
    /// Prefix of the functions the proxy may invoke.
    #[arg(long, env = "OWNSTAK_FUNCTION_PREFIX", default_value = "ownstak")]
    pub function_prefix: String,
    /// How long clients of a deployment stay pinned to it after it stopped being live
    /// (skew protection), e.g. `12h` or `7d`; `0` pins only to the live deployment.
    #[arg(long, value_name = "DURATION", env = "OWNSTAK_SKEW_WINDOW", default_value = "7d", value_parser = crate::duration::parse)]
    pub skew_window: std::time::Duration,
}

/// The proxy's response cache (`ownstak proxy` and `ownstak local up`).
#[derive(Debug, Args, Clone)]
pub(crate) struct CacheArgs {
    /// Memory for the response cache in MiB (0 turns the cache off).
    #[arg(long, value_name = "MIB", env = "OWNSTAK_CACHE_SIZE", default_value_t = ownstak_proxy::CacheConfig::default().max_bytes / (1024 * 1024))]
    pub cache_size: u64,
    /// Largest response body stored in the cache, in bytes (longer ones still stream to the client, unstored).
    #[arg(long, value_name = "BYTES", default_value_t = ownstak_proxy::CacheConfig::default().max_entry_bytes)]
    pub cache_max_entry_bytes: usize,
    /// Longest time in seconds an answer is kept, whatever its Cache-Control says.
    #[arg(long, value_name = "SECS", default_value_t = ownstak_proxy::CacheConfig::default().max_ttl.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_ttl: u64,
    /// A cookie that marks a signed-in user (repeatable; replaces the default list): requests
    /// carrying it never use the cache [default: the session cookies of common frameworks].
    #[arg(long = "cache-session-cookie", value_name = "NAME")]
    pub cache_session_cookies: Vec<String>,
    /// How often the backend's purge log is polled, e.g. `500ms` or `2s` (a purge reaches the proxy within it).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = crate::duration::parse)]
    pub cache_purge_poll: std::time::Duration,
}

impl CacheArgs {
    /// The cache's settings; `None` when `--cache-size 0` turns it off.
    pub(crate) fn config(&self) -> Option<ownstak_proxy::CacheConfig> {
        if self.cache_size == 0 {
            return None;
        }
        let defaults = ownstak_proxy::CacheConfig::default();
        Some(ownstak_proxy::CacheConfig {
            max_bytes: self.cache_size.saturating_mul(1024 * 1024),
            max_entry_bytes: self.cache_max_entry_bytes,
            max_ttl: std::time::Duration::from_secs(self.cache_max_ttl),
            session_cookies: if self.cache_session_cookies.is_empty() {
                defaults.session_cookies
            } else {
                self.cache_session_cookies.clone()
            },
            purge_poll_interval: self.cache_purge_poll.max(std::time::Duration::from_millis(100)),
        })
    }
}

/// `ownstak local …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LocalCommand {
    /// Start the local backend (Lambda API + LambdaProxy) in the foreground.
    Up(LocalUpArgs),
}

/// The backend a command talks to: a local one by its Lambda endpoint, or
/// an AWS one (`ownstak backend create`) by name.
#[derive(Debug, Args, Clone)]
pub(crate) struct BackendArgs {
    /// Lambda API endpoint of a local backend (ignored with --backend).
    #[arg(long, env = "OWNSTAK_LAMBDA_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    pub lambda_endpoint: String,
    /// Data directory of that local backend, whose `credentials` file signs the
    /// requests [default: ~/.ownstak/local].
    #[arg(long, env = "OWNSTAK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use this AWS backend (made by `ownstak backend create`), found by its stack outputs.
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// Organization slug of --backend.
    #[arg(long, env = "OWNSTAK_ORG")]
    pub org: Option<String>,
    /// The --function-prefix --backend was created with, if any (it names
    /// the stack; the functions' prefix is read from the stack).
    #[arg(long, env = "OWNSTAK_FUNCTION_PREFIX", default_value = "ownstak")]
    pub function_prefix: String,
    /// Named AWS profile of --backend's account.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region of --backend.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint for every AWS service (tests against moto).
    #[arg(long = "endpoint-url", env = "OWNSTAK_AWS_ENDPOINT", hide = true)]
    pub aws_endpoint_url: Option<String>,
}

impl BackendArgs {
    /// A local backend at `lambda_endpoint` keeping its data in `data_dir`.
    pub(crate) fn local(lambda_endpoint: String, data_dir: PathBuf) -> Self {
        Self {
            lambda_endpoint,
            data_dir: Some(data_dir),
            backend: None,
            org: None,
            function_prefix: "ownstak".to_owned(),
            profile: None,
            region: None,
            aws_endpoint_url: None,
        }
    }
}

/// A project environment.
#[derive(Debug, Args, Clone)]
pub(crate) struct EnvArgs {
    /// Project slug (lower-case letters, digits, hyphens).
    #[arg(long, short = 'p', env = "OWNSTAK_PROJECT")]
    pub project: String,
    /// Environment slug; must not end in an all-digit segment.
    #[arg(long, short = 'e', env = "OWNSTAK_ENV")]
    pub env: String,
}

/// `ownstak local up`.
#[derive(Debug, Args)]
pub(crate) struct LocalUpArgs {
    /// Address of the Lambda API.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub lambda_addr: SocketAddr,
    /// Address of the LambdaProxy (where deployments are served).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub proxy_addr: SocketAddr,
    /// Address of the S3-compatible asset store [default: 127.0.0.1:9002,
    /// or any free port when that one is taken].
    #[arg(long)]
    pub s3_addr: Option<SocketAddr>,
    /// Where state, code and logs are kept [default: ~/.ownstak/local].
    #[arg(long, env = "OWNSTAK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Most environments per function running at once.
    #[arg(long, default_value_t = local_defaults().max_environments)]
    pub max_environments: usize,
    /// Milliseconds an invoke waits for a free environment before it is throttled.
    #[arg(long, default_value_t = millis(local_defaults().queue_timeout))]
    pub queue_timeout_ms: u64,
    /// Worker threads of the backend's own process (its functions run in
    /// processes of their own).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// Milliseconds an invoke that finds every environment busy waits for
    /// one to come free before starting another (0: start one at once, as AWS does).
    #[arg(long, default_value_t = millis(local_defaults().warm_wait))]
    pub warm_wait_ms: u64,
    /// Seconds before an environment without invocations is stopped.
    #[arg(long, default_value_t = local_defaults().idle_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub environment_idle_timeout: u64,
    /// Seconds an open request may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Let web pages from this origin (e.g. http://localhost:5173) call the Lambda API and
    /// the asset store, with CORS answers (repeatable); requests from other pages are refused.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<ownstak_guard::AllowedOrigin>,
    /// Accept only requests signed with the key pair in <data-dir>/credentials, checking
    /// each AWS Signature V4, instead of any credentials.
    #[arg(long)]
    pub verify_signatures: bool,
}

/// `ownstak build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The app directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Build as this framework instead of detecting it.
    #[arg(long, value_enum)]
    pub framework: Option<FrameworkArg>,
    /// Command that starts a custom server (it must listen on $PORT); implies `--framework custom`.
    #[arg(long)]
    pub command: Option<String>,
}

/// The local backend's defaults, which its flags show and start from.
fn local_defaults() -> ownstak_local::LocalConfig {
    ownstak_local::LocalConfig::new(PathBuf::new())
}

/// A duration as whole milliseconds, for flags in milliseconds.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The frameworks `ownstak build` knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FrameworkArg {
    /// A Next.js app (14 or newer).
    Nextjs,
    /// A folder of static files with index.html.
    Static,
    /// A server started by `--command`.
    Custom,
}

/// `ownstak deploy`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
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
    /// A dotenv-style file of variables (`KEY=VALUE` lines) for this deployment; they
    /// win over ownstak.toml's [env], and `ownstak env set` wins over them.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Function memory in MB [default: ownstak.toml, else 1024].
    #[arg(long)]
    pub memory: Option<u32>,
    /// Function timeout in seconds [default: ownstak.toml, else 30].
    #[arg(long)]
    pub timeout: Option<u32>,
    /// The ownstak-runtime executable to bundle [default: next to ownstak].
    #[arg(long, env = "OWNSTAK_RUNTIME_BINARY")]
    pub runtime_binary: Option<PathBuf>,
    /// Make a new deployment from deployment N's bundle (its code, runtime,
    /// memory, timeout and static assets) with the current variables and
    /// secrets, instead of packaging DIR.
    #[arg(long, value_name = "N", conflicts_with_all = ["command", "memory", "timeout"])]
    pub redeploy: Option<u32>,
}

/// `ownstak promote`.
#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The deployment number to make live.
    pub deployment: u32,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak deployments`.
#[derive(Debug, Args)]
pub(crate) struct DeploymentsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak env …`.
#[derive(Debug, Subcommand)]
pub(crate) enum VarsCommand {
    /// Set variables, or secrets with --secret (`KEY=VALUE`, repeatable); the next deploy takes them.
    Set(VarsSetArgs),
    /// Remove variables or secrets (every version); the next deploy goes without them.
    Unset(VarsUnsetArgs),
    /// List the variables and secrets (masked) the next deploy takes.
    List(VarsListArgs),
}

/// `ownstak env set`.
#[derive(Debug, Args)]
pub(crate) struct VarsSetArgs {
    /// `KEY=VALUE` pairs.
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
    /// Keep the values as secrets: SSM SecureString parameters that the
    /// function fetches at start, never in the bundle or its configuration,
    /// shown masked by `env list`.
    #[arg(long)]
    pub secret: bool,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak env unset`.
#[derive(Debug, Args)]
pub(crate) struct VarsUnsetArgs {
    /// Variable names.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak env list`.
#[derive(Debug, Args)]
pub(crate) struct VarsListArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Only the lines of this deployment.
    #[arg(long, value_name = "N")]
    pub deployment: Option<u32>,
    /// How far back to start, e.g. `90s`, `10m`, `2h` or `1d`.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::duration::parse)]
    pub since: std::time::Duration,
    /// Keep printing new lines until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the lines of this request: the proxy's X-Request-ID (sent back on every
    /// answer) or Lambda's request id.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// The proxy's access log instead: a line per request routed to the environment
    /// (local backends: the data directory's `logs/proxy-access.log`; AWS: the proxy tasks' log group).
    #[arg(long)]
    pub proxy: bool,
}

impl Command {
    /// Worker threads of the async runtime. The local backend's process
    /// mostly relays I/O and shares the machine with its functions' processes,
    /// so one thread serves it with the least overhead. The standalone proxy
    /// (on ECS) starts a thread per shard itself (one per core unless told
    /// otherwise); its first shard runs on this runtime's one worker.
    pub(crate) fn worker_threads(&self) -> Option<usize> {
        match self {
            Command::Local(LocalCommand::Up(a)) => Some(usize::from(a.threads)),
            Command::Proxy(_) => Some(1),
            Command::Start(_) => Some(1),
            _ => None,
        }
    }

    /// Where the proxy's access log is written as JSON lines besides
    /// stderr: `<data-dir>/logs/proxy-access.log` for `local up`, which
    /// `ownstak logs --proxy` reads.
    pub(crate) fn access_log(&self) -> Option<PathBuf> {
        let Command::Local(LocalCommand::Up(a)) = self else { return None };
        let dir = a.data_dir.clone().or_else(|| crate::commands::default_data_dir().ok())?;
        Some(dir.join("logs").join(crate::logging::ACCESS_LOG_FILE))
    }

    /// The log level when none is given: servers log their work, one-shot
    /// commands only problems.
    pub(crate) fn default_log_level(&self) -> &'static str {
        match self {
            Command::Local(_) | Command::Proxy(_) | Command::Start(_) => "info",
            _ => "warn",
        }
    }
}

/// `ownstak backend …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BackendCommand {
    /// Create or update the backend's stack, certificate and DNS records (idempotent).
    Create(BackendCreateArgs),
    /// Show the changes `create` would make to the stack.
    Plan(BackendCreateArgs),
    /// Show the stack's status, outputs and resources.
    Status(BackendRefArgs),
    /// Print the CloudFormation template for review.
    Template(BackendTemplateArgs),
    /// Delete the backend; refuses while functions exist unless --force.
    Destroy(BackendDestroyArgs),
}

/// The AWS account of a backend.
#[derive(Debug, Args, Clone)]
pub(crate) struct AwsAccountArgs {
    /// Named AWS profile of the backend account.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region of the backend.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint for every AWS service (tests against moto).
    #[arg(long, env = "OWNSTAK_AWS_ENDPOINT", hide = true)]
    pub endpoint_url: Option<String>,
}

/// Which backend.
#[derive(Debug, Args, Clone)]
pub(crate) struct BackendRefArgs {
    /// The backend slug.
    pub name: String,
    /// Organization slug.
    #[arg(long, env = "OWNSTAK_ORG")]
    pub org: String,
    /// Prefix of the backend's functions, when it was created with one (it
    /// also starts the stack name `<prefix>-backend-<org>-<name>`). Without
    /// it the stack is `ownstak-backend-<org>-<name>`, and a new backend
    /// gets its own prefix `ownstak_<org>_<name>`.
    #[arg(long, env = "OWNSTAK_FUNCTION_PREFIX")]
    pub function_prefix: Option<String>,
    #[command(flatten)]
    pub aws: AwsAccountArgs,
}

/// What a backend is made of.
#[derive(Debug, Args, Clone)]
pub(crate) struct BackendSpecArgs {
    /// Root domain of host names.
    #[arg(long, env = "OWNSTAK_ROOT_DOMAIN", default_value = "ownstak.link")]
    pub root_domain: String,
    /// Address block of a new VPC (/16 to /20).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub vpc_cidr: String,
    /// Use this existing VPC (needs --public-subnets, --private-subnets and --vpc-cidr set to its block).
    #[arg(long, requires_all = ["public_subnets", "private_subnets"])]
    pub vpc_id: Option<String>,
    /// Public subnets of --vpc-id for the load balancer (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "vpc_id")]
    pub public_subnets: Vec<String>,
    /// Private subnets of --vpc-id for the proxy and functions (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "vpc_id")]
    pub private_subnets: Vec<String>,
    /// The LambdaProxy container image.
    #[arg(long, env = "OWNSTAK_PROXY_IMAGE", default_value = concat!("public.ecr.aws/ownstak/ownstak:", env!("CARGO_PKG_VERSION")))]
    pub proxy_image: String,
}

/// `ownstak backend create` and `plan`.
#[derive(Debug, Args)]
pub(crate) struct BackendCreateArgs {
    #[command(flatten)]
    pub backend: BackendRefArgs,
    #[command(flatten)]
    pub spec: BackendSpecArgs,
    /// Route53 hosted zone of the root domain (platform side).
    #[arg(long, env = "OWNSTAK_ZONE_ID")]
    pub zone_id: Option<String>,
    /// Named AWS profile with access to the zone.
    #[arg(long)]
    pub dns_profile: Option<String>,
}

/// `ownstak backend template`.
#[derive(Debug, Args)]
pub(crate) struct BackendTemplateArgs {
    /// The backend slug.
    pub name: String,
    /// Organization slug.
    #[arg(long, env = "OWNSTAK_ORG")]
    pub org: String,
    /// Prefix of the backend's functions (default: its own, `ownstak_<org>_<name>`).
    #[arg(long, env = "OWNSTAK_FUNCTION_PREFIX")]
    pub function_prefix: Option<String>,
    #[command(flatten)]
    pub spec: BackendSpecArgs,
}

/// `ownstak backend destroy`.
#[derive(Debug, Args)]
pub(crate) struct BackendDestroyArgs {
    #[command(flatten)]
    pub target: BackendRefArgs,
    /// Route53 hosted zone whose records of this backend are removed.
    #[arg(long, env = "OWNSTAK_ZONE_ID")]
    pub zone_id: Option<String>,
    /// Named AWS profile with access to the zone.
    #[arg(long)]
    pub dns_profile: Option<String>,
    /// Delete the backend's functions too instead of refusing.
    #[arg(long)]
    pub force: bool,
}

/// `ownstak cache …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Remove an environment's answers from every proxy's cache (within a second).
    Purge(CachePurgeArgs),
}

/// `ownstak cache purge`.
#[derive(Debug, Args)]
pub(crate) struct CachePurgeArgs {
    /// A URL path to purge (repeatable): without a query it purges the path with any query,
    /// with one (`/search?q=a`) exactly that.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Purge every path starting with this (repeatable), e.g. `/blog/`.
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,
    /// Purge the answers whose `Cache-Tag` (or Next.js `x-next-cache-tags`) names this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Purge every cached answer of the environment.
    #[arg(long, conflicts_with_all = ["paths", "prefixes", "tags"])]
    pub all: bool,
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak domains …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DomainsCommand {
    /// Map a domain to an environment's live deployment (on AWS: request its
    /// certificate, and once issued put it on the load balancer).
    Add(DomainsAddArgs),
    /// List the backend's custom domains (on AWS, finishing those whose certificate was issued since).
    List(DomainsListArgs),
    /// Unmap a domain (on AWS: take its certificate off the load balancer and delete it).
    Remove(DomainsRemoveArgs),
}

/// `ownstak domains add`.
#[derive(Debug, Args)]
pub(crate) struct DomainsAddArgs {
    /// The domain, e.g. `shop.example.com` (locally `shop.localhost`).
    pub domain: String,
    #[command(flatten)]
    pub env: EnvArgs,
    /// Route 53 hosted zone to write the certificate's validation record to
    /// (AWS; without it the record is printed for you to create).
    #[arg(long, value_name = "ZONE_ID")]
    pub zone_id: Option<String>,
    /// Wait until ACM issues the certificate, then finish (AWS).
    #[arg(long)]
    pub wait: bool,
    /// Longest wait with --wait.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = crate::duration::parse)]
    pub wait_timeout: std::time::Duration,
    /// On a local backend, accept a name outside `.localhost` (point it at 127.0.0.1 yourself).
    #[arg(long)]
    pub allow_any: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak domains list`.
#[derive(Debug, Args)]
pub(crate) struct DomainsListArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ownstak domains remove`.
#[derive(Debug, Args)]
pub(crate) struct DomainsRemoveArgs {
    /// The domain.
    pub domain: String,
    #[command(flatten)]
    pub backend: BackendArgs,
}
