//! Hostile clients and hostile input (issue 6, parts 2 and 6).
//!
//! Socket abuse: a thousand connections sending garbage, oversized lines,
//! partial lines, nothing at all, or never reading a reply far bigger than
//! the socket buffer; forty connections at once; silent clients held until
//! the daemon drops them. Throughout, a well-behaved `pman status` answers
//! within the liveness bound, and afterwards the daemon's descriptors are
//! exactly back and its RSS within 64 KiB of where it started.
//!
//! Security: peers of another uid are refused and hold no slot, writable
//! configs are refused as root, `command=` never meets a shell,
//! `environment=` stays with its program, pidfile and logs are not
//! group/world-writable, and the protocol has no verb that runs commands or
//! reads arbitrary files.

#[macro_use]
mod common;
mod reliability;

use common::*;
use reliability::*;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Programs in the big config: enough that `status --json` (a few hundred
/// KiB) cannot fit in the socket buffer of a client that never reads.
const BIG: usize = 200;
/// Length of each big program's name.
const NAME_LEN: usize = 1500;
/// RSS may differ by this much (KiB) before and after the abuse.
const RSS_SLACK_KB: u64 = 64;

fn big_name(i: usize) -> String {
    let mut name = format!("p{i:03}-");
    while name.len() < NAME_LEN {
        name.push_str("abcdefghij");
    }
    name.truncate(NAME_LEN);
    name
}

/// `a` (running) and BIG long-named programs that never start.
fn big_config(env: &Env) {
    let mut text = prog("a", "/bin/sleep 300", "startsecs=0");
    for i in 0..BIG {
        text.push_str(&format!(
            "[program:{}]\ncommand=/bin/true\nautostart=false\nstdout=none\nstderr=none\n",
            big_name(i)
        ));
    }
    env.write_config(&text);
}

/// A small deterministic generator for garbage bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` bytes, none of them a newline.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() & 0xff) as u8).map(|b| if b == b'\n' { b'#' } else { b }).collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Abuse {
    /// Connects and closes without a byte.
    Nothing,
    /// A line of random bytes (never a verb).
    Garbage,
    /// 5000 bytes with a newline at the end.
    LongLine,
    /// 5000 bytes and no newline.
    LongNoNewline,
    /// `stat` and hangs up.
    Partial,
    /// `status --json` and hangs up without reading the (huge) reply.
    Deaf,
    /// `status a` without a newline, then shuts down its sending side.
    HalfClose,
    /// A valid request one byte at a time.
    Dribble,
}

const KINDS: [Abuse; 8] = [
    Abuse::Nothing,
    Abuse::Garbage,
    Abuse::LongLine,
    Abuse::LongNoNewline,
    Abuse::Partial,
    Abuse::Deaf,
    Abuse::HalfClose,
    Abuse::Dribble,
];

/// One abusive connection; `Err` says what the daemon did wrong.
fn abuse(socket: &str, kind: Abuse, rng: &mut Rng) -> Result<(), String> {
    let mut raw = Raw::connect(socket).map_err(|e| format!("{kind:?}: connect: {e}"))?;
    let bound = secs(5.0);
    let expect_error = |raw: &mut Raw, what: &str| -> Result<(), String> {
        let (reply, eof) = raw.read_to_end(bound);
        let text = String::from_utf8_lossy(&reply);
        if !eof {
            return Err(format!("{kind:?}: connection not closed: {text:?}"));
        }
        if !text.lines().any(|l| l.starts_with('!') && l.contains(what)) {
            return Err(format!("{kind:?}: no `!...{what}` line: {text:?}"));
        }
        match reply_code(&reply) {
            Some(code) if code != 0 => Ok(()),
            _ => Err(format!("{kind:?}: no non-zero `=N`: {text:?}")),
        }
    };
    match kind {
        Abuse::Nothing => Ok(()),
        Abuse::Garbage => {
            let mut line = vec![0xff];
            let n = 1 + (rng.next() % 300) as usize;
            line.extend(rng.bytes(n));
            line.push(b'\n');
            let _ = raw.send(&line);
            expect_error(&mut raw, "pman: ")
        }
        Abuse::LongLine | Abuse::LongNoNewline => {
            let mut line = b"status ".to_vec();
            line.resize(5000, b'a');
            if matches!(kind, Abuse::LongLine) {
                line.push(b'\n');
            }
            let _ = raw.send(&line);
            expect_error(&mut raw, "longer than 4096")
        }
        Abuse::Partial => raw.send(b"stat").map_err(|e| format!("{kind:?}: send: {e}")),
        Abuse::Deaf => {
            let _ = raw.send(b"status --json\n");
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        }
        Abuse::HalfClose => {
            let _ = raw.send(b"status a");
            let _ = raw.stream.shutdown(std::net::Shutdown::Write);
            let (_, eof) = raw.read_to_end(bound);
            if eof {
                Ok(())
            } else {
                Err(format!("{kind:?}: a half-closed client was not closed"))
            }
        }
        Abuse::Dribble => {
            for b in b"status a\n" {
                let _ = raw.send(&[*b]);
                std::thread::sleep(Duration::from_millis(1));
            }
            let (reply, eof) = raw.read_to_end(bound);
            let text = String::from_utf8_lossy(&reply);
            if eof && reply_code(&reply) == Some(0) && text.starts_with(">[a] RUNNING pid: ") {
                Ok(())
            } else {
                Err(format!("{kind:?}: a slow valid request got {text:?} (eof {eof})"))
            }
        }
    }
}

