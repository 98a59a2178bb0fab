//! The lifecycle of one program as a pure state machine:
//! `(state, event, now) -> (new state, action)`. The loop turns syscalls
//! into [`Event`]s and [`Action`]s into syscalls; nothing here touches the OS.

use crate::config::{AutoRestart, ProgramConfig, Ready};
use crate::sys::Instant;
use crate::sys::{Exit, Pid};
use crate::text::Part::Str;

/// A restart after an exit from RUNNING never comes sooner than this
/// many seconds after the previous start, so a program that dies at once
/// cannot spin.
pub const MIN_RESTART_SECS: u32 = 1;
/// After SIGKILL, how often (in seconds) the kill is repeated while the
/// process lingers.
pub const KILL_REPEAT_SECS: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Stopped,
    /// Held back by `depends_on` until its dependencies are met.
    Waiting,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    /// Shown as BACKOFF: the main process is gone but members of its
    /// process group live (killasgroup); they are stopped as `stop` does
    /// before the program starts again.
    ClearingGroup,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Waiting => "WAITING",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
            State::ClearingGroup => "BACKOFF",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `start`, `restart`, autostart or reload.
    Start,
    /// `stop`, `restart`, `kill`, shutdown or reload.
    Stop,
    /// The process was forked (and, when `exec_failed`, its exec failed:
    /// its exit is on the way).
    Spawned { pid: Pid, exec_failed: Option<String> },
    /// No process could be made (fork failed, user unknown): a failed start.
    SpawnFailed { reason: String },
    /// No process can ever be made with this config (e.g. a non-root daemon
    /// asked for another user): FATAL at once.
    SpawnRefused { reason: String },
    /// The main process ended. `group_alive`: its process group still has
    /// members (only looked at with killasgroup).
    Exited { exit: Exit, group_alive: bool },
    /// The process group of the last process has no members any more.
    GroupGone,
    /// The program's deadline passed.
    Deadline,
    /// `pman signal` sent this signal to the main process.
    Signalled { signal: i32 },
    /// Its `ready` condition (tcp:, file:, fd:) holds, or (fd:) another
    /// newline came: a keepalive under `watchdog`.
    Ready,
    /// A RUNNING program is to be restarted (e.g. `memory_max: RSS …`).
    Unhealthy { reason: String },
    /// A health check ended: `None` when it passed, else why it failed.
    Checked(Option<String>),
    /// A start about to spawn has unmet dependencies: WAITING instead.
    Wait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Fork and exec the program (it is STARTING without a process until
    /// then), then report `Spawned`/`SpawnFailed`/`SpawnRefused`.
    Spawn,
    /// Send this signal (to the group with killasgroup).
    Signal(i32),
}

/// The runtime side of one program.
#[derive(Clone, Debug)]
pub struct Program {
    pub state: State,
    pub pid: Option<Pid>,
    /// Process group of the last process (= its pid: each runs in its own session).
    pub pgid: Option<Pid>,
    /// When the current/last process was forked.
    pub started_at: Option<Instant>,
    /// STARTING: when it counts as RUNNING; BACKOFF: the retry; STOPPING: the kill.
    pub deadline: Option<Instant>,
    /// Failed starts in a row.
    pub failures: u32,
    /// Exits from RUNNING in a row (each ending a run shorter than `backoff_reset`).
    pub crashes: u32,
    /// Automatic restarts since the daemon started.
    pub restarts: u32,
    pub last_exit: Option<Exit>,
    /// Why the last start failed, e.g. `exec /nope: No such file or directory`.
    pub reason: Option<Box<str>>,
    /// A signal pman sent itself (stop or `signal`): a death by it is expected.
    pub sent_signal: Option<i32>,
    /// STOPPING sent SIGKILL already.
    pub killed: bool,
    /// STOPPING because it was not ready within `ready_timeout`: its end is a failed start.
    pub unready: bool,
    /// With killasgroup: the main process is gone, members of its process
    /// group may still live. No start happens until they are gone.
    pub group_left: bool,
    /// Start attempts that have come to an end (RUNNING reached, or failed):
    /// what `start` waits on, even when a retry follows at once.
    pub attempts_ended: u32,
    /// Times RUNNING was reached: `start` counts a program that got there
    /// during its wait as started, even if it exited since.
    pub runs: u32,
    /// STOPPING for a restart by `watchdog` or `memory_max`: it starts again.
    pub restarting: bool,
    /// Why the last automatic restart happened: `exit: 1`, `watchdog: …`.
    /// Set when the restart is made, not when it is decided.
    pub last_restart_reason: Option<Box<str>>,
    /// The restart to come is for `last_exit` (else for `reason`).
    restart_by_exit: bool,
    /// With `healthcheck`, while RUNNING: None until the first check of
    /// the run ended, then whether the last one passed.
    pub health: Option<bool>,
    /// Health checks failed in a row.
    pub check_failures: u32,
}

impl Default for Program {
    fn default() -> Self {
        Program::new()
    }
}

impl Program {
    pub fn new() -> Program {
        Program {
            state: State::Stopped,
            pid: None,
            pgid: None,
            started_at: None,
            deadline: None,
            failures: 0,
            crashes: 0,
            restarts: 0,
            last_exit: None,
            reason: None,
            sent_signal: None,
            killed: false,
            unready: false,
            group_left: false,
            attempts_ended: 0,
            runs: 0,
            restarting: false,
            restart_by_exit: false,
            last_restart_reason: None,
            health: None,
            check_failures: 0,
        }
    }

