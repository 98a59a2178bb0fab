//! The daemon as an init script sees it: detaching, pidfile, bad configs,
//! a second daemon, `kill`/`shutdown`, SIGTERM/SIGINT, SIGKILL (pdeathsig),
//! orphan reaping, staying asleep when idle, and refusing an unsafe config
//! when run as root.

#[macro_use]
mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A detached daemon learnt by pid; SIGTERM, then SIGKILL, on drop.
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

#[test]
fn detached_daemon_returns_once_listening_and_kill_ends_it() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\npidfile=$DIR/pman.pid\n{}",
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    let out = env.pman(&["daemon"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    // Listening already: no waiting.
    let pid = daemon_pid(&env);
    let _guard = Detached(pid);
    assert_eq!(env.read("pman.pid").trim(), pid.to_string(), "pidfile");
    let program = env.running_pid("a");

    let out = env.pman(&["kill"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, format!("pman: stopped (pid {pid})\n").as_str()),
        "{out}"
    );
    assert!(!pid_alive(pid), "kill returned while the daemon {pid} still runs");
    assert!(!pid_alive(program), "kill left the program {program} running");
    assert!(!env.path("pman.pid").exists(), "pidfile left behind");
    let out = env.pman(&["kill"]);
    assert_eq!(out.code, 1, "kill without a daemon: {out}");
}

#[test]
fn no_command_means_daemon() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let out = pman_args(&["-c", env.conf.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out}");
    let pid = daemon_pid(&env);
    let _guard = Detached(pid);
    env.running_pid("a");
    let out = env.pman(&["shutdown"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, format!("pman: stopped (pid {pid})\n").as_str()),
        "{out}"
    );
    assert!(!pid_alive(pid));
}

#[test]
fn bad_config_exits_2_and_names_file_and_line() {
    let env = Env::new();
    // An invalid socket stops the daemon (errors in program sections do
    // not): line 3, after `[pman]` and the harness's `socket=`.
    env.write_config("[pman]\nsocket=@\n[program:x]\ncommand=/bin/sleep 300\n");
    let conf = env.conf.display().to_string();
    for args in [&["daemon"][..], &["daemon", "-f"]] {
        let out = env.pman(args);
        assert_eq!(out.code, 2, "pman {args:?}: {out}");
        assert!(out.stderr.starts_with("pman: "), "{out}");
        assert!(
            out.stderr.contains(&format!("{conf}:3")),
            "pman {args:?}: error does not name {conf}:3: {out}"
        );
        // Asked of the socket itself: a client refuses a config whose socket is invalid.
        assert!(Raw::connect(&env.socket).is_err(), "a daemon is listening after a config error");
    }
    let missing = pman_args(&["-c", &format!("{}/missing.conf", env.dir_str()), "daemon", "-f"]);
    assert_eq!(missing.code, 2, "missing config: {missing}");
    assert!(missing.stderr.contains("missing.conf"), "{missing}");
}

#[test]
fn second_daemon_is_refused() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let daemon = Daemon::start(&env);
    let program = env.running_pid("a");
    for args in [&["daemon", "-f"][..], &["daemon"]] {
        let out = env.pman(args);
        assert_eq!(out.code, 1, "pman {args:?}: {out}");
        assert!(
            out.stderr.lines().any(|l| l == format!("pman: already running (pid {})", daemon.pid)),
            "pman {args:?}: {out}"
        );
    }
    assert_eq!(daemon_pid(&env), daemon.pid);
    assert_eq!(env.prog_pid("a"), Some(program), "the second daemon disturbed the program");
}

#[test]
fn kill_of_a_foreground_daemon_returns_once_it_is_gone() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("b", "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 0.05; done'", "startsecs=0"),
    ));
    let mut daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let b = env.running_pid("b");
    let out = env.pman(&["kill"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, format!("pman: stopped (pid {})\n", daemon.pid).as_str()),
        "{out}"
    );
    // Our child stays a zombie until we reap it: allow for the reap only.
    assert_eq!(daemon.wait_exit(Duration::from_millis(500)), Some(0), "daemon not gone when kill returned");
    assert!(!pid_alive(a) && !pid_alive(b), "programs survived kill");
}

