//! The supervisor daemon: start-up (detach, readiness, pidfile) and the one
//! `poll(2)` loop over the signal self-pipe, the control socket, clients and
//! deadlines. Program lifecycles live in `program`, requests in `control`.

mod capture;
mod control;
mod jobs;
mod log;
mod program;
mod rotate;
mod spawn;
mod status;

use crate::config::{self, Config, LogTarget, ProgramConfig};
use crate::sys::{self, Exit, Pid};
use crate::text::Part::{Bytes, Int, Str, Uint};
use crate::text::{concat, Part, Text};
use capture::{Capture, Incident, Sink, Writer};
use control::Client;
use jobs::Job;
use log::Logger;
use program::{Action, Event, Program, State};
use spawn::{Context, Resolved, SpawnError};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::time::{Duration, Instant};

/// While `accept` fails with EMFILE/ENFILE, the socket is not polled for this long.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Descriptors held in reserve (on /dev/null) and let go just before
/// `accept`: when the table is full, starts and log opens fail first while
/// the control socket still takes clients.
const FD_RESERVE: usize = 4;

/// One configured program and its runtime state.
pub struct Slot {
    pub cfg: ProgramConfig,
    pub prog: Program,
    /// The executable and user found at the first start, kept.
    found: Resolved,
    /// Pipes for stdout and stderr when captured; made at the first start
    /// and kept across restarts.
    captures: [Option<Box<Capture>>; 2],
}

impl Slot {
    pub fn new(cfg: ProgramConfig) -> Slot {
        Slot { cfg, prog: Program::new(), found: Resolved::default(), captures: [None, None] }
    }

    /// FATAL config: its section had errors at boot. No command changes
    /// it; a reload that fixes the section replaces it.
    pub fn fatal_config(&self) -> bool {
        self.cfg.is_unrun()
    }

    /// Failed log writes and dropped syslog lines of this program.
    pub fn log_errors(&self) -> u64 {
        self.captures.iter().flatten().map(|c| c.errors).sum()
    }
}

pub struct Daemon {
    config: Config,
    slots: Vec<Slot>,
    listener: UnixListener,
    clients: Vec<Client>,
    next_client_id: u64,
    jobs: Vec<Job>,
    log: Logger,
    ctx: Context,
    signal_pipe: OwnedFd,
    accept_paused_until: Option<Instant>,
    /// SIGTERM/SIGINT/`kill` began the shutdown.
    shutting_down: bool,
    /// Set when the loop should end, with the exit code.
    exit_code: Option<i32>,
    pollfds: Vec<libc::pollfd>,
    /// The client each of `pollfds[2..capture_base]` was polled for, by id.
    polled_clients: Vec<u64>,
    /// Where the captures start in `pollfds`.
    capture_base: usize,
    /// Log files of captured streams, shared by path.
    writers: Vec<Writer>,
    syslog: Option<UnixDatagram>,
    /// The one buffer every pipe is read through.
    iobuf: Vec<u8>,
    /// The one buffer every syslog datagram is built in.
    datagram: Text,
    /// Up to [`FD_RESERVE`] descriptors kept for `accept`.
    fd_reserve: Vec<OwnedFd>,
}

/// `pman daemon [-f]`. Boot runs what it can: errors in the config are
/// printed and logged, and only those that leave nothing to run or no
/// socket to find the daemon by stop it (exit 2).
pub fn run(config_path: &Path, foreground: bool) -> i32 {
    let report = config::load(config_path);
    for warning in &report.warnings {
        say(&[Str("pman: warning: "), Str(warning)]);
    }
    let warnings = report.warnings.clone();
    let (config, errors) = match report.for_boot() {
        Ok(boot) => boot,
        Err(errors) => {
            for error in &errors {
                say(&[Str("pman: "), Str(error)]);
            }
            return 2;
        }
    };
    for error in &errors {
        say(&[Str("pman: "), Str(error)]);
    }
    let found = Found { warnings, errors };
    if let Some(message) = already_running(&config.socket) {
        say(&[Str("pman: "), Str(&message)]);
        return 1;
    }
    if foreground {
        return match Daemon::start(config, &found, true, None) {
            Ok(mut daemon) => daemon.run_loop(),
            Err(message) => {
                say(&[Str("pman: "), Str(&message)]);
                1
            }
        };
    }
    detach(config, &found)
}