/// Reads a whole `status --json` over the raw socket; its size in bytes.
fn full_json_len(socket: &str) -> usize {
    let (text, eof, code) = raw_request(socket, b"status --json\n", secs(10.0));
    assert!(eof && code == Some(3), "status --json: eof {eof} code {code:?}");
    text.len()
}

/// Waits until the daemon holds exactly `baseline` descriptors again.
fn assert_fds_back(pid: i32, baseline: &[String], what: &str) {
    let back = eventually(secs(5.0), || fd_count(pid) == baseline.len());
    assert!(back, "{what}: descriptors not back: before {baseline:?}\nafter {:?}", fds(pid));
}

fn assert_live(seen: &Seen, what: &str, busy_allowed: bool) {
    assert!(seen.asked > 0, "{what}: the monitor never asked");
    assert!(seen.bad.is_empty(), "{what}: well-behaved status failed: {seen:?}");
    assert!(busy_allowed || seen.busy == 0, "{what}: `daemon busy` with free slots: {seen:?}");
    assert!(seen.slowest < liveness(), "{what}: status took {:?} (bound {:?})", seen.slowest, liveness());
}

#[test]
fn a_thousand_abusive_clients_leave_no_trace() {
    let env = Env::new();
    big_config(&env);
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let json_len = full_json_len(&env.socket);
    let idle_fds = fds(daemon.pid);
    // Warm up: one client of each kind, so what the first use allocates
    // once (reply buffers, the allocator's arenas) is in the baseline.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for kind in KINDS {
        abuse(&env.socket, kind, &mut rng).unwrap_or_else(|e| panic!("warm-up: {e}"));
    }
    assert_fds_back(daemon.pid, &idle_fds, "warm-up");
    let rss_before = rss_kb(daemon.pid);

    let monitor = Monitor::start(&env, "a");
    let started = Instant::now();
    let threads = 8;
    let per_thread = 1000 / threads;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let socket = env.socket.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ ((t as u64 + 1) * 0x1000_0001));
                let mut errors = Vec::new();
                for i in 0..per_thread {
                    let kind = KINDS[(i + t) % KINDS.len()];
                    if let Err(e) = abuse(&socket, kind, &mut rng) {
                        errors.push(e);
                    }
                }
                errors
            })
        })
        .collect();
    let errors: Vec<String> = workers.into_iter().flat_map(|w| w.join().expect("abuser thread")).collect();
    let elapsed = started.elapsed();
    let seen = monitor.finish();
    assert_fds_back(daemon.pid, &idle_fds, "after 1000 abusive clients");
    let rss_after = rss_kb(daemon.pid);
    let fds_after = fd_count(daemon.pid);
    eprintln!(
        "abuse: {} connections ({} kinds) in {elapsed:.1?}; status --json {json_len} bytes; \
         monitor: {} asked, {} ok, slowest {:.0?}; RSS {rss_before} -> {rss_after} KiB; fds {} -> {fds_after}",
        threads * per_thread,
        KINDS.len(),
        seen.asked,
        seen.ok,
        seen.slowest,
        idle_fds.len(),
    );
    assert!(errors.is_empty(), "{} of 1000 abusive clients saw the daemon misbehave:\n{}", errors.len(), {
        errors.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    });
    assert_live(&seen, "1000 abusive clients", false);
    assert_eq!(env.prog_pid("a"), Some(a), "the supervised program changed under the abuse");
    if !under_qemu() {
        assert!(
            rss_after <= rss_before + RSS_SLACK_KB,
            "RSS grew from {rss_before} KiB to {rss_after} KiB after the abusive clients left"
        );
    }
}

