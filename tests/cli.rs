//! The command line as a script sees it: --version, --help, usage errors
//! (exit 2, no daemon contacted), where `-c` may stand, `$PMAN_CONFIG`, and
//! what a client does when no daemon (or a mute one) is there.

#[macro_use]
mod common;

use common::json::Json;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn version_prints_the_crate_version() {
    let out = pman_args(&["--version"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out}");
    assert!(out.stdout.starts_with("pman"), "{out}");
}

#[test]
fn help_exits_zero_and_lists_the_commands() {
    for args in [&["--help"][..], &["-c", "/nonexistent.conf", "--help"], &["-h"]] {
        let out = pman_args(args);
        assert_eq!(out.code, 0, "{args:?}: {out}");
        for command in
            ["daemon", "status", "start", "stop", "restart", "signal", "pid", "reload", "kill", "check"]
        {
            assert!(out.stdout.contains(command), "{args:?}: help does not mention {command}: {out}");
        }
    }
}

#[test]
fn usage_errors_exit_2_and_contact_no_daemon() {
    let env = Env::new();
    env.write_config("");
    let listener = fake_daemon(&env.socket);
    let cases: &[&[&str]] = &[
        &["kill", "web"],
        &["shutdown", "now"],
        &["frobnicate"],
        &["start"],
        &["stop"],
        &["restart"],
        &["signal", "HUP"],
        &["signal"],
        &["status", "--bogus"],
        &["pid", "a", "b"],
        &["reload", "now"],
        &["log"],
        &["log", "web", "-n", "many"],
        &["check", "extra"],
        &["daemon", "--bogus"],
        &["status", "-c"],
    ];
    for args in cases {
        let out = env.pman(args);
        assert_eq!(out.code, 2, "pman {args:?}: {out}");
        assert!(out.stderr.starts_with("pman: "), "pman {args:?}: error not `pman: message`: {out}");
        assert!(out.stderr.ends_with("try 'pman --help'\n"), "pman {args:?}: no help hint on stderr: {out}");
        assert_eq!(out.stdout, "", "pman {args:?}: {out}");
        match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) => panic!("pman {args:?} connected to the daemon socket despite a usage error"),
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn config_option_before_or_after_the_command_and_from_env() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    let expect = format!("[a] RUNNING pid: {pid} uptime: ");
    let conf = env.conf.to_str().expect("utf-8 path");

    let runs: Vec<(&str, Out)> = vec![
        ("-c CONF status", pman_args(&["-c", conf, "status"])),
        ("status -c CONF", pman_args(&["status", "-c", conf])),
        ("--config CONF status", pman_args(&["--config", conf, "status"])),
        (
            "-c /nonexistent status -c CONF (last wins)",
            pman_args(&["-c", "/nonexistent.conf", "status", "-c", conf]),
        ),
        ("PMAN_CONFIG=CONF status", {
            let mut cmd = pman_command();
            cmd.env("PMAN_CONFIG", conf).arg("status");
            run_bounded(cmd, secs(30.0))
        }),
        ("PMAN_CONFIG=/nonexistent -c CONF status", {
            let mut cmd = pman_command();
            cmd.env("PMAN_CONFIG", "/nonexistent.conf").args(["-c", conf, "status"]);
            run_bounded(cmd, secs(30.0))
        }),
    ];
    for (what, out) in runs {
        assert_eq!(out.code, 0, "{what}: {out}");
        assert!(out.stdout.starts_with(&expect), "{what}: {out}");
    }
}

#[test]
fn unreachable_daemon_exits_1() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", ""));
    let cases: &[&[&str]] = &[
        &["status"],
        &["status", "--json"],
        &["status", "a"],
        &["start", "a"],
        &["stop", "all"],
        &["restart", "a"],
        &["signal", "HUP", "a"],
        &["pid"],
        &["pid", "a"],
        &["reload"],
        &["kill"],
        &["shutdown"],
    ];
    for args in cases {
        let out = env.pman(args);
        assert_eq!(out.code, 1, "pman {args:?} without a daemon: {out}");
        assert!(out.stderr.starts_with("pman: "), "pman {args:?}: {out}");
        assert_eq!(out.stdout, "", "pman {args:?}: {out}");
    }
}

#[test]
fn client_gives_up_on_a_daemon_that_never_answers() {
    let env = Env::new();
    env.write_config("");
    // Accepts nothing and answers nothing: the connection sits in the backlog.
    let _listener = fake_daemon(&env.socket);
    // Commands that wait on programs wait without a limit only once the
    // daemon has accepted them: a silent daemon is given up on all the same.
    let cases: &[&[&str]] =
        &[&["status"], &["start", "a"], &["stop", "a"], &["restart", "a"], &["reload"], &["kill"]];
    let runs: Vec<_> = cases
        .iter()
        .map(|&args| {
            let mut cmd = pman_command();
            cmd.arg("-c").arg(&env.conf).args(args);
            std::thread::spawn(move || {
                let started = Instant::now();
                (args, run_bounded(cmd, secs(40.0)), started.elapsed())
            })
        })
        .collect();
    for run in runs {
        let (args, out, took) = run.join().expect("client thread");
        assert_eq!(out.code, 1, "pman {args:?}: {out}");
        assert!(out.stderr.contains("pman: daemon not responding"), "pman {args:?}: {out}");
        assert!(took >= Duration::from_secs(8), "pman {args:?} gave up after {took:?}, not 10 s");
    }
}

#[test]
fn json_reader_self_check() {
    let v =
        Json::parse(r#" [ {"a": null, "b": "x\"y\u00e9", "n": -12, "f": 1.5e3, "t": true}, [] ] "#).unwrap();
    let first = &v.as_array().unwrap()[0];
    assert!(first.null("a"));
    assert_eq!(first.string("b"), Some("x\"yé"));
    assert_eq!(first.int("n"), -12);
    for bad in ["", "[", "[1,]", "{\"a\" 1}", "\"a\nb\"", "01", "[1] x", "{'a':1}", "nul", "\"\\x\""] {
        assert!(Json::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn status_line_matcher_self_check() {
    assert!(line_matches("[a] RUNNING pid: 12 uptime: 00:00:04", "[a] RUNNING pid: {N} uptime: {T}"));
    assert!(line_matches("[a] RUNNING pid: 12 uptime: 2-03:04:05", "[a] RUNNING pid: {N} uptime: {T}"));
    assert!(!line_matches("[a] RUNNING pid: 12 uptime: 0:00:04", "[a] RUNNING pid: {N} uptime: {T}"));
    assert!(!line_matches("[a] RUNNING pid: 12 uptime: 00:00:04 x", "[a] RUNNING pid: {N} uptime: {T}"));
    assert!(line_matches("[b] BACKOFF exit: 1 retry in: 4s why", "[b] BACKOFF exit: {N} retry in: {N}s{*}"));
    assert_eq!(uptime_secs("1-00:01:02"), 86462);
    assert_eq!(field("[a] RUNNING pid: 12 uptime: 00:00:04", "pid"), Some("12"));
}
