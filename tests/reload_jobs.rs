//! Reloads and the jobs around them: a `kill`, SIGTERM or `stop` issued
//! while a reload is stopping programs still completes; a reload that
//! cannot bind its new socket changes nothing; reloads leak no descriptors
//! and apply new caps; what `reload` and `reload --dry-run` print and log.

#[macro_use]
mod common;
mod procs;
mod reliability;

use common::*;
use procs::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A program that ignores SIGTERM (only SIGKILL, after stopwaitsecs=3, ends
/// it); `tick` changes its command, so a reload sees it changed.
fn stubborn(env: &Env, tick: &str) -> String {
    prog(
        "stub",
        &format!("/bin/sh -c 'trap \"\" TERM; while :; do sleep {tick}; done'"),
        &format!("startsecs=0\nstopwaitsecs=3\n{}", tag_line(env)),
    )
}

fn calm(env: &Env, name: &str) -> String {
    prog(name, "/bin/sleep 300", &format!("startsecs=0\n{}", tag_line(env)))
}

/// The daemon log, the stub and a program that stops at once.
fn with_stub(env: &Env, tick: &str) -> String {
    format!("[pman]\nlogfile=$DIR/pman.log\n{}{}", stubborn(env, tick), calm(env, "calm"))
}

/// The stub runs, its config is changed and a reload begins stopping it
/// (it ignores SIGTERM, so that takes stopwaitsecs). Returns the reload
/// client, still waiting.
fn reload_in_progress(env: &Env) -> std::process::Child {
    env.running_pid("stub");
    env.running_pid("calm");
    // Give the shell time to set its trap.
    std::thread::sleep(Duration::from_millis(300));
    env.write_config(&with_stub(env, "0.2"));
    let reload = env.pman_spawn(&["reload"]);
    wait_until(secs(3.0), "the reload stops stub", || env.state("stub") == "STOPPING");
    std::thread::sleep(Duration::from_millis(500));
    reload
}

fn wait_child(mut child: std::process::Child, bound: Duration) -> Option<i32> {
    let mut code = None;
    eventually(bound, || {
        code = child.try_wait().ok().flatten().map(|s| s.code().unwrap_or(-1));
        code.is_some()
    });
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    code
}

#[test]
fn kill_during_a_reload_completes_and_leaves_nothing_running() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&with_stub(&env, "0.1"));
    let mut daemon = Daemon::start(&env);
    let reload = reload_in_progress(&env);

    let began = Instant::now();
    let mut cmd = pman_command();
    cmd.arg("-c").arg(&env.conf).arg("kill");
    let out = run_bounded(cmd, secs(15.0));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("pman: stopped (pid "), "{out}");
    // The stub's SIGKILL comes 3 s after the reload's SIGTERM; nothing more.
    assert!(began.elapsed() < secs(3.0) + secs(4.0), "kill took {:?}", began.elapsed());
    assert_eq!(daemon.wait_exit(secs(5.0)), Some(0), "the daemon did not exit");
    assert!(wait_child(reload, secs(5.0)).is_some(), "the reload client never returned");
    wait_until(secs(3.0), "every program gone", || tagged(&env).is_empty());
}

#[test]
fn sigterm_during_a_reload_completes_and_leaves_nothing_running() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&with_stub(&env, "0.1"));
    let mut daemon = Daemon::start(&env);
    let reload = reload_in_progress(&env);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(secs(3.0) + secs(5.0)), Some(0), "the daemon did not exit after SIGTERM");
    assert!(wait_child(reload, secs(5.0)).is_some(), "the reload client never returned");
    wait_until(secs(3.0), "every program gone", || tagged(&env).is_empty());
    let log = env.read("pman.log");
    assert!(log.contains("SIGTERM: stopping every program"), "{log}");
    assert!(!log.contains("signal 15"), "{log}");
}

