//! Jobs: the commands that wait on programs — `start`, `stop`, `restart`,
//! `reload`, `kill` and SIGTERM. Each stops its programs by descending
//! priority, one priority group at a time, then does what it is for, and
//! answers its client (if any) when done. The loop advances every job
//! after each turn.

use super::control::Reply;
use super::program::{Event, State};
use super::{status, Daemon, Slot};
use crate::config::Config;
use crate::protocol::{TAG_ERR, TAG_OUT};
use crate::sys;
use crate::text::concat;
use crate::text::Part::{Bytes, Int, Str};
use std::os::unix::net::UnixListener;
use std::time::Instant;

/// What a job does once its stops are done.
pub enum Then {
    /// Reply with each name's status line (`stop`).
    ReportStopped,
    /// Start these and wait until each is RUNNING or failed (`start`, `restart`).
    Start,
    /// Install this config and start what it added or changed (`reload`),
    /// listening on the new socket when the config names another one.
    Reload(Box<Config>, Option<UnixListener>),
    /// End the daemon (`kill`, SIGTERM).
    Exit,
}

pub struct Job {
    client: Option<u64>,
    /// Names to stop, in groups of one priority, highest priority first.
    stop_groups: Vec<Vec<String>>,
    stop_at: usize,
    then: Then,
    /// Names for the reply (and to start, for `Then::Start`), in the order named.
    names: Vec<String>,
    start_issued: bool,
    /// Each named program's `attempts_ended` when its start was issued.
    attempts_at_start: Vec<u32>,
    /// Lines prepared at request time (reload's added/removed/changed).
    reply: Reply,
}

impl Daemon {
    /// `start`, `stop` and `restart`: check every name, then make a job.
    pub(super) fn begin(&mut self, id: u64, names: &[String], stop: bool, start: bool) {
        let (indices, unknown) = self.resolve(names);
        if !unknown.is_empty() {
            let mut reply = Reply::default();
            Self::unknown_reply(&unknown, &mut reply);
            return self.send(Some(id), reply, 2);
        }
        if self.shutting_down && start {
            let mut reply = Reply::default();
            reply.err("pman: shutting down");
            return self.send(Some(id), reply, 1);
        }
        let stop_groups = if stop { self.stop_groups(&indices) } else { Vec::new() };
        let names = indices.iter().map(|&i| self.slots[i].cfg.name.clone()).collect();
        self.jobs.push(Job {
            client: Some(id),
            stop_groups,
            stop_at: 0,
            then: if start { Then::Start } else { Then::ReportStopped },
            names,
            start_issued: false,
            attempts_at_start: Vec::new(),
            reply: Reply::default(),
        });
    }

    /// Names grouped by priority, highest first (the stop order).
    fn stop_groups(&self, indices: &[usize]) -> Vec<Vec<String>> {
        let mut sorted: Vec<usize> = indices.to_vec();
        sorted.sort_by_key(|&i| (std::cmp::Reverse(self.slots[i].cfg.priority), i));
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut last = None;
        for i in sorted {
            let priority = self.slots[i].cfg.priority;
            if last != Some(priority) {
                groups.push(Vec::new());
                last = Some(priority);
            }
            if let Some(group) = groups.last_mut() {
                group.push(self.slots[i].cfg.name.clone());
            }
        }
        groups
    }

    /// `kill`, SIGTERM, SIGINT: stop everything by descending priority, then exit.
    pub(super) fn begin_shutdown(&mut self, id: Option<u64>) {
        self.shutting_down = true;
        let all: Vec<usize> = (0..self.slots.len()).collect();
        let stop_groups = self.stop_groups(&all);
        self.jobs.push(Job {
            client: id,
            stop_groups,
            stop_at: 0,
            then: Then::Exit,
            names: Vec::new(),
            start_issued: false,
            attempts_at_start: Vec::new(),
            reply: Reply::default(),
        });
    }

