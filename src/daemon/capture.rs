//! Program output through pipes the daemon owns: capped rotating log files
//! and syslog. Each stream's pipe outlives restarts (the daemon keeps the
//! write end), so output written just before a crash is never lost; a
//! program that writes faster than the disk is slowed by the pipe, never
//! buffered in the daemon beyond one shared read buffer. Targets are opened
//! and written without blocking: what a target cannot take at once (a FIFO
//! with no reader, a full pipe) is dropped and counted like ENOSPC.

use super::log::Logger;
use super::table::Slot;
use crate::config::{LogTarget, ProgramConfig};
use crate::sys;
use crate::text::Part::{Str, Uint};
use crate::text::Text;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;

/// One read from a pipe takes at most this much.
pub const READ_CHUNK: usize = 32 * 1024;
/// A line up to this long (and half the cap) is never split by a rotation.
const SHORT_LINE: u64 = 4096;
/// syslog lines are split at this length.
pub const SYSLOG_LINE: usize = 1024;

/// A log file shared by every stream that names its path: one cap, one
/// rotation. Its path is the config's (each method that opens is given it).
pub struct Writer {
    /// A stream whose path this is: slot index, 0 stdout / 1 stderr.
    owner: (u32, u8),
    fd: Option<OwnedFd>,
    /// Only regular files rotate (`/dev/null`, `/dev/full` never do).
    regular: bool,
    size: u64,
    maxbytes: u64,
    backups: u32,
    /// Bytes dropped in the current burst of write errors, and its errno.
    dropped: u64,
    error: i32,
}

/// What happened on a write worth a line in the daemon log.
pub enum Incident {
    /// A burst of write errors began.
    Failing(i32),
    /// Writing works again after `dropped` bytes were lost to `errno`.
    Recovered { dropped: u64, errno: i32 },
}

impl Writer {
    pub fn new(owner: (u32, u8), maxbytes: u64, backups: u32) -> Writer {
        Writer { owner, fd: None, regular: true, size: 0, maxbytes, backups, dropped: 0, error: 0 }
    }

    /// Creates the file now (so `pman log` finds it before any output);
    /// a failure is met again, and counted, at the first write.
    pub fn create(&mut self, path: &[u8]) {
        if self.open(path).is_ok() {
            self.rotate_if_over(path);
        }
    }

    /// A reload's cap and backups for this file.
    pub fn set_limits(&mut self, path: &[u8], maxbytes: u64, backups: u32) {
        self.maxbytes = maxbytes;
        self.backups = backups;
        if self.fd.is_some() {
            self.rotate_if_over(path);
        }
    }

    /// A file already at its cap (a smaller cap, a file from before) rotates
    /// now rather than at the next write.
    fn rotate_if_over(&mut self, path: &[u8]) {
        if self.regular && self.maxbytes > 0 && self.size >= self.maxbytes {
            self.rotate(path);
        }
    }

    fn open(&mut self, path: &[u8]) -> Result<RawFd, i32> {
        if let Some(fd) = &self.fd {
            return Ok(fd.as_raw_fd());
        }
        // A NUL in the path: no file has that name.
        let cpath = crate::path::c_path(path).unwrap_or_default();
        let fd = sys::open_append(&cpath, 0o644).map_err(|e| e.0)?;
        let meta = sys::fstat(fd.as_raw_fd()).ok();
        self.regular = meta.is_some_and(|m| m.is_regular());
        self.size = meta.map_or(0, |m| m.size);
        let raw = fd.as_raw_fd();
        self.fd = Some(fd);
        Ok(raw)
    }

    /// Appends `data`, rotating at the cap (at a line boundary when one is
    /// near). Returns an incident for the daemon log, if any.
    // Out of line: inlined into `drain`, the loop costs more code.
    #[inline(never)]
    pub fn write(&mut self, path: &[u8], mut data: &[u8], errors: &mut u64) -> Option<Incident> {
        let mut incident = None;
        while !data.is_empty() {
            let fd = match self.open(path) {
                Ok(fd) => fd,
                Err(errno) => return self.fail(data.len() as u64, errno, errors).or(incident),
            };
            let mut take = data.len();
            let capped = self.regular && self.maxbytes > 0;
            if capped {
                let room = self.maxbytes.saturating_sub(self.size) as usize;
                if room == 0 {
                    self.rotate(path);
                    continue;
                }
                if take > room {
                    // Cut after the last newline that fits; a short line that
                    // does not fit starts the next file instead of being split.
                    let line = data.iter().position(|&b| b == b'\n').map_or(data.len(), |at| at + 1);
                    take = match data[..room].iter().rposition(|&b| b == b'\n') {
                        Some(at) => at + 1,
                        None if self.size > 0 && line as u64 <= (self.maxbytes / 2).min(SHORT_LINE) => {
                            self.rotate(path);
                            continue;
                        }
                        None => room,
                    };
                }
            }
            match sys::write(fd, &data[..take]) {
                Ok(n) => {
                    self.size += n as u64;
                    data = &data[n..];
                    if self.dropped > 0 {
                        incident = Some(Incident::Recovered { dropped: self.dropped, errno: self.error });
                        self.dropped = 0;
                    }
                    if capped && self.size >= self.maxbytes {
                        self.rotate(path);
                    }
                }
                Err(e) if sys::interrupted(&e) => {}
                Err(e) => {
                    let errno = e.0;
                    return self.fail(data.len() as u64, errno, errors).or(incident);
                }
            }
        }
        incident
    }

