//! Restarts for health: `watchdog` (keepalives on the ready fd),
//! `memory_max` (VmRSS), and `last_restart_reason` in `--json`.

#[macro_use]
mod common;

use common::*;

fn restart_reason(env: &Env, name: &str) -> Option<String> {
    env.json_of(name).string("last_restart_reason").map(str::to_string)
}

/// A program that feeds its watchdog for a while and then stops: it is
/// not restarted while fed, then restarted with the reason; the restart
/// counts in `restarts` and the daemon log names the cause.
#[test]
fn a_watchdog_that_stops_being_fed_restarts_the_program() {
    let env = Env::new();
    let feeds = "/bin/sh -c 'echo x >> $DIR/w.count; echo up >&3; \
                 for i in 1 2 3 4 5 6 7 8; do sleep 0.5; echo ok >&3; done; exec sleep 300'";
    let conf = "[pman]\nlogfile=$DIR/pman.log\n".to_string()
        + &prog("w", feeds, "ready=fd:3\nwatchdog=2\nautorestart=false");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    env.running_pid("w");
    assert!(env.json_of("w").get("last_restart_reason").is_some_and(|v| v.is_null()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(env.read("w.count").lines().count(), 1, "restarted while fed");
    wait_until(secs(30.0), "a restart by the watchdog", || env.read("w.count").lines().count() >= 2);
    wait_until(secs(10.0), "the restart counted", || {
        env.json_of("w").get("restarts").and_then(|v| v.as_i64()) == Some(1)
    });
    assert_eq!(restart_reason(&env, "w").as_deref(), Some("watchdog: no keepalive for 2s"));
    let log = env.read("pman.log");
    assert!(log.contains("w: watchdog: no keepalive for 2s; restarting"), "{log}");
}

/// A program whose resident memory grows past `memory_max` is restarted
/// with `memory_max: RSS …MB > 16MB` (a limit under 1 MB in KB).
#[test]
fn a_program_past_memory_max_is_restarted() {
    let env = Env::new();
    let grows = "python3 -c 'import time,os; open(os.environ[\"DIR\"]+\"/m.count\",\"a\").write(\"x\\n\"); \
                 b = bytearray(48 << 20); time.sleep(300)'";
    let conf = prog("m", grows, &format!("environment=DIR={}\nmemory_max=16MB", env.dir_str()))
        + &prog("small", "sleep 300", "memory_max=64MB")
        + &prog("tiny", "sleep 300", "memory_max=100KB");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    wait_until(secs(60.0), "a restart by memory_max", || {
        env.json_of("m").get("restarts").and_then(|v| v.as_i64()).unwrap_or(0) >= 1
    });
    let reason = restart_reason(&env, "m").unwrap_or_default();
    assert!(reason.starts_with("memory_max: RSS ") && reason.ends_with("MB > 16MB"), "{reason}");
    // A limit under 1 MB is shown in KB, as it was written.
    wait_until(secs(30.0), "a restart of tiny", || restart_reason(&env, "tiny").is_some());
    let reason = restart_reason(&env, "tiny").unwrap_or_default();
    assert!(reason.starts_with("memory_max: RSS ") && reason.ends_with("B > 100KB"), "{reason}");
    wait_until(secs(20.0), "a second start", || env.read("m.count").lines().count() >= 2);
    let small = env.json_of("small");
    assert_eq!(small.get("restarts").and_then(|v| v.as_i64()), Some(0), "{small:?}");
}

/// An exit from RUNNING that restarts the program names its exit.
#[test]
fn last_restart_reason_names_the_exit() {
    let env = Env::new();
    env.write_config(&prog("e", "/bin/sh -c 'sleep 1.2; exit 3'", "startsecs=1\nbackoff_reset=1"));
    let _daemon = Daemon::start(&env);
    wait_until(secs(20.0), "a restart after the exit", || restart_reason(&env, "e").is_some());
    assert_eq!(restart_reason(&env, "e").as_deref(), Some("exit: 3"));
}

/// A retry after a failed start is an automatic restart too: it counts in
/// `restarts` and names the failure (the exit, else the reason).
#[test]
fn last_restart_reason_names_a_failed_start() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("f", "/bin/sh -c 'exit 1'", "backoff=1\nbackoff_max=1"),
        prog("n", "/bin/sleep 300", "ready=file:$DIR/never\nready_timeout=1\nbackoff=1\nbackoff_max=1")
    ));
    let _daemon = Daemon::start(&env);
    let restarts = |name: &str| env.json_of(name).get("restarts").and_then(|v| v.as_i64()).unwrap_or(0);
    wait_until(secs(20.0), "retries of both", || restarts("f") >= 1 && restarts("n") >= 1);
    assert_eq!(restart_reason(&env, "f").as_deref(), Some("exit: 1"));
    assert_eq!(restart_reason(&env, "n").as_deref(), Some("not ready after 1s"));
}

/// `watchdog` without `ready = fd:N`, and `ready = healthcheck` without a
/// `healthcheck` key, are config errors.
#[test]
fn check_refuses_a_watchdog_without_a_ready_fd() {
    let env = Env::new();
    env.write_config(
        &(prog("a", "sleep 1", "watchdog=5") + &prog("b", "sleep 1", "ready=tcp:80\nwatchdog=5")),
    );
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("[program:a] watchdog: needs ready = fd:N"), "{out}");
    assert!(out.stderr.contains("[program:b] watchdog: needs ready = fd:N"), "{out}");
    env.write_config(&prog("c", "sleep 1", "ready=fd:3\nwatchdog=5\nmemory_max=16MB"));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "{out}");
    env.write_config(&prog("d", "sleep 1", "memory_max=lots"));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("memory_max"), "{out}");
}

#[test]
fn the_example_config_is_valid() {
    // A copy: as root, `check` refuses a file owned by another user.
    let env = Env::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/health.conf");
    std::fs::write(&env.conf, read_file(example)).expect("copy the example");
    let out = env.pman(&["check"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "config OK: 3 programs\n"), "{out}");
    assert_eq!(out.stderr, "", "no warnings");
}
