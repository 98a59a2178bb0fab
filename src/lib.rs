//! pman: a minimal process supervisor for tiny embedded Linux systems.
//! The binary is `src/main.rs`; the modules live here so that fuzz targets
//! and benchmarks can reach the pure parts (config, protocol).
//! `unsafe` lives in `sys` alone.

#![deny(unsafe_code)]

pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod json;
pub mod logfile;
pub mod number;
pub mod path;
pub mod protocol;
pub mod signals;
pub mod socket;
mod sort;
#[allow(unsafe_code)]
mod sys;
pub mod text;
mod tz;
mod users;

use crate::text::Part::Str;
use cli::Command;
pub use sys::{start, Allocator};

/// Runs pman's arguments (after argv[0]) as the OS gives them: one that
/// is not UTF-8 is a usage error, not a panic.
pub fn main_args(args: &[&[u8]]) -> i32 {
    let mut words = Vec::with_capacity(args.len());
    for &arg in args {
        match sys::str_of(arg) {
            Some(word) => words.push(word.to_string()),
            None => {
                return usage_error(&crate::text::concat(
                    "argument is not UTF-8: {}",
                    &[Str(&crate::text::lossy(arg))],
                ))
            }
        }
    }
    main_with(&words)
}

/// Runs the command line `args` (without argv[0]); returns the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let invocation = match cli::parse(args) {
        Ok(invocation) => invocation,
        Err(message) => return usage_error(&message),
    };
    match invocation.command {
        Command::Help(command) => {
            let _ = sys::write_all(1, cli::help(command).as_bytes());
            0
        }
        Command::Version => {
            say(1, &["pman ", env!("CARGO_PKG_VERSION")]);
            0
        }
        Command::Check { strict } => check::run(&invocation.config, strict),
        Command::Daemon { foreground } => daemon::run(&invocation.config, foreground),
        command => client::run(&invocation.config, command),
    }
}

/// Writes `parts` and a newline to `fd` (1 or 2) with one write: a line
/// is never split, and no formatting machinery is pulled in for it.
pub(crate) fn say(fd: std::os::fd::RawFd, parts: &[&str]) {
    write_line(fd, "", parts);
}

/// `pman: ` + `parts` + newline on stderr: how a client's messages read.
pub(crate) fn fail(parts: &[&str]) {
    write_line(2, "pman: ", parts);
}

/// A usage error: `pman: ` + `message`, then how to get help; exit code 2.
pub(crate) fn usage_error(message: &str) -> i32 {
    fail(&[message, "\n", cli::TRY_HELP]);
    2
}

fn write_line(fd: std::os::fd::RawFd, prefix: &str, parts: &[&str]) {
    let mut line = String::from(prefix);
    parts.iter().for_each(|part| line.push_str(part));
    line.push('\n');
    let _ = sys::write_all(fd, line.as_bytes());
}
