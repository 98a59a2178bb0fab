//! `pman log`: finds the file (asking a reachable daemon for the path in
//! effect, else reading the config), prints its last lines reading back
//! from the end, and with `-f` follows it across rotations.

use super::{dial, exchange};
use crate::cli::LogSource;
use crate::config;
use crate::logfile;
use crate::protocol::{Request, TAG_OUT};
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often `log -f` looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);
/// `log -n` reads back from the end this much at a time.
const BLOCK: usize = 8192;
/// Backups looked at when following a rotation (rotation keeps fewer).
const MAX_BACKUPS: u32 = 1000;

pub fn run(
    config_path: &Path,
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
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; BLOCK];
    // A configured log that nothing was written to yet is an empty log.
    let held = print_tail(&path, lines, &mut out, &mut buf);
    if follow {
        follow_file(&path, held, &mut out, &mut buf);
    }
    0
}

/// The log file of program `name`: the daemon's answer when one listens on
/// `socket`, else what the config says. `Err` is the exit code (the
/// message is printed).
fn program_log(config_path: &Path, socket: &str, name: &str, stderr: bool) -> Result<PathBuf, i32> {
    let stream = match dial(socket) {
        Ok(Some(stream)) => stream,
        Ok(None) => return program_log_in_config(config_path, name, stderr),
        Err(message) => {
            eprintln!("pman: {message}");
            return Err(1);
        }
    };
    let request = Request::LogPath { name: name.to_string(), stderr };
    let mut path = None;
    let result = exchange(stream, socket, &request, false, &mut |tag, text| {
        if tag == TAG_OUT {
            path = Some(PathBuf::from(text));
        } else {
            eprintln!("{text}");
        }
    });
    match result {
        Ok((0, _)) => path.ok_or(1),
        Ok((code, _)) => Err(code),
        Err(message) => {
            eprintln!("pman: {message}");
            Err(1)
        }
    }
}

/// No daemon: the path the config file gives.
fn program_log_in_config(config_path: &Path, name: &str, stderr: bool) -> Result<PathBuf, i32> {
    let config = load(config_path)?;
    let selected = logfile::select(config.programs.iter(), name);
    match selected[..] {
        [] => {
            eprintln!("pman: no such program: {name}");
            Err(2)
        }
        [program] => logfile::path_of(program, stderr).map(Path::to_path_buf).map_err(|message| {
            eprintln!("{message}");
            1
        }),
        _ => {
            eprintln!("{}", logfile::several(name, &selected));
            Err(2)
        }
    }
}

/// `log --daemon`: `[pman] logfile`.
fn daemon_log(config_path: &Path) -> Result<PathBuf, i32> {
    match load(config_path)?.logfile {
        Some(path) => Ok(path),
        None => {
            eprintln!("pman: the daemon logs to syslog (see logread)");
            Err(1)
        }
    }
}

/// The config as the daemon would boot it: an error in another program's
/// section does not keep `log` from reading this one's file.
fn load(config_path: &Path) -> Result<config::Config, i32> {
    config::load(config_path).for_boot().map(|(config, _)| config).map_err(|errors| {
        for error in errors {
            eprintln!("pman: {error}");
        }
        2
    })
}

/// `path.N`, the Nth backup of a rotated log.
fn backup(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".");
    name.push(n.to_string());
    PathBuf::from(name)
}

/// Prints the last `n` lines of `path` (from the newest backup too when the
/// current file holds fewer). Returns the current file, read to its end.
fn print_tail(path: &Path, n: usize, out: &mut impl Write, buf: &mut [u8]) -> Option<File> {
    let mut current = File::open(path).ok()?;
    let len = current.metadata().ok()?.len();
    let (start, found) = last_lines(&mut current, len, n, buf).unwrap_or((len, n));
    if found < n {
        if let Ok(mut older) = File::open(backup(path, 1)) {
            let older_len = older.metadata().map_or(0, |m| m.len());
            if let Ok((older_start, _)) = last_lines(&mut older, older_len, n - found, buf) {
                let _ = copy(&mut older, older_start, older_len, out, buf);
            }
        }
    }
    let _ = copy(&mut current, start, len, out, buf);
    let _ = out.flush();
    Some(current)
}

/// Where the last `n` lines of `file` (`len` bytes) begin, and how many
/// lines that is (fewer than `n` when the file holds fewer). Reads back
/// from the end a block at a time, so memory does not grow with the file.
fn last_lines(file: &mut File, len: u64, n: usize, buf: &mut [u8]) -> io::Result<(u64, usize)> {
    if n == 0 || len == 0 {
        return Ok((len, 0));
    }
    let mut newlines = 0;
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, &byte) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            // The file's final newline ends the last line; it starts none.
            if byte == b'\n' && at != len - 1 {
                newlines += 1;
                if newlines == n {
                    return Ok((at + 1, n));
                }
            }
        }
        end = start;
    }
    Ok((0, newlines + 1))
}

/// Copies bytes `start..end` of `file` to `out`.
fn copy(file: &mut File, start: u64, end: u64, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let mut left = end.saturating_sub(start);
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// A file's identity, which a rename keeps.
fn id(meta: &Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Prints what is appended to `path` until the output closes. When the
/// file rotates, the rest of the old file is printed, then every file that
/// rotated after it, then the new one: no line is lost while the backups
/// keep them.
fn follow_file(path: &Path, mut held: Option<File>, out: &mut impl Write, buf: &mut [u8]) {
    loop {
        let Some(file) = held.as_mut() else {
            // Not written yet: wait for it.
            held = File::open(path).ok();
            if held.is_none() {
                std::thread::sleep(FOLLOW_INTERVAL);
            }
            continue;
        };
        if drain(file, out, buf).is_err() {
            return;
        }
        match (file.metadata().map(|m| id(&m)), std::fs::metadata(path)) {
            (Ok(held_id), Ok(meta)) if id(&meta) != held_id => {
                // Rotated: the daemon writes no more to the old file.
                if drain(file, out, buf).is_err() {
                    return;
                }
                if let Some(next) = successor(path, held_id) {
                    held = Some(next);
                    continue;
                }
            }
            // Truncated in place (rotation without backups): start over.
            (Ok(_), Ok(meta)) if file.stream_position().is_ok_and(|at| meta.len() < at) => {
                let _ = file.seek(SeekFrom::Start(0));
            }
            _ => {}
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

/// The file that came after the one identified by `held`: the backup one
/// newer than it, or the current file. If `held` is no longer among the
/// backups, every backup is newer: the oldest comes next.
fn successor(path: &Path, held: (u64, u64)) -> Option<File> {
    let mut newer: Option<PathBuf> = None;
    for n in 1..=MAX_BACKUPS {
        let name = backup(path, n);
        match std::fs::metadata(&name) {
            Ok(meta) if id(&meta) == held => break,
            Ok(_) => newer = Some(name),
            Err(_) => break,
        }
    }
    File::open(newer.as_deref().unwrap_or(path)).ok()
}

/// Prints the rest of `file`.
fn drain(file: &mut File, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    loop {
        match file.read(buf) {
            Ok(0) => return out.flush(),
            Ok(n) => out.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A read error is not the output's: try again later.
            Err(_) => return out.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &str, n: usize, block: usize) -> (String, usize) {
        let path = std::env::temp_dir().join(format!("pman-tail-{}-{n}-{block}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut buf = vec![0u8; block];
        let (start, found) = last_lines(&mut file, text.len() as u64, n, &mut buf).unwrap();
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
