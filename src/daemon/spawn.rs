//! Turning a [`ProgramConfig`] into a running process: everything the child
//! needs is prepared once (and kept across restarts), so a restart costs a
//! fork, a pipe and two opens, and the child allocates nothing.

use crate::config::{LogTarget, ProgramConfig};
use crate::sys::{self, ChildPlan, Pid, Stage, User, UserLookup};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Why no process could be made.
pub enum SpawnError {
    /// A failed start (retried with backoff): fork failed, unknown user…
    Failed(String),
    /// Can never work with this config: FATAL at once.
    Refused(String),
}

/// What the daemon knows that every spawn needs.
pub struct Context {
    /// The daemon's environment at start, plus `[pman] environment`.
    pub environment: Vec<(String, String)>,
    pub daemon_uid: u32,
    pub daemon_pid: Pid,
    pub devnull: OwnedFd,
}

/// A program's argv, envp and paths as C strings, ready for fork+exec.
pub struct Prepared {
    /// The path given to execve, and as users wrote it for messages.
    path: CString,
    path_text: String,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    directory: Option<CString>,
    user: Option<User>,
    user_text: String,
    umask: Option<u32>,
    stdout: Output,
    stderr: Output,
}

enum Output {
    DevNull,
    /// Uncapped: the child appends to the file itself.
    File(CString),
    /// Through the daemon's pipe (capped file or syslog).
    Captured,
    SameAsStdout,
}

impl Prepared {
    pub fn new(cfg: &ProgramConfig, ctx: &Context) -> Result<Prepared, SpawnError> {
        let user_text = cfg.user.clone().unwrap_or_default();
        let user = match &cfg.user {
            None => None,
            Some(spec) => match sys::lookup_user(spec) {
                UserLookup::Unknown => return Err(SpawnError::Failed(format!("user {spec}: unknown user"))),
                UserLookup::Found(user) if ctx.daemon_uid != 0 && user.uid != ctx.daemon_uid => {
                    return Err(SpawnError::Refused(format!("user {spec}: Operation not permitted")));
                }
                UserLookup::Found(user) => Some(user),
            },
        };

        let mut env: Vec<(String, String)> = ctx.environment.clone();
        let mut set = |key: &str, value: &str| match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        };
        for (key, value) in &cfg.environment {
            set(key, value);
        }
        set("SUPERVISOR_ENABLED", "1");
        set("SUPERVISOR_PROCESS_NAME", &cfg.name);
        set("PMAN_PROCESS_NAME", &cfg.name);
        if let Some(user) = &user {
            let name = user.name.to_string_lossy();
            set("HOME", &user.home.to_string_lossy());
            set("USER", &name);
            set("LOGNAME", &name);
        }

