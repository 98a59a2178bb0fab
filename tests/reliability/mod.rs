//! Helpers for the reliability suites (`hostile.rs`, `faults.rs`,
//! `soak.rs`): the daemon's footprint from `/proc` (RSS, descriptors, CPU
//! time, children), raw protocol requests, a liveness monitor that keeps
//! asking `pman status` from a well-behaved client, and daemons or clients
//! run under another uid or with lowered limits.
//!
//! Built on `tests/common` (the shared harness), which it uses as it is.
#![allow(dead_code)]

use crate::common::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// VmRSS of `pid` in KiB (0 when unreadable).
pub fn rss_kb(pid: i32) -> u64 {
    let status = read_file(format!("/proc/{pid}/status"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What `pid`'s descriptors point at, sorted (`/proc/PID/fd`).
pub fn fds(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            let target = fs::read_link(entry.path()).map(|p| p.display().to_string()).unwrap_or_default();
            out.push(format!("{}->{}", entry.file_name().to_string_lossy(), target));
        }
    }
    out.sort();
    out
}

/// What the daemon's descriptors point at, sorted, without their numbers
/// (a rotated log is reopened on whatever number is free).
pub fn fd_targets(pid: i32) -> Vec<String> {
    let mut out: Vec<String> =
        fds(pid).into_iter().map(|f| f.split_once("->").map_or(f.clone(), |(_, t)| t.to_string())).collect();
    out.sort();
    out
}

pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = read_file(format!("/proc/{pid}/stat"));
    let Some(close) = stat.rfind(')') else { return 0 };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3 (index 0), utime 14 (index 11), stime 15 (index 12).
    let get = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// Clock ticks per second.
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// Pids whose parent is `parent` (any state).
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) {
                if proc_ppid(pid) == Some(parent) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Zombies of `parent` that stay zombies for `gap`: a child that has just
/// exited is a zombie until the daemon's next loop turn; one that is still
/// there `gap` later was never reaped.
pub fn lasting_zombies(parent: i32, gap: Duration) -> Vec<i32> {
    let first = zombie_children(parent);
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(gap);
    let second = zombie_children(parent);
    first.into_iter().filter(|p| second.contains(p)).collect()
}

/// The reply's `=N` exit code (its last line).
pub fn reply_code(reply: &[u8]) -> Option<i32> {
    let text = String::from_utf8_lossy(reply);
    text.lines().last()?.strip_prefix('=')?.parse().ok()
}

/// Sends `request` on a fresh connection and reads the whole reply.
/// `(reply text, closed by the daemon, exit code)`.
pub fn raw_request(socket: &str, request: &[u8], bound: Duration) -> (String, bool, Option<i32>) {
    let mut raw = Raw::connect(socket).expect("connect to the daemon");
    let _ = raw.send(request);
    let (reply, eof) = raw.read_to_end(bound);
    let code = reply_code(&reply);
    (String::from_utf8_lossy(&reply).into_owned(), eof, code)
}

/// One `pman status NAME` by a well-behaved client, timed.
pub fn timed_status(conf: &std::path::Path, name: &str) -> (Out, Duration) {
    let mut cmd = pman_command();
    cmd.arg("-c").arg(conf).args(["status", name]);
    let started = Instant::now();
    let out = run_bounded(cmd, secs(30.0));
    (out, started.elapsed())
}

/// The liveness bound for one `pman status` of a well-behaved client.
pub fn liveness() -> Duration {
    secs(1.0)
}

/// What a [`Monitor`] saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub asked: usize,
    pub ok: usize,
    /// Answered `pman: daemon busy` (all 32 slots held).
    pub busy: usize,
    /// Anything else: (exit code, stderr), at most a few kept.
    pub bad: Vec<(i32, String)>,
    pub slowest: Duration,
}

