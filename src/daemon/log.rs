//! The daemon's own log: `[pman] logfile` (capped and rotated), else
//! syslog; with `-f` also stderr. Lines are formatted into a fixed buffer:
//! logging a restart allocates nothing.

use crate::sys;
use crate::tz::{self, Zone};
use std::ffi::CString;
use std::fmt::{self, Write as _};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// syslog priority with facility daemon.
    fn priority(self) -> u8 {
        match self {
            Level::Info => 30,
            Level::Warn => 28,
            Level::Error => 27,
        }
    }
}

/// A line being built in place; text past the end is cut.
pub struct LineBuf {
    buf: [u8; 1024],
    len: usize,
}

impl LineBuf {
    pub fn new() -> LineBuf {
        LineBuf { buf: [0; 1024], len: 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Makes sure a cut line still ends with a newline.
    fn end_line(&mut self) {
        if self.len == self.buf.len() {
            self.buf[self.len - 1] = b'\n';
        }
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        LineBuf::new()
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

struct LogFile {
    path: PathBuf,
    cpath: CString,
    fd: OwnedFd,
    size: u64,
}

pub struct Logger {
    file: Option<LogFile>,
    maxbytes: u64,
    backups: u32,
    stderr: bool,
    /// A private non-blocking description of stderr when it is a pipe (`-f`
    /// under procd) or a terminal; otherwise (a socket) stderr is written
    /// only when poll says it can take a line at once.
    stderr_pipe: Option<OwnedFd>,
    syslog: Option<UnixDatagram>,
    syslog_path: PathBuf,
    /// Lines that could not be written since the last one that could.
    dropped: u64,
    line: LineBuf,
}

impl Logger {
    /// A logger writing to stderr only (until [`Logger::configure`]).
    pub fn new(stderr: bool) -> Logger {
        Logger {
            file: None,
            maxbytes: 0,
            backups: 0,
            stderr,
            stderr_pipe: if stderr && sys::is_pipe_or_device(2) {
                sys::reopen_nonblocking(2).ok()
            } else {
                None
            },
            syslog: None,
            syslog_path: PathBuf::new(),
            dropped: 0,
            line: LineBuf::new(),
        }
    }

    /// Points the log at `logfile` (or syslog when `None`). A logfile that
    /// cannot be opened (missing directory, read-only file system) leaves
    /// the log on syslog; the error says which file and why.
    pub fn configure(
        &mut self,
        logfile: Option<&Path>,
        maxbytes: u64,
        backups: u32,
        syslog_path: &Path,
    ) -> Result<(), String> {
        self.maxbytes = maxbytes;
        self.backups = backups;
        self.syslog_path = syslog_path.to_path_buf();
        match logfile {
            Some(path) => {
                if self.file.as_ref().is_some_and(|f| f.path == path) {
                    return Ok(());
                }
                let opened = CString::new(path.to_string_lossy().as_bytes())
                    .map_err(|e| e.to_string())
                    .and_then(|cpath| match sys::open_append(&cpath, 0o644) {
                        Ok(fd) => Ok((cpath, fd)),
                        Err(e) => Err(sys::describe(&e)),
                    });
                let (cpath, fd) = match opened {
                    Ok(pair) => pair,
                    Err(reason) => {
                        self.file = None;
                        self.syslog = UnixDatagram::unbound().ok();
                        return Err(format!("logfile {}: {reason}", path.display()));
                    }
                };
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                self.file = Some(LogFile { path: path.to_path_buf(), cpath, fd, size });
                self.syslog = None;
            }
            None => {
                self.file = None;
                self.syslog = super::capture::syslog_socket();
            }
        }
        Ok(())
    }

    pub fn info(&mut self, args: fmt::Arguments) {
        self.log(Level::Info, args);
    }

    pub fn warn(&mut self, args: fmt::Arguments) {
        self.log(Level::Warn, args);
    }

    pub fn error(&mut self, args: fmt::Arguments) {
        self.log(Level::Error, args);
    }

    /// Logs a line stderr has shown already (`-f` would echo it twice).
    pub fn record(&mut self, level: Level, args: fmt::Arguments) {
        let stderr = std::mem::replace(&mut self.stderr, false);
        self.log(level, args);
        self.stderr = stderr;
    }

    pub fn log(&mut self, level: Level, args: fmt::Arguments) {
        self.line.clear();
        write_time(&mut self.line, sys::unix_time());
        let _ = writeln!(self.line, " {} {args}", level.name());
        self.line.end_line();
        if self.stderr {
            // A full pipe or a stopped terminal loses the line, never the loop.
            match &self.stderr_pipe {
                Some(pipe) => {
                    let _ = sys::write(pipe.as_raw_fd(), self.line.as_bytes());
                }
                None if sys::writable_now(2) => {
                    let _ = sys::write(2, self.line.as_bytes());
                }
                None => {}
            }
        }
        if self.file.is_some() {
            self.write_file();
        } else if let Some(sock) = &self.syslog {
            let mut msg = LineBuf::new();
            let _ = write!(msg, "<{}>pman[{}]: {args}", level.priority(), sys::getpid());
            if sock.send_to(msg.as_bytes(), &self.syslog_path).is_err() {
                self.dropped += 1;
            }
        }
    }

    fn write_file(&mut self) {
        let len = self.line.len as u64;
        if let Some(file) = &self.file {
            if self.maxbytes > 0 && file.size + len > self.maxbytes && file.size > 0 {
                self.rotate();
            }
        }
        let Some(file) = &mut self.file else { return };
        match sys::write_all(file.fd.as_raw_fd(), self.line.as_bytes()) {
            Ok(()) => {
                file.size += len;
                if self.dropped > 0 {
                    let dropped = self.dropped;
                    self.dropped = 0;
                    let mut note = LineBuf::new();
                    let _ = writeln!(note, "pman: {dropped} log lines dropped");
                    if sys::write_all(file.fd.as_raw_fd(), note.as_bytes()).is_ok() {
                        file.size += note.len as u64;
                    }
                }
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// Renames `log` → `log.1` → … → `log.N` and opens a fresh `log`
    /// (backups = 0: truncates in place).
    fn rotate(&mut self) {
        let Some(file) = &mut self.file else { return };
        if self.backups == 0 {
            // SAFETY-free: ftruncate through std would need a File; reopen instead.
            if let Ok(fd) = open_trunc(&file.cpath) {
                file.fd = fd;
                file.size = 0;
            }
            return;
        }
        let base = file.path.to_string_lossy().into_owned();
        for n in (1..self.backups).rev() {
            let _ = std::fs::rename(format!("{base}.{n}"), format!("{base}.{}", n + 1));
        }
        let _ = std::fs::rename(&base, format!("{base}.1"));
        if let Ok(fd) = sys::open_append(&file.cpath, 0o644) {
            file.fd = fd;
            file.size = 0;
        }
    }
}

fn open_trunc(path: &std::ffi::CStr) -> std::io::Result<OwnedFd> {
    let fd = sys::open_append(path, 0o644)?;
    let file = std::fs::File::from(fd);
    file.set_len(0)?;
    Ok(OwnedFd::from(file))
}

/// The line's time: local time by the POSIX TZ rules in `$TZ`, else in
/// /etc/TZ (where OpenWrt keeps them); without usable rules, UTC marked
/// with a `Z`. Read for each line, so a changed zone shows at once.
fn write_time(line: &mut LineBuf, now: i64) {
    let mut rules = [0u8; 128];
    let zone = match sys::getenv_into(c"TZ", &mut rules) {
        Some(n) if n > 0 => Zone::parse(&rules[..n]),
        _ => {
            let n = sys::read_start(c"/etc/TZ", &mut rules).unwrap_or(0);
            Zone::parse(rules[..n].split(|&b| b == b'\n').next().unwrap_or_default())
        }
    };
    let (local, mark) = match zone {
        Some(zone) => (now + i64::from(zone.offset_at(now)), ""),
        None => (now, "Z"),
    };
    let (year, month, day, hour, minute, second) = tz::civil(local);
    let _ = write!(line, "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}{mark}");
}
