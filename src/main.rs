//! pman: a minimal process supervisor for tiny embedded Linux systems.

mod check;
mod cli;
mod client;
mod config;
mod daemon;
mod protocol;
mod signals;
mod sys;

use cli::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let invocation = match cli::parse(&args) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprint!("pman: {message}\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let code = match invocation.command {
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
    };
    std::process::exit(code);
}