/// What loading the config said, for the daemon log (`run` printed it on stderr).
struct Found {
    warnings: Vec<String>,
    errors: Vec<String>,
}

/// Forks the daemon and waits for its readiness line over a pipe: `OK`, or
/// the error that stopped it. The daemon keeps no descriptor it inherited
/// beyond 0–2 (those go to /dev/null once it is ready).
fn detach(config: Config, found: &Found) -> i32 {
    let (ready_read, ready_write) = match sys::pipe(false) {
        Ok(pair) => pair,
        Err(e) => {
            say(&[Str("pman: pipe: "), Str(&sys::describe(&e))]);
            return 1;
        }
    };
    match sys::fork() {
        Err(e) => {
            say(&[Str("pman: fork: "), Str(&sys::describe(&e))]);
            1
        }
        Ok(0) => {
            drop(ready_read);
            sys::setsid();
            sys::close_inherited(ready_write.as_raw_fd());
            match Daemon::start(config, found, false, Some(ready_write)) {
                Ok(mut daemon) => daemon.run_loop(),
                Err(_) => 1,
            }
        }
        Ok(_child) => {
            drop(ready_write);
            let mut answer = String::new();
            let _ = std::fs::File::from(ready_read).read_to_string(&mut answer);
            if answer.starts_with("OK") {
                0
            } else if answer.is_empty() {
                say(&[Str("pman: daemon exited before it was ready")]);
                1
            } else {
                say(&[Str("pman: "), Str(answer.strip_suffix('\n').unwrap_or(&answer))]);
                1
            }
        }
    }
}

/// Some("already running (pid N)") when a daemon answers on `socket`.
fn already_running(socket: &str) -> Option<String> {
    let stream = control::connect(socket).ok()?;
    let (pid, uid) = sys::peer_cred(&stream).ok()?;
    if uid != 0 && uid != sys::geteuid() {
        return Some(concat(&[
            Str(socket),
            Str(" is held by uid "),
            Uint(uid.into()),
            Str(" (pid "),
            Int(pid.into()),
            Str(")"),
        ]));
    }
    Some(concat(&[Str("already running (pid "), Int(pid.into()), Str(")")]))
}

impl Daemon {
    /// Sets everything up: subreaper, signals, socket, pidfile, log; starts
    /// the autostart programs. With `ready`, reports `OK` or the error on it
    /// and then detaches stdio.
    fn start(
        config: Config,
        found: &Found,
        foreground: bool,
        ready: Option<OwnedFd>,
    ) -> Result<Daemon, String> {
        let result = Daemon::setup(config, found, foreground);
        if let Some(ready) = ready {
            let mut message = Text::new();
            match &result {
                Ok(_) => message.str("OK\n"),
                Err(message_) => message.str(message_).byte(b'\n'),
            };
            let _ = sys::write_all(ready.as_raw_fd(), message.as_bytes());
            drop(ready);
            if result.is_ok() {
                sys::stdio_to_devnull();
            }
        }
        let mut daemon = result?;
        daemon.start_autostart();
        Ok(daemon)
    }

