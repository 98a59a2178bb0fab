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
pub mod protocol;
pub mod signals;
pub mod socket;
#[allow(unsafe_code)]
mod sys;
pub mod text;

use cli::Command;

/// Runs the command line `args` (without argv[0]); returns the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let invocation = match cli::parse(args) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprint!("pman: {message}\n{}", cli::USAGE);
            return 2;
        }
    };
    match invocation.command {
        Command::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Command::Version => {
            println!("pman {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Check { strict } => check::run(&invocation.config, strict),
        Command::Daemon { foreground } => daemon::run(&invocation.config, foreground),
        command => client::run(&invocation.config, command),
    }
}