    fn fail(&mut self, bytes: u64, errno: i32, errors: &mut u64) -> Option<Incident> {
        *errors += 1;
        let first = self.dropped == 0;
        self.dropped += bytes;
        self.error = errno;
        first.then_some(Incident::Failing(errno))
    }

    /// Rotates (see `rotate`), then a fresh `log`.
    fn rotate(&mut self, path: &[u8]) {
        self.fd = None;
        super::rotate::rotate(path, self.backups);
        self.size = 0;
        // The current file exists again at once (for `pman log`, `tail -F`).
        let _ = self.open(path);
    }
}

/// Where a captured stream goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sink {
    /// Index into the daemon's writers (32 bits: a capture fits 32 bytes).
    File(u32),
    /// syslog with this priority (daemon.info 30 for stdout, daemon.err 27 for stderr).
    Syslog(u8),
}

/// One stream's pipe.
pub struct Capture {
    pub read: OwnedFd,
    pub write: OwnedFd,
    pub sink: Sink,
    /// Failed writes (shown as `log_errors`).
    pub errors: u64,
    /// A syslog stream's line in progress, made at its first output.
    syslog: Option<Box<SyslogLine>>,
}

/// What a stream sent to syslog keeps between reads.
#[derive(Default)]
struct SyslogLine {
    /// A line not yet ended (at most [`SYSLOG_LINE`] bytes), and the pid
    /// of the process that wrote it.
    partial: Vec<u8>,
    pid: i32,
    /// The last datagram was a line cut at [`SYSLOG_LINE`]: a newline
    /// right after it ends that line, and is no empty line of its own.
    cut: bool,
    /// Bytes of output whose datagram could not be sent since the last
    /// one that was, and the errno of the last such send.
    dropped: u64,
    errno: i32,
}

impl Capture {
    pub fn new(sink: Sink) -> Result<Capture, sys::Errno> {
        let (read, write) = sys::pipe(true)?;
        // The child gets a blocking pipe: a full pipe slows it, never errors.
        sys::set_blocking(write.as_raw_fd());
        Ok(Capture { read, write, sink, errors: 0, syslog: None })
    }

    /// Sends complete lines of `data` to syslog as `<PRI>NAME[PID]: line`.
    /// A line left unended by an earlier process goes first, on its own.
    /// Once a send works after some failed, returns the bytes dropped and
    /// the errno of the last failure.
    pub fn send_syslog(
        &mut self,
        data: &[u8],
        name: &str,
        pid: i32,
        socket: &UnixDatagram,
        path: &[u8],
        message: &mut Text,
    ) -> Option<(u64, i32)> {
        let Sink::Syslog(priority) = self.sink else { return None };
        let line = self.syslog.get_or_insert_with(Box::default);
        // Output read once no process runs (a leftover child's) goes by
        // the pid of the last run.
        let pid = if pid == 0 { line.pid } else { pid };
        let mut recovered = None;
        if line.pid != pid && !line.partial.is_empty() {
            recovered = line.send(priority, name, socket, path, message, 0, &mut self.errors);
        }
        line.pid = pid;
        for &byte in data {
            if byte != b'\n' {
                line.cut = false;
                line.partial.push(byte);
                if line.partial.len() < SYSLOG_LINE {
                    continue;
                }
            } else if std::mem::take(&mut line.cut) && line.partial.is_empty() {
                continue;
            }
            let newline = u64::from(byte == b'\n');
            line.cut = newline == 0;
            if let Some(r) = line.send(priority, name, socket, path, message, newline, &mut self.errors) {
                recovered = Some(r);
            }
        }
        recovered
    }

