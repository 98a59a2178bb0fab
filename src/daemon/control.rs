//! The control socket, daemon side: clients (bounded, non-blocking, timed
//! out) and requests. Requests that wait on programs become jobs (`jobs`).

use super::program::{Event, State};
use super::{status, Daemon};
use crate::config::LogTarget;
use crate::protocol::{valid_name, Request, MAX_REQUEST, TAG_ERR, TAG_EXIT, TAG_OUT};
use crate::sys;
use crate::text::Part::{Int, Str, Uint};
use crate::text::{Part, Text};
use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Most clients connected at once; more are told `daemon busy`.
pub const MAX_CLIENTS: usize = 32;
/// A client must send its request line within this time; a reply that
/// makes no progress for this long is abandoned.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// A reply this big is worth returning its memory for once it is sent.
const BIG_REPLY: usize = 64 * 1024;

fn address(socket: &str) -> io::Result<SocketAddr> {
    match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(socket),
    }
}

pub fn listen(socket: &str) -> io::Result<UnixListener> {
    if !socket.starts_with('@') {
        // A stale socket file from a dead daemon (a live one was ruled out).
        let _ = std::fs::remove_file(socket);
    }
    let listener = UnixListener::bind_addr(&address(socket)?)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

pub fn connect(socket: &str) -> io::Result<UnixStream> {
    UnixStream::connect_addr(&address(socket)?)
}

#[derive(PartialEq, Eq, Debug)]
enum Phase {
    Reading,
    Waiting,
    Writing,
}

pub struct Client {
    pub id: u64,
    pub stream: UnixStream,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pub deadline: Option<Instant>,
    pub closed: bool,
    /// Keep the connection open after the reply, until the daemon exits
    /// (`kill` returns once the daemon is gone).
    linger: bool,
}

impl Client {
    pub fn poll_events(&self) -> libc::c_short {
        match self.phase {
            Phase::Reading => libc::POLLIN,
            // Only hang-ups matter while a job runs; poll reports them anyway.
            Phase::Waiting => 0,
            Phase::Writing => libc::POLLOUT,
        }
    }
}

/// A reply being built: tagged lines, then the exit code.
#[derive(Default)]
pub struct Reply {
    text: Text,
}

impl Reply {
    /// A reply with room for about `bytes` (big replies are sized once
    /// instead of doubling their way up).
    fn with_capacity(bytes: usize) -> Reply {
        Reply { text: Text::with_capacity(bytes) }
    }

    pub fn out(&mut self, text: &str) {
        self.line(TAG_OUT, text);
    }

    pub fn err(&mut self, text: &str) {
        self.line(TAG_ERR, text);
    }

    fn line(&mut self, tag: u8, text: &str) {
        for line in text.split('\n') {
            self.begin(tag).str(line);
            self.end();
        }
    }

    /// One line of `parts` (which hold no newline).
    pub fn parts(&mut self, tag: u8, parts: &[Part]) {
        self.begin(tag).parts(parts);
        self.end();
    }

    /// Starts a line to be written in place (without a newline); [`Reply::end`] ends it.
    pub fn begin(&mut self, tag: u8) -> &mut Text {
        self.text.byte(tag)
    }

    pub fn end(&mut self) {
        self.text.byte(b'\n');
    }

    fn finish(mut self, code: i32) -> Vec<u8> {
        self.text.byte(TAG_EXIT).int(code.into()).byte(b'\n');
        self.text.into_bytes()
    }
}

impl Daemon {
    pub(super) fn new_client(&mut self, stream: UnixStream) {
        let allowed = match sys::peer_cred(&stream) {
            Ok((_, uid)) => uid == 0 || uid == self.ctx.daemon_uid,
            Err(_) => false,
        };
        let refusal = if !allowed {
            Some(("pman: permission denied", 4))
        } else if self.clients.len() >= MAX_CLIENTS {
            Some(("pman: daemon busy", 1))
        } else {
            None
        };
        if let Some((message, code)) = refusal {
            // Answered and closed at once, so it never holds a slot.
            let _ = stream.set_nonblocking(true);
            let mut reply = Reply::default();
            reply.err(message);
            let _ = (&stream).write(&reply.finish(code));
            return;
        }
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.clients.push(Client {
            id,
            stream,
            phase: Phase::Reading,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            deadline: Some(Instant::now() + CLIENT_TIMEOUT),
            closed: false,
            linger: false,
        });
    }

    /// Forgets closed clients; after a big reply, hands the freed memory
    /// back to the system so a burst of large replies leaves no trace.
    pub(super) fn drop_closed_clients(&mut self) {
        let big = self.clients.iter().any(|c| c.closed && c.output.capacity() > BIG_REPLY);
        let before = self.clients.len();
        self.clients.retain(|c| !c.closed);
        if big {
            sys::release_free_memory();
        }
        if self.clients.len() < before {
            // A freed descriptor goes back to the reserve before a start takes it.
            self.refill_fd_reserve();
        }
    }

    pub(super) fn expire_clients(&mut self, now: Instant) {
        for client in &mut self.clients {
            if client.deadline.is_some_and(|t| t <= now) {
                client.closed = true;
            }
        }
        self.drop_closed_clients();
    }

    pub(super) fn service_client(&mut self, id: u64, revents: libc::c_short) {
        let Some(client) = self.clients.iter_mut().find(|c| c.id == id) else { return };
        match client.phase {
            Phase::Reading => {
                let mut buf = [0u8; 1024];
                loop {
                    match (&client.stream).read(&mut buf) {
                        Ok(0) => {
                            client.closed = true;
                            return;
                        }
                        Ok(n) => {
                            client.input.extend_from_slice(&buf[..n]);
                            if let Some(end) = client.input.iter().position(|&b| b == b'\n') {
                                if end > MAX_REQUEST {
                                    return self.refuse_long(id);
                                }
                                let line = String::from_utf8_lossy(&client.input[..end]).into_owned();
                                client.input = Vec::new();
                                client.phase = Phase::Waiting;
                                client.deadline = None;
                                return self.handle_request(id, &line);
                            }
                            if client.input.len() > MAX_REQUEST {
                                return self.refuse_long(id);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(_) => {
                            client.closed = true;
                            return;
                        }
                    }
                }
            }
            Phase::Waiting => {
                if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                    client.closed = true;
                }
            }
            Phase::Writing => write_some(client),
        }
    }

    fn refuse_long(&mut self, id: u64) {
        let mut reply = Reply::default();
        reply.parts(TAG_ERR, &[Str("pman: request longer than "), Uint(MAX_REQUEST as u64), Str(" bytes")]);
        self.send(Some(id), reply, 2);
    }

    /// Queues a finished reply for a client (if it is still there).
    pub(super) fn send(&mut self, id: Option<u64>, reply: Reply, code: i32) {
        let Some(client) = self.clients.iter_mut().find(|c| Some(c.id) == id) else { return };
        client.input = Vec::new();
        client.output = reply.finish(code);
        client.written = 0;
        client.phase = Phase::Writing;
        client.deadline = Some(Instant::now() + CLIENT_TIMEOUT);
        write_some(client);
    }

    /// Keeps `id`'s connection open after its reply until the daemon exits.
    pub(super) fn linger(&mut self, id: Option<u64>) {
        if let Some(client) = self.clients.iter_mut().find(|c| Some(c.id) == id) {
            client.linger = true;
        }
    }

    /// Writes what can be written now to every client with a reply.
    pub(super) fn flush_clients(&mut self) {
        for client in &mut self.clients {
            if client.phase == Phase::Writing && !client.closed {
                write_some(client);
            }
        }
        self.drop_closed_clients();
    }

    fn handle_request(&mut self, id: u64, line: &str) {
        let request = match Request::parse(line) {
            Ok(request) => request,
            Err(message) => {
                let mut reply = Reply::default();
                reply.parts(TAG_ERR, &[Str("pman: "), Str(&message)]);
                return self.send(Some(id), reply, 2);
            }
        };
        match request {
            Request::Status { names, json } => self.status(id, &names, json),
            Request::Pid(name) => self.pid(id, name.as_deref()),
            Request::Signal { signal, names } => self.signal(id, &signal, &names),
            Request::LogPath { name, stderr } => self.log_path(id, &name, stderr),
            Request::Start(names) => self.begin(id, &names, false, true),
            Request::Stop(names) => self.begin(id, &names, true, false),
            Request::Restart(names) => self.begin(id, &names, true, true),
            Request::Reload { dry_run } => self.request_reload(Some(id), dry_run),
            Request::Kill => self.begin_shutdown(Some(id)),
        }
    }

    /// Indices of the programs `names` select (in the order named, each
    /// once), or the unknown names. A repeated name is looked at once, so
    /// the cost follows the request, never words × programs.
    pub(super) fn resolve(&self, names: &[String]) -> (Vec<usize>, Vec<String>) {
        let mut found: Vec<usize> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut seen = vec![false; self.slots.len()];
        let mut take = |i: usize, found: &mut Vec<usize>| {
            if !std::mem::replace(&mut seen[i], true) {
                found.push(i);
            }
        };
        let mut asked: Vec<&str> = Vec::new();
        for name in names {
            match asked.binary_search(&name.as_str()) {
                Ok(_) => continue,
                Err(at) => asked.insert(at, name),
            }
            // A name outside the NAME charset is nobody's, whatever it holds.
            if !valid_name(name) {
                unknown.push(name.clone());
                continue;
            }
            let mut any = false;
            if name == "all" {
                (0..self.slots.len()).for_each(|i| take(i, &mut found));
                any = true;
            } else if let Some(i) = self.slots.iter().position(|s| s.cfg.name == *name) {
                take(i, &mut found);
                any = true;
            } else {
                let group = name.strip_suffix(":*").unwrap_or(name);
                for (i, _) in self.slots.iter().enumerate().filter(|(_, s)| s.cfg.group == group) {
                    take(i, &mut found);
                    any = true;
                }
            }
            if !any {
                unknown.push(name.clone());
            }
        }
        (found, unknown)
    }

    pub(super) fn unknown_reply(unknown: &[String], reply: &mut Reply) {
        for name in unknown {
            status::push_one_line(reply.begin(TAG_ERR).str("pman: no such program: "), name);
            reply.end();
        }
    }

    fn status(&mut self, id: u64, names: &[String], json: bool) {
        let (indices, unknown) = if names.is_empty() {
            ((0..self.slots.len()).collect(), Vec::new())
        } else {
            self.resolve(names)
        };
        let now = Instant::now();
        let per_program = if json { 220 } else { 72 };
        let mut reply = Reply::with_capacity(per_program * indices.len() + 64);
        if json {
            let out = reply.begin(TAG_OUT).byte(b'[');
            for (n, &i) in indices.iter().enumerate() {
                if n > 0 {
                    out.byte(b',');
                }
                let slot = &self.slots[i];
                status::json(out, &slot.cfg.name, &slot.prog, now, slot.log_errors());
            }
            out.byte(b']');
            reply.end();
        } else {
            for &i in &indices {
                status::line(reply.begin(TAG_OUT), &self.slots[i].cfg.name, &self.slots[i].prog, now);
                reply.end();
            }
        }
        Self::unknown_reply(&unknown, &mut reply);
        let code = if !unknown.is_empty() {
            2
        } else if indices.iter().any(|&i| self.slots[i].prog.state != State::Running) {
            3
        } else {
            0
        };
        self.send(Some(id), reply, code);
    }

    fn pid(&mut self, id: u64, name: Option<&str>) {
        let mut reply = Reply::default();
        let Some(name) = name else {
            reply.parts(TAG_OUT, &[Int(sys::getpid().into())]);
            return self.send(Some(id), reply, 0);
        };
        let (indices, unknown) = self.resolve(&[name.to_string()]);
        if !unknown.is_empty() {
            Self::unknown_reply(&unknown, &mut reply);
            return self.send(Some(id), reply, 2);
        }
        let mut code = 1;
        for i in indices {
            let prog = &self.slots[i].prog;
            if let (true, Some(pid)) =
                (matches!(prog.state, State::Starting | State::Running | State::Stopping), prog.pid)
            {
                reply.parts(TAG_OUT, &[Int(pid.into())]);
                code = 0;
            }
        }
        self.send(Some(id), reply, code);
    }

    fn signal(&mut self, id: u64, signal: &str, names: &[String]) {
        let mut reply = Reply::default();
        let Some(signo) = crate::signals::parse(signal) else {
            reply.parts(TAG_ERR, &[Str("pman: bad signal: "), Str(signal)]);
            return self.send(Some(id), reply, 2);
        };
        let (indices, unknown) = self.resolve(names);
        if !unknown.is_empty() {
            Self::unknown_reply(&unknown, &mut reply);
            return self.send(Some(id), reply, 2);
        }
        let mut code = 0;
        let now = Instant::now();
        for i in indices {
            let prog = &self.slots[i].prog;
            let running = matches!(prog.state, State::Starting | State::Running | State::Stopping);
            match prog.pid.filter(|_| running) {
                Some(pid) => match sys::kill(pid, signo) {
                    Ok(()) => self.event(i, Event::Signalled { signal: signo }),
                    Err(e) => {
                        let name = &self.slots[i].cfg.name;
                        reply.parts(
                            TAG_ERR,
                            &[Str("pman: "), Str(name), Str(": kill: "), Str(&sys::describe(&e))],
                        );
                        code = 1;
                    }
                },
                None => code = 1,
            }
            status::line(reply.begin(TAG_OUT), &self.slots[i].cfg.name, &self.slots[i].prog, now);
            reply.end();
        }
        self.send(Some(id), reply, code);
    }

    fn log_path(&mut self, id: u64, name: &str, stderr: bool) {
        let mut reply = Reply::default();
        let (indices, unknown) = self.resolve(&[name.to_string()]);
        let Some(&i) = indices.first().filter(|_| unknown.is_empty()) else {
            Self::unknown_reply(&[name.to_string()], &mut reply);
            return self.send(Some(id), reply, 2);
        };
        let cfg = &self.slots[i].cfg;
        let (which, target) =
            if stderr && !cfg.redirect_stderr { ("stderr", &cfg.stderr) } else { ("stdout", &cfg.stdout) };
        let code = match target {
            LogTarget::File(path) => {
                reply.out(&path.to_string_lossy());
                0
            }
            LogTarget::Syslog => {
                reply.parts(
                    TAG_ERR,
                    &[
                        Str("pman: "),
                        Str(&cfg.name),
                        Str(": "),
                        Str(which),
                        Str(" goes to syslog (see logread)"),
                    ],
                );
                1
            }
            LogTarget::None => {
                reply.parts(
                    TAG_ERR,
                    &[Str("pman: "), Str(&cfg.name), Str(": "), Str(which), Str(" is not logged (none)")],
                );
                1
            }
        };
        self.send(Some(id), reply, code);
    }
}

/// Writes as much of the reply as the socket takes; closes when done.
fn write_some(client: &mut Client) {
    while client.written < client.output.len() {
        match (&client.stream).write(&client.output[client.written..]) {
            Ok(0) => break,
            Ok(n) => {
                client.written += n;
                client.deadline = Some(Instant::now() + CLIENT_TIMEOUT);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                client.closed = true;
                return;
            }
        }
    }
    if client.linger {
        client.deadline = None;
    } else {
        client.closed = true;
    }
}
