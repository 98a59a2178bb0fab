//! The config file: INI text → a validated [`Config`]. Pure: reads files,
//! never starts anything. `load` is the only entry point the rest of pman uses.

mod build;
mod expand;
mod files;
mod host;
mod ini;
mod keys;
pub use keys::{nearest, rlimit_name};
pub mod shlex;
mod values;

use crate::path::FilePath;
use crate::sort;
use crate::text::Part::{Bytes, Str, Uint};
use crate::text::{concat, path as shown};
pub use build::DEFAULT_PATH;

/// Where a program's stdout or stderr goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    File(FilePath),
    Syslog,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoRestart {
    Always,
    Never,
    /// Restart only on an exit code not in `exitcodes` (or a signal pman did not send).
    Unexpected,
}

/// One supervised process, after defaults, `[pman]` inheritance, expansion
/// and `numprocs`. Two configs compare equal exactly when nothing effective
/// differs, which is what `reload` uses to tell "changed" from "unchanged".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramConfig {
    /// Process name (after `process_name` expansion); unique in a config.
    pub name: String,
    /// The `[program:X]` section name when it is not `name` (see
    /// [`ProgramConfig::group`]).
    pub section: Option<Box<str>>,
    /// argv, split like Python's `shlex.split`; never empty.
    pub argv: Argv,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub startsecs: u32,
    /// `None` = infinite.
    pub startretries: Option<u32>,
    pub backoff: u32,
    pub backoff_max: u32,
    /// A run (from the fork) shorter than this ends in a crash in a row.
    pub backoff_reset: u32,
    /// When a start counts as RUNNING.
    pub ready: Ready,
    /// Seconds a `ready` other than startsecs may take; 0 = forever.
    pub ready_timeout: u32,
    pub stopsignal: i32,
    pub stopwaitsecs: u32,
    pub killasgroup: bool,
    pub priority: i32,
    pub stdout: LogTarget,
    pub stderr: LogTarget,
    pub redirect_stderr: bool,
    pub stdout_maxbytes: u64,
    pub stderr_maxbytes: u64,
    pub stdout_backups: u32,
    pub stderr_backups: u32,
    /// Held only when they differ from the defaults: most programs set none.
    pub limits: Extra,
}

/// Settings most programs leave unset: what the child sets on itself
/// before exec (`None`/empty: inherited), and what the daemon watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// With `autorestart = unexpected`: the exits that are expected.
    pub exitcodes: ExitCodes,
    /// Programs (section or process names) that must be met before this starts.
    pub depends_on: Vec<String>,
    /// Working directory; `None` = the directory `pman daemon` started in
    /// (also when that directory is written out).
    pub directory: Option<FilePath>,
    /// Variables added to the daemon's environment: `[pman] environment`
    /// first, then the program's own (later wins). `PMAN_PROCESS_NAME` etc.
    /// are added at spawn time, not here.
    pub environment: Vec<(String, String)>,
    /// `None` = the daemon's own umask (also when that one is written out).
    pub umask: Option<u32>,
    /// `name`, `uid` or `uid:gid`, as written.
    pub user: Option<String>,
    pub nice: Option<i32>,
    pub oom_score_adj: Option<i32>,
    /// In the order the keys are listed; each resource once.
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    /// With `ready = fd:N`: seconds a RUNNING program may go without a
    /// newline on fd N before it is restarted; 0 = off. (Kept here, with
    /// the other settings most programs leave unset.)
    pub watchdog: u32,
    /// Resident memory (bytes) of the main process past which it is
    /// restarted; 0 = none.
    pub memory_max: u64,
    /// `healthcheck`: the check's argv (empty: none), run every
    /// `interval` s while RUNNING, failed past `timeout` s; `retries`
    /// failures in a row restart the program.
    pub healthcheck: Argv,
    pub healthcheck_interval: u32,
    pub healthcheck_timeout: u32,
    pub healthcheck_retries: u32,
}

