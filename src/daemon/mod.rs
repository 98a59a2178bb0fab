//! The supervisor daemon: start-up (detach, readiness, pidfile). The loop
//! lives in `loop`, the program table in `table` (lifecycles in `program`,
//! spawning in `spawn`), the control socket and its requests in `control`,
//! waiting commands in `jobs`, captured output in `capture`, the daemon's
//! log in `log`.

mod capture;
mod control;
mod health;
mod jobs;
mod log;
mod r#loop;
mod program;
mod rotate;
mod spawn;
mod status;
mod table;
mod usage;

use crate::config::{self, Config};
use crate::socket;
use crate::sys;
use crate::text::Part::{Bytes, Int, Str};
use crate::text::{concat, Part, Text};
use log::Logger;
use program::State;
use r#loop::Daemon;
use spawn::Context;
use std::os::fd::{AsRawFd, OwnedFd};
use table::{Slot, Table};

/// `pman daemon [-f]`. Boot runs what it can: errors in the config are
/// printed and logged, and only those that leave nothing to run or no
/// socket to find the daemon by stop it (exit 2).
pub fn run(config_path: &[u8], foreground: bool) -> i32 {
    let mut report = config::load(config_path);
    for warning in &report.warnings {
        say("pman: warning: {}", &[Str(warning)]);
    }
    // for_boot does not read the warnings: they move out whole.
    let warnings = std::mem::take(&mut report.warnings);
    let (config, errors) = match report.for_boot() {
        Ok(boot) => boot,
        Err(errors) => {
            for error in &errors {
                say_pman(error);
            }
            return 2;
        }
    };
    for error in &errors {
        say_pman(error);
    }
    let found = Found { warnings, errors };
    if let Some(message) = already_running(&config.socket) {
        say_pman(&message);
        return 1;
    }
    if foreground {
        return match start(config, &found, true, None) {
            Ok(daemon) => serve(daemon),
            Err(message) => {
                say_pman(&message);
                1
            }
        };
    }
    detach(config, &found)
}

/// Runs the loop to its end. The process exits next, which frees the
/// memory and closes the descriptors: dropping the daemon would only
/// repeat that (and its drop code is about 700 bytes).
fn serve(mut daemon: Box<Daemon>) -> i32 {
    let code = daemon.run();
    std::mem::forget(daemon);
    code
}

/// What loading the config said, for the daemon log (`run` printed it on stderr).
struct Found {
    warnings: Vec<String>,
    errors: Vec<String>,
}

/// Forks the daemon and waits for its readiness line over a pipe: `OK`, or
/// the error that stopped it. The daemon keeps no descriptor it inherited
/// beyond 0–2 (those go to /dev/null once it is ready).
fn detach(config: Config, found: &Found) -> i32 {
    let (ready_read, ready_write) = match sys::pipe(false) {
        Ok(pair) => pair,
        Err(e) => {
            say("pman: pipe: {}", &[Str(&sys::describe(&e))]);
            return 1;
        }
    };
    match sys::fork() {
        Err(e) => {
            say("pman: fork: {}", &[Str(&sys::describe(&e))]);
            1
        }
        Ok(0) => {
            drop(ready_read);
            sys::setsid();
            sys::close_inherited(ready_write.as_raw_fd());
            match start(config, found, false, Some(ready_write)) {
                Ok(daemon) => serve(daemon),
                Err(_) => 1,
            }
        }
        Ok(_child) => {
            drop(ready_write);
            let mut bytes = Vec::new();
            let _ = sys::read_to_end(ready_read.as_raw_fd(), &mut bytes);
            let answer = sys::string_of(bytes).unwrap_or_default();
            if answer.starts_with("OK") {
                0
            } else if answer.is_empty() {
                say("pman: daemon exited before it was ready", &[]);
                1
            } else {
                say_pman(answer.strip_suffix('\n').unwrap_or(&answer));
                1
            }
        }
    }
}

/// Some("already running (pid N)") when a daemon answers on `socket`;
/// the socket named as in use when its listener does not answer a request
/// within [`PROBE_TIMEOUT`] (or is another user's).
fn already_running(name: &str) -> Option<String> {
    let stream = socket::connect(name).ok()?;
    let (pid, uid) = sys::peer_cred(&stream).ok()?;
    if !socket::trusted(uid) {
        return Some(socket::held_by(name, pid, uid));
    }
    if !answers(&stream) {
        let in_use = sys::strerror(libc::EADDRINUSE);
        return Some(concat("cannot listen on {}: {} (no answer there)", &[Str(name), Str(&in_use)]));
    }
    Some(concat("already running (pid {})", &[Int(pid.into())]))
}

/// How long a listener on our socket gets to answer before it is taken for
/// something other than a pman daemon.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// True when the listener behind `stream` answers a `pid` request.
fn answers(stream: &std::os::unix::net::UnixStream) -> bool {
    let mut request = crate::protocol::Request::Pid(None).encode();
    request.push('\n');
    // A daemon that refuses us answers without reading: ignore the write.
    let _ = sys::write_all(stream.as_raw_fd(), request.as_bytes());
    let mut byte = [0u8; 1];
    loop {
        if !sys::readable_within(stream.as_raw_fd(), PROBE_TIMEOUT) {
            return false;
        }
        match sys::read(stream.as_raw_fd(), &mut byte) {
            Ok(n) => return n > 0,
            Err(e) if sys::interrupted(&e) => {}
            Err(_) => return false,
        }
    }
}