#[test]
fn sigterm_stops_programs_and_removes_the_pidfile() {
    let env = Env::new();
    std::fs::write(env.path("pman.pid"), "999999\n").expect("stale pidfile");
    env.write_config(&format!(
        "[pman]\npidfile=$DIR/pman.pid\n{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("b", &order_script("b", "order"), "startsecs=0"),
    ));
    let mut daemon = Daemon::start(&env);
    assert_eq!(
        env.read("pman.pid").trim(),
        daemon.pid.to_string(),
        "-f with pidfile: stale pidfile not overwritten"
    );
    let a = env.running_pid("a");
    let b = env.running_pid("b");
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(secs(5.0)), Some(0), "exit status after SIGTERM");
    assert!(!pid_alive(a) && !pid_alive(b), "programs survived SIGTERM");
    assert!(env.read("order").contains("stop-b"), "b was not sent its stopsignal: {}", env.read("order"));
    assert!(!env.path("pman.pid").exists(), "pidfile left behind");
}

#[test]
fn sigint_is_like_sigterm() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let mut daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.wait_exit(secs(5.0)), Some(0));
    assert!(!pid_alive(a));
}

#[test]
fn shutdown_stops_in_descending_priority() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}",
        prog("low", &order_script("low", "order"), "startsecs=0\npriority=1"),
        prog("high", &order_script("high", "order"), "startsecs=0\npriority=100"),
        prog("mid", &order_script("mid", "order"), "startsecs=0\npriority=50"),
    ));
    let mut daemon = Daemon::start(&env);
    for name in ["low", "high", "mid"] {
        env.running_pid(name);
    }
    wait_until(secs(3.0), "all started", || env.read("order").lines().count() == 3);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(secs(5.0)), Some(0));
    let text = env.read("order");
    let stops: Vec<&str> = text.lines().filter(|l| l.starts_with("stop-")).collect();
    assert_eq!(stops, ["stop-high", "stop-mid", "stop-low"], "{text}");
}

#[test]
fn second_sigterm_kills_what_is_left() {
    let env = Env::new();
    let stubborn = "/bin/sh -c 'trap \"echo got >> $DIR/got\" TERM; while :; do sleep 0.05; done'";
    env.write_config(&prog("stubborn", stubborn, "startsecs=0\nstopwaitsecs=60"));
    let mut daemon = Daemon::start(&env);
    let pid = env.running_pid("stubborn");
    daemon.signal(libc::SIGTERM);
    wait_until(secs(3.0), "the program got its TERM", || env.read("got").contains("got"));
    assert!(daemon.exited().is_none(), "daemon exited with its program still running");
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit(secs(3.0)).is_some(), "second SIGTERM did not end the daemon");
    wait_until(secs(2.0), "program SIGKILLed", || !pid_alive(pid));
}

#[test]
fn sigkill_of_the_daemon_leaves_no_program_behind() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("deaf", "/bin/sh -c 'trap \"\" TERM HUP; while :; do sleep 0.05; done'", "startsecs=0"),
    ));
    let mut daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let deaf = env.running_pid("deaf");
    daemon.signal(libc::SIGKILL);
    assert!(daemon.wait_exit(secs(3.0)).is_some());
    wait_until(secs(3.0), "programs die with their daemon (PR_SET_PDEATHSIG)", || {
        !pid_alive(a) && !pid_alive(deaf)
    });

    let _fresh = Daemon::start(&env);
    let a2 = env.running_pid("a");
    let deaf2 = env.running_pid("deaf");
    assert!(a2 != a && deaf2 != deaf);
}

#[test]
fn orphans_are_reaped() {
    if under_qemu() {
        skip!("qemu-user refuses PR_SET_CHILD_SUBREAPER");
    }
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        // A daemonizing program: the grandchild outlives its parent.
        prog(
            "dbl",
            "/bin/sh -c '(/bin/sleep 1 & echo $! > $DIR/dbl.orphan); exec /bin/sleep 300'",
            "startsecs=0"
        ),
        prog(
            "job",
            "/bin/sh -c '/bin/sleep 1 & echo $! > $DIR/job.orphan; exit 0'",
            "startsecs=0\nautorestart=false"
        ),
    ));
    let daemon = Daemon::start(&env);
    env.running_pid("dbl");
    env.wait_state("job", "EXITED", secs(3.0));
    let mut orphans = Vec::new();
    for file in ["dbl.orphan", "job.orphan"] {
        wait_until(secs(3.0), file, || env.read(file).trim().parse::<i32>().is_ok());
        let pid: i32 = env.read(file).trim().parse().unwrap_or(0);
        env.track(pid);
        orphans.push(pid);
    }
    for &pid in &orphans {
        // Adopted by the daemon (subreaper), or already gone and reaped.
        let ppid = proc_ppid(pid);
        assert!(
            ppid.is_none() || ppid == Some(daemon.pid),
            "orphan {pid} has parent {ppid:?}, not the daemon"
        );
    }
    wait_until(secs(4.0), "orphans exit and are reaped", || {
        orphans.iter().all(|&p| proc_state(p).is_none()) && zombie_children(daemon.pid).is_empty()
    });
}

