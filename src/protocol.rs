//! The control protocol, shared by client and daemon.
//!
//! Request: one line of at most [`MAX_REQUEST`] bytes, words separated by
//! spaces: `status [--json] [NAME...]`, `start NAME...`, `stop NAME...`,
//! `restart NAME...`, `signal SIG NAME...`, `pid [NAME]`,
//! `logpath NAME stdout|stderr`, `reload [--dry-run]`, `kill`.
//!
//! Reply: lines, each starting with a tag byte: `>` a line for the client's
//! stdout, `!` a line for its stderr, and last `=N`, the exit code. The
//! daemon closes the connection after the `=` line.

pub const MAX_REQUEST: usize = 4096;

pub const TAG_OUT: u8 = b'>';
pub const TAG_ERR: u8 = b'!';
pub const TAG_EXIT: u8 = b'=';

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

impl Request {
    /// The request line, without its newline.
    pub fn encode(&self) -> String {
        let mut words: Vec<&str> = Vec::new();
        match self {
            Request::Status { names, json } => {
                words.push("status");
                if *json {
                    words.push("--json");
                }
                words.extend(names.iter().map(String::as_str));
            }
            Request::Start(names) => push_all(&mut words, "start", names),
            Request::Stop(names) => push_all(&mut words, "stop", names),
            Request::Restart(names) => push_all(&mut words, "restart", names),
            Request::Signal { signal, names } => {
                words.push("signal");
                words.push(signal);
                words.extend(names.iter().map(String::as_str));
            }
            Request::Pid(name) => {
                words.push("pid");
                words.extend(name.as_deref());
            }
            Request::LogPath { name, stderr } => {
                words.push("logpath");
                words.push(name);
                words.push(if *stderr { "stderr" } else { "stdout" });
            }
            Request::Reload { dry_run } => {
                words.push("reload");
                if *dry_run {
                    words.push("--dry-run");
                }
            }
            Request::Kill => words.push("kill"),
        }
        words.join(" ")
    }

    /// Parses one request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().ok_or("empty request")?;
        let rest: Vec<String> = words.map(str::to_string).collect();
        let names = |rest: Vec<String>| -> Result<Vec<String>, String> {
            if rest.is_empty() {
                Err(format!("{verb}: missing program name"))
            } else {
                Ok(rest)
            }
        };
        match verb {
            "status" => {
                let json = rest.first().is_some_and(|w| w == "--json");
                let names = rest.into_iter().filter(|w| w != "--json").collect();
                Ok(Request::Status { names, json })
            }
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
            _ => Err(format!("bad request: {}", truncate(line, 64))),
        }
    }
}

fn push_all<'a>(words: &mut Vec<&'a str>, verb: &'a str, names: &'a [String]) {
    words.push(verb);
    words.extend(names.iter().map(String::as_str));
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
    fn garbage_is_an_error() {
        for line in
            ["", "   ", "frob", "kill now", "reload now", "start", "logpath x", "pid a b", "\u{0}\u{1}"]
        {
            assert!(Request::parse(line).is_err(), "{line:?}");
        }
    }
}
