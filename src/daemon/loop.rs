//! The one `poll(2)` loop, and the only place that holds every part of the
//! daemon: the program table, the control socket, captured output, jobs
//! and the log. Each turn has fixed phases: deadlines → client time-outs →
//! a few queued spawns → jobs → replies → poll (the timeout is the nearest
//! deadline, 0 while spawns wait, -1 when there is none) → output →
//! signals → reaping → the control socket.

use super::capture::Output;
use super::control::{self, Control, Reply};
use super::jobs::{self, Job, Outcome};
use super::log::Logger;
use super::spawn::Context;
use super::table::Table;
use crate::config::Config;
use crate::protocol::{Request, TAG_ERR};
use crate::sys;
use crate::sys::Instant;
use crate::text::Part::{Int, Str};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

/// Descriptors held in reserve (on /dev/null) and let go just before
/// `accept`: when the table is full, starts and log opens fail first while
/// the control socket still takes clients.
const FD_RESERVE: usize = 4;

/// Spawns made per turn at most, and the time (ms) after which a turn makes no
/// more: with hundreds of programs starting at once, the socket is still
/// served between batches (a spawn waits for the child's exec, about a
/// millisecond, more on a busy machine).
const SPAWNS_PER_TURN: usize = 8;
const SPAWN_BUDGET_MS: u64 = 10;

/// What one entry of the poll set was polled for.
#[derive(Clone, Copy)]
enum Polled {
    Signals,
    Listener,
    Client(u64),
    /// A program's captured stream: slot index, 0 stdout / 1 stderr (32
    /// and 8 bits: an entry is 16 bytes, one per stream of every program).
    Capture(u32, u8),
    /// A program's ready pipe (`ready = fd:N`): slot index.
    Ready(usize),
    /// The output of a program's running health check: slot index.
    Check(usize),
}

pub struct Daemon {
    config: Config,
    table: Table,
    control: Control,
    output: Output,
    jobs: Vec<Job>,
    log: Logger,
    ctx: Context,
    signal_pipe: OwnedFd,
    /// SIGTERM/SIGINT/`kill` began the shutdown.
    shutting_down: bool,
    /// A SIGHUP came while a reload was applying: another follows it.
    reload_again: bool,
    /// Set when the loop should end, with the exit code.
    exit_code: Option<i32>,
    pollfds: Vec<libc::pollfd>,
    /// What each of `pollfds` is for, at the same position.
    polled: Vec<Polled>,
    /// Up to [`FD_RESERVE`] descriptors kept for `accept`.
    fd_reserve: Vec<OwnedFd>,
}

