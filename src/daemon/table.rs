//! The program table: every configured program's slot (config, lifecycle,
//! what its spawns found), found by index, name or pid.
//! Events reach programs here and their actions are carried out here. The
//! work per wake-up follows the events, never the number of programs:
//! deadlines sit in one sorted list, pids in a sorted index, spawns in a queue,
//! and only programs waiting on a process group are checked for it.

use super::capture::Output;
use super::health::{self, Health};
use super::log::Logger;
use super::program::{Action, Event, Program, State};
use super::spawn::{Context, Resolved, SpawnError};
use crate::config::{AutoRestart, LogTarget, ProgramConfig, Ready};
use crate::sort;
use crate::sys::Instant;
use crate::sys::{self, Exit, Pid};
use crate::text::Part::{Bytes, Int, Str, Uint};

/// One configured program and its runtime state.
pub struct Slot {
    pub cfg: ProgramConfig,
    pub prog: Program,
    /// The executable and user found at the first start, kept.
    found: Resolved,
    /// `ready = fd:N`: the read end of the last process's ready pipe.
    ready_pipe: Option<std::os::fd::OwnedFd>,
    /// With `healthcheck`: its checks.
    health: Option<Box<Health>>,
}

impl Drop for Slot {
    /// A program removed by a reload takes its running check with it.
    fn drop(&mut self) {
        if let Some(health) = &mut self.health {
            health.kill();
        }
    }
}

/// What tells a file changed: inode, size, modification time.
type FileMark = (u64, u64, i64, i64);

fn file_mark(path: &[u8]) -> Option<FileMark> {
    let m = sys::stat_path(path).ok()?;
    Some((m.ino, m.size, m.mtime.0, m.mtime.1))
}

/// A program whose `ready = tcp:`/`file:` is tried while it is STARTING.
struct Probe {
    index: usize,
    /// `file:`: the path as it was before the fork (None: absent).
    mark: Option<FileMark>,
    /// `tcp:`: a connect in progress.
    connect: Option<std::os::fd::OwnedFd>,
}

impl Probe {
    fn new(index: usize, ready: &Ready) -> Probe {
        let mark = match ready {
            Ready::File(path) => file_mark(path),
            Ready::Startsecs | Ready::Fd(_) | Ready::Tcp(_) | Ready::Healthcheck => None,
        };
        Probe { index, mark, connect: None }
    }

    /// One look at the `ready` condition.
    fn passes(&mut self, ready: &Ready) -> bool {
        match ready {
            Ready::Tcp(addr) => sys::tcp_connected(addr, &mut self.connect),
            Ready::File(path) => file_mark(path).is_some_and(|m| Some(m) != self.mark),
            Ready::Startsecs | Ready::Fd(_) | Ready::Healthcheck => false,
        }
    }
}

/// How often (in ms) `ready = tcp:`/`file:` is tried while STARTING.
const PROBE_INTERVAL_MS: u32 = 200;

impl Slot {
    pub fn new(cfg: ProgramConfig) -> Slot {
        let health = (!cfg.limits.healthcheck.is_empty()).then(Box::default);
        Slot { cfg, prog: Program::new(), found: Resolved::default(), ready_pipe: None, health }
    }

    /// FATAL config: its section had errors at boot. No command changes
    /// it; a reload that fixes the section replaces it.
    pub fn fatal_config(&self) -> bool {
        self.cfg.is_unrun()
    }

    /// Its main process is gone but its group may live, and a stop, a
    /// start or the next start waits on the group emptying.
    fn waits_on_group(&self) -> bool {
        let prog = &self.prog;
        let waits = prog.group_left || matches!(prog.state, State::Stopping | State::ClearingGroup);
        waits && prog.pid.is_none() && prog.pgid.is_some()
    }

    /// It sets `memory_max` and is RUNNING. Not inlined: 32 B less on mipsel.
    #[inline(never)]
    fn memory_watched(&self) -> bool {
        self.cfg.limits.memory_max > 0 && self.prog.state == State::Running
    }

    /// Its health is checked now: RUNNING, or STARTING with a process
    /// under `ready = healthcheck`.
    fn checked(&self) -> bool {
        let prog = &self.prog;
        let readying = self.cfg.ready == Ready::Healthcheck && prog.pid.is_some();
        self.health.is_some() && (prog.state == State::Running || (prog.state == State::Starting && readying))
    }

    /// `health` in `--json`: None without a healthcheck or when not RUNNING.
    pub fn health(&self) -> Option<&'static str> {
        if self.health.is_none() || self.prog.state != State::Running {
            return None;
        }
        Some(match self.prog.health {
            None => "pending",
            Some(true) => "ok",
            Some(false) => "failing",
        })
    }

    /// Its `ready` is probed (tcp:, file:) and it is STARTING.
    fn probed(&self) -> bool {
        matches!(self.cfg.ready, Ready::Tcp(_) | Ready::File(_)) && self.prog.state == State::Starting
    }
}

/// Where a reload moved the programs, by old index.
pub struct Renumbered {
    /// The new index of the same name (a changed program is a new slot).
    pub moved: Vec<Option<usize>>,
    /// The new index of an unchanged program, which kept its slot.
    pub kept: Vec<Option<usize>>,
    /// The new slots: added and changed programs.
    pub fresh: Vec<usize>,
    /// The old slots not kept, by old index (their log files' paths until
    /// [`super::capture::Output::retire`]).
    pub gone: Vec<Option<Slot>>,
}

/// Timers as (time, slot index), latest first: the soonest is at the end,
/// where `pop` takes it. An insert scans from the end to its place: no
/// further than the memmove of the sooner ones behind it reaches anyway.
#[derive(Default)]
struct Timers(Vec<(Instant, usize)>);

impl Timers {
    fn push(&mut self, t: Instant, index: usize) {
        let at = self.0.iter().rposition(|&e| e > (t, index)).map_or(0, |i| i + 1);
        self.0.insert(at, (t, index));
    }

    fn peek(&self) -> Option<(Instant, usize)> {
        self.0.last().copied()
    }

