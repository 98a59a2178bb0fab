//! Jobs: the commands that wait on programs — `start`, `stop`, `restart`,
//! `reload`, `kill` and SIGTERM. Each stops its programs by descending
//! priority, one priority group at a time, then does what it is for, and
//! says how it ended (the loop answers the client, installs a config or
//! exits). Jobs name programs by slot index; a reload moves them along.

use super::control::{unknown_reply, Reply};
use super::log::Logger;
use super::program::{Event, State};
use super::table::{Slot, Table};
use crate::config::Config;
use crate::path::FilePath;
use crate::protocol::{TAG_ERR, TAG_OUT};
use crate::sys;
use crate::sys::Instant;
use crate::text::concat;
use crate::text::Part::{Bytes, Int, Str};
use std::os::unix::net::UnixListener;

/// What a job does once its stops are done.
enum Then {
    /// Reply with each program's status line (`stop`).
    ReportStopped,
    /// Start the targets and wait until each is RUNNING or failed (`start`, `restart`).
    Start,
    /// Install this config and start what it added or changed (`reload`),
    /// listening on the new socket when the config names another one.
    Reload(Box<Config>, Option<UnixListener>),
    /// End the daemon (`kill`, SIGTERM).
    Exit,
}

pub struct Job {
    client: Option<u64>,
    /// Programs to stop, in groups of one priority, highest priority first.
    stop_groups: Vec<Vec<usize>>,
    stop_at: usize,
    then: Then,
    /// Programs for the reply (and to start, for `Then::Start`), in the order named.
    targets: Vec<usize>,
    start_issued: bool,
    /// Each target's `attempts_ended` when its start was issued.
    attempts_at_start: Vec<u32>,
    /// Each target's `runs` when its start was issued.
    runs_at_start: Vec<u32>,
    /// Targets a reload replaced while their start was awaited: started
    /// again, with their new settings, if the reload left them stopped.
    replaced: Vec<usize>,
    /// Lines prepared at request time (reload's added/removed/changed).
    reply: Reply,
}

/// How a job ended, for the loop to carry out.
pub enum Outcome {
    Waiting,
    /// Answer the client (if any).
    Answer(Option<u64>, Reply, i32),
    /// Install the config, then answer.
    Install(Option<u64>, Box<Config>, Option<UnixListener>, Reply),
    /// Answer `kill`'s client (if any) and end the daemon.
    Exit(Option<u64>),
}

impl Job {
    fn new(client: Option<u64>, stop_groups: Vec<Vec<usize>>, then: Then, targets: Vec<usize>) -> Job {
        Job {
            client,
            stop_groups,
            stop_at: 0,
            then,
            targets,
            start_issued: false,
            attempts_at_start: Vec::new(),
            runs_at_start: Vec::new(),
            replaced: Vec::new(),
            reply: Reply::default(),
        }
    }

    /// `start`, `stop` and `restart` of `indices`.
    pub fn begin(table: &Table, client: u64, indices: Vec<usize>, stop: bool, start: bool) -> Job {
        let stop_groups = if stop { table.stop_groups(&indices) } else { Vec::new() };
        let then = if start { Then::Start } else { Then::ReportStopped };
        Job::new(Some(client), stop_groups, then, indices)
    }

    /// `kill`, SIGTERM, SIGINT: stop everything by descending priority, then exit.
    pub fn shutdown(table: &Table, client: Option<u64>) -> Job {
        let mut all = Vec::with_capacity(table.len());
        for i in 0..table.len() {
            all.push(i);
        }
        Job::new(client, table.stop_groups(&all), Then::Exit, Vec::new())
    }