#[test]
fn idle_daemon_never_wakes_up() {
    if under_qemu() {
        skip!("qemu-user has helper threads that wake up on their own");
    }
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let daemon = Daemon::start(&env);
    env.running_pid("a");
    // Let any timer due right after a start (e.g. a 1 s restart guard) pass.
    std::thread::sleep(Duration::from_millis(1200));
    let before = voluntary_switches(daemon.pid);
    std::thread::sleep(Duration::from_millis(1500));
    let after = voluntary_switches(daemon.pid);
    assert!(before.is_some());
    assert_eq!(before, after, "an idle daemon woke up (voluntary context switches changed)");
}

#[test]
fn root_refuses_a_config_others_could_write() {
    if !is_root() {
        skip!("only a root daemon checks its config's owner and mode");
    }
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    for mode in [0o666, 0o664] {
        std::fs::set_permissions(&env.conf, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let out = env.pman(&["daemon", "-f"]);
        assert_eq!(out.code, 2, "mode {mode:o}: {out}");
        assert!(out.stderr.starts_with("pman: "), "{out}");
        assert_eq!(env.pman(&["pid"]).code, 1, "a daemon started from a mode {mode:o} config");
    }
    std::fs::set_permissions(&env.conf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&env.conf, Some(65534), None).expect("chown");
    let out = env.pman(&["daemon", "-f"]);
    assert_eq!(out.code, 2, "config owned by uid 65534: {out}");
    std::os::unix::fs::chown(&env.conf, Some(0), None).expect("chown");

    // At reload too: nothing changes.
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    env.write_config(&prog("a", "/bin/sleep 301", "startsecs=0"));
    std::fs::set_permissions(&env.conf, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 2, "reload of a world-writable config: {out}");
    assert_eq!(env.prog_pid("a"), Some(a), "the refused reload changed a");
}

#[test]
fn port_is_accepted_with_a_warning() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nport=127.0.0.1:50010\nlogfile=$DIR/pman.log\n{}",
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    // Line 3: after `[pman]` and the harness's `socket=`.
    let prefix = format!("pman: warning: {}:3: ", env.conf.display());
    let out = env.pman(&["daemon"]);
    assert_eq!(out.code, 0, "{out}");
    let pid = daemon_pid(&env);
    let _guard = Detached(pid);
    let warning = out.stderr.lines().find(|l| l.starts_with(&prefix));
    assert!(warning.is_some_and(|w| w.contains("port")), "no `{prefix}... port` warning: {out}");
    wait_until(secs(3.0), "the warning in the daemon log", || env.read("pman.log").contains("port"));
    env.running_pid("a");
    assert_eq!(env.pman(&["kill"]).code, 0);
}

#[test]
fn nothing_restarts_while_the_daemon_shuts_down() {
    let env = Env::new();
    // `slow` stops first (higher priority) and takes 4 s; meanwhile `crasher`,
    // still waiting for its turn, exits every 0.3 s.
    let slow = "/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'";
    let crasher = "/bin/sh -c 'echo $$ >> $DIR/starts; sleep 0.3; exit 1'";
    env.write_config(&format!(
        "{}{}",
        prog("slow", slow, "startsecs=0\npriority=900\nstopwaitsecs=4"),
        prog("crasher", crasher, "startsecs=0\npriority=100\nbackoff=0\nbackoff_reset=0"),
    ));
    let mut daemon = Daemon::start(&env);
    env.running_pid("slow");
    wait_until(secs(5.0), "crasher restarts", || env.read("starts").lines().count() >= 3);
    daemon.signal(libc::SIGTERM);
    let at_term = env.read("starts").lines().count();
    assert_eq!(daemon.wait_exit(secs(10.0)), Some(0));
    let after = env.read("starts").lines().count();
    // One start may already be on its way when the signal arrives.
    assert!(after <= at_term + 1, "{} starts during the shutdown", after - at_term);
}

#[test]
fn a_start_still_waiting_when_a_shutdown_begins_says_so() {
    let env = Env::new();
    env.write_config(&prog("slow", "/bin/sleep 300", "startsecs=30\nautostart=false"));
    let mut daemon = Daemon::start(&env);
    let start = env.pman_spawn(&["start", "slow"]);
    env.wait_state("slow", "STARTING", secs(5.0));
    daemon.signal(libc::SIGTERM);
    let out = start.wait_with_output().expect("start's output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!((out.status.code(), stderr.as_ref()), (Some(1), "pman: shutting down\n"));
    assert_eq!(daemon.wait_exit(secs(10.0)), Some(0));
}
