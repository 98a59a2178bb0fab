//! Turning a [`ProgramConfig`] into a running process. argv and envp are
//! laid out in one scratch buffer that the daemon reuses for every spawn,
//! so a program costs no memory beyond its config while it runs, a restart
//! allocates nothing once the buffers have grown, and the child (which
//! must not allocate) only reads prepared data.

use super::status::one_line;
use crate::config::{rlimit_name, Argv, LogTarget, ProgramConfig, Ready};
use crate::sys::{self, ChildPlan, Pid, Stage};
use crate::text::Part::{Bytes, Str};
use crate::text::{concat, Text};
use crate::users::{self, User};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The scratch buffers are kept between spawns up to this size.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Why no process could be made.
pub enum SpawnError {
    /// A failed start (retried with backoff): fork failed, unknown user…
    Failed(String),
    /// Can never work with this config: FATAL at once.
    Refused(String),
}

/// What lookups found for one program, kept across its restarts.
#[derive(Default)]
pub struct Resolved {
    /// The executable found along PATH (or the command as written, with a `/`).
    path: Option<CString>,
    /// Boxed: most programs have no `user`, and every program has a slot.
    user: Option<Box<User>>,
}

/// What every spawn needs, and the buffers it reuses.
pub struct Context {
    /// The daemon's environment at start, as `KEY=value`.
    environment: Vec<&'static CStr>,
    pub daemon_uid: u32,
    /// The stream (`stdout`, `stderr`) of the last spawn that went to
    /// /dev/null because its FIFO had no reader.
    pub no_reader: Option<&'static str>,
    pub daemon_pid: Pid,
    devnull: OwnedFd,
    /// NUL-terminated strings of the spawn being prepared.
    scratch: Vec<u8>,
    /// Where each string starts in `scratch`.
    offsets: Vec<usize>,
    /// argv, NULL, envp, NULL.
    pointers: Vec<*const libc::c_char>,
}

/// How a stream reaches the child.
enum Output<'a> {
    DevNull,
    /// Uncapped: the child appends to the file itself.
    File(&'a [u8]),
    /// Through the daemon's pipe (capped file or syslog).
    Captured(Option<RawFd>),
}

fn output(target: &LogTarget, maxbytes: u64, pipe: Option<RawFd>) -> Output<'_> {
    match target {
        LogTarget::File(path) if maxbytes == 0 => Output::File(path),
        LogTarget::File(_) | LogTarget::Syslog => Output::Captured(pipe),
        LogTarget::None => Output::DevNull,
    }
}

impl Context {
    pub fn new(daemon_uid: u32, daemon_pid: Pid, devnull: OwnedFd) -> Context {
        let environment = sys::environ();
        Context {
            environment,
            daemon_uid,
            no_reader: None,
            daemon_pid,
            devnull,
            scratch: Vec::new(),
            offsets: Vec::new(),
            pointers: Vec::new(),
        }
    }

    /// Forks and execs `cfg`; `captured` are the write ends of the daemon's
    /// pipes for stdout and stderr. `Ok((pid, Some(reason)))`: a process was
    /// made but its setup or exec failed; its exit (127) follows.
    pub fn spawn(
        &mut self,
        cfg: &ProgramConfig,
        found: &mut Resolved,
        captured: [Option<RawFd>; 2],
        ready: Option<RawFd>,
    ) -> Result<(Pid, Option<String>), SpawnError> {
        self.no_reader = None;
        if let (Some(spec), None) = (&cfg.limits.user, &found.user) {
            found.user = Some(Box::new(self.lookup_user(spec)?));
        }
        if found.path.is_none() {
            found.path = resolve_path(cfg, cfg.argv.first().unwrap_or_default());
        }

        let stdout_kind = output(&cfg.stdout, cfg.stdout_maxbytes, captured[0]);
        let stderr_kind = output(&cfg.stderr, cfg.stderr_maxbytes, captured[1]);
        let stdout = self.open(&stdout_kind, "stdout")?;
        let stderr = if cfg.redirect_stderr { None } else { self.open(&stderr_kind, "stderr")? };
        let devnull = self.devnull.as_raw_fd();
        let fd_of = |kind: &Output, file: &Option<OwnedFd>| match kind {
            Output::Captured(pipe) => pipe.unwrap_or(devnull),
            _ => file.as_ref().map_or(devnull, |f| f.as_raw_fd()),
        };
        let out_fd = fd_of(&stdout_kind, &stdout);
        let err_fd = if cfg.redirect_stderr { out_fd } else { fd_of(&stderr_kind, &stderr) };

        let ready = match cfg.ready {
            Ready::Fd(n) => ready.map(|fd| (fd, n)),
            _ => None,
        };
        let path = found.path.take().unwrap_or_default();
        let spawned = self.fork(cfg, &cfg.argv, found.user.as_deref(), &path, [out_fd, err_fd], ready);
        // After a failed setup or exec, the command is looked up again next
        // time: it may be installed later.
        if let Ok((_, None)) = spawned {
            found.path = Some(path);
        }
        spawned
    }

