//! `pman metrics`: the daemon's `status --json` answer in the Prometheus
//! text exposition format (version 0.0.4), for node-exporter's textfile
//! collector or any scraper that runs a command.

use super::programs;
use crate::json::Json;
use crate::text::Text;
use crate::{fail, sys};

/// The states a program can be in: `pman_program_state` has one sample
/// for each, 1 for the current one.
const STATES: &[&str] =
    &["STOPPED", "WAITING", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"];

/// One per-program family: its name, type, help, and how to read its value
/// from a program's JSON object and write it (`false`: it has none, no
/// sample for that program).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Json, &mut Text) -> bool,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "pman_program_up",
        kind: "gauge",
        help: "1 if the program is RUNNING, else 0.",
        value: |p, out| flag(out, p.get("state").and_then(Json::as_str) == Some("RUNNING")),
    },
    Family {
        name: "pman_program_restarts_total",
        kind: "counter",
        help: "Restarts of the program since the daemon started.",
        value: |p, out| number(out, p, "restarts", 1),
    },
    Family {
        name: "pman_program_uptime_seconds",
        kind: "gauge",
        help: "Seconds the program has been RUNNING (0 when it is not).",
        value: |p, out| number(out, p, "uptime", 1) || flag(out, false),
    },
    Family {
        name: "pman_program_rss_bytes",
        kind: "gauge",
        help: "Resident memory of the program's process.",
        value: |p, out| number(out, p, "rss_kb", 1024),
    },
    Family {
        name: "pman_program_cpu_seconds_total",
        kind: "counter",
        help: "CPU time (user and system) of the program's current process.",
        value: |p, out| match p.get("cpu_ms").and_then(Json::as_u64) {
            Some(ms) => {
                out.uint(ms / 1000).byte(b'.').padded(ms % 1000, 3);
                true
            }
            None => false,
        },
    },
    Family {
        name: "pman_program_health_failing",
        kind: "gauge",
        help: "1 if the program's health check is failing, else 0.",
        value: |p, out| flag(out, failing(p.get("health"))),
    },
    Family {
        name: "pman_log_errors_total",
        kind: "counter",
        help: "Lines of the program's output that could not be logged.",
        value: |p, out| number(out, p, "log_errors", 1),
    },
];

pub fn run(socket: &str) -> i32 {
    let mut out = Text::with_capacity(4096);
    let programs = match programs(socket) {
        Ok(programs) => programs,
        Err(message) => {
            header(&mut out, "pman_up", "gauge", "1 if the pman daemon answered, else 0.");
            out.str("pman_up 0\n");
            let _ = sys::write_all(1, out.as_bytes());
            fail(&[&message]);
            return 1;
        }
    };
    header(&mut out, "pman_up", "gauge", "1 if the pman daemon answered, else 0.");
    out.str("pman_up 1\n");
    header(&mut out, "pman_programs", "gauge", "Programs the daemon supervises.");
    out.str("pman_programs ").uint(programs.len() as u64).byte(b'\n');
    for family in FAMILIES {
        header(&mut out, family.name, family.kind, family.help);
        for program in &programs {
            let mark = out.len();
            sample(&mut out, family.name, program, None);
            if !(family.value)(program, &mut out) {
                out.truncate(mark);
                continue;
            }
            out.byte(b'\n');
        }
    }
    header(&mut out, "pman_program_state", "gauge", "1 for the state the program is in, else 0.");
    for program in &programs {
        let state = program.get("state").and_then(Json::as_str);
        for &name in STATES {
            sample(&mut out, "pman_program_state", program, Some(name));
            flag(&mut out, state == Some(name));
            out.byte(b'\n');
        }
    }
    match sys::write_all(1, out.as_bytes()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn header(out: &mut Text, name: &str, kind: &str, help: &str) {
    out.str("# HELP ").str(name).byte(b' ').str(help).byte(b'\n');
    out.str("# TYPE ").str(name).byte(b' ').str(kind).byte(b'\n');
}

/// `name{program="...",state="..."} ` (the value comes next).
fn sample(out: &mut Text, name: &str, program: &Json, state: Option<&str>) {
    out.str(name).str("{program=\"");
    for &b in program.get("name").and_then(Json::as_str).unwrap_or("").as_bytes() {
        match b {
            b'\\' => out.str("\\\\"),
            b'"' => out.str("\\\""),
            b'\n' => out.str("\\n"),
            b => out.byte(b),
        };
    }
    out.byte(b'"');
    if let Some(state) = state {
        out.str(",state=\"").str(state).byte(b'"');
    }
    out.str("} ");
}

fn flag(out: &mut Text, on: bool) -> bool {
    out.str(if on { "1" } else { "0" });
    true
}

/// The integer field `key` times `scale`; false when it is null or absent.
fn number(out: &mut Text, program: &Json, key: &str, scale: u64) -> bool {
    match program.get(key).and_then(Json::as_u64) {
        Some(n) => {
            out.uint(n.saturating_mul(scale));
            true
        }
        None => false,
    }
}

/// Whether the `health` field says the check fails (`"failing"`; not
/// `"pending"`, `"ok"` or null).
fn failing(health: Option<&Json>) -> bool {
    matches!(health, Some(Json::Str(s)) if s == "failing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_fails_only_when_it_says_so() {
        let word = |w: &str| Json::Str(w.into());
        assert!(!failing(None));
        assert!(!failing(Some(&Json::Null)));
        assert!(!failing(Some(&word("ok"))));
        assert!(!failing(Some(&word("pending"))));
        assert!(failing(Some(&word("failing"))));
    }
}
