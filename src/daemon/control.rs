//! The control socket, daemon side: the listener, clients (bounded,
//! non-blocking, timed out, their buffers reused), replies, and the
//! requests answered at once from the program table. Requests that wait
//! on programs become jobs (`jobs`).

use super::capture::Output;
use super::log::Logger;
use super::program::{Event, State};
use super::status;
use super::table::Table;
use crate::logfile;
use crate::protocol::{MAX_REQUEST, TAG_ERR, TAG_EXIT, TAG_OUT};
use crate::sys;
use crate::sys::Instant;
use crate::text::Part::{Int, Str, Uint};
use crate::text::{Part, Text};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

/// Most clients connected at once; more are told `daemon busy`.
pub const MAX_CLIENTS: usize = 32;
/// A client must send its request line within this many seconds; a reply
/// that makes no progress for this long is abandoned.
pub const CLIENT_TIMEOUT_SECS: u32 = 10;
/// A reply this big is worth returning its memory for once it is sent:
/// kept, a `status --json` of hundreds of programs would stay resident for
/// good. A plain `status` of 300 programs (about 45 bytes a line) fits, so
/// asking it again allocates nothing.
const BIG_REPLY: usize = 16 * 1024;
/// Buffers of closed clients kept for the next ones: a small reply allocates nothing.
const SPARE_BUFFERS: usize = 8;
/// While `accept` fails with EMFILE/ENFILE, the socket is not polled for this many seconds.
const ACCEPT_PAUSE_SECS: u32 = 1;

#[derive(PartialEq, Eq, Debug)]
enum Phase {
    Reading,
    Waiting,
    Writing,
}

struct Client {
    id: u64,
    stream: UnixStream,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    deadline: Option<Instant>,
    closed: bool,
    /// Keep the connection open after the reply, until the daemon exits
    /// (`kill` returns once the daemon is gone).
    linger: bool,
}