    /// Forks and execs `cfg`'s healthcheck with the program's user,
    /// directory and environment, its stdout and stderr on `out`.
    pub fn spawn_check(
        &mut self,
        cfg: &ProgramConfig,
        found: &Resolved,
        out: RawFd,
    ) -> Result<(Pid, Option<String>), SpawnError> {
        let argv = &cfg.limits.healthcheck;
        let path = resolve_path(cfg, argv.first().unwrap_or_default());
        self.fork(cfg, argv, found.user.as_deref(), &path.unwrap_or_default(), [out, out], None)
    }

    /// The fork and exec both spawns share: `Ok((pid, Some(reason)))` when
    /// the child's setup or exec failed (its exit follows).
    fn fork(
        &mut self,
        cfg: &ProgramConfig,
        argv: &Argv,
        user: Option<&User>,
        path: &CStr,
        [stdout, stderr]: [RawFd; 2],
        ready: Option<(RawFd, i32)>,
    ) -> Result<(Pid, Option<String>), SpawnError> {
        let (argc, directory) = self.layout(cfg, argv, user);
        let (report_read, report_write) =
            sys::pipe(false).map_err(|e| SpawnError::Failed(e.after("pipe")))?;
        let mut oom = [0u8; 12];
        let devnull = self.devnull.as_raw_fd();
        let plan = ChildPlan {
            path,
            argv: &self.pointers[..=argc],
            envp: &self.pointers[argc + 1..],
            directory: directory.map(|at| cstr_at(&self.scratch, at)),
            umask: cfg.limits.umask,
            // Switching to oneself needs no privilege (and may not have it).
            user: user.filter(|_| self.daemon_uid == 0),
            limits: &cfg.limits,
            oom_score_adj: decimal(&mut oom, cfg.limits.oom_score_adj),
            stdin: devnull,
            stdout,
            stderr,
            report: report_write.as_raw_fd(),
            ready,
            parent: self.daemon_pid,
        };
        let spawned = sys::spawn(&plan);
        self.shrink_scratch();
        let pid = spawned.map_err(|e| SpawnError::Failed(e.after("fork")))?;
        drop(report_write);
        match read_report(report_read.as_raw_fd(), cfg, path) {
            // The child exits at once; reaped as any process not a program's.
            Some((reason, true)) => Err(SpawnError::Refused(reason)),
            report => Ok((pid, report.map(|(reason, _)| reason))),
        }
    }

    /// After a spawn that needed a big layout (a huge command line), gives
    /// the memory back instead of keeping it for every later spawn.
    fn shrink_scratch(&mut self) {
        if self.scratch.capacity() > SCRATCH_KEEP || self.pointers.capacity() > SCRATCH_KEEP / 8 {
            self.scratch = Vec::new();
            self.offsets = Vec::new();
            self.pointers = Vec::new();
            sys::release_free_memory();
        }
    }

    fn lookup_user(&self, spec: &str) -> Result<User, SpawnError> {
        match users::lookup(spec) {
            None => {
                Err(SpawnError::Failed(one_line(crate::text::concat("user {}: unknown user", &[Str(spec)]))))
            }
            // Not root: only the daemon's own uid, and an explicit gid only if its own.
            Some(user)
                if self.daemon_uid != 0
                    && (user.uid != self.daemon_uid
                        || (spec.contains(':') && user.gid != sys::getegid())) =>
            {
                Err(SpawnError::Refused(one_line(crate::text::concat(
                    "user {}: Operation not permitted",
                    &[Str(spec)],
                ))))
            }
            Some(user) => Ok(user),
        }
    }

