//! Which sections and keys exist: one table of program keys (pman's own,
//! their aliases, how each is read and its default, and other supervisors'
//! keys with what pman says about them), the `[pman]` keys, and the nearest
//! known name for a typo.

use super::{AutoRestart, Limits, ProgramConfig};
use crate::text::Part::Str;

/// How a program key is read and where its value goes; defaults inline.
pub enum Kind {
    /// Read by hand where the program is built (expansion into paths, argv,
    /// names, or keys read together).
    Special,
    Flag(fn(&mut ProgramConfig) -> &mut bool, bool),
    Count(fn(&mut ProgramConfig) -> &mut u32, u32),
    /// A count of at least 1.
    Positive(fn(&mut ProgramConfig) -> &mut u32, u32),
    Size(fn(&mut ProgramConfig) -> &mut u64, u64),
    Integer(fn(&mut ProgramConfig) -> &mut i32, i32),
    /// An integer from the first bound to the second; unset when absent.
    Ranged(fn(&mut ProgramConfig) -> &mut Option<i32>, i32, i32),
    /// `rlimit_*`: the resource, and whether its values are sizes in bytes.
    Rlimit(i32, bool),
    Signal(fn(&mut ProgramConfig) -> &mut i32, i32),
    /// `startretries`: a count or `infinite`.
    Retries(Option<u32>),
    /// `exitcodes`: the one code of the default.
    ExitCodes(u8),
    AutoRestart(AutoRestart),
    /// Another supervisor's key, which pman does not implement; `true` when
    /// a typo of a pman key may be it (it is suggested).
    Foreign(Foreign, bool),
}

/// One program key: its name, its other names (the later line wins among
/// all of them), and how it is read.
pub struct Key {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
}