/// What [`Extra`] reads while a program holds no limits of its own.
static DEFAULT_LIMITS: Limits = Limits::DEFAULT;

impl Limits {
    pub const CHECK_INTERVAL: u32 = 30;
    pub const CHECK_TIMEOUT: u32 = 10;
    pub const CHECK_RETRIES: u32 = 3;

    /// What a program without any of these keys has.
    pub const DEFAULT: Limits = Limits {
        exitcodes: ExitCodes::ZERO,
        depends_on: Vec::new(),
        directory: None,
        environment: Vec::new(),
        umask: None,
        user: None,
        nice: None,
        oom_score_adj: None,
        rlimits: Vec::new(),
        no_new_privs: false,
        watchdog: 0,
        memory_max: 0,
        healthcheck: Argv::NONE,
        healthcheck_interval: Limits::CHECK_INTERVAL,
        healthcheck_timeout: Limits::CHECK_TIMEOUT,
        healthcheck_retries: Limits::CHECK_RETRIES,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// A program's [`Limits`]: no block at all while they are the defaults
/// (at 200 programs, a block each is 20 KB). Reads see the defaults;
/// a write makes the block, and [`Extra::settle`] drops it again if it
/// holds only defaults.
#[derive(Clone, Debug, Default)]
pub struct Extra(Option<Box<Limits>>);

impl Extra {
    pub fn settle(&mut self) {
        if self.0.as_deref() == Some(&DEFAULT_LIMITS) {
            self.0 = None;
        }
    }
}

impl std::ops::Deref for Extra {
    type Target = Limits;
    fn deref(&self) -> &Limits {
        self.0.as_deref().unwrap_or(&DEFAULT_LIMITS)
    }
}

impl std::ops::DerefMut for Extra {
    fn deref_mut(&mut self) -> &mut Limits {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Extra) -> bool {
        **self == **other
    }
}

impl Eq for Extra {}

/// One `rlimit_*` key: `u64::MAX` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// A command's arguments in one block, each ended by a NUL; an interior
/// NUL is held as the `?` the process gets for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Argv(Option<Box<[u8]>>);

impl Argv {
    /// No arguments.
    pub const NONE: Argv = Argv(None);

    /// Arguments each ended by a NUL ([`shlex::split`]).
    pub fn from_block(block: Vec<u8>) -> Argv {
        Argv((!block.is_empty()).then(|| block.into_boxed_slice()))
    }

    /// Each argument's bytes (UTF-8), in order.
    pub fn iter(&self) -> Args<'_> {
        Args(self.0.as_deref().unwrap_or_default())
    }

    /// The command.
    pub fn first(&self) -> Option<&[u8]> {
        self.iter().next()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// The arguments of an [`Argv`], in order.
pub struct Args<'a>(&'a [u8]);

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let (arg, rest) = self.0.split_at(end);
        self.0 = &rest[1..];
        Some(arg)
    }
}

/// `exitcodes`: a set of exit statuses 0..=255.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitCodes([u8; 32]);

impl ExitCodes {
    /// Just 0, the default.
    pub const ZERO: ExitCodes = ExitCodes::EMPTY.with(0);
    pub const EMPTY: ExitCodes = ExitCodes([0; 32]);

    /// This set and `code` (0..=255).
    pub const fn with(mut self, code: u8) -> ExitCodes {
        self.0[(code / 8) as usize] |= 1 << (code % 8);
        self
    }

    pub fn contains(&self, code: i32) -> bool {
        u8::try_from(code).is_ok_and(|c| self.0[(c / 8) as usize] & (1 << (c % 8)) != 0)
    }
}

impl ProgramConfig {
    /// The `[program:X]` section name; `X` and `X:*` select every process of it.
    pub fn group(&self) -> &str {
        self.section.as_deref().unwrap_or(&self.name)
    }

