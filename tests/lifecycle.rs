//! The program lifecycle: crash restarts, backoff and FATAL, exec failures,
//! autorestart modes, startsecs, stop escalation and process groups,
//! priority order, and the environment a program starts in.

#[macro_use]
mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Lines in `$DIR/FILE` (one per start for the counting scripts).
fn count(env: &Env, file: &str) -> usize {
    env.read(file).lines().count()
}

fn counting(file: &str, then: &str) -> String {
    format!("/bin/sh -c 'echo x >> $DIR/{file}; {then}'")
}

#[test]
fn crash_is_restarted_and_counted() {
    let env = Env::new();
    env.write_config(&prog("c", "/bin/sleep 300", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    let first = env.running_pid("c");
    assert_eq!(env.json_of("c").int("restarts"), 0);

    kill(first, libc::SIGKILL);
    let mut second = 0;
    wait_until(secs(3.0), "a new process after kill -9", || {
        second = env.prog_pid("c").unwrap_or(0);
        second != 0 && second != first
    });
    env.wait_state("c", "RUNNING", secs(3.0));
    let json = env.json_of("c");
    assert_eq!(json.int("restarts"), 1, "{json:?}");
    assert_eq!(json.string("exit_signal"), Some("KILL"), "last death was SIGKILL: {json:?}");

    // Manual restarts don't count.
    let out = env.pman(&["restart", "c"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.pman(&["stop", "c"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.pman(&["start", "c"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.json_of("c").int("restarts"), 1, "manual start/restart counted as restarts");
    env.prog_pid("c");
}

#[test]
fn exits_are_restarted_but_not_faster_than_once_a_second() {
    let env = Env::new();
    env.write_config(&prog("r", &counting("r.count", "exit 0"), "startsecs=0"));
    let _daemon = Daemon::start(&env);
    wait_until(secs(3.0), "first start", || count(&env, "r.count") >= 1);
    let since = Instant::now();
    wait_until(secs(6.0), "two restarts", || count(&env, "r.count") >= 3);
    let took = since.elapsed();
    assert!(took >= Duration::from_millis(1500), "3 starts within {took:?}: restarts sooner than 1 s apart");
    assert!(env.json_of("r").int("restarts") >= 2);
}

#[test]
fn failed_starts_back_off_then_go_fatal() {
    let env = Env::new();
    env.write_config(&prog(
        "bad",
        &counting("bad.count", "exit 4"),
        "startsecs=1\nstartretries=1\nbackoff=1",
    ));
    let _daemon = Daemon::start(&env);
    let mut seen = Vec::new();
    let ok = eventually(secs(8.0), || {
        let line = env.status_line("bad");
        let fatal = line.starts_with("[bad] FATAL");
        if seen.last() != Some(&line) {
            seen.push(line);
        }
        fatal
    });
    assert!(ok, "never FATAL; states seen: {seen:#?}");
    assert!(
        seen.iter().any(|l| line_matches(l, "[bad] BACKOFF exit: 4 retry in: {N}s{*}")),
        "no `[bad] BACKOFF exit: 4 retry in: Ns` line seen: {seen:#?}"
    );
    let fatal = seen.last().cloned().unwrap_or_default();
    assert!(line_matches(&fatal, "[bad] FATAL exit: 4{*}"), "{fatal}");
    assert_eq!(env.pman(&["status", "bad"]).code, 3);
    // The first start plus startretries=1 retry.
    assert_eq!(count(&env, "bad.count"), 2);
    let json = env.json_of("bad");
    assert_eq!(json.int("restarts"), 1, "a backoff retry counts as a restart: {json:?}");
    assert_eq!(json.int("exit_code"), 4);
    assert!(json.null("pid"), "{json:?}");

    // FATAL stays FATAL.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(count(&env, "bad.count"), 2, "a FATAL program was started again");
    assert!(env.status_line("bad").starts_with("[bad] FATAL"));

    // `start` on FATAL starts it at once.
    let out = env.pman(&["start", "bad"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(count(&env, "bad.count") >= 3, "start of a FATAL program did not start it");
}

#[test]
fn surviving_startsecs_resets_the_retry_count() {
    let env = Env::new();
    // The 2nd start lives 1.5 s (> startsecs), every other start fails at once.
    let script =
        "/bin/sh -c 'echo x >> $DIR/n; n=$(wc -l < $DIR/n); if [ $n -eq 2 ]; then sleep 1.5; fi; exit 1'";
    env.write_config(&prog("flaky", script, "startsecs=1\nstartretries=1\nbackoff=1"));
    let _daemon = Daemon::start(&env);
    env.wait_state("flaky", "FATAL", secs(9.0));
    // fail, survive (count reset), fail, fail: FATAL after 4 starts, not 3.
    assert_eq!(count(&env, "n"), 4, "surviving startsecs did not reset the failed-start count");
}

#[test]
fn start_and_stop_outlast_the_client_timeout() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("slow", "/bin/sleep 300", "autostart=false\nstartsecs=11"),
        prog(
            "deaf",
            "/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'",
            "startsecs=0\nstopwaitsecs=11"
        ),
    ));
    let _daemon = Daemon::start(&env);
    let deaf = env.running_pid("deaf");
    // Both wait on programs longer than a client waits for a silent daemon (10 s).
    let start = env.pman_spawn(&["start", "slow"]);
    let stop = env.pman_spawn(&["stop", "deaf"]);
    let start = start.wait_with_output().expect("pman start");
    let stop = stop.wait_with_output().expect("pman stop");
    let start_out = String::from_utf8_lossy(&start.stdout);
    let start_err = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(0), "{start_out}{start_err}");
    assert!(line_matches(start_out.trim_end(), "[slow] RUNNING pid: {N} uptime: {T}"), "{start_out}");
    let stop_out = String::from_utf8_lossy(&stop.stdout);
    let stop_err = String::from_utf8_lossy(&stop.stderr);
    assert_eq!(stop.status.code(), Some(0), "{stop_out}{stop_err}");
    assert_eq!(stop_out, "[deaf] STOPPED\n");
    assert!(!pid_alive(deaf));
    env.prog_pid("slow");
}

#[test]
fn stop_ends_a_backoff() {
    let env = Env::new();
    env.write_config(&prog("bo", &counting("bo.count", "exit 1"), "startsecs=1\nbackoff=1"));
    let _daemon = Daemon::start(&env);
    env.wait_state("bo", "BACKOFF", secs(3.0));
    let out = env.pman(&["stop", "bo"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[bo] STOPPED\n"), "{out}");
    let starts = count(&env, "bo.count");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&env, "bo.count"), starts, "retried after stop");
    assert_eq!(env.status_line("bo"), "[bo] STOPPED");
}

#[test]
fn user_drops_privileges() {
    if !is_root() {
        skip!("needs root to switch users");
    }
    let env = Env::new();
    std::fs::create_dir(env.path("out")).expect("mkdir");
    std::fs::set_permissions(env.path("out"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let Some(home) = read_file("/etc/passwd").lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[0] == "nobody").then(|| f[5].to_string())
    }) else {
        skip!("no user nobody in /etc/passwd")
    };
    let script = "/bin/sh -c 'id -u > $DIR/out/uid; id -g > $DIR/out/gid; \
                  echo \"$USER $LOGNAME $HOME\" > $DIR/out/who; exec /bin/sleep 300'";
    env.write_config(&format!(
        "{}{}",
        prog("nob", script, "startsecs=0\nuser=nobody"),
        prog("ghost", "/bin/sleep 300", "user=pman-no-such-user\nstartretries=0"),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("nob");
    wait_until(secs(3.0), "id output", || env.read("out/who").ends_with('\n'));
    assert_eq!(env.read("out/uid").trim(), "65534");
    assert_eq!(env.read("out/who").trim(), format!("nobody nobody {home}"));
    let status = read_file(format!("/proc/{pid}/status"));
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>();
    assert!(uids.iter().all(|u| *u == "65534"), "real/effective/saved uid: {uids:?}");
    let groups = status.lines().find_map(|l| l.strip_prefix("Groups:")).unwrap_or("").trim().to_string();
    assert!(!groups.split_whitespace().any(|g| g == "0"), "kept root's groups: {groups}");

    let line = env.wait_state("ghost", "FATAL", secs(3.0));
    assert!(line.ends_with("user pman-no-such-user: unknown user"), "{line}");
}

#[test]
fn exiting_within_startsecs_is_a_failed_start_even_with_exit_0() {
    let env = Env::new();
    env.write_config(&prog("quick", "/bin/sh -c 'exit 0'", "startsecs=1\nautorestart=false\nstartretries=0"));
    let _daemon = Daemon::start(&env);
    let line = env.wait_state("quick", "FATAL", secs(4.0));
    assert!(line_matches(&line, "[quick] FATAL exit: 0{*}"), "{line}");
}

#[test]
fn backoff_doubles_up_to_backoff_max() {
    let env = Env::new();
    env.write_config(&prog("bo", &counting("bo.count", "exit 1"), "startsecs=1\nbackoff=1\nbackoff_max=2"));
    let _daemon = Daemon::start(&env);
    // Starts at about 0, 1, 3, 5 s: the 4th start proves the cap (uncapped it would be at 7 s).
    let mut retries: Vec<u64> = Vec::new();
    let started = Instant::now();
    wait_until(secs(9.0), "4 starts", || {
        let line = env.status_line("bo");
        if let Some(n) = field(&line, "retry in").and_then(|v| v.trim_end_matches('s').parse().ok()) {
            retries.push(n);
        }
        count(&env, "bo.count") >= 4
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(4000), "4 starts in {took:?}: no doubling");
    assert!(took < secs(6.9), "4 starts took {took:?}: backoff_max=2 not applied");
    assert!(!retries.is_empty(), "never saw `retry in:`");
    assert!(retries.iter().all(|&n| n <= 2), "retry in above backoff_max=2: {retries:?}");
}

#[test]
fn exec_failure_reports_its_reason() {
    let env = Env::new();
    std::fs::write(env.path("noexec"), "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(env.path("noexec"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}{}{}",
        prog("nope", "/nope", "backoff=1"),
        prog("fatal", "/nope", "startretries=0"),
        prog("perm", "$DIR/noexec", "startretries=0"),
    ));
    let daemon = Daemon::start(&env);
    let line = env.wait_state("fatal", "FATAL", secs(3.0));
    assert_eq!(line, "[fatal] FATAL exit: 127 exec /nope: No such file or directory");
    let json = env.json_of("fatal");
    assert_eq!(json.int("exit_code"), 127);
    assert_eq!(json.string("reason"), Some("exec /nope: No such file or directory"));

    let mut last = String::new();
    let backoff = "[nope] BACKOFF exit: 127 retry in: {N}s exec /nope: No such file or directory";
    let ok = eventually(secs(3.0), || {
        last = env.status_line("nope");
        line_matches(&last, backoff)
    });
    assert!(ok, "expected {backoff:?}, last: {last:?}");

    let perm = env.wait_state("perm", "FATAL", secs(3.0));
    let want = format!("exec {}/noexec: Permission denied", env.dir_str());
    assert!(perm.ends_with(&want), "{perm:?} does not end with {want:?}");

    // The reason goes to the daemon log, and with -f to stderr too.
    wait_until(secs(3.0), "reason in the logfile", || {
        env.read("pman.log").contains("exec /nope: No such file or directory")
    });
    assert!(
        daemon.stderr().contains("exec /nope: No such file or directory"),
        "-f stderr: {}",
        daemon.stderr()
    );
}

#[test]
fn autorestart_false_leaves_the_program_exited() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("five", &counting("five.count", "exit 5"), "startsecs=0\nautorestart=false"),
        prog("zero", "/bin/sh -c 'exit 0'", "startsecs=0\nautorestart=false"),
    ));
    let _daemon = Daemon::start(&env);
    assert_eq!(env.wait_state("five", "EXITED", secs(3.0)), "[five] EXITED exit: 5");
    assert_eq!(env.wait_state("zero", "EXITED", secs(3.0)), "[zero] EXITED exit: 0");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(count(&env, "five.count"), 1, "autorestart=false restarted it");
    assert_eq!(env.status_line("five"), "[five] EXITED exit: 5");
    assert_eq!(env.json_of("five").int("restarts"), 0);
}

#[test]
fn autorestart_unexpected_uses_exitcodes() {
    let env = Env::new();
    let extra = "startsecs=0\nautorestart=unexpected\nexitcodes=0, 2";
    env.write_config(&format!(
        "{}{}{}",
        prog("expected", &counting("expected.count", "exit 2"), extra),
        prog("unexpected", &counting("unexpected.count", "sleep 0.2; exit 3"), extra),
        prog("signalled", "/bin/sleep 300", extra),
    ));
    let _daemon = Daemon::start(&env);
    let victim = env.running_pid("signalled");
    kill(victim, libc::SIGTERM);
    wait_until(secs(3.0), "exit 3 restarted", || count(&env, "unexpected.count") >= 2);
    wait_until(secs(3.0), "death by an outside signal restarted", || {
        env.prog_pid("signalled").is_some_and(|p| p != victim)
    });
    assert_eq!(env.wait_state("expected", "EXITED", secs(2.0)), "[expected] EXITED exit: 2");
    assert_eq!(count(&env, "expected.count"), 1, "an expected exit code was restarted");
    assert!(env.json_of("unexpected").int("restarts") >= 1);
}

#[test]
fn startsecs_shows_starting_then_running() {
    let env = Env::new();
    env.write_config(&prog("s", "/bin/sleep 300", "startsecs=2\nautostart=false"));
    let _daemon = Daemon::start(&env);
    let starter = env.pman_spawn(&["start", "s"]);
    let mut line = String::new();
    // A start waits for its spawn turn as STARTING without a pid: wait for the process.
    wait_until(secs(3.0), "s is made", || {
        line = env.status_line("s");
        line != "[s] STOPPED" && line != "[s] STARTING"
    });
    assert!(line_matches(&line, "[s] STARTING pid: {N}"), "while start waits: {line:?}");
    let pid = field(&line, "pid").and_then(|p| p.parse::<i32>().ok()).unwrap_or(0);
    env.track(pid);
    assert_eq!(env.pman(&["status", "s"]).code, 3, "STARTING is not RUNNING");
    let out = starter.wait_with_output().expect("pman start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(line_matches(stdout.trim_end(), "[s] RUNNING pid: {N} uptime: {T}"), "{stdout}");
    assert_eq!(field(stdout.trim_end(), "pid"), Some(pid.to_string().as_str()));
}

#[test]
fn stop_escalates_to_sigkill() {
    let env = Env::new();
    env.write_config(&prog(
        "stubborn",
        "/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'",
        "startsecs=0\nstopwaitsecs=1",
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("stubborn");
    let started = Instant::now();
    let stopper = env.pman_spawn(&["stop", "stubborn"]);
    let mut line = String::new();
    let seen = eventually(secs(2.0), || {
        line = env.status_line("stubborn");
        line.contains("STOPPING")
    });
    assert!(seen, "never saw STOPPING; last {line:?}");
    assert_eq!(line, format!("[stubborn] STOPPING pid: {pid}"));
    let out = stopper.wait_with_output().expect("pman stop");
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[stubborn] STOPPED\n");
    assert!(!pid_alive(pid), "still alive after stop");
    assert!(took >= Duration::from_millis(900), "SIGKILL before stopwaitsecs=1 passed ({took:?})");
    assert_eq!(env.status_line("stubborn"), "[stubborn] STOPPED");
}

#[test]
fn stop_kills_the_process_group() {
    let env = Env::new();
    let script = |name: &str| format!("/bin/sh -c '/bin/sleep 300 & echo $! > $DIR/{name}.child; wait'");
    env.write_config(&format!(
        "{}{}",
        prog("grp", &script("grp"), "startsecs=0"),
        prog("solo", &script("solo"), "startsecs=0\nkillasgroup=false"),
    ));
    let _daemon = Daemon::start(&env);
    let child_of = |name: &str| -> i32 {
        let file = format!("{name}.child");
        wait_until(secs(3.0), &file, || env.read(&file).trim().parse::<i32>().is_ok());
        let pid = env.read(&file).trim().parse().unwrap_or(0);
        env.track(pid);
        pid
    };
    let grp_child = child_of("grp");
    let solo_child = child_of("solo");
    let grp = env.running_pid("grp");
    let solo = env.running_pid("solo");

    let out = env.pman(&["stop", "grp"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!pid_alive(grp), "main process survived");
    assert!(!pid_alive(grp_child), "killasgroup: the program's child {grp_child} survived stop");

    let out = env.pman(&["stop", "solo"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!pid_alive(solo), "main process survived");
    assert!(pid_alive(solo_child), "killasgroup=false: stop signalled the child too");
    kill(solo_child, libc::SIGKILL);
}

#[test]
fn priority_orders_starts_and_stops() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}{}",
        prog("a", &order_script("a", "order"), "startsecs=0\npriority=30"),
        prog("b", &order_script("b", "order"), "startsecs=0\npriority=10"),
        prog("c", &order_script("c", "order"), "startsecs=0\npriority=20"),
        prog("d", &order_script("d", "order"), "startsecs=0\npriority=10"),
    ));
    let _daemon = Daemon::start(&env);
    let pids: Vec<i32> = ["b", "d", "c", "a"].iter().map(|n| env.running_pid(n)).collect();
    // Started in ascending priority, ties in config order: forked in that order.
    assert!(pids.windows(2).all(|w| w[0] < w[1]), "fork order of b,d,c,a: {pids:?}");
    wait_until(secs(3.0), "all started", || count(&env, "order") == 4);

    let out = env.pman(&["stop", "all"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "[a] STOPPED\n[b] STOPPED\n[c] STOPPED\n[d] STOPPED\n"),
        "{out}"
    );
    let text = env.read("order");
    let stops: Vec<&str> = text.lines().filter(|l| l.starts_with("stop-")).collect();
    assert_eq!(stops.len(), 4, "{text}");
    assert_eq!(&stops[..2], ["stop-a", "stop-c"], "descending priority: {text}");
    let mut last: Vec<&str> = stops[2..].to_vec();
    last.sort();
    assert_eq!(last, ["stop-b", "stop-d"], "{text}");
}

#[test]
fn environment_of_programs() {
    let env = Env::new();
    std::fs::create_dir(env.path("bin")).expect("mkdir");
    std::fs::write(env.path("bin/mytool"), "#!/bin/sh\necho ran > \"$1\"\nexec /bin/sleep 300\n")
        .expect("write");
    std::fs::set_permissions(env.path("bin/mytool"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dump = |name: &str| format!("/bin/sh -c 'env > $DIR/{name}.env; exec /bin/sleep 300'");
    env.write_config(&format!(
        "[pman]\nenvironment=GLOBAL=g,SHARED=pman\n{}{}{}",
        prog("p1", &dump("p1"), "startsecs=0\nenvironment=FOO=one,BAR=\"a, b\",SHARED=p1"),
        // A bare name is looked up in PATH (here the daemon's).
        prog("p2", "sh -c 'env > $DIR/p2.env; exec /bin/sleep 300'", "startsecs=0"),
        // ...and in the program's own PATH first.
        prog("p3", "mytool $DIR/p3.ran", "startsecs=0\nenvironment=PATH=\"$DIR/bin\""),
    ));
    let _daemon = Daemon::start_with(&env, &[("PMAN_T_INHERITED", "yes")]);
    for name in ["p1", "p2", "p3"] {
        env.running_pid(name);
    }
    wait_until(secs(3.0), "env dumps", || {
        env.read("p1.env").contains("PATH=") && env.read("p2.env").contains("PATH=")
    });
    let p1 = env.read("p1.env");
    let p2 = env.read("p2.env");
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    for line in [
        "FOO=one",
        "BAR=a, b",
        "GLOBAL=g",
        "SHARED=p1",
        "PMAN_PROCESS_NAME=p1",
        "SUPERVISOR_PROCESS_NAME=p1",
        "SUPERVISOR_ENABLED=1",
        "PMAN_T_INHERITED=yes",
    ] {
        assert!(has(&p1, line), "p1 lacks {line}:\n{p1}");
    }
    for line in
        ["GLOBAL=g", "SHARED=pman", "PMAN_PROCESS_NAME=p2", "SUPERVISOR_ENABLED=1", "PMAN_T_INHERITED=yes"]
    {
        assert!(has(&p2, line), "p2 lacks {line}:\n{p2}");
    }
    assert!(
        !p2.lines().any(|l| l.starts_with("FOO=") || l.starts_with("BAR=")),
        "p1's environment leaked into p2:\n{p2}"
    );
    wait_until(secs(3.0), "mytool found through the program's PATH", || env.read("p3.ran") == "ran\n");
}

#[test]
fn directory_and_umask() {
    let env = Env::new();
    for dir in ["top", "work"] {
        std::fs::create_dir(env.path(dir)).expect("mkdir");
    }
    std::fs::write(env.path("work/tool.sh"), "#!/bin/sh\npwd > \"$1\"\nexec /bin/sleep 300\n")
        .expect("write");
    std::fs::set_permissions(env.path("work/tool.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let dump = |name: &str| {
        format!("/bin/sh -c 'pwd > $DIR/{name}.pwd; umask > $DIR/{name}.umask; exec /bin/sleep 300'")
    };
    env.write_config(&format!(
        "[pman]\ndirectory=$DIR/top\numask=077\n{}{}{}",
        prog("own", &dump("own"), "startsecs=0\ndirectory=$DIR/work\numask=027"),
        prog("inherit", &dump("inherit"), "startsecs=0"),
        // A relative command is relative to `directory`.
        prog("rel", "./tool.sh $DIR/rel.pwd", "startsecs=0\ndirectory=$DIR/work"),
    ));
    let _daemon = Daemon::start(&env);
    for name in ["own", "inherit", "rel"] {
        env.running_pid(name);
    }
    let dir = env.dir_str();
    wait_until(secs(3.0), "dumps", || {
        ["own.umask", "inherit.umask", "rel.pwd"].iter().all(|f| env.read(f).ends_with('\n'))
    });
    assert_eq!(env.read("own.pwd").trim(), format!("{dir}/work"));
    assert_eq!(env.read("own.umask").trim(), "0027");
    assert_eq!(env.read("inherit.pwd").trim(), format!("{dir}/top"));
    assert_eq!(env.read("inherit.umask").trim(), "0077");
    assert_eq!(env.read("rel.pwd").trim(), format!("{dir}/work"));
}

#[test]
fn programs_get_dev_null_stdin_no_extra_fds_and_clean_signals() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("p", "/bin/sleep 300", "startsecs=0"),
        prog("direct", "/bin/sleep 300", "startsecs=0\nstdout_maxbytes=0"),
    ));
    let _daemon = Daemon::start(&env);
    for name in ["p", "direct"] {
        let pid = env.running_pid(name);
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("read /proc/PID/fd")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        assert_eq!(fds, ["0", "1", "2"], "{name}: descriptors beyond 0-2 leaked into the program");
        let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("readlink fd 0");
        assert_eq!(stdin.to_str(), Some("/dev/null"), "{name}: stdin");
        if !under_qemu() {
            let status = read_file(format!("/proc/{pid}/status"));
            for key in ["SigBlk:", "SigIgn:"] {
                let value = status.lines().find_map(|l| l.strip_prefix(key)).unwrap_or("?").trim();
                assert!(value.chars().all(|c| c == '0'), "{name}: {key} {value}: signals not reset");
            }
        }
    }
    let direct = env.prog_pid("direct").expect("pid");
    let stdout = std::fs::read_link(format!("/proc/{direct}/fd/1")).expect("readlink fd 1");
    assert_eq!(stdout, env.path("direct.out"), "stdout_maxbytes=0: the child writes the file itself");
}

/// With `backoff=0` the retry begins at once; `start` still answers with
/// the failed attempt's line, its exit and reason.
#[test]
fn a_failed_start_retried_at_once_is_answered_as_failed() {
    let env = Env::new();
    env.write_config(&prog("h", "/nonexistent", "backoff=0\nautostart=false"));
    let _daemon = Daemon::start(&env);
    let out = env.pman(&["start", "h"]);
    assert_eq!(out.code, 1, "{out}");
    let line = out.stdout.trim_end();
    assert!(
        line_matches(line, "[h] BACKOFF exit: 127 retry in: 0s exec /nonexistent: No such file or directory"),
        "{line}"
    );
}
