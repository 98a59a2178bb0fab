//! Command line: `pman [-c CONFIG] [COMMAND] [ARGS] [-c CONFIG]`.
//! `-c` is taken out of argv first (it may stand anywhere, the last one
//! wins), then the command word is ours to read (aliases, `help CMD`, a
//! suggestion for a typo), then that command's few flags and words: checked
//! against its table entry (pman's own usage errors), then parsed by argh
//! into one flat struct that every command shares (one derive, not ten).

use crate::path::FilePath;
use crate::protocol::Request;
use crate::text::Part::Str;
use argh::FromArgs;

pub const USAGE: &str = "\
usage: pman [-c CONFIG] [COMMAND] [ARGS]

commands:
  daemon [-f]                  start the supervisor (default command)
  status [NAME...] [--json]    show programs
  start NAME...|all            start programs
  stop NAME...|all             stop programs
  restart NAME...|all          stop, then start programs
  signal SIG NAME...|all       send a signal to programs
  pid [NAME]                   print the daemon's or a program's pid
  log NAME [-n N] [--stderr] [-f]
  log --daemon [-n N] [-f]     print a program's (or the daemon's) log
  reload [--dry-run]           re-read the config and apply the difference
  kill                         stop all programs and end the daemon
  check [--strict]             validate the config
  metrics                      print the Prometheus text format
  rpcd list|call METHOD        rpcd exec plugin (ubus call pman ...)
  help [COMMAND]               print this help, or a command's

aliases: tail = log, update = reload, reread = reload --dry-run, shutdown = kill

options:
  -c, --config CONFIG          config file (default $PMAN_CONFIG, else /etc/pman.conf)
  -V, --version                print the version
  -h, --help                   print this help (after a command: its help)
";

/// What every usage error ends with.
pub const TRY_HELP: &str = "try 'pman --help'";

/// One command: what `help` says of it, and what [`validate`] lets through.
struct Spec {
    name: &'static str,
    kind: Kind,
    usage: &'static str,
    help: &'static str,
    /// The flags it takes (`log` also takes `-n`/`--lines N`).
    flags: &'static [&'static str],
    /// How many words besides flags it takes at most.
    most: usize,
}

/// Which command a [`Spec`] is, for `parse_command` to build it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Daemon,
    Status,
    Start,
    Stop,
    Restart,
    Signal,
    Pid,
    Log,
    Reload,
    Kill,
    Check,
    Metrics,
    Rpcd,
}

/// No limit on a command's words.
const ANY: usize = usize::MAX;