#[test]
fn stop_during_a_reload_wins_over_the_restart() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&with_stub(&env, "0.1"));
    let _daemon = Daemon::start(&env);
    let reload = reload_in_progress(&env);
    let began = Instant::now();
    let out = env.pman(&["stop", "stub"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[stub] STOPPED\n"), "{out}");
    assert!(began.elapsed() < secs(3.0) + secs(4.0), "stop took {:?}", began.elapsed());
    assert_eq!(wait_child(reload, secs(5.0)), Some(0), "the reload failed or never returned");
    // The reload did not start the stub again behind the stop's back.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.status_line("stub"), "[stub] STOPPED");
    let stubs: Vec<(i32, String)> = tagged(&env).into_iter().filter(|(_, c)| c.contains("trap")).collect();
    assert!(stubs.is_empty(), "stub still running: {stubs:?}");
    env.running_pid("calm");
}

#[test]
fn a_socket_that_cannot_be_bound_fails_the_reload_and_changes_nothing() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let before = format!("{}{}", calm(&env, "a"), calm(&env, "b"));
    env.write_config(&before);
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let b = env.running_pid("b");

    // Another listener holds the new name.
    let taken = format!("{}-taken", env.socket);
    let _holder = fake_daemon(&taken);
    // The client keeps a config naming the old socket, to reach the daemon.
    let client_conf = env.path("client.conf");
    env.write_config_at(&client_conf, "");
    let after = format!(
        "{}{}",
        prog("a", "/bin/sleep 301", &format!("startsecs=0\n{}", tag_line(&env))),
        calm(&env, "c")
    );
    let text = env.render(&after).replace(&format!("socket={}", env.socket), &format!("socket={taken}"));
    std::fs::write(&env.conf, text).expect("write config");

    let client = |args: &[&str]| {
        let mut cmd = pman_command();
        cmd.arg("-c").arg(&client_conf).args(args);
        run_bounded(cmd, secs(30.0))
    };
    let out = client(&["reload"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    // glibc says "Address already in use", musl "Address in use".
    let said = format!("pman: cannot listen on {taken}: Address");
    assert!(out.stderr.contains(&said) && out.stderr.contains("in use"), "{out}");
    // The old socket still answers, with the old programs as they were.
    let status = client(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    let names: Vec<&str> = status.stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[a]", "[b]"], "{status}");
    assert_eq!(client(&["pid", "a"]).stdout.trim(), a.to_string(), "a was changed");
    assert_eq!(client(&["pid", "b"]).stdout.trim(), b.to_string(), "b was removed");
    assert!(tagged_running(&env, "/bin/sleep 301").is_empty(), "the new a was started");
}

#[test]
fn reloads_that_add_and_remove_programs_leak_no_descriptors() {
    if under_qemu() {
        skip!("the emulator's own descriptors show in /proc/PID/fd");
    }
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let base = calm(&env, "base");
    env.write_config(&base);
    let daemon = Daemon::start(&env);
    env.running_pid("base");
    let start = reliability::fd_count(daemon.pid);
    for round in 0..30 {
        env.write_config(&format!("{base}{}", calm(&env, "extra")));
        let out = env.pman(&["reload"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, "[extra] added\n"), "round {round}: {out}");
        env.write_config(&base);
        let out = env.pman(&["reload"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, "[extra] removed\n"), "round {round}: {out}");
    }
    let links = reliability::fd_targets(daemon.pid);
    assert!(!links.iter().any(|l| l.contains("extra.")), "extra's logs still open: {links:?}");
    assert_eq!(reliability::fd_count(daemon.pid), start, "descriptors grew: {links:?}");
}

#[test]
fn a_changed_log_path_leaves_only_the_current_file_open() {
    if under_qemu() {
        skip!("the emulator's own descriptors show in /proc/PID/fd");
    }
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let section = |n: u32| {
        format!(
            "[program:p]\ncommand=/bin/sleep 300\nstartsecs=0\nstdout=$DIR/p-{n}.out\nstderr=none\n{}\n",
            tag_line(&env)
        )
    };
    env.write_config(&section(0));
    let daemon = Daemon::start(&env);
    env.running_pid("p");
    for n in 1..=5 {
        env.write_config(&section(n));
        let out = env.pman(&["reload"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, "[p] changed\n"), "{out}");
        env.running_pid("p");
        let open: Vec<String> =
            reliability::fd_targets(daemon.pid).into_iter().filter(|l| l.contains("/p-")).collect();
        let want = env.path(&format!("p-{n}.out")).display().to_string();
        assert_eq!(open, [want], "after change {n}");
    }
}

#[test]
fn a_smaller_cap_applies_at_the_reload() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let line = "0123456789012345678901234567890123456789012345678901234567890123456789";
    let section = |cap: &str| {
        prog(
            "chatty",
            &format!("/bin/sh -c 'while :; do echo {line}; sleep 0.01; done'"),
            &format!("startsecs=0\nstdout_maxbytes={cap}\nstdout_backups=1\n{}", tag_line(&env)),
        )
    };
    env.write_config(&section("100KB"));
    let _daemon = Daemon::start(&env);
    env.running_pid("chatty");
    let size = || std::fs::metadata(env.path("chatty.out")).map(|m| m.len()).unwrap_or(0);
    wait_until(secs(10.0), "the log passes 8KB", || size() > 8 * 1024);
    env.write_config(&section("2KB"));
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[chatty] changed\n"), "{out}");
    let bound = 2048 + line.len() as u64 + 1;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut largest = 0;
    while Instant::now() < until {
        largest = largest.max(size());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(largest <= bound, "the log reached {largest} bytes under a 2KB cap");
    let backup = std::fs::metadata(env.path("chatty.out.1")).map(|m| m.len()).unwrap_or(0);
    assert!(backup <= bound, "the backup is {backup} bytes: the old file was not rotated at the new cap");
    assert!(!env.path("chatty.out.2").exists(), "more backups than stdout_backups=1");
}

/// A reload that lowers a cap and stops the program (autostart off): the
/// file is rotated at the reload itself, not at a start that never comes.
#[test]
fn a_smaller_cap_applies_even_to_a_program_the_reload_leaves_stopped() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let line = "0123456789012345678901234567890123456789012345678901234567890123456789";
    let section = |cap: &str, autostart: bool| {
        prog(
            "chatty",
            &format!("/bin/sh -c 'while :; do echo {line}; sleep 0.01; done'"),
            &format!(
                "startsecs=0\nautostart={autostart}\nstdout_maxbytes={cap}\nstdout_backups=1\n{}",
                tag_line(&env)
            ),
        )
    };
    env.write_config(&section("100KB", true));
    let _daemon = Daemon::start(&env);
    env.running_pid("chatty");
    let size = |name: &str| std::fs::metadata(env.path(name)).map(|m| m.len()).unwrap_or(0);
    wait_until(secs(10.0), "the log passes 8KB", || size("chatty.out") > 8 * 1024);
    env.write_config(&section("2KB", false));
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[chatty] changed\n"), "{out}");
    let status = env.pman(&["status", "chatty"]);
    assert_eq!(status.stdout, "[chatty] STOPPED\n", "{status}");
    assert!(size("chatty.out") <= 2048, "{} bytes left under a 2KB cap", size("chatty.out"));
    assert!(size("chatty.out.1") > 8 * 1024, "the old file was not rotated to chatty.out.1");
}

#[test]
fn reload_says_no_changes_and_logs_its_lines() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let head = "[pman]\nlogfile=$DIR/pman.log\n";
    env.write_config(&format!("{head}{}{}", calm(&env, "a"), calm(&env, "b")));
    let daemon = Daemon::start(&env);
    env.running_pid("a");
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "no changes\n"), "{out}");
    wait_until(secs(3.0), "the log says so", || env.read("pman.log").contains("no changes"));

    env.write_config(&format!("{head}{}{}", calm(&env, "b"), calm(&env, "c")));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let log = env.read("pman.log");
    for line in ["[c] added", "[a] removed"] {
        assert!(log.contains(line), "the daemon log lacks {line:?}:\n{log}");
    }

    // SIGHUP's lines have no client: the log is where they go.
    env.write_config(&format!("{head}{}", calm(&env, "b")));
    daemon.signal(libc::SIGHUP);
    wait_until(secs(3.0), "SIGHUP's lines in the log", || env.read("pman.log").contains("[c] removed"));
    let log = env.read("pman.log");
    assert!(log.contains("SIGHUP: reloading the config"), "{log}");
}

