//! `pman check [--strict]`: validate the config without a daemon.

use crate::config;
use std::path::Path;

/// Prints warnings and notes, then `config OK: N programs` or every error.
/// Returns the exit code: 0, or 2 on errors (with `strict`, on warnings too).
pub fn run(path: &Path, strict: bool) -> i32 {
    let report = config::load(path);
    for warning in &report.warnings {
        eprintln!("pman: warning: {warning}");
    }
    for note in &report.notes {
        eprintln!("pman: note: {note}");
    }
    match report.result {
        Ok(config) => {
            if strict && !report.warnings.is_empty() {
                eprintln!("pman: --strict: {} warning(s) count as errors", report.warnings.len());
                return 2;
            }
            println!("config OK: {} programs", config.programs.len());
            0
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("pman: {error}");
            }
            2
        }
    }
}
