//! Status lines and `status --json`, exactly as SPEC.md fixes them.

use super::program::{Program, State};
use crate::signals;
use crate::sys::Exit;
use std::fmt::Write;
use std::time::Instant;

/// `[NAME] STATE details…` without a newline.
pub fn line(out: &mut String, name: &str, p: &Program, now: Instant) {
    let _ = write!(out, "[{name}] {}", p.state.name());
    let shows_pid = matches!(p.state, State::Starting | State::Running | State::Stopping);
    if let (true, Some(pid)) = (shows_pid, p.pid) {
        let _ = write!(out, " pid: {pid}");
    }
    if p.state == State::Running {
        out.push_str(" uptime: ");
        uptime(out, p.started_at.map_or(0, |t| now.saturating_duration_since(t).as_secs()));
    }
    if matches!(p.state, State::Backoff | State::ClearingGroup | State::Exited | State::Fatal) {
        match p.last_exit {
            Some(Exit::Code(code)) => {
                let _ = write!(out, " exit: {code}");
            }
            Some(Exit::Signal(signal)) => {
                out.push_str(" signal: ");
                signal_name(out, signal);
            }
            None => {}
        }
    }
    if p.state == State::Backoff {
        if let Some(deadline) = p.deadline {
            let left = deadline.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let _ = write!(out, " retry in: {secs}s");
        }
    }
    if matches!(p.state, State::Backoff | State::ClearingGroup | State::Fatal) {
        if let Some(reason) = &p.reason {
            out.push(' ');
            push_one_line(out, reason);
        }
    }
}

/// A character a reason cannot show: control characters (newlines
/// included) and the replacement for bytes that were not UTF-8.
fn unshowable(c: char) -> bool {
    c.is_control() || c == char::REPLACEMENT_CHARACTER
}

/// Appends `text` as one line, each unshowable character as `?`.
pub fn push_one_line(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| if unshowable(c) { '?' } else { c }));
}

/// `text` as one line (see [`push_one_line`]); unchanged when it is one.
pub fn one_line(text: String) -> String {
    if !text.chars().any(unshowable) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    push_one_line(&mut out, &text);
    out
}

/// `HH:MM:SS`, or `D-HH:MM:SS` from one day on.
pub fn uptime(out: &mut String, secs: u64) {
    let (days, rest) = (secs / 86400, secs % 86400);
    if days > 0 {
        let _ = write!(out, "{days}-");
    }
    let _ = write!(out, "{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
}

fn signal_name(out: &mut String, signal: i32) {
    match signals::name(signal) {
        Some(name) => out.push_str(name),
        None => {
            let _ = write!(out, "{signal}");
        }
    }
}

/// One JSON object (no trailing comma).
pub fn json(out: &mut String, name: &str, p: &Program, now: Instant, log_errors: u64) {
    out.push_str("{\"name\":");
    json_string(out, name);
    let _ = write!(out, ",\"state\":\"{}\",\"pid\":", p.state.name());
    let pid =
        if matches!(p.state, State::Starting | State::Running | State::Stopping) { p.pid } else { None };
    match pid {
        Some(pid) => {
            let _ = write!(out, "{pid}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"uptime\":");
    match (p.state, p.started_at) {
        (State::Running, Some(t)) => {
            let _ = write!(out, "{}", now.saturating_duration_since(t).as_secs());
        }
        _ => out.push_str("null"),
    }
    match p.last_exit {
        Some(Exit::Code(code)) => {
            let _ = write!(out, ",\"exit_code\":{code},\"exit_signal\":null");
        }
        Some(Exit::Signal(signal)) => {
            out.push_str(",\"exit_code\":null,\"exit_signal\":\"");
            signal_name(out, signal);
            out.push('"');
        }
        None => out.push_str(",\"exit_code\":null,\"exit_signal\":null"),
    }
    let _ = write!(out, ",\"restarts\":{},\"reason\":", p.restarts);
    match &p.reason {
        Some(reason) => json_string(out, &one_line(reason.clone())),
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"log_errors\":{log_errors}}}");
}

pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uptime_formats() {
        let mut s = String::new();
        uptime(&mut s, 4);
        assert_eq!(s, "00:00:04");
        s.clear();
        uptime(&mut s, 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
        assert_eq!(s, "2-03:04:05");
    }

    #[test]
    fn lines() {
        let now = Instant::now();
        let mut p = Program::new();
        let mut s = String::new();
        line(&mut s, "sleep", &p, now);
        assert_eq!(s, "[sleep] STOPPED");

        p.state = State::Running;
        p.pid = Some(15283);
        p.started_at = Some(now - Duration::from_secs(4));
        s.clear();
        line(&mut s, "sleep", &p, now);
        assert_eq!(s, "[sleep] RUNNING pid: 15283 uptime: 00:00:04");

        let mut p = Program::new();
        p.state = State::Backoff;
        p.last_exit = Some(Exit::Code(127));
        p.deadline = Some(now + Duration::from_millis(3500));
        p.reason = Some("exec /nope: No such file or directory".into());
        s.clear();
        line(&mut s, "bad", &p, now);
        assert_eq!(s, "[bad] BACKOFF exit: 127 retry in: 4s exec /nope: No such file or directory");

        let mut p = Program::new();
        p.state = State::Exited;
        p.last_exit = Some(Exit::Signal(libc::SIGKILL));
        s.clear();
        line(&mut s, "job", &p, now);
        assert_eq!(s, "[job] EXITED signal: KILL");
    }

    #[test]
    fn a_reason_is_one_line() {
        let now = Instant::now();
        let mut p = Program::new();
        p.state = State::Fatal;
        p.reason = Some("exec /bin/a\nb\tc\u{7f}\u{fffd}: No such file or directory".into());
        let mut s = String::new();
        line(&mut s, "x", &p, now);
        assert_eq!(s, "[x] FATAL exec /bin/a?b?c??: No such file or directory");
        assert_eq!(one_line("plain: text".into()), "plain: text");
    }

    #[test]
    fn json_escapes() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
        let mut p = Program::new();
        p.reason = Some("x".into());
        s.clear();
        json(&mut s, "n", &p, Instant::now(), 0);
        assert_eq!(
            s,
            r#"{"name":"n","state":"STOPPED","pid":null,"uptime":null,"exit_code":null,"exit_signal":null,"restarts":0,"reason":"x","log_errors":0}"#
        );
    }
}
