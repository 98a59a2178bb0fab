//! `pman log`: finds the file (asking a reachable daemon for the path in
//! effect, else reading the config), prints its last lines reading back
//! from the end, and with `-f` follows it across rotations. Files are read
//! with plain `sys` calls (open, pread, lseek, fstat), written to fd 1.

use super::{dial, exchange, print_line};
use crate::cli::LogSource;
use crate::protocol::{Request, TAG_OUT};
use crate::{config, fail, logfile, say, sys};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How often `log -f` looks for new output, in milliseconds.
const FOLLOW_INTERVAL_MS: i32 = 200;
/// `log -n` reads back from the end this much at a time.
const BLOCK: usize = 8192;
/// Backups looked at when following a rotation (rotation keeps fewer).
const MAX_BACKUPS: u32 = 1000;

pub fn run(
    config_path: &[u8],
    socket: &str,
    source: LogSource,
    lines: usize,
    stderr: bool,
    follow: bool,
) -> i32 {
    let path = match source {
        LogSource::Program(name) => program_log(config_path, socket, &name, stderr),
        LogSource::Daemon => daemon_log(config_path),
    };
    let path = match path {
        Ok(path) => path,
        Err(code) => return code,
    };
    let mut buf = vec![0u8; BLOCK];
    // A configured log that nothing was written to yet is an empty log;
    // one that cannot be read, or whose directory is missing (nothing can
    // write there), says why.
    let bytes = path.to_bytes();
    let dir = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => &b"/"[..],
        Some(at) => &bytes[..at],
        None => &b"."[..],
    };
    let held = match print_tail(&path, lines, &mut buf) {
        Err(errno) if errno != libc::ENOENT || sys::stat_path(dir).is_err() => {
            fail(&[&crate::text::lossy(path.to_bytes()), ": ", &sys::strerror(errno)]);
            return 1;
        }
        held => held.ok(),
    };
    if follow {
        follow_file(&path, held, &mut buf);
    }
    0
}

/// `bytes` as a path for `sys`; one with a NUL in it is the empty path,
/// which no file has.
fn c_path(bytes: &[u8]) -> CString {
    sys::c_string(bytes).unwrap_or_default()
}

/// The log file of program `name`: the daemon's answer when one listens on
/// `socket`, else what the config says. `Err` is the exit code (the
/// message is printed).
fn program_log(config_path: &[u8], socket: &str, name: &str, stderr: bool) -> Result<CString, i32> {
    let stream = match dial(socket) {
        Ok(Some(stream)) => stream,
        Ok(None) => return program_log_in_config(config_path, name, stderr),
        Err(message) => {
            fail(&[&message]);
            return Err(1);
        }
    };
    let request = Request::LogPath { name: name.to_string(), stderr };
    let mut path = None;
    let result = exchange(&stream, socket, &request, false, &mut |tag, line| {
        if tag == TAG_OUT {
            path = Some(c_path(line.strip_suffix(b"\n").unwrap_or(line)));
        } else {
            print_line(tag, line);
        }
    });
    match result {
        Ok(0) => path.ok_or(1),
        Ok(code) => Err(code),
        Err(message) => {
            fail(&[&message]);
            Err(1)
        }
    }
}

/// No daemon: the path the config file gives.
fn program_log_in_config(config_path: &[u8], name: &str, stderr: bool) -> Result<CString, i32> {
    let config = load(config_path)?;
    let selected = logfile::select(config.programs.iter(), name);
    match selected[..] {
        [] => {
            fail(&["no such program: ", name]);
            Err(2)
        }
        [program] => match logfile::path_of(program, stderr) {
            Ok(path) => Ok(c_path(path)),
            Err(message) => {
                say(2, &[&message]);
                Err(1)
            }
        },
        _ => {
            say(2, &[&logfile::several(name, &selected)]);
            Err(2)
        }
    }
}

