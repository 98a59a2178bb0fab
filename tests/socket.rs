//! The control socket under bad clients: garbage, oversized and partial
//! lines, silent clients, too many clients, clients that vanish, and peers
//! of another uid (as root, with setpriv).

#[macro_use]
mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn config(env: &Env) {
    env.write_config(&config_text());
}

/// `pman status` from a well-behaved client still answers at once.
fn assert_status_answers(env: &Env) {
    let started = Instant::now();
    let out = env.pman(&["status", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(line_matches(out.stdout.trim_end(), "[a] RUNNING pid: {N} uptime: {T}"), "{out}");
    assert!(started.elapsed() < secs(3.0), "status took {:?}", started.elapsed());
}

/// The reply's `=N` exit code (last line).
fn reply_code(reply: &[u8]) -> Option<i32> {
    let text = String::from_utf8_lossy(reply);
    text.lines().last()?.strip_prefix('=')?.parse().ok()
}

#[test]
fn a_raw_request_follows_the_protocol() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    let mut raw = Raw::connect(&env.socket).expect("connect");
    raw.send(b"status a\n").expect("send");
    let (reply, eof) = raw.read_to_end(secs(3.0));
    assert!(eof, "the daemon keeps the connection open after the answer");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with(&format!(">[a] RUNNING pid: {pid} uptime: ")), "{text:?}");
    assert_eq!(reply_code(&reply), Some(0), "{text:?}");
}

#[test]
fn garbage_requests_get_an_error() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    for request in [&b"frobnicate\n"[..], b"\n", b"kill now\n", b"\x00\xff\xfe garbage \x01\n", b"start\n"] {
        let mut raw = Raw::connect(&env.socket).expect("connect");
        let _ = raw.send(request);
        let (reply, eof) = raw.read_to_end(secs(3.0));
        let text = String::from_utf8_lossy(&reply);
        assert!(eof, "{request:?}: connection not closed");
        assert!(text.lines().any(|l| l.starts_with('!')), "{request:?}: no error line: {text:?}");
        assert!(reply_code(&reply).is_some_and(|c| c != 0), "{request:?}: {text:?}");
        assert_status_answers(&env);
    }
}

#[test]
fn error_replies_show_control_characters_as_question_marks() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    let cases: [(&[u8], &str); 3] = [
        (b"\x1b[31mred\x07\n", "!pman: bad request: ?[31mred?"),
        (b"bogus\rinjected\n", "!pman: bad request: bogus?injected"),
        (b"signal \x1bX a\n", "!pman: bad signal: ?X"),
    ];
    for (request, expected) in cases {
        let mut raw = Raw::connect(&env.socket).expect("connect");
        let _ = raw.send(request);
        let (reply, _) = raw.read_to_end(secs(3.0));
        let text = String::from_utf8_lossy(&reply);
        assert!(text.lines().any(|l| l == expected), "{request:?}: {text:?}");
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{request:?}: {text:?}");
    }
    // The client's own usage error too.
    let out = env.pman(&["signal", "\x1b[2J", "a"]);
    assert_eq!((out.code, out.stderr.lines().next()), (2, Some("pman: signal: bad signal: ?[2J")), "{out}");
}

#[test]
fn an_oversized_request_is_refused_and_closed() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    for newline in [false, true] {
        let mut raw = Raw::connect(&env.socket).expect("connect");
        let mut request = b"status ".to_vec();
        request.resize(5000, b'a');
        if newline {
            request.push(b'\n');
        }
        let _ = raw.send(&request);
        let (reply, eof) = raw.read_to_end(secs(3.0));
        let text = String::from_utf8_lossy(&reply);
        assert!(eof, "newline={newline}: a >4 KiB request did not get the connection closed");
        assert!(text.lines().any(|l| l.starts_with('!')), "newline={newline}: no error line: {text:?}");
        assert!(!text.contains("=0"), "newline={newline}: oversized request succeeded: {text:?}");
        assert_status_answers(&env);
    }
}

#[test]
fn silent_and_partial_clients_do_not_block_others() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    let _silent = Raw::connect(&env.socket).expect("connect");
    let mut partial = Raw::connect(&env.socket).expect("connect");
    partial.send(b"sta").expect("send");
    // Sends a request and never reads the answer.
    let mut deaf = Raw::connect(&env.socket).expect("connect");
    deaf.send(b"status\n").expect("send");
    assert_status_answers(&env);
    assert_status_answers(&env);
}

#[test]
fn a_silent_client_is_dropped_after_10_seconds() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    let started = Instant::now();
    let mut silent = Raw::connect(&env.socket).expect("connect");
    let (_, eof) = silent.read_to_end(secs(14.0));
    let took = started.elapsed();
    assert!(eof, "a silent client was not dropped within 14 s");
    assert!(took >= Duration::from_secs(9), "dropped after {took:?}, SPEC says 10 s");
    assert_status_answers(&env);
}

#[test]
fn more_than_32_clients_get_daemon_busy() {
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    let holders: Vec<Raw> = (0..32).map(|_| Raw::connect(&env.socket).expect("connect")).collect();
    let mut extra = Raw::connect(&env.socket).expect("connect");
    let (reply, eof) = extra.read_to_end(secs(3.0));
    let text = String::from_utf8_lossy(&reply);
    assert!(eof, "the 33rd client was not answered and closed");
    assert!(text.contains("daemon busy"), "{text:?}");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("pman: daemon busy"), "{out}");
    drop(holders);
    wait_until(secs(3.0), "status answers once the slots are free", || env.pman(&["status"]).code == 0);
}