const fn key(name: &'static str, aliases: &'static [&'static str], kind: Kind) -> Key {
    Key { name, aliases, kind }
}

/// The default of `stdout_maxbytes`, `stderr_maxbytes` and `logfile_maxbytes`.
pub const DEFAULT_MAXBYTES: u64 = 256 * 1024;

/// Every program key, in the order pman's documentation lists them (typo
/// suggestions prefer the first on ties); Supervisor's names are aliases.
/// Other supervisors' keys follow.
pub const PROGRAM: &[Key] = &[
    key("command", &[], Kind::Special),
    key("directory", &[], Kind::Special),
    key("environment", &[], Kind::Special),
    key("umask", &[], Kind::Special),
    key("user", &[], Kind::Special),
    key("autostart", &[], Kind::Flag(|p| &mut p.autostart, true)),
    key("autorestart", &[], Kind::AutoRestart(AutoRestart::Always)),
    key("exitcodes", &[], Kind::ExitCodes(0)),
    key("startsecs", &[], Kind::Count(|p| &mut p.startsecs, 1)),
    key("startretries", &[], Kind::Retries(None)),
    key("backoff", &[], Kind::Count(|p| &mut p.backoff, 1)),
    key("backoff_max", &[], Kind::Count(|p| &mut p.backoff_max, 60)),
    key("backoff_reset", &[], Kind::Count(|p| &mut p.backoff_reset, 60)),
    key("depends_on", &[], Kind::Special),
    key("ready", &[], Kind::Special),
    key("ready_timeout", &[], Kind::Count(|p| &mut p.ready_timeout, 60)),
    key("watchdog", &[], Kind::Count(|p| &mut p.limits.watchdog, 0)),
    key("memory_max", &[], Kind::Size(|p| &mut p.limits.memory_max, 0)),
    key("healthcheck", &[], Kind::Special),
    key(
        "healthcheck_interval",
        &[],
        Kind::Positive(|p| &mut p.limits.healthcheck_interval, Limits::CHECK_INTERVAL),
    ),
    key(
        "healthcheck_timeout",
        &[],
        Kind::Positive(|p| &mut p.limits.healthcheck_timeout, Limits::CHECK_TIMEOUT),
    ),
    key(
        "healthcheck_retries",
        &[],
        Kind::Positive(|p| &mut p.limits.healthcheck_retries, Limits::CHECK_RETRIES),
    ),
    key("stopsignal", &[], Kind::Signal(|p| &mut p.stopsignal, libc::SIGTERM)),
    key("stopwaitsecs", &[], Kind::Count(|p| &mut p.stopwaitsecs, 10)),
    key("killasgroup", &["stopasgroup"], Kind::Flag(|p| &mut p.killasgroup, true)),
    key("priority", &[], Kind::Integer(|p| &mut p.priority, 999)),
    key("stdout", &["stdout_logfile"], Kind::Special),
    key("stderr", &["stderr_logfile"], Kind::Special),
    key("redirect_stderr", &[], Kind::Flag(|p| &mut p.redirect_stderr, false)),
    key(
        "stdout_maxbytes",
        &["stdout_logfile_maxbytes"],
        Kind::Size(|p| &mut p.stdout_maxbytes, DEFAULT_MAXBYTES),
    ),
    key(
        "stderr_maxbytes",
        &["stderr_logfile_maxbytes"],
        Kind::Size(|p| &mut p.stderr_maxbytes, DEFAULT_MAXBYTES),
    ),
    key("stdout_backups", &["stdout_logfile_backups"], Kind::Count(|p| &mut p.stdout_backups, 1)),
    key("stderr_backups", &["stderr_logfile_backups"], Kind::Count(|p| &mut p.stderr_backups, 1)),
    key("numprocs", &[], Kind::Special),
    key("numprocs_start", &[], Kind::Special),
    key("process_name", &[], Kind::Special),
    // Applied by the child before exec.
    key("nice", &[], Kind::Ranged(|p| &mut p.limits.nice, -20, 19)),
    key("oom_score_adj", &[], Kind::Ranged(|p| &mut p.limits.oom_score_adj, -1000, 1000)),
    key("rlimit_nofile", &[], Kind::Rlimit(libc::RLIMIT_NOFILE as i32, false)),
    key("rlimit_core", &[], Kind::Rlimit(libc::RLIMIT_CORE as i32, true)),
    key("rlimit_as", &[], Kind::Rlimit(libc::RLIMIT_AS as i32, true)),
    key("rlimit_data", &[], Kind::Rlimit(libc::RLIMIT_DATA as i32, true)),
    key("rlimit_stack", &[], Kind::Rlimit(libc::RLIMIT_STACK as i32, true)),
    key("rlimit_nproc", &[], Kind::Rlimit(libc::RLIMIT_NPROC as i32, false)),
    key("rlimit_memlock", &[], Kind::Rlimit(libc::RLIMIT_MEMLOCK as i32, true)),
    key("rlimit_fsize", &[], Kind::Rlimit(libc::RLIMIT_FSIZE as i32, true)),
    key("rlimit_cpu", &[], Kind::Rlimit(libc::RLIMIT_CPU as i32, false)),
    key("no_new_privs", &[], Kind::Flag(|p| &mut p.limits.no_new_privs, false)),
    // Supervisor's, accepted and ignored.
    key("serverurl", &[], Kind::Foreign(Foreign::Supervisor, true)),
    key("stdout_capture_maxbytes", &[], Kind::Foreign(Foreign::Supervisor, true)),
    key("stderr_capture_maxbytes", &[], Kind::Foreign(Foreign::Supervisor, true)),
    key("stdout_events_enabled", &[], Kind::Foreign(Foreign::Supervisor, true)),
    key("stderr_events_enabled", &[], Kind::Foreign(Foreign::Supervisor, true)),
    key("stdout_syslog", &[], Kind::Foreign(Foreign::Syslog("stdout"), true)),
    key("stderr_syslog", &[], Kind::Foreign(Foreign::Syslog("stderr"), true)),
    // matsune/pman's program `logfile`.
    key("logfile", &[], Kind::Foreign(Foreign::MatsuneLogfile, false)),
    // ochinchina/supervisord's (a Go rewrite of Supervisor), with no counterpart.
    key("envfiles", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restartpause", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_when_binary_changed", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_cmd_when_binary_changed", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_signal_when_binary_changed", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_directory_monitor", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_file_pattern", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_cmd_when_file_changed", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("restart_signal_when_file_changed", &[], Kind::Foreign(Foreign::Ochinchina, false)),
    key("cron", &[], Kind::Foreign(Foreign::Ochinchina, false)),
];

/// The name of the `rlimit_*` key for `resource`.
pub fn rlimit_name(resource: i32) -> &'static str {
    let row = PROGRAM.iter().find(|k| matches!(k.kind, Kind::Rlimit(r, _) if r == resource));
    row.map_or("rlimit", |k| k.name)
}

/// What a program key that pman does not implement gets said about it,
/// beyond "unknown": a word of its own for keys other supervisors use.
#[derive(Clone, Copy)]
pub enum Foreign {
    /// Supervisor's, accepted and ignored.
    Supervisor,
    /// Supervisor's `stdout_syslog`/`stderr_syslog`: pman says `STREAM = syslog`.
    Syslog(&'static str),
    /// matsune/pman's program `logfile`: pman's key is `stdout`.
    MatsuneLogfile,
    /// ochinchina/supervisord's.
    Ochinchina,
}

impl Foreign {
    /// What the warning says after the key.
    pub fn says(self) -> &'static str {
        match self {
            Foreign::Supervisor => "is a Supervisor option pman does not implement; ignored",
            Foreign::Syslog("stdout") => "is Supervisor's; pman: use stdout = syslog; ignored",
            Foreign::Syslog(_) => "is Supervisor's; pman: use stderr = syslog; ignored",
            Foreign::MatsuneLogfile => "is matsune/pman's; pman: use stdout (and stderr); ignored",
            Foreign::Ochinchina => "is ochinchina/supervisord's, not supported by pman; ignored",
        }
    }
}

/// The row of the table that names `key` (lower-cased), aliases included.
fn row(key: &str) -> Option<&'static Key> {
    PROGRAM.iter().find(|k| k.name == key || k.aliases.contains(&key))
}

