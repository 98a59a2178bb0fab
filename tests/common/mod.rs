//! Harness for pman's black-box tests: a temp dir and a private abstract
//! socket per test, a `Daemon` guard that owns a foreground `pman daemon -f`,
//! helpers to run the client, poll for conditions and read `/proc`.
//!
//! `PMAN_BIN` overrides the binary; `PMAN_RUNNER` (e.g. `qemu-mipsel-static`)
//! is put in front of every pman invocation.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod json;

/// Prints `SKIP <test>: <reason>` and returns from the test.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        eprintln!("SKIP {}: {}", $crate::common::test_name(), format!($($arg)*));
        return;
    }};
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current().name().unwrap_or("test").to_string()
}

pub fn bin() -> PathBuf {
    match std::env::var_os("PMAN_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_pman")),
    }
}

pub fn runner() -> Option<String> {
    std::env::var("PMAN_RUNNER").ok().filter(|r| !r.trim().is_empty())
}

/// True when pman runs under an emulator (qemu-user): no subreaper, slower.
pub fn under_qemu() -> bool {
    runner().is_some()
}

pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Time bounds are liveness bounds; emulation makes everything slower.
pub fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(if under_qemu() { n * 4.0 } else { n })
}

/// A `Command` running pman (through `PMAN_RUNNER` when set), with a clean
/// `PMAN_CONFIG`.
pub fn pman_command() -> Command {
    let mut cmd = match runner() {
        Some(r) => {
            let mut words = r.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap_or("true"));
            cmd.args(words);
            cmd.arg(bin());
            cmd
        }
        None => Command::new(bin()),
    };
    cmd.env_remove("PMAN_CONFIG");
    cmd
}

/// What a client run printed.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout:\n{}--- stderr:\n{}---", self.code, self.stdout, self.stderr)
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(code) => code,
        None => 128 + status.signal().unwrap_or(0),
    }
}

/// Runs `cmd` to completion, killing it (and failing the test) after a
/// generous bound so a hung client cannot hang the suite.
pub fn run_bounded(mut cmd: Command, bound: Duration) -> Out {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if start.elapsed() > bound {
                    timed_out.store(true, Ordering::SeqCst);
                    // SAFETY: plain kill(2) of our own unreaped child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let output = child.wait_with_output().expect("wait for client");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let out = Out {
        code: exit_code(output.status),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!timed_out.load(Ordering::SeqCst), "{cmd:?} did not finish within {bound:?}\n{out}");
    out
}

/// Runs pman with exactly these arguments (no `-c` added).
pub fn pman_args(args: &[&str]) -> Out {
    let mut cmd = pman_command();
    cmd.args(args);
    run_bounded(cmd, secs(30.0))
}

/// Polls `cond` every 20 ms until it holds or `bound` passes.
pub fn eventually(bound: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like [`eventually`], but fails the test with `what` on time-out.
pub fn wait_until(bound: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(eventually(bound, cond), "timed out after {bound:?} waiting for: {what}");
}

/// The one-letter state from /proc/PID/stat, if the process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// Parent pid from /proc/PID/stat.
pub fn proc_ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// True when the process exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// Pids of the zombie children of `parent`.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    let mut zombies = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else { return zombies };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if proc_ppid(pid) == Some(parent) && proc_state(pid) == Some('Z') {
            zombies.push(pid);
        }
    }
    zombies
}

/// `voluntary_ctxt_switches` of a process: unchanged while it sleeps.
pub fn voluntary_switches(pid: i32) -> Option<String> {
    let status = read_file(format!("/proc/{pid}/status"));
    status.lines().find_map(|l| l.strip_prefix("voluntary_ctxt_switches:")).map(|v| v.trim().to_string())
}

pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: plain kill(2).
    pid > 0 && unsafe { libc::kill(pid, sig) } == 0
}

pub fn read_file(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref()).unwrap_or_default()
}

/// `[NAME] RUNNING pid: N uptime: HH:MM:SS`-style matching: `{N}` is a
/// number, `{T}` an uptime (`HH:MM:SS` or `D-HH:MM:SS`), `{*}` (last only)
/// anything; everything else is literal.
pub fn line_matches(line: &str, pattern: &str) -> bool {
    let mut rest = line;
    let mut pat = pattern;
    while !pat.is_empty() {
        if let Some(p) = pat.strip_prefix("{*}") {
            assert!(p.is_empty(), "{{*}} only at the end of a pattern");
            return true;
        } else if let Some(p) = pat.strip_prefix("{N}") {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &rest[n..];
            pat = p;
        } else if let Some(p) = pat.strip_prefix("{T}") {
            match uptime_len(rest) {
                Some(n) => rest = &rest[n..],
                None => return false,
            }
            pat = p;
        } else {
            let c = pat.chars().next().unwrap_or_default();
            if !rest.starts_with(c) {
                return false;
            }
            rest = &rest[c.len_utf8()..];
            pat = &pat[c.len_utf8()..];
        }
    }
    rest.is_empty()
}

