//! Merged sections → a validated [`Config`]: the `[pman]`/`[supervisord]`
//! globals, every `[program:NAME]` (defaults, inheritance, expansion,
//! `numprocs`), and warnings for what pman accepts but ignores.

use super::expand::{self, Vars};
use super::ini::{Entry, Section};
use super::keys::{self, Kind, DEFAULT_MAXBYTES};
use super::{files, host, shlex, values};
use super::{
    Argv, AutoRestart, Config, Diags, ExitCodes, Extra, LogTarget, ProgramConfig, Ready, Rlimit,
    DEFAULT_SOCKET,
};
use crate::path::FilePath;
use crate::text::Part::{Bytes, Str, Uint};
use crate::text::TrimSpace;
use crate::text::{concat, path as shown};

/// A router runs no more than this many processes in all (one section
/// may make at most 1000: see [`values::numprocs`]).
const MAX_PROCESSES: usize = 10_000;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_NAME: usize = 107;
/// PATH for programs when neither their `environment` nor the daemon has one.
pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

const SUPERVISORD_NOTE: &str = "pman's defaults differ from Supervisor's: autorestart=true (Supervisor: \
     unexpected), startretries=infinite (3), killasgroup=true (false), stdout/stderr_maxbytes=256KB (50MB)";

/// Settings every program inherits, from `[pman]` (or `[supervisord]`).
struct Globals {
    pidfile: Option<FilePath>,
    logfile: Option<FilePath>,
    logfile_maxbytes: u64,
    logfile_backups: u32,
    socket: String,
    syslog_socket: FilePath,
    directory: Option<FilePath>,
    umask: Option<u32>,
    env: Vec<(String, String)>,
}

/// Expands and parses the values of one section, reporting errors as
/// `FILE:LINE: [section] key: reason`.
struct Scope<'a> {
    diags: &'a mut Diags,
    host: &'a str,
    env: &'a [(String, String)],
    label: &'a str,
    program: Option<&'a str>,
    process_num: Option<u32>,
    numprocs: Option<u32>,
    failed: bool,
}

impl Scope<'_> {
    fn fail(&mut self, e: &Entry, reason: String) {
        self.fail_as(e, &reason);
    }

    /// [`Scope::fail`] with a reason that needs no `String` of its own.
    fn fail_as(&mut self, e: &Entry, reason: &str) {
        self.diags.error(
            e.file,
            e.line,
            crate::text::concat("{} {}: {}", &[Str(self.label), Str(e.written()), Str(reason)]),
        );
        self.failed = true;
    }

    fn fail_at(&mut self, file: usize, line: usize, text: String) {
        self.diags.error(file, line, text);
        self.failed = true;
    }

    fn text(&mut self, e: &Entry) -> Option<String> {
        let here = crate::text::lossy(self.diags.dir(e.file));
        let vars = Vars {
            program: self.program,
            process_num: self.process_num,
            numprocs: self.numprocs,
            here: &here,
            host: self.host,
            env: self.env,
        };
        match expand::expand(&e.value, &vars) {
            Ok(text) => Some(text),
            Err(reason) => {
                self.fail(e, reason);
                None
            }
        }
    }

    /// The parsed value of `e`, or `default` when absent or bad.
    fn parse<T>(&mut self, e: Option<&Entry>, default: T, parse: fn(&str) -> Result<T, String>) -> T {
        let Some(e) = e else { return default };
        let Some(text) = self.text(e) else { return default };
        match parse(&text) {
            Ok(value) => value,
            Err(reason) => {
                self.fail(e, reason);
                default
            }
        }
    }

    /// The parsed value of `e`, or `None` when absent or bad.
    fn value<T>(&mut self, e: Option<&Entry>, parse: &dyn Fn(&str) -> Result<T, String>) -> Option<T> {
        let e = e?;
        let text = self.text(e)?;
        parse(&text).map_err(|reason| self.fail(e, reason)).ok()
    }

    /// A path value, relative to the file's directory; `~` is `home`.
    fn path(&mut self, e: &Entry, home: &str) -> Option<FilePath> {
        let text = self.text(e)?;
        if text.is_empty() {
            self.fail_as(e, "empty path");
            return None;
        }
        Some(files::resolve(&text, self.diags.dir(e.file), home))
    }

    /// `pidfile`/`logfile`: a path, or `none` or `auto` (the default: none;
    /// also `syslog` when `syslog_ok`).
    fn optional_path(&mut self, e: Option<&Entry>, home: &str, syslog_ok: bool) -> Option<FilePath> {
        let e = e?;
        let word = e.value.trim_space();
        if word.eq_ignore_ascii_case("none")
            || word.eq_ignore_ascii_case("auto")
            || (syslog_ok && word.eq_ignore_ascii_case("syslog"))
        {
            return None;
        }
        self.path(e, home)
    }
}

/// The `[pman] socket` value: `@name` (abstract) or a path relative to `dir`;
/// `%(ENV_X)s` sees `env` (the `[pman]`/`[supervisord]` environment) first.
pub fn socket(e: &Entry, dir: &[u8], host: &str, env: &[(String, String)]) -> Result<String, String> {
    let here = crate::text::lossy(dir);
    let vars = Vars { program: None, process_num: None, numprocs: None, here: &here, host, env };
    let text = expand::expand(&e.value, &vars)?;
    let name = match text.strip_prefix('@') {
        Some("") => return Err("'@' needs a name after it".to_string()),
        Some(_) => text,
        None if text.is_empty() => return Err("empty socket name".to_string()),
        None => crate::text::lossy(&files::resolve(&text, dir, &host::own_home())).into_owned(),
    };
    if name.len() > MAX_SOCKET_NAME || name.contains('\0') {
        return Err(concat("'{}' is longer than {} bytes", &[Str(&name), Uint(MAX_SOCKET_NAME as u64)]));
    }
    Ok(name)
}

