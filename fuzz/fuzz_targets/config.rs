//! Whole config files through `pman::config::parse_text` (includes are not
//! followed, nothing on disk is looked at). Beyond "never panics, never
//! hangs" (run with `-timeout`), every error and warning must point at the
//! file, as `FILE:LINE: text` with a real line or `FILE: text`, on one line,
//! and an accepted config must hold what the daemon relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;


const PATH: &str = "/fuzz/pman.conf";

fuzz_target!(|data: &[u8]| {
    // The loader reads files with `from_utf8_lossy`, so any bytes are a file.
    let text = String::from_utf8_lossy(data);
    let report = pman::config::parse_text(&text, PATH.as_bytes());
    let lines = text.lines().count();
    for message in report.warnings.iter().chain(report.result.as_ref().err().into_iter().flatten()) {
        check_located(message, lines);
    }
    if let Ok(config) = &report.result {
        let mut names = HashSet::new();
        for program in &config.programs {
            assert!(!program.argv.is_empty(), "{}: empty argv", program.name);
            assert!(names.insert(program.name.as_str()), "{}: name used twice", program.name);
        }
    }
});

/// `FILE:LINE: text` (1 <= LINE <= lines) or `FILE: text`, one line.
fn check_located(message: &str, lines: usize) {
    assert!(!message.contains('\n'), "message spans lines: {message:?}");
    let rest = message.strip_prefix(PATH).unwrap_or_else(|| panic!("no FILE prefix: {message:?}"));
    if rest.starts_with(": ") {
        return;
    }
    let rest = rest.strip_prefix(':').unwrap_or_else(|| panic!("no ':' after FILE: {message:?}"));
    let (line, _) = rest.split_once(": ").unwrap_or_else(|| panic!("no LINE: {message:?}"));
    let line: usize = line.parse().unwrap_or_else(|_| panic!("bad LINE: {message:?}"));
    assert!((1..=lines).contains(&line), "line {line} of {lines}: {message:?}");
}
