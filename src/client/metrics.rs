//! `pman metrics`: the daemon's `status --json` answer in the Prometheus
//! text exposition format (version 0.0.4), for node-exporter's textfile
//! collector or any scraper that runs a command.

use super::programs;
use crate::json::{self, Value as Json};
use crate::text::{self, Text};
use crate::{fail, sys};

/// The states a program can be in: `pman_program_state` has one sample
/// for each, 1 for the current one.
const STATES: &[&str] =
    &["STOPPED", "WAITING", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"];

/// One per-program family: its name, type, help, and which field of a
/// program's JSON object its value is read from, and how.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    key: &'static str,
    value: Value,
}

/// How a family's sample value is read from its field (data, not a closure
/// per family: smaller on MIPS).
#[derive(Clone, Copy)]
enum Value {
    /// 1 if the field is this string, else 0.
    Is(&'static str),
    /// The integer field times `scale`; when it is null or absent, 0 if
    /// `zero`, else no sample for that program.
    Count { scale: u64, zero: bool },
    /// The field in milliseconds, written as seconds; none when absent.
    Millis,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "pman_program_up",
        kind: "gauge",
        help: "1 if the program is RUNNING, else 0.",
        key: "state",
        value: Value::Is("RUNNING"),
    },
    Family {
        name: "pman_program_restarts_total",
        kind: "counter",
        help: "Restarts of the program since the daemon started.",
        key: "restarts",
        value: Value::Count { scale: 1, zero: false },
    },
    Family {
        name: "pman_program_uptime_seconds",
        kind: "gauge",
        help: "Seconds the program has been RUNNING (0 when it is not).",
        key: "uptime",
        value: Value::Count { scale: 1, zero: true },
    },
    Family {
        name: "pman_program_rss_bytes",
        kind: "gauge",
        help: "Resident memory of the program's process.",
        key: "rss_kb",
        value: Value::Count { scale: 1024, zero: false },
    },
    Family {
        name: "pman_program_cpu_seconds_total",
        kind: "counter",
        help: "CPU time (user and system) of the program's current process.",
        key: "cpu_ms",
        value: Value::Millis,
    },
    Family {
        name: "pman_program_health_failing",
        kind: "gauge",
        // `"failing"`; not `"pending"`, `"ok"` or null.
        help: "1 if the program's health check is failing, else 0.",
        key: "health",
        value: Value::Is("failing"),
    },
    Family {
        name: "pman_log_errors_total",
        kind: "counter",
        help: "Lines of the program's output that could not be logged.",
        key: "log_errors",
        value: Value::Count { scale: 1, zero: false },
    },
];

pub fn run(socket: &str) -> i32 {
    let mut out = Text::with_capacity(4096);
    let answer = programs(socket);
    header(&mut out, "pman_up", "gauge", "1 if the pman daemon answered, else 0.");
    let text = match answer {
        Ok(text) => text,
        Err((code, message)) => {
            out.str("pman_up 0\n");
            let _ = sys::write_all(1, out.as_bytes());
            fail(&[&message]);
            return code;
        }
    };
    let programs: Vec<Json> = json::parse(&text).map_or(Vec::new(), |list| list.items().collect());
    out.str("pman_up 1\n");
    header(&mut out, "pman_programs", "gauge", "Programs the daemon supervises.");
    out.str("pman_programs ").uint(programs.len() as u64).byte(b'\n');
    for family in FAMILIES {
        header(&mut out, family.name, family.kind, family.help);
        for program in &programs {
            let mark = out.len();
            sample(&mut out, family.name, *program, None);
            if !value(&mut out, program.get(family.key), family.value) {
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
            sample(&mut out, "pman_program_state", *program, Some(name));
            flag(&mut out, state.as_deref() == Some(name));
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
fn sample(out: &mut Text, name: &str, program: Json, state: Option<&str>) {
    out.str(name).str("{program=\"");
    for b in program.get("name").and_then(Json::as_str).unwrap_or_default().as_bytes() {
        out.bytes(match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => std::slice::from_ref(b),
        });
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

/// Writes the value of `field` as `how` reads it; false when it has none.
fn value(out: &mut Text, field: Option<Json>, how: Value) -> bool {
    let Value::Is(word) = how else {
        let Some(n) = field.and_then(Json::as_u64) else {
            return matches!(how, Value::Count { zero: true, .. }) && flag(out, false);
        };
        match how {
            Value::Count { scale, .. } => out.uint(n.saturating_mul(scale)),
            _ => {
                // n / 1000 with three decimals, split from n's digits (at
                // least four): no 64-bit division.
                let mut digits = [b'0'; 20];
                let len = text::decimal(n, &mut digits).len().max(4);
                let n = &digits[digits.len() - len..];
                out.bytes(&n[..len - 3]).byte(b'.').bytes(&n[len - 3..])
            }
        };
        return true;
    };
    flag(out, field.and_then(Json::as_str).as_deref() == Some(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Json<'_> {
        json::parse(text.as_bytes()).unwrap()
    }

    fn read(field: Option<Json>, how: Value) -> Option<String> {
        let mut out = Text::new();
        value(&mut out, field, how).then(|| String::from_utf8(out.into_bytes()).unwrap())
    }

    #[test]
    fn health_fails_only_when_it_says_so() {
        fn failing(field: Option<&str>) -> bool {
            read(field.map(doc), Value::Is("failing")).unwrap() == "1"
        }
        assert!(!failing(None));
        assert!(!failing(Some("null")));
        assert!(!failing(Some("\"ok\"")));
        assert!(!failing(Some("\"pending\"")));
        assert!(!failing(Some("1")));
        assert!(failing(Some("\"failing\"")));
        assert!(failing(Some("\"fail\\u0069ng\"")));
    }

    #[test]
    fn values_as_each_family_reads_them() {
        let num = doc;
        assert_eq!(read(Some(num("7")), Value::Count { scale: 1024, zero: false }).as_deref(), Some("7168"));
        assert_eq!(read(Some(doc("null")), Value::Count { scale: 1, zero: false }), None);
        assert_eq!(read(None, Value::Count { scale: 1, zero: true }).as_deref(), Some("0"));
        assert_eq!(read(Some(num("12")), Value::Count { scale: 1, zero: true }).as_deref(), Some("12"));
        assert_eq!(read(Some(num("1234")), Value::Millis).as_deref(), Some("1.234"));
        assert_eq!(read(Some(num("5")), Value::Millis).as_deref(), Some("0.005"));
        assert_eq!(read(Some(num("0")), Value::Millis).as_deref(), Some("0.000"));
        assert_eq!(read(Some(num("1000")), Value::Millis).as_deref(), Some("1.000"));
        assert_eq!(
            read(Some(num("18446744073709551615")), Value::Millis).as_deref(),
            Some("18446744073709551.615")
        );
        assert_eq!(read(None, Value::Millis), None);
        assert_eq!(read(Some(doc("\"12\"")), Value::Count { scale: 1, zero: false }), None);
        assert_eq!(read(Some(doc("1.5")), Value::Millis), None);
    }
}