#[test]
fn forty_connections_at_once_and_silent_partial_and_deaf_clients_are_dropped() {
    let env = Env::new();
    big_config(&env);
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let json_len = full_json_len(&env.socket);
    let idle_fds = fds(daemon.pid);
    let rss_before = rss_kb(daemon.pid);

    // One client connects 40 times at once: the first 32 get slots, the
    // rest are told `daemon busy` and closed.
    let conns: Vec<(Raw, Instant)> = (0..40)
        .map(|i| (Raw::connect(&env.socket).unwrap_or_else(|e| panic!("connect #{i}: {e}")), Instant::now()))
        .collect();
    let mut conns: Vec<(usize, Raw, Instant)> =
        conns.into_iter().enumerate().map(|(i, (r, t))| (i, r, t)).collect();
    let extra: Vec<(usize, Raw, Instant)> = conns.split_off(32);
    for (i, mut raw, _) in extra {
        let (reply, eof) = raw.read_to_end(secs(3.0));
        let text = String::from_utf8_lossy(&reply);
        assert!(eof, "connection #{i} beyond 32 was not closed: {text:?}");
        assert_eq!(text, "!pman: daemon busy\n=1\n", "connection #{i} beyond 32");
    }
    // All 32 slots are held: a well-behaved client is told so at once.
    let (out, took) = timed_status(&env.conf, "a");
    assert!(out.code == 1 && out.stderr == "pman: daemon busy\n", "{out}");
    assert!(took < liveness(), "`daemon busy` took {took:?}");
    let monitor = Monitor::start(&env, "a");

    // Of the 32: silent, partial line, deaf (asks for the huge status and
    // never reads), and valid (answered, which frees their slots).
    let mut waiters = Vec::new();
    for (i, mut raw, connected) in conns {
        match i % 4 {
            0 => {}
            1 => raw.send(b"status").expect("send partial"),
            2 => raw.send(b"status --json\n").expect("send deaf request"),
            _ => {
                raw.send(b"status a\n").expect("send");
                let (reply, eof) = raw.read_to_end(secs(5.0));
                let text = String::from_utf8_lossy(&reply);
                assert!(eof && reply_code(&reply) == Some(0), "valid request #{i} among 32: {text:?}");
                continue;
            }
        }
        let sent = Instant::now();
        waiters.push(std::thread::spawn(move || {
            if i % 4 == 2 {
                // Never reads until the daemon must have given up on it:
                // 10 s without progress after its reply stalled.
                let wake = sent + Duration::from_millis(12_500);
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
                let (reply, eof) = raw.read_to_end(secs(5.0));
                (i, reply.len(), eof, connected.elapsed(), reply_code(&reply))
            } else {
                let (reply, eof) = raw.read_to_end(secs(16.0));
                (i, reply.len(), eof, connected.elapsed(), reply_code(&reply))
            }
        }));
    }
    let results: Vec<_> = waiters.into_iter().map(|w| w.join().expect("waiter")).collect();
    let seen = monitor.finish();
    for &(i, len, eof, took, code) in &results {
        match i % 4 {
            0 | 1 => {
                let kind = if i % 4 == 0 { "silent" } else { "partial-line" };
                assert!(eof, "{kind} client #{i} not dropped within {took:?}");
                assert!(
                    took >= Duration::from_millis(9500) && took < secs(13.0),
                    "{kind} client #{i} dropped after {took:?}; SPEC: 10 s"
                );
                assert!(len == 0, "{kind} client #{i} got {len} bytes");
            }
            _ => {
                assert!(eof, "deaf client #{i}: reply not abandoned ({len} bytes read)");
                assert!(
                    len < json_len && code.is_none(),
                    "deaf client #{i}: got {len} of {json_len} bytes, code {code:?}: the reply was not abandoned"
                );
            }
        }
    }
    assert_fds_back(daemon.pid, &idle_fds, "after the 40 connections");
    let rss_after = rss_kb(daemon.pid);
    let deaf_got: Vec<usize> = results.iter().filter(|r| r.0 % 4 == 2).map(|r| r.1).collect();
    eprintln!(
        "40 at once: 8 busy, 8 valid answered, 8 silent + 8 partial dropped at ~{:.1?}, 8 deaf abandoned \
         after {deaf_got:?} of {json_len} bytes; monitor: {} asked, {} ok, {} busy, slowest {:.0?}; \
         RSS {rss_before} -> {rss_after} KiB; fds {} -> {}",
        results.iter().filter(|r| r.0 % 4 < 2).map(|r| r.3).max().unwrap_or_default(),
        seen.asked,
        seen.ok,
        seen.busy,
        seen.slowest,
        idle_fds.len(),
        fd_count(daemon.pid),
    );
    assert_live(&seen, "40 connections at once", true);
    assert!(seen.ok > 0, "status never answered normally once slots were free: {seen:?}");
    let (out, took) = timed_status(&env.conf, "a");
    assert!(out.code == 0 && took < liveness(), "after the slow clients: {out} in {took:?}");
    assert_eq!(env.prog_pid("a"), Some(a), "the supervised program changed");
    if !under_qemu() {
        assert!(
            rss_after <= rss_before + RSS_SLACK_KB,
            "RSS grew from {rss_before} KiB to {rss_after} KiB after the slow clients were dropped"
        );
    }
}