    fn setup(mut config: Config, found: &Found, foreground: bool) -> Result<Daemon, String> {
        // Whatever the launcher left open must not reach programs.
        sys::cloexec_from(3);
        let mut log = Logger::new(foreground);
        let logfile_error = log
            .configure(
                config.logfile.as_deref(),
                config.logfile_maxbytes,
                config.logfile_backups,
                &config.syslog_socket,
            )
            .err();
        if let Some(message) = logfile_error {
            // Configure fell back to syslog; the launcher's stderr is still ours.
            startup_error(&mut log, foreground, &[Str(&message), Str("; logging to syslog")]);
        }
        for warning in &found.warnings {
            log.record(log::Level::Warn, &[Str(warning)]);
        }
        for error in &found.errors {
            log.record(log::Level::Error, &[Str(error)]);
        }
        if let Err(e) = sys::set_child_subreaper() {
            log.warn(&[
                Str("cannot become a child subreaper ("),
                Str(&sys::describe(&e)),
                Str("): orphans may linger"),
            ]);
        }
        let (signal_read, signal_write) =
            sys::pipe(true).map_err(|e| concat(&[Str("pipe: "), Str(&sys::describe(&e))]))?;
        let signals = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
        sys::signals_to_pipe(&signals, signal_write.as_raw_fd())
            .map_err(|e| concat(&[Str("signals: "), Str(&sys::describe(&e))]))?;
        // The write end lives as long as the handlers: for the whole process.
        std::mem::forget(signal_write);

        let listener = control::listen(&config.socket).map_err(|e| {
            concat(&[Str("cannot listen on "), Str(&config.socket), Str(": "), Str(&sys::describe(&e))])
        })?;
        if let Some(pidfile) = &config.pidfile {
            if let Err(message) = write_pidfile(pidfile) {
                startup_error(&mut log, foreground, &[Str(&message), Str("; no pidfile written")]);
                // Not ours to remove at exit.
                config.pidfile = None;
            }
        }
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| concat(&[Str("/dev/null: "), Str(&sys::describe(&e))]))?;
        let ctx = Context::new(sys::geteuid(), sys::getpid(), OwnedFd::from(devnull));
        let mut slots: Vec<Slot> = std::mem::take(&mut config.programs).into_iter().map(Slot::new).collect();
        for (name, error) in std::mem::take(&mut config.unrun) {
            if let Some(slot) = slots.iter_mut().find(|s| s.cfg.name == name) {
                slot.prog.state = State::Fatal;
                slot.prog.reason = Some(concat(&[Str("config: "), Str(&error)]));
            }
        }
        log.info(&[
            Str(concat!("pman ", env!("CARGO_PKG_VERSION"), " started (pid ")),
            Int(sys::getpid().into()),
            Str("), listening on "),
            Str(&config.socket),
        ]);
        Ok(Daemon {
            config,
            slots,
            listener,
            clients: Vec::new(),
            next_client_id: 1,
            jobs: Vec::new(),
            log,
            ctx,
            signal_pipe: signal_read,
            accept_paused_until: None,
            shutting_down: false,
            exit_code: None,
            pollfds: Vec::new(),
            polled_clients: Vec::new(),
            capture_base: 0,
            writers: Vec::new(),
            syslog: None,
            iobuf: Vec::new(),
            datagram: Text::new(),
            fd_reserve: Vec::with_capacity(FD_RESERVE),
        })
    }

    fn start_autostart(&mut self) {
        self.refill_fd_reserve();
        let autostart = |s: &Slot| s.cfg.autostart && !s.fatal_config();
        let order = self.start_order((0..self.slots.len()).filter(|&i| autostart(&self.slots[i])).collect());
        for index in order {
            self.event(index, Event::Start);
        }
    }

    /// Indices sorted by ascending priority, ties in config order.
    fn start_order(&self, mut indices: Vec<usize>) -> Vec<usize> {
        indices.sort_by_key(|&i| (self.slots[i].cfg.priority, i));
        indices
    }

    /// Takes descriptors back into the reserve, as many as are free (up to
    /// [`FD_RESERVE`]).
    pub(super) fn refill_fd_reserve(&mut self) {
        while self.fd_reserve.len() < FD_RESERVE {
            match std::fs::File::open("/dev/null") {
                Ok(file) => self.fd_reserve.push(OwnedFd::from(file)),
                Err(_) => break,
            }
        }
    }

    fn run_loop(&mut self) -> i32 {
        loop {
            self.refill_fd_reserve();
            let now = Instant::now();
            self.fire_deadlines(now);
            self.expire_clients(now);
            self.advance_jobs();
            self.flush_clients();
            if let Some(code) = self.exit_code {
                self.finish();
                return code;
            }
            let timeout = self.poll_timeout(Instant::now());
            self.build_pollfds();
            if let Err(e) = sys::poll(&mut self.pollfds, timeout) {
                self.log.error(&[Str("poll: "), Str(&sys::describe(&e))]);
                return 1;
            }
            self.serve_captures();
            self.drain_signals();
            self.reap();
            self.serve_socket();
        }
    }

    /// Removes the pidfile and says goodbye.
    fn finish(&mut self) {
        if let Some(pidfile) = &self.config.pidfile {
            let _ = std::fs::remove_file(pidfile);
        }
        self.log.info(&[Str("pman stopped (pid "), Int(sys::getpid().into()), Str(")")]);
    }

    /// The nearest deadline as a poll timeout in ms; -1 when none.
    fn poll_timeout(&self, now: Instant) -> libc::c_int {
        let programs = self.slots.iter().filter_map(|s| s.prog.deadline);
        let clients = self.clients.iter().filter_map(|c| c.deadline);
        let nearest = programs.chain(clients).chain(self.accept_paused_until).min();
        match nearest {
            None => -1,
            Some(t) => {
                let left = t.saturating_duration_since(now);
                // Round up so we never wake just before the deadline.
                let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 > 0);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        }
    }

    fn build_pollfds(&mut self) {
        self.pollfds.clear();
        self.pollfds.push(sys::pollfd(self.signal_pipe.as_raw_fd(), libc::POLLIN));
        let accepting = self.accept_paused_until.is_none() && !self.shutting_down_hard();
        let listen_fd = if accepting { self.listener.as_raw_fd() } else { -1 };
        self.pollfds.push(sys::pollfd(listen_fd, libc::POLLIN));
        self.polled_clients.clear();
        for client in &self.clients {
            self.pollfds.push(sys::pollfd(client.stream.as_raw_fd(), client.poll_events()));
            self.polled_clients.push(client.id);
        }
        self.capture_base = self.pollfds.len();
        for slot in &self.slots {
            for capture in slot.captures.iter().flatten() {
                self.pollfds.push(sys::pollfd(capture.read.as_raw_fd(), libc::POLLIN));
            }
        }
    }

    /// Copies what programs wrote to their logs. Runs right after `poll`,
    /// while `pollfds` still matches the slots.
    fn serve_captures(&mut self) {
        let mut at = self.capture_base;
        for index in 0..self.slots.len() {
            for k in 0..2 {
                if self.slots[index].captures[k].is_none() {
                    continue;
                }
                let ready = self.pollfds.get(at).is_some_and(|p| p.revents != 0);
                at += 1;
                if ready {
                    self.drain_capture(index, k);
                }
            }
        }
    }

    /// Reads one stream's pipe (a bounded number of chunks, to stay fair)
    /// and hands the bytes to its file or to syslog.
    fn drain_capture(&mut self, index: usize, k: usize) {
        let Daemon { slots, writers, iobuf, datagram, log, syslog, config, .. } = self;
        if iobuf.is_empty() {
            // Only a daemon with captured streams pays for the buffer.
            iobuf.resize(capture::READ_CHUNK, 0);
        }
        let slot = &mut slots[index];
        let Some(capture) = slot.captures[k].as_mut() else { return };
        for _ in 0..4 {
            let n = match sys::read(capture.read.as_raw_fd(), iobuf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let data = &iobuf[..n];
            let name = &slot.cfg.name;
            match capture.sink {
                Sink::File(w) => match writers.get_mut(w).and_then(|w| w.write(data, &mut capture.errors)) {
                    Some(Incident::Failing(errno)) => log.error(&[
                        Str(name),
                        Str(" "),
                        Str(capture.stream),
                        Str(": "),
                        Str(&sys::strerror(errno)),
                        Str("; dropping output"),
                    ]),
                    Some(Incident::Recovered { dropped, errno }) => log.warn(&[
                        Str(name),
                        Str(" "),
                        Str(capture.stream),
                        Str(": "),
                        Uint(dropped),
                        Str(" bytes dropped ("),
                        Str(&sys::strerror(errno)),
                        Str(")"),
                    ]),
                    None => {}
                },
                Sink::Syslog(_) => {
                    if syslog.is_none() {
                        *syslog = capture::syslog_socket();
                    }
                    if let Some(socket) = syslog.as_ref() {
                        let pid = slot.prog.pid.unwrap_or(0);
                        if let Some(lines) =
                            capture.send_syslog(data, name, pid, socket, &config.syslog_socket, datagram)
                        {
                            log.warn(&[
                                Str(name),
                                Str(" "),
                                Str(capture.stream),
                                Str(": "),
                                Uint(lines),
                                Str(" syslog lines dropped"),
                            ]);
                        }
                    }
                }
            }
            if n < iobuf.len() {
                return;
            }
        }
    }

    /// Makes the pipes of a program's captured streams, once; a pipe that
    /// cannot be made fails the start (its output would go nowhere).
    fn ensure_captures(&mut self, index: usize) -> Result<(), String> {
        let Daemon { slots, writers, .. } = self;
        let slot = &mut slots[index];
        let cfg = &slot.cfg;
        let streams = [
            (&cfg.stdout, cfg.stdout_maxbytes, cfg.stdout_backups, 30u8, "stdout"),
            (&cfg.stderr, cfg.stderr_maxbytes, cfg.stderr_backups, 27u8, "stderr"),
        ];
        for (k, (target, maxbytes, backups, priority, stream)) in streams.into_iter().enumerate() {
            if slot.captures[k].is_some() || (k == 1 && cfg.redirect_stderr) {
                continue;
            }
            let sink = match target {
                LogTarget::File(path) if maxbytes > 0 => {
                    let w = capture::writer_for(writers, path, maxbytes, backups);
                    writers[w].create();
                    Sink::File(w)
                }
                LogTarget::Syslog => Sink::Syslog(priority),
                LogTarget::File(_) | LogTarget::None => continue,
            };
            let capture =
                Capture::new(sink, stream).map_err(|e| concat(&[Str("pipe: "), Str(&sys::describe(&e))]))?;
            slot.captures[k] = Some(Box::new(capture));
        }
        Ok(())
    }

    /// After a reload: closes the log files no captured stream writes to
    /// any more, and gives the others the cap and backups of the first
    /// stream (in config order) that names them.
    fn retire_writers(&mut self) {
        let Daemon { slots, writers, .. } = self;
        let mut used = vec![false; writers.len()];
        for capture in slots.iter().flat_map(|s| s.captures.iter().flatten()) {
            if let Some(used) = match capture.sink {
                Sink::File(w) => used.get_mut(w),
                Sink::Syslog(_) => None,
            } {
                *used = true;
            }
        }
        let mut kept = 0;
        let moved: Vec<usize> = used
            .iter()
            .map(|&u| {
                kept += usize::from(u);
                kept.saturating_sub(1)
            })
            .collect();
        let mut at = 0;
        writers.retain(|_| {
            at += 1;
            used[at - 1]
        });
        for capture in slots.iter_mut().flat_map(|s| s.captures.iter_mut().flatten()) {
            if let Sink::File(w) = &mut capture.sink {
                *w = moved.get(*w).copied().unwrap_or(0);
            }
        }
        let mut limited = vec![false; writers.len()];
        for cfg in slots.iter().map(|s| &s.cfg) {
            let stderr =
                (!cfg.redirect_stderr).then_some((&cfg.stderr, cfg.stderr_maxbytes, cfg.stderr_backups));
            for (target, maxbytes, backups) in
                std::iter::once((&cfg.stdout, cfg.stdout_maxbytes, cfg.stdout_backups)).chain(stderr)
            {
                let LogTarget::File(path) = target else { continue };
                if let Some(w) = writers.iter().position(|w| w.path == *path) {
                    if maxbytes > 0 && !std::mem::replace(&mut limited[w], true) {
                        writers[w].set_limits(maxbytes, backups);
                    }
                }
            }
        }
    }

    fn shutting_down_hard(&self) -> bool {
        self.exit_code.is_some()
    }

    fn fire_deadlines(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            if self.slots[index].prog.deadline.is_some_and(|t| t <= now) {
                self.event(index, Event::Deadline);
            }
        }
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
        }
    }

    fn drain_signals(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match sys::read(self.signal_pipe.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &signal in &buf[..n] {
                        match signal as libc::c_int {
                            libc::SIGTERM | libc::SIGINT => self.on_terminate(signal as libc::c_int),
                            libc::SIGHUP => {
                                self.log.info(&[Str("SIGHUP: reloading the config")]);
                                self.request_reload(None, false);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    /// First SIGTERM/SIGINT: orderly shutdown; second: SIGKILL what is left and exit.
    fn on_terminate(&mut self, signal: libc::c_int) {
        let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
        if self.shutting_down {
            self.log.warn(&[Str("second "), Str(name), Str(": killing every program")]);
            for index in 0..self.slots.len() {
                self.kill_now(index);
            }
            self.exit_code = Some(0);
            return;
        }
        self.log.info(&[Str(name), Str(": stopping every program")]);
        self.begin_shutdown(None);
    }

    /// Sends SIGKILL to a program's process (group) at once.
    fn kill_now(&mut self, index: usize) {
        let slot = &self.slots[index];
        if let Some(pgid) = slot.prog.pgid.filter(|_| slot.prog.is_active() || slot.prog.group_left) {
            let target = if slot.cfg.killasgroup { -pgid } else { slot.prog.pid.unwrap_or(pgid) };
            let _ = sys::kill(target, libc::SIGKILL);
        }
    }

    /// Reaps every exited child; those that are programs' main processes
    /// become `Exited` events, the rest are orphans we adopted.
    fn reap(&mut self) {
        while let Some((pid, exit)) = sys::reap_any() {
            let Some(index) = self.slots.iter().position(|s| s.prog.pid == Some(pid)) else {
                continue;
            };
            let slot = &self.slots[index];
            let group_alive = slot.cfg.killasgroup && sys::group_alive(slot.prog.pgid.unwrap_or(0));
            self.event(index, Event::Exited { exit, group_alive });
        }
        for index in 0..self.slots.len() {
            self.check_group(index);
        }
    }

    /// A program whose main process is gone but whose group had members
    /// learns when the group empties (a stop or a start waits on it).
    fn check_group(&mut self, index: usize) {
        let prog = &self.slots[index].prog;
        let waits = prog.group_left || matches!(prog.state, State::Stopping | State::ClearingGroup);
        if waits && prog.pid.is_none() && !sys::group_alive(prog.pgid.unwrap_or(0)) {
            self.event(index, Event::GroupGone);
        }
    }

    /// Feeds one event to a program's state machine and carries out its action.
    fn event(&mut self, index: usize, event: Event) {
        if self.slots[index].fatal_config() {
            return;
        }
        let now = Instant::now();
        let before = (self.slots[index].prog.state, self.slots[index].prog.failures);
        let exited = match &event {
            Event::Exited { exit, .. } => Some(*exit),
            _ => None,
        };
        let slot = &mut self.slots[index];
        let action = slot.prog.step(&slot.cfg, event, now);
        if let Some(exit) = exited {
            self.log_exit(index, exit);
        }
        self.log_transition(index, before, now);
        match action {
            Action::None => {}
            Action::Spawn => self.spawn(index),
            Action::Signal(signal) => {
                self.signal_program(index, signal);
                // A group that was already empty ends the wait at once.
                self.check_group(index);
            }
        }
    }

    fn log_exit(&mut self, index: usize, exit: Exit) {
        let name = &self.slots[index].cfg.name;
        match exit {
            Exit::Code(code) => self.log.info(&[Str(name), Str(": exited with status "), Int(code.into())]),
            Exit::Signal(signal) => self.log.info(&[
                Str(name),
                Str(": killed by signal "),
                Str(crate::signals::name(signal).unwrap_or("?")),
            ]),
        }
    }

    /// Logs a change of state, or another failed start in BACKOFF.
    fn log_transition(&mut self, index: usize, before: (State, u32), now: Instant) {
        let slot = &self.slots[index];
        let (name, prog) = (&slot.cfg.name, &slot.prog);
        if (prog.state, prog.failures) == before {
            return;
        }
        match prog.state {
            State::Backoff => {
                let delay = prog.deadline.map_or(0, |t| {
                    let left = t.saturating_duration_since(now);
                    left.as_secs() + u64::from(left.subsec_nanos() > 0)
                });
                match &prog.reason {
                    Some(reason) => self.log.warn(&[
                        Str(name),
                        Str(": "),
                        Str(reason),
                        Str("; retry in "),
                        Uint(delay),
                        Str("s"),
                    ]),
                    None if prog.failures > 0 => self.log.warn(&[
                        Str(name),
                        Str(": exited before startsecs ("),
                        Uint(prog.failures.into()),
                        Str(" failed starts in a row); retry in "),
                        Uint(delay),
                        Str("s"),
                    ]),
                    None => self.log.info(&[Str(name), Str(": restart in "), Uint(delay), Str("s")]),
                }
            }
            State::Fatal => match &prog.reason {
                Some(reason) => {
                    self.log.error(&[Str(name), Str(": "), Str(reason), Str("; gave up (FATAL)")])
                }
                None => self.log.error(&[
                    Str(name),
                    Str(": gave up after "),
                    Uint(prog.failures.into()),
                    Str(" failed starts (FATAL)"),
                ]),
            },
            State::ClearingGroup => self.log.info(&[
                Str(name),
                Str(": stopping what is left of its process group "),
                Int(prog.pgid.unwrap_or(0).into()),
                Str(" before the next start"),
            ]),
            State::Running if before.0 != State::Running => self.log.info(&[Str(name), Str(": running")]),
            State::Stopped => self.log.info(&[Str(name), Str(": stopped")]),
            State::Running | State::Exited | State::Starting | State::Stopping => {}
        }
    }

    fn spawn(&mut self, index: usize) {
        if let Err(reason) = self.ensure_captures(index) {
            return self.spawn_error(index, SpawnError::Failed(reason));
        }
        let Daemon { slots, ctx, .. } = self;
        let slot = &mut slots[index];
        let captured = [0, 1].map(|k| slot.captures[k].as_ref().map(|c| c.write.as_raw_fd()));
        match ctx.spawn(&slot.cfg, &mut slot.found, captured) {
            Ok((pid, exec_failed)) => {
                let name = &self.slots[index].cfg.name;
                match &exec_failed {
                    None => self.log.info(&[Str(name), Str(": spawned pid "), Int(pid.into())]),
                    Some(reason) => self.log.error(&[Str(name), Str(": "), Str(reason)]),
                }
                self.event(index, Event::Spawned { pid, exec_failed });
            }
            Err(err) => self.spawn_error(index, err),
        }
    }

    fn spawn_error(&mut self, index: usize, err: SpawnError) {
        let event = match err {
            SpawnError::Failed(reason) => Event::SpawnFailed { reason },
            SpawnError::Refused(reason) => Event::SpawnRefused { reason },
        };
        self.event(index, event);
    }

    /// Sends `signal` to a program: the group with killasgroup, else the main process.
    fn signal_program(&mut self, index: usize, signal: libc::c_int) {
        let slot = &self.slots[index];
        let target: Option<Pid> = match (slot.cfg.killasgroup, slot.prog.pgid, slot.prog.pid) {
            (true, Some(pgid), _) => Some(-pgid),
            (false, _, Some(pid)) => Some(pid),
            _ => None,
        };
        if let Some(target) = target {
            if let Err(e) = sys::kill(target, signal) {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    let name = &slot.cfg.name;
                    self.log.warn(&[
                        Str(name),
                        Str(": kill "),
                        Int(target.into()),
                        Str(": "),
                        Str(&sys::describe(&e)),
                    ]);
                }
            }
        }
    }

    /// Accepts new clients and serves the ready ones.
    fn serve_socket(&mut self) {
        // Each client's revents, by the id it was polled for: accepting
        // below changes `self.clients`, never this pairing.
        let polled = self.pollfds.get(2..self.capture_base).unwrap_or_default();
        let ready: Vec<(u64, libc::c_short)> = self
            .polled_clients
            .iter()
            .zip(polled)
            .filter(|(_, p)| p.revents != 0)
            .map(|(&id, p)| (id, p.revents))
            .collect();
        let listen_ready = self.pollfds.get(1).is_some_and(|p| p.revents != 0);
        if listen_ready {
            // The reserve makes room for clients even when the table is full.
            self.fd_reserve.clear();
            self.accept_clients();
            self.refill_fd_reserve();
        }
        for (id, revents) in ready {
            self.service_client(id, revents);
        }
        self.drop_closed_clients();
    }

    fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.new_client(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
                    ) {
                        let reason = sys::describe(&e);
                        self.log.error(&[Str("accept: "), Str(&reason), Str("; pausing the socket for 1s")]);
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    }
                    break;
                }
            }
        }
    }

    /// Applies a reloaded config's daemon settings (pidfile, logfile, and
    /// the socket, bound already when the reload was accepted).
    fn apply_daemon_settings(&mut self, new: &Config, listener: Option<UnixListener>) {
        if new.pidfile != self.config.pidfile {
            if let Some(old) = &self.config.pidfile {
                let _ = std::fs::remove_file(old);
            }
            if let Some(path) = &new.pidfile {
                if let Err(message) = write_pidfile(path) {
                    self.log.error(&[Str(&message)]);
                }
            }
        }
        if let Err(message) = self.log.configure(
            new.logfile.as_deref(),
            new.logfile_maxbytes,
            new.logfile_backups,
            &new.syslog_socket,
        ) {
            self.log.error(&[Str(&message), Str("; logging to syslog")]);
        }
        if let Some(listener) = listener {
            self.listener = listener;
            self.log.info(&[Str("listening on "), Str(&new.socket)]);
        }
    }
}

