//! QA: black-box checks of SPEC.md as a router admin, an init script and a
//! supervisorctl user meet it. Each test names the SPEC rule it holds pman to.

#[macro_use]
mod common;

use common::*;
use std::time::{Duration, Instant};

/// Lines in `$DIR/FILE` (one per start for the counting scripts).
fn count(env: &Env, file: &str) -> usize {
    env.read(file).lines().count()
}

/// SPEC, Lifecycle: "The n-th exit in a row (n >= 2: each ending a run
/// shorter than `backoff_reset`) waits what the retry after the (n-1)-th
/// failed start in a row would wait — with `backoff=1`: 1, 2, 4 … s ...
/// shown as BACKOFF with `retry in:`." A daemon that crashes every ~1.2 s
/// after coming up must slow down, not be restarted every 1.2 s forever.
#[test]
fn crash_loop_after_running_backs_off() {
    let env = Env::new();
    env.write_config(&prog(
        "c",
        "/bin/sh -c 'echo x >> $DIR/c.count; sleep 1.2; exit 3'",
        "startsecs=1\nbackoff=1\nbackoff_max=60",
    ));
    let _daemon = Daemon::start(&env);
    wait_until(secs(3.0), "first start", || count(&env, "c.count") >= 1);
    let since = Instant::now();
    let mut saw_backoff = None;
    // Starts at 0, 1.2 (first exit: at once), 3.4 (+1 s), 6.6 (+2 s), ...
    while since.elapsed() < Duration::from_millis(6000) {
        let line = env.status_line("c");
        if line.starts_with("[c] BACKOFF") && line.contains(" retry in: ") {
            saw_backoff.get_or_insert(line);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let starts = count(&env, "c.count");
    assert!(starts <= 4, "{starts} starts within ~6 s: exits from RUNNING in a row are not backed off");
    assert!(saw_backoff.is_some(), "never shown as BACKOFF with retry in: between crashes in a row");
}

/// SPEC, program keys: `backoff_reset` (default 60) is a known key, so it
/// draws no "unknown key" warning.
#[test]
fn backoff_reset_is_a_known_key() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 1", "backoff_reset=30"));
    let out = env.pman(&["check", "--strict"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stderr.contains("backoff_reset"), "{out}");
}

/// SPEC, Config: "`[program:NAME]` (NAME: ASCII letters, digits, `-`, `_`,
/// `.`; at most 64 bytes)". A 65-byte name is an error naming the file and
/// line (`check` exits 2); 64 bytes is fine.
#[test]
fn a_program_name_longer_than_64_bytes_is_an_error() {
    let env = Env::new();
    let ok = "n".repeat(64);
    env.write_config(&prog(&ok, "/bin/sleep 1", ""));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "a 64-byte name is allowed: {out}");

    let long = "n".repeat(65);
    env.write_config(&prog(&long, "/bin/sleep 1", ""));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "a 65-byte program name was accepted: {out}");
    let conf = env.conf.display().to_string();
    assert!(out.stderr.contains(&format!("{conf}:3")), "error does not name FILE:LINE: {out}");
}

/// Same limit for the names `numprocs` makes from `process_name`.
#[test]
fn a_process_name_longer_than_64_bytes_is_an_error() {
    let env = Env::new();
    let pattern = format!("{}_%(process_num)d", "p".repeat(63));
    env.write_config(&prog("w", "/bin/sleep 1", &format!("numprocs=2\nprocess_name={pattern}")));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "65-byte process names were accepted: {out}");
}
