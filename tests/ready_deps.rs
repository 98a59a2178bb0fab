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
    // The program runs natively, the daemon maybe under an emulator: scale its delay.
    let delay = secs(3.0);
    let command = format!(
        "python3 -c 'import socket,time; time.sleep({}); s=socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", {port})); \
         s.listen(5); time.sleep(300)'",
        delay.as_secs_f64()
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
    assert!(
        since.elapsed() >= delay - std::time::Duration::from_millis(100),
        "start returned before the listener"
    );
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
    let delay = secs(3.0).as_secs();
    let command = format!("/bin/sh -c 'sleep {delay}; echo new > $DIR/up.flag; exec sleep 300'");
    let extra = format!("autostart=false\nready=file:{}", flag.display());
    env.write_config(&prog("f", &command, &extra));
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

/// A dependency cycle is an error of each section on it; a name that is no
/// program is an error of the depending section.
#[test]
fn check_refuses_cycles_and_unknown_names() {
    let env = Env::new();
    let conf = prog("web", "/bin/true", "depends_on=db, cache")
        + &prog("db", "/bin/true", "depends_on=web")
        + &prog("cache", "/bin/true", "")
        + &prog("api", "/bin/true", "depends_on=nope");
    env.write_config(&conf);
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("[program:web] depends_on: cycle web -> db -> web"), "{out}");
    assert!(out.stderr.contains("[program:db] depends_on: cycle db -> web -> db"), "{out}");
    assert!(out.stderr.contains("[program:api] depends_on: 'nope' is no program"), "{out}");
    assert!(!out.stderr.contains("[program:cache]"), "{out}");
    let good = prog("web", "/bin/true", "depends_on=db w")
        + &prog("db", "/bin/true", "")
        + &prog("w", "/bin/true", "numprocs=2\nprocess_name=w%(process_num)d");
    env.write_config(&good);
    let out = env.pman(&["check"]);
    assert!(out.code == 0 && !out.stderr.contains("warning"), "{out}");
}

/// `start web` starts its inactive dependencies (transitively), shows
/// WAITING with the unmet names meanwhile, and returns once web is RUNNING.
#[test]
fn start_brings_up_dependencies_first_and_shows_waiting() {
    let env = Env::new();
    let conf = prog("web", "/bin/sleep 300", "autostart=false\ndepends_on=db, cache")
        + &prog("db", "/bin/sleep 300", "autostart=false\nstartsecs=3\ndepends_on=disk")
        + &prog("disk", "/bin/sleep 300", "autostart=false\nstartsecs=0")
        + &prog("cache", "/bin/sleep 300", "autostart=false\nstartsecs=1");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let mut child = env.pman_spawn(&["start", "web"]);
    wait_until(secs(3.0), "web WAITING for both", || env.status_line("web") == "[web] WAITING for: db cache");
    let json = env.json_of("web");
    let names: Vec<&str> = json
        .get("waiting_for")
        .and_then(|v| v.as_array())
        .map_or(vec![], |a| a.iter().filter_map(|n| n.as_str()).collect());
    assert!(names == ["db", "cache"] || names == ["db"], "{json:?}");
    wait_until(secs(4.0), "only db left", || env.status_line("web") == "[web] WAITING for: db");
    let status = child.wait().expect("start");
    assert_eq!(status.code(), Some(0));
    for name in ["web", "db", "disk", "cache"] {
        env.running_pid(name);
    }
    assert!(env.json_of("db").get("waiting_for").and_then(|v| v.as_array()).is_some_and(|a| a.is_empty()));
}