/// The row (an index into [`PROGRAM`]) of the program key pman implements
/// under the name `key`, or `None`.
pub fn program_key(key: &str) -> Option<usize> {
    PROGRAM
        .iter()
        .position(|k| (k.name == key || k.aliases.contains(&key)) && !matches!(k.kind, Kind::Foreign(..)))
}

/// The row of the program key named `name`, at compile time (a name not
/// in the table does not compile).
pub const fn index(name: &str) -> usize {
    let mut i = 0;
    while i < PROGRAM.len() {
        let (a, b) = (PROGRAM[i].name.as_bytes(), name.as_bytes());
        let mut j = 0;
        while j < a.len() && j < b.len() && a[j] == b[j] {
            j += 1;
        }
        if j == a.len() && j == b.len() {
            return i;
        }
        i += 1;
    }
    panic!("not a program key")
}

pub fn foreign_program_key(key: &str) -> Option<Foreign> {
    // Supervisor's `stdout_syslog`, and spellings like `stdout_logfile_syslog`.
    if let Some(stream) = key.strip_suffix("_syslog").and_then(|k| k.get(..6)) {
        match stream {
            "stdout" => return Some(Foreign::Syslog("stdout")),
            "stderr" => return Some(Foreign::Syslog("stderr")),
            _ => {}
        }
    }
    match row(key)?.kind {
        Kind::Foreign(foreign, _) => Some(foreign),
        _ => None,
    }
}

/// `[pman]` keys, in the order pman's documentation lists them, and whether
/// pman also reads it from `[supervisord]` (`[pman]` wins where both set one).
pub const PMAN: &[(&str, bool)] = &[
    ("pidfile", true),
    ("logfile", true),
    ("logfile_maxbytes", true),
    ("logfile_backups", true),
    ("directory", true),
    ("umask", true),
    ("socket", false),
    ("environment", true),
    ("syslog_socket", false),
    ("port", false),
];

/// The `[pman]` key names.
pub fn pman_keys() -> impl Iterator<Item = &'static str> {
    PMAN.iter().map(|(name, _)| *name)
}

/// The `[supervisord]` keys pman reads (the others are ignored), as its
/// warning lists them: the rows of [`PMAN`] marked `true` (a test holds them equal).
pub const SUPERVISORD_KEYS: &str =
    "pidfile, logfile, logfile_maxbytes, logfile_backups, directory, umask, environment";

/// Supervisor sections accepted whole, with one warning each.
const SUPERVISOR_SECTIONS: &[&str] = &["supervisorctl", "unix_http_server", "inet_http_server"];
const SUPERVISOR_PREFIXES: &[&str] =
    &["rpcinterface:", "group:", "eventlistener:", "fcgi-program:", "ctlplugin:"];

/// Every name a program key may have, for typo suggestions, in the order
/// ties are settled.
pub fn all_program_keys() -> impl Iterator<Item = &'static str> {
    let suggested = |k: &&Key| !matches!(k.kind, Kind::Foreign(_, false));
    PROGRAM.iter().filter(suggested).flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
}

