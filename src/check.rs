//! `pman check [--strict]`: validate the config without a daemon.

use crate::config;
use crate::{fail, say};
use std::path::Path;

/// Prints warnings and notes, then `config OK: N programs` or every error.
/// Returns the exit code: 0, or 2 on errors (with `strict`, on warnings too).
pub fn run(path: &Path, strict: bool) -> i32 {
    let report = config::load(path);
    for warning in &report.warnings {
        fail(&["warning: ", warning]);
    }
    for note in &report.notes {
        fail(&["note: ", note]);
    }
    match report.result {
        Ok(config) => {
            if strict && !report.warnings.is_empty() {
                let count = report.warnings.len().to_string();
                fail(&["--strict: ", &count, " warning(s) count as errors"]);
                return 2;
            }
            say(1, &["config OK: ", &config.programs.len().to_string(), " programs"]);
            0
        }
        Err(errors) => {
            for error in &errors {
                fail(&[error]);
            }
            2
        }
    }
}
