//! Status lines and `status --json`, exactly as SPEC.md fixes them.

use super::program::{Program, State};
use crate::signals;
use crate::sys::Exit;
use crate::sys::Instant;
pub use crate::text::{one_line, push_one_line};
use crate::text::{unshowable, Text};

/// `[NAME] STATE details…` without a newline.
/// `waiting`: the unmet dependencies of a WAITING program.
pub fn line(out: &mut Text, name: &str, p: &Program, now: Instant, waiting: &[&str]) {
    out.byte(b'[').str(name).str("] ").str(p.state.name());
    if p.state == State::Waiting {
        out.str(" for:");
        for dep in waiting {
            out.byte(b' ').str(dep);
        }
    }
    let shows_pid = matches!(p.state, State::Starting | State::Running | State::Stopping);
    if let (true, Some(pid)) = (shows_pid, p.pid) {
        out.str(" pid: ").int(pid.into());
    }
    if p.state == State::Running {
        out.str(" uptime: ");
        uptime(out, p.started_at.map_or(0, |t| now.secs_since(t)));
    }
    if matches!(p.state, State::Backoff | State::ClearingGroup | State::Exited | State::Fatal) {
        match p.last_exit {
            Some(Exit::Code(code)) => {
                out.str(" exit: ").int(code.into());
            }
            Some(Exit::Signal(signal)) => {
                out.str(" signal: ");
                signal_name(out, signal);
            }
            None => {}
        }
    }
    if let Some(secs) = retry_in(p, now) {
        out.str(" retry in: ").uint(secs.into()).byte(b's');
    }
    // RUNNING: a failing health check's reason; STOPPING: why (a health
    // restart, not ready in time).
    let shows_reason = matches!(
        p.state,
        State::Backoff | State::ClearingGroup | State::Fatal | State::Running | State::Stopping
    );
    if shows_reason {
        if let Some(reason) = &p.reason {
            out.byte(b' ');
            push_one_line(out, reason);
        }
    }
}

/// `HH:MM:SS`, or `D-HH:MM:SS` from one day on (u32: 136 years).
pub fn uptime(out: &mut Text, secs: u32) {
    let (days, rest) = (secs / 86400, secs % 86400);
    if days > 0 {
        out.uint(days.into()).byte(b'-');
    }
    out.pad2((rest / 3600).into())
        .byte(b':')
        .pad2((rest % 3600 / 60).into())
        .byte(b':')
        .pad2((rest % 60).into());
}

fn signal_name(out: &mut Text, signal: i32) {
    match signals::name(signal) {
        Some(name) => out.str(name),
        None => out.int(signal.into()),
    };
}

/// One JSON object (no trailing comma). `health`: see [`super::table::Slot::health`].
pub fn json(
    out: &mut Text,
    name: &str,
    p: &Program,
    now: Instant,
    log_errors: u64,
    waiting: &[&str],
    health: Option<&str>,
) {
    out.str("{\"name\":");
    json_string(out, name);
    out.str(",\"state\":\"").str(p.state.name()).str("\",\"pid\":");
    let pid =
        if matches!(p.state, State::Starting | State::Running | State::Stopping) { p.pid } else { None };
    match pid {
        Some(pid) => out.int(pid.into()),
        None => out.str("null"),
    };
    out.str(",\"uptime\":");
    match (p.state, p.started_at) {
        (State::Running, Some(t)) => out.uint(now.secs_since(t).into()),
        _ => out.str("null"),
    };
    match p.last_exit {
        Some(Exit::Code(code)) => {
            out.str(",\"exit_code\":").int(code.into()).str(",\"exit_signal\":null");
        }
        Some(Exit::Signal(signal)) => {
            out.str(",\"exit_code\":null,\"exit_signal\":\"");
            signal_name(out, signal);
            out.byte(b'"');
        }
        None => {
            out.str(",\"exit_code\":null,\"exit_signal\":null");
        }
    }
    out.str(",\"restarts\":").uint(p.restarts.into()).str(",\"reason\":");
    match &p.reason {
        Some(reason) => json_one_line(out, reason),
        None => {
            out.str("null");
        }
    }
    out.str(",\"log_errors\":").uint(log_errors).str(",\"retry_in\":");
    match retry_in(p, now) {
        Some(secs) => out.uint(secs.into()),
        None => out.str("null"),
    };
    out.str(",\"last_restart_reason\":");
    match &p.last_restart_reason {
        Some(reason) => json_one_line(out, reason),
        None => {
            out.str("null");
        }
    }
    out.str(",\"waiting_for\":[");
    for (n, dep) in waiting.iter().enumerate() {
        if n > 0 {
            out.byte(b',');
        }
        json_string(out, dep);
    }
    out.str("],\"health\":");
    match health {
        Some(word) => out.byte(b'"').str(word).byte(b'"'),
        None => out.str("null"),
    };
    super::usage::json_fields(out, pid);
    out.byte(b'}');
}

