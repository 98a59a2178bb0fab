//! Command line: `pman [-c CONFIG] [COMMAND] [ARGS] [-c CONFIG]`.
//! `-c` is taken out of argv first (it may stand anywhere, the last one
//! wins), then argh parses the rest. Help text is ours, not argh's.

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
  signal SIG NAME...           send a signal to programs
  pid [NAME]                   print the daemon's or a program's pid
  log NAME [-n N] [--stderr] [-f]
                               print a program's captured output
  reload [--dry-run]           re-read the config and apply the difference
  kill (shutdown)              stop all programs and end the daemon
  check [--strict]             validate the config

options:
  -c, --config CONFIG          config file (default $PMAN_CONFIG, else /etc/pman.conf)
  --version                    print the version
  --help                       print this help
";

#[derive(FromArgs, Debug)]
/// pman
struct Top {
    #[argh(subcommand)]
    command: Option<Sub>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    Daemon(DaemonArgs),
    Status(StatusArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Restart(RestartArgs),
    Signal(SignalArgs),
    Pid(PidArgs),
    Log(LogArgs),
    Reload(ReloadArgs),
    Kill(KillArgs),
    Shutdown(ShutdownArgs),
    Check(CheckArgs),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "daemon")]
/// start the supervisor
struct DaemonArgs {
    #[argh(switch, short = 'f')]
    /// stay in the foreground
    foreground: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// show programs
struct StatusArgs {
    #[argh(switch)]
    /// JSON output
    json: bool,
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "start")]
/// start programs
struct StartArgs {
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stop")]
/// stop programs
struct StopArgs {
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restart")]
/// restart programs
struct RestartArgs {
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "signal")]
/// send a signal
struct SignalArgs {
    #[argh(positional)]
    signal: String,
    #[argh(positional)]
    names: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pid")]
/// print a pid
struct PidArgs {
    #[argh(positional)]
    name: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "log")]
/// print captured output
struct LogArgs {
    #[argh(positional)]
    name: String,
    #[argh(option, short = 'n', default = "20")]
    /// number of lines
    lines: usize,
    #[argh(switch)]
    /// the stderr log
    stderr: bool,
    #[argh(switch, short = 'f')]
    /// follow
    follow: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reload")]
/// reload the config
struct ReloadArgs {
    #[argh(switch)]
    /// print what reload would change, changing nothing
    dry_run: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "kill")]
/// stop everything and end the daemon
struct KillArgs {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "shutdown")]
/// alias of kill
struct ShutdownArgs {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
/// validate the config
struct CheckArgs {
    #[argh(switch)]
    /// warnings are errors
    strict: bool,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Daemon { foreground: bool },
    Status { names: Vec<String>, json: bool },
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    Signal { signal: String, names: Vec<String> },
    Pid(Option<String>),
    Log { name: String, lines: usize, stderr: bool, follow: bool },
    Reload { dry_run: bool },
    Kill,
    Check { strict: bool },
    Help,
    Version,
}

#[derive(Debug)]
pub struct Invocation {
    pub config: PathBuf,
    pub command: Command,
}

/// Parses argv (without argv[0]). `Err` is a usage error message.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut config: Option<String> = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "-c" || arg == "--config" {
            let value = args.get(i + 1).ok_or_else(|| format!("option {arg} needs a value"))?;
            config = Some(value.clone());
            i += 2;
            continue;
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            config = Some(value.to_string());
        } else if arg == "--help" || arg == "-h" || (arg == "help" && rest.is_empty()) {
            return Ok(Invocation { config: default_config(config), command: Command::Help });
        } else if arg == "--version" || arg == "-V" {
            return Ok(Invocation { config: default_config(config), command: Command::Version });
        } else {
            rest.push(arg);
        }
        i += 1;
    }
    let top = Top::from_args(&["pman"], &rest).map_err(|exit| {
        let text = exit.output.trim();
        if text.is_empty() {
            "bad arguments".to_string()
        } else {
            text.lines().next().unwrap_or(text).to_string()
        }
    })?;
    let command = match top.command {
        None => Command::Daemon { foreground: false },
        Some(Sub::Daemon(a)) => Command::Daemon { foreground: a.foreground },
        Some(Sub::Status(a)) => Command::Status { names: a.names, json: a.json },
        Some(Sub::Start(a)) => Command::Start(need_names("start", a.names)?),
        Some(Sub::Stop(a)) => Command::Stop(need_names("stop", a.names)?),
        Some(Sub::Restart(a)) => Command::Restart(need_names("restart", a.names)?),
        Some(Sub::Signal(a)) => Command::Signal { signal: a.signal, names: need_names("signal", a.names)? },
        Some(Sub::Pid(a)) => Command::Pid(a.name),
        Some(Sub::Log(a)) => {
            Command::Log { name: a.name, lines: a.lines, stderr: a.stderr, follow: a.follow }
        }
        Some(Sub::Reload(a)) => Command::Reload { dry_run: a.dry_run },
        Some(Sub::Kill(_)) | Some(Sub::Shutdown(_)) => Command::Kill,
        Some(Sub::Check(a)) => Command::Check { strict: a.strict },
    };
    Ok(Invocation { config: default_config(config), command })
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
    fn usage_errors() {
        assert!(p(&["kill", "web"]).is_err());
        assert!(p(&["start"]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["status", "--bogus"]).is_err());
        assert!(p(&["-c"]).is_err());
        assert!(p(&["signal", "HUP"]).is_err());
    }

    #[test]
    fn help_as_an_option_or_the_command() {
        assert_eq!(p(&["help"]).unwrap().command, Command::Help);
        assert_eq!(p(&["status", "--help"]).unwrap().command, Command::Help);
    }

    #[test]
    fn log_options() {
        let inv = p(&["log", "web", "-n", "5", "--stderr", "-f"]).unwrap();
        assert_eq!(inv.command, Command::Log { name: "web".into(), lines: 5, stderr: true, follow: true });
        assert_eq!(p(&["shutdown"]).unwrap().command, Command::Kill);
    }
}