    fn open(&mut self, kind: &Output, which: &'static str) -> Result<Option<OwnedFd>, SpawnError> {
        let Output::File(path) = kind else { return Ok(None) };
        self.scratch.clear();
        self.scratch.extend_from_slice(path);
        self.scratch.push(0);
        let cpath = CStr::from_bytes_until_nul(&self.scratch).unwrap_or(c"");
        match sys::open_append(cpath, 0o644) {
            Ok(fd) => {
                // Opened without blocking; the program itself writes as usual
                // (the description is ours alone).
                sys::set_blocking(fd.as_raw_fd());
                Ok(Some(fd))
            }
            // A FIFO with no reader: the output is dropped (/dev/null).
            Err(e) if e.0 == libc::ENXIO => {
                self.no_reader = Some(which);
                Ok(None)
            }
            Err(e) => Err(SpawnError::Failed(one_line(concat(
                "{} {}: {}",
                &[Str(which), Bytes(path), Str(&sys::describe(&e))],
            )))),
        }
    }

    /// Lays out argv and the environment (the daemon's, then `environment=`,
    /// then pman's own variables; later wins) in the scratch buffers.
    /// Returns argc, and where the directory string starts, if any.
    fn layout(&mut self, cfg: &ProgramConfig, argv: &Argv, user: Option<&User>) -> (usize, Option<usize>) {
        let Context { scratch, offsets, pointers, environment, .. } = self;
        scratch.clear();
        offsets.clear();
        let mut push = |parts: &[&[u8]]| {
            offsets.push(scratch.len());
            for part in parts {
                // An interior NUL would cut the string short, never overrun it.
                scratch.extend(part.iter().map(|&b| if b == 0 { b'?' } else { b }));
            }
            scratch.push(0);
        };
        let mut argc = 0;
        for arg in argv.iter() {
            push(&[arg]);
            argc += 1;
        }
        for (key, value) in &cfg.limits.environment {
            push(&[key.as_bytes(), b"=", value.as_bytes()]);
        }
        push(&[b"SUPERVISOR_ENABLED=1"]);
        push(&[b"SUPERVISOR_PROCESS_NAME=", cfg.name.as_bytes()]);
        push(&[b"PMAN_PROCESS_NAME=", cfg.name.as_bytes()]);
        if let Ready::Fd(n) = cfg.ready {
            let mut digits = crate::text::Text::new();
            digits.uint(n as u64);
            push(&[b"PMAN_READY_FD=", digits.as_bytes()]);
        }
        if let Some(user) = user {
            push(&[b"HOME=", user.home.as_bytes()]);
            push(&[b"USER=", user.name.as_bytes()]);
            push(&[b"LOGNAME=", user.name.as_bytes()]);
        }
        if let Some(dir) = &cfg.limits.directory {
            push(&[dir]);
        }
        let directory = cfg.limits.directory.is_some().then(|| offsets.len() - 1);

        // The scratch buffer is complete: pointers into it stay valid.
        let own = &offsets[argc..directory.unwrap_or(offsets.len())];
        pointers.clear();
        pointers.extend(offsets[..argc].iter().map(|&at| scratch[at..].as_ptr().cast::<libc::c_char>()));
        pointers.push(std::ptr::null());
        for base in environment.iter() {
            let key = env_key(base.to_bytes());
            if !own.iter().any(|&at| env_key(cstr_at(scratch, at).to_bytes()) == key) {
                pointers.push(base.as_ptr());
            }
        }
        for (n, &at) in own.iter().enumerate() {
            let key = env_key(cstr_at(scratch, at).to_bytes());
            let overridden =
                own[n + 1..].iter().any(|&later| env_key(cstr_at(scratch, later).to_bytes()) == key);
            if !overridden {
                pointers.push(scratch[at..].as_ptr().cast());
            }
        }
        pointers.push(std::ptr::null());
        (argc, directory.map(|n| offsets[n]))
    }
}

fn env_key(entry: &[u8]) -> &[u8] {
    let end = entry.iter().position(|&b| b == b'=').unwrap_or(entry.len());
    &entry[..end]
}

fn cstr_at(scratch: &[u8], at: usize) -> &CStr {
    CStr::from_bytes_until_nul(&scratch[at..]).unwrap_or(c"")
}

