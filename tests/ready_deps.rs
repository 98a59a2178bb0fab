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

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `ready = tcp:PORT`: STARTING until the program listens (2 s after its
/// start, past startsecs), and `start` waits for it.
#[test]
fn tcp_readiness_waits_for_the_listener() {
    let env = Env::new();
    let port = free_port();
    let command = format!(
        "python3 -c 'import socket,time; time.sleep(2); s=socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", {port})); \
         s.listen(5); time.sleep(300)'"
    );
    env.write_config(&prog("t", &command, &format!("autostart=false\nready=tcp:{port}")));
    let _daemon = Daemon::start(&env);
    let since = std::time::Instant::now();
    let mut child = env.pman_spawn(&["start", "t"]);
    wait_until(secs(3.0), "STARTING", || env.state("t") == "STARTING");
    if let Some(pid) = env.prog_pid("t") {
        env.track(pid);
    }
    std::thread::sleep(secs(1.2));
    assert_eq!(env.state("t"), "STARTING", "RUNNING before the port listens");
    let status = child.wait().expect("start");
    assert_eq!(status.code(), Some(0));
    assert!(since.elapsed() >= std::time::Duration::from_millis(1900), "start returned before the listener");
    let line = env.status_line("t");
    assert!(line.starts_with("[t] RUNNING pid: "), "{line}");
}

/// `ready = file:PATH`: a file left by the previous run does not count;
/// the program's own write does.
#[test]
fn file_readiness_needs_a_change_since_the_fork() {
    let env = Env::new();
    let flag = env.path("up.flag");
    std::fs::write(&flag, "old").expect("write");
    let command = "/bin/sh -c 'sleep 2; echo new > $DIR/up.flag; exec sleep 300'";
    let extra = format!("autostart=false\nready=file:{}", flag.display());
    env.write_config(&prog("f", command, &extra));
    let _daemon = Daemon::start(&env);
    let mut child = env.pman_spawn(&["start", "f"]);
    wait_until(secs(3.0), "STARTING", || env.state("f") == "STARTING");
    if let Some(pid) = env.prog_pid("f") {
        env.track(pid);
    }
    std::thread::sleep(secs(1.2));
    assert_eq!(env.state("f"), "STARTING", "the old file counted as readiness");
    assert_eq!(child.wait().expect("start").code(), Some(0));
    env.running_pid("f");
}

/// Not ready within ready_timeout: stopped, a failed start with the reason
/// `not ready after 2s`; `start` fails.
#[test]
fn not_ready_in_time_is_a_failed_start() {
    let env = Env::new();
    let port = free_port();
    let extra = format!("autostart=false\nready=tcp:127.0.0.1:{port}\nready_timeout=2\nstartretries=0");
    env.write_config(&prog("n", "/bin/sleep 300", &extra));
    let _daemon = Daemon::start(&env);
    let out = env.pman(&["start", "n"]);
    assert_eq!(out.code, 1, "{out}");
    let line = env.wait_state("n", "FATAL", secs(10.0));
    assert!(line.ends_with("not ready after 2s"), "{line}");
}

/// The values `check` accepts and refuses.
#[test]
fn check_reads_ready_values() {
    let env = Env::new();
    let good = "ready=tcp:localhost:80\n[program:b]\ncommand=/bin/true\nready=file:/tmp/x\n\
                [program:c]\ncommand=/bin/true\nready=tcp:[::1]:8080\nready_timeout=0\nbackoff_reset=5";
    env.write_config(&prog("a", "/bin/true", good));
    let out = env.pman(&["check"]);
    assert!(out.code == 0 && !out.stderr.contains("warning"), "{out}");
    env.write_config(&prog(
        "a",
        "/bin/true",
        "ready=healthcheck\n[program:b]\ncommand=/bin/true\nready=tcp:x:1",
    ));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("ready = healthcheck needs a healthcheck key"), "{out}");
    assert!(out.stderr.contains("[program:b] ready: 'tcp:x:1' is not"), "{out}");
}

/// `ready = fd:3`: RUNNING at the first newline on descriptor 3, which the
/// program finds in PMAN_READY_FD; closing it unwritten is not readiness.
#[test]
fn fd_readiness_is_the_first_newline() {
    let env = Env::new();
    let late = "/bin/sh -c 'echo $PMAN_READY_FD > $DIR/fd.env; sleep 2; printf \"up\\nmore\\n\" >&3; exec sleep 300'";
    let never = "/bin/sh -c 'exec 3>&-; exec sleep 300'";
    let conf = prog("late", late, "autostart=false\nready=fd:3")
        + &prog("never", never, "autostart=false\nready=fd:3\nready_timeout=2\nstartretries=0");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let since = std::time::Instant::now();
    let out = env.pman(&["start", "late"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(since.elapsed() >= std::time::Duration::from_millis(1900), "RUNNING before the newline: {out}");
    env.running_pid("late");
    assert_eq!(env.read("fd.env").trim(), "3");

    let out = env.pman(&["start", "never"]);
    assert_eq!(out.code, 1, "{out}");
    let line = env.wait_state("never", "FATAL", secs(10.0));
    assert!(line.ends_with("not ready after 2s"), "{line}");
}