    /// `reload` and SIGHUP: validate the file, bind a new socket, stop what
    /// was removed or changed, then install the new config. A broken file
    /// or a socket that cannot be bound changes nothing. With `dry_run`
    /// (`reload --dry-run`), only the lines a reload would print.
    pub(super) fn request_reload(&mut self, id: Option<u64>, dry_run: bool) {
        let mut reply = Reply::default();
        let reloading = self.jobs.iter().any(|j| matches!(j.then, Then::Reload(..)));
        if !dry_run && (self.shutting_down || reloading) {
            reply.err("pman: busy: a reload or shutdown is in progress");
            return self.send(id, reply, 1);
        }
        let report = crate::config::load(&self.config.path);
        for warning in &report.warnings {
            if !dry_run {
                self.log.warn(&[Str(warning)]);
            }
            reply.parts(TAG_ERR, &[Str("pman: warning: "), Str(warning)]);
        }
        let new = match report.result {
            Ok(config) => config,
            Err(errors) => {
                for error in &errors {
                    if !dry_run {
                        self.log.error(&[Str("reload: "), Str(error)]);
                    }
                    reply.parts(TAG_ERR, &[Str("pman: "), Str(error)]);
                }
                if !dry_run {
                    self.log.error(&[Str("reload refused: the running config is kept")]);
                }
                return self.send(id, reply, 2);
            }
        };
        let (lines, to_stop) = self.differences(&new);
        if dry_run {
            Self::reload_lines(&lines, &mut reply);
            return self.send(id, reply, 0);
        }
        let mut listener = None;
        if new.socket != self.config.socket {
            match super::control::listen(&new.socket) {
                Ok(bound) => listener = Some(bound),
                Err(e) => {
                    let reason = sys::describe(&e);
                    let message = [Str("cannot listen on "), Str(&new.socket), Str(": "), Str(&reason)];
                    self.log.error(&[
                        Str("reload refused: "),
                        Str("cannot listen on "),
                        Str(&new.socket),
                        Str(": "),
                        Str(&reason),
                        Str("; the running config is kept"),
                    ]);
                    reply.begin(TAG_ERR).str("pman: ").parts(&message);
                    reply.end();
                    return self.send(id, reply, 1);
                }
            }
        }
        self.log.info(&[Str("reloading "), Bytes(self.config.path.as_os_str().as_encoded_bytes())]);
        Self::reload_lines(&lines, &mut reply);
        for line in &lines {
            self.log.info(&[Str("reload: "), Str(line)]);
        }
        if lines.is_empty() {
            self.log.info(&[Str("reload: no changes")]);
        }
        let stop_groups = self.stop_groups(&to_stop);
        self.jobs.push(Job {
            client: id,
            stop_groups,
            stop_at: 0,
            then: Then::Reload(Box::new(new), listener),
            names: Vec::new(),
            start_issued: false,
            attempts_at_start: Vec::new(),
            reply,
        });
    }

    /// `[NAME] added`/`changed` in the new config's order, then `[NAME]
    /// removed`; and the programs to stop (changed and removed ones).
    fn differences(&self, new: &Config) -> (Vec<String>, Vec<usize>) {
        let mut lines = Vec::new();
        let mut to_stop = Vec::new();
        for prog in &new.programs {
            match self.index_of(&prog.name) {
                None => lines.push(concat(&[Str("["), Str(&prog.name), Str("] added")])),
                Some(i) if self.slots[i].cfg != *prog => {
                    lines.push(concat(&[Str("["), Str(&prog.name), Str("] changed")]));
                    to_stop.push(i);
                }
                Some(_) => {}
            }
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if !new.programs.iter().any(|p| p.name == slot.cfg.name) {
                lines.push(concat(&[Str("["), Str(&slot.cfg.name), Str("] removed")]));
                to_stop.push(i);
            }
        }
        (lines, to_stop)
    }

    fn reload_lines(lines: &[String], reply: &mut Reply) {
        for line in lines {
            reply.out(line);
        }
        if lines.is_empty() {
            reply.out("no changes");
        }
    }

    /// Moves every job on as far as the programs allow, oldest first. The
    /// job being moved is out of `self.jobs`, which holds all the others.
    pub(super) fn advance_jobs(&mut self) {
        let mut at = 0;
        while at < self.jobs.len() {
            let mut job = self.jobs.remove(at);
            if !self.advance(&mut job) {
                self.jobs.insert(at, job);
                at += 1;
            }
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.cfg.name == name)
    }

