//! The client side of every command that talks to the daemon: one request
//! line, then print the tagged reply lines and exit with the daemon's code.
//! Plain `sys` calls and whole-line writes: no std::io machinery.

use crate::cli::Command;
use crate::protocol::{Request, TAG_ACCEPTED, TAG_ERR, TAG_EXIT, TAG_OUT};
use crate::text::Part::Str;
use crate::{config, fail, socket, sys};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

mod log;
mod metrics;
mod rpcd;

/// Without any answer for this long, the client gives up (except while
/// start/stop/restart/kill/reload wait on programs).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// After `kill` answered, how long the client waits for the daemon to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(config_path: &[u8], command: Command) -> i32 {
    // No fallback to the default socket: that would steer another daemon.
    let socket = match config::socket_name(config_path) {
        Ok(socket) => socket,
        Err(message) => {
            fail(&[&message]);
            return 2;
        }
    };
    let request = match command {
        Command::Log { source, lines, stderr, follow } => {
            return log::run(config_path, &socket, source, lines, stderr, follow)
        }
        Command::Metrics => return metrics::run(&socket),
        Command::Rpcd(words) => return rpcd::run(&socket, &words),
        Command::Send(request) => request,
        _ => return 2,
    };
    let waits = matches!(
        request,
        Request::Start(_)
            | Request::Stop(_)
            | Request::Restart(_)
            | Request::Kill
            | Request::Reload { dry_run: false }
    );
    let reply = connect(&socket).and_then(|stream| {
        let code = exchange(&stream, &socket, &request, waits, &mut print_line)?;
        Ok((code, stream))
    });
    match reply {
        Ok((code, stream)) => {
            if matches!(request, Request::Kill) {
                // The daemon holds the connection until it is gone.
                wait_closed(&stream);
            }
            code
        }
        Err(message) => {
            fail(&[&message]);
            1
        }
    }
}

/// A reply line (its newline included) to stdout or stderr, in one write.
fn print_line(tag: u8, line: &[u8]) {
    let _ = sys::write_all(if tag == TAG_OUT { 1 } else { 2 }, line);
}

/// Sends `request` and feeds each reply line to `line` (its tag, then the
/// text with its newline). Returns the daemon's exit code.
fn exchange(
    stream: &UnixStream,
    socket: &str,
    request: &Request,
    waits: bool,
    line: &mut dyn FnMut(u8, &[u8]),
) -> Result<i32, String> {
    let fd = stream.as_raw_fd();
    let mut text = request.encode();
    text.push('\n');
    // A daemon that refuses us (permission, busy) answers and closes without
    // reading: the write may fail, but its answer is there to read.
    let sent = sys::write_all(fd, text.as_bytes());
    let mut pending = Vec::new();
    let mut chunk = [0u8; 1024];
    // A request that waits on programs has no time limit once the daemon
    // has said it has it (`+`); until then a silent daemon is given up on.
    let mut accepted = false;
    loop {
        let unlimited = waits && accepted;
        if !unlimited && !sys::readable_within(fd, ANSWER_TIMEOUT) {
            return Err("daemon not responding".into());
        }
        let n = match sys::read(fd, &mut chunk) {
            // The last line lacks its newline: it counts all the same.
            Ok(0) if !pending.is_empty() => {
                chunk[0] = b'\n';
                1
            }
            Ok(0) => {
                return Err(match &sent {
                    Err(e) => at(socket, e),
                    Ok(()) => "the daemon closed the connection without an answer".into(),
                })
            }
            Ok(n) => n,
            Err(e) if sys::interrupted(&e) => continue,
            Err(e) => return Err(at(socket, &e)),
        };
        for &byte in &chunk[..n] {
            pending.push(byte);
            if byte != b'\n' {
                continue;
            }
            let (tag, text) = (pending[0], &pending[1..]);
            match tag {
                TAG_OUT | TAG_ERR => line(tag, text),
                TAG_ACCEPTED => accepted = true,
                TAG_EXIT => {
                    let code = sys::str_of(text).and_then(|t| crate::number::i32(t.trim_ascii()));
                    return Ok(code.unwrap_or(1));
                }
                _ => {}
            }
            pending.clear();
        }
    }
}

/// `SOCKET: ERROR`.
fn at(socket: &str, e: &sys::Errno) -> String {
    crate::text::concat("{}: {}", &[Str(socket), Str(&sys::describe(e))])
}

/// What the daemon answered `request`: its exit code, its stdout lines
/// and its stderr lines (each with its newline).
fn ask(socket: &str, request: &Request) -> Result<(i32, Vec<u8>, Vec<u8>), String> {
    let stream = connect(socket)?;
    let waits = !matches!(request, Request::Status { .. } | Request::LogPath { .. });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = exchange(&stream, socket, request, waits, &mut |tag, line| {
        if tag == TAG_OUT { &mut out } else { &mut err }.extend_from_slice(line)
    })?;
    Ok((code, out, err))
}

/// Every program's `status --json` object: the daemon's answer, a JSON
/// array (checked), as [`crate::json::parse`] reads it. `Err`: the exit
/// code (the daemon's when it refused, e.g. 4) and the message.
fn programs(socket: &str) -> Result<Vec<u8>, (i32, String)> {
    let (code, out, err) =
        ask(socket, &Request::Status { names: Vec::new(), json: true }).map_err(|m| (1, m))?;
    match crate::json::parse(&out) {
        Ok(list) if list.is_array() => Ok(out),
        _ => Err((code.max(1), message(&err))),
    }
}

/// The daemon's error lines as one message, without `pman: ` prefixes.
fn message(err: &[u8]) -> String {
    let text = crate::text::lossy(err);
    let mut joined = String::new();
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            joined.push_str("; ");
        }
        joined.push_str(line.strip_prefix("pman: ").unwrap_or(line));
    }
    if joined.is_empty() {
        joined.push_str("the daemon refused");
    }
    joined
}

/// Blocks until the daemon closes the connection: it does so by exiting.
fn wait_closed(stream: &UnixStream) {
    let fd = stream.as_raw_fd();
    let mut sink = [0u8; 256];
    while sys::readable_within(fd, EXIT_TIMEOUT) && matches!(sys::read(fd, &mut sink), Ok(n) if n > 0) {}
}

/// Connects to the daemon and makes sure it is root or ourselves.
fn connect(socket: &str) -> Result<UnixStream, String> {
    dial(socket)?.ok_or_else(|| crate::text::concat("daemon not running ({})", &[Str(socket)]))
}

/// [`connect`], with `Ok(None)` when no daemon listens on `socket`.
fn dial(socket: &str) -> Result<Option<UnixStream>, String> {
    let stream = match socket::connect_raw(socket) {
        Ok(stream) => stream,
        Err(libc::ECONNREFUSED | libc::ENOENT) => return Ok(None),
        Err(errno) => {
            return Err(crate::text::concat(
                "cannot reach the daemon at {}: {}",
                &[Str(socket), Str(&sys::strerror(errno))],
            ))
        }
    };
    let peer = socket::untrusted_peer(&stream).map_err(|e| at(socket, &e))?;
    if let Some((pid, uid)) = peer {
        return Err(socket::held_by(socket, pid, uid));
    }
    Ok(Some(stream))
}