/// The `[supervisord]` then `[pman]` `environment`, later values winning.
/// Errors go to `diags`.
pub fn global_environment(sections: &[Section], diags: &mut Diags, host: &str) -> Vec<(String, String)> {
    let pman = sections.iter().find(|s| s.name == "pman");
    let sup = sections.iter().find(|s| s.name == "supervisord");
    let mut env = Vec::new();
    {
        let mut sc = Scope {
            diags: &mut *diags,
            host,
            env: &[],
            label: "",
            program: None,
            process_num: None,
            numprocs: None,
            failed: false,
        };
        for (s, label) in [(sup, "[supervisord]"), (pman, "[pman]")] {
            let Some(e) = s.and_then(|s| s.get("environment")) else { continue };
            sc.label = label;
            let Some(text) = sc.text(e) else { continue };
            match values::environment(&text) {
                Ok(pairs) => pairs.iter().for_each(|(k, v)| values::set(&mut env, k, v)),
                Err(reason) => sc.fail(e, reason),
            }
        }
    }
    env
}

fn globals(sections: &[Section], diags: &mut Diags, host: &str, home: &str) -> Globals {
    let pman = sections.iter().find(|s| s.name == "pman");
    let sup = sections.iter().find(|s| s.name == "supervisord");
    // The environment first: other values may use its %(ENV_X)s.
    let env = global_environment(sections, diags, host);
    if let Some(s) = pman {
        for e in &s.entries {
            if e.key == "port" {
                let text = crate::text::concat(
                    "[pman] {} is ignored: pman is steered through its socket",
                    &[Str(e.written())],
                );
                diags.warn(e.file, e.line, text);
            } else if !keys::pman_keys().any(|k| k == e.key) {
                let near = keys::nearest(&e.key, keys::pman_keys());
                diags.warn(e.file, e.line, unknown_key("[pman]", e, near));
            }
        }
    }
    let mut sc = Scope {
        diags,
        host,
        env: &env,
        label: "[pman]",
        program: None,
        process_num: None,
        numprocs: None,
        failed: false,
    };
    // [pman] wins over [supervisord]; both are read for these keys.
    let pick = |sc: &mut Scope, key: &str| {
        let from_pman = pman.and_then(|s| s.get(key));
        sc.label = if from_pman.is_some() { "[pman]" } else { "[supervisord]" };
        from_pman.or_else(|| sup.and_then(|s| s.get(key)))
    };
    let e = pick(&mut sc, "pidfile");
    let pidfile = sc.optional_path(e, home, false);
    let e = pick(&mut sc, "logfile");
    let logfile = sc.optional_path(e, home, true);
    let e = pick(&mut sc, "logfile_maxbytes");
    let logfile_maxbytes = sc.parse(e, DEFAULT_MAXBYTES, values::size);
    let e = pick(&mut sc, "logfile_backups");
    let logfile_backups = sc.parse(e, 1, values::count);
    let e = pick(&mut sc, "directory");
    let directory = e.and_then(|e| sc.path(e, home));
    let e = pick(&mut sc, "umask");
    // A bad umask keeps the default (the daemon's), not 000.
    let umask = e.and_then(|e| sc.parse(Some(e), None, |t| values::umask(t).map(Some)));
    sc.label = "[pman]";
    let own = |key: &str| pman.and_then(|s| s.get(key));
    let socket_name = match own("socket") {
        Some(e) => match socket(e, sc.diags.dir(e.file), host, &env) {
            Ok(name) => name,
            Err(reason) => {
                sc.fail(e, reason);
                // Clients could not find a daemon on another socket.
                sc.diags.stops_boot = true;
                DEFAULT_SOCKET.to_string()
            }
        },
        None => DEFAULT_SOCKET.to_string(),
    };
    let syslog_socket = match own("syslog_socket") {
        Some(e) => sc.path(e, home).unwrap_or_else(|| FilePath::from(DEFAULT_SYSLOG_SOCKET)),
        None => FilePath::from(DEFAULT_SYSLOG_SOCKET),
    };
    Globals {
        pidfile,
        logfile,
        logfile_maxbytes,
        logfile_backups,
        socket: socket_name,
        syslog_socket,
        directory,
        umask,
        env,
    }
}

/// Builds the config from the merged sections; errors go to `diags`.
pub fn build(sections: &[Section], diags: &mut Diags, host: &str, disk: bool, path: FilePath) -> Config {
    let home = host::own_home();
    let g = globals(sections, diags, host, &home);
    let mut all = Programs {
        list: Vec::new(),
        by_name: Vec::new(),
        logs: Vec::new(),
        logs_by_path: Vec::new(),
        unrun: Vec::new(),
        depends_at: Vec::new(),
        unrun_depends: Vec::new(),
    };
    let site = Site { g: &g, host, home: &home, disk };
    for s in sections {
        section(s, &site, diags, &mut all);
    }
    dependencies(&mut all, diags);
    if disk {
        own_files_warnings(sections, diags, &g);
    }
    Config {
        path,
        pidfile: g.pidfile,
        logfile: g.logfile,
        logfile_maxbytes: g.logfile_maxbytes,
        logfile_backups: g.logfile_backups,
        socket: g.socket,
        syslog_socket: g.syslog_socket,
        programs: all.list,
        unrun: all.unrun,
    }
}

/// What every section is built with: the globals, the host name, the
/// daemon user's home, and whether the disk is looked at.
struct Site<'a> {
    g: &'a Globals,
    host: &'a str,
    home: &'a str,
    disk: bool,
}