/// Sets everything up: subreaper, signals, socket, pidfile, log; starts
/// the autostart programs. With `ready`, reports `OK` or the error on it
/// and then detaches stdio.
fn start(
    config: Config,
    found: &Found,
    foreground: bool,
    ready: Option<OwnedFd>,
) -> Result<Box<Daemon>, String> {
    let result = setup(config, found, foreground);
    if let Some(ready) = ready {
        let mut message = Text::new();
        match &result {
            Ok(_) => message.str("OK\n"),
            Err(message_) => message.str(message_).byte(b'\n'),
        };
        let _ = sys::write_all(ready.as_raw_fd(), message.as_bytes());
        drop(ready);
        if result.is_ok() {
            sys::stdio_to_devnull();
        }
    }
    let mut daemon = result?;
    daemon.start_autostart();
    Ok(daemon)
}

fn setup(mut config: Config, found: &Found, foreground: bool) -> Result<Box<Daemon>, String> {
    // Whatever the launcher left open must not reach programs.
    sys::cloexec_from(3);
    let mut log = Logger::new(foreground);
    let logfile_error = log
        .configure(
            config.logfile.as_deref(),
            config.logfile_maxbytes,
            config.logfile_backups,
            &config.syslog_socket,
        )
        .err();
    if let Some(message) = logfile_error {
        // Configure fell back to syslog; the launcher's stderr is still ours.
        startup_error(&mut log, foreground, "{}; logging to syslog", &[Str(&message)]);
    }
    for warning in &found.warnings {
        log.record(log::Level::Warn, "{}", &[Str(warning)]);
    }
    for error in &found.errors {
        log.record(log::Level::Error, "{}", &[Str(error)]);
    }
    if let Err(e) = sys::set_child_subreaper() {
        log.warn("cannot become a child subreaper ({}): orphans may linger", &[Str(&sys::describe(&e))]);
    }
    let (signal_read, signal_write) = sys::pipe(true).map_err(|e| e.after("pipe"))?;
    let signals = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
    sys::signals_to_pipe(&signals, signal_write.as_raw_fd()).map_err(|e| e.after("signals"))?;
    // The write end lives as long as the handlers: for the whole process.
    std::mem::forget(signal_write);

    let listener = socket::listen(&config.socket)
        .map_err(|e| concat("cannot listen on {}: {}", &[Str(&config.socket), Str(&sys::describe(&e))]))?;
    if let Some(pidfile) = &config.pidfile {
        if let Err(message) = write_pidfile(pidfile) {
            startup_error(&mut log, foreground, "{}; no pidfile written", &[Str(&message)]);
            // Not ours to remove at exit.
            config.pidfile = None;
        }
    }
    let devnull = sys::open(c"/dev/null", libc::O_RDWR, 0).map_err(|e| e.after("/dev/null"))?;
    let ctx = Context::new(sys::geteuid(), sys::getpid(), devnull);
    let mut slots: Vec<Slot> = std::mem::take(&mut config.programs).into_iter().map(Slot::new).collect();
    for (name, error) in std::mem::take(&mut config.unrun) {
        if let Some(slot) = slots.iter_mut().find(|s| s.cfg.name == name) {
            slot.prog.state = State::Fatal;
            slot.prog.reason = Some(concat("config: {}", &[Str(&error)]).into());
        }
    }
    log.info(
        "{}{}), listening on {}",
        &[
            Str(concat!("pman ", env!("CARGO_PKG_VERSION"), " started (pid ")),
            Int(sys::getpid().into()),
            Str(&config.socket),
        ],
    );
    Ok(Box::new(Daemon::new(config, Table::new(slots), listener, log, ctx, signal_read)))
}

/// A start-up problem the daemon survives: logged, and (detached) printed
/// on the launcher's stderr, which the daemon holds until it is ready.
fn startup_error(log: &mut Logger, foreground: bool, template: &str, args: &[Part]) {
    log.error(template, args);
    if !foreground {
        let mut line = Text::new();
        line.str("pman: ").parts(template, args).newline();
        let _ = sys::write_all(2, line.as_bytes());
    }
}

/// Prints one line on stderr.
/// `pman: TEXT` on stderr.
#[inline(never)]
fn say_pman(text: &str) {
    say("pman: {}", &[Str(text)]);
}

fn say(template: &str, args: &[Part]) {
    let mut line = Text::new();
    line.parts(template, args).newline();
    let _ = sys::write_all(2, line.as_bytes());
}

/// Writes our pid, mode 0644 whatever the umask (a stale file is replaced).
pub(super) fn write_pidfile(path: &[u8]) -> Result<(), String> {
    let _ = sys::remove_file(path);
    let mut pid = Text::new();
    pid.int(sys::getpid().into()).newline();
    let bytes = path;
    let failed = |reason: &str| concat("pidfile {}: {}", &[Bytes(bytes), Str(reason)]);
    // std's words for a path no syscall can take.
    let cpath = sys::c_string(bytes).ok_or_else(|| failed("file name contained an unexpected NUL byte"))?;
    sys::open(&cpath, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o644)
        .and_then(|fd| sys::write_all(fd.as_raw_fd(), pid.as_bytes()))
        .map_err(|e| failed(&sys::describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every configured program costs a Slot: keep it small (routers run
    /// hundreds of programs in a few hundred KB).
    #[test]
    fn a_slot_stays_small() {
        let size = std::mem::size_of::<Slot>();
        // 352 on 64-bit targets (256 on mipsel): settings most programs
        // leave unset live in `limits`, held only when set.
        assert!(size <= 352, "Slot grew to {size} bytes");
        eprintln!(
            "Slot {size} B, ProgramConfig {} B, Program {} B",
            std::mem::size_of::<crate::config::ProgramConfig>(),
            std::mem::size_of::<program::Program>()
        );
    }
}