// ---------------------------------------------------------------- security

/// `setpriv` in front of a pman command, as uid/gid 65534 with no groups.
fn as_nobody(args: Vec<std::ffi::OsString>) -> std::process::Command {
    let inner = pman_command();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    cmd.arg(inner.get_program()).args(inner.get_args()).args(args);
    cmd.env_remove("PMAN_CONFIG");
    cmd
}

fn have_setpriv() -> bool {
    std::process::Command::new("setpriv")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Forks a child that becomes uid 65534, connects `n` times (the first
/// connection also asks `kill`), checks each answer is `permission denied`
/// with exit 4 and then keeps every connection open. Returns the child's
/// pid and how many answers were right.
fn hold_as_nobody(socket: &str, n: usize) -> (i32, usize) {
    let name = socket.strip_prefix('@').unwrap_or(socket).as_bytes();
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (i, b) in name.iter().enumerate() {
        addr.sun_path[i + 1] = *b as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
    let mut pipe = [0; 2];
    // SAFETY: pipe fills the array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child makes only async-signal-safe system calls on data
    // prepared before the fork, then _exits or is killed.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        unsafe {
            let gid: libc::gid_t = 65534;
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
            libc::syscall(libc::SYS_setresgid, gid, gid, gid);
            libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534);
            if libc::getuid() != 65534 {
                libc::_exit(3);
            }
            let mut right: u8 = 0;
            for i in 0..n {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                if fd < 0 || libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                    continue;
                }
                if i == 0 {
                    libc::send(fd, b"kill\n".as_ptr().cast(), 5, libc::MSG_NOSIGNAL);
                }
                let mut buf = [0u8; 256];
                let mut got = 0usize;
                loop {
                    let r = libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got);
                    if r <= 0 {
                        break;
                    }
                    got += r as usize;
                    if got == buf.len() {
                        break;
                    }
                }
                if &buf[..got] == b"!pman: permission denied\n=4\n" {
                    right += 1;
                }
                // The connection stays open: a refused peer must hold no slot.
            }
            libc::write(pipe[1], (&right as *const u8).cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    // SAFETY: closing our copy of the write end; reading one byte.
    unsafe { libc::close(pipe[1]) };
    let mut file = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(pipe[0]) };
    let mut byte = [0u8; 1];
    let got = file.read(&mut byte).unwrap_or(0);
    (pid, if got == 1 { byte[0] as usize } else { 0 })
}