/// A start-up problem the daemon survives: logged, and (detached) printed
/// on the launcher's stderr, which the daemon holds until it is ready.
fn startup_error(log: &mut Logger, foreground: bool, parts: &[Part]) {
    log.error(parts);
    if !foreground {
        let mut line = Text::new();
        line.str("pman: ").parts(parts).newline();
        let _ = sys::write_all(2, line.as_bytes());
    }
}

/// Prints one line on stderr.
fn say(parts: &[Part]) {
    let mut line = Text::new();
    line.parts(parts).newline();
    let _ = sys::write_all(2, line.as_bytes());
}

/// Writes our pid, mode 0644 whatever the umask (a stale file is replaced).
fn write_pidfile(path: &Path) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut pid = Text::new();
    pid.int(sys::getpid().into()).newline();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut file| file.write_all(pid.as_bytes()))
        .map_err(|e| {
            let path = path.as_os_str().as_encoded_bytes();
            concat(&[Str("pidfile "), Bytes(path), Str(": "), Str(&sys::describe(&e))])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every configured program costs a Slot: keep it small (routers run
    /// hundreds of programs in a few hundred KB).
    #[test]
    fn a_slot_stays_small() {
        let size = std::mem::size_of::<Slot>();
        assert!(size <= 480, "Slot grew to {size} bytes");
        eprintln!(
            "Slot {size} B, ProgramConfig {} B, Program {} B",
            std::mem::size_of::<ProgramConfig>(),
            std::mem::size_of::<Program>()
        );
    }
}