#[test]
fn dry_run_prints_what_reload_would_do_and_changes_nothing() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&format!("{}{}{}", calm(&env, "keep"), calm(&env, "gone"), calm(&env, "chg")));
    let _daemon = Daemon::start(&env);
    let pids: Vec<i32> = ["keep", "gone", "chg"].iter().map(|n| env.running_pid(n)).collect();

    let out = env.pman(&["reload", "--dry-run"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "no changes\n"), "{out}");

    env.write_config(&format!(
        "{}{}{}",
        calm(&env, "keep"),
        prog("chg", "/bin/sleep 301", &format!("startsecs=0\n{}", tag_line(&env))),
        calm(&env, "new")
    ));
    let out = env.pman(&["reload", "--dry-run"]);
    assert_eq!(out.code, 0, "{out}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["[chg] changed", "[new] added", "[gone] removed"].into_iter().collect(), "{out}");
    // supervisorctl's `reread` is the same dry run.
    let reread = env.pman(&["reread"]);
    assert_eq!((reread.code, &reread.stdout), (0, &out.stdout), "{reread}");
    // Nothing changed.
    let now: Vec<Option<i32>> = ["keep", "gone", "chg"].iter().map(|n| env.prog_pid(n)).collect();
    assert_eq!(now, pids.iter().map(|&p| Some(p)).collect::<Vec<_>>());
    assert_eq!(env.pman(&["status", "new"]).code, 2, "new was added by a dry run");

    // A config with errors: exit 2, still nothing changed.
    env.write_config(&format!("{}startretries=lots\n", calm(&env, "keep")));
    let out = env.pman(&["reload", "--dry-run"]);
    assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{out}");
    assert!(out.stderr.contains("startretries"), "{out}");
    assert_eq!(env.prog_pid("gone"), Some(pids[1]));

    // The real reload then prints the same lines as the dry run did.
    env.write_config(&format!(
        "{}{}{}",
        calm(&env, "keep"),
        prog("chg", "/bin/sleep 301", &format!("startsecs=0\n{}", tag_line(&env))),
        calm(&env, "new")
    ));
    let dry = env.pman(&["reload", "--dry-run"]);
    let real = env.pman(&["reload"]);
    assert_eq!((real.code, &real.stdout), (0, &dry.stdout), "{real}");
}

