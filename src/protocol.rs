//! The control protocol, shared by client and daemon.
//!
//! Request: one line of at most [`MAX_REQUEST`] bytes, words separated by
//! spaces: `status [--json] [NAME...]`, `start NAME...`, `stop NAME...`,
//! `restart NAME...`, `signal SIG NAME...`, `pid [NAME]`,
//! `logpath NAME stdout|stderr`, `reload [--dry-run]`, `kill`. A word after the verb
//! carries its separators and `%` as `%XX` (hex), and an empty word is a
//! lone `%`, so a name is never split or joined on the way: `web db` is
//! sent as `web%20db`.
//!
//! Reply: lines, each starting with a tag byte: `>` a line for the client's
//! stdout, `!` a line for its stderr, and last `=N`, the exit code. The
//! daemon closes the connection after the `=` line. A request that waits on
//! programs (`start`, `stop`, `restart`, `reload`, `kill`) is first answered
//! `+` at once: the daemon has it, and the rest may take as long as the
//! programs do.

use crate::text::Part::Str;

pub const MAX_REQUEST: usize = 4096;

pub const TAG_OUT: u8 = b'>';
pub const TAG_ERR: u8 = b'!';
pub const TAG_EXIT: u8 = b'=';
pub const TAG_ACCEPTED: u8 = b'+';

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Status {
        names: Vec<String>,
        json: bool,
    },
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    Signal {
        signal: String,
        names: Vec<String>,
    },
    Pid(Option<String>),
    LogPath {
        name: String,
        stderr: bool,
    },
    /// `dry_run`: only the lines the reload would print.
    Reload {
        dry_run: bool,
    },
    Kill,
}

/// True for a name a client may send: a NAME (ASCII letters, digits, `-`,
/// `_`, `.`), `NAME:*` or `all`. Anything else is no program's name.
pub fn valid_name(name: &str) -> bool {
    let name_chars = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    name_chars(name.strip_suffix(":*").unwrap_or(name))
}

/// Bytes a word cannot hold as they are: the separators `parse` splits on, and `%`.
fn escaped(c: char) -> bool {
    c.is_ascii_whitespace() || c == '%'
}

fn push_word(line: &mut String, word: &str) {
    line.push(' ');
    if word.is_empty() {
        line.push('%');
        return;
    }
    if word == "--json" {
        // A name, not `status`'s flag.
        line.push_str("%2D-json");
        return;
    }
    for c in word.chars() {
        if escaped(c) {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            line.push('%');
            line.push(HEX[c as usize >> 4] as char);
            line.push(HEX[c as usize & 15] as char);
        } else {
            line.push(c);
        }
    }
}

/// The word `push_word` wrote; `None` for a `%` not followed by two hex digits.
fn decode_word(word: &str) -> Option<String> {
    if word == "%" {
        return Some(String::new());
    }
    if !word.contains('%') {
        return Some(word.to_string());
    }
    let mut bytes = Vec::with_capacity(word.len());
    let mut rest = word.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2).and_then(|h| crate::sys::str_of(h))?;
            bytes.push(u8::try_from(crate::number::unsigned(hex, 16)?).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    Some(crate::text::lossy(&bytes).into_owned())
}

impl Request {
    /// The request line, without its newline.
    pub fn encode(&self) -> String {
        let (verb, words): (&str, &[String]) = match self {
            Request::Status { names, json: false } => ("status", names),
            Request::Status { names, json: true } => ("status --json", names),
            Request::Start(names) => ("start", names),
            Request::Stop(names) => ("stop", names),
            Request::Restart(names) => ("restart", names),
            Request::Signal { signal, names } => {
                let mut line = String::from("signal");
                push_word(&mut line, signal);
                names.iter().for_each(|name| push_word(&mut line, name));
                return line;
            }
            Request::Pid(name) => ("pid", name.as_slice()),
            Request::LogPath { name, stderr } => {
                let mut line = String::from("logpath");
                push_word(&mut line, name);
                line.push_str(if *stderr { " stderr" } else { " stdout" });
                return line;
            }
            Request::Reload { dry_run: false } => ("reload", &[]),
            Request::Reload { dry_run: true } => ("reload --dry-run", &[]),
            Request::Kill => ("kill", &[]),
        };
        let mut line = String::from(verb);
        words.iter().for_each(|word| push_word(&mut line, word));
        line
    }

