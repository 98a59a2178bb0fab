//! QA: black-box checks of SPEC.md as a router admin, an init script and a
//! supervisorctl user meet it. Each test names the SPEC rule it holds pman to.

#[macro_use]
mod common;

use common::*;
use std::time::Duration;

/// SPEC, Config: "`[program:NAME]` (NAME: ASCII letters, digits, `-`, `_`,
/// `.`; at most 64 bytes)". A 65-byte name is an error naming the file and
/// line (`check` exits 2); 64 bytes is fine.
#[test]
fn a_program_name_longer_than_64_bytes_is_an_error() {
    let env = Env::new();
    let ok = "n".repeat(64);
    env.write_config(&prog(&ok, "/bin/sleep 1", ""));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "a 64-byte name is allowed: {out}");

    let long = "n".repeat(65);
    env.write_config(&prog(&long, "/bin/sleep 1", ""));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "a 65-byte program name was accepted: {out}");
    let conf = env.conf.display().to_string();
    assert!(out.stderr.contains(&format!("{conf}:3")), "error does not name FILE:LINE: {out}");
}

/// Same limit for the names `numprocs` makes from `process_name`.
#[test]
fn a_process_name_longer_than_64_bytes_is_an_error() {
    let env = Env::new();
    let pattern = format!("{}_%(process_num)d", "p".repeat(63));
    env.write_config(&prog("w", "/bin/sleep 1", &format!("numprocs=2\nprocess_name={pattern}")));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "65-byte process names were accepted: {out}");
}

/// SPEC, Config (INI details, expansions, `command` splitting): `:` separates
/// key and value, keys are case-insensitive, a header carries a comment, an
/// indented line continues a value (a space between words, kept inside
/// quotes), `'…'` is literal, `"…"` escapes only `"` and `\`, a `#` inside a
/// word is no comment, `%%` is `%`, and `%(here)s`, `%(program_name)s`,
/// `%(group_name)s`, `%(ENV_X)s` (seeing `[pman] environment`) and
/// `%(host_node_name)s` expand.
#[test]
fn ini_details_command_splitting_and_expansions() {
    let env = Env::new();
    let host = {
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: uname fills the struct it is given.
        assert_eq!(unsafe { libc::uname(&mut u) }, 0);
        let node: Vec<u8> = u.nodename.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8(node).unwrap()
    };
    env.write_config(
        "[pman]\nenvironment=GREETING=hello\n\
         [program:argv] ; a comment on the header\n\
         COMMAND : /bin/sh -c 'for a; do printf \"<%%s>\\n\" \"$a\"; done' sh 100%% a#b 'lit $X \\n' \"q\\\"uo\\\\te\"\n   \
           %(program_name)s %(group_name)s %(ENV_GREETING)s \"two\n   lines\" %(host_node_name)s\n\
         Stdout = %(here)s/%(program_name)s.out\nstderr=NONE\nstartsecs=0\nautorestart=No\n",
    );
    let out = env.pman(&["check", "--strict"]);
    assert_eq!(out.code, 0, "{out}");
    let _daemon = Daemon::start(&env);
    wait_until(secs(5.0), "argv's output", || env.read("argv.out").contains("<"));
    wait_until(secs(5.0), "argv EXITED", || env.state("argv") == "EXITED");
    let want = format!(
        "<100%>\n<a#b>\n<lit $X \\n>\n<q\"uo\\te>\n<argv>\n<argv>\n<hello>\n<two\nlines>\n<{host}>\n"
    );
    assert_eq!(env.read("argv.out"), want);
    assert!(!env.path("NONE").exists(), "stderr=NONE made a file named NONE");
}

/// SPEC, `environment`: comma-separated pairs; a quoted value (double or
/// single quotes) may hold commas and spaces, with `\"` and `\\` escapes;
/// a program's value wins over `[pman] environment`.
#[test]
fn environment_values_quote_commas_and_escapes() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nenvironment=PA=1,PB=base\n{}",
        prog(
            "e",
            "/usr/bin/env",
            "environment=A='x, y',B=\"p\\\\q\\\"r\",C=plain,PA=over\nstartsecs=0\nautorestart=false",
        )
    ));
    let _daemon = Daemon::start(&env);
    wait_until(secs(5.0), "e EXITED", || env.state("e") == "EXITED");
    let text = env.read("e.out");
    for want in ["A=x, y", "B=p\\q\"r", "C=plain", "PA=over", "PB=base", "PMAN_PROCESS_NAME=e"] {
        assert!(text.lines().any(|l| l == want), "no {want:?} in the environment:\n{text}");
    }
}

