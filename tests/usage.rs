//! What a person at the prompt sees: usage errors that say what is wrong
//! in one line (exit 2, no daemon contacted), each command's own help,
//! supervisorctl's words, and `pid`/`signal` on a program with no process.

#[macro_use]
mod common;

use common::*;

/// Fails if anything connected to the stand-in daemon.
fn assert_not_contacted(listener: &std::os::unix::net::UnixListener, what: &str) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(_) => panic!("{what} connected to the daemon socket despite a usage error"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn usage_errors_are_one_line_naming_what_is_wrong_then_a_hint() {
    let env = Env::new();
    env.write_config("");
    let listener = fake_daemon(&env.socket);
    let cases: &[(&[&str], &str)] = &[
        (&["stauts"], "unknown command 'stauts' (did you mean 'status'?)"),
        (&["strat", "web"], "unknown command 'strat' (did you mean 'start'?)"),
        (&["frobnicate"], "unknown command 'frobnicate'"),
        (&["log"], "log: missing program name"),
        // An alias is named as typed.
        (&["tail"], "tail: missing program name"),
        (&["log", "web", "-n", "abc"], "log -n: not a number: abc"),
        (&["log", "web", "-n"], "log -n: missing value"),
        (&["signal"], "signal: missing signal"),
        (&["signal", "HUP"], "signal: missing program name"),
        (&["signal", "BOGUS", "web"], "signal: bad signal: BOGUS"),
        (&["signal", "99", "web"], "signal: bad signal: 99"),
        (&["start"], "start: missing program name"),
        (&["kill", "web"], "kill: unexpected argument 'web'"),
        (&["shutdown", "now"], "shutdown: unexpected argument 'now'"),
        (&["update", "now"], "update: unexpected argument 'now'"),
        (&["pid", "a", "b"], "pid: unexpected argument 'b'"),
        (&["status", "--bogus"], "status: unknown option '--bogus'"),
        (&["daemon", "-x"], "daemon: unknown option '-x'"),
        (&["--bogus"], "unknown option '--bogus'"),
        (&["help", "stauts"], "unknown command 'stauts' (did you mean 'status'?)"),
        (&["--version", "extra"], "--version: unexpected argument 'extra'"),
    ];
    for (args, want) in cases {
        let out = env.pman(args);
        assert_eq!(out.code, 2, "pman {args:?}: {out}");
        assert_eq!(out.stderr, format!("pman: {want}\ntry 'pman --help'\n"), "pman {args:?}: {out}");
        assert_eq!(out.stdout, "", "pman {args:?}: {out}");
        for generic in ["Unrecognized", "Required", "Error parsing", "No value"] {
            assert!(!out.stderr.contains(generic), "pman {args:?}: argh's words leaked: {out}");
        }
        assert_not_contacted(&listener, &format!("pman {args:?}"));
    }
}

#[test]
fn a_usage_error_is_reported_before_the_config_is_read() {
    let missing = std::env::temp_dir().join(format!("pman-t-{}-missing.conf", std::process::id()));
    let missing = missing.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (&["kill", "web"], "kill: unexpected argument 'web'"),
        (&["rpcd"], "rpcd: usage: pman rpcd list | pman rpcd call METHOD"),
        (&["rpcd", "lst"], "rpcd: usage: pman rpcd list | pman rpcd call METHOD"),
    ];
    for (args, want) in cases {
        let mut all = vec!["-c", missing];
        all.extend_from_slice(args);
        let out = pman_args(&all);
        assert_eq!(out.code, 2, "pman {all:?}: {out}");
        assert_eq!(out.stderr, format!("pman: {want}\ntry 'pman --help'\n"), "pman {all:?}: {out}");
    }
}

