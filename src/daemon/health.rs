//! One program's health checks: at most one check process at a time, its
//! output read through the loop down to its last line, and the reason a
//! failed check gives (`healthcheck: exit 1: Connection refused`).

use crate::sys::Instant;
use crate::sys::{self, Exit, Pid};
use crate::text::Text;
use std::os::fd::{AsRawFd, OwnedFd};

/// The longest last line a reason keeps.
const LINE_MAX: usize = 200;

/// How often (in seconds) `ready = healthcheck` tries while STARTING.
pub const READY_INTERVAL_SECS: u32 = 1;

/// The checks of a program that sets `healthcheck`.
#[derive(Default)]
pub struct Health {
    /// When the next check starts, or, while one runs, when it times out.
    pub due: Option<Instant>,
    /// The running check (its process group has the same id).
    pub pid: Option<Pid>,
    /// The read end of its stdout and stderr.
    pub pipe: Option<OwnedFd>,
    /// When the running check was forked.
    pub started: Option<Instant>,
    /// It ran past `healthcheck_timeout` and was killed.
    pub timed_out: bool,
    /// The program left the state it was checked in: the check is only reaped.
    pub discard: bool,
    /// Its setup or exec failed.
    pub exec_failed: Option<String>,
    /// The line being read, and the last whole non-empty line.
    line: Vec<u8>,
    last: Vec<u8>,
}

impl Health {
    /// A check was forked.
    pub fn began(&mut self, pid: Pid, pipe: OwnedFd, exec_failed: Option<String>, now: Instant) {
        self.pid = Some(pid);
        self.pipe = Some(pipe);
        self.started = Some(now);
        self.timed_out = false;
        self.discard = false;
        self.exec_failed = exec_failed;
        self.line.clear();
        self.last.clear();
    }

    /// Kills the running check's process group.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid {
            let _ = sys::kill(-pid, libc::SIGKILL);
        }
    }

    /// Reads what the check wrote so far; closes the pipe at its end.
    pub fn read(&mut self) {
        let mut buf = [0u8; 512];
        while let Some(fd) = &self.pipe {
            match sys::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => self.pipe = None,
                Ok(n) => {
                    for &b in &buf[..n] {
                        self.take(b);
                    }
                }
                Err(e) if sys::interrupted(&e) => {}
                Err(e) => {
                    if !sys::would_block(&e) {
                        self.pipe = None;
                    }
                    return;
                }
            }
        }
    }

    fn take(&mut self, b: u8) {
        if b == b'\n' {
            if self.line.iter().any(|c| !c.is_ascii_whitespace()) {
                std::mem::swap(&mut self.line, &mut self.last);
            }
            self.line.clear();
        } else if self.line.len() < LINE_MAX {
            self.line.push(b);
        }
    }

    /// The check ended: reads what is left of its output and closes the
    /// pipe. `None` when it passed, else the reason.
    pub fn ended(&mut self, exit: Exit, timeout: u32) -> Option<String> {
        self.read();
        self.pipe = None;
        self.pid = None;
        let mut reason = Text::new();
        reason.str("healthcheck: ");
        match (self.timed_out, self.exec_failed.take(), exit) {
            (true, _, _) => {
                reason.str("timed out after ").uint(timeout.into()).byte(b's');
                return Some(reason.to_str_lossy().into_owned());
            }
            (false, Some(failed), _) => {
                reason.str(&failed);
                return Some(reason.to_str_lossy().into_owned());
            }
            (false, None, Exit::Code(0)) => return None,
            (false, None, Exit::Code(code)) => reason.str("exit ").int(code.into()),
            (false, None, Exit::Signal(signal)) => {
                reason.str("signal ").str(crate::signals::name(signal).unwrap_or("?"))
            }
        };
        let last = if self.line.iter().any(|c| !c.is_ascii_whitespace()) { &self.line } else { &self.last };
        let text = crate::text::lossy(last);
        let text = text.trim_ascii();
        if !text.is_empty() {
            reason.str(": ").str(text);
        }
        let reason = reason.to_str_lossy();
        Some(super::status::one_line(reason.into_owned()))
    }
}
