//! `pman check [--strict]`: validate the config without a daemon.

use crate::config;
use crate::{fail, say};

/// Prints warnings and notes, then `config OK: N programs` or every error.
/// Returns the exit code: 0, or 2 on errors (with `strict`, on warnings too).
pub fn run(path: &[u8], strict: bool) -> i32 {
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
                let mut digits = [0; 20];
                let count = crate::text::decimal_str(report.warnings.len() as u64, &mut digits);
                fail(&["--strict: ", count, " warning(s) count as errors"]);
                return 2;
            }
            let mut digits = [0; 20];
            let count = crate::text::decimal_str(config.programs.len() as u64, &mut digits);
            say(1, &["config OK: ", count, " programs"]);
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