    /// Parses one request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().ok_or("empty request")?;
        let mut json = false;
        let bad =
            || crate::text::one_line(crate::text::concat("bad request: {}", &[Str(truncate(line, 64))]));
        let mut rest = Vec::new();
        for (i, word) in words.enumerate() {
            if i == 0 && verb == "status" && word == "--json" {
                json = true;
                continue;
            }
            rest.push(decode_word(word).ok_or_else(bad)?);
        }
        let names = |rest: Vec<String>| -> Result<Vec<String>, String> {
            if rest.is_empty() {
                Err(crate::text::concat("{}: missing program name", &[Str(verb)]))
            } else {
                Ok(rest)
            }
        };
        match verb {
            "status" => Ok(Request::Status { names: rest, json }),
            "start" => Ok(Request::Start(names(rest)?)),
            "stop" => Ok(Request::Stop(names(rest)?)),
            "restart" => Ok(Request::Restart(names(rest)?)),
            "signal" => {
                let mut rest = rest.into_iter();
                let signal = rest.next().ok_or("signal: missing signal")?;
                Ok(Request::Signal { signal, names: names(rest.collect())? })
            }
            "pid" if rest.len() <= 1 => Ok(Request::Pid(rest.into_iter().next())),
            "logpath" if rest.len() == 2 && (rest[1] == "stdout" || rest[1] == "stderr") => {
                Ok(Request::LogPath { stderr: rest[1] == "stderr", name: rest[0].clone() })
            }
            "reload" if rest.is_empty() => Ok(Request::Reload { dry_run: false }),
            "reload" if rest == ["--dry-run"] => Ok(Request::Reload { dry_run: true }),
            "kill" if rest.is_empty() => Ok(Request::Kill),
            _ => Err(bad()),
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let requests = [
            Request::Status { names: vec![], json: true },
            Request::Status { names: vec!["a".into(), "b".into()], json: false },
            Request::Start(vec!["all".into()]),
            Request::Signal { signal: "HUP".into(), names: vec!["web".into()] },
            Request::Pid(None),
            Request::Pid(Some("web".into())),
            Request::LogPath { name: "web".into(), stderr: true },
            Request::Reload { dry_run: false },
            Request::Reload { dry_run: true },
            Request::Kill,
        ];
        for request in requests {
            assert_eq!(Request::parse(&request.encode()).unwrap(), request);
        }
    }

    #[test]
    fn a_name_stays_one_word() {
        let odd = ["web db", "web\nkill", "", "%", "a%20b", "tab\there", "\u{1}x", "é"];
        for name in odd {
            let request = Request::Stop(vec![name.into(), "db".into()]);
            let line = request.encode();
            assert!(!line.contains('\n'), "{line:?}");
            assert_eq!(Request::parse(&line).unwrap(), request, "{line:?}");
        }
        assert_eq!(Request::Stop(vec!["web db".into()]).encode(), "stop web%20db");
        assert_eq!(Request::Status { names: vec!["".into()], json: true }.encode(), "status --json %");
        // A name "--json" is a name, not the flag.
        let request = Request::Status { names: vec!["--json".into()], json: false };
        assert_eq!(Request::parse(&request.encode()).unwrap(), request);
    }

    #[test]
    fn names_a_client_may_send() {
        for name in ["web", "worker_00", "a-b.c", "worker:*", "all", "X9"] {
            assert!(valid_name(name), "{name:?}");
        }
        for name in ["", "web db", "web\nkill", ":*", "a:b", "a/b", "é", "a*", "%"] {
            assert!(!valid_name(name), "{name:?}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for line in [
            "",
            "   ",
            "frob",
            "kill now",
            "reload now",
            "start",
            "logpath x",
            "pid a b",
            "\u{0}\u{1}",
            "stop a%2",
            "stop %zz",
        ] {
            assert!(Request::parse(line).is_err(), "{line:?}");
        }
    }
}