pub fn is_supervisor_section(name: &str) -> bool {
    SUPERVISOR_SECTIONS.contains(&name) || SUPERVISOR_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A known section name close to an unknown `name`, if there is one.
pub fn nearest_section(name: &str) -> Option<String> {
    let (kind, rest) = match name.split_once(':') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (name, None),
    };
    // Static tables: an array built on the stack is an instruction pair per name.
    const KINDS: &[&str] =
        &["program", "group", "eventlistener", "fcgi-program", "rpcinterface", "ctlplugin"];
    const PLAIN: &[&str] =
        &["pman", "include", "supervisord", "supervisorctl", "unix_http_server", "inet_http_server"];
    match rest {
        Some(rest) => {
            nearest(kind, KINDS.iter().copied()).map(|k| crate::text::concat("{}:{}", &[Str(k), Str(rest)]))
        }
        None => nearest(name, PLAIN.iter().copied()).map(str::to_string),
    }
}

/// Suggestions go no further than this many edits.
const MAX_SUGGESTION_DISTANCE: usize = 2;

/// The candidate closest to `word` (the first on ties), if it is at most
/// [`MAX_SUGGESTION_DISTANCE`] edits away: farther ones would mislead.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    closest(word, &mut { candidates })
}

/// [`nearest`], one body for every kind of candidate list.
fn closest<'a>(word: &str, candidates: &mut dyn Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best = None;
    let mut best_distance = MAX_SUGGESTION_DISTANCE + 1;
    for c in candidates {
        // More letters apart than that is farther anyway (and keeps a long key cheap).
        if word.len().abs_diff(c.len()) > MAX_SUGGESTION_DISTANCE {
            continue;
        }
        let d = distance(word, c);
        if d < best_distance {
            best = Some(c);
            best_distance = d;
        }
    }
    best
}

/// Optimal-string-alignment (restricted Damerau-Levenshtein) distance over
/// bytes: insertions, deletions, substitutions and swaps of neighbours.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Three rows of the table: two back, the last, and this one.
    let mut two: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let mut v = (last[j + 1] + 1).min(row[j] + 1).min(last[j] + usize::from(x != y));
            if i > 0 && j > 0 && x == b[j - 1] && a[i - 1] == y {
                v = v.min(two[j - 1] + 1);
            }
            row[j + 1] = v;
        }
        std::mem::swap(&mut two, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("autorestrat", "autorestart"), 1);
        assert_eq!(distance("ca", "abc"), 3);
        assert_eq!(nearest("auto_start", all_program_keys()), Some("autostart"));
        assert_eq!(nearest("autorestrat", all_program_keys()), Some("autorestart"));
        assert_eq!(nearest("comand", all_program_keys()), Some("command"));
        assert_eq!(nearest("dependent_startup", all_program_keys()), None);
        assert_eq!(nearest("depend_on", all_program_keys()), Some("depends_on"));
        // One edit from both: the one listed first wins.
        assert_eq!(nearest("stdout_backup", all_program_keys()), Some("stdout_backups"));
        assert_eq!(nearest("stdxxx", ["stdout", "stderr"].into_iter()), None);
        assert_eq!(nearest("stdeut", ["stdout", "stderr"].into_iter()), Some("stdout"));
        assert_eq!(nearest_section("programs:web").as_deref(), Some("program:web"));
        assert_eq!(nearest_section("pmna").as_deref(), Some("pman"));
        assert_eq!(nearest_section("services"), None);
    }

    #[test]
    fn supervisord_keys_are_the_pman_rows_read_from_both() {
        let both: Vec<&str> = PMAN.iter().filter(|(_, both)| *both).map(|(name, _)| *name).collect();
        assert_eq!(SUPERVISORD_KEYS, both.join(", "));
    }

    #[test]
    fn aliases_and_sections() {
        assert_eq!(program_key("stopasgroup").map(|i| PROGRAM[i].name), Some("killasgroup"));
        assert_eq!(program_key("stdout_logfile_maxbytes").map(|i| PROGRAM[i].name), Some("stdout_maxbytes"));
        assert!(program_key("serverurl").is_none());
        assert!(program_key("cron").is_none());
        assert!(is_supervisor_section("rpcinterface:supervisor"));
        assert!(is_supervisor_section("unix_http_server"));
        assert!(is_supervisor_section("ctlplugin:x"));
        assert!(!is_supervisor_section("program:x"));
        assert!(matches!(foreign_program_key("envfiles"), Some(Foreign::Ochinchina)));
        assert!(matches!(foreign_program_key("stderr_syslog"), Some(Foreign::Syslog("stderr"))));
        assert!(matches!(foreign_program_key("stdout_logfile_syslog"), Some(Foreign::Syslog("stdout"))));
        assert!(foreign_program_key("std_syslog").is_none());
        assert!(matches!(foreign_program_key("logfile"), Some(Foreign::MatsuneLogfile)));
        assert!(foreign_program_key("depends_on").is_none() && program_key("depends_on").is_some());
    }
}