    /// True while a process of this program may exist or is about to.
    /// Not inlined: its copies cost 112 B more on mipsel.
    #[inline(never)]
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            State::Waiting
                | State::Starting
                | State::Running
                | State::Stopping
                | State::Backoff
                | State::ClearingGroup
        )
    }

    /// True while a stop, or the clearing before a start, waits on processes.
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Starting | State::Running | State::Stopping | State::ClearingGroup)
    }

    /// One step of the lifecycle: every state × event pair is written out.
    pub fn step(&mut self, cfg: &ProgramConfig, event: Event, now: Instant) -> Action {
        use State::*;
        match (self.state, event) {
            // Starting from rest: spawn (STARTING until the process is
            // made), or first clear what is left of the last process group.
            (Stopped | Exited | Fatal | Backoff, Event::Start) => {
                self.failures = 0;
                self.crashes = 0;
                self.deadline = None;
                self.start_now(cfg, now)
            }
            // Its dependencies are met now (the table looks): spawn.
            (Waiting, Event::Start) => self.start_now(cfg, now),
            // A start cancels the restart of a health restart's stop: it stops, then starts.
            (Stopping, Event::Start) => {
                self.restarting = false;
                Action::None
            }
            (Starting | Running | ClearingGroup, Event::Start) => Action::None,

            // A spawn not made yet waits for the dependencies instead.
            (Starting, Event::Wait) if self.pid.is_none() => {
                self.state = Waiting;
                self.deadline = None;
                Action::None
            }
            (
                Stopped | Waiting | Starting | Running | Backoff | Stopping | Exited | Fatal | ClearingGroup,
                Event::Wait,
            ) => Action::None,

            (Starting, Event::Spawned { pid, exec_failed }) => {
                self.spawned(cfg, pid, exec_failed, now);
                Action::None
            }
            // The loop spawns only for a STARTING program without a process;
            // were a process made anyway, it is tracked rather than lost.
            (
                Stopped | Waiting | Exited | Fatal | Backoff | Running | Stopping | ClearingGroup,
                Event::Spawned { pid, exec_failed },
            ) => {
                self.spawned(cfg, pid, exec_failed, now);
                Action::None
            }
            (Starting, Event::SpawnFailed { reason }) => {
                self.pid = None;
                self.reason = Some(reason.into());
                self.failed_start(cfg, now, None)
            }
            // As above: only a STARTING program spawns; counted as a failed start.
            (
                Stopped | Waiting | Exited | Fatal | Backoff | Running | Stopping | ClearingGroup,
                Event::SpawnFailed { reason },
            ) => {
                self.pid = None;
                self.reason = Some(reason.into());
                self.failed_start(cfg, now, None)
            }
            (Starting, Event::SpawnRefused { reason }) => {
                self.refused(reason);
                Action::None
            }
            (
                Stopped | Waiting | Exited | Fatal | Backoff | Running | Stopping | ClearingGroup,
                Event::SpawnRefused { reason },
            ) => {
                self.refused(reason);
                Action::None
            }

            // Not ready within ready_timeout: stopped as `stop` does, then a failed start.
            (Starting, Event::Deadline) if cfg.ready != Ready::Startsecs && self.pid.is_some() => {
                use crate::text::Part::Uint;
                let timeout = Uint(cfg.ready_timeout.into());
                self.reason = Some(crate::text::concat("not ready after {}s", &[timeout]).into());
                self.unready = true;
                self.signal_stop(cfg, Stopping, now)
            }
            (Starting, Event::Deadline | Event::Ready) => {
                self.running(cfg, now);
                Action::None
            }
            // The watchdog: no keepalive in time.
            (Running, Event::Deadline) if cfg.limits.watchdog > 0 => {
                use crate::text::Part::Uint;
                let n = Uint(cfg.limits.watchdog.into());
                let reason = crate::text::concat("watchdog: no keepalive for {}s", &[n]);
                self.restart_for(cfg, reason, now)
            }
            (Running, Event::Ready) => {
                self.deadline = (cfg.limits.watchdog > 0).then(|| now.after_secs(cfg.limits.watchdog));
                Action::None
            }
            (Running, Event::Unhealthy { reason }) => self.restart_for(cfg, reason, now),
            // `ready = healthcheck`: the first passing check.
            (Starting, Event::Checked(None)) if cfg.ready == Ready::Healthcheck && self.pid.is_some() => {
                self.running(cfg, now);
                self.health = Some(true);
                Action::None
            }
            (Running, Event::Checked(None)) => {
                self.health = Some(true);
                self.check_failures = 0;
                self.reason = None;
                Action::None
            }
            (Running, Event::Checked(Some(reason))) => {
                self.health = Some(false);
                self.check_failures += 1;
                if self.check_failures >= cfg.limits.healthcheck_retries {
                    return self.restart_for(cfg, reason, now);
                }
                self.reason = Some(reason.into());
                Action::None
            }
            (
                Stopped | Waiting | Starting | Backoff | Stopping | Exited | Fatal | ClearingGroup,
                Event::Checked(_),
            ) => Action::None,
            (
                Stopped | Waiting | Starting | Backoff | Stopping | Exited | Fatal | ClearingGroup,
                Event::Unhealthy { .. },
            ) => Action::None,
            (Backoff, Event::Deadline) => {
                self.count_restart();
                self.deadline = None;
                self.start_now(cfg, now)
            }
            (Stopping | ClearingGroup, Event::Deadline) => {
                self.killed = true;
                self.deadline = Some(now.after_secs(KILL_REPEAT_SECS));
                Action::Signal(libc::SIGKILL)
            }
            // No deadline is armed in these states.
            (Stopped | Waiting | Running | Exited | Fatal, Event::Deadline) => Action::None,
            // A probe is looked at only while STARTING (and a keepalive while RUNNING).
            (Stopped | Waiting | Backoff | Stopping | Exited | Fatal | ClearingGroup, Event::Ready) => {
                Action::None
            }

            (Starting, Event::Exited { exit, group_alive }) => {
                self.exited(cfg, exit, group_alive);
                self.failed_start(cfg, now, Some(exit))
            }
            (Running, Event::Exited { exit, group_alive }) => {
                self.exited(cfg, exit, group_alive);
                self.deadline = None;
                // A failing check's reason ends with its run.
                self.reason = None;
                if !self.should_restart(cfg, exit) {
                    self.state = Exited;
                    return Action::None;
                }
                self.restart_by_exit = true;
                self.restart_after_run(cfg, now)
            }
            (Stopping, Event::Exited { exit, group_alive }) => {
                self.exited(cfg, exit, group_alive);
                if !self.group_left {
                    return self.stop_done(cfg, now);
                }
                Action::None
            }
            // An exit of a process that is no longer the program's (reaped late).
            (
                Stopped | Waiting | Backoff | Exited | Fatal | ClearingGroup,
                Event::Exited { exit, group_alive },
            ) => {
                self.exited(cfg, exit, group_alive);
                Action::None
            }

            (Stopping, Event::GroupGone) => {
                self.group_left = false;
                if self.pid.is_none() {
                    return self.stop_done(cfg, now);
                }
                Action::None
            }
            (ClearingGroup, Event::GroupGone) => {
                self.group_left = false;
                self.spawn()
            }
            (Stopped | Waiting | Backoff | Exited | Fatal, Event::GroupGone) => {
                self.group_left = false;
                Action::None
            }
            // Its group is its main process's: only the exit matters.
            (Starting | Running, Event::GroupGone) => Action::None,

            // A spawn not made yet is cancelled.
            (Starting, Event::Stop) if self.pid.is_none() => {
                self.stopped();
                Action::None
            }
            (Starting | Running, Event::Stop) => self.signal_stop(cfg, Stopping, now),
            // What is left of the group is stopped as the main process would be.
            (Backoff | Exited | Fatal, Event::Stop) if self.group_left => {
                self.signal_stop(cfg, Stopping, now)
            }
            (Waiting | Backoff | Exited | Fatal, Event::Stop) => {
                self.stopped();
                Action::None
            }
            // Already signalled: the stop goes on from where the clearing is.
            (ClearingGroup, Event::Stop) => {
                self.state = Stopping;
                Action::None
            }
            // A stop asked for while a not-ready start (or a restart) is stopped ends STOPPED.
            (Stopping, Event::Stop) => {
                self.unready = false;
                self.restarting = false;
                Action::None
            }
            (Stopped, Event::Stop) => Action::None,

            (Starting | Running | Stopping, Event::Signalled { signal }) => {
                self.sent_signal = Some(signal);
                Action::None
            }
            // `signal` reaches only a live main process.
            (Stopped | Waiting | Backoff | Exited | Fatal | ClearingGroup, Event::Signalled { .. }) => {
                Action::None
            }
        }
    }

    /// RUNNING reached; the watchdog, if any, waits for the first keepalive.
    fn running(&mut self, cfg: &ProgramConfig, now: Instant) {
        self.state = State::Running;
        self.failures = 0;
        self.deadline = (cfg.limits.watchdog > 0).then(|| now.after_secs(cfg.limits.watchdog));
        self.attempts_ended += 1;
        self.runs += 1;
        self.health = None;
        self.check_failures = 0;
    }

    /// Stops a RUNNING program as `stop` does, to start it again after.
    /// The reason shows on its STOPPING and BACKOFF lines until it starts.
    fn restart_for(&mut self, cfg: &ProgramConfig, reason: String, now: Instant) -> Action {
        self.reason = Some(reason.into());
        self.restart_by_exit = false;
        self.restarting = true;
        self.signal_stop(cfg, State::Stopping, now)
    }

    /// A run ended and the program restarts: at once for the first exit in
    /// a row (never sooner than 1 s after its start), else after a backoff.
    fn restart_after_run(&mut self, cfg: &ProgramConfig, now: Instant) -> Action {
        let long_run = self.started_at.map_or(true, |t| now >= t.after_secs(cfg.backoff_reset));
        self.crashes = if long_run { 1 } else { self.crashes + 1 };
        // The first exit in a row restarts at once, but never sooner than
        // 1 s after its start; the n-th waits as the retry after the
        // (n-1)-th failed start (with backoff=0: 0, 1, 2 … s).
        let earliest = match self.crashes {
            0 | 1 => self.started_at.map_or(now, |t| t.after_secs(MIN_RESTART_SECS)),
            n => now.after_secs(backoff_delay(cfg, n - 1)),
        };
        if earliest <= now {
            self.count_restart();
            self.start_now(cfg, now)
        } else {
            self.state = State::Backoff;
            self.deadline = Some(earliest);
            Action::None
        }
    }

    /// The process was made: STARTING until `startsecs`, or RUNNING at once.
    fn spawned(&mut self, cfg: &ProgramConfig, pid: Pid, exec_failed: Option<String>, now: Instant) {
        self.pid = Some(pid);
        self.pgid = Some(pid);
        self.group_left = false;
        self.started_at = Some(now);
        self.sent_signal = None;
        self.killed = false;
        self.unready = false;
        if cfg.ready != Ready::Startsecs && exec_failed.is_none() {
            self.state = State::Starting;
            self.deadline = (cfg.ready_timeout > 0).then(|| now.after_secs(cfg.ready_timeout));
        } else if cfg.startsecs == 0 && exec_failed.is_none() {
            self.running(cfg, now);
        } else {
            self.state = State::Starting;
            // After a failed exec only its exit (127) ends the start: a
            // `startsecs` deadline could make it RUNNING before the reap.
            self.deadline = exec_failed.is_none().then(|| now.after_secs(cfg.startsecs));
        }
        self.reason = exec_failed.map(String::into_boxed_str);
    }

    /// No process can ever be made with this config: FATAL at once.
    fn refused(&mut self, reason: String) {
        self.pid = None;
        self.reason = Some(reason.into());
        self.state = State::Fatal;
        self.deadline = None;
        self.attempts_ended += 1;
    }

    /// STARTING without a process: the loop spawns it (soon, a few per turn).
    fn spawn(&mut self) -> Action {
        self.state = State::Starting;
        self.pid = None;
        self.deadline = None;
        Action::Spawn
    }

    /// Spawns, unless members of the last process group live: then they are
    /// stopped first (BACKOFF meanwhile) and the spawn follows `GroupGone`.
    fn start_now(&mut self, cfg: &ProgramConfig, now: Instant) -> Action {
        if self.group_left {
            return self.signal_stop(cfg, State::ClearingGroup, now);
        }
        self.spawn()
    }

    /// Sends the stop signal and arms the SIGKILL deadline.
    fn signal_stop(&mut self, cfg: &ProgramConfig, state: State, now: Instant) -> Action {
        self.state = state;
        self.killed = false;
        self.sent_signal = Some(cfg.stopsignal);
        self.deadline = Some(now.after_secs(cfg.stopwaitsecs));
        Action::Signal(cfg.stopsignal)
    }

    /// The main process ended; with killasgroup its group may live on.
    fn exited(&mut self, cfg: &ProgramConfig, exit: Exit, group_alive: bool) {
        self.pid = None;
        self.last_exit = Some(exit);
        self.group_left = cfg.killasgroup && group_alive;
    }

    /// A stop is complete: STOPPED, or a failed start when it was not ready.
    fn stop_done(&mut self, cfg: &ProgramConfig, now: Instant) -> Action {
        if std::mem::take(&mut self.unready) {
            return self.failed_start(cfg, now, None);
        }
        if std::mem::take(&mut self.restarting) {
            return self.restart_after_run(cfg, now);
        }
        self.stopped();
        Action::None
    }

    fn stopped(&mut self) {
        self.state = State::Stopped;
        self.pid = None;
        self.deadline = None;
        self.failures = 0;
        self.crashes = 0;
        self.reason = None;
    }

    /// A start that did not survive `startsecs` (or never made a process).
    /// A retry is an automatic restart: its reason is the exit (`exit`),
    /// else the reason (`not ready after 60s`, a spawn error).
    fn failed_start(&mut self, cfg: &ProgramConfig, now: Instant, exit: Option<Exit>) -> Action {
        self.failures += 1;
        self.attempts_ended += 1;
        if cfg.startretries.is_some_and(|retries| self.failures > retries) {
            self.state = State::Fatal;
            self.deadline = None;
            return Action::None;
        }
        self.state = State::Backoff;
        self.deadline = Some(now.after_secs(backoff_delay(cfg, self.failures)));
        self.restart_by_exit = exit.is_some();
        Action::None
    }

    /// An automatic restart is made: counted, and its reason kept.
    fn count_restart(&mut self) {
        self.restarts += 1;
        match (self.restart_by_exit, self.last_exit) {
            (true, Some(exit)) => self.restart_reason_exit(exit),
            _ if self.last_restart_reason != self.reason => self.last_restart_reason = self.reason.clone(),
            _ => {}
        }
    }

    /// `last_restart_reason` = `exit: 1` or `signal: SEGV`, allocated only
    /// when it differs from the last one: a crash loop allocates nothing.
    fn restart_reason_exit(&mut self, exit: Exit) {
        let mut digits = [0u8; 20];
        let (label, value) = match exit {
            Exit::Code(code) => ("exit: ", crate::text::decimal_str(code as u64, &mut digits)),
            Exit::Signal(signal) => match crate::signals::name(signal) {
                Some(name) => ("signal: ", name),
                None => ("signal: ", crate::text::decimal_str(signal as u64, &mut digits)),
            },
        };
        let same = self.last_restart_reason.as_deref().and_then(|r| r.strip_prefix(label)) == Some(value);
        if !same {
            self.last_restart_reason = Some(crate::text::concat("{}{}", &[Str(label), Str(value)]).into());
        }
    }

    fn should_restart(&self, cfg: &ProgramConfig, exit: Exit) -> bool {
        match cfg.autorestart {
            AutoRestart::Always => true,
            AutoRestart::Never => false,
            AutoRestart::Unexpected => match exit {
                Exit::Code(code) => !cfg.limits.exitcodes.contains(code),
                Exit::Signal(signal) => self.sent_signal != Some(signal),
            },
        }
    }
}