    /// Sends the line its process left unended (it has exited).
    pub fn end_syslog_line(
        &mut self,
        name: &str,
        socket: &UnixDatagram,
        path: &[u8],
        message: &mut Text,
    ) -> Option<(u64, i32)> {
        let Sink::Syslog(priority) = self.sink else { return None };
        let line = self.syslog.as_mut().filter(|l| !l.partial.is_empty())?;
        line.cut = false;
        line.send(priority, name, socket, path, message, 0, &mut self.errors)
    }
}

impl SyslogLine {
    /// Sends `partial` as one datagram and empties it; `extra` bytes (its
    /// newline) count with it when it is dropped.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        priority: u8,
        name: &str,
        socket: &UnixDatagram,
        path: &[u8],
        message: &mut Text,
        extra: u64,
        errors: &mut u64,
    ) -> Option<(u64, i32)> {
        message.clear();
        message.byte(b'<').uint(priority.into()).byte(b'>').str(name);
        message.byte(b'[').int(self.pid.into()).str("]: ").bytes(&self.partial);
        // The line as the program wrote it, its newline included.
        let bytes = self.partial.len() as u64 + extra;
        self.partial.clear();
        match sys::send_unix(socket, message.as_bytes(), path) {
            Ok(_) if self.dropped > 0 => Some((std::mem::take(&mut self.dropped), self.errno)),
            Ok(_) => None,
            Err(errno) => {
                self.dropped += bytes;
                self.errno = errno;
                *errors += 1;
                None
            }
        }
    }
}

/// `NAME stdout: N bytes dropped (strerror)`, once writing works again.
fn dropped_warning(log: &mut Logger, name: &str, stream: &str, dropped: u64, errno: i32) {
    let error = sys::strerror(errno);
    log.warn("{} {}: {} bytes dropped ({})", &[Str(name), Str(stream), Uint(dropped), Str(&error)]);
}

/// An unbound datagram socket for syslog that never blocks: a full or
/// missing syslog drops the datagram.
pub fn syslog_socket() -> Option<UnixDatagram> {
    sys::unix_datagram(true).ok()
}

/// The log file stream `k` (0 stdout, 1 stderr) of `cfg` writes to, if any.
fn file_of(cfg: &ProgramConfig, k: u8) -> Option<&[u8]> {
    match if k == 0 { &cfg.stdout } else { &cfg.stderr } {
        LogTarget::File(path) => Some(path),
        _ => None,
    }
}

/// The path of writer `w` (its owner's).
fn path_of<'a>(w: &Writer, slots: &'a [Slot]) -> &'a [u8] {
    slots.get(w.owner.0 as usize).and_then(|s| file_of(&s.cfg, w.owner.1)).unwrap_or_default()
}

/// The index of the writer for `path`, made when new for stream `owner`
/// (the first stream's cap and backups win).
fn writer_for(
    writers: &mut Vec<Writer>,
    slots: &[Slot],
    path: &[u8],
    owner: (u32, u8),
    limits: (u64, u32),
) -> usize {
    match writers.iter().position(|w| crate::path::same(path_of(w, slots), path)) {
        Some(i) => i,
        None => {
            writers.push(Writer::new(owner, limits.0, limits.1));
            writers.len() - 1
        }
    }
}

/// Captured output: each program's pipes (by slot index, made at its
/// first start and kept across restarts, so output written just before a
/// crash is never lost), the log files they go to (shared by path), the
/// syslog socket, and the buffers every pipe is read and every datagram
/// built in.
pub struct Output {
    pipes: Vec<[Option<Capture>; 2]>,
    /// Slot indices with at least one pipe: what the loop polls.
    piped: Vec<usize>,
    writers: Vec<Writer>,
    syslog: Option<UnixDatagram>,
    /// The one buffer every pipe is read through (made at the first read).
    iobuf: Vec<u8>,
    datagram: Text,
}

impl Output {
    pub fn new() -> Output {
        Output {
            pipes: Vec::new(),
            piped: Vec::new(),
            writers: Vec::new(),
            syslog: None,
            iobuf: Vec::new(),
            datagram: Text::new(),
        }
    }

