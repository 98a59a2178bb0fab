//! Steering a running daemon: `status` (lines, JSON, exit codes, unknown
//! and repeated names, numprocs groups), `start`/`stop`/`restart`,
//! `signal` and `pid`.

#[macro_use]
mod common;

use common::json::Json;
use common::*;
use std::time::Instant;

const RUNNING: &str = "RUNNING pid: {N} uptime: {T}";

fn running(name: &str) -> String {
    format!("[{name}] {RUNNING}")
}

#[test]
fn status_lines_and_exit_codes() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}",
        prog("run", "/bin/sleep 300", "startsecs=0"),
        prog("off", "/bin/sleep 300", "autostart=false"),
        prog("job", "/bin/sh -c 'exit 3'", "startsecs=0\nautorestart=false"),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("run");
    env.wait_state("job", "EXITED", secs(3.0));

    let all = env.pman(&["status"]);
    assert_eq!(all.code, 3, "not all RUNNING: {all}");
    let lines = all.lines();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(line_matches(lines[0], &running("run")), "{all}");
    assert_eq!(field(lines[0], "pid"), Some(pid.to_string().as_str()), "{all}");
    assert!(uptime_secs(field(lines[0], "uptime").unwrap_or("")) < 60, "{all}");
    assert_eq!(lines[1], "[off] STOPPED", "{all}");
    assert_eq!(lines[2], "[job] EXITED exit: 3", "{all}");
    assert_eq!(all.stderr, "", "{all}");

    let one = env.pman(&["status", "run"]);
    assert_eq!(one.code, 0, "{one}");
    assert_eq!(one.lines().len(), 1, "{one}");
    assert!(line_matches(one.lines()[0], &running("run")), "{one}");

    let off = env.pman(&["status", "off"]);
    assert_eq!((off.code, off.stdout.as_str()), (3, "[off] STOPPED\n"), "{off}");

    // Lines in the order named; a repeated name counts once.
    let named = env.pman(&["status", "job", "run", "job"]);
    assert_eq!(named.code, 3, "{named}");
    assert_eq!(named.lines().len(), 2, "{named}");
    assert_eq!(named.lines()[0], "[job] EXITED exit: 3", "{named}");
    assert!(line_matches(named.lines()[1], &running("run")), "{named}");

    let unknown = env.pman(&["status", "nosuch"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert_eq!(unknown.stdout, "", "{unknown}");
    assert!(unknown.stderr.lines().any(|l| l == "pman: no such program: nosuch"), "{unknown}");

    // status still prints the known ones; 2 wins over 3.
    let mixed = env.pman(&["status", "run", "nosuch", "off"]);
    assert_eq!(mixed.code, 2, "{mixed}");
    assert_eq!(mixed.lines().len(), 2, "{mixed}");
    assert!(line_matches(mixed.lines()[0], &running("run")), "{mixed}");
    assert_eq!(mixed.lines()[1], "[off] STOPPED", "{mixed}");
    assert!(mixed.stderr.lines().any(|l| l == "pman: no such program: nosuch"), "{mixed}");
}

#[test]
fn status_json_is_valid_and_complete() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}{}{}",
        prog("run", "/bin/sleep 300", "startsecs=0"),
        prog("off", "/bin/sleep 300", "autostart=false"),
        prog("job", "/bin/sh -c 'exit 3'", "startsecs=0\nautorestart=false"),
        prog("killed", "/bin/sleep 300", "startsecs=0\nautorestart=false"),
        // A quote in the reason must come out escaped.
        prog("fatal", "'/no \"pe'", "startretries=0"),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("run");
    let victim = env.running_pid("killed");
    kill(victim, libc::SIGKILL);
    env.wait_state("killed", "EXITED", secs(3.0));
    env.wait_state("job", "EXITED", secs(3.0));
    env.wait_state("fatal", "FATAL", secs(3.0));
    assert_eq!(env.status_line("killed"), "[killed] EXITED signal: KILL");

    let out = env.pman(&["status", "--json"]);
    assert_eq!(out.code, 3, "{out}");
    let doc = Json::parse(&out.stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{out}"));
    let items = doc.as_array().unwrap_or_else(|| panic!("not an array:\n{out}"));
    let names: Vec<&str> = items.iter().filter_map(|i| i.string("name")).collect();
    assert_eq!(names, ["run", "off", "job", "killed", "fatal"], "config order:\n{out}");
    for item in items {
        for key in ["name", "state", "pid", "uptime", "exit_code", "exit_signal", "restarts", "reason"] {
            assert!(item.has(key), "{key} missing in {item:?}");
        }
    }
    let run = &items[0];
    assert_eq!(run.string("state"), Some("RUNNING"));
    assert_eq!(run.int("pid"), pid as i64);
    assert!((0..60).contains(&run.int("uptime")), "{run:?}");
    assert!(run.null("exit_code") && run.null("exit_signal") && run.null("reason"), "{run:?}");
    assert_eq!(run.int("restarts"), 0);

    let off = &items[1];
    assert_eq!(off.string("state"), Some("STOPPED"));
    for key in ["pid", "uptime", "exit_code", "exit_signal"] {
        assert!(off.null(key), "never started: {key} should be null: {off:?}");
    }
    assert_eq!(off.int("restarts"), 0);

    let job = &items[2];
    assert_eq!(job.string("state"), Some("EXITED"));
    assert!(job.null("pid"), "{job:?}");
    assert_eq!(job.int("exit_code"), 3);
    assert!(job.null("exit_signal"), "{job:?}");

    let killed = &items[3];
    assert_eq!(killed.string("state"), Some("EXITED"));
    assert!(killed.null("exit_code"), "died by a signal: exit_code null: {killed:?}");
    assert_eq!(killed.string("exit_signal"), Some("KILL"));

    let fatal = &items[4];
    assert_eq!(fatal.string("state"), Some("FATAL"));
    assert_eq!(fatal.int("exit_code"), 127);
    let reason = fatal.string("reason").unwrap_or_default();
    assert!(reason.contains("exec /no \"pe: No such file or directory"), "{fatal:?}");

    // Same exit codes as status, names and --json in any order.
    let one = env.pman(&["status", "run", "--json"]);
    assert_eq!(one.code, 0, "{one}");
    let doc = Json::parse(&one.stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{one}"));
    assert_eq!(doc.as_array().map(Vec::len), Some(1), "{one}");
    let unknown = env.pman(&["status", "--json", "run", "nosuch"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("pman: no such program: nosuch"), "{unknown}");
}

#[test]
fn start_stop_restart() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "autostart=false\nstartsecs=1"),
        prog("b", "/bin/sleep 300", "autostart=false\nstartsecs=0"),
    ));
    let _daemon = Daemon::start(&env);
    assert_eq!(env.status_line("a"), "[a] STOPPED");

    // start waits for startsecs: RUNNING when it returns.
    let started = Instant::now();
    let out = env.pman(&["start", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.lines().len(), 1, "{out}");
    assert!(line_matches(out.lines()[0], &running("a")), "{out}");
    assert!(started.elapsed().as_secs_f64() >= 0.9, "start returned before startsecs=1 passed");
    let pid = env.prog_pid("a").expect("a has a pid");
    assert_eq!(field(out.lines()[0], "pid"), Some(pid.to_string().as_str()));
    assert!(line_matches(&env.status_line("a"), &running("a")));

    // A RUNNING program is left as it is.
    let again = env.pman(&["start", "a", "a"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.lines().len(), 1, "repeated name counts once: {again}");
    assert_eq!(env.prog_pid("a"), Some(pid), "start of a RUNNING program restarted it");

    let stop = env.pman(&["stop", "a"]);
    assert_eq!((stop.code, stop.stdout.as_str()), (0, "[a] STOPPED\n"), "{stop}");
    assert!(!pid_alive(pid), "stop returned while {pid} still runs");
    let stop_again = env.pman(&["stop", "a"]);
    assert_eq!((stop_again.code, stop_again.stdout.as_str()), (0, "[a] STOPPED\n"), "{stop_again}");

    // all: config order.
    let all = env.pman(&["start", "all"]);
    assert_eq!(all.code, 0, "{all}");
    assert_eq!(all.lines().len(), 2, "{all}");
    assert!(line_matches(all.lines()[0], &running("a")), "{all}");
    assert!(line_matches(all.lines()[1], &running("b")), "{all}");
    let a1 = env.prog_pid("a").expect("a pid");
    let b1 = env.prog_pid("b").expect("b pid");

    let restart = env.pman(&["restart", "a"]);
    assert_eq!(restart.code, 0, "{restart}");
    assert!(line_matches(restart.stdout.trim_end(), &running("a")), "{restart}");
    let a2 = env.prog_pid("a").expect("a pid");
    assert_ne!(a1, a2, "restart kept the old process");
    assert!(!pid_alive(a1));
    assert_eq!(field(restart.lines()[0], "pid"), Some(a2.to_string().as_str()));

    let restart_all = env.pman(&["restart", "all"]);
    assert_eq!(restart_all.code, 0, "{restart_all}");
    assert_eq!(restart_all.lines().len(), 2, "{restart_all}");
    assert!(!pid_alive(a2) && !pid_alive(b1), "restart all left old processes");

    // Unknown names: nothing is done.
    let b2 = env.prog_pid("b").expect("b pid");
    let bad_stop = env.pman(&["stop", "b", "nosuch"]);
    assert_eq!(bad_stop.code, 2, "{bad_stop}");
    assert!(bad_stop.stderr.contains("pman: no such program: nosuch"), "{bad_stop}");
    assert_eq!(env.prog_pid("b"), Some(b2), "stop with an unknown name still stopped b");

    let stop_all = env.pman(&["stop", "all"]);
    assert_eq!((stop_all.code, stop_all.stdout.as_str()), (0, "[a] STOPPED\n[b] STOPPED\n"), "{stop_all}");
    let bad_start = env.pman(&["start", "nosuch", "a"]);
    assert_eq!(bad_start.code, 2, "{bad_start}");
    assert!(bad_start.stderr.contains("pman: no such program: nosuch"), "{bad_start}");
    assert_eq!(env.status_line("a"), "[a] STOPPED", "start with an unknown name still started a");
    let bad_restart = env.pman(&["restart", "a", "nosuch"]);
    assert_eq!(bad_restart.code, 2, "{bad_restart}");
    assert_eq!(env.status_line("a"), "[a] STOPPED");
}

#[test]
fn start_of_a_failing_program_exits_1() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog(
            "bad",
            "/bin/sh -c 'echo x >> $DIR/bad.count; exit 1'",
            "autostart=false\nstartsecs=1\nbackoff=5"
        ),
        prog("nope", "/nope", "autostart=false\nbackoff=5"),
    ));
    let _daemon = Daemon::start(&env);
    let out = env.pman(&["start", "bad"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(line_matches(out.stdout.trim_end(), "[bad] BACKOFF exit: 1 retry in: {N}s{*}"), "{out}");
    assert_eq!(env.read("bad.count").lines().count(), 1);

    // `start` on a BACKOFF program starts it at once, not after the 5 s backoff.
    let started = Instant::now();
    let out = env.pman(&["start", "bad"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(env.read("bad.count").lines().count(), 2, "start of a BACKOFF program did not start it");
    assert!(started.elapsed() < secs(4.0), "start waited for the backoff: {:?}", started.elapsed());

    let out = env.pman(&["start", "nope"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        line_matches(
            out.stdout.trim_end(),
            "[nope] BACKOFF exit: 127 retry in: {N}s exec /nope: No such file or directory"
        ),
        "{out}"
    );
}

#[test]
fn signal_reaches_the_main_process() {
    let env = Env::new();
    let script =
        "/bin/sh -c 'trap \"echo hup >> $DIR/sig.log\" HUP; trap \"echo usr1 >> $DIR/sig.log\" USR1; \
                  trap \"echo term >> $DIR/sig.log\" TERM; /bin/sleep 300 & echo $! > $DIR/child; \
                  while :; do sleep 0.05; done'";
    env.write_config(&format!(
        "{}{}",
        prog("sig", script, "startsecs=0"),
        prog("off", "/bin/sleep 300", "autostart=false"),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("sig");
    wait_until(secs(3.0), "child pid file", || env.read("child").trim().parse::<i32>().is_ok());
    let child: i32 = env.read("child").trim().parse().expect("child pid");
    env.track(child);
    let count = |word: &str| env.read("sig.log").lines().filter(|l| *l == word).count();

    let out = env.pman(&["signal", "HUP", "sig"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(line_matches(out.stdout.trim_end(), &running("sig")), "{out}");
    wait_until(secs(3.0), "HUP trap ran", || count("hup") == 1);

    let out = env.pman(&["signal", "SIGUSR1", "sig"]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(secs(3.0), "USR1 trap ran", || count("usr1") == 1);

    // 1 is SIGHUP on every CPU.
    let out = env.pman(&["signal", "1", "sig"]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(secs(3.0), "second HUP trap ran", || count("hup") == 2);

    // The main process only: a TERM handled by sh leaves its child alone.
    let out = env.pman(&["signal", "TERM", "sig"]);
    assert_eq!(out.code, 0, "{out}");
    wait_until(secs(3.0), "TERM trap ran", || count("term") == 1);
    assert!(pid_alive(child), "signal reached the program's child {child}");
    assert_eq!(env.prog_pid("sig"), Some(pid));

    let out = env.pman(&["signal", "HUP", "off"]);
    assert_eq!(out.code, 1, "signal to a stopped program: {out}");
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "pman: off is not running (STOPPED)\n", "{out}");

    let out = env.pman(&["signal", "HUP", "nosuch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("pman: no such program: nosuch"), "{out}");

    let out = env.pman(&["signal", "NOSUCHSIG", "sig"]);
    assert_ne!(out.code, 0, "bad signal name accepted: {out}");
    assert!(out.stderr.starts_with("pman: "), "{out}");
    assert!(pid_alive(pid));
}

#[test]
fn pid_of_daemon_and_programs() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("run", "/bin/sleep 300", "startsecs=0"),
        prog("off", "/bin/sleep 300", "autostart=false"),
    ));
    let daemon = Daemon::start(&env);
    let out = env.pman(&["pid"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, format!("{}\n", daemon.pid).as_str()), "{out}");

    let pid = env.running_pid("run");
    let out = env.pman(&["pid", "run"]);
    assert_eq!((out.code, out.stdout.trim()), (0, pid.to_string().as_str()), "{out}");
    let cmdline = read_file(format!("/proc/{pid}/cmdline"));
    assert!(cmdline.contains("sleep"), "pid {pid} is not the program: {cmdline:?}");

    let out = env.pman(&["pid", "off"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out}");

    let out = env.pman(&["pid", "nosuch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("pman: no such program: nosuch"), "{out}");
}

#[test]
fn numprocs_group_selection() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("w", "/bin/sleep 300", "startsecs=0\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)d"),
        prog("x", "/bin/sleep 300", "startsecs=0"),
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("w_0");
    env.running_pid("w_1");
    env.running_pid("x");

    let all = env.pman(&["status"]);
    let names: Vec<&str> = all.lines().iter().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[w_0]", "[w_1]", "[x]"], "{all}");

    for selector in ["w", "w:*"] {
        let out = env.pman(&["status", selector]);
        assert_eq!(out.code, 0, "{selector}: {out}");
        assert_eq!(out.lines().len(), 2, "{selector}: {out}");
        assert!(line_matches(out.lines()[0], &running("w_0")), "{selector}: {out}");
        assert!(line_matches(out.lines()[1], &running("w_1")), "{selector}: {out}");
    }
    let one = env.pman(&["status", "w_1"]);
    assert_eq!(one.lines().len(), 1, "{one}");

    let stop = env.pman(&["stop", "w"]);
    assert_eq!((stop.code, stop.stdout.as_str()), (0, "[w_0] STOPPED\n[w_1] STOPPED\n"), "{stop}");
    assert!(line_matches(&env.status_line("x"), &running("x")), "stop w touched x");
    let start = env.pman(&["start", "w:*"]);
    assert_eq!(start.code, 0, "{start}");
    assert_eq!(start.lines().len(), 2, "{start}");
    let both = env.pman(&["status", "w", "w_0"]);
    assert_eq!(both.lines().len(), 2, "a process selected twice counts once: {both}");
}

#[test]
fn all_of_no_programs_is_nothing_to_do() {
    // A router whose packages dropped no program in yet: `all` is a word, not a name.
    let env = Env::new();
    env.write_config("");
    let _daemon = Daemon::start(&env);
    for args in [
        &["start", "all"][..],
        &["stop", "all"],
        &["restart", "all"],
        &["signal", "HUP", "all"],
        &["pid", "all"],
        &["status", "all"],
    ] {
        let out = env.pman(args);
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""), "pman {args:?}: {out}");
    }
    let out = env.pman(&["stop", "all", "nosuch"]);
    assert_eq!((out.code, out.stderr.as_str()), (2, "pman: no such program: nosuch\n"), "{out}");
}