/// Each command's name, usage and help (`pman help CMD`, `pman CMD --help`).
const COMMANDS: &[Spec] = &[
    Spec {
        name: "daemon",
        kind: Kind::Daemon,
        usage: "daemon [-f]",
        help: "Starts the supervisor. Without -f it detaches and returns once the daemon\n\
         listens on its socket.\n\n  -f, --foreground   stay in the foreground, log to stderr too\n",
        flags: &["-f", "--foreground"],
        most: 0,
    },
    Spec {
        name: "status",
        kind: Kind::Status,
        usage: "status [NAME...] [--json]",
        help: "Prints a status line for each named program, or all in config order.\n\
         Exit 0 all RUNNING, 3 any not, 2 unknown name, 1 daemon unreachable.\n\n\
         \x20 --json             one JSON array instead of status lines\n",
        flags: &["--json"],
        most: ANY,
    },
    Spec {
        name: "start",
        kind: Kind::Start,
        usage: "start NAME...|all",
        help: "Starts programs; waits until each is RUNNING or its start failed.\n",
        flags: &[],
        most: ANY,
    },
    Spec {
        name: "stop",
        kind: Kind::Stop,
        usage: "stop NAME...|all",
        help: "Stops programs (stopsignal, then SIGKILL); waits until stopped.\n",
        flags: &[],
        most: ANY,
    },
    Spec {
        name: "restart",
        kind: Kind::Restart,
        usage: "restart NAME...|all",
        help: "Stops, then starts programs.\n",
        flags: &[],
        most: ANY,
    },
    Spec {
        name: "signal",
        kind: Kind::Signal,
        usage: "signal SIG NAME...|all",
        help: "Sends SIG (HUP, SIGHUP or a number) to each named program's process.\n\
         One without a process: `pman: NAME is not running (STATE)`, exit 1.\n",
        flags: &[],
        most: ANY,
    },
    Spec {
        name: "pid",
        kind: Kind::Pid,
        usage: "pid [NAME]",
        help: "Prints the daemon's pid, or the program's. A program without a process:\n\
         `pman: NAME is not running (STATE)`, exit 1.\n",
        flags: &[],
        most: 1,
    },
    Spec {
        name: "log",
        kind: Kind::Log,
        usage: "log NAME [-n N] [--stderr] [-f]\n       pman log --daemon [-n N] [-f]",
        help: "Prints the last lines of a program's log file (alias: tail). Needs no\n\
         daemon when the config names a file.\n\n\
         \x20 -n, --lines N      the last N lines (default 20)\n\
         \x20 --stderr           the stderr log\n\
         \x20 -f, --follow       then print new lines as they come, across rotation\n\
         \x20 --daemon           the daemon's own log ([pman] logfile)\n",
        flags: &["--stderr", "-f", "--follow", "--daemon"],
        most: 1,
    },
    Spec {
        name: "reload",
        kind: Kind::Reload,
        usage: "reload [--dry-run]",
        help: "Re-reads the config: starts added programs, stops removed ones, restarts\n\
         changed ones (alias: update). A config with errors changes nothing.\n\n\
         \x20 --dry-run          print what reload would change, changing nothing\n\
         \x20                    (alias: reread)\n",
        flags: &["--dry-run"],
        most: 0,
    },
    Spec {
        name: "kill",
        kind: Kind::Kill,
        usage: "kill",
        help: "Stops all programs and ends the daemon (alias: shutdown).\n",
        flags: &[],
        most: 0,
    },
    Spec {
        name: "check",
        kind: Kind::Check,
        usage: "check [--strict]",
        help: "Validates the config without a daemon.\n\n  --strict           warnings are errors too\n",
        flags: &["--strict"],
        most: 0,
    },
    Spec {
        name: "metrics",
        kind: Kind::Metrics,
        usage: "metrics",
        help: "Prints every program's state and usage in the Prometheus text format.\n",
        flags: &[],
        most: 0,
    },
    Spec {
        name: "rpcd",
        kind: Kind::Rpcd,
        usage: "rpcd list\n       pman rpcd call METHOD",
        help: "The rpcd exec plugin (/usr/libexec/rpcd/pman): `list` prints the methods,\n\
         `call METHOD` reads its JSON arguments on stdin and prints a JSON answer.\n",
        flags: &[],
        most: 2,
    },
];

/// supervisorctl's words for pman's commands.
/// `reread` is `reload --dry-run`.
const ALIASES: &[(&str, &str)] =
    &[("tail", "log"), ("update", "reload"), ("reread", "reload"), ("shutdown", "kill")];

/// The help of `command` (`None`: the whole usage).
pub fn help(command: Option<&str>) -> String {
    match COMMANDS.iter().find(|c| Some(c.name) == command) {
        Some(spec) => crate::text::concat("usage: pman {}\n\n{}", &[Str(spec.usage), Str(spec.help)]),
        None => USAGE.to_string(),
    }
}

/// Whose log `log` prints.
#[derive(Debug, PartialEq, Eq)]
pub enum LogSource {
    Program(String),
    /// `log --daemon`: `[pman] logfile`.
    Daemon,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Daemon {
        foreground: bool,
    },
    /// `status`, `start`, `stop`, `restart`, `signal`, `pid`, `reload`,
    /// `kill`: the request sent to the daemon, whose answer is printed.
    Send(Request),
    Log {
        source: LogSource,
        lines: usize,
        stderr: bool,
        follow: bool,
    },
    Check {
        strict: bool,
    },
    Metrics,
    /// `rpcd list` or `rpcd call METHOD`: its words.
    Rpcd(Vec<String>),
    /// The usage, or one command's help.
    Help(Option<&'static str>),
    Version,
}

#[derive(Debug)]
pub struct Invocation {
    pub config: FilePath,
    pub command: Command,
}

/// Parses argv (without argv[0]). `Err` is a usage error: one lowercase
/// line naming what is wrong, without the `pman: ` prefix.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut config: Option<String> = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        // After `--` every word is the command's, `-c` too.
        if arg == "--" {
            rest.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if arg == "-c" || arg == "--config" {
            let value =
                args.get(i + 1).ok_or_else(|| crate::text::concat("{}: missing config file", &[Str(arg)]))?;
            config = Some(value.clone());
            i += 2;
            continue;
        }
        match arg.strip_prefix("--config=") {
            Some(value) => config = Some(value.to_string()),
            None => rest.push(arg),
        }
        i += 1;
    }
    let command = parse_command(&rest).map_err(|e| typed(e, rest.first().copied().unwrap_or("")))?;
    Ok(Invocation { config: default_config(config), command })
}

