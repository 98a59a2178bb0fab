//! The client side of every command that talks to the daemon: one request
//! line, then print the tagged reply lines and exit with the daemon's code.

use crate::cli::Command;
use crate::config;
use crate::protocol::{Request, TAG_ERR, TAG_EXIT, TAG_OUT};
use crate::sys;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Without any answer for this long, the client gives up (except while
/// start/stop/restart/kill/reload wait on programs).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often `log -f` looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

pub fn run(config_path: &Path, command: Command) -> i32 {
    let socket = config::socket_name(config_path);
    match command {
        Command::Log { name, lines, stderr, follow } => log(&socket, &name, lines, stderr, follow),
        command => {
            let Some(request) = request_for(command) else { return 2 };
            let waits = matches!(
                request,
                Request::Start(_)
                    | Request::Stop(_)
                    | Request::Restart(_)
                    | Request::Kill
                    | Request::Reload { dry_run: false }
            );
            let kill = request == Request::Kill;
            match exchange(&socket, &request, waits, &mut |tag, text| print_line(tag, text)) {
                Ok((code, stream)) => {
                    if kill {
                        // The daemon holds the connection until it is gone.
                        wait_closed(&stream);
                    }
                    code
                }
                Err(message) => {
                    eprintln!("pman: {message}");
                    1
                }
            }
        }
    }
}

fn request_for(command: Command) -> Option<Request> {
    Some(match command {
        Command::Status { names, json } => Request::Status { names, json },
        Command::Start(names) => Request::Start(names),
        Command::Stop(names) => Request::Stop(names),
        Command::Restart(names) => Request::Restart(names),
        Command::Signal { signal, names } => Request::Signal { signal, names },
        Command::Pid(name) => Request::Pid(name),
        Command::Reload { dry_run } => Request::Reload { dry_run },
        Command::Kill => Request::Kill,
        _ => return None,
    })
}

fn print_line(tag: u8, text: &str) {
    if tag == TAG_OUT {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Connects, checks who holds the socket, sends `request` and feeds each
/// reply line to `line`. Returns the daemon's exit code and the connection.
fn exchange(
    socket: &str,
    request: &Request,
    waits: bool,
    line: &mut dyn FnMut(u8, &str),
) -> Result<(i32, UnixStream), String> {
    let stream = connect(socket)?;
    let mut text = request.encode();
    text.push('\n');
    // A daemon that refuses us (permission, busy) answers and closes without
    // reading: the write may fail, but its answer is there to read.
    let sent = (&stream).write_all(text.as_bytes());
    let timeout = if waits { None } else { Some(ANSWER_TIMEOUT) };
    let _ = stream.set_read_timeout(timeout);
    let mut reader = BufReader::new(&stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => {
                return Err(match &sent {
                    Err(e) => format!("{socket}: {}", sys::describe(e)),
                    Ok(()) => "the daemon closed the connection without an answer".into(),
                })
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err("daemon not responding".into())
            }
            Err(e) => return Err(format!("{socket}: {}", sys::describe(&e))),
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let Some((&tag, rest)) = buf.split_first() else { continue };
        let rest = String::from_utf8_lossy(rest);
        match tag {
            TAG_OUT | TAG_ERR => line(tag, &rest),
            TAG_EXIT => {
                let code = rest.trim().parse().unwrap_or(1);
                drop(reader);
                return Ok((code, stream));
            }
            _ => {}
        }
    }
}

/// Blocks until the daemon closes the connection: it does so by exiting.
fn wait_closed(stream: &UnixStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut sink = [0u8; 256];
    while matches!((&*stream).read(&mut sink), Ok(n) if n > 0) {}
}

/// Connects to the daemon and makes sure it is root or ourselves.
fn connect(socket: &str) -> Result<UnixStream, String> {
    let addr = crate::socket::address(socket).map_err(|e| format!("{socket}: {}", sys::describe(&e)))?;
    let stream = UnixStream::connect_addr(&addr).map_err(|e| match e.raw_os_error() {
        Some(libc::ECONNREFUSED) | Some(libc::ENOENT) => format!("daemon not running ({socket})"),
        _ => format!("cannot reach the daemon at {socket}: {}", sys::describe(&e)),
    })?;
    let peer =
        crate::socket::untrusted_peer(&stream).map_err(|e| format!("{socket}: {}", sys::describe(&e)))?;
    if let Some((pid, uid)) = peer {
        return Err(crate::socket::held_by(socket, pid, uid));
    }
    Ok(stream)
}

/// `pman log NAME [-n N] [--stderr] [-f]`: asks the daemon where the log
/// is, then reads the file itself.
fn log(socket: &str, name: &str, lines: usize, stderr: bool, follow: bool) -> i32 {
    let request = Request::LogPath { name: name.to_string(), stderr };
    let mut path = None;
    let result = exchange(socket, &request, false, &mut |tag, text| {
        if tag == TAG_OUT {
            path = Some(text.to_string());
        } else {
            eprintln!("{text}");
        }
    });
    let code = match result {
        Ok((code, _)) => code,
        Err(message) => {
            eprintln!("pman: {message}");
            return 1;
        }
    };
    let Some(path) = path.filter(|_| code == 0) else { return code };
    let path = Path::new(&path);
    let mut out = io::stdout().lock();
    // A configured log that nothing was written to yet is an empty log.
    let tail = tail_lines(path, lines).unwrap_or_default();
    let _ = out.write_all(&tail);
    let _ = out.flush();
    if follow {
        follow_file(path, &mut out);
    }
    0
}

/// The last `n` lines of `path`, with the newest backup (`path.1`) in
/// front when the current file is short.
fn tail_lines(path: &Path, n: usize) -> Option<Vec<u8>> {
    let current = std::fs::read(path).ok()?;
    let mut text = current;
    if count_lines(&text) < n {
        let backup = format!("{}.1", path.display());
        if let Ok(mut older) = std::fs::read(backup) {
            older.extend_from_slice(&text);
            text = older;
        }
    }
    let mut start = text.len();
    let mut seen = 0;
    let body_end = if text.last() == Some(&b'\n') { text.len() - 1 } else { text.len() };
    for (i, &b) in text[..body_end].iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                start = i + 1;
                break;
            }
        }
    }
    if seen < n {
        start = 0;
    }
    if n == 0 {
        start = text.len();
    }
    Some(text[start..].to_vec())
}

fn count_lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}

/// Prints what is appended to `path`, across rotation (a new inode or a
/// shorter file starts over from its beginning), until killed.
fn follow_file(path: &Path, out: &mut impl Write) {
    let mut offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut inode = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
    let mut buf = vec![0u8; 8192];
    loop {
        std::thread::sleep(FOLLOW_INTERVAL);
        let Ok(meta) = std::fs::metadata(path) else { continue };
        if meta.ino() != inode || meta.len() < offset {
            inode = meta.ino();
            offset = 0;
        }
        if meta.len() == offset {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(path) else { continue };
        if file.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    offset += n as u64;
                    if out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