/// SPEC, Config: "`AUTO` (any case) means the default path." The daemon's
/// own `logfile` and `pidfile` default to none (the log goes to syslog), so
/// `logfile=AUTO` / `pidfile=auto` in `[pman]` or `[supervisord]` must not
/// make files literally named `AUTO` or `auto` next to the config.
#[test]
fn auto_as_the_daemons_logfile_or_pidfile_means_the_default() {
    let env = Env::new();
    env.write_config(&format!(
        "[supervisord]\nlogfile=AUTO\n[pman]\npidfile=auto\n{}",
        prog("a", "/bin/sleep 300", "")
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    for name in ["AUTO", "auto"] {
        assert!(!env.path(name).exists(), "a file named {name} was made in {}", env.dir_str());
    }
    let out = env.pman(&["log", "--daemon"]);
    assert_eq!(out.code, 1, "logfile=AUTO should mean syslog: {out}");
    assert!(out.stderr.contains("syslog"), "{out}");
}

/// SPEC, INI details: "quotes do not protect ` ;`/` #`" — the value is cut
/// there, so the quote is left open: an error naming FILE:LINE.
#[test]
fn quotes_do_not_protect_an_inline_comment() {
    let env = Env::new();
    env.write_config(&prog("q", "/bin/echo \"a ;b\"", ""));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(&format!("{}:4", env.conf.display())), "{out}");
    env.write_config(&prog("q", "/bin/echo 'a #b'", ""));
    assert_eq!(env.pman(&["check"]).code, 2);
    env.write_config(&prog("q", "/bin/echo a;b c#d", ""));
    assert_eq!(env.pman(&["check", "--strict"]).code, 0, "`;`/`#` inside a word are no comment");
}

/// SPEC, INI details: "a repeated key or section merges, the later value
/// winning, and the program keeps its first position; of `killasgroup` and
/// `stopasgroup`, the later one wins."
#[test]
fn repeated_keys_and_sections_merge_later_winning() {
    let env = Env::new();
    let launcher = |n: &str| format!("/bin/sh -c 'sleep 321 & echo $! > $DIR/{n}.child; exec sleep 300'");
    env.write_config(&format!(
        "[program:g]\ncommand=/bin/false\nstdout=none\nstderr=none\nstopasgroup=true\n\
         [program:b]\ncommand={}\nstdout=none\nstderr=none\nkillasgroup=false\nstopasgroup=true\n\
         [program:g]\ncommand={}\nkillasgroup=false\n",
        launcher("b"),
        launcher("g"),
    ));
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("appears again"), "no warning for the repeated section: {out}");
    let _daemon = Daemon::start(&env);
    // Config order: g keeps its first position.
    let status = env.pman(&["status"]);
    let names: Vec<&str> = status.lines().iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["[g]", "[b]"], "{status}");
    env.running_pid("g");
    env.running_pid("b");
    let child = |n: &str| -> i32 {
        let mut pid = 0;
        wait_until(secs(3.0), "the background child's pid", || {
            pid = env.read(&format!("{n}.child")).trim().parse().unwrap_or(0);
            pid > 0
        });
        env.track(pid);
        pid
    };
    let (g_child, b_child) = (child("g"), child("b"));
    let out = env.pman(&["stop", "g", "b"]);
    assert_eq!(out.code, 0, "{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(pid_alive(g_child), "g: killasgroup=false came later, yet its group was killed");
    assert!(!pid_alive(b_child), "b: stopasgroup=true came later, yet its group survived the stop");
}

/// SPEC, What bad input gets: "what cannot be written (ENOSPC, EIO, syslog
/// missing or full) is dropped and counted, and once writing works again
/// the daemon log says `NAME stdout: N bytes dropped (strerror)`."
#[test]
fn output_dropped_while_syslog_is_missing_is_reported_in_bytes_with_the_error() {
    let env = Env::new();
    let sock_path = env.path("log.sock");
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\nsyslog_socket={}\n\
         [program:sl]\ncommand=/bin/sh -c 'while :; do echo tick; sleep 0.1; done'\n\
         startsecs=0\nstdout=syslog\nstderr=none\n",
        sock_path.display()
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("sl");
    std::thread::sleep(Duration::from_millis(800));
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut buf = [0u8; 2048];
    let mut line = String::new();
    let found = eventually(secs(5.0), || {
        let _ = sock.recv(&mut buf);
        let log = env.read("pman.log");
        match log.lines().find(|l| l.contains("sl stdout: ") && l.contains("dropped")) {
            Some(l) => {
                line = l.to_string();
                true
            }
            None => false,
        }
    });
    assert!(found, "no `sl stdout: ... dropped` line in the daemon log:\n{}", env.read("pman.log"));
    let at = line.find("sl stdout: ").unwrap() + "sl stdout: ".len();
    let rest = &line[at..];
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert!(!n.is_empty(), "no count in {line:?}");
    let after = &rest[n.len()..];
    assert!(
        after.starts_with(" bytes dropped (") && after.ends_with(')'),
        "want `sl stdout: N bytes dropped (strerror)`, got {line:?}"
    );
}

