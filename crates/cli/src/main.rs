//! `ownstak`: build, deploy and serve web apps on Lambda, locally or in
//! your own AWS account.

mod cli;
mod commands;
mod duration;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Allocation is a visible share of a request's CPU in the proxy and the
/// local service (many small, short-lived buffers); mimalloc serves that
/// pattern faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.global, cli.command.default_log_level(), cli.command.access_log());
    let json = cli.global.json;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.command.worker_threads() {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command, json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output::error(&err, json);
            ExitCode::FAILURE
        }
    }
}
