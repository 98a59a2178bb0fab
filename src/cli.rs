//! Command line: `pman [-c CONFIG] [COMMAND] [ARGS] [-c CONFIG]`.
//! `-c` is taken out of argv first (it may stand anywhere, the last one
//! wins), then the command word is ours to read (aliases, `help CMD`, a
//! suggestion for a typo) and argh parses that command's arguments. Help
//! text and usage errors are ours, not argh's.

use argh::FromArgs;
use std::path::PathBuf;

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
  help [COMMAND]               print this help, or a command's

aliases: tail = log, update = reload, shutdown = kill

options:
  -c, --config CONFIG          config file (default $PMAN_CONFIG, else /etc/pman.conf)
  -V, --version                print the version
  -h, --help                   print this help (after a command: its help)
";

/// What every usage error ends with.
pub const TRY_HELP: &str = "try 'pman --help'";

/// Each command's name, usage and help (`pman help CMD`, `pman CMD --help`).
const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "daemon",
        "daemon [-f]",
        "Starts the supervisor. Without -f it detaches and returns once the daemon\n\
         listens on its socket.\n\n  -f, --foreground   stay in the foreground, log to stderr too\n",
    ),
    (
        "status",
        "status [NAME...] [--json]",
        "Prints a status line for each named program, or all in config order.\n\
         Exit 0 all RUNNING, 3 any not, 2 unknown name, 1 daemon unreachable.\n\n\
         \x20 --json             one JSON array instead of status lines\n",
    ),
    ("start", "start NAME...|all", "Starts programs; waits until each is RUNNING or its start failed.\n"),
    ("stop", "stop NAME...|all", "Stops programs (stopsignal, then SIGKILL); waits until stopped.\n"),
    ("restart", "restart NAME...|all", "Stops, then starts programs.\n"),
    (
        "signal",
        "signal SIG NAME...|all",
        "Sends SIG (HUP, SIGHUP or a number) to each named program's process.\n\
         One without a process: `pman: NAME is not running (STATE)`, exit 1.\n",
    ),
    (
        "pid",
        "pid [NAME]",
        "Prints the daemon's pid, or the program's. A program without a process:\n\
         `pman: NAME is not running (STATE)`, exit 1.\n",
    ),
    (
        "log",
        "log NAME [-n N] [--stderr] [-f]\n       pman log --daemon [-n N] [-f]",
        "Prints the last lines of a program's log file (alias: tail). Needs no\n\
         daemon when the config names a file.\n\n\
         \x20 -n, --lines N      the last N lines (default 20)\n\
         \x20 --stderr           the stderr log\n\
         \x20 -f, --follow       then print new lines as they come, across rotation\n\
         \x20 --daemon           the daemon's own log ([pman] logfile)\n",
    ),
    (
        "reload",
        "reload [--dry-run]",
        "Re-reads the config: starts added programs, stops removed ones, restarts\n\
         changed ones (alias: update). A config with errors changes nothing.\n\n\
         \x20 --dry-run          print what reload would change, changing nothing\n",
    ),
    ("kill", "kill", "Stops all programs and ends the daemon (alias: shutdown).\n"),
    (
        "check",
        "check [--strict]",
        "Validates the config without a daemon.\n\n  --strict           warnings are errors too\n",
    ),
];

/// supervisorctl's words for pman's commands.
const ALIASES: &[(&str, &str)] = &[("tail", "log"), ("update", "reload"), ("shutdown", "kill")];