impl Client {
    fn poll_events(&self) -> libc::c_short {
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
    fn with_capacity(mut buf: Vec<u8>, bytes: usize) -> Reply {
        buf.clear();
        buf.reserve(bytes);
        Reply { text: Text::reuse(buf) }
    }

    /// A reply of one error line (shared by every refusal).
    #[inline(never)]
    pub fn error(text: &str) -> Reply {
        let mut reply = Reply::default();
        reply.err(text);
        reply
    }

    /// Program `i`'s status line (`status`, `signal`, `start`/`stop`/`restart`).
    #[inline(never)]
    pub fn status_line(&mut self, table: &Table, i: usize, now: Instant) {
        let slot = table.slot(i);
        status::line(self.begin(TAG_OUT), &slot.cfg.name, &slot.prog, now, &table.waiting_for(i));
        self.end();
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
    pub fn parts(&mut self, tag: u8, template: &str, args: &[Part]) {
        self.begin(tag).parts(template, args);
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

/// The listening socket and its clients.
pub struct Control {
    listener: UnixListener,
    clients: Vec<Client>,
    next_client_id: u64,
    accept_paused_until: Option<Instant>,
    /// Emptied buffers of closed clients, for the next ones.
    spare: Vec<Vec<u8>>,
}

impl Control {
    pub fn new(listener: UnixListener) -> Control {
        Control {
            listener,
            clients: Vec::new(),
            next_client_id: 1,
            accept_paused_until: None,
            spare: Vec::new(),
        }
    }

    /// Listens on a socket a reload bound.
    pub fn replace_listener(&mut self, listener: UnixListener) {
        self.listener = listener;
    }

    /// The listener's descriptor while it takes clients, else -1.
    pub fn listen_fd(&self, accepting: bool) -> RawFd {
        if accepting && self.accept_paused_until.is_none() {
            self.listener.as_raw_fd()
        } else {
            -1
        }
    }

    /// Each client's descriptor, events to poll and id.
    pub fn polled(&self, add: &mut dyn FnMut(RawFd, libc::c_short, u64)) {
        for c in &self.clients {
            add(c.stream.as_raw_fd(), c.poll_events(), c.id);
        }
    }

    /// The nearest client time-out or end of an accept pause.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut nearest = self.accept_paused_until;
        for c in &self.clients {
            if let Some(t) = c.deadline {
                if nearest.map_or(true, |n| t < n) {
                    nearest = Some(t);
                }
            }
        }
        nearest
    }

    pub fn accept(&mut self, log: &mut Logger) {
        loop {
            match sys::accept(self.listener.as_raw_fd()) {
                Ok(stream) => self.new_client(stream),
                Err(e) if sys::would_block(&e) => break,
                Err(e) if sys::interrupted(&e) => {}
                Err(e) => {
                    if matches!(e.0, libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) {
                        let reason = sys::describe(&e);
                        log.error("accept: {}; pausing the socket for 1s", &[Str(&reason)]);
                        self.accept_paused_until = Some(Instant::now().after_secs(ACCEPT_PAUSE_SECS));
                    }
                    break;
                }
            }
        }
    }

    fn new_client(&mut self, stream: UnixStream) {
        let allowed = matches!(crate::socket::untrusted_peer(&stream), Ok(None));
        let refusal = if !allowed {
            Some(("pman: permission denied", 4))
        } else if self.clients.len() >= MAX_CLIENTS {
            Some(("pman: daemon busy", 1))
        } else {
            None
        };
        if let Some((message, code)) = refusal {
            // Answered and closed at once, so it never holds a slot.
            let _ = sys::set_nonblocking(stream.as_raw_fd());
            let _ = sys::write(stream.as_raw_fd(), &Reply::error(message).finish(code));
            return;
        }
        if sys::set_nonblocking(stream.as_raw_fd()).is_err() {
            return;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let input = self.spare.pop().unwrap_or_default();
        self.clients.push(Client {
            id,
            stream,
            phase: Phase::Reading,
            input,
            output: Vec::new(),
            written: 0,
            deadline: Some(Instant::now().after_secs(CLIENT_TIMEOUT_SECS)),
            closed: false,
            linger: false,
        });
    }

    /// Forgets closed clients, keeping a few of their buffers; after a big
    /// reply, hands the freed memory back to the system so a burst of
    /// large replies leaves no trace. True when a client went.
    pub fn drop_closed(&mut self) -> bool {
        let mut big = false;
        let before = self.clients.len();
        let mut at = 0;
        while at < self.clients.len() {
            if !self.clients[at].closed {
                at += 1;
                continue;
            }
            let client = self.clients.swap_remove(at);
            for mut buf in [client.input, client.output] {
                if buf.capacity() > BIG_REPLY {
                    big = true;
                } else if buf.capacity() > 0 && self.spare.len() < SPARE_BUFFERS {
                    buf.clear();
                    self.spare.push(buf);
                }
            }
        }
        if big {
            sys::release_free_memory();
        }
        self.clients.len() < before
    }

    /// Drops clients whose time is up. True when a client went.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
        }
        for client in &mut self.clients {
            if client.deadline.is_some_and(|t| t <= now) {
                client.closed = true;
            }
        }
        self.drop_closed()
    }

    /// Serves a client poll found ready. Returns its request line (in its
    /// input buffer: give it back with [`Control::recycle`]) once complete.
    pub fn service(&mut self, id: u64, revents: libc::c_short) -> Option<Vec<u8>> {
        let client = self.clients.iter_mut().find(|c| c.id == id)?;
        match client.phase {
            Phase::Reading => {
                let mut buf = [0u8; 1024];
                loop {
                    match sys::read(client.stream.as_raw_fd(), &mut buf) {
                        Ok(0) => {
                            client.closed = true;
                            return None;
                        }
                        Ok(n) => {
                            client.input.extend_from_slice(&buf[..n]);
                            if let Some(end) = client.input.iter().position(|&b| b == b'\n') {
                                if end > MAX_REQUEST {
                                    self.refuse_long(id);
                                    return None;
                                }
                                client.input.truncate(end);
                                client.phase = Phase::Waiting;
                                client.deadline = None;
                                return Some(std::mem::take(&mut client.input));
                            }
                            if client.input.len() > MAX_REQUEST {
                                self.refuse_long(id);
                                return None;
                            }
                        }
                        Err(e) if sys::interrupted(&e) => {}
                        Err(e) if sys::would_block(&e) => return None,
                        Err(_) => {
                            client.closed = true;
                            return None;
                        }
                    }
                }
            }
            Phase::Waiting => {
                if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                    client.closed = true;
                }
                None
            }
            Phase::Writing => {
                write_some(client);
                None
            }
        }
    }

    /// Takes back a request buffer [`Control::service`] handed out.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= 2 * MAX_REQUEST && self.spare.len() < SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// An empty reply with room for about `bytes`, in a reused buffer.
    pub fn reply(&mut self, bytes: usize) -> Reply {
        Reply::with_capacity(self.spare.pop().unwrap_or_default(), bytes)
    }

    fn refuse_long(&mut self, id: u64) {
        let mut reply = Reply::default();
        reply.parts(TAG_ERR, "pman: request longer than {} bytes", &[Uint(MAX_REQUEST as u64)]);
        self.send(Some(id), reply, 2);
    }

    /// Queues a finished reply for a client (if it is still there).
    pub fn send(&mut self, id: Option<u64>, reply: Reply, code: i32) {
        let Some(client) = self.clients.iter_mut().find(|c| Some(c.id) == id) else { return };
        client.input.clear();
        let old = std::mem::replace(&mut client.output, reply.finish(code));
        client.written = 0;
        client.phase = Phase::Writing;
        client.deadline = Some(Instant::now().after_secs(CLIENT_TIMEOUT_SECS));
        write_some(client);
        if old.capacity() > 0 && old.capacity() <= BIG_REPLY {
            self.recycle(old);
        }
    }

    /// Tells a client its request waits on programs (the `+` line), so
    /// that it waits without a time limit. Two bytes into an empty socket
    /// buffer: a peer that cannot take them is gone, and is found closed.
    pub fn accepted(&mut self, id: Option<u64>) {
        if let Some(client) = self.clients.iter().find(|c| Some(c.id) == id) {
            let _ = sys::write(client.stream.as_raw_fd(), &[crate::protocol::TAG_ACCEPTED, b'\n']);
        }
    }

    /// Keeps `id`'s connection open after its reply until the daemon exits.
    pub fn linger(&mut self, id: Option<u64>) {
        if let Some(client) = self.clients.iter_mut().find(|c| Some(c.id) == id) {
            client.linger = true;
        }
    }

    /// At the daemon's end: lingering connections are left for the process
    /// exit to close, so that their clients see them end only once the
    /// daemon is gone, not when the daemon's parts are dropped before it.
    pub fn leave_lingering_to_exit(&mut self) {
        for client in std::mem::take(&mut self.clients) {
            if client.linger {
                std::mem::forget(client.stream);
            }
        }
    }

    /// Writes what can be written now to every client with a reply.
    pub fn flush(&mut self) -> bool {
        for client in &mut self.clients {
            if client.phase == Phase::Writing && !client.closed {
                write_some(client);
            }
        }
        self.drop_closed()
    }
}

pub fn unknown_reply(unknown: &[String], reply: &mut Reply) {
    for name in unknown {
        status::push_one_line(reply.begin(TAG_ERR).str("pman: no such program: "), name);
        reply.end();
    }
}

/// `status [--json] [NAME...]`: one line per program (or one JSON array).
pub fn status(table: &Table, output: &Output, reply: &mut Reply, names: &[String], json: bool) -> i32 {
    let all = names.is_empty();
    let (indices, unknown) = if all { (Vec::new(), Vec::new()) } else { table.resolve(names) };
    let count = if all { table.len() } else { indices.len() };
    let index = |n: usize| if all { n } else { indices[n] };
    let now = Instant::now();
    if json {
        let out = reply.begin(TAG_OUT).byte(b'[');
        for n in 0..count {
            if n > 0 {
                out.byte(b',');
            }
            let slot = table.slot(index(n));
            let waiting = table.waiting_for(index(n));
            let errors = output.log_errors(index(n));
            status::json(out, &slot.cfg.name, &slot.prog, now, errors, &waiting, slot.health());
        }
        out.byte(b']');
        reply.end();
    } else {
        for n in 0..count {
            reply.status_line(table, index(n), now);
        }
    }
    unknown_reply(&unknown, reply);
    if !unknown.is_empty() {
        2
    } else if (0..count).any(|n| table.slot(index(n)).prog.state != State::Running) {
        3
    } else {
        0
    }
}

/// The reply's size for a `status` of `count` programs, to size it once.
pub fn status_size(count: usize, json: bool) -> usize {
    let per_program = if json { 220 } else { 72 };
    per_program * count + 64
}

/// `pid [NAME]`: the daemon's pid, or the main process's.
pub fn pid(table: &Table, reply: &mut Reply, name: Option<&str>) -> i32 {
    let Some(name) = name else {
        reply.parts(TAG_OUT, "{}", &[Int(sys::getpid().into())]);
        return 0;
    };
    let (indices, unknown) = table.resolve(&[name.to_string()]);
    if !unknown.is_empty() {
        unknown_reply(&unknown, reply);
        return 2;
    }
    let mut code = 0;
    for i in indices {
        let prog = &table.slot(i).prog;
        match prog.pid.filter(|_| matches!(prog.state, State::Starting | State::Running | State::Stopping)) {
            Some(pid) => reply.parts(TAG_OUT, "{}", &[Int(pid.into())]),
            None => {
                not_running(table, i, reply);
                code = 1;
            }
        }
    }
    code
}

/// `signal SIG NAME...`: to each main process, then each status line.
pub fn signal(table: &mut Table, log: &mut Logger, reply: &mut Reply, signal: &str, names: &[String]) -> i32 {
    let Some(signo) = crate::signals::parse(signal) else {
        status::push_one_line(reply.begin(TAG_ERR).str("pman: bad signal: "), signal);
        reply.end();
        return 2;
    };
    let (indices, unknown) = table.resolve(names);
    if !unknown.is_empty() {
        unknown_reply(&unknown, reply);
        return 2;
    }
    let mut code = 0;
    let now = Instant::now();
    for i in indices {
        let prog = &table.slot(i).prog;
        let running = matches!(prog.state, State::Starting | State::Running | State::Stopping);
        match prog.pid.filter(|_| running) {
            Some(pid) => match sys::kill(pid, signo) {
                Ok(()) => table.event(i, Event::Signalled { signal: signo }, log),
                Err(e) => {
                    let name = &table.slot(i).cfg.name;
                    reply.parts(TAG_ERR, "pman: {}: kill: {}", &[Str(name), Str(&sys::describe(&e))]);
                    code = 1;
                }
            },
            None => {
                not_running(table, i, reply);
                code = 1;
                continue;
            }
        }
        reply.status_line(table, i, now);
    }
    code
}

/// `logpath NAME stdout|stderr`: where `pman log` reads.
pub fn log_path(table: &Table, reply: &mut Reply, name: &str, stderr: bool) -> i32 {
    let names = [name.to_string()];
    let (indices, unknown) = table.resolve(&names);
    if !unknown.is_empty() || indices.is_empty() {
        unknown_reply(&names, reply);
        return 2;
    }
    match indices[..] {
        [i] => match logfile::path_of(&table.slot(i).cfg, stderr) {
            Ok(path) => {
                reply.out(&crate::text::lossy(path));
                0
            }
            Err(message) => {
                reply.err(&message);
                1
            }
        },
        _ => {
            let mut processes = Vec::with_capacity(indices.len());
            for &i in &indices {
                processes.push(&table.slot(i).cfg);
            }
            reply.err(&logfile::several(name, &processes));
            2
        }
    }
}

/// `pman: NAME is not running (STATE)`, for `pid` and `signal`.
fn not_running(table: &Table, i: usize, reply: &mut Reply) {
    let slot = table.slot(i);
    reply.parts(TAG_ERR, "pman: {} is not running ({})", &[Str(&slot.cfg.name), Str(slot.prog.state.name())]);
}

/// Writes as much of the reply as the socket takes; closes when done.
fn write_some(client: &mut Client) {
    while client.written < client.output.len() {
        match sys::write(client.stream.as_raw_fd(), &client.output[client.written..]) {
            Ok(0) => break,
            Ok(n) => {
                client.written += n;
                client.deadline = Some(Instant::now().after_secs(CLIENT_TIMEOUT_SECS));
            }
            Err(e) if sys::interrupted(&e) => {}
            Err(e) if sys::would_block(&e) => return,
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