    /// A valid config never has an empty `argv`: this is a process of a
    /// `[program:X]` section with errors, kept only to be shown (see
    /// [`Config::unrun`]).
    pub fn is_unrun(&self) -> bool {
        self.argv.is_empty()
    }
}

/// `ready`: what makes a start count as RUNNING.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ready {
    /// Up `startsecs` seconds.
    Startsecs,
    /// A newline on this descriptor of the program (a pipe pman reads).
    Fd(i32),
    /// A TCP connect to this address succeeds (boxed: a program slot stays small).
    Tcp(Box<std::net::SocketAddr>),
    /// This path exists and changed since the fork.
    File(Box<FilePath>),
    /// The first passing `healthcheck`, tried every second.
    Healthcheck,
}

/// A whole validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Absolute path of the main file (kept for reloads).
    pub path: FilePath,
    pub pidfile: Option<FilePath>,
    /// `None`: the daemon's messages go to syslog (and stderr with `-f`).
    pub logfile: Option<FilePath>,
    pub logfile_maxbytes: u64,
    pub logfile_backups: u32,
    /// `@name` (abstract) or a filesystem path.
    pub socket: String,
    pub syslog_socket: FilePath,
    /// Config order: the main file's programs, then each included file's.
    pub programs: Vec<ProgramConfig>,
    /// Only in the config of [`Report::for_boot`]: each process of a
    /// `[program:X]` section with errors (in `programs`, never run) and the
    /// first error of its section, `FILE:LINE: message`.
    pub unrun: Vec<(String, String)>,
}

/// What `load` found: warnings (already formatted as
/// `FILE:LINE: text`, without the `pman: warning: ` prefix), notes (free
/// text, e.g. the supervisord defaults note), and the config or every error
/// (each formatted `FILE:LINE: message` or `FILE: message`), in file order.
/// `result` is all or nothing (`check`, `reload`); [`Report::for_boot`] is
/// what `pman daemon` runs.
#[derive(Debug)]
pub struct Report {
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub result: Result<Config, Vec<String>>,
    /// With errors that do not stop a boot: everything else of the config.
    boot: Option<Config>,
}

impl Report {
    /// What `pman daemon` runs, and the errors it reports while doing so:
    /// every valid program; each process of a `[program:X]` section with
    /// errors as a never-run entry (listed in [`Config::unrun`]); a bad
    /// `[pman]`/`[supervisord]` value at its default; an included file that
    /// cannot be read left out. `Err` only for what stops a boot: a main
    /// file that is missing, unreadable or refused by the root rule, or an
    /// invalid `socket`.
    pub fn for_boot(self) -> Result<(Config, Vec<String>), Vec<String>> {
        match (self.result, self.boot) {
            (Ok(config), _) => Ok((config, Vec::new())),
            (Err(errors), Some(config)) => Ok((config, errors)),
            (Err(errors), None) => Err(errors),
        }
    }
}

pub const DEFAULT_SOCKET: &str = "@pman";

/// Include files nested deeper than this are refused (a loop guard).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Reads, parses and validates the config at `path` and its includes.
/// As root, refuses any file someone else could edit.
pub fn load(path: &[u8]) -> Report {
    let mut loader = Loader::new(true);
    loader.read(&files::absolute(path), None, 0);
    loader.finish(files::absolute(path))
}

/// Parses `text` as the config file `path` without reading anything else:
/// includes are not followed and nothing on disk is checked.
/// The entry point of the config fuzz target.
pub fn parse_text(text: &str, path: &[u8]) -> Report {
    let mut loader = Loader::new(false);
    let path = files::absolute(path);
    let file = loader.diags.add_file(&path);
    loader.parse(text, file);
    loader.finish(path)
}