/// SPEC, Lifecycle (reload): "A program is "changed" when any effective
/// setting differs (after defaults, `[pman]` inheritance and expansion)".
/// Writing out the value a program already gets by default — `directory` as
/// the directory the daemon was started in, `umask` as the daemon's — is no
/// difference, so the running service must not be restarted.
#[test]
fn spelling_out_the_default_directory_or_umask_is_no_change() {
    let env = Env::new();
    let base = prog("a", "/bin/sleep 300", "");
    env.write_config(&base);
    let daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", daemon.pid)).expect("daemon cwd");
    let status = read_file(format!("/proc/{}/status", daemon.pid));
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u.trim().to_string())
        .expect("Umask in /proc/PID/status");
    for extra in [format!("directory={}", cwd.display()), format!("umask={umask}")] {
        env.write_config(&format!("{base}{extra}\n"));
        let out = env.pman(&["reload", "--dry-run"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, "no changes\n"), "with {extra}: {out}");
    }
    env.write_config(&format!("{base}directory={}\numask={umask}\n", cwd.display()));
    let out = env.pman(&["reload"]);
    assert_eq!(out.stdout, "no changes\n", "{out}");
    assert_eq!(env.prog_pid("a"), Some(pid), "the program was restarted");
}

/// SPEC, `start`: "waits until each is RUNNING ... or its start attempt has
/// failed ... exit 0 all RUNNING; 1 any failed". A one-shot job
/// (`startsecs=0`, `autorestart=false`) that reaches RUNNING and then exits
/// with an expected code has not failed; `pman start job` exits 0 on its
/// own, and it must not turn into exit 1 just because another program named
/// with it takes longer to come up.
#[test]
fn a_one_shot_started_with_a_slower_program_is_no_failure() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("slow", "/bin/sleep 300", "startsecs=1\nautostart=false"),
        prog("job", "/bin/true", "startsecs=0\nautorestart=false\nautostart=false"),
    ));
    let _daemon = Daemon::start(&env);
    let alone = env.pman(&["start", "job"]);
    assert_eq!(alone.code, 0, "{alone}");
    let out = env.pman(&["start", "slow", "job"]);
    env.prog_pid("slow");
    assert_eq!(
        out.code, alone.code,
        "`start job` exits {} alone but {} with slow:\n{out}",
        alone.code, out.code
    );
}

/// SPEC, Status lines: details in the order `pid:`, `uptime:`, `exit:` or
/// `signal:` (name without SIG), `retry in:`, then the reason; `--json`
/// has `exit_signal` "SEGV" and `exit_code` null for a death by a signal.
#[test]
fn a_start_killed_by_a_signal_shows_signal_then_retry_in() {
    let env = Env::new();
    env.write_config(&prog("s", "/bin/sh -c 'kill -SEGV $$'", "backoff=30"));
    let _daemon = Daemon::start(&env);
    let line = env.wait_state("s", "BACKOFF", secs(5.0));
    assert!(line_matches(&line, "[s] BACKOFF signal: SEGV retry in: {N}s"), "{line:?}");
    let json = env.json_of("s");
    assert_eq!(json.string("exit_signal"), Some("SEGV"), "{json:?}");
    assert!(json.get("exit_code").map(|v| v.is_null()).unwrap_or(false), "exit_code not null: {json:?}");
    let out = env.pman(&["status", "s"]);
    assert_eq!(out.code, 3, "{out}");
}

/// SPEC, Details: ""Already running" means the socket answers". A listener
/// on the socket name that never answers is not a running pman: `daemon`
/// cannot start (exit 1) but must not claim `already running`.
#[test]
fn a_mute_listener_on_the_socket_is_not_already_running() {
    let env = Env::new();
    env.write_config("");
    let _listener = fake_daemon(&env.socket);
    let out = env.pman(&["daemon", "-f"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        !out.stderr.contains("already running"),
        "a listener that never answers called a running pman: {out}"
    );
}