/// Blocks until the child has exec'd (EOF: the pipe closed on exec) or
/// sent back the stage and errno of its failure: the reason, and whether
/// it can never succeed (a limit refused for lack of privilege).
fn read_report(fd: RawFd, cfg: &ProgramConfig, path: &CStr) -> Option<(String, bool)> {
    let mut msg = [0u8; sys::REPORT_BYTES];
    let mut got = 0;
    while got < msg.len() {
        match sys::read(fd, &mut msg[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if sys::interrupted(&e) => {}
            Err(_) => break,
        }
    }
    if got < msg.len() {
        return None;
    }
    let errno = i32::from_ne_bytes([msg[2], msg[3], msg[4], msg[5]]);
    let mut what = Text::new();
    let stage = Stage::from_byte(msg[0]);
    let limits = &cfg.limits;
    match stage {
        Stage::Exec => {
            what.str("exec ").bytes(path.to_bytes());
        }
        Stage::Directory => {
            what.str("directory ").bytes(cfg.limits.directory.as_deref().map_or(b"", |d| d));
        }
        Stage::User => {
            what.str("user ").str(cfg.limits.user.as_deref().unwrap_or(""));
        }
        Stage::Stdio => {
            what.str("stdio");
        }
        Stage::Rlimit => {
            if let Some(limit) = limits.rlimits.get(usize::from(msg[1])) {
                what.str(rlimit_name(limit.resource)).byte(b' ');
                rlimit_value(&mut what, limit.soft);
                if limit.soft != limit.hard {
                    rlimit_value(what.byte(b':'), limit.hard);
                }
            }
        }
        Stage::Nice => {
            what.str("nice ").int(limits.nice.unwrap_or(0).into());
        }
        Stage::OomScoreAdj => {
            what.str("oom_score_adj ").int(limits.oom_score_adj.unwrap_or(0).into());
        }
        Stage::NoNewPrivs => {
            what.str("no_new_privs");
        }
    };
    what.str(": ").str(&sys::strerror(errno));
    // EACCES: lowering nice or oom_score_adj without the capability.
    let limit = matches!(stage, Stage::Rlimit | Stage::Nice | Stage::OomScoreAdj | Stage::NoNewPrivs);
    let refused = limit && (errno == libc::EPERM || errno == libc::EACCES);
    // A path or user from the config may hold a newline: a reason is one line.
    Some((one_line(what.to_str_lossy().into_owned()), refused))
}

/// `n` in decimal at the end of `buf` (a restart allocates nothing); empty for `None`.
fn decimal(buf: &mut [u8; 12], n: Option<i32>) -> &[u8] {
    let Some(n) = n else { return &[] };
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

fn rlimit_value(out: &mut Text, value: u64) {
    match value {
        u64::MAX => out.str("unlimited"),
        n => out.uint(n),
    };
}

/// The path to exec `program` by: itself when it has a `/` (relative ones
/// resolve in `directory`, after the child's chdir), else the first
/// executable along the program's PATH, else the daemon's.
fn resolve_path(cfg: &ProgramConfig, program: &[u8]) -> Option<CString> {
    if program.contains(&b'/') || program.is_empty() {
        return crate::path::c_path(program).ok();
    }
    let own_path = cfg.limits.environment.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
    let path_var = own_path
        .or_else(|| sys::getenv(b"PATH").and_then(|p| sys::str_of(p)).map(str::to_string))
        .unwrap_or_else(|| crate::config::DEFAULT_PATH.to_string());
    let mut candidate: Vec<u8> = Vec::with_capacity(128);
    for dir in path_var.split(':').filter(|dir| !dir.is_empty()) {
        candidate.clear();
        candidate.extend_from_slice(dir.as_bytes());
        candidate.push(b'/');
        candidate.extend_from_slice(program);
        candidate.push(0);
        match CStr::from_bytes_with_nul(&candidate) {
            Ok(path) if sys::executable(path) => return Some(path.to_owned()),
            _ => {}
        }
    }
    crate::path::c_path(program).ok()
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn oom_score_adj_text() {
        let mut buf = [0u8; 12];
        assert_eq!(decimal(&mut buf, Some(-1000)), b"-1000");
        assert_eq!(decimal(&mut buf, Some(0)), b"0");
        assert_eq!(decimal(&mut buf, Some(1000)), b"1000");
        assert_eq!(decimal(&mut buf, Some(i32::MIN)), b"-2147483648");
        assert_eq!(decimal(&mut buf, None), b"");
    }
}
