//! Boot runs what it can: a program section with errors is FATAL config
//! and every other program starts; a bad `[pman]` value keeps its default;
//! an included file that cannot be read adds nothing; a logfile that cannot
//! be opened means syslog, a pidfile that cannot be written is skipped.
//! Only a missing main file or an invalid `socket` stops `pman daemon`.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A detached daemon, ended by pid when the test ends.
struct Detached(i32);

impl Drop for Detached {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            kill(self.0, libc::SIGTERM);
            if !eventually(Duration::from_secs(5), || !pid_alive(self.0)) {
                kill(self.0, libc::SIGKILL);
            }
        }
    }
}

fn daemon_pid(env: &Env) -> i32 {
    let out = env.pman(&["pid"]);
    assert_eq!(out.code, 0, "pman pid: {out}");
    out.stdout.trim().parse().unwrap_or_else(|_| panic!("pman pid printed {out}"))
}

/// Writes an included file (mode 0644, `$DIR` replaced).
fn write_include(env: &Env, rel: &str, text: &str) -> String {
    let path = env.path(rel);
    fs::write(&path, text.replace("$DIR", &env.dir_str())).expect("write include");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod include");
    path.display().to_string()
}

/// The `pman: FILE:LINE: message` lines of `check`, without `pman: `.
fn check_errors(env: &Env) -> Vec<String> {
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "check of a config with errors: {out}");
    out.stderr
        .lines()
        .filter(|l| !l.starts_with("pman: warning:") && !l.starts_with("pman: note:"))
        .filter_map(|l| l.strip_prefix("pman: "))
        .map(str::to_string)
        .collect()
}