    fn pop(&mut self) -> Option<(Instant, usize)> {
        self.0.pop()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

pub struct Table {
    slots: Vec<Slot>,
    /// Main process → slot index, sorted by pid.
    by_pid: Vec<(Pid, usize)>,
    /// Every armed deadline, soonest first. An entry whose time is no
    /// longer its program's deadline is stale and skipped when it surfaces.
    deadlines: Timers,
    /// Programs STARTING without a process yet, in the order they asked.
    spawns: Vec<usize>,
    /// How many of `spawns` were taken already (the queue is emptied when all were).
    spawns_taken: usize,
    /// Programs that [`Slot::waits_on_group`] (some may have stopped waiting).
    group_watch: Vec<usize>,
    /// Programs that were [`Slot::probed`] (some may have stopped), and
    /// when they are tried next (None: no program is probed).
    probing: Vec<Probe>,
    next_probe: Option<Instant>,
    /// When `memory_max` is checked next; None while no program that sets
    /// it is RUNNING.
    next_memory: Option<Instant>,
    /// Programs with a ready pipe open (`ready = fd:N`).
    ready_pipes: Vec<usize>,
    /// Programs that went WAITING (some may have left it).
    waiting: Vec<usize>,
    /// When health checks start or time out, soonest first (stale entries
    /// as in `deadlines`, against `Health::due`).
    checks_due: Timers,
    /// Programs with a check running.
    checking: Vec<usize>,
    /// Programs whose main process [`Table::reap`] reaped, and its pid,
    /// until the loop has ended their runs' output ([`Table::take_ended`]).
    ended: Vec<(usize, Pid)>,
    /// The daemon is shutting down: nothing starts again, as in Supervisor.
    pub shutting_down: bool,
}

impl Table {
    pub fn new(slots: Vec<Slot>) -> Table {
        let mut table = Table {
            slots,
            by_pid: Vec::new(),
            deadlines: Timers::default(),
            spawns: Vec::new(),
            spawns_taken: 0,
            group_watch: Vec::new(),
            probing: Vec::new(),
            next_probe: None,
            next_memory: None,
            ready_pipes: Vec::new(),
            waiting: Vec::new(),
            checks_due: Timers::default(),
            checking: Vec::new(),
            ended: Vec::new(),
            shutting_down: false,
        };
        table.reindex();
        table
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn slot(&self, index: usize) -> &Slot {
        &self.slots[index]
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.cfg.name == name)
    }

    /// Indices sorted dependencies first, then by ascending priority, ties
    /// in config order.
    pub fn start_order(&self, mut indices: Vec<usize>) -> Vec<usize> {
        let keyed = self.keyed(&indices, true);
        indices.clear();
        for (_, _, i) in keyed {
            indices.push(i);
        }
        indices
    }

    /// `(layer, priority, index)` for each of `indices`, sorted; with
    /// `below` (starts) priority ascending, else `!priority`: highest first.
    fn keyed(&self, indices: &[usize], below: bool) -> Vec<(usize, i32, usize)> {
        let depth = self.layers(indices, below);
        let flip = if below { 0 } else { !0 };
        let key = |n: usize| (depth[n], self.slots[indices[n]].cfg.priority ^ flip, indices[n]);
        // Unique keys (the index is last): an unstable sort is exact.
        let mut keyed = Vec::with_capacity(indices.len());
        for n in sort::sorted(indices.len(), &|a, b| key(a) < key(b)) {
            keyed.push(key(n));
        }
        keyed
    }

    /// Indices in stop groups: by dependency layers (dependents first),
    /// within a layer by priority, highest first, one priority at a time.
    pub fn stop_groups(&self, indices: &[usize]) -> Vec<Vec<usize>> {
        let sorted = self.keyed(indices, false);
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut last = None;
        for (d, priority, i) in sorted {
            if last != Some((d, priority)) {
                groups.push(Vec::new());
                last = Some((d, priority));
            }
            if let Some(group) = groups.last_mut() {
                group.push(i);
            }
        }
        groups
    }

    /// For each of `indices`, its layer among them: with `below`, the
    /// longest chain of its dependencies among them; else of its dependents.
    fn layers(&self, indices: &[usize], below: bool) -> Vec<usize> {
        let mut depth = vec![0usize; indices.len()];
        if indices.iter().all(|&i| self.slots[i].cfg.limits.depends_on.is_empty()) {
            return depth;
        }
        // Relaxed until stable: the config has no cycles, so at most n rounds.
        for _ in 0..indices.len() {
            let mut changed = false;
            for (a, &i) in indices.iter().enumerate() {
                for (b, &j) in indices.iter().enumerate() {
                    // below: a depends on b lifts a; else: b depends on a lifts a.
                    let lifts = if below { self.depends(i, j) } else { self.depends(j, i) };
                    if lifts && depth[a] <= depth[b] {
                        depth[a] = depth[b] + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }

    /// Program `i` names program `j` in its depends_on.
    fn depends(&self, i: usize, j: usize) -> bool {
        let (a, b) = (&self.slots[i].cfg, &self.slots[j].cfg);
        i != j && a.limits.depends_on.iter().any(|n| n == b.group() || *n == b.name)
    }

    /// Program `j` is one of those `name` (in a depends_on) stands for.
    fn named(&self, j: usize, name: &str) -> bool {
        self.slots[j].cfg.group() == name || self.slots[j].cfg.name == name
    }

    /// A dependency is met: RUNNING, or EXITED with an expected exit code.
    /// A one-shot job (`startsecs=0`, `autorestart=false`) is RUNNING from
    /// its fork, so only its expected exit meets it.
    fn met(&self, name: &str) -> bool {
        for j in 0..self.slots.len() {
            if !self.named(j, name) {
                continue;
            }
            let slot = &self.slots[j];
            let cfg = &slot.cfg;
            let expected =
                matches!(slot.prog.last_exit, Some(Exit::Code(c)) if cfg.limits.exitcodes.contains(c));
            let one_shot =
                cfg.startsecs == 0 && cfg.autorestart == AutoRestart::Never && cfg.ready == Ready::Startsecs;
            let up = (slot.prog.state == State::Running && !one_shot)
                || (slot.prog.state == State::Exited && expected);
            if slot.fatal_config() || !up {
                return false;
            }
        }
        true
    }

    /// The unmet dependencies of a WAITING program, by the names its
    /// depends_on gives (empty unless WAITING).
    pub fn waiting_for(&self, index: usize) -> Vec<&str> {
        let slot = &self.slots[index];
        if slot.prog.state != State::Waiting {
            return Vec::new();
        }
        let mut unmet = Vec::new();
        for name in &slot.cfg.limits.depends_on {
            if !self.met(name) {
                unmet.push(name.as_str());
            }
        }
        unmet
    }

    /// An attempt of a dependency a WAITING program waits on has failed.
    pub fn dependency_failed(&self, index: usize) -> bool {
        for name in self.waiting_for(index) {
            for j in 0..self.slots.len() {
                let slot = &self.slots[j];
                if !self.named(j, name) {
                    continue;
                }
                // FATAL, failed attempts, at rest where nothing will start
                // it, or WAITING on such a one (no cycles: no endless descent).
                let at_rest = matches!(slot.prog.state, State::Fatal | State::Stopped | State::Exited);
                let waits_in_vain = slot.prog.state == State::Waiting && self.dependency_failed(j);
                if slot.fatal_config() || at_rest || slot.prog.failures > 0 || waits_in_vain {
                    return true;
                }
            }
        }
        false
    }

    /// A start of `index` (autostart, `start`, `restart`, reload): first
    /// its dependencies (see [`Table::start_dependencies`]).
    pub fn start(&mut self, index: usize, log: &mut Logger) {
        self.start_dependencies(index, log);
        self.event(index, Event::Start, log);
    }

    /// Starts each dependency of `index` that is not active (STOPPED,
    /// EXITED, FATAL), transitively, looking behind a WAITING one too.
    fn start_dependencies(&mut self, index: usize, log: &mut Logger) {
        let names = self.slots[index].cfg.limits.depends_on.clone();
        for name in names.iter() {
            for j in 0..self.slots.len() {
                let slot = &self.slots[j];
                if !self.named(j, name) || j == index || slot.fatal_config() {
                    continue;
                }
                if !slot.prog.is_active() {
                    self.start(j, log);
                } else if slot.prog.state == State::Waiting {
                    self.start_dependencies(j, log);
                }
            }
        }
    }

    /// Rebuilds the pid index, the deadlines, the spawn queue and the
    /// group watch from the slots (after they were renumbered).
    fn reindex(&mut self) {
        self.by_pid.clear();
        self.deadlines.clear();
        self.spawns.clear();
        self.spawns_taken = 0;
        self.group_watch.clear();
        self.probing.clear();
        self.ready_pipes.clear();
        self.waiting.clear();
        self.checks_due.clear();
        self.checking.clear();
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(health) = &slot.health {
                if let Some(t) = health.due {
                    self.checks_due.push(t, index);
                }
                if health.pid.is_some() {
                    self.checking.push(index);
                }
            }
            if slot.prog.state == State::Waiting {
                self.waiting.push(index);
            }
            if slot.ready_pipe.is_some() {
                self.ready_pipes.push(index);
            }
            // A reload renumbers: a file probe starts again from the file as it is now.
            if slot.probed() {
                self.probing.push(Probe::new(index, &slot.cfg.ready));
            }
            if let Some(pid) = slot.prog.pid {
                self.by_pid.push((pid, index));
            }
            if let Some(t) = slot.prog.deadline {
                self.deadlines.push(t, index);
            }
            if slot.prog.state == State::Starting && slot.prog.pid.is_none() {
                self.spawns.push(index);
            }
            if slot.waits_on_group() {
                self.group_watch.push(index);
            }
        }
        self.next_probe = (!self.probing.is_empty()).then(|| Instant::now().after_ms(PROBE_INTERVAL_MS));
        self.next_memory = None;
        self.arm_memory(Instant::now());
        // Only at start and on reloads: an insertion sort keeps the code small.
        for at in 1..self.by_pid.len() {
            let mut n = at;
            while n > 0 && self.by_pid[n - 1] > self.by_pid[n] {
                self.by_pid.swap(n - 1, n);
                n -= 1;
            }
        }
    }

    /// Replaces the programs with `programs`: one equal to an old one keeps
    /// its slot (process, history). Says where each old index went.
    pub fn install(&mut self, programs: Vec<ProgramConfig>) -> Renumbered {
        let mut old: Vec<Option<Slot>> = std::mem::take(&mut self.slots).into_iter().map(Some).collect();
        let mut moved: Vec<Option<usize>> = vec![None; old.len()];
        let mut kept: Vec<Option<usize>> = vec![None; old.len()];
        let mut fresh = Vec::new();
        for cfg in programs {
            let index = self.slots.len();
            let same = old.iter().position(|s| s.as_ref().is_some_and(|s| s.cfg == cfg));
            if let Some(at) = old.iter().position(|s| s.as_ref().is_some_and(|s| s.cfg.name == cfg.name)) {
                moved[at] = Some(index);
            }
            if let Some(at) = same {
                kept[at] = Some(index);
            }
            match same.and_then(|at| old[at].take()) {
                Some(slot) => self.slots.push(slot),
                None => {
                    fresh.push(index);
                    self.slots.push(Slot::new(cfg));
                }
            }
        }
        self.reindex();
        Renumbered { moved, kept, fresh, gone: old }
    }

    /// Indices of the programs `names` select (in the order named, each
    /// once), or the unknown names. A repeated name is looked at once, so
    /// the cost follows the request, never words × programs.
    pub fn resolve(&self, names: &[String]) -> (Vec<usize>, Vec<String>) {
        let mut found: Vec<usize> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut seen = vec![false; self.slots.len()];
        let mut asked: Vec<&str> = Vec::new();
        for name in names {
            match asked.binary_search(&name.as_str()) {
                Ok(_) => continue,
                Err(at) => asked.insert(at, name),
            }
            // A name outside the NAME charset is nobody's, whatever it holds.
            if !crate::protocol::valid_name(name) {
                unknown.push(name.clone());
                continue;
            }
            let mut any = false;
            let all = name == "all";
            let exact = if all { None } else { self.index_of(name) };
            let group = name.strip_suffix(":*").unwrap_or(name);
            for (i, slot) in self.slots.iter().enumerate() {
                let hit = match exact {
                    Some(at) => i == at,
                    None => all || slot.cfg.group() == group,
                };
                if hit {
                    if !std::mem::replace(&mut seen[i], true) {
                        found.push(i);
                    }
                    any = true;
                }
            }
            // `all` is a word, not a name: with no programs it selects none.
            if !any && !all {
                unknown.push(name.clone());
            }
        }
        (found, unknown)
    }

    /// Feeds one event to a program's state machine, carries out its
    /// action (a spawn is queued) and keeps the indexes up to date.
    pub fn event(&mut self, index: usize, event: Event, log: &mut Logger) {
        if self.slots[index].fatal_config() {
            return;
        }
        let now = Instant::now();
        let slot = &mut self.slots[index];
        let before = (slot.prog.state, slot.prog.failures);
        let (pid_before, deadline_before) = (slot.prog.pid, slot.prog.deadline);
        let restarts_before = slot.prog.restarts;
        let exited = match &event {
            Event::Exited { exit, .. } => Some(*exit),
            _ => None,
        };
        let action = slot.prog.step(&slot.cfg, event, now);
        if let Some(exit) = exited {
            log_exit(log, slot, exit);
        }
        log_transition(log, slot, before, now);
        let (pid, deadline) = (slot.prog.pid, slot.prog.deadline);
        self.schedule_check(index, before.0, pid_before, now);
        let slot = &self.slots[index];
        if slot.memory_watched() {
            self.next_memory.get_or_insert(now.after_secs(MEMORY_INTERVAL_SECS));
        }
        if pid != pid_before {
            if let Some(old) = pid_before {
                if let Ok(at) = self.by_pid.binary_search(&(old, index)) {
                    self.by_pid.remove(at);
                }
            }
            if let Some(new) = pid {
                let at = self.by_pid.binary_search(&(new, index)).unwrap_or_else(|at| at);
                self.by_pid.insert(at, (new, index));
            }
        }
        if let Some(t) = deadline.filter(|_| deadline != deadline_before) {
            self.deadlines.push(t, index);
        }
        // During a shutdown an automatic restart is cancelled: the program
        // is STOPPED, which its group's stop then finds.
        if action == Action::Spawn && self.shutting_down {
            let slot = &mut self.slots[index];
            slot.prog.restarts = restarts_before;
            let before = (slot.prog.state, slot.prog.failures);
            slot.prog.step(&slot.cfg, Event::Stop, now);
            log_transition(log, slot, before, now);
            return;
        }
        // A spawn with unmet dependencies waits for them instead.
        let waits = action == Action::Spawn && !self.slots[index].cfg.limits.depends_on.is_empty() && {
            let names = &self.slots[index].cfg.limits.depends_on;
            !names.iter().all(|n| self.met(n))
        };
        if waits {
            let slot = &mut self.slots[index];
            let before = (slot.prog.state, slot.prog.failures);
            slot.prog.step(&slot.cfg, Event::Wait, now);
            log_transition(log, slot, before, now);
            if !self.waiting.contains(&index) {
                self.waiting.push(index);
            }
            return;
        }
        let state_changed = self.slots[index].prog.state != before.0;
        match action {
            Action::None => {}
            Action::Spawn => {
                // A file probe looks at the path as it was before the fork.
                if self.slots[index].probed() {
                    self.probing.retain(|p| p.index != index);
                    self.probing.push(Probe::new(index, &self.slots[index].cfg.ready));
                    self.next_probe.get_or_insert(now.after_ms(PROBE_INTERVAL_MS));
                }
                self.spawns.push(index);
            }
            Action::Signal(signal) => self.signal(index, signal, log),
        }
        if self.slots[index].waits_on_group() && !self.group_watch.contains(&index) {
            self.group_watch.push(index);
        }
        if let Action::Signal(_) = action {
            // A group that was already empty ends the wait at once.
            self.check_group(index, log);
        }
        if state_changed && !self.waiting.is_empty() {
            self.wake_waiting(log);
        }
    }

    /// Starts the WAITING programs whose dependencies are all met now.
    fn wake_waiting(&mut self, log: &mut Logger) {
        self.waiting.retain(|&i| self.slots.get(i).is_some_and(|s| s.prog.state == State::Waiting));
        let mut ready = Vec::new();
        for &i in &self.waiting {
            if self.slots[i].cfg.limits.depends_on.iter().all(|n| self.met(n)) {
                ready.push(i);
            }
        }
        for i in ready {
            if self.slots[i].prog.state == State::Waiting {
                self.event(i, Event::Start, log);
            }
        }
    }

    /// The soonest armed deadline, dropping stale entries on the way.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some((t, index)) = self.deadlines.peek() {
            if self.slots.get(index).is_some_and(|s| s.prog.deadline == Some(t)) {
                return Some(t);
            }
            self.deadlines.pop();
        }
        None
    }

    /// `Deadline` events for every program whose deadline has passed.
    pub fn fire_deadlines(&mut self, now: Instant, log: &mut Logger) {
        while self.next_deadline().is_some_and(|t| t <= now) {
            let Some((_, index)) = self.deadlines.pop() else { break };
            self.event(index, Event::Deadline, log);
        }
    }

    /// Arms the `memory_max` check when a program needs it.
    fn arm_memory(&mut self, now: Instant) {
        if self.slots.iter().any(Slot::memory_watched) {
            self.next_memory.get_or_insert(now.after_secs(MEMORY_INTERVAL_SECS));
        }
    }

    /// When `memory_max` is checked next.
    pub fn next_memory(&self) -> Option<Instant> {
        self.next_memory
    }

    /// Checks `memory_max` when due: `Unhealthy` to those over it.
    pub fn check_memory(&mut self, now: Instant, log: &mut Logger) {
        if !self.next_memory.is_some_and(|t| t <= now) {
            return;
        }
        self.next_memory = None;
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            let Some(pid) = slot.prog.pid.filter(|_| slot.memory_watched()) else { continue };
            let (rss, max) = (super::usage::rss_kb(pid).unwrap_or(0) * 1024, slot.cfg.limits.memory_max);
            if rss > max {
                let mut reason = crate::text::Text::new();
                reason.str("memory_max: RSS ");
                size(&mut reason, rss);
                reason.str(" > ");
                size(&mut reason, max);
                let reason = crate::sys::string_of(reason.into_bytes()).unwrap_or_default();
                self.event(index, Event::Unhealthy { reason }, log);
            }
        }
        self.arm_memory(now);
    }

    /// Arms or cancels a program's health checks after an event: the first
    /// check comes `healthcheck_interval` after RUNNING is reached (1 s
    /// after the fork with `ready = healthcheck`); a check still running
    /// when the program leaves that state is killed and only reaped.
    fn schedule_check(&mut self, index: usize, before: State, pid_before: Option<Pid>, now: Instant) {
        let slot = &mut self.slots[index];
        let checked = slot.checked();
        let (state, pid) = (slot.prog.state, slot.prog.pid);
        let interval = slot.cfg.limits.healthcheck_interval;
        let Some(h) = slot.health.as_deref_mut() else { return };
        if !checked {
            h.due = None;
            if !h.discard && h.pid.is_some() {
                h.kill();
                h.discard = true;
            }
            return;
        }
        // Newly RUNNING, or a STARTING that just got its process.
        if (state != before || pid != pid_before) && h.pid.is_none() {
            let t =
                now.after_secs(if state == State::Running { interval } else { health::READY_INTERVAL_SECS });
            h.due = Some(t);
            self.checks_due.push(t, index);
        }
    }

    /// When a health check starts or times out next, dropping stale entries.
    pub fn next_check(&mut self) -> Option<Instant> {
        while let Some((t, index)) = self.checks_due.peek() {
            let due = self.slots.get(index).and_then(|s| s.health.as_ref()).and_then(|h| h.due);
            if due == Some(t) {
                return Some(t);
            }
            self.checks_due.pop();
        }
        None
    }

    /// Starts the health checks that are due, and kills those past their timeout.
    pub fn run_checks(&mut self, now: Instant, ctx: &mut Context, log: &mut Logger) {
        while self.next_check().is_some_and(|t| t <= now) {
            let Some((_, index)) = self.checks_due.pop() else { break };
            let slot = &mut self.slots[index];
            let Some(h) = slot.health.as_deref_mut() else { continue };
            h.due = None;
            if h.pid.is_some() {
                h.kill();
                h.timed_out = true;
                continue;
            }
            let spawned = sys::pipe(true).map_err(|e| SpawnError::Failed(e.after("pipe")));
            let spawned = spawned.and_then(|(read_end, write_end)| {
                sys::set_blocking(std::os::fd::AsRawFd::as_raw_fd(&write_end));
                let out = std::os::fd::AsRawFd::as_raw_fd(&write_end);
                ctx.spawn_check(&slot.cfg, &slot.found, out).map(|(pid, failed)| (pid, failed, read_end))
            });
            match spawned {
                Ok((pid, exec_failed, read_end)) => {
                    h.began(pid, read_end, exec_failed, now);
                    let t = now.after_secs(slot.cfg.limits.healthcheck_timeout);
                    h.due = Some(t);
                    self.checks_due.push(t, index);
                    self.checking.push(index);
                }
                // Not the program's failure: tried again at the next interval.
                Err(SpawnError::Failed(reason) | SpawnError::Refused(reason)) => {
                    let running = slot.prog.state == State::Running;
                    let t = now.after_secs(if running {
                        slot.cfg.limits.healthcheck_interval
                    } else {
                        health::READY_INTERVAL_SECS
                    });
                    h.due = Some(t);
                    self.checks_due.push(t, index);
                    let name = &slot.cfg.name;
                    log.warn("{}: healthcheck not run: {} (not a failure)", &[Str(name), Str(&reason)]);
                }
            }
        }
    }

    /// The running checks' output pipes, to poll: (read end, slot index).
    pub fn check_pipes(&self, add: &mut dyn FnMut(std::os::fd::RawFd, usize)) {
        for &i in &self.checking {
            if let Some(fd) = self.slots[i].health.as_ref().and_then(|h| h.pipe.as_ref()) {
                add(std::os::fd::AsRawFd::as_raw_fd(fd), i);
            }
        }
    }

    /// Reads what a running check wrote.
    pub fn read_check(&mut self, index: usize) {
        if let Some(h) = self.slots[index].health.as_deref_mut() {
            h.read();
        }
    }

    /// A reaped pid that was a health check: its result goes to the program.
    fn check_ended(&mut self, pid: Pid, exit: Exit, log: &mut Logger) -> bool {
        let found = self
            .checking
            .iter()
            .position(|&i| self.slots[i].health.as_ref().is_some_and(|h| h.pid == Some(pid)));
        let Some(at) = found else { return false };
        let index = self.checking.swap_remove(at);
        let now = Instant::now();
        let slot = &mut self.slots[index];
        let checked = slot.checked();
        let limits = &slot.cfg.limits;
        let Some(h) = slot.health.as_deref_mut() else { return true };
        let result = h.ended(exit, limits.healthcheck_timeout);
        // The next check: on the interval from the last start (at once
        // when it ran longer), or in a second while STARTING.
        let next = if slot.prog.state == State::Running {
            h.started.map_or(now, |t| t.after_secs(limits.healthcheck_interval)).max(now)
        } else {
            now.after_secs(health::READY_INTERVAL_SECS)
        };
        if std::mem::take(&mut h.discard) || !checked {
            if checked {
                h.due = Some(next);
                self.checks_due.push(next, index);
            }
            return true;
        }
        h.due = Some(next);
        self.checks_due.push(next, index);
        if let Some(reason) = &result {
            let failures = slot.prog.check_failures + 1;
            if slot.prog.state == State::Running {
                let (n, of) = (Uint(failures.into()), Uint(limits.healthcheck_retries.into()));
                log.warn("{}: {} ({} of {})", &[Str(&slot.cfg.name), Str(reason), n, of]);
            }
        }
        self.event(index, Event::Checked(result), log);
        true
    }

    /// When the `ready` probes are tried next; None while none is probed.
    pub fn next_probe(&self) -> Option<Instant> {
        self.next_probe
    }

    /// Tries the `ready` probes when they are due: `Ready` to those that pass.
    pub fn probe(&mut self, now: Instant, log: &mut Logger) {
        if !self.next_probe.is_some_and(|t| t <= now) {
            return;
        }
        let mut at = 0;
        while let Some(probe) = self.probing.get_mut(at) {
            let slot = &self.slots[probe.index];
            let index = probe.index;
            if !slot.probed() {
                self.probing.swap_remove(at);
            } else if slot.prog.pid.is_some() && probe.passes(&slot.cfg.ready) {
                self.probing.swap_remove(at);
                self.event(index, Event::Ready, log);
            } else {
                at += 1;
            }
        }
        self.next_probe = (!self.probing.is_empty()).then(|| now.after_ms(PROBE_INTERVAL_MS));
    }

    /// The open ready pipes, to poll: (read end, slot index).
    pub fn ready_pipes(&self, add: &mut dyn FnMut(std::os::fd::RawFd, usize)) {
        for &i in &self.ready_pipes {
            if let Some(fd) = &self.slots[i].ready_pipe {
                add(std::os::fd::AsRawFd::as_raw_fd(fd), i);
            }
        }
    }

    /// Reads what a program wrote to its ready pipe: a newline is `Ready`
    /// (which counts only while STARTING); the rest is discarded. The pipe
    /// is closed at its end.
    pub fn read_ready(&mut self, index: usize, log: &mut Logger) {
        let mut buf = [0u8; 256];
        let mut newline = false;
        let mut closed = false;
        if let Some(fd) = &self.slots[index].ready_pipe {
            loop {
                match sys::read(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => newline |= buf[..n].contains(&b'\n'),
                    Err(e) if sys::interrupted(&e) => {}
                    Err(e) => {
                        closed = !sys::would_block(&e);
                        break;
                    }
                }
            }
        }
        if closed {
            self.slots[index].ready_pipe = None;
            self.ready_pipes.retain(|&i| i != index);
        }
        if newline {
            self.event(index, Event::Ready, log);
        }
    }

    /// True when spawns wait: the loop turns again at once.
    pub fn spawns_pending(&self) -> bool {
        self.spawns_taken < self.spawns.len()
    }

    /// Makes queued spawns, oldest first: at least one, at most `max`, and
    /// no more once `budget_ms` milliseconds have passed.
    pub fn spawn_some(
        &mut self,
        max: usize,
        budget_ms: u64,
        ctx: &mut Context,
        output: &mut Output,
        log: &mut Logger,
    ) {
        let started = Instant::now();
        for _ in 0..max {
            // An emptied queue is cleared even past the budget: a crash
            // loop of slow spawns would otherwise only ever append to it.
            let Some(&index) = self.spawns.get(self.spawns_taken) else {
                self.spawns.clear();
                self.spawns_taken = 0;
                return;
            };
            if Instant::now().ms_since(started) > budget_ms {
                return;
            }
            self.spawns_taken += 1;
            let prog = &self.slots[index].prog;
            // A stop (or another event) since the spawn was asked for cancels it.
            if prog.state != State::Starting || prog.pid.is_some() {
                continue;
            }
            // Nothing starts once a shutdown has begun.
            if self.shutting_down {
                self.event(index, Event::Stop, log);
                continue;
            }
            self.spawn(index, ctx, output, log);
        }
    }

    fn spawn(&mut self, index: usize, ctx: &mut Context, output: &mut Output, log: &mut Logger) {
        if let Err(reason) = output.ensure(index, &self.slots) {
            return self.spawn_error(index, SpawnError::Failed(reason), log);
        }
        let slot = &mut self.slots[index];
        let captured = output.write_ends(index);
        slot.ready_pipe = None;
        // `ready = fd:N`: the child gets the write end; the daemon reads the other.
        let pipe = match slot.cfg.ready {
            Ready::Fd(_) => match sys::pipe(true) {
                Ok(pipe) => Some(pipe),
                Err(e) => {
                    let reason = e.after("pipe");
                    return self.spawn_error(index, SpawnError::Failed(reason), log);
                }
            },
            _ => None,
        };
        let write_end = pipe.as_ref().map(|(_, w)| std::os::fd::AsRawFd::as_raw_fd(w));
        let spawned = ctx.spawn(&slot.cfg, &mut slot.found, captured, write_end);
        if let (Some((read_end, _)), Ok(_)) = (pipe, &spawned) {
            slot.ready_pipe = Some(read_end);
            if !self.ready_pipes.contains(&index) {
                self.ready_pipes.push(index);
            }
        }
        match spawned {
            Ok((pid, exec_failed)) => {
                let name = &slot.cfg.name;
                match &exec_failed {
                    None => log.info("{}: spawned pid {}", &[Str(name), Int(pid.into())]),
                    Some(reason) => log.error("{}: {}", &[Str(name), Str(reason)]),
                }
                if let Some(stream) = ctx.no_reader.take() {
                    let target = if stream == "stdout" { &slot.cfg.stdout } else { &slot.cfg.stderr };
                    let path = match target {
                        LogTarget::File(path) => path.as_bytes(),
                        _ => b"",
                    };
                    log.warn(
                        "{}: {} {}: a FIFO with no reader; this run's output goes to /dev/null",
                        &[Str(name), Str(stream), Bytes(path)],
                    );
                }
                self.event(index, Event::Spawned { pid, exec_failed }, log);
            }
            Err(err) => self.spawn_error(index, err, log),
        }
    }

    fn spawn_error(&mut self, index: usize, err: SpawnError, log: &mut Logger) {
        let event = match err {
            SpawnError::Failed(reason) => Event::SpawnFailed { reason },
            SpawnError::Refused(reason) => Event::SpawnRefused { reason },
        };
        self.event(index, event, log);
    }

    /// Reaps every exited child; those that are programs' main processes
    /// become `Exited` events, the rest are orphans we adopted. Then the
    /// programs waiting on a process group learn whether it emptied.
    pub fn reap(&mut self, log: &mut Logger) {
        while let Some((pid, exit)) = sys::reap_any() {
            let at = self.by_pid.partition_point(|&(p, _)| p < pid);
            let Some(&(_, index)) = self.by_pid.get(at).filter(|&&(p, _)| p == pid) else {
                self.check_ended(pid, exit, log);
                continue;
            };
            let slot = &self.slots[index];
            let group_alive = slot.cfg.killasgroup && sys::group_alive(slot.prog.pgid.unwrap_or(0));
            self.event(index, Event::Exited { exit, group_alive }, log);
            self.ended.push((index, pid));
        }
        let mut at = 0;
        while at < self.group_watch.len() {
            let index = self.group_watch[at];
            self.check_group(index, log);
            if self.slots.get(index).is_some_and(|s| s.waits_on_group()) {
                at += 1;
            } else {
                self.group_watch.swap_remove(at);
            }
        }
    }

    /// The next program whose main process was reaped, and its pid.
    pub fn take_ended(&mut self) -> Option<(usize, Pid)> {
        self.ended.pop()
    }

    /// A program whose main process is gone but whose group had members
    /// learns when the group empties (a stop or a start waits on it).
    fn check_group(&mut self, index: usize, log: &mut Logger) {
        let slot = &self.slots[index];
        if slot.waits_on_group() && !sys::group_alive(slot.prog.pgid.unwrap_or(0)) {
            self.event(index, Event::GroupGone, log);
        }
    }

    /// Sends `signal` to a program: the group with killasgroup, else the main process.
    fn signal(&mut self, index: usize, signal: libc::c_int, log: &mut Logger) {
        let slot = &self.slots[index];
        let target: Option<Pid> = match (slot.cfg.killasgroup, slot.prog.pgid, slot.prog.pid) {
            (true, Some(pgid), _) => Some(-pgid),
            (false, _, Some(pid)) => Some(pid),
            _ => None,
        };
        if let Some(target) = target {
            if let Err(e) = sys::kill(target, signal) {
                if e.0 != libc::ESRCH {
                    let name = &slot.cfg.name;
                    let reason = sys::describe(&e);
                    log.warn("{}: kill {}: {}", &[Str(name), Int(target.into()), Str(&reason)]);
                }
            }
        }
    }

    /// Sends SIGKILL to every program's process (group), and every
    /// running health check's, at once.
    pub fn kill_all_now(&mut self) {
        for slot in &self.slots {
            let prog = &slot.prog;
            if let Some(pgid) = prog.pgid.filter(|_| prog.is_active() || prog.group_left) {
                let target = if slot.cfg.killasgroup { -pgid } else { prog.pid.unwrap_or(pgid) };
                let _ = sys::kill(target, libc::SIGKILL);
            }
        }
        for &index in &self.checking {
            if let Some(health) = &mut self.slots[index].health {
                health.kill();
            }
        }
    }
}

fn log_exit(log: &mut Logger, slot: &Slot, exit: Exit) {
    let name = &slot.cfg.name;
    match exit {
        Exit::Code(code) => log.info("{}: exited with status {}", &[Str(name), Int(code.into())]),
        Exit::Signal(signal) => log
            .info("{}: killed by signal {}", &[Str(name), Str(crate::signals::name(signal).unwrap_or("?"))]),
    }
}

/// How often (in seconds) `memory_max` is checked while RUNNING.
const MEMORY_INTERVAL_SECS: u32 = 10;

/// `17.2MB`, `16MB`, `512KB` or `1000B`: bytes in the largest unit that
/// makes at least 1, with one decimal (cut), none when it is 0. The tenths
/// are taken apart by shifts (no 64-bit division): whole units are
/// `bytes >> shift`, the tenth comes from the next 10 bits left over.
fn size(out: &mut crate::text::Text, bytes: u64) {
    let (shift, unit) = match bytes {
        0..=1023 => (0, "B"),
        1024..=0xf_ffff => (10, "KB"),
        _ => (20, "MB"),
    };
    out.uint(bytes >> shift);
    if shift != 0 {
        let tenth = (((bytes >> (shift - 10)) as u32 & 1023) * 10) >> 10;
        if tenth != 0 {
            out.byte(b'.').uint(tenth.into());
        }
    }
    out.str(unit);
}

/// Logs a change of state, or another failed start in BACKOFF.
fn log_transition(log: &mut Logger, slot: &Slot, before: (State, u32), now: Instant) {
    let (name, prog) = (&slot.cfg.name, &slot.prog);
    if (prog.state, prog.failures) == before {
        return;
    }
    match prog.state {
        State::Backoff => {
            let delay = u64::from(prog.deadline.map_or(0, |t| now.secs_until(t)));
            match &prog.reason {
                Some(reason) => log.warn("{}: {}; retry in {}s", &[Str(name), Str(reason), Uint(delay)]),
                None if prog.failures > 0 => log.warn(
                    "{}: exited before startsecs ({} failed starts in a row); retry in {}s",
                    &[Str(name), Uint(prog.failures.into()), Uint(delay)],
                ),
                None => log.info("{}: restart in {}s", &[Str(name), Uint(delay)]),
            }
        }
        State::Fatal => match &prog.reason {
            Some(reason) => log.error("{}: {}; gave up (FATAL)", &[Str(name), Str(reason)]),
            None => log.error(
                "{}: gave up after {} failed starts (FATAL)",
                &[Str(name), Uint(prog.failures.into())],
            ),
        },
        State::ClearingGroup => log.info(
            "{}: stopping what is left of its process group {} before the next start",
            &[Str(name), Int(prog.pgid.unwrap_or(0).into())],
        ),
        State::Stopping if prog.restarting && before.0 == State::Running => {
            let reason = prog.reason.as_deref().unwrap_or("");
            log.warn("{}: {}; restarting", &[Str(name), Str(reason)])
        }
        State::Running if before.0 != State::Running => log.info("{}: running", &[Str(name)]),
        State::Stopped => log.info("{}: stopped", &[Str(name)]),
        State::Waiting => log.info("{}: waiting for its dependencies", &[Str(name)]),
        State::Running | State::Exited | State::Starting | State::Stopping => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(text: &str) -> Vec<ProgramConfig> {
        let report = crate::config::parse_text(text, b"/etc/pman.conf");
        match report.result {
            Ok(config) => config.programs,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    fn section(name: &str, priority: i32) -> String {
        format!("[program:{name}]\ncommand=/bin/true\nstdout=none\nstderr=none\npriority={priority}\n")
    }

    #[test]
    fn stops_go_by_descending_priority_starts_by_ascending() {
        let text = [section("a", 10), section("b", 30), section("c", 10), section("d", 20)].concat();
        let table = Table::new(programs(&text).into_iter().map(Slot::new).collect());
        assert_eq!(table.stop_groups(&[0, 1, 2, 3]), vec![vec![1], vec![3], vec![0, 2]]);
        assert_eq!(table.start_order(vec![3, 2, 1, 0]), vec![0, 2, 3, 1]);
        let (found, unknown) = table.resolve(&["c".into(), "all".into(), "x".into(), "c".into()]);
        assert_eq!((found, unknown), (vec![2, 0, 1, 3], vec!["x".to_string()]));
    }

    #[test]
    fn dependencies_order_starts_and_stops_before_priority() {
        // web -> api -> db, web -> db; cache and db2 alone. Priorities say the opposite.
        let text = [
            section("db", 1),
            section("api", 5) + "depends_on=db\n",
            section("web", 9) + "depends_on=api db\n",
            section("cache", 1),
            section("db2", 1),
        ]
        .concat();
        let table = Table::new(programs(&text).into_iter().map(Slot::new).collect());
        assert_eq!(table.start_order(vec![2, 1, 0, 3, 4]), vec![0, 3, 4, 1, 2]);
        // Layers: nothing depends on web, cache, db2; then api; then db.
        assert_eq!(table.stop_groups(&[0, 1, 2, 3, 4]), vec![vec![2], vec![3, 4], vec![1], vec![0]]);
    }

    #[test]
    fn install_keeps_unchanged_slots_and_says_where_each_went() {
        let old = [section("a", 1), section("b", 1), section("c", 1)].concat();
        let mut table = Table::new(programs(&old).into_iter().map(Slot::new).collect());
        table.slots[0].prog.restarts = 7;
        table.slots[2].prog.restarts = 9;
        // c unchanged (moves to 0), b removed, a changed (stays a name, new slot), d added.
        let new = [section("c", 1), section("a", 2), section("d", 1)].concat();
        let renumbered = table.install(programs(&new));
        assert_eq!(renumbered.moved, vec![Some(1), None, Some(0)]);
        assert_eq!(renumbered.kept, vec![None, None, Some(0)]);
        assert_eq!(renumbered.fresh, vec![1, 2]);
        let names: Vec<&str> = table.slots().iter().map(|s| s.cfg.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "d"]);
        assert_eq!((table.slot(0).prog.restarts, table.slot(1).prog.restarts), (9, 0));
    }

    #[test]
    fn sizes_show_one_decimal_cut_in_the_largest_unit() {
        for kb in [1u64, 102, 103, 1023, 1024, 1126, 17612, 16384, 16486, (1 << 40) + 1023] {
            let mut out = crate::text::Text::new();
            size(&mut out, kb * 1024);
            let (whole, tenths, unit) =
                if kb < 1024 { (kb, 0, "KB") } else { (kb / 1024, kb * 10 / 1024 % 10, "MB") };
            let dot = if tenths == 0 { String::new() } else { format!(".{tenths}") };
            assert_eq!(out.to_str_lossy(), format!("{whole}{dot}{unit}"), "{kb}");
        }
        for (bytes, want) in
            [(0, "0B"), (1000, "1000B"), (1500, "1.4KB"), (100 << 10, "100KB"), (512 << 10, "512KB")]
        {
            let mut out = crate::text::Text::new();
            size(&mut out, bytes);
            assert_eq!(out.to_str_lossy(), want);
        }
        let mut out = crate::text::Text::new();
        size(&mut out, 17612 << 10);
        assert_eq!(out.to_str_lossy(), "17.1MB");
    }

    #[test]
    fn timers_pop_soonest_first() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for (secs, index) in [(3, 0), (1, 5), (2, 1), (1, 2), (3, 0), (0, 9), (2, 0)] {
            timers.push(t0.after_secs(secs), index);
        }
        let mut popped = vec![];
        while let Some((t, index)) = timers.pop() {
            popped.push((t.secs_since(t0), index));
        }
        assert_eq!(popped, [(0, 9), (1, 2), (1, 5), (2, 0), (2, 1), (3, 0), (3, 0)]);
    }

    #[test]
    fn stale_deadlines_are_skipped() {
        let mut table = Table::new(programs(&section("a", 1)).into_iter().map(Slot::new).collect());
        let t0 = Instant::now();
        let (t1, t2) = (t0.after_secs(1), t0.after_secs(2));
        table.deadlines.push(t1, 0);
        table.slots[0].prog.deadline = Some(t2);
        table.deadlines.push(t2, 0);
        assert_eq!(table.next_deadline(), Some(t2), "the entry for t1 is stale");
        table.slots[0].prog.deadline = None;
        assert_eq!(table.next_deadline(), None);
    }
}