/// `log --daemon`: `[pman] logfile`.
fn daemon_log(config_path: &[u8]) -> Result<CString, i32> {
    match load(config_path)?.logfile {
        Some(path) => Ok(c_path(&path)),
        None => {
            fail(&["the daemon logs to syslog (see logread)"]);
            Err(1)
        }
    }
}

/// The config as the daemon would boot it: an error in another program's
/// section does not keep `log` from reading this one's file.
fn load(config_path: &[u8]) -> Result<config::Config, i32> {
    config::load(config_path).for_boot().map(|(config, _)| config).map_err(|errors| {
        for error in errors {
            fail(&[&error]);
        }
        2
    })
}

/// `path.N`, the Nth backup of a rotated log.
fn backup(path: &CStr, n: u32) -> CString {
    let mut digits = [0; 20];
    c_path(&[path.to_bytes(), b".", crate::text::decimal(n.into(), &mut digits)].concat())
}

/// Waits between looks at a followed file.
fn pause() {
    let _ = sys::poll(&mut [], FOLLOW_INTERVAL_MS);
}

/// Prints the last `n` lines of `path` (from the newest backup too when the
/// current file holds fewer). Returns the current file, read to its end.
fn print_tail(path: &CStr, n: usize, buf: &mut [u8]) -> Result<OwnedFd, i32> {
    let current = sys::open_read(path)?;
    let len = sys::fstat(current.as_raw_fd())?.size;
    let (start, found) = last_lines(current.as_raw_fd(), len, n, buf).unwrap_or((len, n));
    if found < n {
        if let Ok(older) = sys::open_read(&backup(path, 1)) {
            let older_len = sys::fstat(older.as_raw_fd()).ok().map_or(0, |st| st.size);
            if let Some((older_start, _)) = last_lines(older.as_raw_fd(), older_len, n - found, buf) {
                copy(older.as_raw_fd(), older_start, older_len, buf);
            }
        }
    }
    copy(current.as_raw_fd(), start, len, buf);
    Ok(current)
}

/// The last `n` lines of the file at `path` (none when it cannot be read).
pub(super) fn tail(path: &[u8], n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; BLOCK];
    let Ok(fd) = sys::open_read(&c_path(path)) else {
        return Vec::new();
    };
    let len = sys::fstat(fd.as_raw_fd()).map_or(0, |st| st.size);
    let start = last_lines(fd.as_raw_fd(), len, n, &mut buf).map_or(len, |(start, _)| start);
    let mut text = vec![0u8; (len - start) as usize];
    match read_exact_at(fd.as_raw_fd(), &mut text, start) {
        Some(()) => text,
        None => Vec::new(),
    }
}

/// Fills `buf` from byte `pos` of `fd`; `None` when the file ends first.
fn read_exact_at(fd: RawFd, buf: &mut [u8], mut pos: u64) -> Option<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match sys::pread(fd, &mut buf[filled..], pos)? {
            0 => return None,
            n => {
                filled += n;
                pos += n as u64;
            }
        }
    }
    Some(())
}

/// Where the last `n` lines of `fd` (`len` bytes) begin, and how many
/// lines that is (fewer than `n` when the file holds fewer). Reads back
/// from the end a block at a time, so memory does not grow with the file.
fn last_lines(fd: RawFd, len: u64, n: usize, buf: &mut [u8]) -> Option<(u64, usize)> {
    if n == 0 || len == 0 {
        return Some((len, 0));
    }
    let mut newlines = 0;
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        read_exact_at(fd, chunk, start)?;
        for (i, &byte) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            // The file's final newline ends the last line; it starts none.
            if byte == b'\n' && at != len - 1 {
                newlines += 1;
                if newlines == n {
                    return Some((at + 1, n));
                }
            }
        }
        end = start;
    }
    Some((0, newlines + 1))
}

