//! Test support shared by the integration tests of every crate: finding
//! the built binaries, running `ownstak local up` and the CLI as real
//! processes, and packaging zips. Nothing here fakes a component.
//!
//! The binaries the tests run (`ownstak`, `ownstak-runtime`, the fixtures)
//! are built on first use by [`bin`], into a target directory of their own,
//! so a plain `cargo test` works on a fresh clone and never runs stale
//! binaries.

// Test support: a failed step is a failed test, and unwrap and expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod moto;

use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the binaries the tests run: `<target>/test-bins/<profile>`.
///
/// They are built by [`bin`] into a target directory of their own, so that
/// a `cargo test` of one package (whose features differ from the
/// workspace's) never rebuilds the artifacts of the test binaries, and the
/// other way round.
pub fn bin_dir() -> PathBuf {
    let (target_dir, profile) = test_target();
    target_dir.join(TEST_BINS).join(profile)
}

/// The target subdirectory of the tests' binaries.
const TEST_BINS: &str = "test-bins";

/// The target directory and profile the running test executable was built in.
fn test_target() -> (PathBuf, String) {
    // Test executables live in `<target>/<profile>/deps`.
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let profile_dir = if deps.ends_with("deps") { deps.parent().expect("profile dir") } else { deps };
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_owned();
    let target_dir = profile_dir.parent().expect("the profile directory is inside the target directory");
    (target_dir.to_path_buf(), profile)
}

/// The path of a workspace binary, built first if needed: the first call
/// in a test process runs `cargo build --workspace --bins` into
/// [`bin_dir`] (a no-op when everything is fresh), so the tests never run
/// stale binaries and a plain `cargo test` works on a fresh clone.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_workspace_bins);
    let p = bin_dir().join(name);
    assert!(p.is_file(), "{} is missing after `cargo build --workspace --bins`", p.display());
    p
}

/// Builds the workspace's binaries for the tests.
fn build_workspace_bins() {
    let (target_dir, profile) = test_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--workspace", "--bins", "--quiet"]).current_dir(workspace_root());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.env("CARGO_TARGET_DIR", target_dir.join(TEST_BINS)).status().expect("run cargo build");
    assert!(status.success(), "`cargo build --workspace --bins` failed for the tests");
}