/// `start` fails at once when an attempt of a dependency it waits on
/// failed, even one that will retry; its line is the WAITING one.
#[test]
fn start_fails_at_once_when_a_dependency_cannot_start() {
    let env = Env::new();
    let conf = prog("web", "/bin/sleep 300", "autostart=false\ndepends_on=db")
        + &prog("db", "/nonexistent/db", "autostart=false\nstartretries=5\nbackoff=10");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let since = std::time::Instant::now();
    let out = env.pman(&["start", "web"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stdout.trim(), "[web] WAITING for: db", "{out}");
    assert!(since.elapsed() < secs(8.0), "start waited for the retry");
    assert_eq!(env.state("db"), "BACKOFF");
    // stop of a WAITING program makes it STOPPED.
    let out = env.pman(&["stop", "web"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.status_line("web"), "[web] STOPPED");
}

/// A program depending on a FATAL config one stays WAITING, and `start` of
/// it fails at once.
#[test]
fn a_dependency_with_a_broken_section_keeps_waiting() {
    let env = Env::new();
    let conf = prog("web", "/bin/sleep 300", "depends_on=db") + "[program:db]\nstartsecs=x\n";
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    wait_until(secs(3.0), "web WAITING", || env.status_line("web") == "[web] WAITING for: db");
    assert!(env.state("db") == "FATAL");
    let out = env.pman(&["start", "web"]);
    assert_eq!((out.code, out.stdout.trim()), (1, "[web] WAITING for: db"), "{out}");
}

/// `start web` also starts what a WAITING dependency waits on: with base
/// stopped by hand and db WAITING for it, web, db and base all come up.
#[test]
fn start_reaches_dependencies_behind_a_waiting_one() {
    let env = Env::new();
    let conf = prog("base", "/bin/sleep 300", "startsecs=0")
        + &prog("db", "/bin/sleep 300", "startsecs=0\ndepends_on=base")
        + &prog("web", "/bin/sleep 300", "startsecs=0\ndepends_on=db");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    env.running_pid("web");
    assert_eq!(env.pman(&["stop", "web", "base"]).code, 0);
    kill(env.running_pid("db"), libc::SIGKILL);
    wait_until(secs(5.0), "db WAITING", || env.status_line("db") == "[db] WAITING for: base");
    let out = env.pman(&["start", "web"]);
    assert_eq!(out.code, 0, "{out}");
    for name in ["base", "db", "web"] {
        env.running_pid(name);
    }
}

/// `start` fails at once, too, when the dependency it waits on is itself
/// WAITING for a FATAL config program.
#[test]
fn start_fails_at_once_behind_a_dependency_waiting_on_a_broken_section() {
    let env = Env::new();
    let conf = prog("web", "/bin/sleep 300", "autostart=false\ndepends_on=db")
        + &prog("db", "/bin/sleep 300", "autostart=false\ndepends_on=x")
        + "[program:x]\nstartsecs=x\n";
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let since = std::time::Instant::now();
    let out = env.pman(&["start", "web"]);
    assert_eq!((out.code, out.stdout.trim()), (1, "[web] WAITING for: db"), "{out}");
    assert!(since.elapsed() < secs(5.0), "start waited");
    assert_eq!(env.status_line("db"), "[db] WAITING for: x");
}

/// A one-shot setup job (`startsecs=0`, `autorestart=false`) meets its
/// dependents by exiting with an expected code, not by running: web starts
/// only once setup has made its file; a job that exits 3 keeps its
/// dependent WAITING, and `start` of that one fails at once.
#[test]
fn a_one_shot_dependency_is_met_by_its_expected_exit() {
    let env = Env::new();
    let oneshot = "startsecs=0\nautorestart=false";
    let conf = prog("setup", "/bin/sh -c 'sleep 1; touch $DIR/made'", oneshot)
        + &prog("web", "/bin/sh -c 'test -f $DIR/made && exec sleep 300'", "startsecs=0\ndepends_on=setup")
        + &prog("bad", "/bin/sh -c 'exit 3'", oneshot)
        + &prog("api", "/bin/sleep 300", "depends_on=bad");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    env.running_pid("web");
    assert_eq!(env.status_line("setup"), "[setup] EXITED exit: 0");
    assert_eq!(env.json_of("web").get("restarts").and_then(|v| v.as_i64()), Some(0));
    wait_until(secs(5.0), "bad EXITED", || env.status_line("bad") == "[bad] EXITED exit: 3");
    assert_eq!(env.status_line("api"), "[api] WAITING for: bad");
    let out = env.pman(&["start", "api"]);
    assert_eq!(out.code, 1, "{out}");
}

/// Starts go dependencies first; stops dependents first, whatever the
/// priorities say; an automatic restart waits for a stopped dependency
/// without starting it.
#[test]
fn stops_go_dependents_first_and_restarts_wait_again() {
    let env = Env::new();
    let conf = prog("web", &order_script("web", "order"), "priority=1\nstartsecs=0\ndepends_on=db")
        + &prog("db", &order_script("db", "order"), "priority=999\nstartsecs=1");
    env.write_config(&conf);
    let _daemon = Daemon::start(&env);
    let web = env.running_pid("web");
    env.running_pid("db");
    let out = env.pman(&["stop", "all"]);
    assert_eq!(out.code, 0, "{out}");
    let order = env.read("order");
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines, ["start-db", "start-web", "stop-web", "stop-db"], "{order}");
    assert!(!pid_alive(web) || proc_state(web) == Some('Z'));

    let out = env.pman(&["start", "web"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.pman(&["stop", "db"]);
    assert_eq!(out.code, 0, "{out}");
    let web = env.running_pid("web");
    kill(web, libc::SIGKILL);
    wait_until(secs(5.0), "web WAITING again", || env.status_line("web") == "[web] WAITING for: db");
    std::thread::sleep(secs(1.0));
    assert_eq!(env.status_line("db"), "[db] STOPPED");
}