fn uptime_len(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut at = 0;
    let days = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if days > 0 && b.get(days) == Some(&b'-') {
        at = days + 1;
    }
    let hms = &b.get(at..at + 8)?;
    let ok =
        hms.iter().enumerate().all(|(i, c)| if i == 2 || i == 5 { *c == b':' } else { c.is_ascii_digit() });
    ok.then_some(at + 8)
}

/// Seconds of an uptime `HH:MM:SS` / `D-HH:MM:SS`.
pub fn uptime_secs(text: &str) -> u64 {
    let (days, hms) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().unwrap_or(0), rest),
        None => (0, text),
    };
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap_or(0)).collect();
    days * 86400 + parts.iter().fold(0, |acc, p| acc * 60 + p)
}

/// The value after `key: ` in a status line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}: "))? + key.len() + 3;
    line[at..].split_whitespace().next()
}

/// A program section: stdout/stderr go to `$DIR/NAME.out` / `$DIR/NAME.err`,
/// `extra` lines are appended as written.
pub fn prog(name: &str, command: &str, extra: &str) -> String {
    format!("[program:{name}]\ncommand={command}\nstdout=$DIR/{name}.out\nstderr=$DIR/{name}.err\n{extra}\n")
}

/// One test's world: a temp dir, a config file and a private socket.
pub struct Env {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub socket: String,
    /// Program pids learnt during the test; SIGKILLed (with their group) on drop.
    tracked: RefCell<Vec<i32>>,
}

