//! Health checks: `healthcheck` run while RUNNING, its failures in a row
//! restarting the program, its timeout, `ready = healthcheck`, and the
//! `health` field.

#[macro_use]
mod common;

use common::*;
use std::time::Duration;

fn health(env: &Env, name: &str) -> Option<String> {
    env.json_of(name).string("health").map(str::to_string)
}

/// A check that starts failing: the reason (the last line of its output)
/// shows on the RUNNING line and in `reason`, `health` is "failing", and
/// after `healthcheck_retries` failures in a row the program is restarted
/// with that reason; a pass clears it.
#[test]
fn failing_checks_in_a_row_restart_the_program_with_the_last_line() {
    let env = Env::new();
    let check = "/bin/sh -c 'echo checked >> $DIR/checks; test -e $DIR/fail || exit 0; \
                 echo first line; echo Connection refused >&2; exit 1'";
    let extra =
        format!("healthcheck={check}\nhealthcheck_interval=1\nhealthcheck_retries=3\nautorestart=false");
    let conf = "[pman]\nlogfile=$DIR/pman.log\n".to_string()
        + &prog("d", "/bin/sh -c 'echo x >> $DIR/d.count; exec sleep 300'", &extra);
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let first = env.running_pid("d");
    wait_until(secs(10.0), "a first passing check", || health(&env, "d").as_deref() == Some("ok"));
    let line = env.status_line("d");
    assert!(!line.contains("healthcheck"), "{line}");

    std::fs::write(env.path("fail"), "").unwrap();
    wait_until(secs(10.0), "a failing check", || health(&env, "d").as_deref() == Some("failing"));
    let line = env.status_line("d");
    assert!(
        line_matches(&line, "[d] RUNNING pid: {N} uptime: {T} healthcheck: exit 1: Connection refused"),
        "{line}"
    );
    assert_eq!(env.json_of("d").string("reason"), Some("healthcheck: exit 1: Connection refused"));
    assert_eq!(env.prog_pid("d"), Some(first), "restarted before 3 failures in a row");

    wait_until(secs(20.0), "the restart", || env.read("d.count").lines().count() >= 2);
    let json = env.json_of("d");
    assert_eq!(json.string("last_restart_reason"), Some("healthcheck: exit 1: Connection refused"));
    env.running_pid("d");
    assert_eq!(env.json_of("d").get("restarts").and_then(|v| v.as_i64()), Some(1));
    let log = env.read("pman.log");
    assert!(log.contains("d: healthcheck: exit 1: Connection refused; restarting"), "{log}");

    // Passing again: the next run is "ok", with no reason.
    std::fs::remove_file(env.path("fail")).unwrap();
    wait_until(secs(10.0), "a pass after the restart", || health(&env, "d").as_deref() == Some("ok"));
    let json = env.json_of("d");
    assert!(json.get("reason").is_some_and(|v| v.is_null()), "{json:?}");
    assert!(!env.status_line("d").contains("healthcheck"));
}