#[test]
fn dry_run_needs_the_daemon() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", ""));
    let out = env.pman(&["reload", "--dry-run"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("daemon not running"), "{out}");
}

#[test]
fn output_keeps_its_file_when_an_earlier_program_is_removed() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let first = calm(&env, "first");
    let talker = prog(
        "talker",
        "/bin/sh -c 'while :; do echo out-line; echo err-line >&2; sleep 0.05; done'",
        &format!("startsecs=0\n{}", tag_line(&env)),
    );
    env.write_config(&format!("{first}{talker}"));
    let _daemon = Daemon::start(&env);
    env.running_pid("talker");
    wait_until(secs(5.0), "talker writes", || env.read("talker.out").contains("out-line"));
    env.write_config(&talker);
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[first] removed\n"), "{out}");
    let (out_before, err_before) = (env.read("talker.out").len(), env.read("talker.err").len());
    wait_until(secs(5.0), "talker's output still reaches its own files", || {
        env.read("talker.out").len() > out_before + 50 && env.read("talker.err").len() > err_before + 50
    });
    assert!(!env.read("talker.out").contains("err-line"), "stderr went to the stdout file");
    assert!(!env.read("talker.err").contains("out-line"), "stdout went to the stderr file");
    assert_eq!(env.read("first.out"), "", "talker's output went to a removed program's file");
}