/// One section of the config: a program, or a warning about it.
// Out of line: inlined into the loop over sections, its constants are hoisted and spilled.
#[inline(never)]
fn section(s: &Section, site: &Site, diags: &mut Diags, all: &mut Programs) {
    let name = s.name.as_str();
    if name == "pman" {
        // Read by `globals`.
    } else if name == "supervisord" {
        diags.warn(
            s.file,
            s.line,
            crate::text::concat(
                "[supervisord] is Supervisor's: pman reads only {} from it",
                &[Str(keys::SUPERVISORD_KEYS)],
            ),
        );
        diags.notes.push(SUPERVISORD_NOTE.to_string());
    } else if name == "include" {
        for e in s.entries.iter().filter(|e| e.key != "files") {
            let near = keys::nearest(&e.key, ["files"].iter().copied());
            diags.warn(e.file, e.line, unknown_key("[include]", e, near));
        }
        if s.get("files").is_none() {
            diags.warn(s.file, s.line, "[include] has no files= key: nothing is included".into());
        }
    } else if let Some(group) = name.strip_prefix("program:") {
        program(s, group, site, diags, all);
    } else if name.starts_with("fcgi-program:") {
        let text = crate::text::concat(
            "[{}] is Supervisor's FastCGI section: pman does not run its processes; ignored",
            &[Str(name)],
        );
        diags.warn(s.file, s.line, text);
    } else if keys::is_supervisor_section(name) {
        diags.warn(
            s.file,
            s.line,
            crate::text::concat("[{}] is a Supervisor section pman does not use; ignored", &[Str(name)]),
        );
    } else if name == "program-default" {
        let text = crate::text::concat(
            "[{}] is ochinchina/supervisord's; pman has no such section (settings every program \
             shares go in [pman]); ignored",
            &[Str(name)],
        );
        diags.warn(s.file, s.line, text);
    } else {
        let text = match keys::nearest_section(name) {
            Some(near) => {
                crate::text::concat("unknown section [{}] ignored (nearest: [{}])", &[Str(name), Str(&near)])
            }
            None => crate::text::concat("unknown section [{}] ignored", &[Str(name)]),
        };
        diags.warn(s.file, s.line, text);
    }
}

/// The programs so far, their names (to refuse duplicates) and log files
/// (streams sharing one take the first stream's cap: worth a warning).
struct Programs {
    list: Vec<ProgramConfig>,
    /// Indices into `list` sorted by process name (binary search: thousands
    /// of programs stay fast).
    by_name: Vec<usize>,
    /// Each log file's first stream: its path (as [`crate::path::key`])
    /// and who it is (`the stdout of NAME`) in one block, split at the
    /// `usize`; maxbytes, backups. (One block: bigger than the paths the
    /// config keeps, it leaves their size class unfragmented once freed.)
    logs: Vec<(Vec<u8>, usize, u64, u32)>,
    /// Indices into `logs` sorted by path.
    logs_by_path: Vec<usize>,
    /// Processes of sections with errors and their first error.
    unrun: Vec<(String, String)>,
    /// Each run section with `depends_on`: its first process (an index
    /// into `list`) and where the key is.
    depends_at: Vec<(usize, usize, usize)>,
    /// The same for sections with errors: their `depends_on` names, so
    /// that `check` lists a dependency error among their others.
    unrun_depends: Vec<(String, Vec<String>, usize, usize)>,
}

impl Programs {
    /// Where process `name` is in `by_name` (`Ok`), or would go (`Err`).
    fn find(&self, name: &str) -> Result<usize, usize> {
        let list = &self.list;
        self.by_name.binary_search_by(|&i| list.get(i).map_or("", |p| p.name.as_str()).cmp(name))
    }

    /// The group of process `name`, if one is listed.
    fn owner(&self, name: &str) -> Option<&str> {
        let at = self.find(name).ok()?;
        let i = *self.by_name.get(at)?;
        self.list.get(i).map(ProgramConfig::group)
    }

    /// Lists `p` under its name (not yet listed).
    fn push(&mut self, p: ProgramConfig) {
        if let Err(at) = self.find(&p.name) {
            self.by_name.insert(at, self.list.len());
        }
        self.list.push(p);
    }

    /// Drops the processes listed from index `listed` on.
    fn truncate(&mut self, listed: usize) {
        self.list.truncate(listed);
        self.by_name.retain(|&i| i < listed);
    }
}

/// A program or process name: 1 to 64 bytes of letters, digits, `-`, `_`, `.`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `[section] unknown key 'Key' ignored`, with a close known key if any.
fn unknown_key(label: &str, e: &Entry, near: Option<&str>) -> String {
    let (near_says, near, close) = match near {
        Some(near) => (" (nearest known key: ", near, ")"),
        None => ("", "", ""),
    };
    crate::text::concat(
        "{} unknown key '{}' ignored{}{}{}",
        &[Str(label), Str(e.written()), Str(near_says), Str(near), Str(close)],
    )
}

/// The last line of each program key, by its row in [`keys::PROGRAM`].
type Slots<'a> = [Option<&'a Entry>];

fn slot<'a>(slots: &Slots<'a>, row: usize) -> Option<&'a Entry> {
    slots.get(row).copied().flatten()
}

/// The entry of program key `$key` in `$slots` (its row found at compile time).
macro_rules! get {
    ($slots:expr, $key:literal) => {
        slot($slots, const { keys::index($key) })
    };
}