/// The sooner of two deadlines, either of which may be none. Not inlined:
/// its four copies in `poll_timeout` cost 128 B more on mipsel.
#[inline(never)]
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Daemon {
    pub fn new(
        config: Config,
        table: Table,
        listener: UnixListener,
        log: Logger,
        ctx: Context,
        signal_pipe: OwnedFd,
    ) -> Daemon {
        Daemon {
            config,
            table,
            control: Control::new(listener),
            output: Output::new(),
            jobs: Vec::new(),
            log,
            ctx,
            signal_pipe,
            shutting_down: false,
            reload_again: false,
            exit_code: None,
            pollfds: Vec::new(),
            polled: Vec::new(),
            fd_reserve: Vec::with_capacity(FD_RESERVE),
        }
    }

    /// Starts the autostart programs, by ascending priority (the spawns
    /// themselves are made a few per turn).
    pub fn start_autostart(&mut self) {
        self.refill_fd_reserve();
        let mut wanted = Vec::new();
        for i in 0..self.table.len() {
            let slot = self.table.slot(i);
            if slot.cfg.autostart && !slot.fatal_config() {
                wanted.push(i);
            }
        }
        for index in self.table.start_order(wanted) {
            self.table.start(index, &mut self.log);
        }
    }

    pub fn run(&mut self) -> i32 {
        loop {
            self.refill_fd_reserve();
            // Jobs see what the last wake-up did before timers move on: a
            // failed start retried at once (backoff=0) is answered as failed.
            self.advance_jobs();
            let now = Instant::now();
            self.table.fire_deadlines(now, &mut self.log);
            self.table.probe(now, &mut self.log);
            self.table.check_memory(now, &mut self.log);
            self.table.run_checks(now, &mut self.ctx, &mut self.log);
            if self.control.expire(now) {
                self.refill_fd_reserve();
            }
            self.table.spawn_some(
                SPAWNS_PER_TURN,
                SPAWN_BUDGET_MS,
                &mut self.ctx,
                &mut self.output,
                &mut self.log,
            );
            self.advance_jobs();
            if self.control.flush() {
                // A freed descriptor goes back to the reserve before a start takes it.
                self.refill_fd_reserve();
            }
            if let Some(code) = self.exit_code {
                self.finish();
                return code;
            }
            let timeout = if self.table.spawns_pending() { 0 } else { self.poll_timeout(Instant::now()) };
            self.build_pollfds();
            if let Err(e) = sys::poll(&mut self.pollfds, timeout) {
                self.log.error("poll: {}", &[Str(&sys::describe(&e))]);
                return 1;
            }
            self.dispatch();
        }
    }

    /// Removes the pidfile, says goodbye and leaves `kill`'s connection open
    /// until the process exits.
    fn finish(&mut self) {
        if let Some(pidfile) = &self.config.pidfile {
            let _ = sys::remove_file(pidfile);
        }
        self.log.info("pman stopped (pid {})", &[Int(sys::getpid().into())]);
        self.control.leave_lingering_to_exit();
    }

    /// Takes descriptors back into the reserve, as many as are free (up to
    /// [`FD_RESERVE`]).
    fn refill_fd_reserve(&mut self) {
        while self.fd_reserve.len() < FD_RESERVE {
            match sys::open(c"/dev/null", libc::O_RDONLY, 0) {
                Ok(fd) => self.fd_reserve.push(fd),
                Err(_) => break,
            }
        }
    }

    /// The nearest deadline as a poll timeout in ms; -1 when none.
    fn poll_timeout(&mut self, now: Instant) -> libc::c_int {
        let nearest = earliest(self.table.next_deadline(), self.control.next_deadline());
        let nearest = earliest(nearest, self.table.next_probe());
        let nearest = earliest(nearest, self.table.next_memory());
        let nearest = earliest(nearest, self.table.next_check());
        match nearest {
            None => -1,
            Some(t) => {
                // Whole ms on both sides: poll sleeps at least this long, so
                // the clock reads the deadline or later when it returns.
                t.ms_since(now).min(i32::MAX as u64) as libc::c_int
            }
        }
    }

    fn build_pollfds(&mut self) {
        let Daemon { pollfds, polled, control, output, signal_pipe, exit_code, table, .. } = self;
        pollfds.clear();
        polled.clear();
        let mut add = |fd: RawFd, events: libc::c_short, what: Polled| {
            pollfds.push(sys::pollfd(fd, events));
            polled.push(what);
        };
        add(signal_pipe.as_raw_fd(), libc::POLLIN, Polled::Signals);
        // Once the daemon is ending, nobody new is let in.
        add(control.listen_fd(exit_code.is_none()), libc::POLLIN, Polled::Listener);
        control.polled(&mut |fd, events, id| add(fd, events, Polled::Client(id)));
        output.polled(&mut |fd, index, k| add(fd, libc::POLLIN, Polled::Capture(index as u32, k as u8)));
        table.ready_pipes(&mut |fd, index| add(fd, libc::POLLIN, Polled::Ready(index)));
        table.check_pipes(&mut |fd, index| add(fd, libc::POLLIN, Polled::Check(index)));
    }

    /// Serves what `poll` found ready: output first (the pipes polled are
    /// still the programs' they were polled for), then signals, exits, and
    /// the socket.
    fn dispatch(&mut self) {
        let pollfds = std::mem::take(&mut self.pollfds);
        let polled = std::mem::take(&mut self.polled);
        for (p, &what) in pollfds.iter().zip(&polled) {
            if p.revents == 0 {
                continue;
            }
            match what {
                Polled::Capture(index, k) => {
                    let (index, k) = (index as usize, k as usize);
                    let slot = self.table.slot(index);
                    let pid = slot.prog.pid.unwrap_or(0);
                    self.output.drain(index, k, &slot.cfg, pid, &mut self.log, &self.config.syslog_socket);
                }
                Polled::Ready(index) => self.table.read_ready(index, &mut self.log),
                Polled::Check(index) => self.table.read_check(index),
                Polled::Signals | Polled::Listener | Polled::Client(_) => {}
            }
        }
        self.drain_signals();
        self.table.reap(&mut self.log);
        while let Some((index, pid)) = self.table.take_ended() {
            let cfg = &self.table.slot(index).cfg;
            self.output.end_run(index, cfg, pid, &mut self.log, &self.config.syslog_socket);
        }
        for (p, &what) in pollfds.iter().zip(&polled) {
            let revents = p.revents;
            if revents == 0 {
                continue;
            }
            match what {
                Polled::Listener => {
                    // The reserve makes room for clients even when the table is full.
                    self.fd_reserve.clear();
                    self.control.accept(&mut self.log);
                    self.refill_fd_reserve();
                }
                Polled::Client(id) => self.serve_client(id, revents),
                Polled::Signals | Polled::Capture(..) | Polled::Ready(_) | Polled::Check(_) => {}
            }
        }
        if self.control.drop_closed() {
            self.refill_fd_reserve();
        }
        self.pollfds = pollfds;
        self.polled = polled;
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
                            libc::SIGHUP if self.jobs.iter().any(Job::is_reload) => {
                                self.log.info("SIGHUP: reloading again once this reload is done", &[]);
                                self.reload_again = true;
                            }
                            libc::SIGHUP => {
                                self.log.info("SIGHUP: reloading the config", &[]);
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
            self.log.warn("second {}: killing every program", &[Str(name)]);
            self.table.kill_all_now();
            self.exit_code = Some(0);
            return;
        }
        self.log.info("{}: stopping every program", &[Str(name)]);
        self.begin_shutdown(None);
    }

    fn serve_client(&mut self, id: u64, revents: libc::c_short) {
        let Some(request) = self.control.service(id, revents) else { return };
        let line = crate::text::lossy(&request);
        self.handle_request(id, &line);
        drop(line);
        self.control.recycle(request);
    }

    /// One request line. Not inlined: with it called, LLVM takes `dispatch`
    /// into `run`, and the two cost 436 B less on mipsel.
    #[inline(never)]
    fn handle_request(&mut self, id: u64, line: &str) {
        let request = match Request::parse(line) {
            Ok(request) => request,
            Err(message) => {
                let mut reply = Reply::default();
                reply.parts(TAG_ERR, "pman: {}", &[Str(&message)]);
                return self.control.send(Some(id), reply, 2);
            }
        };
        let (reply, code) = match request {
            Request::Status { names, json } => {
                let count = if names.is_empty() { self.table.len() } else { names.len() };
                let mut reply = self.control.reply(control::status_size(count, json));
                let code = control::status(&self.table, &self.output, &mut reply, &names, json);
                (reply, code)
            }
            Request::Pid(name) => {
                let mut reply = self.control.reply(0);
                let code = control::pid(&self.table, &mut reply, name.as_deref());
                (reply, code)
            }
            Request::Signal { signal, names } => {
                let mut reply = self.control.reply(0);
                let code = control::signal(&mut self.table, &mut self.log, &mut reply, &signal, &names);
                (reply, code)
            }
            Request::LogPath { name, stderr } => {
                let mut reply = self.control.reply(0);
                let code = control::log_path(&self.table, &mut reply, &name, stderr);
                (reply, code)
            }
            Request::Start(names) => return self.begin(id, &names, false, true),
            Request::Stop(names) => return self.begin(id, &names, true, false),
            Request::Restart(names) => return self.begin(id, &names, true, true),
            Request::Reload { dry_run } => return self.request_reload(Some(id), dry_run),
            Request::Kill => return self.begin_shutdown(Some(id)),
        };
        self.control.send(Some(id), reply, code);
    }

    /// `start`, `stop` and `restart`: check every name, then make a job.
    fn begin(&mut self, id: u64, names: &[String], stop: bool, start: bool) {
        let (indices, unknown) = self.table.resolve(names);
        if !unknown.is_empty() {
            return self.control.send(Some(id), jobs::unknown(&unknown), 2);
        }
        if self.shutting_down && start {
            return self.control.send(Some(id), Reply::error("pman: shutting down"), 1);
        }
        self.jobs.push(Job::begin(&self.table, id, indices, stop, start));
        self.control.accepted(Some(id));
    }

    /// `kill`, SIGTERM, SIGINT.
    fn begin_shutdown(&mut self, id: Option<u64>) {
        self.shutting_down = true;
        self.table.shutting_down = true;
        self.jobs.push(Job::shutdown(&self.table, id));
        self.control.accepted(id);
    }

    /// `reload`, SIGHUP; one at a time, and none while shutting down.
    fn request_reload(&mut self, id: Option<u64>, dry_run: bool) {
        let reloading = self.jobs.iter().any(Job::is_reload);
        if !dry_run && (self.shutting_down || reloading) {
            return self.control.send(id, Reply::error("pman: busy: a reload or shutdown is in progress"), 1);
        }
        match Job::reload(&self.table, &self.config, &mut self.log, id, dry_run) {
            Ok(job) => {
                self.jobs.push(job);
                self.control.accepted(id);
            }
            Err((reply, code)) => self.control.send(id, reply, code),
        }
    }

    /// Moves every job on as far as the programs allow, oldest first. The
    /// job being moved is out of `self.jobs`, which holds all the others.
    fn advance_jobs(&mut self) {
        let mut at = 0;
        while at < self.jobs.len() {
            let mut job = self.jobs.remove(at);
            match job.advance(&mut self.table, &mut self.log, self.shutting_down, &self.jobs) {
                Outcome::Waiting => {
                    self.jobs.insert(at, job);
                    at += 1;
                }
                Outcome::Answer(client, reply, code) => self.control.send(client, reply, code),
                Outcome::Install(client, config, listener, reply) => {
                    self.install(*config, listener);
                    self.control.send(client, reply, 0);
                    if std::mem::take(&mut self.reload_again) && !self.shutting_down {
                        self.log.info("SIGHUP: reloading the config", &[]);
                        self.request_reload(None, false);
                    }
                }
                Outcome::Exit(client) => {
                    self.control.linger(client);
                    self.control.send(client, jobs::stopped_reply(), 0);
                    self.exit_code = Some(0);
                }
            }
        }
    }

    /// Replaces the program table with `config`'s: unchanged programs keep
    /// their process and history; added and changed ones start if autostart,
    /// unless the daemon is shutting down or a later job is about to stop them.
    fn install(&mut self, mut config: Config, listener: Option<UnixListener>) {
        self.apply_daemon_settings(&config, listener);
        let renumbered = self.table.install(std::mem::take(&mut config.programs));
        for job in &mut self.jobs {
            job.remap(&renumbered.moved, &renumbered.fresh, &renumbered.gone);
        }
        self.config = config;
        // Removed and replaced programs close their pipes, then the log
        // files no program writes any more.
        self.output.renumber(&renumbered.kept, self.table.len());
        self.output.retire(self.table.slots(), &renumbered.kept, &renumbered.gone);
        let mut starts = Vec::new();
        for i in renumbered.fresh {
            let held = self.jobs.iter().any(|job| job.will_stop(i));
            if self.table.slot(i).cfg.autostart && !held && !self.shutting_down {
                starts.push(i);
            }
        }
        for i in self.table.start_order(starts) {
            self.table.start(i, &mut self.log);
        }
    }

    /// Applies a reloaded config's daemon settings (pidfile, logfile, and
    /// the socket, bound already when the reload was accepted).
    fn apply_daemon_settings(&mut self, new: &Config, listener: Option<UnixListener>) {
        if new.pidfile != self.config.pidfile {
            if let Some(old) = &self.config.pidfile {
                let _ = sys::remove_file(old);
            }
            if let Some(path) = &new.pidfile {
                if let Err(message) = super::write_pidfile(path) {
                    self.log.error("{}", &[Str(&message)]);
                }
            }
        }
        if let Err(message) = self.log.configure(
            new.logfile.as_deref(),
            new.logfile_maxbytes,
            new.logfile_backups,
            &new.syslog_socket,
        ) {
            self.log.error("{}; logging to syslog", &[Str(&message)]);
        }
        if let Some(listener) = listener {
            self.control.replace_listener(listener);
            self.log.info("listening on {}", &[Str(&new.socket)]);
        }
    }
}