/// Whole seconds until a BACKOFF retry, rounded up.
fn retry_in(p: &Program, now: Instant) -> Option<u32> {
    let deadline = p.deadline.filter(|_| p.state == State::Backoff)?;
    Some(now.secs_until(deadline))
}

/// A JSON string of `text` shown as one line (see [`push_one_line`]).
fn json_one_line(out: &mut Text, text: &str) {
    out.byte(b'"');
    let mut shown = 0;
    for (at, c) in text.char_indices() {
        if unshowable(c) || c == '"' || c == '\\' {
            out.str(&text[shown..at]);
            out.str(if unshowable(c) {
                "?"
            } else if c == '"' {
                "\\\""
            } else {
                "\\\\"
            });
            shown = at + c.len_utf8();
        }
    }
    out.str(&text[shown..]).byte(b'"');
}

/// A JSON string (one writer for status and the rpcd replies).
pub fn json_string(out: &mut Text, s: &str) {
    crate::json::string(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_formats() {
        let mut s = Text::new();
        uptime(&mut s, 4);
        assert_eq!(s.to_str_lossy(), "00:00:04");
        s.clear();
        uptime(&mut s, 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
        assert_eq!(s.to_str_lossy(), "2-03:04:05");
        s.clear();
        uptime(&mut s, u32::MAX);
        assert_eq!(s.to_str_lossy(), "49710-06:28:15");
    }

    #[test]
    fn lines() {
        let started = Instant::now();
        let now = started.after_secs(4);
        let mut p = Program::new();
        let mut s = Text::new();
        line(&mut s, "sleep", &p, now, &[]);
        assert_eq!(s.to_str_lossy(), "[sleep] STOPPED");

        p.state = State::Running;
        p.pid = Some(15283);
        p.started_at = Some(started);
        s.clear();
        line(&mut s, "sleep", &p, now, &[]);
        assert_eq!(s.to_str_lossy(), "[sleep] RUNNING pid: 15283 uptime: 00:00:04");

        let mut p = Program::new();
        p.state = State::Backoff;
        p.last_exit = Some(Exit::Code(127));
        p.deadline = Some(now.after_ms(3500));
        p.reason = Some("exec /nope: No such file or directory".into());
        s.clear();
        line(&mut s, "bad", &p, now, &[]);
        assert_eq!(
            s.to_str_lossy(),
            "[bad] BACKOFF exit: 127 retry in: 4s exec /nope: No such file or directory"
        );

        let mut p = Program::new();
        p.state = State::Exited;
        p.last_exit = Some(Exit::Signal(libc::SIGKILL));
        s.clear();
        line(&mut s, "job", &p, now, &[]);
        assert_eq!(s.to_str_lossy(), "[job] EXITED signal: KILL");
    }

    #[test]
    fn a_reason_is_one_line() {
        let now = Instant::now();
        let mut p = Program::new();
        p.state = State::Fatal;
        p.reason = Some("exec /bin/a\nb\tc\u{7f}\u{fffd}: No such file or directory".into());
        let mut s = Text::new();
        line(&mut s, "x", &p, now, &[]);
        assert_eq!(s.to_str_lossy(), "[x] FATAL exec /bin/a?b?c??: No such file or directory");
        assert_eq!(one_line("plain: text".into()), "plain: text");
    }

    #[test]
    fn a_json_reason_is_one_line_and_escaped() {
        let mut p = Program::new();
        p.state = State::Fatal;
        p.reason = Some("exec \"/a\\b\"\nx\u{fffd}: No such file".into());
        let mut s = Text::new();
        json(&mut s, "n", &p, Instant::now(), 3, &[], None);
        let text = s.to_str_lossy();
        assert!(
            text.contains(r#""reason":"exec \"/a\\b\"?x?: No such file","log_errors":3,"retry_in":null,"last_restart_reason":null,"waiting_for":[],"health":null,"rss_kb":null"#),
            "{text}"
        );
    }

    #[test]
    fn json_escapes() {
        let mut s = Text::new();
        json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s.to_str_lossy(), r#""a\"b\\c\n\u0001""#);
        let mut p = Program::new();
        p.reason = Some("x".into());
        s.clear();
        json(&mut s, "n", &p, Instant::now(), 0, &[], None);
        assert_eq!(
            s.to_str_lossy(),
            r#"{"name":"n","state":"STOPPED","pid":null,"uptime":null,"exit_code":null,"exit_signal":null,"restarts":0,"reason":"x","log_errors":0,"retry_in":null,"last_restart_reason":null,"waiting_for":[],"health":null,"rss_kb":null,"cpu_ms":null,"fds":null}"#
        );
    }
}