        let program = cfg.argv.first().map(String::as_str).unwrap_or("");
        let path_text = if program.contains('/') {
            program.to_string()
        } else {
            let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str());
            search_path(program, path_var).unwrap_or_else(|| program.to_string())
        };

        let argv: Vec<CString> = cfg.argv.iter().map(|a| cstring(a)).collect();
        let envs: Vec<CString> = env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());

        let stdout = output(&cfg.stdout, cfg.stdout_maxbytes);
        let stderr =
            if cfg.redirect_stderr { Output::SameAsStdout } else { output(&cfg.stderr, cfg.stderr_maxbytes) };
        Ok(Prepared {
            path: cstring(&path_text),
            path_text,
            _argv: argv,
            argv_ptrs,
            _env: envs,
            env_ptrs,
            directory: cfg.directory.as_deref().map(|d| cstring(&d.to_string_lossy())),
            user,
            user_text,
            umask: cfg.umask,
            stdout,
            stderr,
        })
    }

    /// Forks and execs; `captured` are the write ends of the daemon's pipes
    /// for stdout and stderr. `Ok((pid, Some(reason)))`: a process was made
    /// but its setup or exec failed; its exit (127) follows.
    pub fn spawn(
        &self,
        ctx: &Context,
        captured: [Option<RawFd>; 2],
    ) -> Result<(Pid, Option<String>), SpawnError> {
        let devnull = ctx.devnull.as_raw_fd();
        let stdout = self.open(&self.stdout, "stdout")?;
        let stderr = self.open(&self.stderr, "stderr")?;
        let (report_read, report_write) =
            sys::pipe(false).map_err(|e| SpawnError::Failed(format!("pipe: {}", sys::describe(&e))))?;
        let pick = |output: &Output, file: &Option<OwnedFd>, pipe: Option<RawFd>| match output {
            Output::Captured => pipe.unwrap_or(devnull),
            _ => file.as_ref().map_or(devnull, |f| f.as_raw_fd()),
        };
        let out_fd = pick(&self.stdout, &stdout, captured[0]);
        let plan = ChildPlan {
            path: &self.path,
            argv: &self.argv_ptrs,
            envp: &self.env_ptrs,
            directory: self.directory.as_deref(),
            umask: self.umask,
            user: self.user.as_ref(),
            stdin: devnull,
            stdout: out_fd,
            stderr: if matches!(self.stderr, Output::SameAsStdout) {
                out_fd
            } else {
                pick(&self.stderr, &stderr, captured[1])
            },
            report: report_write.as_raw_fd(),
            parent: ctx.daemon_pid,
        };
        let pid =
            sys::spawn(&plan).map_err(|e| SpawnError::Failed(format!("fork: {}", sys::describe(&e))))?;
        drop(report_write);
        Ok((pid, self.read_report(report_read.as_raw_fd())))
    }

    fn open(&self, output: &Output, which: &str) -> Result<Option<OwnedFd>, SpawnError> {
        match output {
            Output::DevNull | Output::SameAsStdout | Output::Captured => Ok(None),
            Output::File(path) => sys::open_append(path, 0o644).map(Some).map_err(|e| {
                SpawnError::Failed(format!("{which} {}: {}", path.to_string_lossy(), sys::describe(&e)))
            }),
        }
    }

    /// Blocks until the child has exec'd (EOF: the pipe closed on exec) or
    /// sent back the stage and errno of its failure.
    fn read_report(&self, fd: RawFd) -> Option<String> {
        let mut msg = [0u8; 5];
        let mut got = 0;
        while got < msg.len() {
            match sys::read(fd, &mut msg[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got < msg.len() {
            return None;
        }
        let errno = i32::from_ne_bytes([msg[1], msg[2], msg[3], msg[4]]);
        let what = match Stage::from_byte(msg[0]) {
            Stage::Exec => format!("exec {}", self.path_text),
            Stage::Directory => {
                format!("directory {}", self.directory.as_deref().map_or(String::new(), lossy))
            }
            Stage::User => format!("user {}", self.user_text),
            Stage::Stdio => "stdio".to_string(),
        };
        Some(format!("{what}: {}", sys::strerror(errno)))
    }
}

fn output(target: &LogTarget, maxbytes: u64) -> Output {
    match target {
        LogTarget::File(path) if maxbytes == 0 => Output::File(cstring(&path.to_string_lossy())),
        LogTarget::File(_) | LogTarget::Syslog => Output::Captured,
        LogTarget::None => Output::DevNull,
    }
}

fn lossy(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

/// A C string; an interior NUL (which config validation rejects) truncates.
fn cstring(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

/// The first executable `dir/name` along `path_var`, else along the daemon's PATH.
fn search_path(name: &str, path_var: Option<&str>) -> Option<String> {
    let daemon_path = std::env::var("PATH").ok();
    let path_var = path_var.or(daemon_path.as_deref()).unwrap_or("/usr/sbin:/usr/bin:/sbin:/bin");
    path_var.split(':').filter(|dir| !dir.is_empty()).find_map(|dir| {
        let candidate = format!("{dir}/{name}");
        let c = CString::new(candidate.as_bytes()).ok()?;
        sys::executable(&c).then_some(candidate)
    })
}
