//! Which sections and keys exist: pman's own, their aliases, Supervisor's
//! that are accepted with a warning, and the nearest known name for a typo.

/// Every name of a program key pman implements, with its canonical name, in
/// the order pman's documentation lists them (typo suggestions prefer the
/// first on ties); Supervisor's names are aliases (the later line wins).
const PROGRAM: &[(&str, &str)] = &[
    ("command", "command"),
    ("directory", "directory"),
    ("environment", "environment"),
    ("umask", "umask"),
    ("user", "user"),
    ("autostart", "autostart"),
    ("autorestart", "autorestart"),
    ("exitcodes", "exitcodes"),
    ("startsecs", "startsecs"),
    ("startretries", "startretries"),
    ("backoff", "backoff"),
    ("backoff_max", "backoff_max"),
    ("stopsignal", "stopsignal"),
    ("stopwaitsecs", "stopwaitsecs"),
    ("killasgroup", "killasgroup"),
    ("priority", "priority"),
    ("stdout", "stdout"),
    ("stdout_logfile", "stdout"),
    ("stderr", "stderr"),
    ("stderr_logfile", "stderr"),
    ("redirect_stderr", "redirect_stderr"),
    ("stdout_maxbytes", "stdout_maxbytes"),
    ("stderr_maxbytes", "stderr_maxbytes"),
    ("stdout_logfile_maxbytes", "stdout_maxbytes"),
    ("stderr_logfile_maxbytes", "stderr_maxbytes"),
    ("stdout_backups", "stdout_backups"),
    ("stderr_backups", "stderr_backups"),
    ("stdout_logfile_backups", "stdout_backups"),
    ("stderr_logfile_backups", "stderr_backups"),
    ("numprocs", "numprocs"),
    ("numprocs_start", "numprocs_start"),
    ("process_name", "process_name"),
    ("stopasgroup", "killasgroup"),
];

/// Supervisor program keys pman accepts and ignores, with a warning.
pub const PROGRAM_IGNORED: &[&str] = &[
    "serverurl",
    "stdout_capture_maxbytes",
    "stderr_capture_maxbytes",
    "stdout_events_enabled",
    "stderr_events_enabled",
    "stdout_syslog",
    "stderr_syslog",
];

/// Program keys of ochinchina/supervisord (a Go rewrite of Supervisor) that
/// pman has no counterpart for. Lower-cased, as keys are compared.
const OCHINCHINA: &[&str] = &[
    "envfiles",
    "restartpause",
    "restart_when_binary_changed",
    "restart_cmd_when_binary_changed",
    "restart_signal_when_binary_changed",
    "restart_directory_monitor",
    "restart_file_pattern",
    "restart_cmd_when_file_changed",
    "restart_signal_when_file_changed",
    "cron",
];

/// What a program key that pman does not implement gets said about it,
/// beyond "unknown": a word of its own for keys other supervisors use.
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

pub fn foreign_program_key(key: &str) -> Option<Foreign> {
    // Supervisor's `stdout_syslog`, and spellings like `stdout_logfile_syslog`.
    if let Some(stream) = key.strip_suffix("_syslog").and_then(|k| k.get(..6)) {
        match stream {
            "stdout" => return Some(Foreign::Syslog("stdout")),
            "stderr" => return Some(Foreign::Syslog("stderr")),
            _ => {}
        }
    }
    match key {
        "logfile" => Some(Foreign::MatsuneLogfile),
        k if PROGRAM_IGNORED.contains(&k) => Some(Foreign::Supervisor),
        k if OCHINCHINA.contains(&k) => Some(Foreign::Ochinchina),
        _ => None,
    }
}

/// `[pman]` keys, in the order pman's documentation lists them.
pub const PMAN: &[&str] = &[
    "pidfile",
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "directory",
    "umask",
    "socket",
    "environment",
    "syslog_socket",
    "port",
];

/// `[supervisord]` keys pman reads (`[pman]` wins where both set one); the
/// others are ignored.
pub const SUPERVISORD_USED: &[&str] =
    &["pidfile", "logfile", "logfile_maxbytes", "logfile_backups", "directory", "umask", "environment"];

/// Supervisor sections accepted whole, with one warning each.
const SUPERVISOR_SECTIONS: &[&str] = &["supervisorctl", "unix_http_server", "inet_http_server"];
const SUPERVISOR_PREFIXES: &[&str] =
    &["rpcinterface:", "group:", "eventlistener:", "fcgi-program:", "ctlplugin:"];

/// The canonical name of a program key, or `None` if pman does not use it.
pub fn program_key(key: &str) -> Option<&'static str> {
    PROGRAM.iter().find(|(name, _)| *name == key).map(|(_, canonical)| *canonical)
}

/// Every name a program key may have, for typo suggestions, in the order
/// ties are settled.
pub fn all_program_keys() -> impl Iterator<Item = &'static str> {
    PROGRAM.iter().map(|(name, _)| *name).chain(PROGRAM_IGNORED.iter().copied())
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
    let kinds = ["program", "group", "eventlistener", "fcgi-program", "rpcinterface", "ctlplugin"];
    match rest {
        Some(rest) => nearest(kind, kinds.iter().copied()).map(|k| format!("{k}:{rest}")),
        None => {
            let plain =
                ["pman", "include", "supervisord", "supervisorctl", "unix_http_server", "inet_http_server"];
            nearest(name, plain.iter().copied()).map(str::to_string)
        }
    }
}

/// Suggestions go no further than this many edits.
const MAX_SUGGESTION_DISTANCE: usize = 2;

/// The candidate closest to `word` (the first on ties), if it is at most
/// [`MAX_SUGGESTION_DISTANCE`] edits away: farther ones would mislead.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
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
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..w {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
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
        assert_eq!(nearest("depends_on", all_program_keys()), None);
        // One edit from both: the one listed first wins.
        assert_eq!(nearest("stdout_backup", all_program_keys()), Some("stdout_backups"));
        assert_eq!(nearest("stdxxx", ["stdout", "stderr"].into_iter()), None);
        assert_eq!(nearest("stdeut", ["stdout", "stderr"].into_iter()), Some("stdout"));
        assert_eq!(nearest_section("programs:web").as_deref(), Some("program:web"));
        assert_eq!(nearest_section("pmna").as_deref(), Some("pman"));
        assert_eq!(nearest_section("services"), None);
    }

    #[test]
    fn aliases_and_sections() {
        assert_eq!(program_key("stopasgroup"), Some("killasgroup"));
        assert_eq!(program_key("stdout_logfile_maxbytes"), Some("stdout_maxbytes"));
        assert_eq!(program_key("serverurl"), None);
        assert!(is_supervisor_section("rpcinterface:supervisor"));
        assert!(is_supervisor_section("unix_http_server"));
        assert!(is_supervisor_section("ctlplugin:x"));
        assert!(!is_supervisor_section("program:x"));
        assert!(matches!(foreign_program_key("envfiles"), Some(Foreign::Ochinchina)));
        assert!(matches!(foreign_program_key("stderr_syslog"), Some(Foreign::Syslog("stderr"))));
        assert!(matches!(foreign_program_key("stdout_logfile_syslog"), Some(Foreign::Syslog("stdout"))));
        assert!(foreign_program_key("std_syslog").is_none());
        assert!(matches!(foreign_program_key("logfile"), Some(Foreign::MatsuneLogfile)));
        assert!(foreign_program_key("depends_on").is_none());
    }
}