/// Seconds before retry `n` (1-based) of a failed start: `backoff * 2^(n-1)`
/// capped at `backoff_max`; `backoff=0` retries at once, then 1 s, doubling.
pub fn backoff_delay(cfg: &ProgramConfig, n: u32) -> u32 {
    let (base, doublings) = match cfg.backoff {
        0 if n <= 1 => return 0,
        0 => (1, n - 2),
        backoff => (backoff, n - 1),
    };
    // In 32 bits: `base << doublings` is past the cap exactly when `base`
    // is past the cap shifted back.
    let max = cfg.backoff_max;
    if doublings >= 32 || base > max >> doublings {
        max
    } else {
        base << doublings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A program with pman's defaults (startsecs 1, backoff 1/60,
    /// infinite retries, autorestart true, TERM then KILL after 10 s).
    fn cfg() -> ProgramConfig {
        let text = "[program:p]\ncommand=/bin/true\nstdout=none\nstderr=none\n";
        let report = crate::config::parse_text(text, b"/etc/pman.conf");
        match report.result {
            Ok(mut config) => config.programs.remove(0),
            Err(errors) => panic!("{errors:?}"),
        }
    }

    const ALL_STATES: [State; 9] = [
        State::Stopped,
        State::Waiting,
        State::Starting,
        State::Running,
        State::Backoff,
        State::Stopping,
        State::Exited,
        State::Fatal,
        State::ClearingGroup,
    ];

    fn spawned(pid: Pid) -> Event {
        Event::Spawned { pid, exec_failed: None }
    }

    fn exited(code: i32) -> Event {
        Event::Exited { exit: Exit::Code(code), group_alive: false }
    }

    fn in_state(state: State, now: Instant) -> Program {
        let mut p = Program::new();
        p.state = state;
        if matches!(state, State::Starting | State::Running | State::Stopping) {
            p.pid = Some(42);
            p.pgid = Some(42);
            p.started_at = Some(now);
        }
        p
    }

    #[test]
    fn start_from_rest_spawns_and_elsewhere_does_nothing() {
        let now = Instant::now();
        for state in ALL_STATES {
            let mut p = in_state(state, now);
            let action = p.step(&cfg(), Event::Start, now);
            let rest = matches!(state, State::Stopped | State::Exited | State::Fatal | State::Backoff);
            // WAITING is started by the table once its dependencies are met.
            let rest = rest || state == State::Waiting;
            assert_eq!(action == Action::Spawn, rest, "{state:?}");
            let after = if rest { State::Starting } else { state };
            assert_eq!((p.state, p.pid), (after, if rest { None } else { p.pid }), "{state:?}");
        }
    }

    #[test]
    fn spawned_goes_starting_then_running() {
        let now = Instant::now();
        let mut p = Program::new();
        p.step(&cfg(), spawned(7), now);
        assert_eq!((p.state, p.pid), (State::Starting, Some(7)));
        assert_eq!(p.deadline, Some(now.after_secs(1)));
        p.step(&cfg(), Event::Deadline, now.after_secs(1));
        assert_eq!(p.state, State::Running);
        assert_eq!(p.deadline, None);
    }

    #[test]
    fn startsecs_zero_is_running_at_once() {
        let mut c = cfg();
        c.startsecs = 0;
        let mut p = Program::new();
        p.step(&c, spawned(7), Instant::now());
        assert_eq!(p.state, State::Running);
    }

    #[test]
    fn exec_failure_stays_starting_until_the_exit() {
        let mut c = cfg();
        c.startsecs = 0;
        let now = Instant::now();
        let mut p = Program::new();
        p.step(&c, Event::Spawned { pid: 7, exec_failed: Some("exec /nope: x".into()) }, now);
        assert_eq!(p.state, State::Starting);
        p.step(&c, exited(127), now);
        assert_eq!(p.state, State::Backoff);
        assert_eq!(p.reason.as_deref(), Some("exec /nope: x"));
        assert_eq!(p.last_exit, Some(Exit::Code(127)));
    }

    #[test]
    fn failed_starts_back_off_doubling_then_fatal() {
        let mut c = cfg();
        c.startretries = Some(3);
        c.backoff = 2;
        c.backoff_max = 5;
        let mut now = Instant::now();
        let mut p = Program::new();
        let mut delays = vec![];
        for _ in 0..4 {
            p.step(&c, spawned(7), now);
            p.step(&c, exited(1), now);
            if p.state == State::Backoff {
                let d = p.deadline.unwrap();
                delays.push(d.ms_since(now) / 1000);
                now = d;
                assert_eq!(p.step(&c, Event::Deadline, now), Action::Spawn);
            }
        }
        assert_eq!(delays, vec![2, 4, 5]);
        assert_eq!(p.state, State::Fatal);
        assert_eq!(p.restarts, 3);
    }

    #[test]
    fn every_start_attempt_counts_when_it_ends() {
        let mut c = cfg();
        c.backoff = 0;
        c.backoff_max = 0;
        let now = Instant::now();
        let mut p = Program::new();
        p.step(&c, spawned(7), now);
        assert_eq!(p.attempts_ended, 0);
        p.step(&c, exited(1), now);
        assert_eq!(p.attempts_ended, 1);
        assert_eq!(p.step(&c, Event::Deadline, now), Action::Spawn);
        p.step(&c, spawned(8), now);
        p.step(&c, Event::Deadline, now.after_secs(1));
        assert_eq!((p.state, p.attempts_ended), (State::Running, 2));
    }

    #[test]
    fn startretries_zero_is_fatal_at_first_failure() {
        let mut c = cfg();
        c.startretries = Some(0);
        let mut p = Program::new();
        let now = Instant::now();
        p.step(&c, spawned(7), now);
        p.step(&c, exited(1), now);
        assert_eq!(p.state, State::Fatal);
    }

    #[test]
    fn backoff_is_the_64_bit_formula_in_32_bits() {
        let mut c = cfg();
        for (backoff, max) in
            [(0, 0), (0, 60), (1, 60), (3, 100), (5, u32::MAX), (u32::MAX, u32::MAX), (7, 6)]
        {
            (c.backoff, c.backoff_max) = (backoff, max);
            for n in 1..=40 {
                let wide = match (backoff, n) {
                    (0, 0 | 1) => 0,
                    (0, n) => 1u64 << (n - 2).min(32),
                    (b, n) => u64::from(b).saturating_mul(1u64 << (n - 1).min(32)),
                };
                assert_eq!(u64::from(backoff_delay(&c, n)), wide.min(max.into()), "{backoff} {max} {n}");
            }
        }
    }

    #[test]
    fn backoff_zero_retries_at_once_then_doubles_from_one() {
        let mut c = cfg();
        c.backoff = 0;
        let d: Vec<u32> = (1..=5).map(|n| backoff_delay(&c, n)).collect();
        assert_eq!(d, vec![0, 1, 2, 4, 8]);
        c.backoff_max = 0;
        assert_eq!(backoff_delay(&c, 9), 0);
        c.backoff = 1;
        c.backoff_max = 60;
        assert_eq!(backoff_delay(&c, 40), 60);
    }

    #[test]
    fn surviving_startsecs_resets_failures() {
        let now = Instant::now();
        let mut p = Program::new();
        p.failures = 5;
        p.step(&cfg(), spawned(7), now);
        p.step(&cfg(), Event::Deadline, now.after_secs(1));
        assert_eq!(p.failures, 0);
    }

    #[test]
    fn exit_from_running_restarts_at_once_after_one_second() {
        let t0 = Instant::now();
        let mut p = in_state(State::Running, t0);
        let action = p.step(&cfg(), exited(0), t0.after_secs(5));
        assert_eq!(action, Action::Spawn);
        assert_eq!(p.restarts, 1);
    }

    #[test]
    fn exit_from_running_too_soon_waits_for_the_interval() {
        let t0 = Instant::now();
        let mut c = cfg();
        c.startsecs = 0;
        let mut p = in_state(State::Running, t0);
        let action = p.step(&c, exited(0), t0.after_ms(100));
        assert_eq!(action, Action::None);
        assert_eq!(p.state, State::Backoff);
        assert_eq!(p.deadline, Some(t0.after_secs(MIN_RESTART_SECS)));
        assert_eq!(p.step(&c, Event::Deadline, t0.after_secs(MIN_RESTART_SECS)), Action::Spawn);
        assert_eq!(p.restarts, 1);
    }

    /// Runs of `run` seconds that each end in an exit from RUNNING: the
    /// waits before each restart, in whole seconds.
    fn crash_waits(c: &ProgramConfig, run: u32, n: usize) -> Vec<u32> {
        let mut now = Instant::now();
        let mut p = in_state(State::Running, now);
        let mut waits = vec![];
        for pid in 0..n {
            now = now.after_secs(run);
            let action = p.step(c, exited(1), now);
            let wait = p.deadline.map_or(0, |d| now.secs_until(d));
            assert!((action == Action::Spawn) == (wait == 0) && p.state != State::Fatal, "{p:?}");
            waits.push(wait);
            now = now.after_secs(wait);
            if action != Action::Spawn {
                assert_eq!(p.step(c, Event::Deadline, now), Action::Spawn);
            }
            p.step(c, spawned(100 + pid as Pid), now);
            p.step(c, Event::Deadline, now.after_secs(1));
            now = now.after_secs(1);
        }
        waits
    }

    #[test]
    fn crashes_in_a_row_back_off_and_never_turn_fatal() {
        let mut c = cfg();
        c.startretries = Some(0);
        c.backoff_max = 8;
        // Runs of 2 s (from the fork: 1 s STARTING + 1 s more).
        assert_eq!(crash_waits(&c, 1, 6), vec![0, 1, 2, 4, 8, 8]);
        c.backoff = 0;
        assert_eq!(crash_waits(&c, 1, 5), vec![0, 0, 1, 2, 4]);
        // Runs of backoff_reset or more are each the first in a row.
        c.backoff = 1;
        c.backoff_reset = 3;
        assert_eq!(crash_waits(&c, 2, 4), vec![0, 0, 0, 0]);
    }

    #[test]
    fn a_failed_exec_is_a_failed_start_even_with_startsecs_0() {
        let mut c = cfg();
        c.startsecs = 0;
        c.backoff = 30;
        let t0 = Instant::now();
        let mut p = Program::new();
        let failed =
            Event::Spawned { pid: 7, exec_failed: Some("exec /nope: No such file or directory".into()) };
        p.step(&c, failed, t0);
        assert_eq!((p.state, p.deadline), (State::Starting, None));
        p.step(&c, exited(127), t0.after_secs(1));
        assert_eq!((p.state, p.failures), (State::Backoff, 1));
        assert_eq!(p.deadline, Some(t0.after_secs(31)));
        assert_eq!(p.reason.as_deref(), Some("exec /nope: No such file or directory"));
    }

    #[test]
    fn only_the_first_crash_in_a_row_keeps_the_one_second_floor() {
        let mut c = cfg();
        c.startsecs = 0;
        c.backoff = 0;
        let t0 = Instant::now();
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        // First in a row: at once, but 1 s after its start.
        assert_eq!(p.step(&c, exited(1), t0), Action::None);
        assert_eq!((p.state, p.deadline), (State::Backoff, Some(t0.after_secs(1))));
        assert_eq!(p.step(&c, Event::Deadline, t0.after_secs(1)), Action::Spawn);
        p.step(&c, spawned(8), t0.after_secs(1));
        // Second with backoff=0: no wait at all; third: 1 s.
        assert_eq!(p.step(&c, exited(1), t0.after_secs(1)), Action::Spawn);
        p.step(&c, spawned(9), t0.after_secs(1));
        assert_eq!(p.step(&c, exited(1), t0.after_secs(1)), Action::None);
        assert_eq!(p.deadline, Some(t0.after_secs(2)));
    }

    #[test]
    fn a_restart_reason_is_kept_when_the_restart_is_made() {
        let c = cfg();
        let t0 = Instant::now();
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        p.step(&c, exited(1), t0);
        assert_eq!((p.state, p.restarts, p.last_restart_reason.as_deref()), (State::Backoff, 0, None));
        // Stopped before its retry: no restart happened.
        p.step(&c, Event::Stop, t0);
        assert_eq!((p.state, p.restarts, p.last_restart_reason.as_deref()), (State::Stopped, 0, None));
        p.step(&c, Event::Start, t0);
        p.step(&c, spawned(8), t0);
        p.step(&c, exited(1), t0);
        assert_eq!(p.step(&c, Event::Deadline, t0.after_secs(1)), Action::Spawn);
        assert_eq!((p.restarts, p.last_restart_reason.as_deref()), (1, Some("exit: 1")));
        // A spawn error is the reason of the retry after it.
        p.step(&c, Event::SpawnFailed { reason: "user bob: unknown user".into() }, t0.after_secs(1));
        p.step(&c, Event::Deadline, t0.after_secs(3));
        assert_eq!((p.restarts, p.last_restart_reason.as_deref()), (2, Some("user bob: unknown user")));
    }

    #[test]
    fn a_manual_start_or_stop_resets_the_crashes_in_a_row() {
        let now = Instant::now();
        for event in [Event::Start, Event::Stop] {
            let mut p = in_state(State::Backoff, now);
            p.crashes = 4;
            p.failures = 2;
            p.step(&cfg(), event, now);
            assert_eq!((p.crashes, p.failures), (0, 0));
        }
    }

    #[test]
    fn autorestart_false_and_unexpected() {
        let t0 = Instant::now();
        let later = t0.after_secs(5);
        let mut c = cfg();
        c.autorestart = AutoRestart::Never;
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, exited(3), later), Action::None);
        assert_eq!((p.state, p.last_exit), (State::Exited, Some(Exit::Code(3))));

        c.autorestart = AutoRestart::Unexpected;
        c.limits.exitcodes = crate::config::ExitCodes::ZERO.with(2);
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, exited(2), later), Action::None);
        assert_eq!(p.state, State::Exited);
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, exited(1), later), Action::Spawn);

        // A signal pman did not send is unexpected; one it sent is not.
        let killed = Event::Exited { exit: Exit::Signal(libc::SIGKILL), group_alive: false };
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, killed.clone(), later), Action::Spawn);
        let mut p = in_state(State::Running, t0);
        p.step(&c, Event::Signalled { signal: libc::SIGKILL }, later);
        assert_eq!(p.step(&c, killed, later), Action::None);
        assert_eq!(p.state, State::Exited);
    }

    #[test]
    fn stop_signals_then_kills_after_stopwaitsecs() {
        let t0 = Instant::now();
        let c = cfg();
        for state in [State::Starting, State::Running] {
            let mut p = in_state(state, t0);
            assert_eq!(p.step(&c, Event::Stop, t0), Action::Signal(libc::SIGTERM));
            assert_eq!(p.state, State::Stopping);
            assert_eq!(p.deadline, Some(t0.after_secs(10)));
            let t1 = t0.after_secs(10);
            assert_eq!(p.step(&c, Event::Deadline, t1), Action::Signal(libc::SIGKILL));
            assert!(p.killed);
            p.step(&c, Event::Exited { exit: Exit::Signal(libc::SIGKILL), group_alive: false }, t1);
            assert_eq!((p.state, p.pid), (State::Stopped, None));
        }
    }

    #[test]
    fn stop_waits_for_the_group() {
        let t0 = Instant::now();
        let mut p = in_state(State::Running, t0);
        p.step(&cfg(), Event::Stop, t0);
        p.step(&cfg(), Event::Exited { exit: Exit::Code(0), group_alive: true }, t0);
        assert_eq!((p.state, p.pid), (State::Stopping, None));
        p.step(&cfg(), Event::GroupGone, t0);
        assert_eq!(p.state, State::Stopped);
    }

    #[test]
    fn stop_without_a_process_is_immediate() {
        let t0 = Instant::now();
        for state in [State::Stopped, State::Backoff, State::Exited, State::Fatal] {
            let mut p = in_state(state, t0);
            assert_eq!(p.step(&cfg(), Event::Stop, t0), Action::None);
            assert_eq!(p.state, State::Stopped, "{state:?}");
        }
        let mut p = in_state(State::Stopping, t0);
        assert_eq!(p.step(&cfg(), Event::Stop, t0), Action::None);
        assert_eq!(p.state, State::Stopping);
    }

    #[test]
    fn spawn_failures() {
        let t0 = Instant::now();
        let mut p = Program::new();
        p.step(&cfg(), Event::SpawnFailed { reason: "user bob: unknown user".into() }, t0);
        assert_eq!(p.state, State::Backoff);
        assert_eq!(p.reason.as_deref(), Some("user bob: unknown user"));
        let mut p = Program::new();
        p.step(&cfg(), Event::SpawnRefused { reason: "user bob: Operation not permitted".into() }, t0);
        assert_eq!(p.state, State::Fatal);
    }

    #[test]
    fn deadline_and_group_events_are_ignored_where_meaningless() {
        let t0 = Instant::now();
        for state in [State::Stopped, State::Running, State::Exited, State::Fatal] {
            let mut p = in_state(state, t0);
            assert_eq!(p.step(&cfg(), Event::Deadline, t0), Action::None);
            assert_eq!(p.step(&cfg(), Event::GroupGone, t0), Action::None);
            assert_eq!(p.state, state);
        }
    }

    #[test]
    fn signalled_marks_the_signal_as_sent_by_pman() {
        let t0 = Instant::now();
        let mut p = in_state(State::Running, t0);
        p.step(&cfg(), Event::Signalled { signal: libc::SIGHUP }, t0);
        assert_eq!(p.sent_signal, Some(libc::SIGHUP));
        let mut p = in_state(State::Stopped, t0);
        p.step(&cfg(), Event::Signalled { signal: libc::SIGHUP }, t0);
        assert_eq!(p.sent_signal, None);
    }

    /// A program at rest whose last process group still has members.
    fn with_leftovers(state: State, now: Instant) -> Program {
        let mut p = in_state(state, now);
        p.pid = None;
        p.pgid = Some(42);
        p.group_left = true;
        p.last_exit = Some(Exit::Code(0));
        p
    }

    fn exited_leaving_group(code: i32) -> Event {
        Event::Exited { exit: Exit::Code(code), group_alive: true }
    }

    #[test]
    fn an_exit_notes_a_living_group_only_with_killasgroup() {
        let t0 = Instant::now();
        let mut c = cfg();
        c.autorestart = AutoRestart::Never;
        let mut p = in_state(State::Running, t0);
        p.step(&c, exited_leaving_group(0), t0);
        assert_eq!((p.state, p.group_left), (State::Exited, true));
        c.killasgroup = false;
        let mut p = in_state(State::Running, t0);
        p.step(&c, exited_leaving_group(0), t0);
        assert_eq!((p.state, p.group_left), (State::Exited, false));
    }

    #[test]
    fn an_automatic_restart_first_stops_what_is_left_of_the_group() {
        let t0 = Instant::now();
        let c = cfg();
        let later = t0.after_secs(5);
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, exited_leaving_group(0), later), Action::Signal(libc::SIGTERM));
        assert_eq!((p.state, p.state.name()), (State::ClearingGroup, "BACKOFF"));
        assert_eq!(p.deadline, Some(later.after_secs(10)));
        assert_eq!(p.restarts, 1);
        assert_eq!(p.step(&c, Event::GroupGone, later), Action::Spawn);
        assert!(!p.group_left);
        p.step(&c, spawned(43), later);
        assert_eq!((p.state, p.pgid), (State::Starting, Some(43)));
    }

    #[test]
    fn a_restart_too_soon_waits_then_clears_the_group() {
        let t0 = Instant::now();
        let mut c = cfg();
        c.startsecs = 0;
        let mut p = in_state(State::Running, t0);
        assert_eq!(p.step(&c, exited_leaving_group(0), t0), Action::None);
        assert_eq!((p.state, p.group_left), (State::Backoff, true));
        let due = t0.after_secs(MIN_RESTART_SECS);
        assert_eq!(p.step(&c, Event::Deadline, due), Action::Signal(libc::SIGTERM));
        assert_eq!(p.state, State::ClearingGroup);
    }

    #[test]
    fn a_failed_start_that_leaves_a_group_clears_it_before_the_retry() {
        let t0 = Instant::now();
        let c = cfg();
        let mut p = in_state(State::Starting, t0);
        p.step(&c, exited_leaving_group(1), t0);
        assert_eq!((p.state, p.group_left), (State::Backoff, true));
        let retry = p.deadline.unwrap();
        assert_eq!(p.step(&c, Event::Deadline, retry), Action::Signal(libc::SIGTERM));
        assert_eq!(p.state, State::ClearingGroup);
    }

    #[test]
    fn clearing_the_group_under_every_event() {
        let t0 = Instant::now();
        let c = cfg();
        let clearing = || {
            let mut p = with_leftovers(State::ClearingGroup, t0);
            p.deadline = Some(t0.after_secs(10));
            p
        };
        let mut p = clearing();
        assert_eq!(p.step(&c, Event::Start, t0), Action::None);
        assert_eq!(p.state, State::ClearingGroup);

        let mut p = clearing();
        let t1 = t0.after_secs(10);
        assert_eq!(p.step(&c, Event::Deadline, t1), Action::Signal(libc::SIGKILL));
        assert_eq!(
            (p.state, p.killed, p.deadline),
            (State::ClearingGroup, true, Some(t1.after_secs(KILL_REPEAT_SECS)))
        );

        let mut p = clearing();
        assert_eq!(p.step(&c, Event::GroupGone, t0), Action::Spawn);
        assert_eq!((p.group_left, p.deadline), (false, None));

        // A stop takes over the clearing: signalled already, same deadline.
        let mut p = clearing();
        assert_eq!(p.step(&c, Event::Stop, t0), Action::None);
        assert_eq!((p.state, p.deadline), (State::Stopping, Some(t0.after_secs(10))));
        assert_eq!(p.step(&c, Event::GroupGone, t0), Action::None);
        assert_eq!(p.state, State::Stopped);

        let mut p = clearing();
        assert_eq!(p.step(&c, Event::Signalled { signal: libc::SIGHUP }, t0), Action::None);
        assert_eq!((p.state, p.sent_signal), (State::ClearingGroup, None));

        let mut p = clearing();
        assert_eq!(p.step(&c, exited(3), t0), Action::None);
        assert_eq!((p.state, p.last_exit), (State::ClearingGroup, Some(Exit::Code(3))));

        let mut p = clearing();
        p.step(&c, spawned(50), t0);
        assert_eq!((p.state, p.group_left), (State::Starting, false));

        let mut p = clearing();
        p.step(&c, Event::SpawnFailed { reason: "fork: x".into() }, t0);
        assert_eq!(p.state, State::Backoff);

        let mut p = clearing();
        p.step(&c, Event::SpawnRefused { reason: "user: x".into() }, t0);
        assert_eq!(p.state, State::Fatal);
    }

    #[test]
    fn leftovers_of_an_exited_or_fatal_program_are_left_alone_until_a_command() {
        let t0 = Instant::now();
        let c = cfg();
        for state in [State::Exited, State::Fatal] {
            // Left alone: time passing does nothing.
            let mut p = with_leftovers(state, t0);
            assert_eq!(p.step(&c, Event::Deadline, t0.after_secs(60)), Action::None);
            assert_eq!((p.state, p.group_left), (state, true));

            // Started: the group is stopped first, then the spawn.
            let mut p = with_leftovers(state, t0);
            assert_eq!(p.step(&c, Event::Start, t0), Action::Signal(libc::SIGTERM), "{state:?}");
            assert_eq!(p.state, State::ClearingGroup);
            assert_eq!(p.step(&c, Event::GroupGone, t0), Action::Spawn);

            // Stopped (stop, reload removal, shutdown): stopping until the group is gone.
            let mut p = with_leftovers(state, t0);
            assert_eq!(p.step(&c, Event::Stop, t0), Action::Signal(libc::SIGTERM), "{state:?}");
            assert_eq!(p.state, State::Stopping);
            let t1 = t0.after_secs(10);
            assert_eq!(p.step(&c, Event::Deadline, t1), Action::Signal(libc::SIGKILL));
            assert_eq!(p.step(&c, Event::GroupGone, t1), Action::None);
            assert_eq!((p.state, p.group_left), (State::Stopped, false));
        }
    }

    #[test]
    fn a_backoff_with_leftovers_stops_them_on_stop() {
        let t0 = Instant::now();
        let mut p = with_leftovers(State::Backoff, t0);
        assert_eq!(p.step(&cfg(), Event::Stop, t0), Action::Signal(libc::SIGTERM));
        assert_eq!(p.state, State::Stopping);
        let mut p = with_leftovers(State::Backoff, t0);
        assert_eq!(p.step(&cfg(), Event::Start, t0), Action::Signal(libc::SIGTERM));
        assert_eq!(p.state, State::ClearingGroup);
    }

    #[test]
    fn a_group_that_empties_by_itself_is_forgotten() {
        let t0 = Instant::now();
        for state in [State::Stopped, State::Backoff, State::Exited, State::Fatal] {
            let mut p = with_leftovers(state, t0);
            assert_eq!(p.step(&cfg(), Event::GroupGone, t0), Action::None);
            assert_eq!((p.state, p.group_left), (state, false), "{state:?}");
            // Then a start spawns at once.
            assert_eq!(p.step(&cfg(), Event::Start, t0), Action::Spawn, "{state:?}");
        }
    }

    #[test]
    fn busy_states_are_the_ones_stops_and_clearing_wait_on() {
        let busy: Vec<State> =
            ALL_STATES.into_iter().filter(|&s| in_state(s, Instant::now()).is_busy()).collect();
        assert_eq!(busy, [State::Starting, State::Running, State::Stopping, State::ClearingGroup]);
    }

    /// Every state × event pair, from a program in that state (with a
    /// process in STARTING, RUNNING and STOPPING), defaults, 5 s after its
    /// start: the state it ends in and what the loop must do.
    #[test]
    fn every_state_and_event() {
        use Action::{None, Signal, Spawn};
        use Kind::*;
        use State::*;
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Kind {
            Start,
            Stop,
            Spawned,
            SpawnFailed,
            SpawnRefused,
            MainExited,
            GroupGone,
            Deadline,
            Signalled,
            ReadyProbe,
            Wait,
            Unhealthy,
            CheckPassed,
            CheckFailed,
        }
        const TABLE: &[(State, Kind, State, Action)] = &[
            (Stopped, Start, Starting, Spawn),
            (Stopped, Stop, Stopped, None),
            (Stopped, Spawned, Starting, None),
            (Stopped, SpawnFailed, Backoff, None),
            (Stopped, SpawnRefused, Fatal, None),
            (Stopped, MainExited, Stopped, None),
            (Stopped, GroupGone, Stopped, None),
            (Stopped, Deadline, Stopped, None),
            (Stopped, Signalled, Stopped, None),
            (Stopped, ReadyProbe, Stopped, None),
            (Stopped, Wait, Stopped, None),
            (Stopped, Unhealthy, Stopped, None),
            (Stopped, CheckPassed, Stopped, None),
            (Stopped, CheckFailed, Stopped, None),
            (Waiting, Start, Starting, Spawn),
            (Waiting, Stop, Stopped, None),
            (Waiting, Spawned, Starting, None),
            (Waiting, SpawnFailed, Backoff, None),
            (Waiting, SpawnRefused, Fatal, None),
            (Waiting, MainExited, Waiting, None),
            (Waiting, GroupGone, Waiting, None),
            (Waiting, Deadline, Waiting, None),
            (Waiting, Signalled, Waiting, None),
            (Waiting, ReadyProbe, Waiting, None),
            (Waiting, Wait, Waiting, None),
            (Waiting, Unhealthy, Waiting, None),
            (Waiting, CheckPassed, Waiting, None),
            (Waiting, CheckFailed, Waiting, None),
            (Starting, Start, Starting, None),
            (Starting, Stop, Stopping, Signal(libc::SIGTERM)),
            (Starting, Spawned, Starting, None),
            (Starting, SpawnFailed, Backoff, None),
            (Starting, SpawnRefused, Fatal, None),
            (Starting, MainExited, Backoff, None),
            (Starting, GroupGone, Starting, None),
            (Starting, Deadline, Running, None),
            (Starting, Signalled, Starting, None),
            (Starting, ReadyProbe, Running, None),
            (Starting, Wait, Starting, None),
            (Starting, Unhealthy, Starting, None),
            (Starting, CheckPassed, Starting, None),
            (Starting, CheckFailed, Starting, None),
            (Running, Start, Running, None),
            (Running, Stop, Stopping, Signal(libc::SIGTERM)),
            (Running, Spawned, Starting, None),
            (Running, SpawnFailed, Backoff, None),
            (Running, SpawnRefused, Fatal, None),
            (Running, MainExited, Starting, Spawn),
            (Running, GroupGone, Running, None),
            (Running, Deadline, Running, None),
            (Running, Signalled, Running, None),
            (Running, ReadyProbe, Running, None),
            (Running, Wait, Running, None),
            (Running, Unhealthy, Stopping, Signal(libc::SIGTERM)),
            (Running, CheckPassed, Running, None),
            (Running, CheckFailed, Running, None),
            (Backoff, Start, Starting, Spawn),
            (Backoff, Stop, Stopped, None),
            (Backoff, Spawned, Starting, None),
            (Backoff, SpawnFailed, Backoff, None),
            (Backoff, SpawnRefused, Fatal, None),
            (Backoff, MainExited, Backoff, None),
            (Backoff, GroupGone, Backoff, None),
            (Backoff, Deadline, Starting, Spawn),
            (Backoff, Signalled, Backoff, None),
            (Backoff, ReadyProbe, Backoff, None),
            (Backoff, Wait, Backoff, None),
            (Backoff, Unhealthy, Backoff, None),
            (Backoff, CheckPassed, Backoff, None),
            (Backoff, CheckFailed, Backoff, None),
            (Stopping, Start, Stopping, None),
            (Stopping, Stop, Stopping, None),
            (Stopping, Spawned, Starting, None),
            (Stopping, SpawnFailed, Backoff, None),
            (Stopping, SpawnRefused, Fatal, None),
            (Stopping, MainExited, Stopped, None),
            (Stopping, GroupGone, Stopping, None),
            (Stopping, Deadline, Stopping, Signal(libc::SIGKILL)),
            (Stopping, Signalled, Stopping, None),
            (Stopping, ReadyProbe, Stopping, None),
            (Stopping, Wait, Stopping, None),
            (Stopping, Unhealthy, Stopping, None),
            (Stopping, CheckPassed, Stopping, None),
            (Stopping, CheckFailed, Stopping, None),
            (Exited, Start, Starting, Spawn),
            (Exited, Stop, Stopped, None),
            (Exited, Spawned, Starting, None),
            (Exited, SpawnFailed, Backoff, None),
            (Exited, SpawnRefused, Fatal, None),
            (Exited, MainExited, Exited, None),
            (Exited, GroupGone, Exited, None),
            (Exited, Deadline, Exited, None),
            (Exited, Signalled, Exited, None),
            (Exited, ReadyProbe, Exited, None),
            (Exited, Wait, Exited, None),
            (Exited, Unhealthy, Exited, None),
            (Exited, CheckPassed, Exited, None),
            (Exited, CheckFailed, Exited, None),
            (Fatal, Start, Starting, Spawn),
            (Fatal, Stop, Stopped, None),
            (Fatal, Spawned, Starting, None),
            (Fatal, SpawnFailed, Backoff, None),
            (Fatal, SpawnRefused, Fatal, None),
            (Fatal, MainExited, Fatal, None),
            (Fatal, GroupGone, Fatal, None),
            (Fatal, Deadline, Fatal, None),
            (Fatal, Signalled, Fatal, None),
            (Fatal, ReadyProbe, Fatal, None),
            (Fatal, Wait, Fatal, None),
            (Fatal, Unhealthy, Fatal, None),
            (Fatal, CheckPassed, Fatal, None),
            (Fatal, CheckFailed, Fatal, None),
            (ClearingGroup, Start, ClearingGroup, None),
            (ClearingGroup, Stop, Stopping, None),
            (ClearingGroup, Spawned, Starting, None),
            (ClearingGroup, SpawnFailed, Backoff, None),
            (ClearingGroup, SpawnRefused, Fatal, None),
            (ClearingGroup, MainExited, ClearingGroup, None),
            (ClearingGroup, GroupGone, Starting, Spawn),
            (ClearingGroup, Deadline, ClearingGroup, Signal(libc::SIGKILL)),
            (ClearingGroup, Signalled, ClearingGroup, None),
            (ClearingGroup, ReadyProbe, ClearingGroup, None),
            (ClearingGroup, Wait, ClearingGroup, None),
            (ClearingGroup, Unhealthy, ClearingGroup, None),
            (ClearingGroup, CheckPassed, ClearingGroup, None),
            (ClearingGroup, CheckFailed, ClearingGroup, None),
        ];
        let event = |kind: Kind| match kind {
            Start => Event::Start,
            Stop => Event::Stop,
            Spawned => spawned(50),
            SpawnFailed => Event::SpawnFailed { reason: "fork: x".into() },
            SpawnRefused => Event::SpawnRefused { reason: "user: x".into() },
            MainExited => exited(1),
            GroupGone => Event::GroupGone,
            Deadline => Event::Deadline,
            Signalled => Event::Signalled { signal: libc::SIGHUP },
            ReadyProbe => Event::Ready,
            Wait => Event::Wait,
            Unhealthy => Event::Unhealthy { reason: "memory_max: x".into() },
            CheckPassed => Event::Checked(Option::None),
            CheckFailed => Event::Checked(Some("healthcheck: exit 1".into())),
        };
        let kinds = [
            Start,
            Stop,
            Spawned,
            SpawnFailed,
            SpawnRefused,
            MainExited,
            GroupGone,
            Deadline,
            Signalled,
            ReadyProbe,
            Wait,
            Unhealthy,
            CheckPassed,
            CheckFailed,
        ];
        let t0 = Instant::now();
        for state in ALL_STATES {
            for kind in kinds {
                let rows: Vec<_> = TABLE.iter().filter(|r| (r.0, r.1) == (state, kind)).collect();
                assert_eq!(rows.len(), 1, "{state:?} × {kind:?} must be in the table once");
                let mut p = in_state(state, t0);
                let action = p.step(&cfg(), event(kind), t0.after_secs(5));
                assert_eq!((p.state, action), (rows[0].2, rows[0].3), "{state:?} × {kind:?}");
            }
        }
        assert_eq!(TABLE.len(), ALL_STATES.len() * kinds.len());
    }

    #[test]
    fn a_probed_ready_ignores_startsecs_and_times_out_into_a_failed_start() {
        let mut c = cfg();
        c.ready = Ready::File(Box::new("/run/up".into()));
        c.ready_timeout = 3;
        c.startsecs = 0;
        let t0 = Instant::now();
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        assert_eq!((p.state, p.deadline), (State::Starting, Some(t0.after_secs(3))));
        p.step(&c, Event::Ready, t0.after_secs(1));
        assert_eq!((p.state, p.attempts_ended), (State::Running, 1));

        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        let action = p.step(&c, Event::Deadline, t0.after_secs(3));
        assert_eq!((p.state, action), (State::Stopping, Action::Signal(libc::SIGTERM)));
        assert_eq!(p.reason.as_deref(), Some("not ready after 3s"));
        p.step(&c, exited(0), t0.after_secs(4));
        assert_eq!((p.state, p.failures), (State::Backoff, 1));
        assert_eq!(p.reason.as_deref(), Some("not ready after 3s"));

        // ready_timeout=0 waits forever; a stop meanwhile ends STOPPED.
        c.ready_timeout = 0;
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        assert_eq!(p.deadline, None);
        c.ready_timeout = 3;
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        p.step(&c, Event::Deadline, t0.after_secs(3));
        p.step(&c, Event::Stop, t0.after_secs(3));
        p.step(&c, exited(0), t0.after_secs(4));
        assert_eq!(p.state, State::Stopped);
    }

    #[test]
    fn a_start_with_unmet_dependencies_waits_then_spawns() {
        let t0 = Instant::now();
        let mut p = Program::new();
        assert_eq!(p.step(&cfg(), Event::Start, t0), Action::Spawn);
        assert_eq!(p.step(&cfg(), Event::Wait, t0), Action::None);
        assert_eq!((p.state, p.deadline, p.is_active()), (State::Waiting, None, true));
        assert_eq!(p.step(&cfg(), Event::Start, t0), Action::Spawn);
        assert_eq!(p.state, State::Starting);
        // A spawned process is not cancelled by a late Wait.
        p.step(&cfg(), spawned(7), t0);
        assert_eq!(p.step(&cfg(), Event::Wait, t0), Action::None);
        assert_eq!(p.state, State::Starting);
    }

    #[test]
    fn a_watchdog_restart_stops_then_starts_and_counts() {
        let mut c = cfg();
        c.ready = Ready::Fd(3);
        c.limits.watchdog = 2;
        let t0 = Instant::now();
        let at = |s: u32| t0.after_secs(s);
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        p.step(&c, Event::Ready, at(1));
        assert_eq!((p.state, p.deadline), (State::Running, Some(at(3))));
        // A keepalive moves the deadline.
        p.step(&c, Event::Ready, at(2));
        assert_eq!(p.deadline, Some(at(4)));
        let action = p.step(&c, Event::Deadline, at(4));
        assert_eq!((p.state, action), (State::Stopping, Action::Signal(libc::SIGTERM)));
        // The reason shows while stopping; it is the restart's once that is made.
        assert_eq!(p.reason.as_deref(), Some("watchdog: no keepalive for 2s"));
        assert_eq!(p.last_restart_reason, None);
        let action =
            p.step(&c, Event::Exited { exit: Exit::Signal(libc::SIGTERM), group_alive: false }, at(5));
        assert_eq!((p.state, action, p.restarts, p.crashes), (State::Starting, Action::Spawn, 1, 1));
        assert_eq!(p.last_restart_reason.as_deref(), Some("watchdog: no keepalive for 2s"));
        // A stop meanwhile cancels the restart.
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        p.step(&c, Event::Ready, at(1));
        p.step(&c, Event::Unhealthy { reason: "memory_max: x".into() }, at(2));
        p.step(&c, Event::Stop, at(2));
        p.step(&c, exited(0), at(3));
        assert_eq!((p.state, p.restarts), (State::Stopped, 0));
        // A second health restart in a row waits in BACKOFF, showing why.
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        p.step(&c, Event::Ready, at(1));
        p.step(&c, Event::Unhealthy { reason: "memory_max: x".into() }, at(2));
        assert_eq!((p.state, p.reason.as_deref()), (State::Stopping, Some("memory_max: x")));
        p.step(&c, exited(0), at(3));
        assert_eq!(p.state, State::Starting);
        p.step(&c, spawned(8), at(3));
        assert_eq!(p.reason, None);
        p.step(&c, Event::Ready, at(4));
        p.step(&c, Event::Unhealthy { reason: "memory_max: y".into() }, at(5));
        p.step(&c, exited(0), at(6));
        assert_eq!((p.state, p.reason.as_deref(), p.crashes), (State::Backoff, Some("memory_max: y"), 2));
        // An exit that restarts names itself.
        let mut p = in_state(State::Running, t0);
        p.step(&cfg(), Event::Exited { exit: Exit::Signal(libc::SIGSEGV), group_alive: false }, at(5));
        assert_eq!(p.last_restart_reason.as_deref(), Some("signal: SEGV"));
        // The same reason again is kept, not made anew (no allocation per crash).
        let kept = p.last_restart_reason.as_deref().map(str::as_ptr);
        p.restart_reason_exit(Exit::Signal(libc::SIGSEGV));
        assert_eq!(p.last_restart_reason.as_deref().map(str::as_ptr), kept);
        p.restart_reason_exit(Exit::Code(3));
        assert_eq!(p.last_restart_reason.as_deref(), Some("exit: 3"));
        p.restart_reason_exit(Exit::Signal(40));
        assert_eq!(p.last_restart_reason.as_deref(), Some("signal: 40"));
    }

    #[test]
    fn failed_checks_in_a_row_restart_and_a_pass_resets_them() {
        let mut c = cfg();
        c.limits.healthcheck = crate::config::shlex::split("check").unwrap();
        c.limits.healthcheck_retries = 2;
        let t0 = Instant::now();
        let at = |s: u32| t0.after_secs(s);
        let failed = || Event::Checked(Some("healthcheck: exit 1: refused".into()));
        let mut p = in_state(State::Running, t0);
        p.step(&c, failed(), at(30));
        assert_eq!((p.state, p.health, p.check_failures), (State::Running, Some(false), 1));
        assert_eq!(p.reason.as_deref(), Some("healthcheck: exit 1: refused"));
        // A pass resets the count and clears the reason.
        p.step(&c, Event::Checked(None), at(60));
        assert_eq!((p.health, p.check_failures, p.reason.as_deref()), (Some(true), 0, None));
        p.step(&c, failed(), at(90));
        let action = p.step(&c, failed(), at(120));
        assert_eq!((p.state, action), (State::Stopping, Action::Signal(libc::SIGTERM)));
        assert_eq!(p.last_restart_reason, None);
        let action =
            p.step(&c, Event::Exited { exit: Exit::Signal(libc::SIGTERM), group_alive: false }, at(121));
        assert_eq!((p.state, action, p.restarts), (State::Starting, Action::Spawn, 1));
        assert_eq!(p.last_restart_reason.as_deref(), Some("healthcheck: exit 1: refused"));
        // A start during the restart's stop takes it over: STOPPED, then started.
        let mut p = in_state(State::Running, t0);
        p.step(&c, failed(), at(30));
        p.step(&c, failed(), at(60));
        assert_eq!(p.step(&c, Event::Start, at(61)), Action::None);
        p.step(&c, exited(0), at(62));
        assert_eq!((p.state, p.restarts), (State::Stopped, 0));
    }

    #[test]
    fn ready_healthcheck_is_the_first_passing_check() {
        let mut c = cfg();
        c.limits.healthcheck = crate::config::shlex::split("check").unwrap();
        c.ready = Ready::Healthcheck;
        c.ready_timeout = 10;
        let t0 = Instant::now();
        let at = |s: u32| t0.after_secs(s);
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        assert_eq!((p.state, p.deadline), (State::Starting, Some(at(10))));
        p.step(&c, Event::Checked(Some("healthcheck: exit 1".into())), at(1));
        assert_eq!(p.state, State::Starting);
        p.step(&c, Event::Checked(None), at(2));
        assert_eq!((p.state, p.health, p.deadline), (State::Running, Some(true), None));
        // Never passing: not ready after ready_timeout.
        let mut p = Program::new();
        p.step(&c, spawned(7), t0);
        let action = p.step(&c, Event::Deadline, at(10));
        assert_eq!((p.state, action), (State::Stopping, Action::Signal(libc::SIGTERM)));
        assert_eq!(p.reason.as_deref(), Some("not ready after 10s"));
    }

    #[test]
    fn starting_before_its_spawn_is_stopped_at_once() {
        let t0 = Instant::now();
        let mut p = Program::new();
        assert_eq!(p.step(&cfg(), Event::Start, t0), Action::Spawn);
        assert_eq!((p.state, p.pid, p.deadline), (State::Starting, None, None));
        assert_eq!(p.step(&cfg(), Event::Stop, t0), Action::None);
        assert_eq!(p.state, State::Stopped);
    }
}
