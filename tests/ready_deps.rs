//! Crashes in a row (backoff after short runs) and readiness: `ready =
//! tcp:`/`file:`, `ready_timeout`.

#[macro_use]
mod common;

use common::*;

/// A program that comes up (startsecs=1) and crashes 1.5 s after each fork:
/// the first exit restarts at once, the next ones back off 1, 2, 4 s —
/// shown as BACKOFF with `retry in:` and `retry_in` — and it never turns FATAL.
#[test]
fn crashes_in_a_row_back_off_and_never_turn_fatal() {
    let env = Env::new();
    let command = "/bin/sh -c 'echo x >> $DIR/c.count; sleep 1.5; exit 1'";
    env.write_config(&prog("c", command, "startsecs=1\nstartretries=0\nbackoff=1\nbackoff_max=60"));
    let _daemon = Daemon::start(&env);
    let mut seen = Vec::new();
    let ok = eventually(secs(40.0), || {
        let json = env.json_of("c");
        assert_ne!(json.string("state"), Some("FATAL"), "{json:?}");
        if let Some(n) = json.get("retry_in").and_then(|v| v.as_i64()) {
            if seen.last() != Some(&n) {
                seen.push(n);
            }
        }
        seen.contains(&4)
    });
    assert!(ok, "no 4 s retry after crashes in a row; retry_in seen: {seen:?}");
    let line = env.status_line("c");
    assert!(line.starts_with("[c] ") && !line.contains("FATAL"), "{line}");
    let starts = env.read("c.count").lines().count();
    assert!((4..=6).contains(&starts), "{starts} starts before the 4 s retry");
    // A manual start resets the count: the next crash restarts at once.
    let out = env.pman(&["start", "c"]);
    assert_eq!(out.code, 0, "{out}");
    let before = env.read("c.count").lines().count();
    wait_until(secs(6.0), "a restart at once after the crash", || {
        env.read("c.count").lines().count() > before
    });
}

/// A run of backoff_reset seconds or more makes the next exit the first in a row.
#[test]
fn runs_longer_than_backoff_reset_restart_at_once() {
    let env = Env::new();
    let command = "/bin/sh -c 'echo x >> $DIR/c.count; sleep 1.5; exit 1'";
    env.write_config(&prog("c", command, "startsecs=1\nbackoff=5\nbackoff_reset=1"));
    let out = env.pman(&["check"]);
    assert!(out.code == 0 && !out.stderr.contains("warning"), "{out}");
    let _daemon = Daemon::start(&env);
    wait_until(secs(20.0), "four starts", || env.read("c.count").lines().count() >= 4);
    let json = env.json_of("c");
    assert!(json.get("retry_in").is_some_and(|v| v.is_null() || v.as_i64() == Some(0)), "{json:?}");
}