/// A well-behaved client asking `pman status NAME` over and over in a
/// thread until stopped.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    handle: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn start(env: &Env, name: &str) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let conf = env.conf.clone();
        let name = name.to_string();
        let handle = {
            let stop = stop.clone();
            let seen = seen.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let (out, took) = timed_status(&conf, &name);
                    let mut s = seen.lock().unwrap();
                    s.asked += 1;
                    s.slowest = s.slowest.max(took);
                    if out.code == 0 {
                        s.ok += 1;
                    } else if out.code == 1 && out.stderr.contains("pman: daemon busy") {
                        s.busy += 1;
                    } else if s.bad.len() < 5 {
                        s.bad.push((out.code, out.stderr.clone()));
                    } else {
                        s.bad.push((out.code, String::new()));
                    }
                    drop(s);
                    std::thread::sleep(Duration::from_millis(25));
                }
            })
        };
        Monitor { stop, seen, handle: Some(handle) }
    }

    /// What was seen so far (and resets it).
    pub fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.take()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A uid (and gid) no account and no other test uses, for daemons and
/// clients run as "someone else" (it needs no passwd entry).
pub const ODD_UID: u32 = 47_113;

/// A `pman -c CONF ARGS...` command run as `uid:gid` (root only).
pub fn pman_as(env: &Env, uid: u32, args: &[&str]) -> Out {
    let mut cmd = pman_command();
    cmd.arg("-c").arg(&env.conf).args(args);
    cmd.uid(uid).gid(uid);
    run_bounded(cmd, secs(30.0))
}

/// A `pman daemon -f` the test spawned itself (as another uid, with a
/// umask or lowered limits); SIGTERM then SIGKILL by pid on drop.
pub struct OwnDaemon {
    pub child: Child,
    pub pid: i32,
    pub stderr_path: PathBuf,
    reaped: bool,
}

/// How to start an [`OwnDaemon`].
#[derive(Default, Clone, Copy)]
pub struct Launch {
    pub uid: Option<u32>,
    pub umask: Option<u32>,
    /// (resource, soft limit) set before exec; the hard limit stays.
    pub rlimit: Option<(i64, u64)>,
}

impl OwnDaemon {
    pub fn spawn(env: &Env, launch: Launch) -> OwnDaemon {
        let stderr_path = env.path(&format!("own-daemon-{}.stderr", std::process::id()));
        let stderr = fs::File::create(&stderr_path).expect("daemon stderr file");
        let mut cmd = pman_command();
        cmd.args(["daemon", "-f", "-c"]).arg(&env.conf);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        cmd.process_group(0);
        if let Some(uid) = launch.uid {
            cmd.uid(uid).gid(uid);
        }
        let (umask, rlimit) = (launch.umask, launch.rlimit);
        // SAFETY: only async-signal-safe calls (umask, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(mask) = umask {
                    libc::umask(mask as libc::mode_t);
                }
                if let Some((resource, soft)) = rlimit {
                    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    if libc::getrlimit(resource as _, &mut lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    lim.rlim_cur = soft.min(lim.rlim_max);
                    if libc::setrlimit(resource as _, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn pman daemon -f");
        let pid = child.id() as i32;
        OwnDaemon { child, pid, stderr_path, reaped: false }
    }

    pub fn stderr(&self) -> String {
        read_file(&self.stderr_path)
    }

    /// The exit code once it has exited (reaps it).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<i32> {
        let mut code = None;
        eventually(bound, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                code = Some(status.code().unwrap_or(128 + status.signal().unwrap_or(0)));
            }
            code.is_some()
        });
        if code.is_some() {
            self.reaped = true;
        }
        code
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        if self.reaped || matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        kill(self.pid, libc::SIGTERM);
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            kill(self.pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Sets the soft limit of a resource of another process of our uid
/// (`prlimit(2)`); returns the old (soft, hard) limits.
pub fn set_soft_limit(pid: i32, resource: i64, soft: u64) -> std::io::Result<(u64, u64)> {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: prlimit with no new limit only fills `old`.
    if unsafe { libc::prlimit(pid, resource as _, std::ptr::null(), &mut old) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let new = libc::rlimit { rlim_cur: soft.min(old.rlim_max), rlim_max: old.rlim_max };
    // SAFETY: prlimit reads `new`.
    if unsafe { libc::prlimit(pid, resource as _, &new, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((old.rlim_cur, old.rlim_max))
}

/// The last lines of a daemon log, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