#[test]
fn vanishing_clients_do_not_hurt_the_daemon() {
    let env = Env::new();
    config(&env);
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    for i in 0..40 {
        let mut raw = Raw::connect(&env.socket).expect("connect");
        // Half ask and hang up before the answer (EPIPE for the daemon), half just hang up.
        if i % 2 == 0 {
            let _ = raw.send(b"status\n");
        }
        drop(raw);
    }
    // A follower that goes away.
    let mut follower = env.pman_spawn(&["log", "a", "-f"]);
    std::thread::sleep(Duration::from_millis(200));
    let _ = follower.kill();
    let _ = follower.wait();
    assert_status_answers(&env);
    assert_eq!(env.pman(&["pid"]).stdout.trim(), daemon.pid.to_string());
    assert_eq!(env.prog_pid("a"), Some(a));
}

/// `setpriv` prefix to run as nobody, or `None` when that is impossible.
fn as_nobody() -> Option<Command> {
    if !is_root() || !Path::new("/usr/bin/setpriv").exists() && !Path::new("/bin/setpriv").exists() {
        return None;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if let Some(r) = runner() {
        cmd.args(r.split_whitespace());
    }
    cmd.arg(bin());
    cmd.env_remove("PMAN_CONFIG");
    Some(cmd)
}

#[test]
fn another_uid_gets_permission_denied() {
    let Some(mut cmd) = as_nobody() else { skip!("needs root and setpriv") };
    let env = Env::new();
    config(&env);
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    // The binary must be reachable by nobody for the test to mean anything.
    let mut probe = as_nobody().expect("setpriv");
    probe.arg("--version");
    let probe = run_bounded(probe, secs(10.0));
    if probe.code != 0 {
        skip!("uid 65534 cannot run {}: {probe}", bin().display());
    }
    cmd.arg("-c").arg(&env.conf).args(["stop", "a"]);
    let out = run_bounded(cmd, secs(10.0));
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(out.stderr.trim_end(), "pman: permission denied", "{out}");
    assert_eq!(env.prog_pid("a"), Some(a), "a stop from another uid was obeyed");
    // metrics is a client like the others: the same line and exit code.
    let mut cmd = as_nobody().expect("setpriv");
    cmd.arg("-c").arg(&env.conf).arg("metrics");
    let out = run_bounded(cmd, secs(10.0));
    assert_eq!((out.code, out.stderr.as_str()), (4, "pman: permission denied\n"), "{out}");
    assert!(out.lines().contains(&"pman_up 0"), "{out}");
}

#[test]
fn a_socket_held_by_another_uid_is_reported() {
    let Some(mut probe) = as_nobody() else { skip!("needs root and setpriv") };
    probe.arg("--version");
    let probe = run_bounded(probe, secs(10.0));
    if probe.code != 0 {
        skip!("uid 65534 cannot run {}: {probe}", bin().display());
    }
    let env = Env::new();
    env.write_config("[program:a]\ncommand=/bin/sleep 300\nstartsecs=0\nstdout=none\nstderr=none\n");
    let mut daemon_cmd = as_nobody().expect("setpriv");
    daemon_cmd.arg("-c").arg(&env.conf).args(["daemon", "-f"]);
    daemon_cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    daemon_cmd.stderr(std::process::Stdio::null());
    let mut child = daemon_cmd.spawn().expect("spawn daemon as nobody");
    let pid = child.id() as i32;
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let reap = Reap(&mut child);
    // Ready when a raw connection succeeds.
    wait_until(secs(5.0), "nobody's daemon listening", || Raw::connect(&env.socket).is_ok());
    let want = format!("pman: {} is held by uid 65534 (pid {pid})", env.socket);
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.lines().any(|l| l == want), "want {want:?}: {out}");
    let out = env.pman(&["daemon", "-f"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.lines().any(|l| l == want), "daemon: want {want:?}: {out}");
    drop(reap);
}

fn rss_kib(pid: i32) -> u64 {
    read_file(format!("/proc/{pid}/status"))
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_follower_that_never_reads_blocks_nothing() {
    let env = Env::new();
    // 8 MB of output once the follower is attached.
    let flood = "/bin/sh -c 'while [ ! -e $DIR/go ]; do sleep 0.05; done; \
                 yes 0123456789012345678901234567890123456789 | head -c 8000000; \
                 echo done > $DIR/done; exec /bin/sleep 300'";
    env.write_config(&format!(
        "{}{}",
        config_text(),
        prog("flood", flood, "startsecs=0\nstdout_maxbytes=64KB")
    ));
    let daemon = Daemon::start(&env);
    env.running_pid("flood");
    let before = rss_kib(daemon.pid);
    // Its stdout pipe is never read: it stalls, then its socket fills.
    let mut follower = env.pman_spawn(&["log", "flood", "-f"]);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(env.path("go"), "").expect("go");
    let flowed = eventually(secs(10.0), || env.path("done").exists());
    let after = rss_kib(daemon.pid);
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(flowed, "the program's output stalled behind a follower that does not read");
    assert_status_answers(&env);
    assert!(after < before + 4096, "daemon RSS grew from {before} kB to {after} kB");
}

fn config_text() -> String {
    prog("a", "/bin/sleep 300", "startsecs=0")
}
