//! Which sections and keys exist: pman's own, their aliases, Supervisor's
//! that are accepted with a warning, and the nearest known name for a typo.

/// Program keys pman implements, by canonical name.
pub const PROGRAM: &[&str] = &[
    "command",
    "directory",
    "environment",
    "umask",
    "user",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "backoff",
    "backoff_max",
    "stopsignal",
    "stopwaitsecs",
    "killasgroup",
    "priority",
    "stdout",
    "stderr",
    "redirect_stderr",
    "stdout_maxbytes",
    "stderr_maxbytes",
    "stdout_backups",
    "stderr_backups",
    "numprocs",
    "numprocs_start",
    "process_name",
];

/// Other spellings of program keys (Supervisor's names); the later line wins.
const ALIASES: &[(&str, &str)] = &[
    ("stopasgroup", "killasgroup"),
    ("stdout_logfile", "stdout"),
    ("stderr_logfile", "stderr"),
    ("stdout_logfile_maxbytes", "stdout_maxbytes"),
    ("stderr_logfile_maxbytes", "stderr_maxbytes"),
    ("stdout_logfile_backups", "stdout_backups"),
    ("stderr_logfile_backups", "stderr_backups"),
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

pub const PMAN: &[&str] = &[
    "pidfile",
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "socket",
    "directory",
    "umask",
    "environment",
    "syslog_socket",
    "port",
];

/// `[supervisord]` keys pman reads; the others are ignored.
pub const SUPERVISORD_USED: &[&str] =
    &["environment", "pidfile", "logfile", "logfile_maxbytes", "logfile_backups"];

/// Supervisor sections accepted whole, with one warning each.
const SUPERVISOR_SECTIONS: &[&str] = &["supervisorctl", "unix_http_server", "inet_http_server"];
const SUPERVISOR_PREFIXES: &[&str] = &["rpcinterface:", "group:", "eventlistener:", "fcgi-program:"];

/// The canonical name of a program key, or `None` if pman does not use it.
pub fn program_key(key: &str) -> Option<&'static str> {
    if let Some(k) = PROGRAM.iter().find(|k| **k == key) {
        return Some(k);
    }
    ALIASES.iter().find(|(alias, _)| *alias == key).map(|(_, k)| *k)
}

/// Every name a program key may have, for typo suggestions.
pub fn all_program_keys() -> impl Iterator<Item = &'static str> {
    PROGRAM.iter().copied().chain(ALIASES.iter().map(|(a, _)| *a)).chain(PROGRAM_IGNORED.iter().copied())
}

pub fn is_supervisor_section(name: &str) -> bool {
    SUPERVISOR_SECTIONS.contains(&name) || SUPERVISOR_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The closest section name to an unknown `name`.
pub fn nearest_section(name: &str) -> String {
    let (kind, rest) = match name.split_once(':') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (name, None),
    };
    let kinds = ["program", "rpcinterface", "group", "eventlistener", "fcgi-program"];
    match rest {
        Some(rest) => format!("{}:{rest}", nearest(kind, kinds.iter().copied())),
        None => {
            let plain =
                ["pman", "include", "supervisord", "supervisorctl", "unix_http_server", "inet_http_server"];
            nearest(name, plain.iter().copied()).to_string()
        }
    }
}

/// The candidate with the smallest edit distance to `word` (first on ties).
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> &'a str {
    let mut best = ("", usize::MAX);
    for c in candidates {
        let d = distance(word, c);
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

/// Levenshtein distance over bytes.
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev_diag = i;
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let cost = usize::from(ca != *cb);
            let value = (above + 1).min(left + 1).min(prev_diag + cost);
            prev_diag = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(nearest("auto_start", all_program_keys()), "autostart");
        assert_eq!(nearest("comand", all_program_keys()), "command");
        assert_eq!(nearest("dependent_startup", all_program_keys()), "autostart");
        assert_eq!(nearest_section("programs:web"), "program:web");
        assert_eq!(nearest_section("pmna"), "pman");
    }

    #[test]
    fn aliases_and_sections() {
        assert_eq!(program_key("stopasgroup"), Some("killasgroup"));
        assert_eq!(program_key("stdout_logfile_maxbytes"), Some("stdout_maxbytes"));
        assert_eq!(program_key("serverurl"), None);
        assert!(is_supervisor_section("rpcinterface:supervisor"));
        assert!(is_supervisor_section("unix_http_server"));
        assert!(!is_supervisor_section("program:x"));
    }
}
