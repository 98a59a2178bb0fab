//! The client side of every command that talks to the daemon.
use crate::cli::Command;
use std::path::Path;

pub fn run(_config: &Path, _command: Command) -> i32 {
    eprintln!("pman: not implemented");
    1
}
