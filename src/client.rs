//! The client side of every command that talks to the daemon: one request
//! line, then print the tagged reply lines and exit with the daemon's code.

use crate::cli::Command;
use crate::config;
use crate::protocol::{Request, TAG_ERR, TAG_EXIT, TAG_OUT};
use crate::sys;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::path::Path;
use std::time::Duration;

mod log;

/// Without any answer for this long, the client gives up (except while
/// start/stop/restart/kill/reload wait on programs).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(config_path: &Path, command: Command) -> i32 {
    // No fallback to the default socket: that would steer another daemon.
    let socket = match config::socket_name(config_path) {
        Ok(socket) => socket,
        Err(message) => {
            eprintln!("pman: {message}");
            return 2;
        }
    };
    match command {
        Command::Log { source, lines, stderr, follow } => {
            log::run(config_path, &socket, source, lines, stderr, follow)
        }
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
            let reply = connect(&socket).and_then(|stream| {
                exchange(stream, &socket, &request, waits, &mut |tag, text| print_line(tag, text))
            });
            match reply {
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
    stream: UnixStream,
    socket: &str,
    request: &Request,
    waits: bool,
    line: &mut dyn FnMut(u8, &str),
) -> Result<(i32, UnixStream), String> {
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
    dial(socket)?.ok_or_else(|| format!("daemon not running ({socket})"))
}

/// [`connect`], with `Ok(None)` when no daemon listens on `socket`.
fn dial(socket: &str) -> Result<Option<UnixStream>, String> {
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(socket),
    }
    .map_err(|e| format!("{socket}: {}", sys::describe(&e)))?;
    let stream = match UnixStream::connect_addr(&addr) {
        Ok(stream) => stream,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED) | Some(libc::ENOENT)) => {
            return Ok(None)
        }
        Err(e) => return Err(format!("cannot reach the daemon at {socket}: {}", sys::describe(&e))),
    };
    let (pid, uid) = sys::peer_cred(&stream).map_err(|e| format!("{socket}: {}", sys::describe(&e)))?;
    if uid != 0 && uid != sys::geteuid() {
        return Err(format!("{socket} is held by uid {uid} (pid {pid})"));
    }
    Ok(Some(stream))
}