/// A usage error of an alias names the word typed: `shutdown: …`.
fn typed(error: String, word: &str) -> String {
    match ALIASES.iter().find(|(alias, _)| *alias == word) {
        Some((_, name)) if error.starts_with(name) => {
            crate::text::concat("{}{}", &[Str(word), Str(&error[name.len()..])])
        }
        _ => error,
    }
}

fn parse_command(words: &[&str]) -> Result<Command, String> {
    let Some((&word, args)) = words.split_first() else {
        return Ok(Command::Daemon { foreground: false });
    };
    match word {
        "-V" | "--version" => {
            return match args {
                [] => Ok(Command::Version),
                [extra, ..] => {
                    Err(crate::text::concat("{}: unexpected argument '{}'", &[Str(word), Str(extra)]))
                }
            }
        }
        "help" | "-h" | "--help" => {
            return match args {
                [] | ["help" | "-h" | "--help"] => Ok(Command::Help(None)),
                [word] => Ok(Command::Help(Some(command(word)?.name))),
                [_, extra, ..] => {
                    Err(crate::text::concat("{}: unexpected argument '{}'", &[Str(word), Str(extra)]))
                }
            }
        }
        _ if word.starts_with('-') => return Err(crate::text::concat("unknown option '{}'", &[Str(word)])),
        _ => {}
    }
    let spec = command(word)?;
    let name = spec.name;
    if args.iter().any(|a| *a == "-h" || *a == "--help") {
        return Ok(Command::Help(Some(name)));
    }
    validate(spec, args)?;
    let Ok(Args { f, follow, json, stderr, daemon, dry_run, strict, lines, mut words }) =
        Args::from_args(&[name], args)
    else {
        // Not reached: `validate` let through only what argh parses.
        return Err(crate::text::concat("{}: bad arguments", &[Str(name)]));
    };
    let request = match spec.kind {
        Kind::Daemon => return Ok(Command::Daemon { foreground: f }),
        Kind::Check => return Ok(Command::Check { strict }),
        Kind::Metrics => return Ok(Command::Metrics),
        Kind::Rpcd => {
            return match words.as_slice() {
                [verb] if verb == "list" => Ok(Command::Rpcd(words)),
                [verb, _] if verb == "call" => Ok(Command::Rpcd(words)),
                _ => Err("rpcd: usage: pman rpcd list | pman rpcd call METHOD".into()),
            }
        }
        Kind::Log => {
            let follow = f || follow;
            let source = match (words.pop(), daemon) {
                (Some(program), false) => LogSource::Program(program),
                (None, true) if !stderr => LogSource::Daemon,
                (None, true) => return Err("log --daemon: the daemon has no --stderr log".into()),
                (Some(program), true) => {
                    return Err(crate::text::concat(
                        "log --daemon: unexpected argument '{}'",
                        &[Str(&program)],
                    ))
                }
                (None, false) => return Err("log: missing program name".into()),
            };
            let lines = lines.as_deref().and_then(crate::number::usize).unwrap_or(20);
            return Ok(Command::Log { source, lines, stderr, follow });
        }
        Kind::Status => Request::Status { names: words, json },
        Kind::Signal => {
            if words.is_empty() {
                return Err("signal: missing signal".into());
            }
            let signal = words.remove(0);
            if crate::signals::parse(&signal).is_none() {
                return Err(crate::text::one_line(crate::text::concat(
                    "signal: bad signal: {}",
                    &[Str(&signal)],
                )));
            }
            Request::Signal { signal, names: need_names(name, words)? }
        }
        Kind::Pid => Request::Pid(words.pop()),
        Kind::Reload => Request::Reload { dry_run: dry_run || word == "reread" },
        Kind::Kill => Request::Kill,
        Kind::Start => Request::Start(need_names(name, words)?),
        Kind::Stop => Request::Stop(need_names(name, words)?),
        Kind::Restart => Request::Restart(need_names(name, words)?),
    };
    Ok(Command::Send(request))
}

