//! killasgroup: a program is never started again while members of its
//! previous process group live. What a program leaves behind is stopped
//! before an automatic or manual restart, and by `stop`, `kill` and a
//! reload that removes it; an EXITED program's leftovers are left alone.

#[macro_use]
mod common;
mod procs;

use common::*;
use procs::*;
use std::time::{Duration, Instant};

/// `command` backgrounds `sleep SECS` in the program's group and exits.
fn launcher(env: &Env, name: &str, secs: u32, extra: &str) -> String {
    prog(name, &format!("sh -c '(exec sleep {secs} &); exit 0'"), &format!("{extra}\n{}", tag_line(env)))
}

/// Samples the live `sleep SECS` processes for `window`; the most seen at
/// once, and how many different ones.
fn watch_sleeps(env: &Env, secs: u32, window: Duration) -> (usize, usize) {
    let cmdline = format!("sleep {secs}");
    let mut most = 0;
    let mut seen = std::collections::BTreeSet::new();
    let until = Instant::now() + window;
    while Instant::now() < until {
        let now = tagged_running(env, &cmdline);
        most = most.max(now.len());
        seen.extend(now);
        std::thread::sleep(Duration::from_millis(25));
    }
    (most, seen.len())
}

#[test]
fn an_autorestarted_launcher_never_piles_up_its_background_jobs() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&launcher(&env, "bg", 1001, "startsecs=0\nautorestart=true"));
    let _daemon = Daemon::start(&env);
    let (most, different) = watch_sleeps(&env, 1001, secs(8.0));
    assert_eq!(most, 1, "more than one `sleep 1001` of the program at once");
    assert!(different >= 3, "only {different} restarts in 8 s: the test proves nothing");
    let restarts = env.json_of("bg").get("restarts").and_then(|r| r.as_i64()).unwrap_or(0);
    assert!(restarts >= 2, "restarts: {restarts}");

    let out = env.pman(&["stop", "bg"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[bg] STOPPED\n"), "{out}");
    assert!(tagged_running(&env, "sleep 1001").is_empty(), "stop left the background job");
}

#[test]
fn kill_stops_what_programs_left_behind() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&format!(
        "{}{}",
        launcher(&env, "bg", 1003, "startsecs=0\nautorestart=true"),
        launcher(&env, "once", 1004, "startsecs=0\nautorestart=false"),
    ));
    let mut daemon = Daemon::start(&env);
    env.wait_state("once", "EXITED", secs(5.0));
    wait_until(secs(5.0), "both background jobs run", || {
        tagged_running(&env, "sleep 1003").len() == 1 && tagged_running(&env, "sleep 1004").len() == 1
    });
    let out = env.pman(&["kill"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(daemon.wait_exit(secs(5.0)), Some(0));
    assert!(tagged(&env).is_empty(), "left running after kill: {:?}", tagged(&env));
}

#[test]
fn an_exited_programs_leftovers_live_until_it_is_stopped_or_started() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    env.write_config(&launcher(&env, "once", 1005, "startsecs=0\nautorestart=false"));
    let _daemon = Daemon::start(&env);
    env.wait_state("once", "EXITED", secs(5.0));
    wait_until(secs(3.0), "the background job runs", || tagged_running(&env, "sleep 1005").len() == 1);
    let first = tagged_running(&env, "sleep 1005");
    // A one-shot launcher's job is left alone.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tagged_running(&env, "sleep 1005"), first, "an EXITED program's job was touched");
    assert_eq!(env.state("once"), "EXITED");

    // `start` clears the old group before the new run.
    let out = env.pman(&["start", "once"]);
    assert!(out.stdout.starts_with("[once] "), "{out}");
    wait_until(secs(3.0), "the new job runs", || {
        let now = tagged_running(&env, "sleep 1005");
        now.len() == 1 && now != first
    });
    assert!(first.iter().all(|&p| !pid_alive(p)), "start left the old job");
    env.wait_state("once", "EXITED", secs(5.0));

    // `stop` of the EXITED program takes its job.
    let out = env.pman(&["stop", "once"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[once] STOPPED\n"), "{out}");
    assert!(tagged_running(&env, "sleep 1005").is_empty(), "stop left the job");
}

#[test]
fn a_reload_that_removes_a_program_stops_its_leftovers() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let keep = prog("keep", "/bin/sleep 300", &format!("startsecs=0\n{}", tag_line(&env)));
    env.write_config(&format!("{keep}{}", launcher(&env, "once", 1006, "startsecs=0\nautorestart=false")));
    let _daemon = Daemon::start(&env);
    env.wait_state("once", "EXITED", secs(5.0));
    wait_until(secs(3.0), "the background job runs", || tagged_running(&env, "sleep 1006").len() == 1);
    env.write_config(&keep);
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "[once] removed\n"), "{out}");
    assert!(tagged_running(&env, "sleep 1006").is_empty(), "the removed program's job lives on");
    env.running_pid("keep");
}

#[test]
fn a_stubborn_leftover_holds_the_restart_in_backoff_until_killed() {
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    // The background job ignores SIGTERM: only SIGKILL after stopwaitsecs ends it.
    let command = "sh -c '(trap \"\" TERM; exec sleep 1007) & sleep 0.3; exit 0'";
    env.write_config(&prog(
        "bg",
        command,
        &format!("startsecs=0\nautorestart=true\nstopwaitsecs=3\n{}", tag_line(&env)),
    ));
    let _daemon = Daemon::start(&env);
    wait_until(secs(5.0), "the background job runs", || tagged_running(&env, "sleep 1007").len() == 1);
    let first = tagged_running(&env, "sleep 1007");
    // Once the 1 s between starts is over, the program waits on its old
    // group, shown as BACKOFF (without `retry in:`, the start waits on the group).
    wait_until(secs(5.0), "BACKOFF while the old group is stopped", || {
        env.status_line("bg") == "[bg] BACKOFF exit: 0"
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(env.state("bg"), "BACKOFF", "started again while its old group lives");
    assert_eq!(tagged_running(&env, "sleep 1007"), first);
    // SIGKILL after stopwaitsecs, then the restart.
    wait_until(secs(5.0), "the old job is killed and the program runs again", || {
        first.iter().all(|&p| !pid_alive(p)) && tagged_running(&env, "sleep 1007").len() == 1
    });
    let (most, _) = watch_sleeps(&env, 1007, Duration::from_millis(500));
    assert!(most <= 1, "two background jobs at once");
}
