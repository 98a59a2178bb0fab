//! Nothing a program, a file or a peer does stops the loop: log targets
//! that cannot take output, names that are not names, huge requests,
//! descriptors running out, a launcher waiting on inherited descriptors,
//! a huge command line.

#[macro_use]
mod common;
mod reliability;

use common::*;
use reliability::*;
use std::time::Instant;

/// A `command` whose quoted path spans a continuation line puts a newline
/// into the exec reason: the status line stays one line.
#[test]
fn a_reason_with_a_newline_is_one_status_line() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("ok", "/bin/sleep 300", "startsecs=0"),
        prog("bad", "\"/no/such\n  program\" x", "startsecs=0\nbackoff=30\nbackoff_max=30")
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("ok");
    wait_until(secs(5.0), "bad fails its start", || env.state("bad") == "BACKOFF");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 3, "{out}");
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(line_matches(lines[0], "[ok] RUNNING pid: {N} uptime: {T}"), "{out}");
    assert!(
        line_matches(
            lines[1],
            "[bad] BACKOFF exit: 127 retry in: {N}s exec /no/such?program: No such file or directory"
        ),
        "{out}"
    );
    let reason = env.json_of("bad").get("reason").and_then(|r| r.as_str().map(str::to_string));
    assert_eq!(reason.as_deref(), Some("exec /no/such?program: No such file or directory"));
}

/// Names outside the NAME charset are nobody's: `no such program`, exit 2,
/// nothing done, and never split into other names.
#[test]
fn names_that_are_not_names_select_nothing() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("web", "/bin/sleep 300", "startsecs=0"),
        prog("db", "/bin/sleep 300", "startsecs=0")
    ));
    let _daemon = Daemon::start(&env);
    let web = env.running_pid("web");
    let db = env.running_pid("db");
    for (name, shown) in [("web db", "web db"), ("web\nkill", "web?kill"), ("", ""), ("web%20db", "web%20db")]
    {
        let out = env.pman(&["stop", name]);
        assert_eq!(out.code, 2, "stop {name:?}: {out}");
        assert_eq!(out.stderr, format!("pman: no such program: {shown}\n"), "stop {name:?}");
        assert_eq!(out.stdout, "");
    }
    let out = env.pman(&["status", ""]);
    assert_eq!((out.code, out.stderr.as_str(), out.stdout.as_str()), (2, "pman: no such program: \n", ""));
    let out = env.pman(&["status", "web", "web db"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.lines().len(), 1, "{out}");
    assert!(out.stdout.starts_with("[web] RUNNING"), "{out}");
    let out = env.pman(&["signal", "TERM", "db web"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!((env.prog_pid("web"), env.prog_pid("db")), (Some(web), Some(db)), "something was done");
    assert!(pid_alive(web) && pid_alive(db));
}

/// Peak RSS (VmHWM) of `pid` in KiB.
fn peak_rss_kb(pid: i32) -> u64 {
    let status = read_file(format!("/proc/{pid}/status"));
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    value.and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// 5,000 programs and a request naming `all` 1,020 times: answered at
/// once, and the daemon's memory does not grow with words × programs.
#[test]
fn a_request_repeating_all_costs_what_it_says() {
    let env = Env::new();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "[program:p{i}]\ncommand=/bin/true\nautostart=false\nstdout=none\nstderr=none\n"
        ));
    }
    env.write_config(&text);
    let daemon = Daemon::start(&env);
    env.pman(&["status"]);
    let before = peak_rss_kb(daemon.pid);
    let mut request = String::from("status");
    for _ in 0..1020 {
        request.push_str(" all");
    }
    request.push('\n');
    let started = Instant::now();
    let (reply, closed, code) = raw_request(&env.socket, request.as_bytes(), secs(20.0));
    let took = started.elapsed();
    assert!(closed, "no complete reply");
    assert_eq!(code, Some(3));
    assert_eq!(reply.lines().filter(|l| l.starts_with('>')).count(), 5000);
    let after = peak_rss_kb(daemon.pid);
    eprintln!("status + 1,020 x all over 5,000 programs: {took:?}, peak RSS {before} -> {after} KiB");
    // words x programs would be 5.1 M indices: 40 MB.
    assert!(after < before + 8 * 1024, "peak RSS {before} -> {after} KiB");
}