/// A health restart that is the second exit in a row waits in BACKOFF, and
/// its line says why.
#[test]
fn a_health_restart_in_backoff_shows_its_reason() {
    let env = Env::new();
    let extra = "healthcheck=/bin/sh -c 'echo bad; exit 1'\nhealthcheck_interval=1\nhealthcheck_retries=1\n\
                 backoff=30";
    env.write_config(&prog("d", "/bin/sleep 300", extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("d");
    wait_until(secs(20.0), "BACKOFF after two health restarts", || env.status_line("d").contains("BACKOFF"));
    let line = env.status_line("d");
    assert!(
        line_matches(&line, "[d] BACKOFF signal: TERM retry in: {N}s healthcheck: exit 1: bad"),
        "{line}"
    );
    assert_eq!(env.json_of("d").string("reason"), Some("healthcheck: exit 1: bad"));
}

/// Before the first check of a run ends `health` is "pending"; without a
/// healthcheck, or when not RUNNING, it is null.
#[test]
fn health_is_pending_until_the_first_check_and_null_without_one() {
    let env = Env::new();
    let conf = prog("p", "/bin/sleep 300", "healthcheck=/bin/true\nhealthcheck_interval=300")
        + &prog("n", "/bin/sleep 300", "")
        + &prog("s", "/bin/sleep 300", "healthcheck=/bin/true\nautostart=false");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    env.running_pid("p");
    env.running_pid("n");
    assert_eq!(health(&env, "p").as_deref(), Some("pending"));
    assert!(env.json_of("n").get("health").is_some_and(|v| v.is_null()));
    assert!(env.json_of("s").get("health").is_some_and(|v| v.is_null()));
}

/// A check that runs past `healthcheck_timeout` fails with `timed out
/// after Ns`, and its whole process group is SIGKILLed.
#[test]
fn a_check_past_its_timeout_fails_and_its_group_is_killed() {
    let env = Env::new();
    let check = "/bin/sh -c 'echo $$ >> $DIR/check.pids; sleep 300 & echo $! >> $DIR/check.pids; wait'";
    let extra = format!(
        "healthcheck={check}\nhealthcheck_interval=1\nhealthcheck_timeout=1\nhealthcheck_retries=100"
    );
    env.write_config(&prog("t", "/bin/sleep 300", &extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("t");
    wait_until(secs(15.0), "a timed out check", || {
        env.json_of("t").string("reason") == Some("healthcheck: timed out after 1s")
    });
    let pids: Vec<i32> = env.read("check.pids").lines().filter_map(|l| l.parse().ok()).collect();
    assert!(pids.len() >= 2, "{pids:?}");
    for &pid in &pids {
        env.track(pid);
    }
    // The first check (shell and its background sleep) was killed as a group.
    wait_until(secs(5.0), "the first check's group gone", || !pid_alive(pids[0]) && !pid_alive(pids[1]));
    assert_eq!(health(&env, "t").as_deref(), Some("failing"));
}

/// Never more than one check of a program at a time, even when a check
/// takes longer than the interval.
#[test]
fn one_check_at_a_time() {
    let env = Env::new();
    let check = "/bin/sh -c 'mkdir $DIR/lock || { echo overlap >> $DIR/overlap; exit 0; }; \
                 echo run >> $DIR/runs; sleep 2; rmdir $DIR/lock'";
    let extra = format!("healthcheck={check}\nhealthcheck_interval=1\nhealthcheck_timeout=10");
    env.write_config(&prog("o", "/bin/sleep 300", &extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("o");
    wait_until(secs(20.0), "three checks", || env.read("runs").lines().count() >= 3);
    assert!(!env.path("overlap").exists(), "two checks ran at once");
    assert_eq!(health(&env, "o").as_deref(), Some("ok"));
}

/// The check runs with the program's directory, environment and user, in
/// its own process group, with stdin from /dev/null; a long last line is
/// cut to 200 bytes.
#[test]
fn the_check_runs_like_the_program() {
    let env = Env::new();
    std::fs::create_dir(env.path("work")).unwrap();
    let long = "y".repeat(300);
    let check = format!(
        "/bin/sh -c 'pwd > $DIR/cwd; echo $FOO > $DIR/foo; readlink /proc/$$/fd/0 > $DIR/stdin; \
         cut -d\" \" -f5 /proc/$$/stat > $DIR/pgid; echo $$ > $DIR/pid; echo {long}; exit 3'"
    );
    let extra = format!(
        "healthcheck={check}\nhealthcheck_interval=1\nhealthcheck_retries=100\ndirectory=$DIR/work\nenvironment=FOO=bar"
    );
    env.write_config(&prog("c", "/bin/sleep 300", &extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("c");
    wait_until(secs(10.0), "a failed check", || health(&env, "c").as_deref() == Some("failing"));
    assert_eq!(env.read("cwd").trim(), env.path("work").display().to_string());
    assert_eq!(env.read("foo").trim(), "bar");
    assert_eq!(env.read("stdin").trim(), "/dev/null");
    assert_eq!(env.read("pgid").trim(), env.read("pid").trim(), "not in its own process group");
    let reason = env.json_of("c").string("reason").unwrap_or_default().to_string();
    assert_eq!(reason, format!("healthcheck: exit 3: {}", "y".repeat(200)));
}

/// `ready = healthcheck`: STARTING until the first passing check; `start`
/// waits for it. A check that never passes is a failed start at
/// `ready_timeout`.
#[test]
fn ready_healthcheck_waits_for_the_first_passing_check() {
    let env = Env::new();
    let late = "/bin/sh -c 'sleep 2; touch $DIR/up; exec sleep 300'";
    let conf = prog("late", late, "ready=healthcheck\nhealthcheck=/usr/bin/test -e $DIR/up\nautostart=false")
        + &prog(
            "never",
            "/bin/sleep 300",
            "ready=healthcheck\nhealthcheck=/bin/false\nready_timeout=2\nautostart=false\nstartretries=0",
        );
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let mut start = env.pman_spawn(&["start", "late"]);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(env.state("late"), "STARTING");
    let status = start.wait().expect("wait start");
    assert!(status.success(), "start late failed");
    assert!(env.path("up").exists());
    env.running_pid("late");
    assert_eq!(health(&env, "late").as_deref(), Some("ok"));

    let out = env.pman(&["start", "never"]);
    assert_eq!(out.code, 1, "{out}");
    let line = env.wait_state("never", "FATAL", secs(10.0));
    assert!(line.contains("not ready after 2s"), "{line}");
}

/// A manual `stop` while a restart for health stops `command` (which
/// ignores SIGTERM, so that stop takes stopwaitsecs) ends STOPPED, with no
/// new start.
fn a_stop_cancels_the_restart(command: &str, extra: &str) {
    let env = Env::new();
    env.write_config(&prog("s", command, &format!("{extra}\nstopwaitsecs=8")));
    let _daemon = Daemon::start(&env);
    env.running_pid("s");
    env.wait_state("s", "STOPPING", secs(10.0));
    let out = env.pman(&["stop", "s"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("[s] STOPPED"), "{out}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(env.state("s"), "STOPPED");
    assert_eq!(env.read("s.count").lines().count(), 1);
}

#[test]
fn a_stop_cancels_a_health_restart() {
    let silent = "/bin/sh -c 'trap \"\" TERM; echo x >> $DIR/s.count; exec sleep 300'";
    a_stop_cancels_the_restart(
        silent,
        "healthcheck=/bin/false\nhealthcheck_interval=1\nhealthcheck_retries=1",
    );
}

#[test]
fn a_stop_cancels_a_watchdog_restart() {
    let silent = "/bin/sh -c 'trap \"\" TERM; echo x >> $DIR/s.count; echo up >&3; exec sleep 300'";
    a_stop_cancels_the_restart(silent, "ready=fd:3\nwatchdog=1");
}

/// A `start` while a health restart stops the program takes over: the
/// program runs again, and the restart is not counted.
#[test]
fn a_start_takes_over_a_health_restart() {
    let env = Env::new();
    let silent = "/bin/sh -c 'trap \"\" TERM; exec sleep 300'";
    let extra = "healthcheck=/bin/false\nhealthcheck_interval=1\nhealthcheck_retries=1\nstopwaitsecs=2";
    env.write_config(&prog("s", silent, extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("s");
    env.wait_state("s", "STOPPING", secs(10.0));
    let out = env.pman(&["start", "s"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("[s] RUNNING"), "{out}");
    assert_eq!(env.json_of("s").get("restarts").and_then(|v| v.as_i64()), Some(0));
}

/// Config errors name the key.
#[test]
fn healthcheck_config_errors() {
    let env = Env::new();
    let cases = [
        ("ready=healthcheck", "ready = healthcheck needs a healthcheck key"),
        ("healthcheck=/bin/true\nhealthcheck_interval=0", "healthcheck_interval"),
        ("healthcheck=/bin/true\nhealthcheck_retries=x", "healthcheck_retries"),
        ("healthcheck=", "empty healthcheck"),
    ];
    for (extra, says) in cases {
        env.write_config(&prog("a", "/bin/sleep 300", extra));
        let out = env.pman(&["check"]);
        assert_eq!(out.code, 2, "{extra}: {out}");
        assert!(out.stderr.contains(says), "{extra}: {out}");
    }
    env.write_config(&prog("a", "/bin/sleep 300", "ready=healthcheck\nhealthcheck=/bin/true"));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "{out}");
}

/// Checks cost wake-ups only while a program that has one is checked: a
/// daemon whose only healthcheck program is stopped never wakes up.
#[test]
fn a_daemon_with_no_program_checked_never_wakes_up() {
    if under_qemu() {
        skip!("qemu-user has helper threads that wake up on their own");
    }
    let env = Env::new();
    let conf = prog("a", "/bin/sleep 300", "startsecs=0")
        + &prog("h", "/bin/sleep 300", "healthcheck=/bin/true\nhealthcheck_interval=1\nautostart=false");
    env.write_config(&conf);
    let daemon = Daemon::start(&env);
    env.running_pid("a");
    std::thread::sleep(Duration::from_millis(1200));
    let before = voluntary_switches(daemon.pid);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(before.is_some());
    assert_eq!(before, voluntary_switches(daemon.pid), "the daemon woke up");
}

/// Sets the soft descriptor limit of the daemon (the hard one stays).
fn set_nofile(pid: i32, n: u64) {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid rlimit pointers.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let limit = libc::rlimit { rlim_cur: n.min(old.rlim_max), rlim_max: old.rlim_max };
    // SAFETY: as above.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// A check the daemon cannot start (out of descriptors) is logged and not
/// counted: the program is not restarted, and checks run again once
/// descriptors are free.
#[test]
fn a_check_that_cannot_be_spawned_is_not_a_failure() {
    if under_qemu() {
        skip!("the descriptor limit would be qemu's own");
    }
    let env = Env::new();
    let extra =
        "healthcheck=/bin/true\nhealthcheck_interval=3\nhealthcheck_retries=1\nstdout=none\nstderr=none";
    let conf = "[pman]\nlogfile=$DIR/pman.log\n".to_string() + &prog("h", "/bin/sleep 300", extra);
    env.write_config(&conf);
    let daemon = Daemon::start(&env);
    let pid = env.running_pid("h");
    // The daemon holds this many descriptors when idle (its reserve
    // included): two more let a client in but not a check's two pipes.
    let held = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid)).unwrap().count() as u64;
    set_nofile(daemon.pid, held + 2);
    wait_until(secs(15.0), "a check that could not start", || {
        // EMFILE's wording is the C library's ("Too many open files" in glibc).
        let log = env.read("pman.log");
        log.lines().any(|l| l.contains("h: healthcheck not run: pipe: ") && l.ends_with(" (not a failure)"))
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(env.prog_pid("h"), Some(pid), "restarted for a check that never ran");
    assert_eq!(health(&env, "h").as_deref(), Some("pending"));
    set_nofile(daemon.pid, 1024);
    wait_until(secs(15.0), "a check once descriptors are free", || {
        health(&env, "h").as_deref() == Some("ok")
    });
}

/// A health restart of a program slow to stop: its STOPPING line says why,
/// and `last_restart_reason` is set once the restart is made.
#[test]
fn a_health_restart_shows_its_reason_while_stopping() {
    let env = Env::new();
    let deaf = "/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'";
    let extra = "healthcheck=/bin/sh -c 'echo nope; exit 1'\nhealthcheck_interval=1\nhealthcheck_retries=1\n\
                 stopwaitsecs=3\nstartsecs=0";
    env.write_config(&prog("h", deaf, extra));
    let _daemon = Daemon::start(&env);
    env.running_pid("h");
    wait_until(secs(20.0), "the health restart's stop", || env.status_line("h").contains("STOPPING"));
    let line = env.status_line("h");
    assert!(line_matches(&line, "[h] STOPPING pid: {N} healthcheck: exit 1: nope"), "{line}");
    let json = env.json_of("h");
    assert!(json.get("last_restart_reason").is_some_and(|v| v.is_null()), "{json:?}");
    wait_until(secs(20.0), "the restart", || {
        env.json_of("h").get("restarts").and_then(|v| v.as_i64()).unwrap_or(0) >= 1
    });
    assert_eq!(env.json_of("h").string("last_restart_reason"), Some("healthcheck: exit 1: nope"));
}