/// The socket the daemon of the config at `path` listens on, found the way
/// the daemon finds it: `[pman] socket` in the file or in any file it
/// includes, `%(ENV_X)s` seeing `[pman] environment`; `@pman` when none sets
/// it. Clients run this for every command, so only the `[pman]`,
/// `[supervisord]` and `[include]` sections are kept, and errors elsewhere
/// never stop a client. Errors, as the daemon reports them: a main file that
/// cannot be read (missing, not a regular file), or an invalid `socket`.
pub fn socket_name(path: &[u8]) -> Result<String, String> {
    let path = files::absolute(path);
    let mut loader = Loader::new(true);
    loader.only_globals = true;
    loader.read(&path, None, 0);
    let mut errors = std::mem::take(&mut loader.diags.errors);
    // The main file is file 0; line 0 is the file as a whole.
    errors.retain(|d| d.file == 0 && d.line == 0);
    if !errors.is_empty() {
        return Err(loader.diags.format(errors).into_iter().next().unwrap_or_default());
    }
    let sections = std::mem::take(&mut loader.sections);
    let env = build::global_environment(&sections, &mut loader.diags, &loader.host_name);
    let Some(entry) = sections.iter().find(|s| s.name == "pman").and_then(|s| s.get("socket")) else {
        return Ok(DEFAULT_SOCKET.to_string());
    };
    let dir = loader.diags.dir(entry.file).to_vec();
    match build::socket(entry, &dir, &loader.host_name, &env) {
        Ok(name) => Ok(name),
        Err(reason) => {
            // Only this error counts (an `environment` one is the daemon's to report).
            loader.diags.errors.clear();
            loader.diags.error(
                entry.file,
                entry.line,
                crate::text::concat("[pman] socket: {}", &[Str(&reason)]),
            );
            let errors = std::mem::take(&mut loader.diags.errors);
            Err(loader.diags.format(errors).into_iter().next().unwrap_or_default())
        }
    }
}

/// Warnings and errors pointing at a file and line (0: the whole file).
struct Diag {
    file: usize,
    line: usize,
    text: String,
    /// The `[program:X]` section a syntax error sits in (its program is not run).
    section: Option<String>,
}

/// The files read so far and what was said about them.
pub(crate) struct Diags {
    files: Vec<FilePath>,
    warnings: Vec<Diag>,
    errors: Vec<Diag>,
    notes: Vec<String>,
    /// An error that stops `pman daemon` (main file, `socket`) was found.
    stops_boot: bool,
}

impl Diags {
    fn add_file(&mut self, path: &[u8]) -> usize {
        self.files.push(path.into());
        self.files.len() - 1
    }

    /// The directory of file `file`, for relative paths and `%(here)s`.
    fn dir(&self, file: usize) -> &[u8] {
        self.files.get(file).and_then(|f| files::parent(f)).unwrap_or(b"/")
    }

    fn warn(&mut self, file: usize, line: usize, text: String) {
        self.warnings.push(Diag { file, line, text, section: None });
    }

    fn error(&mut self, file: usize, line: usize, text: String) {
        self.errors.push(Diag { file, line, text, section: None });
    }

    /// The first error (in file order) of section `name` among the errors
    /// from index `since` on and the syntax errors inside it, as
    /// `FILE:LINE: text`; `None` when it has none.
    fn first_error_of(&self, name: &str, since: usize) -> Option<String> {
        let mut first: Option<&Diag> = None;
        for (i, d) in self.errors.iter().enumerate() {
            let own = i >= since || d.section.as_deref() == Some(name);
            // The earliest; the first listed of those on one line.
            if own && first.map_or(true, |f| (d.file, d.line) < (f.file, f.line)) {
                first = Some(d);
            }
        }
        first.map(|d| self.line_of(d))
    }

    /// `FILE:LINE: text`, or `FILE: text` for the whole file.
    fn line_of(&self, d: &Diag) -> String {
        let file = self.files.get(d.file).map_or(&b""[..], |f| f.as_bytes());
        let text = one_line(&d.text);
        // Line 0 is the file as a whole; `:0` is left out.
        let line = if d.line == 0 { Str("") } else { Uint(d.line as u64) };
        let colon = if d.line == 0 { "" } else { ":" };
        concat("{}{}{}: {}", &[Bytes(file), Str(colon), line, Str(&text)])
    }