#[test]
fn each_command_has_its_own_help() {
    let ways: &[&[&str]] = &[
        &["help", "log"],
        &["log", "--help"],
        &["tail", "-h"],
        &["log", "web", "-f", "--help"],
        &["--help", "log"],
    ];
    for args in ways {
        let out = pman_args(args);
        assert_eq!(out.code, 0, "pman {args:?}: {out}");
        assert!(out.stdout.starts_with("usage: pman log NAME"), "pman {args:?}: {out}");
        assert!(out.stdout.contains("-n"), "pman {args:?}: {out}");
        assert!(!out.stdout.contains("restart"), "pman {args:?} printed the whole usage: {out}");
        assert_eq!(out.stderr, "", "pman {args:?}: {out}");
    }
    for command in
        ["daemon", "status", "start", "stop", "restart", "signal", "pid", "reload", "kill", "check"]
    {
        let out = pman_args(&["help", command]);
        assert_eq!(out.code, 0, "help {command}: {out}");
        assert!(out.stdout.starts_with(&format!("usage: pman {command}")), "help {command}: {out}");
        let out = pman_args(&[command, "--help"]);
        assert!(out.stdout.starts_with(&format!("usage: pman {command}")), "{command} --help: {out}");
    }
    for args in [&["--help"][..], &["-h"], &["help"], &["help", "--help"], &["help", "-h"]] {
        let out = pman_args(args);
        assert_eq!(out.code, 0, "pman {args:?}: {out}");
        assert!(out.stdout.starts_with("usage: pman [-c CONFIG] [COMMAND]"), "pman {args:?}: {out}");
    }
    for args in [&["--version"][..], &["-V"]] {
        let out = pman_args(args);
        assert_eq!(out.code, 0, "pman {args:?}: {out}");
        assert_eq!(out.stdout, format!("pman {}\n", env!("CARGO_PKG_VERSION")), "pman {args:?}: {out}");
    }
}

#[test]
fn supervisorctl_words_work_as_aliases() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sh -c 'echo hello; exec /bin/sleep 300'", "startsecs=0"));
    let mut daemon = Daemon::start(&env);
    env.running_pid("a");
    wait_until(secs(5.0), "the program's line", || env.read("a.out").contains("hello"));
    let out = env.pman(&["tail", "a"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "{out}");
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sh -c 'echo hello; exec /bin/sleep 300'", "startsecs=0"),
        prog("b", "/bin/sleep 300", "startsecs=0")
    ));
    let out = env.pman(&["update"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("[b] added"), "{out}");
    env.running_pid("b");
    let out = env.pman(&["shutdown"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("pman: stopped (pid "), "{out}");
    assert!(daemon.wait_exit(secs(10.0)).is_some(), "the daemon is still there after shutdown");
}

#[test]
fn a_program_named_help_can_be_named() {
    let env = Env::new();
    env.write_config(&prog("help", "/bin/sleep 300", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("help");
    let out = env.pman(&["status", "help"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with(&format!("[help] RUNNING pid: {pid} ")), "{out}");
    let out = env.pman(&["pid", "help"]);
    assert_eq!(out.stdout, format!("{pid}\n"), "{out}");
}

#[test]
fn pid_and_signal_on_a_program_without_a_process_say_so_on_stderr() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("idle", "/bin/sleep 300", "autostart=false"),
        prog("done", "/bin/true", "startsecs=0\nautorestart=false")
    ));
    let _daemon = Daemon::start(&env);
    env.wait_state("done", "EXITED", secs(5.0));
    let cases: &[(&[&str], &str)] = &[
        (&["pid", "idle"], "pman: idle is not running (STOPPED)\n"),
        (&["pid", "done"], "pman: done is not running (EXITED)\n"),
        (&["signal", "HUP", "idle"], "pman: idle is not running (STOPPED)\n"),
        (&["signal", "USR1", "done"], "pman: done is not running (EXITED)\n"),
    ];
    for (args, want) in cases {
        let out = env.pman(args);
        assert_eq!(out.code, 1, "pman {args:?}: {out}");
        assert_eq!(out.stdout, "", "pman {args:?}: {out}");
        assert_eq!(out.stderr, *want, "pman {args:?}: {out}");
    }
}

#[test]
fn signal_to_a_mix_prints_the_running_ones_and_names_the_others() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("up", "/bin/sh -c 'trap \"echo got-hup\" HUP; while :; do sleep 0.05; done'", "startsecs=0"),
        prog("idle", "/bin/sleep 300", "autostart=false")
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("up");
    let out = env.pman(&["signal", "HUP", "up", "idle"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(line_matches(out.stdout.trim_end(), "[up] RUNNING pid: {N} uptime: {T}"), "{out}");
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    assert_eq!(out.stderr, "pman: idle is not running (STOPPED)\n", "{out}");
    wait_until(secs(5.0), "the trap's line", || env.read("up.out").contains("got-hup"));
    let out = env.pman(&["pid", "all"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stdout, format!("{pid}\n"), "{out}");
    assert_eq!(out.stderr, "pman: idle is not running (STOPPED)\n", "{out}");
}

/// An argument that is not UTF-8 (a file name from a script) is a usage
/// error naming it, never a panic.
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = pman_command();
    cmd.arg("-c").arg(std::ffi::OsStr::from_bytes(b"bad\xff.conf")).arg("check");
    let out = run_bounded(cmd, secs(10.0));
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "pman: argument is not UTF-8: bad\u{fffd}.conf\ntry 'pman --help'\n", "{out}");
}