    /// True when the job is finished (and answered).
    fn advance(&mut self, job: &mut Job) -> bool {
        while job.stop_at < job.stop_groups.len() {
            // Asked again on every turn until the group is stopped: a name
            // may mean a new program after a reload, or one started meanwhile.
            let group: Vec<usize> =
                job.stop_groups[job.stop_at].iter().filter_map(|n| self.index_of(n)).collect();
            for &i in &group {
                if !matches!(self.slots[i].prog.state, State::Stopped | State::Stopping) {
                    self.event(i, Event::Stop);
                }
            }
            if group.iter().any(|&i| self.slots[i].prog.is_busy()) {
                return false;
            }
            job.stop_at += 1;
        }
        if matches!(job.then, Then::Exit) {
            // Nothing may outlive the daemon, whatever started after the
            // stops were computed.
            let left: Vec<usize> = (0..self.slots.len())
                .filter(|&i| {
                    let prog = &self.slots[i].prog;
                    prog.state != State::Stopped && (prog.is_active() || prog.group_left)
                })
                .collect();
            if !left.is_empty() {
                job.stop_groups = self.stop_groups(&left);
                job.stop_at = 0;
                return self.advance(job);
            }
        }
        match std::mem::replace(&mut job.then, Then::ReportStopped) {
            Then::ReportStopped => {
                let mut reply = std::mem::take(&mut job.reply);
                let mut code = 0;
                let now = Instant::now();
                for name in &job.names {
                    if let Some(i) = self.index_of(name) {
                        status::line(reply.begin(TAG_OUT), name, &self.slots[i].prog, now);
                        reply.end();
                        // A FATAL config program has nothing to stop.
                        if self.slots[i].prog.state != State::Stopped && !self.slots[i].fatal_config() {
                            code = 1;
                        }
                    }
                }
                self.send(job.client, reply, code);
                true
            }
            Then::Start => {
                job.then = Then::Start;
                self.advance_start(job)
            }
            Then::Reload(config, listener) => {
                self.install(*config, listener);
                let reply = std::mem::take(&mut job.reply);
                self.send(job.client, reply, 0);
                true
            }
            Then::Exit => {
                let mut reply = Reply::default();
                reply.parts(TAG_OUT, &[Str("pman: stopped (pid "), Int(sys::getpid().into()), Str(")")]);
                self.linger(job.client);
                self.send(job.client, reply, 0);
                self.exit_code = Some(0);
                true
            }
        }
    }

    /// The start half of `start`/`restart`: issue the starts (ascending
    /// priority) once nothing named is still stopping, then wait until each
    /// is RUNNING or its attempt failed.
    fn advance_start(&mut self, job: &mut Job) -> bool {
        let indices: Vec<usize> = job.names.iter().filter_map(|n| self.index_of(n)).collect();
        if !job.start_issued {
            if indices.iter().any(|&i| self.slots[i].prog.state == State::Stopping) {
                return false;
            }
            if self.shutting_down {
                // A shutdown began during the stop half: nothing starts.
                let mut reply = Reply::default();
                reply.err("pman: shutting down");
                self.send(job.client, reply, 1);
                return true;
            }
            job.start_issued = true;
            job.attempts_at_start = indices.iter().map(|&i| self.slots[i].prog.attempts_ended).collect();
            for i in self.start_order(indices.clone()) {
                self.event(i, Event::Start);
            }
        }
        // Done for a program once it is past STARTING, or once its attempt
        // ended even if a retry already began (backoff=0).
        let pending = indices.iter().zip(&job.attempts_at_start).any(|(&i, &at_start)| {
            let prog = &self.slots[i].prog;
            matches!(prog.state, State::Starting | State::Stopping | State::ClearingGroup)
                && prog.attempts_ended == at_start
        });
        if pending {
            return false;
        }
        let mut reply = Reply::default();
        let now = Instant::now();
        let mut code = 0;
        for &i in &indices {
            status::line(reply.begin(TAG_OUT), &self.slots[i].cfg.name, &self.slots[i].prog, now);
            reply.end();
            if self.slots[i].prog.state != State::Running {
                code = 1;
            }
        }
        self.send(job.client, reply, code);
        true
    }

    /// Replaces the program table with `config`'s: unchanged programs keep
    /// their process and history; added and changed ones start if autostart,
    /// unless the daemon is shutting down or a later job is about to stop them.
    fn install(&mut self, mut config: Config, listener: Option<UnixListener>) {
        self.apply_daemon_settings(&config, listener);
        let mut old = std::mem::take(&mut self.slots);
        let mut fresh: Vec<usize> = Vec::new();
        for cfg in std::mem::take(&mut config.programs) {
            match old.iter().position(|s| s.cfg == cfg) {
                Some(i) => self.slots.push(old.swap_remove(i)),
                None => {
                    let held = self.jobs.iter().any(|job| job.will_stop(&cfg.name));
                    if cfg.autostart && !held && !self.shutting_down {
                        fresh.push(self.slots.len());
                    }
                    self.slots.push(Slot::new(cfg));
                }
            }
        }
        // Removed and replaced programs close their pipes, then the log
        // files no program writes any more.
        drop(old);
        self.config = config;
        self.retire_writers();
        for i in self.start_order(fresh) {
            self.event(i, Event::Start);
        }
    }
}

impl Job {
    /// True when this job has yet to stop (or is stopping) `name`.
    fn will_stop(&self, name: &str) -> bool {
        self.stop_groups.iter().skip(self.stop_at).any(|group| group.iter().any(|n| n == name))
    }
}