/// A main file with three drop-ins; the middle one has `startsecs=abc`.
fn broken_drop_in(env: &Env) -> String {
    fs::create_dir(env.path("conf.d")).expect("mkdir conf.d");
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n[include]\nfiles=conf.d/*.conf\n{}",
        prog("main", "/bin/sleep 300", "startsecs=0")
    ));
    write_include(env, "conf.d/a.conf", &prog("a", "/bin/sleep 300", "startsecs=0"));
    let bad = write_include(env, "conf.d/b.conf", &prog("bad", "/bin/sleep 300", "startsecs=abc"));
    write_include(env, "conf.d/c.conf", &prog("c", "/bin/sleep 300", "startsecs=0"));
    bad
}

#[test]
fn a_broken_drop_in_costs_only_its_own_program() {
    let env = Env::new();
    let bad_file = broken_drop_in(&env);
    // `prog` puts startsecs on line 5 of the drop-in.
    let errors = check_errors(&env);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert!(error.starts_with(&format!("{bad_file}:5: ")) && error.contains("startsecs"), "{error}");
    let fatal = format!("[bad] FATAL config: {error}");

    let daemon = Daemon::start(&env);
    let stderr = daemon.stderr();
    assert!(stderr.lines().any(|l| l == format!("pman: {error}")), "the error is not on stderr:\n{stderr}");
    assert_eq!(stderr.matches(error.as_str()).count(), 1, "the error is not on stderr once:\n{stderr}");
    let main = env.running_pid("main");
    let a = env.running_pid("a");
    let c = env.running_pid("c");
    wait_until(secs(3.0), "the error in the daemon log", || env.read("pman.log").contains(error.as_str()));

    let status = env.pman(&["status"]);
    assert_eq!(status.code, 3, "{status}");
    let names: Vec<&str> = status.stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[main]", "[a]", "[bad]", "[c]"], "config order: {status}");
    assert_eq!(status.lines()[2], fatal, "{status}");
    assert_eq!(env.status_line("bad"), fatal);
    let json = env.json_of("bad");
    assert_eq!(json.get("state").and_then(|s| s.as_str()), Some("FATAL"), "{json:?}");
    let reason = format!("config: {error}");
    assert_eq!(json.get("reason").and_then(|s| s.as_str()), Some(reason.as_str()), "{json:?}");
    assert!(json.get("pid").is_some_and(|p| p.is_null()), "{json:?}");

    // No command changes it.
    for args in [&["start", "bad"][..], &["restart", "bad"], &["start", "bad:*"]] {
        let out = env.pman(args);
        assert_eq!((out.code, out.stdout.as_str()), (1, format!("{fatal}\n").as_str()), "{args:?}: {out}");
    }
    let out = env.pman(&["stop", "bad"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, format!("{fatal}\n").as_str()), "stop: {out}");
    let out = env.pman(&["stop", "all"]);
    assert_eq!(out.code, 0, "stop all: {out}");
    assert_eq!(out.lines(), ["[main] STOPPED", "[a] STOPPED", fatal.as_str(), "[c] STOPPED"], "{out}");
    for pid in [main, a, c] {
        assert!(!pid_alive(pid), "stop all left {pid} running");
    }
    let out = env.pman(&["start", "all"]);
    assert_eq!(out.code, 1, "start all with a FATAL config program: {out}");
    assert_eq!(out.lines()[2], fatal, "{out}");
    let a = env.running_pid("a");
    env.running_pid("main");
    env.running_pid("c");
    assert_eq!(env.status_line("bad"), fatal);

    // Reload stays all or nothing.
    write_include(&env, "conf.d/c.conf", &prog("c", "/bin/sleep 301", "startsecs=0"));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 2, "reload of a still broken config: {out}");
    assert!(out.stderr.lines().any(|l| l == format!("pman: {error}")), "{out}");
    assert_eq!(env.status_line("bad"), fatal);
    let c_now = env.running_pid("c");
    assert!(!read_file(format!("/proc/{c_now}/cmdline")).contains("301"), "the refused reload changed c");

    // Fixed: the next reload applies the section (and c's change) and starts it.
    write_include(&env, "conf.d/b.conf", &prog("bad", "/bin/sleep 300", "startsecs=0"));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "reload after the fix: {out}");
    let mut lines = out.lines();
    lines.sort();
    assert_eq!(lines, ["[bad] changed", "[c] changed"], "{out}");
    env.running_pid("bad");
    assert_eq!(env.prog_pid("a"), Some(a), "reload restarted an unchanged program");
    assert_eq!(env.pman(&["status"]).code, 0);
    assert_eq!(env.pman(&["check"]).code, 0);
}

#[test]
fn a_detached_daemon_exits_0_and_prints_the_errors() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("bad", "/bin/sleep 300", "startsecs=abc"),
        prog("good", "/bin/sleep 300", "startsecs=0")
    ));
    let errors = check_errors(&env);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let out = env.pman(&["daemon"]);
    assert_eq!(out.code, 0, "daemon with a broken section: {out}");
    let _guard = Detached(daemon_pid(&env));
    assert_eq!(out.stderr, format!("pman: {}\n", errors[0]), "{out}");
    env.running_pid("good");
    assert_eq!(env.status_line("bad"), format!("[bad] FATAL config: {}", errors[0]));
    // A program that was never started is left alone by kill.
    assert_eq!(env.pman(&["kill"]).code, 0);
}

#[test]
fn numprocs_shows_each_process_or_the_section() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}",
        prog("w", "/bin/sleep 300", "numprocs=2\nprocess_name=w_%(process_num)d\nstopsignal=NOPE"),
        prog("n", "/bin/sleep 300", "numprocs=2\nprocess_name=n_%(process_num)d_%(nope)s"),
        prog("ok", "/bin/sleep 300", "startsecs=0"),
    ));
    let errors = check_errors(&env);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let _daemon = Daemon::start(&env);
    env.running_pid("ok");
    let status = env.pman(&["status"]);
    let want = [
        format!("[w_0] FATAL config: {}", errors[0]),
        format!("[w_1] FATAL config: {}", errors[0]),
        format!("[n] FATAL config: {}", errors[1]),
    ];
    assert_eq!(status.lines()[..3], want, "{status}");
    // `w` selects both processes of the section.
    let out = env.pman(&["start", "w"]);
    assert_eq!((out.code, out.lines()), (1, vec![want[0].as_str(), want[1].as_str()]), "{out}");
}

#[test]
fn only_a_missing_main_file_or_an_invalid_socket_stops_the_daemon() {
    let env = Env::new();
    // Line 3: the harness puts its `socket=` line right after `[pman]`; the last one wins.
    env.write_config(&format!("[pman]\nsocket=@\n{}", prog("a", "/bin/sleep 300", "startsecs=0")));
    let conf = env.conf.display().to_string();
    for args in [&["daemon"][..], &["daemon", "-f"]] {
        let out = env.pman(args);
        assert_eq!(out.code, 2, "pman {args:?} with an invalid socket: {out}");
        assert!(out.stderr.starts_with(&format!("pman: {conf}:3: ")), "{out}");
    }
    let missing = pman_args(&["-c", &format!("{}/missing.conf", env.dir_str()), "daemon", "-f"]);
    assert_eq!(missing.code, 2, "missing config: {missing}");
    assert!(missing.stderr.contains("missing.conf"), "{missing}");
}

#[test]
fn an_invalid_pman_value_keeps_its_default() {
    let env = Env::new();
    // The daemon's umask is the test's own: what `umask` keeps by default.
    let status = read_file("/proc/self/status");
    let own = status.lines().find_map(|l| l.strip_prefix("Umask:")).map(|u| u.trim().to_string());
    let Some(own) = own else { skip!("no Umask in /proc/self/status") };
    env.write_config(&format!(
        "[pman]\numask=999\nlogfile_maxbytes=lots\n{}",
        prog("u", "/bin/sh -c 'umask > $DIR/umask.out; exec sleep 300'", "startsecs=0")
    ));
    let errors = check_errors(&env);
    let conf = env.conf.display().to_string();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with(&format!("{conf}:3: ")) && errors[0].contains("umask"), "{errors:?}");
    assert!(errors[1].starts_with(&format!("{conf}:4: ")), "{errors:?}");
    let daemon = Daemon::start(&env);
    for error in &errors {
        assert!(daemon.stderr().contains(&format!("pman: {error}\n")), "{error}:\n{}", daemon.stderr());
    }
    env.running_pid("u");
    wait_until(secs(3.0), "the program's umask", || !env.read("umask.out").is_empty());
    let got = u32::from_str_radix(env.read("umask.out").trim(), 8).expect("octal umask");
    let want = u32::from_str_radix(&own, 8).expect("octal umask");
    assert_eq!(got, want, "an invalid [pman] umask did not leave the default (the daemon's own)");
}

#[test]
fn an_included_file_that_cannot_be_read_adds_nothing() {
    let env = Env::new();
    let inc = write_include(&env, "inc.conf", &prog("inc", "/bin/sleep 300", "startsecs=0"));
    // As root every file is readable: the root rule refuses a world-writable one instead.
    let mode = if is_root() { 0o666 } else { 0o000 };
    fs::set_permissions(&inc, fs::Permissions::from_mode(mode)).expect("chmod include");
    env.write_config(&format!("[include]\nfiles={inc}\n{}", prog("a", "/bin/sleep 300", "startsecs=0")));
    let errors = check_errors(&env);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with(&format!("{inc}: ")), "{errors:?}");
    let daemon = Daemon::start(&env);
    assert!(daemon.stderr().contains(&format!("pman: {}\n", errors[0])), "{}", daemon.stderr());
    env.running_pid("a");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 0, "{out}");
    let names: Vec<&str> = out.stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[a]"], "only a is configured: {out}");
    assert_eq!(env.pman(&["status", "inc"]).code, 2);
}

#[test]
fn a_logfile_that_cannot_be_opened_means_syslog() {
    let env = Env::new();
    if std::path::Path::new("/nonexistent-dir").exists() {
        skip!("/nonexistent-dir exists");
    }
    env.write_config(&format!(
        "[supervisord]\nlogfile=/nonexistent-dir/x.log\n{}",
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    let says_so = |stderr: &str| -> usize {
        stderr.lines().filter(|l| l.contains("/nonexistent-dir/x.log") && l.contains("syslog")).count()
    };
    let out = env.pman(&["daemon"]);
    assert_eq!(out.code, 0, "detached daemon with an unopenable logfile: {out}");
    let pid = daemon_pid(&env);
    let _guard = Detached(pid);
    assert_eq!(says_so(&out.stderr), 1, "one error line saying so: {out}");
    env.running_pid("a");
    assert_eq!(env.pman(&["status"]).code, 0);
    assert_eq!(env.pman(&["kill"]).code, 0);
    // `kill` returns when the socket closes; under an emulator the process
    // itself may take a moment longer to be gone.
    assert!(eventually(secs(5.0), || !pid_alive(pid)), "the daemon outlived kill");

    let daemon = Daemon::start(&env);
    env.running_pid("a");
    assert_eq!(env.pman(&["status"]).code, 0);
    assert_eq!(says_so(&daemon.stderr()), 1, "with -f: {}", daemon.stderr());
}

#[test]
fn a_pidfile_that_cannot_be_written_is_skipped() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\npidfile=$DIR/missing/pman.pid\nlogfile=$DIR/pman.log\n{}",
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    let pidfile = env.path("missing/pman.pid").display().to_string();
    let out = env.pman(&["daemon"]);
    assert_eq!(out.code, 0, "detached daemon with an unwritable pidfile: {out}");
    let pid = daemon_pid(&env);
    let _guard = Detached(pid);
    assert!(out.stderr.contains(&pidfile), "the launcher does not say so: {out}");
    env.running_pid("a");
    assert!(env.read("pman.log").contains(&pidfile), "not in the daemon log:\n{}", env.read("pman.log"));
    assert_eq!(env.pman(&["kill"]).code, 0);
    assert!(eventually(secs(5.0), || !pid_alive(pid)), "the daemon outlived kill");
}
