//! pman: a minimal process supervisor for tiny embedded Linux systems.
//! The binary is `src/main.rs`; the modules live here so that fuzz targets
//! and benchmarks can reach the pure parts (config, protocol).

pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod logfile;
pub mod protocol;
pub mod signals;
mod sys;
mod tz;
mod users;

use cli::Command;
pub use sys::Allocator;

/// Runs the command line `args` (without argv[0]); returns the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let invocation = match cli::parse(args) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("pman: {message}\n{}", cli::TRY_HELP);
            return 2;
        }
    };
    match invocation.command {
        Command::Help(command) => {
            print!("{}", cli::help(command));
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