/// The command `word` names (aliases resolved), or the usage error.
fn command(word: &str) -> Result<&'static Spec, String> {
    let name = ALIASES.iter().find(|a| a.0 == word).map_or(word, |a| a.1);
    if let Some(spec) = COMMANDS.iter().find(|c| c.name == name) {
        return Ok(spec);
    }
    // The nearest name or alias, as a config key is suggested.
    let names = COMMANDS.iter().map(|c| c.name).chain(ALIASES.iter().map(|a| a.0)).chain(["help"]);
    match crate::config::nearest(word, names) {
        Some(near) => {
            Err(crate::text::concat("unknown command '{}' (did you mean '{}'?)", &[Str(word), Str(near)]))
        }
        None => Err(crate::text::concat("unknown command '{}'", &[Str(word)])),
    }
}

/// Every flag any command takes, and its words: argh reads them all into
/// one flat struct (one derive for ten commands costs the least), after
/// [`validate`] has checked them against the command's table entry. No help
/// triggers: `-h`/`--help` are handled before, and `help` may be a name.
#[derive(FromArgs)]
#[argh(description = "pman", help_triggers())]
struct Args {
    /// daemon -f/--foreground, or log -f (--follow).
    #[argh(switch, short = 'f', long = "foreground")]
    f: bool,
    /// log --follow.
    #[argh(switch)]
    follow: bool,
    /// status --json.
    #[argh(switch)]
    json: bool,
    /// log --stderr.
    #[argh(switch)]
    stderr: bool,
    /// log --daemon.
    #[argh(switch)]
    daemon: bool,
    /// reload --dry-run.
    #[argh(switch)]
    dry_run: bool,
    /// check --strict.
    #[argh(switch)]
    strict: bool,
    /// log -n/--lines N (checked by `validate`, read by `number`: argh's
    /// reader would be core's parser).
    #[argh(option, short = 'n')]
    lines: Option<String>,
    /// the words besides flags.
    #[argh(positional)]
    words: Vec<String>,
}

/// The first thing in a command's arguments that it does not take, read the
/// way argh reads them (a word starting with `-` is an option until `--`,
/// an option's value is the next word whatever it is): a flag of another
/// command, more than `spec.most` words, a bad `-n`. argh's own messages
/// are not pman's, and it would take any flag of [`Args`] and any number of
/// words, so what it is given here it always parses.
fn validate(spec: &Spec, args: &[&str]) -> Result<(), String> {
    let command = spec.name;
    let (mut words, mut lines, mut options_ended) = (0, false, false);
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        if options_ended || !arg.starts_with('-') {
            if words == spec.most {
                return Err(crate::text::concat("{}: unexpected argument '{}'", &[Str(command), Str(arg)]));
            }
            words += 1;
        } else if arg == "--" {
            options_ended = true;
        } else if spec.flags.contains(&arg) {
        } else if spec.kind == Kind::Log && (arg == "-n" || arg == "--lines") {
            let Some(value) = rest.next() else {
                return Err(crate::text::concat("{} {}: missing value", &[Str(command), Str(arg)]));
            };
            if lines {
                return Err(crate::text::concat("{} {}: given twice", &[Str(command), Str(arg)]));
            }
            if crate::number::usize(value).is_none() {
                return Err(crate::text::concat(
                    "{} {}: not a number: {}",
                    &[Str(command), Str(arg), Str(value)],
                ));
            }
            lines = true;
        } else {
            return Err(crate::text::concat("{}: unknown option '{}'", &[Str(command), Str(arg)]));
        }
    }
    Ok(())
}

fn need_names(command: &str, names: Vec<String>) -> Result<Vec<String>, String> {
    if names.is_empty() {
        return Err(crate::text::concat("{}: missing program name", &[Str(command)]));
    }
    Ok(names)
}

