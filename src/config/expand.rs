//! `%(name)s` expansion in values, as Python's `%` operator does it for
//! Supervisor: `%%` is a literal `%`, `s` fits any name, `d` (with flags,
//! width and precision) fits the numbers `process_num` and `numprocs`.

use crate::text::Part::Str;

/// The names a value may use. `program` is also `group_name`; `env` is the
/// `[pman]`/`[supervisord]` environment, looked up before the daemon's own.
pub struct Vars<'a> {
    pub program: Option<&'a str>,
    pub process_num: Option<u32>,
    pub numprocs: Option<u32>,
    pub here: &'a str,
    pub host: &'a str,
    pub env: &'a [(String, String)],
}

/// Widths beyond this are refused (a fuzzer would ask for gigabytes).
const MAX_WIDTH: usize = 1024;

enum Value {
    Text(String),
    Number(u32),
}

fn lookup(name: &str, vars: &Vars) -> Result<Value, String> {
    if let Some(var) = name.strip_prefix("ENV_") {
        if let Some((_, v)) = vars.env.iter().rev().find(|(k, _)| k == var) {
            return Ok(Value::Text(v.clone()));
        }
        return match crate::sys::env_var(var) {
            Some(v) => Ok(Value::Text(crate::text::lossy(v).into_owned())),
            None => {
                Err(crate::text::concat("%({})s: environment variable {} is not set", &[Str(name), Str(var)]))
            }
        };
    }
    let found = match name {
        "program_name" | "group_name" => vars.program.map(|p| Value::Text(p.to_string())),
        "process_num" => vars.process_num.map(Value::Number),
        "numprocs" => vars.numprocs.map(Value::Number),
        "here" => Some(Value::Text(vars.here.to_string())),
        "host_node_name" => Some(Value::Text(vars.host.to_string())),
        _ => None,
    };
    found.ok_or_else(|| {
        let known = if vars.program.is_some() {
            "program_name, process_num, group_name, numprocs, host_node_name, here, ENV_NAME"
        } else {
            "host_node_name, here, ENV_NAME"
        };
        crate::text::concat("unknown name %({}) (known here: {})", &[Str(name), Str(known)])
    })
}

/// Reads digits at the start of `s`: (value capped past MAX_WIDTH, rest).
fn digits(s: &str) -> (Option<usize>, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, rest) = s.split_at(end);
    if num.is_empty() {
        return (None, rest);
    }
    (Some(crate::number::usize(num).unwrap_or(usize::MAX)), rest)
}

fn bare_percent(text: &str) -> String {
    crate::text::concat(
        "'%' in '{}' starts no expansion: write '%%' for a literal %",
        &[Str(&super::ini::clip(text))],
    )
}

/// One `%…` of `text` (`after`: what follows the `%`) into `out`; the text after it.
// Out of line: inlined into expand's loop, its constants are hoisted and spilled.
#[inline(never)]
fn conversion<'t>(after: &'t str, text: &str, vars: &Vars, out: &mut String) -> Result<&'t str, String> {
    if let Some(r) = after.strip_prefix('%') {
        out.push('%');
        return Ok(r);
    }
    let Some(inner) = after.strip_prefix('(') else {
        return Err(bare_percent(text));
    };
    let Some(close) = inner.find(')') else {
        return Err(bare_percent(text));
    };
    let name = inner.get(..close).unwrap_or("");
    let mut spec = inner.get(close + 1..).unwrap_or("");
    let (mut left, mut zero, mut plus, mut space) = (false, false, false, false);
    // Bytes: the flags are ASCII.
    while let Some(&c) = spec.as_bytes().first() {
        match c {
            b'-' => left = true,
            b'0' => zero = true,
            b'+' => plus = true,
            b' ' => space = true,
            b'#' => {}
            _ => break,
        }
        spec = spec.get(1..).unwrap_or("");
    }
    let (width, s) = digits(spec);
    spec = s;
    let mut precision = None;
    if let Some(s) = spec.strip_prefix('.') {
        let (p, s) = digits(s);
        precision = Some(p.unwrap_or(0));
        spec = s;
    }
    let width = width.unwrap_or(0);
    if width > MAX_WIDTH || precision.is_some_and(|p| p > MAX_WIDTH) {
        return Err(crate::text::concat("%({}): width too large", &[Str(name)]));
    }
    // Length modifiers, ignored as Python does.
    spec = &spec[spec.bytes().take_while(|b| matches!(b, b'h' | b'l' | b'L')).count()..];
    let Some(conv) = spec.chars().next() else {
        return Err(crate::text::concat("%({}) has no conversion: write %({})s", &[Str(name), Str(name)]));
    };
    let value = lookup(name, vars)?;
    let numeric = matches!(conv, 'd' | 'i' | 'u');
    let mut body = match value {
        Value::Number(n) if numeric || conv == 's' => {
            crate::text::concat("{}", &[crate::text::Part::Uint(n.into())])
        }
        Value::Text(t) if conv == 's' => t,
        Value::Text(_) if numeric => {
            return Err(crate::text::concat(
                "%({})d: {} is text, not a number: write %({})s",
                &[Str(name), Str(name), Str(name)],
            ));
        }
        _ => {
            let c = String::from(conv);
            return Err(crate::text::concat(
                "%({}){}: unsupported conversion '{}' (use s or d)",
                &[Str(name), Str(&c), Str(&c)],
            ));
        }
    };
    // Zeros from the `0` flag go after the sign; spaces pad the whole.
    let mut after_sign = 0;
    if numeric {
        // The precision is the least number of digits.
        let digits = precision.unwrap_or(0).saturating_sub(body.len());
        body.insert_str(0, &"0".repeat(digits));
        let sign = if plus {
            "+"
        } else if space {
            " "
        } else {
            ""
        };
        body.insert_str(0, sign);
        after_sign = sign.len();
    } else if let Some((at, _)) = precision.and_then(|p| body.char_indices().nth(p)) {
        // The first `p` characters.
        body.truncate(at);
    }
    let gap = width.saturating_sub(body.chars().count());
    if left {
        body.push_str(&" ".repeat(gap));
    } else if numeric && zero {
        body.insert_str(after_sign, &"0".repeat(gap));
    } else {
        body.insert_str(0, &" ".repeat(gap));
    }
    out.push_str(&body);
    Ok(spec.get(conv.len_utf8()..).unwrap_or(""))
}