fn program(s: &Section, group: &str, site: &Site, diags: &mut Diags, all: &mut Programs) {
    let Site { g, host, home, disk } = *site;
    let label = crate::text::concat("[{}]", &[Str(&s.name)]);
    let (errors_before, listed) = (diags.errors.len(), all.list.len());
    if !valid_name(group) {
        let text = crate::text::concat(
            "{}: program name '{}' may hold only letters, digits, '-', '_' and '.', at most 64 bytes",
            &[Str(&label), Str(group)],
        );
        diags.error(s.file, s.line, text);
    }
    // The last line of each key wins, aliases included.
    let mut slots = [None; keys::PROGRAM.len()];
    let mut warned: Vec<&str> = Vec::new();
    for e in &s.entries {
        match keys::program_key(&e.key) {
            Some(row) => {
                if let Some(slot) = slots.get_mut(row) {
                    *slot = Some(e);
                }
            }
            None => {
                let foreign = keys::foreign_program_key(&e.key);
                // Other supervisors' keys get one warning each; unknown ones one per line.
                if foreign.is_some() {
                    if warned.contains(&e.key.as_str()) {
                        continue;
                    }
                    warned.push(&e.key);
                }
                let text = match foreign {
                    Some(foreign) => {
                        crate::text::concat("{} {} {}", &[Str(&label), Str(e.written()), Str(foreign.says())])
                    }
                    None => unknown_key(&label, e, keys::nearest(&e.key, keys::all_program_keys())),
                };
                diags.warn(e.file, e.line, text);
            }
        }
    }
    let mut sc = Scope {
        diags,
        host,
        env: &g.env,
        label: &label,
        program: Some(group),
        process_num: None,
        numprocs: None,
        failed: false,
    };
    let numprocs_entry = get!(&slots, "numprocs");
    let numprocs = sc.parse(numprocs_entry, 1, values::numprocs);
    // A bad count is one error: the default 1 is no value of the file.
    let in_range = !sc.failed;
    let start = sc.parse(get!(&slots, "numprocs_start"), 0, values::count);
    let name_entry = get!(&slots, "process_name");
    // A window search: core's substring searcher is more code than this needs.
    let numbered = |e: &Entry| e.value.as_bytes().windows(14).any(|w| w == b"%(process_num)");
    if in_range && numprocs > 1 && !name_entry.is_some_and(numbered) {
        let (file, line) = name_entry.or(numprocs_entry).map_or((s.file, s.line), |e| (e.file, e.line));
        let text = concat(
            "{} numprocs = {} needs %(process_num)d in process_name",
            &[Str(sc.label), Uint(numprocs.into())],
        );
        sc.fail_at(file, line, text);
    }
    // Past here the processes can be named (for status, should the section fail).
    let countable = !sc.failed && valid_name(group);
    let count = numprocs;
    // After an error, one process still shows the section's other errors.
    let numprocs = if sc.failed { 1 } else { numprocs };
    sc.numprocs = Some(numprocs);
    // The `depends_on` names of a process with errors.
    let mut depends = Vec::new();
    for i in 0..numprocs {
        let Some(num) = start.checked_add(i) else {
            let (file, line) = get!(&slots, "numprocs_start").map_or((s.file, s.line), |e| (e.file, e.line));
            sc.fail_at(
                file,
                line,
                crate::text::concat("{} numprocs_start + numprocs is too large", &[Str(sc.label)]),
            );
            break;
        };
        if all.list.len() >= MAX_PROCESSES {
            sc.fail_at(
                s.file,
                s.line,
                concat("{} more than {} processes in all", &[Str(sc.label), Uint(MAX_PROCESSES as u64)]),
            );
            break;
        }
        sc.process_num = Some(num);
        let mut p = match process(&mut sc, &slots, s, g, home, disk) {
            Ok(p) => p,
            Err(names) => {
                depends = names;
                break;
            }
        };
        if let Some(other) = all.owner(&p.name) {
            let text = crate::text::concat(
                "{} process name '{}' is already used by [program:{}]",
                &[Str(sc.label), Str(&p.name), Str(other)],
            );
            sc.fail_at(s.file, s.line, text);
            break;
        }
        shared_logs(&mut sc, &slots, s, &mut p, all);
        all.push(p);
    }
    let Some(error) = diags.first_error_of(&s.name, errors_before) else {
        if let Some(e) = get!(&slots, "depends_on").filter(|_| all.list.len() > listed) {
            all.depends_at.push((listed, e.file, e.line));
        }
        return;
    };
    let name_entry = get!(&slots, "process_name");
    let here = name_entry.map(|e| crate::text::lossy(diags.dir(e.file))).unwrap_or_default();
    let vars = Vars {
        program: Some(group),
        process_num: None,
        numprocs: Some(count),
        here: &here,
        host,
        env: &g.env,
    };
    if let Some(e) = get!(&slots, "depends_on").filter(|_| !depends.is_empty()) {
        all.unrun_depends.push((group.to_string(), depends, e.file, e.line));
    }
    // The section is not run: its processes stay in the config, never run,
    // so that status shows them and a reload that fixes it changes them.
    all.truncate(listed);
    let names = if countable { process_names(name_entry, vars, start, count) } else { None };
    let names = names.filter(|names| names.iter().all(|n| all.find(n).is_err()));
    let names = names.unwrap_or_else(|| vec![group.to_string()]);
    for name in names {
        if all.find(&name).is_ok() {
            continue;
        }
        all.push(unrun(name.clone(), group));
        all.unrun.push((name, error.clone()));
    }
}

