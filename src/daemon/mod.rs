//! The supervisor daemon.
use std::path::Path;

pub fn run(_config: &Path, _foreground: bool) -> i32 {
    eprintln!("pman: not implemented");
    1
}