    /// `reload` and SIGHUP: validate the file, bind a new socket, stop what
    /// was removed or changed, then install the new config. A broken file
    /// or a socket that cannot be bound changes nothing (the reply says
    /// why). With `dry_run` (`reload --dry-run`), only the lines a reload
    /// would print.
    pub fn reload(
        table: &Table,
        config: &Config,
        log: &mut Logger,
        client: Option<u64>,
        dry_run: bool,
    ) -> Result<Job, (Reply, i32)> {
        let mut reply = Reply::default();
        let report = crate::config::load(&config.path);
        for warning in &report.warnings {
            if !dry_run {
                log.warn("{}", &[Str(warning)]);
            }
            reply.parts(TAG_ERR, "pman: warning: {}", &[Str(warning)]);
        }
        let new = match report.result {
            Ok(config) => config,
            Err(errors) => {
                for error in &errors {
                    if !dry_run {
                        log.error("reload: {}", &[Str(error)]);
                    }
                    reply.parts(TAG_ERR, "pman: {}", &[Str(error)]);
                }
                if !dry_run {
                    log.error("reload refused: the running config is kept", &[]);
                }
                return Err((reply, 2));
            }
        };
        let (mut lines, to_stop) = differences(table, &new);
        if new.socket != config.socket {
            lines.push(concat("socket: {} -> {}", &[Str(&config.socket), Str(&new.socket)]));
        }
        // The daemon's own files change too (`none`: unset).
        fn shown(path: &Option<FilePath>) -> &[u8] {
            path.as_ref().map_or(b"none", |p| p.as_bytes())
        }
        for (key, old, now) in
            [("pidfile: ", &config.pidfile, &new.pidfile), ("logfile: ", &config.logfile, &new.logfile)]
        {
            if old != now {
                lines.push(concat("{}{} -> {}", &[Str(key), Bytes(shown(old)), Bytes(shown(now))]));
            }
        }
        if dry_run {
            reload_lines(&lines, &mut reply);
            return Err((reply, 0));
        }
        let mut listener = None;
        if new.socket != config.socket {
            match crate::socket::listen(&new.socket) {
                Ok(bound) => listener = Some(bound),
                Err(e) => {
                    let reason = sys::describe(&e);
                    let args = [Str(&new.socket), Str(&reason)];
                    log.error("reload refused: cannot listen on {}: {}; the running config is kept", &args);
                    reply.parts(TAG_ERR, "pman: cannot listen on {}: {}", &args);
                    return Err((reply, 1));
                }
            }
        }
        log.info("reloading {}", &[Bytes(&config.path)]);
        reload_lines(&lines, &mut reply);
        for line in &lines {
            log.info("reload: {}", &[Str(line)]);
        }
        if lines.is_empty() {
            log.info("reload: no changes", &[]);
        }
        let mut job =
            Job::new(client, table.stop_groups(&to_stop), Then::Reload(Box::new(new), listener), Vec::new());
        job.reply = reply;
        Ok(job)
    }

    /// Moves the job on as far as the programs allow.
    /// `others`: the other jobs under way.
    pub fn advance(
        &mut self,
        table: &mut Table,
        log: &mut Logger,
        shutting_down: bool,
        others: &[Job],
    ) -> Outcome {
        while self.stop_at < self.stop_groups.len() {
            // Asked again on every turn until the group is stopped: one
            // may have been started meanwhile.
            let group = &self.stop_groups[self.stop_at];
            // A program STOPPING already is told too: its stop then ends
            // STOPPED, not in the restart or failed start it was for.
            for &i in group {
                if table.slot(i).prog.state != State::Stopped {
                    table.event(i, Event::Stop, log);
                }
            }
            if group.iter().any(|&i| table.slot(i).prog.is_busy()) {
                return Outcome::Waiting;
            }
            self.stop_at += 1;
        }
        if matches!(self.then, Then::Exit) {
            // Nothing may outlive the daemon, whatever started after the
            // stops were computed.
            let mut left = Vec::new();
            for i in 0..table.len() {
                let prog = &table.slot(i).prog;
                if prog.state != State::Stopped && (prog.is_active() || prog.group_left) {
                    left.push(i);
                }
            }
            if !left.is_empty() {
                self.stop_groups = table.stop_groups(&left);
                self.stop_at = 0;
                return self.advance(table, log, shutting_down, others);
            }
        }
        match std::mem::replace(&mut self.then, Then::ReportStopped) {
            Then::ReportStopped => {
                let mut reply = std::mem::take(&mut self.reply);
                let mut code = 0;
                let now = Instant::now();
                for &i in &self.targets {
                    reply.status_line(table, i, now);
                    let slot = table.slot(i);
                    // A FATAL config program has nothing to stop.
                    if slot.prog.state != State::Stopped && !slot.fatal_config() {
                        code = 1;
                    }
                }
                Outcome::Answer(self.client, reply, code)
            }
            Then::Start => {
                self.then = Then::Start;
                self.advance_start(table, log, shutting_down, others)
            }
            Then::Reload(config, listener) => {
                Outcome::Install(self.client, config, listener, std::mem::take(&mut self.reply))
            }
            Then::Exit => Outcome::Exit(self.client),
        }
    }