/// `depends_on` names no program, or a cycle: an error of each depending
/// section (each section on a cycle), which is then not run.
fn dependencies(all: &mut Programs, diags: &mut Diags) {
    let (list, not_run) = (&all.list, &all.unrun_depends[..]);
    let mut failed: Vec<(String, String)> = Vec::new();
    let run = all.depends_at.iter().filter_map(|&(first, file, line)| {
        let p = list.get(first)?;
        Some((p.group(), &p.limits.depends_on[..], file, line, true))
    });
    let unrun_ones =
        not_run.iter().map(|(group, names, file, line)| (&group[..], &names[..], *file, *line, false));
    for (group, names, file, line, runs) in run.chain(unrun_ones) {
        let text = match names.iter().find(|n| !list.iter().any(|p| p.group() == **n || p.name == **n)) {
            Some(name) => {
                crate::text::concat("[program:{}] depends_on: '{}' is no program", &[Str(group), Str(name)])
            }
            None => match cycle(list, not_run, group) {
                Some(path) => {
                    crate::text::concat("[program:{}] depends_on: cycle {}", &[Str(group), Str(&path)])
                }
                None => continue,
            },
        };
        diags.error(file, line, text);
        if runs {
            let shown = diags.errors.last().map(|d| diags.line_of(d)).unwrap_or_default();
            failed.push((group.to_string(), shown));
        }
    }
    for (group, error) in failed {
        for p in all.list.iter_mut().filter(|p| p.group() == group && !p.is_unrun()) {
            *p = unrun(p.name.clone(), &group);
            all.unrun.push((p.name.clone(), error.clone()));
        }
    }
}

/// `web -> db -> web` when a path of dependencies leads from `group` back
/// to it (through sections with errors too, by the names they give).
fn cycle(
    list: &[ProgramConfig],
    unrun: &[(String, Vec<String>, usize, usize)],
    group: &str,
) -> Option<String> {
    // Breadth first over sections, remembering where each was reached from.
    let mut seen: Vec<(&str, usize)> = vec![(group, 0)];
    let mut at = 0;
    while let Some(&(from, _)) = seen.get(at) {
        // The sections `from`'s names point at, in the order they are found.
        let run = list.iter().filter(|p| p.group() == from).flat_map(|p| p.limits.depends_on.iter());
        let not_run = unrun.iter().filter(|u| u.0 == from).flat_map(|u| u.1.iter());
        for name in run.chain(not_run) {
            for q in list.iter().filter(|q| q.group() == *name || q.name == *name) {
                let next = q.group();
                if next == group {
                    let mut path = vec![group];
                    let mut i = at;
                    while let Some(&(section, back)) = seen.get(i).filter(|_| i != 0) {
                        path.push(section);
                        i = back;
                    }
                    path[1..].reverse();
                    path.push(group);
                    let mut cycle = String::new();
                    for (n, section) in path.iter().enumerate() {
                        cycle.push_str(if n == 0 { "" } else { " -> " });
                        cycle.push_str(section);
                    }
                    return Some(cycle);
                }
                if !seen.iter().any(|(g, _)| *g == next) {
                    seen.push((next, at));
                }
            }
        }
        at += 1;
    }
    None
}