    /// `FILE:LINE: text` in file order, each message once.
    fn format(&self, list: Vec<Diag>) -> Vec<String> {
        // By file, then line, the index settling ties (every key unique).
        let order = sort::sorted(list.len(), &|a, b| {
            (list[a].file, list[a].line, a) < (list[b].file, list[b].line, b)
        });
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        // Duplicates (a bad key repeated by numprocs) share a file and line.
        let (mut group, mut group_start) = ((usize::MAX, 0), 0);
        for d in order.iter().filter_map(|&i| list.get(i)) {
            if (d.file, d.line) != group {
                group = (d.file, d.line);
                group_start = out.len();
            }
            let line = self.line_of(d);
            if !out.get(group_start..).is_some_and(|g| g.contains(&line)) {
                out.push(line);
            }
        }
        out
    }
}

/// A message quoting a multi-line value (continuation lines) stays one line:
/// users read one line per error, and `reload` sends each as one reply line.
/// Other control characters (an escape sequence) and bytes that were not
/// UTF-8 show as `?`: what a file says never reaches a terminal raw.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(crate::text::unshowable) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if crate::text::unshowable(c) => out.push('?'),
            c => out.push(c),
        }
    }
    out.into()
}

struct Loader {
    diags: Diags,
    sections: Vec<ini::Section>,
    /// The files already read, as (device, inode) from `stat`, so an include
    /// loop ends whatever path names a file; paths for what `stat` fails on.
    seen: Vec<(u64, u64)>,
    seen_paths: Vec<FilePath>,
    /// Whether to read includes and look at the disk (`false` for `parse_text`).
    disk: bool,
    /// Keep only `[pman]`, `[supervisord]` and `[include]`: what a client needs.
    only_globals: bool,
    euid: Option<u32>,
    host_name: String,
}

impl Loader {
    fn new(disk: bool) -> Loader {
        Loader {
            diags: Diags {
                files: Vec::new(),
                warnings: Vec::new(),
                errors: Vec::new(),
                notes: Vec::new(),
                stops_boot: false,
            },
            sections: Vec::new(),
            seen: Vec::new(),
            seen_paths: Vec::new(),
            disk,
            only_globals: false,
            euid: if disk { host::euid() } else { None },
            host_name: host::host_name(),
        }
    }

    /// Reads one file and, depth first, the files it includes. `site` is the
    /// `[include]` line that named it.
    fn read(&mut self, path: &[u8], site: Option<(usize, usize)>, depth: usize) {
        let before = files::stat(path).ok();
        let id = before.as_ref().map(|st| (st.dev, st.ino));
        if let Some((file, line)) = site {
            let seen = match id {
                Some(id) => self.seen.contains(&id),
                None => self.seen_paths.iter().any(|p| crate::path::same(p, path)),
            };
            if seen {
                self.diags.warn(file, line, concat("{} is already read; not included again", &[shown(path)]));
                return;
            }
            if depth > MAX_INCLUDE_DEPTH {
                self.diags.error(
                    file,
                    line,
                    crate::text::concat(
                        "includes nested deeper than {}",
                        &[crate::text::Part::Uint(MAX_INCLUDE_DEPTH as u64)],
                    ),
                );
                return;
            }
        }
        match id {
            Some(id) => self.seen.push(id),
            None => self.seen_paths.push(path.into()),
        }
        let file = self.diags.add_file(path);
        // A client reads the main file even where the root rule would refuse
        // it (the rule guards what runs, and its peer check guards who
        // answers), but skips included files as a root daemon does.
        let euid = if self.only_globals && site.is_none() { None } else { self.euid };
        let text = match files::read(path, euid, before.as_ref()) {
            Ok(text) => text,
            Err(reason) => {
                // An included file is left out; without the main file there is nothing to run.
                self.diags.stops_boot |= site.is_none();
                return self.diags.error(file, 0, reason);
            }
        };
        let includes = self.parse(&text, file);
        for (pattern, line) in includes {
            let found = files::glob(&pattern);
            if found.is_empty() {
                let text = concat("include {} matches no file", &[shown(&pattern)]);
                self.diags.warn(file, line, text);
            }
            for path in found {
                self.read(&path, Some((file, line)), depth + 1);
            }
        }
    }

