//! The daemon's own log file: capped and rotated when it is a regular
//! file, never rotated when it is not (a device such as /dev/null).

#[macro_use]
mod common;

use common::*;

/// Logs a few hundred bytes: each SIGHUP reload writes three lines.
fn log_some(env: &Env, daemon: &Daemon, times: usize) {
    for _ in 0..times {
        daemon.signal(libc::SIGHUP);
        assert_eq!(env.pman(&["pid"]).code, 0);
    }
}

#[test]
fn a_log_that_is_not_a_regular_file_is_never_rotated() {
    let env = Env::new();
    // A link to /dev/null: rotating would rename the link and make a file.
    std::os::unix::fs::symlink("/dev/null", env.path("pman.log")).unwrap();
    let conf = "[pman]\nlogfile=$DIR/pman.log\nlogfile_maxbytes=1KB\nlogfile_backups=2\n".to_string()
        + &prog("a", "/bin/sleep 300", "");
    env.write_config(&conf);
    let daemon = Daemon::start(&env);
    log_some(&env, &daemon, 20);
    let meta = std::fs::symlink_metadata(env.path("pman.log")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert!(!env.path("pman.log.1").exists(), "a device was rotated");
}

#[test]
fn a_regular_log_file_rotates_at_its_cap() {
    let env = Env::new();
    let conf = "[pman]\nlogfile=$DIR/pman.log\nlogfile_maxbytes=1KB\nlogfile_backups=2\n".to_string()
        + &prog("a", "/bin/sleep 300", "");
    env.write_config(&conf);
    let daemon = Daemon::start(&env);
    log_some(&env, &daemon, 20);
    wait_until(secs(5.0), "a rotated daemon log", || env.path("pman.log.1").exists());
    assert!(std::fs::metadata(env.path("pman.log")).unwrap().len() <= 1024);
}

/// Lines lost while the daemon could log nowhere (no syslog, no file) are
/// counted in a line of the log's own shape once a file takes them.
#[test]
fn lines_lost_before_a_log_file_are_counted_in_a_log_line() {
    let env = Env::new();
    let program = prog("a", "/bin/sleep 300", "");
    env.write_config(&format!("[pman]\nsyslog_socket=$DIR/no-syslog\n{program}"));
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    env.write_config(&format!("[pman]\nsyslog_socket=$DIR/no-syslog\nlogfile=$DIR/pman.log\n{program}"));
    assert_eq!(env.pman(&["reload"]).code, 0);
    assert_eq!(env.pman(&["restart", "a"]).code, 0);
    let log = env.read("pman.log");
    let note = log.lines().find(|l| l.contains(" log lines dropped")).unwrap_or_else(|| panic!("{log}"));
    // `2026-12-04 01:44:54Z WARN 5 log lines dropped` (local time or UTC).
    let words: Vec<&str> = note.splitn(3, ' ').collect();
    assert!(words.len() == 3 && line_matches(words[0], "{N}-{N}-{N}"), "no date: {note}");
    assert!(line_matches(words[1], "{T}{*}"), "no time: {note}");
    assert!(line_matches(words[2], "WARN {N} log lines dropped"), "{note}");
}