    /// Makes the pipes of program `index`'s captured streams, once; a pipe
    /// that cannot be made fails the start (its output would go nowhere).
    pub fn ensure(&mut self, index: usize, slots: &[Slot]) -> Result<(), String> {
        let Some(cfg) = slots.get(index).map(|s| &s.cfg) else { return Ok(()) };
        if self.pipes.len() <= index {
            self.pipes.resize_with(index + 1, || [None, None]);
        }
        let had_pipes = self.pipes[index].iter().any(Option::is_some);
        let streams = [
            (&cfg.stdout, cfg.stdout_maxbytes, cfg.stdout_backups, 30u8),
            (&cfg.stderr, cfg.stderr_maxbytes, cfg.stderr_backups, 27u8),
        ];
        let mut result = Ok(());
        for (k, (target, maxbytes, backups, priority)) in streams.into_iter().enumerate() {
            if self.pipes[index][k].is_some() || (k == 1 && cfg.redirect_stderr) {
                continue;
            }
            let sink = match target {
                LogTarget::File(path) if maxbytes > 0 => {
                    let owner = (index as u32, k as u8);
                    let w = writer_for(&mut self.writers, slots, path, owner, (maxbytes, backups));
                    self.writers[w].create(path);
                    Sink::File(w as u32)
                }
                LogTarget::Syslog => Sink::Syslog(priority),
                LogTarget::File(_) | LogTarget::None => continue,
            };
            match Capture::new(sink) {
                Ok(capture) => self.pipes[index][k] = Some(capture),
                Err(e) => {
                    result = Err(e.after("pipe"));
                    break;
                }
            }
        }
        if !had_pipes && self.pipes[index].iter().any(Option::is_some) {
            self.piped.push(index);
        }
        result
    }

    /// The write ends program `index`'s stdout and stderr get, when captured.
    pub fn write_ends(&self, index: usize) -> [Option<RawFd>; 2] {
        let pipes = self.pipes.get(index);
        [0, 1].map(|k| pipes.and_then(|p| p[k].as_ref()).map(|c| c.write.as_raw_fd()))
    }

    /// Failed log writes and dropped syslog lines of program `index`.
    pub fn log_errors(&self, index: usize) -> u64 {
        let mut errors = 0;
        for c in self.pipes.get(index).into_iter().flatten().flatten() {
            errors += c.errors;
        }
        errors
    }

    /// Each pipe's read end to poll, with its slot index and stream (0 stdout, 1 stderr).
    pub fn polled(&self, add: &mut dyn FnMut(RawFd, usize, usize)) {
        for &index in &self.piped {
            for k in 0..2 {
                if let Some(c) = &self.pipes[index][k] {
                    add(c.read.as_raw_fd(), index, k);
                }
            }
        }
    }

    /// After a reload: each kept program's pipes follow it to its new index
    /// (`kept[old]`); the others' close.
    pub fn renumber(&mut self, kept: &[Option<usize>], programs: usize) {
        let mut pipes: Vec<[Option<Capture>; 2]> = Vec::new();
        pipes.resize_with(programs, || [None, None]);
        for (old, streams) in std::mem::take(&mut self.pipes).into_iter().enumerate() {
            if let Some(Some(new)) = kept.get(old) {
                pipes[*new] = streams;
            }
        }
        self.pipes = pipes;
        self.piped.clear();
        for (i, [out, err]) in self.pipes.iter().enumerate() {
            if out.is_some() || err.is_some() {
                self.piped.push(i);
            }
        }
    }

    /// A program's process `pid` has exited: what it wrote and the loop
    /// has not read yet is read now, under its pid, and the lines it left
    /// unended in its syslog streams are sent (a file gets every byte at once).
    pub fn end_run(
        &mut self,
        index: usize,
        cfg: &ProgramConfig,
        pid: i32,
        log: &mut Logger,
        syslog_path: &[u8],
    ) {
        for k in 0..2 {
            self.drain(index, k, cfg, pid, log, syslog_path);
        }
        let name = &cfg.name;
        let Output { pipes, syslog, datagram, .. } = self;
        let (Some(streams), Some(socket)) = (pipes.get_mut(index), syslog.as_ref()) else { return };
        for (k, capture) in streams.iter_mut().enumerate() {
            let Some(capture) = capture else { continue };
            if let Some((dropped, errno)) = capture.end_syslog_line(name, socket, syslog_path, datagram) {
                dropped_warning(log, name, if k == 0 { "stdout" } else { "stderr" }, dropped, errno);
            }
        }
    }

