//! `pman rpcd list|call METHOD`: an rpcd exec plugin, so that
//! `ubus call pman status` and LuCI reach the daemon. `list` prints the
//! methods and their argument signatures; `call` reads the JSON arguments
//! on stdin and prints one JSON object. Every failure of a call is an
//! `{"error":"..."}` object with exit 0, which rpcd passes on as the reply.

use super::{ask, log, message, programs};
use crate::json::{self, Value};
use crate::protocol::{valid_name, Request};
use crate::sys;
use crate::text::Part::Str;
use crate::text::Text;

const METHODS: &str = "{\"status\":{},\"start\":{\"name\":\"str\"},\"stop\":{\"name\":\"str\"},\
\"restart\":{\"name\":\"str\"},\"reload\":{},\"log\":{\"name\":\"str\",\"lines\":32}}\n";

/// `log`'s lines when the call names none.
const DEFAULT_LINES: u64 = 32;
/// At most this much JSON is read from stdin.
const MAX_INPUT: usize = 64 * 1024;

pub fn run(socket: &str, words: &[String]) -> i32 {
    match words {
        [list] if list == "list" => {
            let _ = sys::write_all(1, METHODS.as_bytes());
            0
        }
        [verb, method] if verb == "call" => {
            if let Err(message) = call(socket, method, &read_stdin()) {
                let mut out = Text::with_capacity(128);
                out.str("{\"error\":");
                json::string(&mut out, &message);
                out.str("}\n");
                let _ = sys::write_all(1, out.as_bytes());
            }
            0
        }
        // Not reached: `cli` lets through only these two forms.
        _ => 2,
    }
}

fn read_stdin() -> Vec<u8> {
    let mut input = Vec::new();
    let mut chunk = [0u8; 1024];
    while input.len() < MAX_INPUT {
        match sys::read(0, &mut chunk) {
            Ok(0) => break,
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(e) if sys::interrupted(&e) => {}
            Err(_) => break,
        }
    }
    input
}

/// Runs `method` with `input` as its arguments; its answer goes to stdout.
/// Not inlined: with it called, LLVM takes `client::run` into `main_with`,
/// and they cost 464 B less on mipsel.
#[inline(never)]
fn call(socket: &str, method: &str, input: &[u8]) -> Result<(), String> {
    // rpcd passes nothing for a method without arguments.
    let input = if input.iter().all(u8::is_ascii_whitespace) { b"{}" } else { input };
    let args = json::parse(input)?;
    if !args.is_object() {
        return Err("arguments must be a JSON object".into());
    }
    let mut out = Text::with_capacity(1024);
    match method {
        "status" => {
            out.str("{\"programs\":")
                .bytes(json::parse(&programs(socket).map_err(|e| e.1)?)?.raw())
                .byte(b'}');
        }
        "start" | "stop" | "restart" => {
            let name = name(args)?;
            let names = vec![name.clone()];
            let request = match method {
                "start" => Request::Start(names),
                "stop" => Request::Stop(names),
                _ => Request::Restart(names),
            };
            let (_, _, err) = ask(socket, &request)?;
            let (_, status, _) = ask(socket, &Request::Status { names: vec![name], json: true })?;
            let mut items = json::parse(&status).map(Value::items).map_err(|_| message(&err))?;
            match (items.next(), items.next()) {
                (Some(one), None) => out.bytes(one.raw()),
                _ => return Err(message(&err)),
            };
        }
        "reload" => {
            let (code, lines, err) = ask(socket, &Request::Reload { dry_run: false })?;
            if code != 0 {
                return Err(message(&err));
            }
            write_lines(&mut out, &lines);
        }
        "log" => {
            let name = name(args)?;
            let lines = match args.get("lines").filter(|n| !n.is_null()) {
                None => DEFAULT_LINES,
                Some(n) => n.as_u64().ok_or("lines: not a whole number")?,
            };
            let request = Request::LogPath { name, stderr: false };
            let (code, path, err) = ask(socket, &request)?;
            if code != 0 {
                return Err(message(&err));
            }
            let path = path.strip_suffix(b"\n").unwrap_or(&path);
            write_lines(&mut out, &log::tail(path, usize::try_from(lines).unwrap_or(usize::MAX)));
        }
        _ => return Err(crate::text::concat("unknown method: {}", &[Str(method)])),
    }
    out.byte(b'\n');
    sys::write_all(1, out.as_bytes()).map_err(|e| sys::describe(&e))
}

/// The `name` argument: one program's name.
fn name(args: Value) -> Result<String, String> {
    match args.get("name").and_then(Value::as_str) {
        Some(name) if valid_name(&name) && name != "all" => Ok(name),
        Some(name) => Err(crate::text::concat("no such program: {}", &[Str(&name)])),
        None => Err("missing argument: name (a string)".into()),
    }
}

/// `{"lines":[...]}`: each line of `text` (invalid UTF-8 replaced).
fn write_lines(out: &mut Text, text: &[u8]) {
    let text = crate::text::lossy(text);
    out.str("{\"lines\":[");
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            out.byte(b',');
        }
        json::string(out, line);
    }
    out.str("]}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_method_list_is_json() {
        assert!(crate::json::parse(super::METHODS.as_bytes()).is_ok_and(|v| v.is_object()));
    }

    #[test]
    fn the_daemon_error_lines_join_into_one_message() {
        assert_eq!(super::message(b"pman: a\r\n\npman: b"), "a; ; b");
        assert_eq!(super::message(b"x\n"), "x");
        assert_eq!(super::message(b""), "the daemon refused");
    }
}