    /// The start half of `start`/`restart`: issue the starts (ascending
    /// priority) once nothing named is still stopping, then wait until each
    /// is RUNNING or its attempt failed.
    fn advance_start(
        &mut self,
        table: &mut Table,
        log: &mut Logger,
        shutting_down: bool,
        others: &[Job],
    ) -> Outcome {
        if shutting_down {
            // Nothing starts once a shutdown began, and a wait ends.
            return Outcome::Answer(self.client, Reply::error("pman: shutting down"), 1);
        }
        if !self.start_issued {
            let mut stopping = false;
            for &i in &self.targets {
                if table.slot(i).prog.state == State::Stopping {
                    // The start takes over from a health restart under way.
                    table.event(i, Event::Start, log);
                    stopping = true;
                }
            }
            if stopping {
                return Outcome::Waiting;
            }
            self.start_issued = true;
            self.attempts_at_start.clear();
            self.runs_at_start.clear();
            for &i in &self.targets {
                self.attempts_at_start.push(table.slot(i).prog.attempts_ended);
                self.runs_at_start.push(table.slot(i).prog.runs);
            }
            for i in table.start_order(self.targets.clone()) {
                table.start(i, log);
            }
        }
        for i in std::mem::take(&mut self.replaced) {
            if table.slot(i).prog.state == State::Stopped {
                table.start(i, log);
            }
        }
        // Looked at only while a reload is under way (rare): its stop lists
        // are scanned per target.
        let reloading = others.iter().any(Job::is_reload);
        // Done for a program once it is past STARTING, or once its attempt
        // ended even if a retry already began (backoff=0).
        for (&i, &at_start) in self.targets.iter().zip(&self.attempts_at_start) {
            let prog = &table.slot(i).prog;
            // A reload about to replace it (or, for a WAITING one, perhaps
            // what it waits on): the start is judged once it is in.
            let replacing = |j: &Job| j.is_reload() && j.will_stop(i);
            if reloading && (prog.state == State::Waiting || others.iter().any(replacing)) {
                return Outcome::Waiting;
            }
            let starting = matches!(prog.state, State::Starting | State::Stopping | State::ClearingGroup);
            // WAITING until the dependencies are met, or one of their attempts failed.
            if (starting && prog.attempts_ended == at_start)
                || (prog.state == State::Waiting && !table.dependency_failed(i))
            {
                return Outcome::Waiting;
            }
        }
        let mut reply = Reply::default();
        let now = Instant::now();
        let mut code = 0;
        for (&i, &runs_at_start) in self.targets.iter().zip(&self.runs_at_start) {
            reply.status_line(table, i, now);
            let slot = table.slot(i);
            // RUNNING reached during the wait counts, even if it exited since.
            if slot.prog.state != State::Running && slot.prog.runs == runs_at_start {
                code = 1;
            }
        }
        Outcome::Answer(self.client, reply, code)
    }

    /// True for a reload that has not installed its config yet.
    pub fn is_reload(&self) -> bool {
        matches!(self.then, Then::Reload(..))
    }

