//! The daemon's own log: `[pman] logfile` (capped and rotated), else
//! syslog; with `-f` also stderr. Lines are built in fixed buffers:
//! logging a restart allocates nothing.

use super::rotate::rotate;
use crate::path::FilePath;
use crate::sys;
use crate::text::{self, Part, Text};
use crate::tz::{self, Zone};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;

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

struct LogFile {
    path: FilePath,
    cpath: CString,
    fd: OwnedFd,
    size: u64,
    /// Only a regular file rotates (`/dev/null`, `/dev/stdout` never do).
    regular: bool,
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
    syslog_path: FilePath,
    /// Lines that could not be written since the last one that could.
    dropped: u64,
    /// The line for stderr and the file (timestamp, level, message).
    line: Text,
    /// The datagram for syslog (priority, tag, message).
    datagram: Text,
}

/// The longest log line; longer ones are cut (and still end in a newline).
const LINE_MAX: usize = 1024;

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
            syslog_path: FilePath::default(),
            dropped: 0,
            line: Text::limited(LINE_MAX),
            datagram: Text::limited(LINE_MAX),
        }
    }

    /// Points the log at `logfile` (or syslog when `None`). A logfile that
    /// cannot be opened (missing directory, read-only file system) leaves
    /// the log on syslog; the error says which file and why.
    pub fn configure(
        &mut self,
        logfile: Option<&[u8]>,
        maxbytes: u64,
        backups: u32,
        syslog_path: &[u8],
    ) -> Result<(), String> {
        self.maxbytes = maxbytes;
        self.backups = backups;
        self.syslog_path = syslog_path.into();
        match logfile {
            Some(path) => {
                if self.file.as_ref().is_some_and(|f| crate::path::same(&f.path, path)) {
                    return Ok(());
                }
                let opened = sys::c_string(path)
                    .ok_or_else(|| {
                        let at = path.iter().position(|&b| b == 0).unwrap_or_default() as u64;
                        text::concat("nul byte found in provided data at position: {}", &[Part::Uint(at)])
                    })
                    .and_then(|cpath| match sys::open_append(&cpath, 0o644) {
                        Ok(fd) => Ok((cpath, fd)),
                        Err(e) => Err(sys::describe(&e)),
                    });
                let (cpath, fd) = match opened {
                    Ok(pair) => pair,
                    Err(reason) => {
                        self.file = None;
                        self.syslog = sys::unix_datagram(false).ok();
                        return Err(text::concat("logfile {}: {}", &[Part::Bytes(path), Part::Str(&reason)]));
                    }
                };
                let meta = sys::fstat(fd.as_raw_fd()).ok();
                let (size, regular) = meta.map_or((0, true), |m| (m.size, m.is_regular()));
                self.file = Some(LogFile { path: path.into(), cpath, fd, size, regular });
                self.syslog = None;
            }
            None => {
                self.file = None;
                self.syslog = super::capture::syslog_socket();
            }
        }
        Ok(())
    }

    // These three are called, not inlined at their 40 or so uses: mipsel -112 B.
    #[inline(never)]
    pub fn info(&mut self, template: &str, args: &[Part]) {
        self.log(Level::Info, template, args);
    }

    #[inline(never)]
    pub fn warn(&mut self, template: &str, args: &[Part]) {
        self.log(Level::Warn, template, args);
    }

    #[inline(never)]
    pub fn error(&mut self, template: &str, args: &[Part]) {
        self.log(Level::Error, template, args);
    }

    /// Logs a line stderr has shown already (`-f` would echo it twice).
    pub fn record(&mut self, level: Level, template: &str, args: &[Part]) {
        let stderr = std::mem::replace(&mut self.stderr, false);
        self.log(level, template, args);
        self.stderr = stderr;
    }

    /// One line: `template` filled with `args` (see [`Text::parts`]).
    pub fn log(&mut self, level: Level, template: &str, args: &[Part]) {
        self.line.clear();
        timestamp(&mut self.line);
        self.line.byte(b' ').str(level.name()).byte(b' ').parts(template, args).newline();
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
            let msg = &mut self.datagram;
            msg.clear();
            msg.byte(b'<').uint(level.priority().into()).str(">pman[").int(sys::getpid().into()).str("]: ");
            msg.parts(template, args);
            if sys::send_unix(sock, msg.as_bytes(), &self.syslog_path).is_err() {
                self.dropped += 1;
            }
        }
    }

    fn write_file(&mut self) {
        let len = self.line.len() as u64;
        if let Some(file) = &self.file {
            if self.maxbytes > 0 && file.regular && file.size + len > self.maxbytes && file.size > 0 {
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
                    let note = &mut self.datagram;
                    note.clear();
                    timestamp(note);
                    note.str(" WARN ").uint(dropped).str(" log lines dropped\n");
                    if sys::write_all(file.fd.as_raw_fd(), note.as_bytes()).is_ok() {
                        file.size += note.len() as u64;
                    }
                }
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// Rotates the file (see `rotate`) and opens a fresh one.
    fn rotate(&mut self) {
        let Some(file) = &mut self.file else { return };
        rotate(&file.path, self.backups);
        if let Ok(fd) = sys::open_append(&file.cpath, 0o644) {
            file.fd = fd;
            file.size = 0;
        }
    }
}

/// The line's time: local time by the POSIX TZ rules in `$TZ`, else in
/// /etc/TZ (where OpenWrt keeps them); without usable rules, UTC marked
/// with a `Z`. Read for each line, so a changed zone shows at once.
fn timestamp(line: &mut Text) {
    let now = sys::unix_time();
    let mut rules = [0u8; 128];
    let zone = match sys::getenv_into(b"TZ", &mut rules) {
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
    let pad2 = |n: i32| n.max(0) as u64;
    line.padded(pad2(year), 4).byte(b'-').pad2(pad2(month)).byte(b'-').pad2(pad2(day));
    line.byte(b' ').pad2(pad2(hour)).byte(b':').pad2(pad2(minute)).byte(b':').pad2(pad2(second)).str(mark);
}