    /// Parses one file's text into the merged sections; returns its include
    /// patterns (absolute) with their line.
    fn parse(&mut self, text: &str, file: usize) -> Vec<(FilePath, usize)> {
        let (sections, errors) = if self.only_globals {
            ini::parse_some(text, file, &|name| matches!(name, "pman" | "supervisord" | "include"))
        } else {
            ini::parse(text, file)
        };
        for (line, message) in errors {
            // A bad line inside a [program:X] section costs that program only.
            let inside = sections.iter().rev().find(|s| s.line <= line);
            let section = inside.filter(|s| s.name.starts_with("program:")).map(|s| s.name.clone());
            self.diags.errors.push(Diag { file, line, text: message, section });
        }
        let files_entry = sections.iter().rev().filter(|s| s.name == "include").find_map(|s| s.get("files"));
        let files_entry = files_entry.filter(|_| self.disk).map(|e| (e.value.clone(), e.line));
        for repeat in ini::merge(&mut self.sections, sections) {
            if repeat.name.starts_with("program:") {
                let (first_file, first_line) = repeat.first;
                let first = self.diags.files.get(first_file).map_or(&b""[..], |f| f.as_bytes());
                let text = concat(
                    "[{}] appears again (first at {}:{}); merged as Supervisor does, later values winning",
                    &[Str(&repeat.name), Bytes(first), Uint(first_line as u64)],
                );
                self.diags.warn(repeat.again.0, repeat.again.1, text);
            }
        }
        let mut patterns = Vec::new();
        if let Some((value, line)) = files_entry {
            // `%(ENV_X)s` sees the `environment` read so far; its errors are
            // reported once, when the config is built.
            let errors = self.diags.errors.len();
            let env = build::global_environment(&self.sections, &mut self.diags, &self.host_name);
            self.diags.errors.truncate(errors);
            let here = crate::text::lossy(self.diags.dir(file));
            let vars = expand::Vars {
                program: None,
                process_num: None,
                numprocs: None,
                here: &here,
                host: &self.host_name,
                env: &env,
            };
            match expand::expand(&value, &vars) {
                Ok(value) => {
                    let home = host::own_home();
                    for word in value.split(crate::text::is_space).filter(|w| !w.is_empty()) {
                        patterns.push((files::resolve(word, here.as_bytes(), &home), line));
                    }
                }
                Err(message) => {
                    self.diags.error(file, line, crate::text::concat("[include] files: {}", &[Str(&message)]))
                }
            }
        }
        patterns
    }

    fn finish(mut self, path: FilePath) -> Report {
        let sections = std::mem::take(&mut self.sections);
        let config = build::build(&sections, &mut self.diags, &self.host_name, self.disk, path);
        let warnings = std::mem::take(&mut self.diags.warnings);
        let warnings = self.diags.format(warnings);
        let notes = std::mem::take(&mut self.diags.notes);
        let errors = std::mem::take(&mut self.diags.errors);
        let errors = self.diags.format(errors);
        let (result, boot) = if errors.is_empty() {
            (Ok(config), None)
        } else if self.diags.stops_boot {
            (Err(errors), None)
        } else {
            (Err(errors), Some(config))
        };
        Report { warnings, notes, result, boot }
    }
}

#[cfg(test)]
mod tests;