/// Expands every `%(name)…` and `%%` in `text`.
pub fn expand(text: &str, vars: &Vars) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('%') {
        out.push_str(rest.get(..pos).unwrap_or(""));
        rest = conversion(rest.get(pos + 1..).unwrap_or(""), text, vars, &mut out)?;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(env: &[(String, String)]) -> Vars<'_> {
        Vars {
            program: Some("web"),
            process_num: Some(3),
            numprocs: Some(4),
            here: "/etc",
            host: "router",
            env,
        }
    }

    fn ok(text: &str) -> String {
        expand(text, &vars(&[])).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        expand(text, &vars(&[])).expect_err(text)
    }

    #[test]
    fn names() {
        assert_eq!(ok("%(program_name)s_%(process_num)02d"), "web_03");
        assert_eq!(ok("%(group_name)s@%(host_node_name)s:%(here)s"), "web@router:/etc");
        assert_eq!(ok("%(process_num)d/%(numprocs)d %(process_num)s"), "3/4 3");
        assert_eq!(ok("[%(program_name)5s][%(program_name)-5s][%(process_num)-3d]"), "[  web][web  ][3  ]");
        assert_eq!(ok("%(program_name).1s %(process_num)+d %(process_num).3d"), "w +3 003");
        assert_eq!(ok("50%% main@%%h"), "50% main@%h");
        assert_eq!(ok("plain"), "plain");
    }

    /// Flags, widths and precisions read as Python's `%` reads them
    /// (the expected values are Python 3's).
    #[test]
    fn flags_as_python_reads_them() {
        assert_eq!(ok("[%(numprocs)05.3d][%(numprocs)+05.3d][%(numprocs)-05d]"), "[00004][+0004][4    ]");
        assert_eq!(ok("[%(numprocs) 4d][%(numprocs)5.1s]"), "[   4][    4]");
        assert_eq!(ok("[%(program_name)-6.2s][%(program_name)05s]"), "[we    ][  web]");
    }

    #[test]
    fn environment() {
        let env = vec![("FOO".to_string(), "bar".to_string())];
        assert_eq!(expand("%(ENV_FOO)s", &vars(&env)).as_deref(), Ok("bar"));
        assert!(err("%(ENV_PMAN_SURELY_UNSET_VAR)s").contains("not set"));
    }

    #[test]
    fn errors_suggest_double_percent() {
        assert!(err("100%").contains("%%"));
        assert!(err("a % b").contains("%%"));
        assert!(err("%(program_name").contains("%%"));
        assert!(err("%(program_name)").contains("no conversion"));
        assert!(err("%(nope)s").contains("unknown name %(nope)"));
        assert!(err("%(program_name)d").contains("not a number"));
        assert!(err("%(process_num)x").contains("unsupported"));
        assert!(err("%(process_num)99999999999999999999d").contains("too large"));
    }

    #[test]
    fn without_program() {
        let v = Vars { program: None, process_num: None, numprocs: None, here: "/", host: "h", env: &[] };
        assert!(expand("%(program_name)s", &v).is_err());
        assert_eq!(expand("%(here)s", &v).as_deref(), Ok("/"));
    }
}