    /// Reads one stream's pipe (a bounded number of chunks, to stay fair)
    /// and hands the bytes to its file or to syslog.
    pub fn drain(
        &mut self,
        index: usize,
        k: usize,
        cfg: &ProgramConfig,
        pid: i32,
        log: &mut Logger,
        syslog_path: &[u8],
    ) {
        let Output { pipes, writers, syslog, iobuf, datagram, .. } = self;
        if iobuf.is_empty() {
            // Only a daemon with captured streams pays for the buffer.
            iobuf.resize(READ_CHUNK, 0);
        }
        let name = &cfg.name;
        let Some(capture) = pipes.get_mut(index).and_then(|p| p.get_mut(k)?.as_mut()) else { return };
        let stream = if k == 0 { "stdout" } else { "stderr" };
        for _ in 0..4 {
            let n = match sys::read(capture.read.as_raw_fd(), iobuf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let data = &iobuf[..n];
            match capture.sink {
                Sink::File(w) => {
                    // The writer's file, by this stream's name for it.
                    let path = file_of(cfg, k as u8).unwrap_or_default();
                    match writers.get_mut(w as usize).and_then(|w| w.write(path, data, &mut capture.errors)) {
                        Some(Incident::Failing(errno)) => log.error(
                            "{} {}: {}; dropping output",
                            &[Str(name), Str(stream), Str(&sys::strerror(errno))],
                        ),
                        Some(Incident::Recovered { dropped, errno }) => {
                            dropped_warning(log, name, stream, dropped, errno)
                        }
                        None => {}
                    }
                }
                Sink::Syslog(_) => {
                    if syslog.is_none() {
                        *syslog = syslog_socket();
                    }
                    if let Some(socket) = syslog.as_ref() {
                        if let Some((dropped, errno)) =
                            capture.send_syslog(data, name, pid, socket, syslog_path, datagram)
                        {
                            dropped_warning(log, name, stream, dropped, errno);
                        }
                    }
                }
            }
            if n < iobuf.len() {
                return;
            }
        }
    }

    /// After a reload: gives each log file the cap and backups of the
    /// first stream (in config order) that names it, at once (a file over
    /// a smaller cap rotates now, not at its program's next start), and
    /// closes the files no stream writes to or names any more. `kept`
    /// and `gone`: where each old slot went, or the old slot.
    pub fn retire(&mut self, slots: &[Slot], went: &[Option<usize>], gone: &[Option<Slot>]) {
        let writers = &mut self.writers;
        // Each file's path, by the stream that named it before the reload.
        let old_path = |w: &Writer| {
            let (old, k) = (w.owner.0 as usize, w.owner.1);
            let slot = match went.get(old) {
                Some(&Some(new)) => slots.get(new),
                _ => gone.get(old).and_then(Option::as_ref),
            };
            slot.and_then(|s| file_of(&s.cfg, k)).unwrap_or_default()
        };
        // The stream each file kept will go by: a kept program's (its path
        // is the file's), else the first that names it.
        let mut owners: Vec<Option<(u32, u8)>> = vec![None; writers.len()];
        for (i, streams) in self.pipes.iter().enumerate() {
            for (k, capture) in streams.iter().enumerate() {
                if let Some(Sink::File(w)) = capture.as_ref().map(|c| c.sink) {
                    if let Some(owner) = owners.get_mut(w as usize) {
                        *owner = Some((i as u32, k as u8));
                    }
                }
            }
        }
        let mut limited = vec![false; writers.len()];
        for (i, slot) in slots.iter().enumerate() {
            let cfg = &slot.cfg;
            let streams = [
                (&cfg.stdout, cfg.stdout_maxbytes, cfg.stdout_backups),
                (&cfg.stderr, cfg.stderr_maxbytes, cfg.stderr_backups),
            ];
            for (k, &(target, maxbytes, backups)) in streams.iter().enumerate() {
                if k == 1 && cfg.redirect_stderr {
                    continue;
                }
                let LogTarget::File(path) = target else { continue };
                if let Some(w) = writers.iter().position(|w| old_path(w) == &path[..]) {
                    if maxbytes > 0 && !std::mem::replace(&mut limited[w], true) {
                        owners[w].get_or_insert((i as u32, k as u8));
                        writers[w].set_limits(path, maxbytes, backups);
                    }
                }
            }
        }
        let mut kept = 0;
        let mut moved = Vec::with_capacity(owners.len());
        for owner in &owners {
            kept += usize::from(owner.is_some());
            moved.push(kept.saturating_sub(1));
        }
        let mut at = 0;
        writers.retain_mut(|w| {
            at += 1;
            owners[at - 1].map(|owner| w.owner = owner).is_some()
        });
        for capture in self.pipes.iter_mut().flatten().flatten() {
            if let Sink::File(w) = &mut capture.sink {
                *w = moved.get(*w as usize).map_or(0, |&m| m as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Two captures per program, held in one table: an unused stream
    /// costs its `None`, a used one 32 bytes.
    #[test]
    fn a_capture_stays_small() {
        let size = std::mem::size_of::<Option<super::Capture>>();
        assert!(size <= 32, "Capture grew to {size} bytes");
    }
}