/// Builds a zip from `(path, contents, unix mode)` entries.
pub fn zip(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Runs the `ownstak` CLI to completion.
pub fn ownstak(args: &[&str]) -> Output {
    Command::new(bin("ownstak")).args(args).stdin(Stdio::null()).output().expect("run ownstak")
}

/// A running `ownstak` server process that printed a JSON ready line.
pub struct ServerProcess {
    child: Option<Child>,
    /// The parsed ready line.
    pub ready: serde_json::Value,
}

impl ServerProcess {
    /// Runs `ownstak ARGS` and waits for its JSON line `{"event": "ready", …}` on stdout.
    pub fn start(args: &[&std::ffi::OsStr]) -> ServerProcess {
        let mut child = Command::new(bin("ownstak"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ownstak");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        // Other JSON lines (e.g. a deploy's result) may come before the ready line.
        let ready = loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read the ready line");
            assert!(n > 0, "the process exited before it was ready");
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
            if value["event"] == "ready" {
                break value;
            }
        };
        ServerProcess { child: Some(child), ready }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// An address from the ready line (`"proxy": "http://127.0.0.1:1234"`, or `https://`).
    pub fn addr(&self, key: &str) -> SocketAddr {
        let url = self.ready[key].as_str().unwrap_or_else(|| panic!("no {key} in {}", self.ready));
        url.trim_start_matches("http://").trim_start_matches("https://").parse().expect("socket address")
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the process did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `ownstak local up` process on free ports.
pub struct Backend {
    process: ServerProcess,
    /// Where the proxy listens.
    pub proxy: SocketAddr,
    /// The Lambda API endpoint URL.
    pub lambda: String,
    /// The S3 endpoint URL of the asset store.
    pub s3: String,
    /// The data directory.
    pub data_dir: PathBuf,
}

impl Backend {
    /// Starts the backend on `data_dir` with extra flags and waits until it
    /// reports that it is ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Backend {
        let mut args: Vec<&std::ffi::OsStr> =
            ["local", "up", "--json", "--lambda-addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0", "--data-dir"]
                .iter()
                .map(std::ffi::OsStr::new)
                .collect();
        args.push(data_dir.as_os_str());
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let process = ServerProcess::start(&args);
        let proxy = process.addr("proxy");
        let lambda = process.ready["lambda"].as_str().expect("lambda url").to_owned();
        let s3 = process.ready["s3"].as_str().expect("s3 url").to_owned();
        Backend { process, proxy, lambda, s3, data_dir: data_dir.to_owned() }
    }

    /// Starts another `ownstak proxy` in front of this backend, as another
    /// ECS task would be: the same Lambda endpoint, asset store and key
    /// pair, with extra flags.
    pub fn another_proxy(&self, extra: &[&str]) -> ServerProcess {
        let argv = ["proxy", "--json", "--proxy-addr", "127.0.0.1:0", "--lambda-endpoint", &self.lambda];
        let mut args: Vec<&std::ffi::OsStr> = argv.iter().map(std::ffi::OsStr::new).collect();
        args.extend(["--assets-bucket", "ownstak-assets", "--assets-endpoint", &self.s3].map(std::ffi::OsStr::new));
        args.extend([std::ffi::OsStr::new("--data-dir"), self.data_dir.as_os_str()]);
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        ServerProcess::start(&args)
    }

    /// Runs the CLI against this backend (`--lambda-endpoint` appended, and
    /// its data directory in `OWNSTAK_DATA_DIR`, so the CLI signs with the
    /// backend's key pair as a developer's would).
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--lambda-endpoint", &self.lambda]);
        Command::new(bin("ownstak"))
            .args(&all)
            .env("OWNSTAK_DATA_DIR", &self.data_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run ownstak")
    }

    /// Deploys `dir` with `--json` and returns the parsed result; panics
    /// with the CLI's stderr on failure.
    pub fn deploy(&self, dir: &Path, project: &str, env: &str, extra: &[&str]) -> serde_json::Value {
        let dir = dir.to_str().expect("utf-8 path");
        let mut args = vec!["deploy", dir, "--project", project, "--env", env, "--json"];
        args.extend(extra);
        let out = self.cli(&args);
        assert!(out.status.success(), "deploy failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("deploy --json output")
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(self) -> std::process::ExitStatus {
        self.process.stop()
    }
}

/// Reads a field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("{field} not in /proc/{pid}/status"))
}

/// Copies a directory tree (for making variants of an example app).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.pop();
    dir.pop();
    dir
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// An official aws-sdk-lambda client for a local Lambda endpoint.
pub fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// Creates `function` with a workspace binary as its `bootstrap`, publishes
/// it and points `alias` at the version, through the Lambda API.
pub async fn deploy_binary(lambda: &aws_sdk_lambda::Client, function: &str, binary: &str, alias: &str) {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    let bootstrap = std::fs::read(bin(binary)).expect("read the bootstrap binary");
    lambda
        .create_function()
        .function_name(function)
        .runtime(Runtime::Providedal2023)
        .role("arn:aws:iam::000000000000:role/test")
        .code(FunctionCode::builder().zip_file(Blob::new(zip(&[("bootstrap", &bootstrap, 0o755)]))).build())
        .send()
        .await
        .expect("CreateFunction");
    let v = lambda.publish_version().function_name(function).send().await.expect("PublishVersion");
    lambda
        .create_alias()
        .function_name(function)
        .name(alias)
        .function_version(v.version().expect("a version"))
        .send()
        .await
        .expect("CreateAlias");
}

/// An HTTP/1.1 answer read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("a JSON body ({e}): {self:?} {}", self.text()))
    }
}

/// Sends a request exactly as written — `head` is the request line and
/// headers, one per line, without the blank line — over a fresh
/// connection, adding only `Content-Length` and `Connection: close`, as a
/// browser or an attacker's script would send it; reads the whole answer.
pub async fn raw_http(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = head.trim_end().replace('\n', "\r\n").replace("\r\r\n", "\r\n");
    let mut request = format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the answer");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no head in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let (mut out, mut rest) = (Vec::new(), body.as_slice());
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).expect("chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 4 + size..];
        }
        body = out;
    }
    RawResponse { status, headers, body }
}