/// A `start` waiting on a program that a reload changes waits for the new
/// program: started by the reload (autostart) or by the start itself.
#[test]
fn a_start_in_progress_survives_a_reload_that_changes_its_program() {
    for autostart in [true, false] {
        let env = Env::new();
        let _cleanup = Cleanup(&env);
        let x = |secs: u32| {
            prog(
                "x",
                &format!("/bin/sleep {secs}"),
                &format!("startsecs=5\nautostart={autostart}\n{}", tag_line(&env)),
            )
        };
        env.write_config(&x(1000));
        let _daemon = Daemon::start(&env);
        let start = env.pman_spawn(&["start", "x"]);
        env.wait_state("x", "STARTING", secs(5.0));
        env.write_config(&x(1001));
        let out = env.pman(&["reload"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, "[x] changed\n"), "{out}");
        let out = start.wait_with_output().expect("start's output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "autostart={autostart}: {stdout}");
        assert!(line_matches(stdout.trim_end(), "[x] RUNNING pid: {N} uptime: {T}"), "{stdout}");
        let pid = env.running_pid("x");
        assert!(read_file(format!("/proc/{pid}/cmdline")).contains("1001"), "the old program runs");
    }
}

/// A SIGHUP while a reload is applying is not lost: the config is read
/// again once that reload is done.
#[test]
fn a_sighup_during_a_reload_reloads_again_after_it() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&with_stub(&env, "0.1"));
    let daemon = Daemon::start(&env);
    let reload = reload_in_progress(&env);
    env.write_config(&format!("{}{}", with_stub(&env, "0.2"), calm(&env, "late")));
    daemon.signal(libc::SIGHUP);
    assert_eq!(wait_child(reload, secs(15.0)), Some(0), "the first reload");
    env.running_pid("late");
    let log = env.read("pman.log");
    assert!(log.contains("SIGHUP: reloading again once this reload is done"), "{log}");
    assert_eq!(env.pman(&["reload", "--dry-run"]).stdout, "no changes\n");
}

/// A `stop` of a program that a reload is removing still names it (such
/// lines come first).
#[test]
fn a_stop_of_a_program_a_reload_removes_reports_it_stopped() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&with_stub(&env, "0.1"));
    let _daemon = Daemon::start(&env);
    env.running_pid("stub");
    env.running_pid("calm");
    std::thread::sleep(Duration::from_millis(300));
    env.write_config(&format!("[pman]\nlogfile=$DIR/pman.log\n{}", calm(&env, "calm")));
    let reload = env.pman_spawn(&["reload"]);
    wait_until(secs(3.0), "the reload stops stub", || env.state("stub") == "STOPPING");
    let out = env.pman(&["stop", "stub", "calm"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[stub] STOPPED\n[calm] STOPPED\n"), "{out}");
    assert_eq!(wait_child(reload, secs(15.0)), Some(0), "the reload");
}

/// A start waiting through two reloads in a row (a SIGHUP during the first)
/// follows its program's new place in the table.
#[test]
fn a_start_follows_its_program_through_two_reloads() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let quiet = |name: &str, secs: u32| {
        prog(
            name,
            &format!("/bin/sleep {secs}"),
            &format!("autostart=false\nstartsecs=5\n{}", tag_line(&env)),
        )
    };
    let head = "[pman]\nlogfile=$DIR/pman.log\n";
    env.write_config(&format!("{head}{}{}{}", quiet("a", 300), stubborn(&env, "0.1"), quiet("x", 1000)));
    let mut daemon = Daemon::start(&env);
    env.running_pid("stub");
    std::thread::sleep(Duration::from_millis(300));
    let start = env.pman_spawn(&["start", "x"]);
    env.wait_state("x", "STARTING", secs(5.0));
    env.write_config(&format!("{head}{}{}{}", quiet("a", 300), stubborn(&env, "0.2"), quiet("x", 1001)));
    let reload = env.pman_spawn(&["reload"]);
    wait_until(secs(3.0), "the reload stops stub", || env.state("stub") == "STOPPING");
    // The next config drops `a` (renumbering x) and adds `z` at the end.
    env.write_config(&format!("{head}{}{}{}", stubborn(&env, "0.2"), quiet("x", 1001), quiet("z", 302)));
    daemon.signal(libc::SIGHUP);
    assert_eq!(wait_child(reload, secs(15.0)), Some(0), "the first reload");
    let out = start.wait_with_output().expect("start's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(line_matches(stdout.trim_end(), "[x] RUNNING pid: {N} uptime: {T}"), "{stdout}");
    assert_eq!(env.state("z"), "STOPPED");
    assert!(daemon.exited().is_none(), "the daemon died: {}", daemon.stderr());
}