    /// True when this job has yet to stop (or is stopping) program `index`.
    pub fn will_stop(&self, index: usize) -> bool {
        self.stop_groups.iter().skip(self.stop_at).any(|group| group.contains(&index))
    }

    /// Follows a reload's renumbering (`moved[old]`: the new index of the
    /// same name); programs the reload removed drop out of the job.
    /// `fresh`: the new indices of programs added or replaced by the reload.
    /// `gone`: the old slots the reload did not keep, by old index.
    pub fn remap(&mut self, moved: &[Option<usize>], fresh: &[usize], gone: &[Option<Slot>]) {
        let new = |i: usize| moved.get(i).copied().flatten();
        for group in &mut self.stop_groups {
            let mut kept = 0;
            for n in 0..group.len() {
                if let Some(j) = new(group[n]) {
                    group[kept] = j;
                    kept += 1;
                }
            }
            group.truncate(kept);
        }
        let mut kept = 0;
        for n in 0..self.replaced.len() {
            if let Some(j) = new(self.replaced[n]) {
                self.replaced[kept] = j;
                kept += 1;
            }
        }
        self.replaced.truncate(kept);
        let mut attempts = Vec::new();
        let mut runs = Vec::new();
        let mut targets = Vec::new();
        for (n, &i) in self.targets.iter().enumerate() {
            // A `stop` still reports a program the reload removed (first).
            let slot = gone.get(i).and_then(Option::as_ref);
            if let (None, Some(slot), Then::ReportStopped) = (new(i), slot, &self.then) {
                self.reply.parts(TAG_OUT, "[{}] STOPPED", &[Str(&slot.cfg.name)]);
            }
            if let Some(j) = new(i) {
                targets.push(j);
                // A replaced program starts its history afresh.
                let replaced = fresh.contains(&j);
                if replaced && self.start_issued && !self.replaced.contains(&j) {
                    self.replaced.push(j);
                }
                if let Some(&at) = self.attempts_at_start.get(n) {
                    attempts.push(if replaced { 0 } else { at });
                }
                if let Some(&at) = self.runs_at_start.get(n) {
                    runs.push(if replaced { 0 } else { at });
                }
            }
        }
        self.targets = targets;
        if self.start_issued {
            self.attempts_at_start = attempts;
            self.runs_at_start = runs;
        }
    }
}

/// The reply to a `start`/`stop`/`restart` naming unknown programs.
pub fn unknown(unknown_names: &[String]) -> Reply {
    let mut reply = Reply::default();
    unknown_reply(unknown_names, &mut reply);
    reply
}

/// `[NAME] added`/`changed` in the new config's order, then `[NAME]
/// removed`; and the programs to stop (changed and removed ones).
fn differences(table: &Table, new: &Config) -> (Vec<String>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut to_stop = Vec::new();
    for prog in &new.programs {
        match table.index_of(&prog.name) {
            None => lines.push(difference(&prog.name, "] added")),
            Some(i) if table.slot(i).cfg != *prog => {
                lines.push(difference(&prog.name, "] changed"));
                to_stop.push(i);
            }
            Some(_) => {}
        }
    }
    for (i, slot) in table.slots().iter().enumerate() {
        if !new.programs.iter().any(|p| p.name == slot.cfg.name) {
            lines.push(difference(&slot.cfg.name, "] removed"));
            to_stop.push(i);
        }
    }
    (lines, to_stop)
}

/// `[NAME] added` and the like.
#[inline(never)]
fn difference(name: &str, what: &str) -> String {
    concat("[{}{}", &[Str(name), Str(what)])
}

fn reload_lines(lines: &[String], reply: &mut Reply) {
    for line in lines {
        reply.out(line);
    }
    if lines.is_empty() {
        reply.out("no changes");
    }
}

/// `kill`'s answer: the daemon is gone once the connection closes.
pub fn stopped_reply() -> Reply {
    let mut reply = Reply::default();
    reply.parts(TAG_OUT, "pman: stopped (pid {})", &[Int(sys::getpid().into())]);
    reply
}
