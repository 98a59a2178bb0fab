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
