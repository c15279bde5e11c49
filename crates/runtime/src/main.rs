//! `ownstak-runtime`: the bootstrap of every ownstak Lambda function.

use std::process::ExitCode;

use anyhow::Context as _;
use ownstak_runtime::error_chain as chain;
use ownstak_runtime::{Config, LogConfig, Shutdown, init_logging, run};

/// Every invocation allocates short-lived buffers (event, request, response
/// head); mimalloc serves that pattern faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    init_logging(&LogConfig::from_env());
    match try_main() {
        Ok(Shutdown::Signal) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{}", chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<Shutdown> {
    let config = Config::from_env()?;
    // One thread: invocations are sequential, and no worker threads means a
    // faster cold start. It also keeps the app's parent-death signal tied to
    // the main thread, which lives as long as the process.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    Ok(runtime.block_on(run(config))?)
}