/// The names of processes `start..start + count` of a section, or `None`
/// when one cannot be expanded or is no valid name.
fn process_names(entry: Option<&Entry>, mut vars: Vars, start: u32, count: u32) -> Option<Vec<String>> {
    let Some(e) = entry else { return Some(vec![vars.program?.to_string()]) };
    let mut names = Vec::new();
    for i in 0..count {
        vars.process_num = Some(start.checked_add(i)?);
        let name = expand::expand(&e.value, &vars).ok()?;
        if !valid_name(&name) || names.contains(&name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

/// A process of a section with errors: kept only to be shown, never run
/// (its empty `argv` says so).
fn unrun(name: String, group: &str) -> ProgramConfig {
    ProgramConfig {
        section: (group != name).then(|| group.into()),
        name,
        argv: Argv::NONE,
        autostart: false,
        autorestart: AutoRestart::Never,
        ready: Ready::Startsecs,
        startsecs: 1,
        startretries: Some(0),
        backoff: 1,
        backoff_max: 60,
        backoff_reset: 60,
        ready_timeout: 60,
        stopsignal: libc::SIGTERM,
        stopwaitsecs: 10,
        killasgroup: true,
        priority: 999,
        stdout: LogTarget::None,
        stderr: LogTarget::None,
        redirect_stderr: false,
        stdout_maxbytes: 0,
        stderr_maxbytes: 0,
        stdout_backups: 0,
        stderr_backups: 0,
        limits: Extra::default(),
    }
}

/// One process of a section; after an error (already reported), the
/// `depends_on` names it gives.
// Out of line: inlined into the numprocs loop, its constants are hoisted and spilled.
#[inline(never)]
fn process(
    sc: &mut Scope,
    slots: &Slots,
    s: &Section,
    g: &Globals,
    own_home: &str,
    disk: bool,
) -> Result<ProgramConfig, Vec<String>> {
    let group = sc.program.unwrap_or("");
    let name = match get!(slots, "process_name") {
        Some(e) => {
            let name = sc.text(e).unwrap_or_default();
            if !sc.failed && !valid_name(&name) {
                sc.fail(
                    e,
                    crate::text::concat(
                        "'{}' may hold only letters, digits, '-', '_' and '.', at most 64 bytes",
                        &[Str(&name)],
                    ),
                );
            }
            name
        }
        None => group.to_string(),
    };
    let user = get!(slots, "user").and_then(|e| {
        let text = sc.text(e)?;
        match check_user(&text) {
            Ok(()) => Some((text, e)),
            Err(reason) => {
                sc.fail(e, reason);
                None
            }
        }
    });
    let account = user.as_ref().and_then(|(u, _)| host::user(u.split(':').next().unwrap_or("")));
    let home = account.as_ref().map_or(own_home, |a| a.home.as_str());
    if let (Some((u, e)), None, true) = (&user, &account, disk) {
        if crate::number::u32(u).is_none() && !u.contains(':') {
            let text = crate::text::concat(
                "{} user '{}' is unknown (its start fails until it exists)",
                &[Str(sc.label), Str(u)],
            );
            sc.diags.warn(e.file, e.line, text);
        }
    }
    let argv = match get!(slots, "command") {
        None => {
            sc.fail_at(s.file, s.line, crate::text::concat("{} command is required", &[Str(sc.label)]));
            Argv::NONE
        }
        Some(e) => match sc.text(e).map(|t| shlex::split(&t)) {
            Some(Ok(argv)) if argv.is_empty() => {
                sc.fail_as(e, "empty command");
                argv
            }
            Some(Ok(argv)) => argv,
            Some(Err(reason)) => {
                sc.fail(e, reason);
                Argv::NONE
            }
            None => Argv::NONE,
        },
    };
    let directory = match get!(slots, "directory") {
        Some(e) => sc.path(e, home),
        None => g.directory.clone(),
    };
    let mut environment = g.env.clone();
    if let Some(e) = get!(slots, "environment") {
        if let Some(text) = sc.text(e) {
            match values::environment(&text) {
                Ok(pairs) => pairs.iter().for_each(|(k, v)| values::set(&mut environment, k, v)),
                Err(reason) => sc.fail(e, reason),
            }
        }
    }
    let umask = match get!(slots, "umask") {
        Some(e) => Some(sc.parse(Some(e), 0, values::umask)),
        None => g.umask,
    };
    let ready = sc.parse(get!(slots, "ready"), Ready::Startsecs, values::ready);
    let depends_on = get!(slots, "depends_on").and_then(|e| sc.text(e)).unwrap_or_default();
    // Split as bytes (the separators are ASCII, so every piece stays UTF-8).
    let mut names = Vec::new();
    for n in depends_on.as_bytes().split(|b| matches!(b, b',' | b' ' | b'\t')) {
        if !n.is_empty() {
            names.push(crate::text::lossy(n).into_owned());
        }
    }
    let stdout = log_target(sc, get!(slots, "stdout"), &name, "stdout", home);
    let stderr = log_target(sc, get!(slots, "stderr"), &name, "stderr", home);
    let mut p = unrun(name, group);
    p.argv = argv;
    // Spelled-out defaults (the start directory, the own umask) are the
    // defaults, so that `reload` sees no change in them.
    let limits = &mut *p.limits;
    limits.directory = directory.filter(|d| crate::sys::current_dir().ok().as_ref() != Some(d));
    limits.environment = environment;
    limits.umask = umask.filter(|&m| m != crate::sys::own_umask());
    limits.user = user.map(|(u, _)| u);
    p.stdout = stdout;
    p.stderr = stderr;
    p.ready = ready;
    p.limits.depends_on = names;
    // Every other key as the table says.
    for (row, key) in keys::PROGRAM.iter().enumerate() {
        table_key(sc, key, slot(slots, row), &mut p);
    }
    // Only a stderr log that would have been written is worth a word:
    // `none` or `AUTO` next to redirect_stderr says the same thing.
    let stderr_named = get!(slots, "stderr").filter(|e| {
        let word = e.value.trim_space();
        !word.eq_ignore_ascii_case("none") && !word.eq_ignore_ascii_case("auto")
    });
    if let (Some(e), false) =
        (get!(slots, "watchdog").filter(|_| p.limits.watchdog > 0), matches!(p.ready, Ready::Fd(_)))
    {
        sc.fail_as(e, "needs ready = fd:N");
    }
    if let Some(e) = get!(slots, "healthcheck") {
        match sc.text(e).map(|t| shlex::split(&t)) {
            Some(Ok(argv)) if argv.is_empty() => sc.fail_as(e, "empty healthcheck"),
            Some(Ok(argv)) => p.limits.healthcheck = argv,
            Some(Err(reason)) => sc.fail(e, reason),
            None => {}
        }
    }
    if let (Some(e), Ready::Healthcheck, true) =
        (get!(slots, "ready"), &p.ready, p.limits.healthcheck.is_empty())
    {
        sc.fail_as(e, "ready = healthcheck needs a healthcheck key");
    }
    p.limits.settle();
    if let (true, Some(e)) = (p.redirect_stderr, stderr_named) {
        let text = crate::text::concat(
            "{} {} is ignored with redirect_stderr=true",
            &[Str(sc.label), Str(e.written())],
        );
        sc.diags.warn(e.file, e.line, text);
    }
    if sc.failed {
        return Err(std::mem::take(&mut p.limits.depends_on));
    }
    if disk {
        disk_warnings(sc, slots, s, &p);
    }
    Ok(p)
}

/// Reads a key [`keys::PROGRAM`] says how to read into `p`.
// Out of line: inlined into the loop over the table, its constants are hoisted and spilled.
#[inline(never)]
fn table_key(sc: &mut Scope, key: &keys::Key, e: Option<&Entry>, p: &mut ProgramConfig) {
    match key.kind {
        Kind::Flag(field, default) => *field(p) = sc.parse(e, default, values::boolean),
        Kind::Count(field, default) => *field(p) = sc.parse(e, default, values::count),
        Kind::Positive(field, default) => *field(p) = sc.parse(e, default, values::positive),
        Kind::Size(field, default) => *field(p) = sc.parse(e, default, values::size),
        Kind::Integer(field, default) => *field(p) = sc.parse(e, default, values::integer),
        Kind::Signal(field, default) => *field(p) = sc.parse(e, default, values::signal),
        Kind::Retries(default) => p.startretries = sc.parse(e, default, values::retries),
        Kind::ExitCodes(default) => {
            p.limits.exitcodes = sc.parse(e, ExitCodes::EMPTY.with(default), values::exitcodes)
        }
        Kind::AutoRestart(default) => p.autorestart = sc.parse(e, default, values::autorestart),
        Kind::Ranged(field, min, max) => *field(p) = sc.value(e, &|t| values::ranged(t, min, max)),
        Kind::Rlimit(resource, bytes) => {
            if let Some((soft, hard)) = sc.value(e, &|t| values::rlimit(t, bytes)) {
                p.limits.rlimits.push(Rlimit { resource, soft, hard });
            }
        }
        Kind::Special | Kind::Foreign(..) => {}
    }
}

/// `check` looks at the disk: the daemon's own pidfile or logfile in a
/// directory that does not exist is a warning (a package may create it).
fn own_files_warnings(sections: &[Section], diags: &mut Diags, g: &Globals) {
    let files = [("pidfile", &g.pidfile, ""), ("logfile", &g.logfile, " (the daemon would log to syslog)")];
    for (key, path, consequence) in files {
        let Some(dir) = path.as_deref().and_then(files::parent) else { continue };
        if dir.is_empty() || files::is_dir(dir) {
            continue;
        }
        // Where the value was written: [pman] wins over [supervisord].
        let at = ["pman", "supervisord"].iter().find_map(|name| {
            sections.iter().find(|s| s.name == *name).and_then(|s| s.get(key).map(|e| (name, e)))
        });
        if let Some((name, e)) = at {
            let text = concat(
                "[{}] {} directory {} does not exist{}",
                &[Str(name), Str(key), shown(dir), Str(consequence)],
            );
            diags.warn(e.file, e.line, text);
        }
    }
}

/// `name`, `uid` or `uid:gid`.
fn check_user(text: &str) -> Result<(), String> {
    let t = text.trim_space();
    if t.is_empty() {
        return Err("empty user".into());
    }
    let bad = match t.split_once(':') {
        Some((uid, gid)) => crate::number::u32(uid).is_none() || crate::number::u32(gid).is_none(),
        None => t.chars().any(crate::text::is_space),
    };
    if bad {
        return Err(crate::text::concat("'{}' is not a name, a uid or uid:gid", &[Str(t)]));
    }
    Ok(())
}

/// `stdout=`/`stderr=`: a path, `syslog`, `none`, or `AUTO` / absent for
/// `/tmp/NAME_STREAM.log`.
fn log_target(sc: &mut Scope, e: Option<&Entry>, name: &str, stream: &str, home: &str) -> LogTarget {
    let default =
        || LogTarget::File(FilePath::from(crate::text::concat("/tmp/{}_{}.log", &[Str(name), Str(stream)])));
    let Some(e) = e else { return default() };
    let word = e.value.trim_space();
    if word.eq_ignore_ascii_case("none") {
        LogTarget::None
    } else if word.eq_ignore_ascii_case("syslog") {
        LogTarget::Syslog
    } else if word.eq_ignore_ascii_case("auto") {
        default()
    } else {
        sc.path(e, home).map_or(LogTarget::None, LogTarget::File)
    }
}

/// Two streams writing one file share the first one's cap and backups:
/// a later stream takes them, so that both are capped or neither is.
fn shared_logs(sc: &mut Scope, slots: &Slots, s: &Section, p: &mut ProgramConfig, all: &mut Programs) {
    let mut first_limits = [None; 2];
    let streams = [
        (const { keys::index("stdout") }, "stdout", &p.stdout, p.stdout_maxbytes, p.stdout_backups),
        (const { keys::index("stderr") }, "stderr", &p.stderr, p.stderr_maxbytes, p.stderr_backups),
    ];
    // With redirect_stderr, stderr is no stream of its own.
    for (k, (row, stream, target, maxbytes, backups)) in
        streams.into_iter().take(2 - usize::from(p.redirect_stderr)).enumerate()
    {
        let LogTarget::File(path) = target else { continue };
        // Compared as paths compare (`/tmp//x` is `/tmp/x`), by their bytes.
        let key = crate::path::key(path);
        if key.starts_with(b"/dev") && matches!(key.get(4), None | Some(b'/')) {
            continue;
        }
        let logs = &all.logs;
        let found = all
            .logs_by_path
            .binary_search_by(|&i| logs.get(i).and_then(|l| l.0.get(..l.1)).unwrap_or_default().cmp(&key));
        let first = found.ok().and_then(|at| all.logs_by_path.get(at)).and_then(|&i| logs.get(i));
        match (first, found) {
            (None, Err(at)) => {
                let mut entry = key;
                let split = entry.len();
                for part in ["the ", stream, " of ", &p.name] {
                    entry.extend_from_slice(part.as_bytes());
                }
                all.logs_by_path.insert(at, all.logs.len());
                all.logs.push((entry, split, maxbytes, backups));
            }
            (None, Ok(_)) => {}
            (Some((entry, split, m, b)), _) if (*m, *b) != (maxbytes, backups) => {
                let first = entry.get(*split..).unwrap_or_default();
                let (file, line) = slot(slots, row).map_or((s.file, s.line), |e| (e.file, e.line));
                let text = concat(
                    "{} {} is also {}, whose maxbytes and backups apply",
                    &[Str(sc.label), shown(path), Bytes(first)],
                );
                sc.diags.warn(file, line, text);
                first_limits[k] = Some((*m, *b));
            }
            (Some(_), _) => {}
        }
    }
    if let Some((m, b)) = first_limits[0] {
        (p.stdout_maxbytes, p.stdout_backups) = (m, b);
    }
    if let Some((m, b)) = first_limits[1] {
        (p.stderr_maxbytes, p.stderr_backups) = (m, b);
    }
}

/// `check` looks at the disk: command, directory and log directories.
fn disk_warnings(sc: &mut Scope, slots: &Slots, s: &Section, p: &ProgramConfig) {
    let at = |row: usize| slot(slots, row).map_or((s.file, s.line), |e| (e.file, e.line));
    if let Some(cmd) = p.argv.first().and_then(|c| crate::sys::str_of(c)) {
        let missing = if cmd.contains('/') {
            let base =
                p.limits.directory.clone().or_else(|| crate::sys::current_dir().ok()).unwrap_or_default();
            (!host::is_executable(&base.join(cmd.as_bytes())))
                .then(|| crate::text::concat("command {} is not an executable file", &[Str(cmd)]))
        } else {
            let path_var = p
                .limits
                .environment
                .iter()
                .rev()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_str())
                .or_else(|| crate::sys::env_var("PATH").and_then(|p| crate::sys::str_of(p)))
                .unwrap_or(DEFAULT_PATH);
            host::which(cmd, path_var)
                .is_none()
                .then(|| crate::text::concat("command {} is not found in PATH", &[Str(cmd)]))
        };
        if let Some(text) = missing {
            let (file, line) = at(const { keys::index("command") });
            sc.diags.warn(file, line, crate::text::concat("{} {}", &[Str(sc.label), Str(&text)]));
        }
    }
    if let Some(dir) = p.limits.directory.as_ref().filter(|d| !files::is_dir(d)) {
        let (file, line) = at(const { keys::index("directory") });
        let text = concat("{} directory {} does not exist", &[Str(sc.label), shown(dir)]);
        sc.diags.warn(file, line, text);
    }
    let targets =
        [(const { keys::index("stdout") }, &p.stdout), (const { keys::index("stderr") }, &p.stderr)];
    for (key, target) in targets.into_iter().take(2 - usize::from(p.redirect_stderr)) {
        let LogTarget::File(path) = target else { continue };
        if let Some(dir) = files::parent(path).filter(|d| !d.is_empty() && !files::is_dir(d)) {
            let (file, line) = at(key);
            let text = concat("{} log directory {} does not exist", &[Str(sc.label), shown(dir)]);
            sc.diags.warn(file, line, text);
        }
    }
}

#[cfg(test)]
mod boot_tests {
    use super::super::{load, parse_text, Config};
    use crate::path::FilePath;

    /// The config `pman daemon` would run, and its errors.
    fn boot(text: &str) -> (Config, Vec<String>) {
        let report = parse_text(text, "/etc/pman.conf".as_bytes());
        assert!(report.result.is_err(), "expected errors in:\n{text}");
        report.for_boot().unwrap_or_else(|errors| panic!("boot refused: {errors:?}"))
    }

    fn names(config: &Config) -> Vec<&str> {
        config.programs.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn a_broken_section_stays_in_config_order_never_run() {
        let (config, errors) = boot(
            "[program:a]\ncommand=a\n[program:b]\ncommand=b\nstopsignal=NOPE\nstartsecs=abc\n\
             [program:c]\ncommand=c\n",
        );
        assert_eq!(names(&config), ["a", "b", "c"]);
        let flags: Vec<bool> = config.programs.iter().map(|p| p.is_unrun()).collect();
        assert_eq!(flags, [false, true, false]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("/etc/pman.conf:5: [program:b] stopsignal"), "{errors:?}");
        assert_eq!(config.unrun, [("b".to_string(), errors[0].clone())], "the first error of b");
    }

    #[test]
    fn numprocs_names_each_process_or_falls_back_to_the_section() {
        let (config, _) = boot(
            "[program:w]\ncommand=w\nnumprocs=3\nprocess_name=w%(process_num)d\nstartsecs=x\n\
             [program:n]\ncommand=n\nnumprocs=2\n\
             [program:t]\ncommand=t\nprocess_name=a\n[program:a]\ncommand=a\nstartsecs=x\n",
        );
        // n cannot name its processes; [program:a]'s names are both taken
        // by t's process `a`, so it is not shown.
        assert_eq!(names(&config), ["w0", "w1", "w2", "n", "a"]);
        let unrun: Vec<bool> = config.programs.iter().map(|p| p.is_unrun()).collect();
        assert_eq!(unrun, [true, true, true, true, false]);
        assert_eq!(config.programs[4].group(), "t");
    }

    #[test]
    fn a_bad_line_counts_for_the_program_section_it_is_in() {
        let (config, errors) =
            boot("[pman]\nnonsense\n[program:a]\ncommand=a\nthis is no key\n[program:b]\ncommand=b\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(config.unrun, [("a".to_string(), errors[1].clone())]);
        assert!(!config.programs[1].is_unrun());
    }

    #[test]
    fn a_bad_pman_value_keeps_its_default() {
        let (config, errors) =
            boot("[pman]\numask=999\nsyslog_socket=\nlogfile_maxbytes=lots\n[program:a]\ncommand=a\n");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(config.programs[0].limits.umask, None);
        assert_eq!(config.syslog_socket, FilePath::from("/dev/log"));
        assert_eq!(config.logfile_maxbytes, 256 * 1024);
        assert!(config.unrun.is_empty());
    }

    #[test]
    fn only_the_main_file_or_the_socket_stops_a_boot() {
        let report = parse_text("[pman]\nsocket=@\n[program:a]\ncommand=a\n", "/etc/pman.conf".as_bytes());
        assert!(report.for_boot().is_err(), "an invalid socket");
        let report = load("/nonexistent-pman/pman.conf".as_bytes());
        assert!(report.for_boot().is_err(), "a missing main file");
        let report = parse_text("[program:a]\ncommand=a\n", "/etc/pman.conf".as_bytes());
        let (config, errors) = report.for_boot().expect("a valid config boots");
        assert!(errors.is_empty() && config.unrun.is_empty());
    }
}
