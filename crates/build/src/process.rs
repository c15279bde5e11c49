//! Running a build tool and streaming its output line by line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::error::BuildError;

/// Runs `program args` in `dir` with extra `env`, handing every line it
/// prints (stdout and stderr, in arrival order) to `on_line`; fails unless
/// it exits successfully.
pub(crate) fn run_streaming(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    on_line: &mut dyn FnMut(String),
) -> Result<(), BuildError> {
    let command_line = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    tracing::info!(command = %command_line, dir = %dir.display(), "running");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn { command: command_line.clone(), source })?;

    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for pipe in pipes.into_iter().flatten() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            // Lines may not be UTF-8 (or may end in `\r` progress redraws): pass them on lossily.
            while let Ok(n) = reader.read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_owned();
                buf.clear();
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    // Ends when both readers are done, i.e. both pipes closed.
    for line in rx {
        on_line(line);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(|source| BuildError::Spawn { command: command_line.clone(), source })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::CommandFailed { command: command_line, status: status.to_string() })
    }
}