/// Prints bytes `start..end` of `fd`, leaving its offset after them.
fn copy(fd: RawFd, start: u64, end: u64, buf: &mut [u8]) {
    if sys::seek(fd, Some(start)).is_some() {
        pump(fd, end.saturating_sub(start), buf);
    }
}

/// Prints what is appended to `path` until the output closes. When the
/// file rotates, the rest of the old file is printed, then every file that
/// rotated after it, then the new one: no line is lost while the backups
/// keep them.
fn follow_file(path: &CStr, mut held: Option<OwnedFd>, buf: &mut [u8]) {
    loop {
        let Some(file) = held.as_ref() else {
            // Not written yet: wait for it.
            held = sys::open_read(path).ok();
            if held.is_none() {
                pause();
            }
            continue;
        };
        let fd = file.as_raw_fd();
        if !drain(fd, buf) {
            return;
        }
        match (sys::fstat(fd).ok(), sys::stat(path).ok()) {
            (Some(mine), Some(now)) if now.id() != mine.id() => {
                // Rotated: the daemon writes no more to the old file.
                if !drain(fd, buf) {
                    return;
                }
                if let Some(next) = successor(path, mine.id()) {
                    held = Some(next);
                    continue;
                }
            }
            // Truncated in place (rotation without backups): start over.
            (Some(_), Some(now)) if sys::seek(fd, None).is_some_and(|at| now.size < at) => {
                let _ = sys::seek(fd, Some(0));
            }
            _ => {}
        }
        pause();
    }
}

/// The file that came after the one identified by `held`: the backup one
/// newer than it, or the current file. If `held` is no longer among the
/// backups, every backup is newer: the oldest comes next.
fn successor(path: &CStr, held: (u64, u64)) -> Option<OwnedFd> {
    let mut newer: Option<CString> = None;
    for n in 1..=MAX_BACKUPS {
        let name = backup(path, n);
        match sys::stat(&name).ok() {
            Some(st) if st.id() == held => break,
            Some(_) => newer = Some(name),
            None => break,
        }
    }
    sys::open_read(newer.as_deref().unwrap_or(path)).ok()
}

/// Prints the rest of `fd`; false once the output is gone.
fn drain(fd: RawFd, buf: &mut [u8]) -> bool {
    pump(fd, u64::MAX, buf)
}

/// Prints up to `left` bytes of `fd` from its offset, fewer when it ends or
/// a read fails; false once the output is gone.
fn pump(fd: RawFd, mut left: u64, buf: &mut [u8]) -> bool {
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match sys::read(fd, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                if sys::write_all(1, &buf[..n]).is_err() {
                    return false;
                }
                left -= n as u64;
            }
            Err(e) if sys::interrupted(&e) => {}
            // A read error is not the output's: try again later.
            Err(_) => break,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &str, n: usize, block: usize) -> (String, usize) {
        let path = std::env::temp_dir().join(format!("pman-tail-{}-{n}-{block}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; block];
        let (start, found) = last_lines(file.as_raw_fd(), text.len() as u64, n, &mut buf).unwrap();
        let _ = std::fs::remove_file(&path);
        (text[start as usize..].to_string(), found)
    }

    #[test]
    fn last_lines_across_blocks() {
        for block in [1, 2, 3, 7, 8192] {
            assert_eq!(tail_of("a\nb\nc\n", 2, block), ("b\nc\n".into(), 2), "block {block}");
            assert_eq!(tail_of("a\nb\nc", 2, block), ("b\nc".into(), 2), "block {block}");
            assert_eq!(tail_of("a\nb\n", 5, block), ("a\nb\n".into(), 2), "block {block}");
            assert_eq!(tail_of("a\n\n\nb\n", 3, block), ("\n\nb\n".into(), 3), "block {block}");
            assert_eq!(tail_of("a\nb\n", 0, block), ("".into(), 0), "block {block}");
            assert_eq!(tail_of("", 3, block), ("".into(), 0), "block {block}");
        }
    }
}