/// `pman VERB` as uid 65534; `Ok(())` when refused as SPEC says.
fn refused_as_nobody(env: &Env, verb: &str) -> Result<(), Out> {
    let conf = env.conf.clone().into_os_string();
    let out = run_bounded(as_nobody(vec!["-c".into(), conf, verb.into()]), secs(10.0));
    if out.code == 4 && out.stderr == "pman: permission denied\n" && out.stdout.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

#[test]
fn peers_of_another_uid_are_refused_and_hold_no_slot() {
    if !is_root() {
        skip!("needs root to act as uid 65534");
    }
    if !have_setpriv() {
        skip!("no setpriv");
    }
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");

    for verb in ["status", "kill", "stop", "reload"] {
        let verb_args: Vec<&str> = if verb == "stop" { vec!["stop", "a"] } else { vec![verb] };
        let conf = env.conf.clone().into_os_string();
        let mut args: Vec<std::ffi::OsString> = vec!["-c".into(), conf];
        args.extend(verb_args.iter().map(|v| v.into()));
        let out = run_bounded(as_nobody(args), secs(10.0));
        assert_eq!(out.code, 4, "`pman {verb}` as uid 65534: {out}");
        assert_eq!(out.stderr, "pman: permission denied\n", "`pman {verb}` as uid 65534: {out}");
        assert!(out.stdout.is_empty(), "{out}");
    }

    // 40 connections of uid 65534 held open (the first also asks `kill`):
    // all refused with `=4`, none holds a slot.
    let (child, right) = hold_as_nobody(&env.socket, 40);
    let (out, took) = timed_status(&env.conf, "a");
    kill(child, libc::SIGKILL);
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    eprintln!("uid 65534: {right} of 40 connections refused with exit 4; status meanwhile in {took:?}");
    assert_eq!(right, 40, "not every connection of uid 65534 was answered `permission denied`, =4");
    assert_eq!(out.code, 0, "a root client while 40 refused peers stay connected: {out}");
    assert!(took < liveness(), "{took:?}");
    assert!(pid_alive(daemon.pid), "the daemon died");
    assert_eq!(env.prog_pid("a"), Some(a), "a was stopped or restarted by uid 65534");
}

/// The daemon answers a refused peer and closes at once, without reading
/// its request; the client must still print that answer, even when its
/// own write failed with EPIPE (it used to exit 1 `Broken pipe`).
#[test]
fn refused_clients_always_read_the_refusal() {
    if !is_root() {
        skip!("needs root to act as uid 65534");
    }
    if !have_setpriv() {
        skip!("no setpriv");
    }
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    let failures: Vec<Out> = (0..40).filter_map(|_| refused_as_nobody(&env, "status").err()).collect();
    // And `daemon busy` with all 32 slots held.
    let holders: Vec<Raw> = (0..32).map(|_| Raw::connect(&env.socket).expect("connect")).collect();
    let busy_failures: Vec<Out> = (0..40)
        .map(|_| env.pman(&["status"]))
        .filter(|out| !(out.code == 1 && out.stderr == "pman: daemon busy\n"))
        .collect();
    drop(holders);
    assert!(
        failures.is_empty() && busy_failures.is_empty(),
        "{} of 40 refused clients and {} of 40 busy clients did not print the daemon's answer; first: {}",
        failures.len(),
        busy_failures.len(),
        failures.first().or(busy_failures.first()).map(|o| o.to_string()).unwrap_or_default()
    );
}

#[test]
fn a_writable_or_foreign_config_is_refused_as_root() {
    if !is_root() {
        skip!("the rule applies to root only");
    }
    let env = Env::new();
    let inc = env.path("inc.conf");
    env.write_config(&format!(
        "[include]\nfiles={}\n{}",
        inc.display(),
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    fs::write(&inc, prog("b", "/bin/sleep 300", "startsecs=0").replace("$DIR", &env.dir_str())).unwrap();
    fs::set_permissions(&inc, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(env.pman(&["check"]).code, 0, "{}", env.pman(&["check"]));

    let conf = env.conf.clone();
    let cases: [(&std::path::Path, u32, Option<u32>, &str); 4] = [
        (&conf, 0o666, None, "world-writable main file"),
        (&conf, 0o664, None, "group-writable main file"),
        (&inc, 0o666, None, "world-writable included file"),
        (&conf, 0o644, Some(65534), "main file owned by uid 65534"),
    ];
    for (path, mode, owner, what) in cases {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        if let Some(uid) = owner {
            std::os::unix::fs::chown(path, Some(uid), None).unwrap();
        }
        let shown = path.display().to_string();
        let check = env.pman(&["check"]);
        assert_eq!(check.code, 2, "{what}: check\n{check}");
        assert!(check.stderr.contains(&shown), "{what}: check does not name {shown}\n{check}");
        if path == inc.as_path() {
            // An included file the rule refuses adds no programs; the rest boots.
            let daemon = Daemon::start(&env);
            assert!(daemon.stderr().contains(&shown), "{what}: {}", daemon.stderr());
            env.running_pid("a");
            assert_eq!(env.pman(&["status", "b"]).code, 2, "{what}: b is configured");
            assert_eq!(env.pman(&["kill"]).code, 0);
            fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
            continue;
        }
        let mut daemon = Daemon::spawn(&env);
        let code = daemon.wait_exit(secs(10.0));
        assert_eq!(code, Some(2), "{what}: daemon -f: {:?}\n{}", code, daemon.stderr());
        assert!(
            daemon.stderr().contains(&shown),
            "{what}: daemon does not name {shown}: {}",
            daemon.stderr()
        );
        assert_eq!(env.pman(&["pid"]).code, 1, "{what}: a daemon is listening");
        // Back to a sane file for the next case.
        std::os::unix::fs::chown(path, Some(0), None).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
}

#[test]
fn commands_never_go_through_a_shell() {
    let env = Env::new();
    let pwned = env.path("pwned");
    env.write_config(&format!(
        "{}{}",
        prog("lit", "/bin/echo $HOME;id", "startsecs=0\nautorestart=false"),
        prog(
            "meta",
            &format!("/bin/echo a && touch {p} | cat > {p} $(touch {p}) `touch {p}`", p = pwned.display()),
            "startsecs=0\nautorestart=false"
        ),
    ));
    let _daemon = Daemon::start(&env);
    env.wait_state("lit", "EXITED", secs(5.0));
    env.wait_state("meta", "EXITED", secs(5.0));
    wait_until(secs(3.0), "lit's output", || !env.read("lit.out").is_empty());
    assert_eq!(env.read("lit.out"), "$HOME;id\n", "the argument was not passed literally");
    wait_until(secs(3.0), "meta's output", || !env.read("meta.out").is_empty());
    let p = pwned.display();
    assert_eq!(env.read("meta.out"), format!("a && touch {p} | cat > {p} $(touch {p}) `touch {p}`\n"));
    assert!(!pwned.exists(), "shell syntax in command= ran something");
}

#[test]
fn environment_stays_with_its_program() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog(
            "a",
            "/usr/bin/env",
            "startsecs=0\nautorestart=false\npriority=1\nenvironment=PMAN_T_SECRET=alpha,PMAN_T_SHARED=\"from a\""
        ),
        prog("b", "/usr/bin/env", "startsecs=0\nautorestart=false\npriority=2\nenvironment=PMAN_T_SHARED=from-b"),
    ));
    let _daemon = Daemon::start(&env);
    for round in 1..=2 {
        env.wait_state("a", "EXITED", secs(5.0));
        env.wait_state("b", "EXITED", secs(5.0));
        wait_until(secs(3.0), "both outputs", || {
            env.read("a.out").matches("PMAN_PROCESS_NAME=").count() == round
                && env.read("b.out").matches("PMAN_PROCESS_NAME=").count() == round
        });
        let (a, b) = (env.read("a.out"), env.read("b.out"));
        assert!(a.contains("PMAN_T_SECRET=alpha\n") && a.contains("PMAN_T_SHARED=from a\n"), "{a}");
        assert!(!b.contains("PMAN_T_SECRET"), "a's environment leaked into b:\n{b}");
        assert!(b.contains("PMAN_T_SHARED=from-b\n") && !b.contains("from a"), "{b}");
        // Run them again, b right after a.
        let out = env.pman(&["start", "a", "b"]);
        assert!(out.code <= 1, "{out}");
    }
}

/// pidfile, the daemon log and its backup, a capped program log and its
/// backup, an uncapped program log: none group- or world-writable.
fn files_made_with_umask(umask: u32) -> Vec<(String, u32)> {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\npidfile=$DIR/pman.pid\nlogfile=$DIR/pman.log\nlogfile_maxbytes=1KB\nlogfile_backups=1\n{}{}",
        prog(
            "talk",
            "/bin/sh -c 'i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; exec sleep 300'",
            "startsecs=0\nstdout_maxbytes=1KB\nstdout_backups=1\nstderr_maxbytes=0"
        ),
        prog("flap", "/bin/false", "backoff=0\nbackoff_max=0\nstdout=none\nstderr=none"),
    ));
    let daemon = OwnDaemon::spawn(&env, Launch { umask: Some(umask), ..Launch::default() });
    wait_until(secs(5.0), "the daemon answers", || env.pman(&["pid"]).code == 0);
    env.running_pid("talk");
    wait_until(secs(5.0), "the daemon log rotates", || env.path("pman.log.1").exists());
    wait_until(secs(5.0), "talk's log rotates", || env.path("talk.out.1").exists());
    env.pman(&["stop", "flap"]);
    let names = ["pman.pid", "pman.log", "pman.log.1", "talk.out", "talk.out.1", "talk.err"];
    let modes = names
        .iter()
        .map(|n| {
            let meta = fs::metadata(env.path(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
            (n.to_string(), meta.permissions().mode() & 0o7777)
        })
        .collect();
    drop(daemon);
    modes
}

fn show_modes(modes: &[(String, u32)]) -> String {
    modes.iter().map(|(n, m)| format!("{n} {m:o}")).collect::<Vec<_>>().join(", ")
}

#[test]
fn pidfile_and_logs_are_not_group_or_world_writable() {
    let modes = files_made_with_umask(0o022);
    eprintln!("modes under umask 022: {}", show_modes(&modes));
    for (name, mode) in modes {
        assert_eq!(mode & 0o022, 0, "{name} has mode {mode:o}");
    }
}

/// (pman used to create the pidfile and program logs 0666 & ~umask.)
#[test]
fn pidfile_and_logs_are_not_writable_by_others_even_under_umask_000() {
    let modes = files_made_with_umask(0);
    eprintln!("modes under umask 000: {}", show_modes(&modes));
    let loose: Vec<_> = modes.iter().filter(|(_, m)| m & 0o022 != 0).cloned().collect();
    assert!(loose.is_empty(), "group/world-writable under umask 000: {}", show_modes(&loose));
}

#[test]
fn the_protocol_runs_nothing_and_reads_no_file() {
    let env = Env::new();
    let marker = env.path("ran");
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let m = marker.display().to_string();
    let requests = [
        "exec /bin/sh".to_string(),
        format!("exec /usr/bin/touch {m}"),
        format!("run /usr/bin/touch {m}"),
        format!("sh -c 'touch {m}'"),
        format!("system touch {m}"),
        "log /etc/shadow".to_string(),
        "log a".to_string(),
        "cat /etc/passwd".to_string(),
        "read /etc/passwd".to_string(),
        "logpath ../../etc/shadow stdout".to_string(),
        "logpath /etc/shadow stdout".to_string(),
        "logpath a /etc/shadow".to_string(),
        "logpath a ../../etc/shadow".to_string(),
        format!("status a; touch {m}"),
        format!("status $(touch {m})"),
        format!("start `touch {m}`"),
        "include /etc/shadow".to_string(),
        "config /etc/shadow".to_string(),
        "reload /etc/shadow".to_string(),
        "pid a /etc/passwd".to_string(),
        format!("signal TERM a; touch {m}"),
    ];
    let mut summary = Vec::new();
    for request in &requests {
        let (text, eof, code) = raw_request(&env.socket, format!("{request}\n").as_bytes(), secs(5.0));
        assert!(eof, "{request:?}: not closed: {text:?}");
        assert!(code.is_some_and(|c| c != 0), "{request:?} was accepted: {text:?}");
        assert!(text.lines().any(|l| l.starts_with('!')), "{request:?}: no error line: {text:?}");
        assert!(!text.contains("root:"), "{request:?} returned file contents: {text:?}");
        assert!(!text.lines().any(|l| l.starts_with('>')), "{request:?} printed something: {text:?}");
        summary.push(format!("{request:?} -> ={}", code.unwrap_or(-1)));
    }
    // logpath answers only with the configured path of a program's log.
    let (text, _, code) = raw_request(&env.socket, b"logpath a stdout\n", secs(5.0));
    assert_eq!((text.as_str(), code), (format!(">{}\n=0\n", env.path("a.out").display()).as_str(), Some(0)));
    let (text, _, code) = raw_request(&env.socket, b"logpath a stderr\n", secs(5.0));
    assert_eq!((text.as_str(), code), (format!(">{}\n=0\n", env.path("a.err").display()).as_str(), Some(0)));
    eprintln!("refused: {}", summary.join(", "));
    assert!(!marker.exists(), "a request ran a command");
    assert!(pid_alive(daemon.pid));
    assert_eq!(env.prog_pid("a"), Some(a));
    // Nothing odd was left behind either.
    let mut raw = Raw::connect(&env.socket).unwrap();
    raw.stream.write_all(b"status a\n").unwrap();
    let (reply, _) = raw.read_to_end(secs(5.0));
    assert_eq!(reply_code(&reply), Some(0));
}