/// The help of `command` (`None`: the whole usage).
pub fn help(command: Option<&str>) -> String {
    match COMMANDS.iter().find(|c| Some(c.0) == command) {
        Some((_, usage, text)) => ["usage: pman ", usage, "\n\n", text].concat(),
        None => USAGE.to_string(),
    }
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// start the supervisor
struct DaemonArgs {
    #[argh(switch, short = 'f')]
    /// stay in the foreground
    foreground: bool,
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// show programs
struct StatusArgs {
    #[argh(switch)]
    /// JSON output
    json: bool,
    #[argh(positional)]
    names: Vec<String>,
}

/// `start`, `stop`, `restart`: names only.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// programs
struct NamesArgs {
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// send a signal
struct SignalArgs {
    /// SIG NAME...
    #[argh(positional)]
    words: Vec<String>,
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// print a pid
struct PidArgs {
    #[argh(positional)]
    name: Option<String>,
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// print captured output
struct LogArgs {
    #[argh(positional)]
    name: Option<String>,
    #[argh(option, short = 'n', default = "20")]
    /// number of lines
    lines: usize,
    #[argh(switch)]
    /// the stderr log
    stderr: bool,
    #[argh(switch, short = 'f')]
    /// follow
    follow: bool,
    #[argh(switch)]
    /// the daemon's own log
    daemon: bool,
}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// reload the config
struct ReloadArgs {
    #[argh(switch)]
    /// print what reload would change, changing nothing
    dry_run: bool,
}

/// `kill`: no arguments.
#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// no arguments
struct NoArgs {}

#[derive(FromArgs)]
#[argh(help_triggers("-h", "--help"))]
/// validate the config
struct CheckArgs {
    #[argh(switch)]
    /// warnings are errors
    strict: bool,
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
    Log {
        source: LogSource,
        lines: usize,
        stderr: bool,
        follow: bool,
    },
    Reload {
        dry_run: bool,
    },
    Kill,
    Check {
        strict: bool,
    },
    /// The usage, or one command's help.
    Help(Option<&'static str>),
    Version,
}

#[derive(Debug)]
pub struct Invocation {
    pub config: PathBuf,
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
        if arg == "-c" || arg == "--config" {
            let value = args.get(i + 1).ok_or_else(|| format!("{arg}: missing config file"))?;
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
    let command = parse_command(&rest)?;
    Ok(Invocation { config: default_config(config), command })
}

fn parse_command(words: &[&str]) -> Result<Command, String> {
    let Some((&word, args)) = words.split_first() else {
        return Ok(Command::Daemon { foreground: false });
    };
    match word {
        "-h" | "--help" => return Ok(Command::Help(None)),
        "-V" | "--version" => return Ok(Command::Version),
        "help" => {
            return match args {
                [] | ["help"] => Ok(Command::Help(None)),
                [command] => Ok(Command::Help(Some(command_name(command)?))),
                [_, extra, ..] => Err(format!("help: unexpected argument '{extra}'")),
            }
        }
        _ if word.starts_with('-') => return Err(format!("unknown option '{word}'")),
        _ => {}
    }
    let name = command_name(word)?;
    if args.iter().any(|a| *a == "-h" || *a == "--help") {
        return Ok(Command::Help(Some(name)));
    }
    Ok(match name {
        "daemon" => Command::Daemon { foreground: parsed::<DaemonArgs>(name, args)?.foreground },
        "status" => {
            let a: StatusArgs = parsed(name, args)?;
            Command::Status { names: a.names, json: a.json }
        }
        "start" => Command::Start(need_names(name, parsed::<NamesArgs>(name, args)?.names)?),
        "stop" => Command::Stop(need_names(name, parsed::<NamesArgs>(name, args)?.names)?),
        "restart" => Command::Restart(need_names(name, parsed::<NamesArgs>(name, args)?.names)?),
        "signal" => {
            let mut words = parsed::<SignalArgs>(name, args)?.words.into_iter();
            let signal = words.next().ok_or("signal: missing signal")?;
            Command::Signal { signal, names: need_names(name, words.collect())? }
        }
        "pid" => Command::Pid(parsed::<PidArgs>(name, args)?.name),
        "log" => {
            let a: LogArgs = parsed(name, args)?;
            let source = match (a.name, a.daemon) {
                (Some(program), false) => LogSource::Program(program),
                (None, true) if !a.stderr => LogSource::Daemon,
                (None, true) => return Err("log --daemon: the daemon has no --stderr log".into()),
                (Some(program), true) => {
                    return Err(format!("log --daemon: unexpected argument '{program}'"))
                }
                (None, false) => return Err("log: missing program name".into()),
            };
            Command::Log { source, lines: a.lines, stderr: a.stderr, follow: a.follow }
        }
        "reload" => Command::Reload { dry_run: parsed::<ReloadArgs>(name, args)?.dry_run },
        "kill" => {
            parsed::<NoArgs>(name, args)?;
            Command::Kill
        }
        _ => Command::Check { strict: parsed::<CheckArgs>(name, args)?.strict },
    })
}

/// The command `word` names (aliases resolved), or the usage error.
fn command_name(word: &str) -> Result<&'static str, String> {
    if let Some(&(name, ..)) = COMMANDS.iter().find(|c| c.0 == word) {
        return Ok(name);
    }
    if let Some(&(_, name)) = ALIASES.iter().find(|a| a.0 == word) {
        return Ok(name);
    }
    let words = COMMANDS.iter().map(|c| c.0).chain(ALIASES.iter().map(|a| a.0));
    let nearest = words.map(|w| (distance(word, w), w)).min_by_key(|&(d, _)| d);
    match nearest {
        Some((d, near)) if d <= 2 && d < word.len() => {
            Err(format!("unknown command '{word}' (did you mean '{near}'?)"))
        }
        _ => Err(format!("unknown command '{word}'")),
    }
}

/// Levenshtein distance over bytes (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.bytes().enumerate() {
            let value = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = row[j + 1];
            row[j + 1] = value;
        }
    }
    row[b.len()]
}

/// `command`'s arguments parsed by argh; its errors said our way.
fn parsed<T: FromArgs>(command: &str, args: &[&str]) -> Result<T, String> {
    T::from_args(&["pman", command], args).map_err(|exit| usage_error(command, &exit.output))
}

/// argh's error message as a pman usage error: lowercase, naming the
/// command and the argument (argh's wording is pinned by Cargo.lock and
/// checked by the unit tests below).
fn usage_error(command: &str, argh: &str) -> String {
    let first = argh.lines().next().unwrap_or_default();
    if let Some(arg) = first.strip_prefix("Unrecognized argument: ") {
        let arg = arg.trim_matches('"');
        return if arg.starts_with('-') {
            format!("{command}: unknown option '{arg}'")
        } else {
            format!("{command}: unexpected argument '{arg}'")
        };
    }
    if let Some(option) = first.strip_prefix("No value provided for option '") {
        return format!("{command} {}: missing value", option.trim_end_matches("'."));
    }
    if let Some((option, value)) =
        first.strip_prefix("Error parsing option '").and_then(|rest| rest.split_once("' with value '"))
    {
        let (value, why) = value.rsplit_once("': ").unwrap_or((value, ""));
        if why.contains("duplicate") {
            return format!("{command} {option}: given twice");
        }
        return format!("{command} {option}: not a number: {value}");
    }
    format!("{command}: {}", first.to_lowercase())
}

fn need_names(command: &str, names: Vec<String>) -> Result<Vec<String>, String> {
    if names.is_empty() {
        return Err(format!("{command}: missing program name"));
    }
    Ok(names)
}

fn default_config(given: Option<String>) -> PathBuf {
    match given {
        Some(path) => PathBuf::from(path),
        None => match std::env::var_os("PMAN_CONFIG") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => PathBuf::from("/etc/pman.conf"),
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
        assert_eq!(a.config, PathBuf::from("a.conf"));
        assert_eq!(b.config, PathBuf::from("a.conf"));
        assert_eq!(a.command, b.command);
        let last = p(&["-c", "a.conf", "status", "--config", "b.conf"]).unwrap();
        assert_eq!(last.config, PathBuf::from("b.conf"));
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
            (&["help", "stauts"], "unknown command 'stauts' (did you mean 'status'?)"),
            (&["--bogus"], "unknown option '--bogus'"),
            (&["kill", "web"], "kill: unexpected argument 'web'"),
            (&["shutdown", "now"], "kill: unexpected argument 'now'"),
            (&["pid", "a", "b"], "pid: unexpected argument 'b'"),
            (&["start"], "start: missing program name"),
            (&["signal"], "signal: missing signal"),
            (&["signal", "HUP"], "signal: missing program name"),
            (&["log"], "log: missing program name"),
            (&["log", "web", "-n", "abc"], "log -n: not a number: abc"),
            (&["tail", "web", "--lines", "-3"], "log --lines: not a number: -3"),
            (&["log", "web", "-n"], "log -n: missing value"),
            (&["log", "web", "-n", "3", "-n", "4"], "log -n: given twice"),
            (&["log", "web", "--daemon"], "log --daemon: unexpected argument 'web'"),
            (&["status", "--bogus"], "status: unknown option '--bogus'"),
            (&["check", "extra"], "check: unexpected argument 'extra'"),
            (&["-c"], "-c: missing config file"),
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
        assert_eq!(p(&["status", "--help"]).unwrap().command, Command::Help(Some("status")));
        assert_eq!(p(&["kill", "-h"]).unwrap().command, Command::Help(Some("kill")));
        assert_eq!(p(&["-V"]).unwrap().command, Command::Version);
        assert!(help(Some("log")).starts_with("usage: pman log NAME"));
        for &(name, ..) in COMMANDS {
            assert!(USAGE.contains(name), "{name} missing from the usage");
        }
    }

    #[test]
    fn a_program_named_help_is_a_name() {
        assert_eq!(
            p(&["status", "help"]).unwrap().command,
            Command::Status { names: vec!["help".into()], json: false }
        );
        assert_eq!(p(&["stop", "help"]).unwrap().command, Command::Stop(vec!["help".into()]));
    }

    #[test]
    fn aliases() {
        assert_eq!(p(&["shutdown"]).unwrap().command, Command::Kill);
        assert_eq!(p(&["update"]).unwrap().command, Command::Reload { dry_run: false });
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
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("stauts", "status"), 2);
    }
}