impl Env {
    pub fn new() -> Env {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name: String = test_name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let dir = std::env::temp_dir().join(format!("pman-t-{pid}-{n}-{name}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create test dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        let conf = dir.join("pman.conf");
        Env { dir, conf, socket: format!("@pman-t-{pid}-{n}"), tracked: RefCell::new(Vec::new()) }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn dir_str(&self) -> String {
        self.dir.display().to_string()
    }

    /// The text with `$DIR` replaced and this test's socket set in `[pman]`
    /// (a `[pman]` section is added in front when the text has none).
    pub fn render(&self, text: &str) -> String {
        let text = text.replace("$DIR", &self.dir_str());
        let socket_line = format!("socket={}", self.socket);
        if text.lines().any(|l| l.trim() == "[pman]") {
            let mut out = String::new();
            for line in text.lines() {
                out.push_str(line);
                out.push('\n');
                if line.trim() == "[pman]" {
                    out.push_str(&socket_line);
                    out.push('\n');
                }
            }
            out
        } else {
            format!("[pman]\n{socket_line}\n{text}")
        }
    }

    /// Writes the config (see [`Env::render`]) with mode 0644, as a root
    /// daemon requires.
    pub fn write_config(&self, text: &str) {
        self.write_config_at(&self.conf, text);
    }

    pub fn write_config_at(&self, path: &Path, text: &str) {
        fs::write(path, self.render(text)).expect("write config");
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod config");
    }

    /// `pman -c CONF ARGS...`
    pub fn pman(&self, args: &[&str]) -> Out {
        let mut cmd = pman_command();
        cmd.arg("-c").arg(&self.conf).args(args);
        run_bounded(cmd, secs(30.0))
    }

    /// `pman -c CONF ARGS...` in the background, output to pipes.
    pub fn pman_spawn(&self, args: &[&str]) -> Child {
        let mut cmd = pman_command();
        cmd.arg("-c").arg(&self.conf).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn pman")
    }

    pub fn status_line(&self, name: &str) -> String {
        let out = self.pman(&["status", name]);
        out.stdout.lines().next().unwrap_or_default().to_string()
    }

    /// The state word of `name` (`RUNNING`, `STOPPED`...), or "" if none.
    pub fn state(&self, name: &str) -> String {
        self.status_line(name).split_whitespace().nth(1).unwrap_or_default().to_string()
    }

    /// Waits until `name` is in `state`; returns its status line.
    pub fn wait_state(&self, name: &str, state: &str, bound: Duration) -> String {
        let mut last = String::new();
        let ok = eventually(bound, || {
            last = self.status_line(name);
            last.split_whitespace().nth(1) == Some(state)
        });
        assert!(ok, "{name} not {state} within {bound:?}; last status: {last:?}");
        last
    }

    /// `pman pid NAME`, or `None` when it has no process. Tracked for cleanup.
    pub fn prog_pid(&self, name: &str) -> Option<i32> {
        let out = self.pman(&["pid", name]);
        if out.code != 0 {
            return None;
        }
        let pid = out.stdout.trim().parse().ok()?;
        self.track(pid);
        Some(pid)
    }

    /// Waits for `name` to be RUNNING and returns its pid.
    pub fn running_pid(&self, name: &str) -> i32 {
        let line = self.wait_state(name, "RUNNING", secs(5.0));
        let pid =
            field(&line, "pid").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no pid in {line:?}"));
        self.track(pid);
        pid
    }

    pub fn track(&self, pid: i32) {
        self.tracked.borrow_mut().push(pid);
    }

    /// `status --json` parsed; the entry of `name`.
    pub fn json_of(&self, name: &str) -> json::Json {
        let out = self.pman(&["status", "--json", name]);
        let value = json::Json::parse(&out.stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{out}"));
        let items = value.as_array().unwrap_or_else(|| panic!("not an array:\n{out}"));
        items
            .iter()
            .find(|item| item.get("name").and_then(|n| n.as_str()) == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    }

    pub fn read(&self, rel: &str) -> String {
        read_file(self.path(rel))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for &pid in self.tracked.borrow().iter() {
            if pid_alive(pid) {
                // The program runs in its own session: take its group too.
                kill(-pid, libc::SIGKILL);
                kill(pid, libc::SIGKILL);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A `pman daemon -f -c CONF` owned by the test. Stops it on drop (SIGTERM,
/// then SIGKILL after ~5 s).
pub struct Daemon {
    child: Option<Child>,
    pub pid: i32,
    status: Option<ExitStatus>,
    stderr_path: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits until `pman pid` answers.
    pub fn start(env: &Env) -> Daemon {
        Daemon::start_with(env, &[])
    }

    /// Same, with extra environment variables for the daemon.
    pub fn start_with(env: &Env, vars: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::spawn_with(env, vars);
        let ready = eventually(secs(5.0), || {
            if daemon.exited().is_some() {
                return true;
            }
            env.pman(&["pid"]).code == 0
        });
        if let Some(status) = daemon.exited() {
            panic!("pman daemon -f exited early with {status:?}; stderr:\n{}", daemon.stderr());
        }
        assert!(ready, "pman daemon -f not answering `pman pid` within 5 s; stderr:\n{}", daemon.stderr());
        daemon
    }

    /// Spawns `pman daemon -f -c CONF` without waiting for anything.
    pub fn spawn(env: &Env) -> Daemon {
        Daemon::spawn_with(env, &[])
    }

    pub fn spawn_with(env: &Env, vars: &[(&str, &str)]) -> Daemon {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let stderr_path = env.path(&format!("daemon-{n}.stderr"));
        let stderr = fs::File::create(&stderr_path).expect("daemon stderr file");
        let mut cmd = pman_command();
        cmd.args(["daemon", "-f", "-c"]).arg(&env.conf);
        cmd.envs(vars.iter().copied());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // Its own process group, so a terminal's ^C does not reach it twice.
        cmd.process_group(0);
        let child = cmd.spawn().expect("spawn pman daemon -f");
        let pid = child.id() as i32;
        Daemon { child: Some(child), pid, status: None, stderr_path }
    }

    /// What the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_file(&self.stderr_path)
    }

    /// The exit status, if the daemon has exited (reaps it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(child) = self.child.as_mut() {
                self.status = child.try_wait().ok().flatten();
            }
        }
        self.status
    }

    /// Waits up to `bound` for the daemon to exit; its exit code.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<i32> {
        let mut status = None;
        eventually(bound, || {
            status = self.exited();
            status.is_some()
        });
        status.map(exit_code)
    }

    pub fn signal(&self, sig: i32) {
        if self.status.is_none() {
            kill(self.pid, sig);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        kill(self.pid, libc::SIGTERM);
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            kill(self.pid, libc::SIGKILL);
            if let Some(child) = self.child.as_mut() {
                let _ = child.wait();
            }
        }
    }
}

/// A raw connection to a daemon's abstract socket.
pub struct Raw {
    pub stream: std::os::unix::net::UnixStream,
}

impl Raw {
    pub fn connect(socket: &str) -> std::io::Result<Raw> {
        use std::os::linux::net::SocketAddrExt;
        let name = socket.strip_prefix('@').unwrap_or(socket);
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        Ok(Raw { stream })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until EOF or `bound`; `(bytes, saw_eof)`.
    pub fn read_to_end(&mut self, bound: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + bound;
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (data, false);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return (data, true),
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // ECONNRESET counts as closed.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (data, true),
                Err(_) => return (data, false),
            }
        }
    }
}

/// A listener on an abstract name, standing in for a daemon.
pub fn fake_daemon(socket: &str) -> std::os::unix::net::UnixListener {
    use std::os::linux::net::SocketAddrExt;
    let name = socket.strip_prefix('@').unwrap_or(socket);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract addr");
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind fake daemon");
    listener.set_nonblocking(true).expect("nonblocking");
    listener
}

/// Appends to `$DIR/FILE` a line on start; on SIGTERM appends `stop-NAME`
/// and exits. Loops on short sleeps so the trap runs promptly.
pub fn order_script(name: &str, file: &str) -> String {
    format!(
        "/bin/sh -c 'echo start-{name} >> $DIR/{file}; trap \"echo stop-{name} >> $DIR/{file}; exit 0\" TERM; \
         while :; do sleep 0.05; done'"
    )
}