fn default_config(given: Option<String>) -> FilePath {
    match given {
        Some(path) => FilePath::from(path),
        None => match crate::sys::getenv(b"PMAN_CONFIG") {
            Some(path) if !path.is_empty() => FilePath::from(path),
            _ => FilePath::from("/etc/pman.conf"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Invocation, String> {
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&owned)
    }

    fn err(args: &[&str]) -> String {
        p(args).map(|i| format!("parsed: {:?}", i.command)).unwrap_or_else(|e| e)
    }

    #[test]
    fn config_before_or_after_command() {
        let a = p(&["-c", "a.conf", "status"]).unwrap();
        let b = p(&["status", "-c", "a.conf"]).unwrap();
        assert_eq!(a.config, FilePath::from("a.conf"));
        assert_eq!(b.config, FilePath::from("a.conf"));
        assert_eq!(a.command, b.command);
        let last = p(&["-c", "a.conf", "status", "--config", "b.conf"]).unwrap();
        assert_eq!(last.config, FilePath::from("b.conf"));
        // After `--`, `-c` is a word of the command.
        let after = p(&["-c", "a.conf", "stop", "--", "-c", "b.conf"]).unwrap();
        assert_eq!(after.config, FilePath::from("a.conf"));
        assert_eq!(after.command, Command::Send(Request::Stop(vec!["-c".into(), "b.conf".into()])));
    }

    #[test]
    fn no_command_is_daemon() {
        assert_eq!(p(&[]).unwrap().command, Command::Daemon { foreground: false });
        assert_eq!(p(&["daemon", "-f"]).unwrap().command, Command::Daemon { foreground: true });
    }

    #[test]
    fn usage_errors_name_what_is_wrong() {
        let cases: &[(&[&str], &str)] = &[
            (&["stauts"], "unknown command 'stauts' (did you mean 'status'?)"),
            (&["frobnicate"], "unknown command 'frobnicate'"),
            (&["shutdonw"], "unknown command 'shutdonw' (did you mean 'shutdown'?)"),
            (&["rpdc"], "unknown command 'rpdc' (did you mean 'rpcd'?)"),
            (&["x"], "unknown command 'x'"),
            (&["helpp"], "unknown command 'helpp' (did you mean 'help'?)"),
            (&["help", "stauts"], "unknown command 'stauts' (did you mean 'status'?)"),
            (&["--bogus"], "unknown option '--bogus'"),
            (&["--version", "extra"], "--version: unexpected argument 'extra'"),
            (&["help", "log", "x"], "help: unexpected argument 'x'"),
            (&["kill", "web"], "kill: unexpected argument 'web'"),
            (&["shutdown", "now"], "shutdown: unexpected argument 'now'"),
            (&["pid", "a", "b"], "pid: unexpected argument 'b'"),
            (&["start"], "start: missing program name"),
            (&["signal"], "signal: missing signal"),
            (&["signal", "HUP"], "signal: missing program name"),
            (&["signal", "SIGBOGUS", "web"], "signal: bad signal: SIGBOGUS"),
            (&["log"], "log: missing program name"),
            (&["log", "web", "-n", "abc"], "log -n: not a number: abc"),
            (&["tail", "web", "--lines", "-3"], "tail --lines: not a number: -3"),
            (&["log", "web", "-n"], "log -n: missing value"),
            (&["log", "web", "-n", "3", "-n", "4"], "log -n: given twice"),
            (&["log", "web", "--daemon"], "log --daemon: unexpected argument 'web'"),
            (&["status", "--bogus"], "status: unknown option '--bogus'"),
            (&["check", "extra"], "check: unexpected argument 'extra'"),
            (&["-c"], "-c: missing config file"),
            (&["kill", "-"], "kill: unknown option '-'"),
            (&["log", "web", "--lines=5"], "log: unknown option '--lines=5'"),
            (&["log", "web", "-n", "3", "--lines", "x"], "log --lines: given twice"),
            (&["log", "web", "-n", "--"], "log -n: not a number: --"),
            (&["log", "web", "x"], "log: unexpected argument 'x'"),
            (&["pid", "a", "--", "b"], "pid: unexpected argument 'b'"),
            (&["daemon", "-f", "x"], "daemon: unexpected argument 'x'"),
            (&["rpcd"], "rpcd: usage: pman rpcd list | pman rpcd call METHOD"),
            (&["rpcd", "call"], "rpcd: usage: pman rpcd list | pman rpcd call METHOD"),
        ];
        for (args, want) in cases {
            assert_eq!(err(args), *want, "{args:?}");
        }
    }

    #[test]
    fn help_of_the_whole_or_of_one_command() {
        assert_eq!(p(&["help"]).unwrap().command, Command::Help(None));
        assert_eq!(p(&["-h"]).unwrap().command, Command::Help(None));
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help(None));
        assert_eq!(p(&["help", "log"]).unwrap().command, Command::Help(Some("log")));
        assert_eq!(p(&["help", "tail"]).unwrap().command, Command::Help(Some("log")));
        assert_eq!(p(&["help", "--help"]).unwrap().command, Command::Help(None));
        assert_eq!(p(&["status", "--help"]).unwrap().command, Command::Help(Some("status")));
        assert_eq!(p(&["--help", "status"]).unwrap().command, Command::Help(Some("status")));
        assert_eq!(p(&["-h", "tail"]).unwrap().command, Command::Help(Some("log")));
        assert_eq!(p(&["--version"]).unwrap().command, Command::Version);
        assert_eq!(p(&["kill", "-h"]).unwrap().command, Command::Help(Some("kill")));
        assert_eq!(p(&["-V"]).unwrap().command, Command::Version);
        assert!(help(Some("log")).starts_with("usage: pman log NAME"));
        for spec in COMMANDS {
            assert!(USAGE.contains(spec.name), "{} missing from the usage", spec.name);
        }
    }

    #[test]
    fn words_after_double_dash_are_names() {
        assert_eq!(p(&["kill", "--"]).unwrap().command, Command::Send(Request::Kill));
        assert_eq!(
            p(&["status", "--", "--json"]).unwrap().command,
            Command::Send(Request::Status { names: vec!["--json".into()], json: false })
        );
        assert_eq!(
            p(&["stop", "--", "-web", "--"]).unwrap().command,
            Command::Send(Request::Stop(vec!["-web".into(), "--".into()]))
        );
        let log = p(&["log", "--", "--daemon"]).unwrap().command;
        assert_eq!(
            log,
            Command::Log {
                source: LogSource::Program("--daemon".into()),
                lines: 20,
                stderr: false,
                follow: false
            }
        );
    }

    #[test]
    fn a_program_named_help_is_a_name() {
        assert_eq!(
            p(&["status", "help"]).unwrap().command,
            Command::Send(Request::Status { names: vec!["help".into()], json: false })
        );
        assert_eq!(p(&["stop", "help"]).unwrap().command, Command::Send(Request::Stop(vec!["help".into()])));
    }

    #[test]
    fn aliases() {
        assert_eq!(p(&["shutdown"]).unwrap().command, Command::Send(Request::Kill));
        assert_eq!(p(&["update"]).unwrap().command, Command::Send(Request::Reload { dry_run: false }));
        assert_eq!(p(&["reread"]).unwrap().command, Command::Send(Request::Reload { dry_run: true }));
        assert_eq!(p(&["help", "reread"]).unwrap().command, Command::Help(Some("reload")));
        assert_eq!(p(&["reread", "x"]).unwrap_err(), "reread: unexpected argument 'x'");
        let tail = p(&["tail", "web", "-f"]).unwrap().command;
        assert_eq!(
            tail,
            Command::Log { source: LogSource::Program("web".into()), lines: 20, stderr: false, follow: true }
        );
    }

    #[test]
    fn log_options() {
        let inv = p(&["log", "web", "-n", "5", "--stderr", "-f"]).unwrap();
        assert_eq!(
            inv.command,
            Command::Log { source: LogSource::Program("web".into()), lines: 5, stderr: true, follow: true }
        );
        let daemon = p(&["log", "--daemon", "-n", "3"]).unwrap().command;
        assert_eq!(
            daemon,
            Command::Log { source: LogSource::Daemon, lines: 3, stderr: false, follow: false }
        );
    }

    #[test]
    fn argh_parses_whatever_the_table_lets_through() {
        // Every sequence of up to three of these words, for every command.
        let pool = [
            "-f",
            "--foreground",
            "--follow",
            "--json",
            "--stderr",
            "--daemon",
            "--dry-run",
            "--strict",
            "-n",
            "--lines",
            "5",
            "x",
            "--",
            "-",
            "-3",
            "help",
        ];
        let mut accepted = 0;
        for spec in COMMANDS {
            for len in 0..=3u32 {
                for mut index in 0..pool.len().pow(len) {
                    let mut args = Vec::new();
                    for _ in 0..len {
                        args.push(pool[index % pool.len()]);
                        index /= pool.len();
                    }
                    if validate(spec, &args).is_ok() {
                        accepted += 1;
                        assert!(Args::from_args(&[spec.name], &args).is_ok(), "{} {args:?}", spec.name);
                    }
                }
            }
        }
        assert!(accepted > 1000, "{accepted}");
    }
}
