//! The daemon's memory: with 200 programs its heap stays small, and after
//! a reload from a big config back to a small one it gives the big one's
//! memory back (`Anonymous` of /proc/PID/smaps_rollup: heap, stack and
//! written data, not the mapped binary).

#[macro_use]
mod common;

use common::*;

/// A field of /proc/PID/smaps_rollup in KiB (`Anonymous`, `Rss`, `Pss`...).
fn rollup_kib(pid: i32, key: &str) -> Option<u64> {
    let text = read_file(format!("/proc/{pid}/smaps_rollup"));
    let line = text.lines().find(|l| l.split(':').next() == Some(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn anonymous_kib(pid: i32) -> u64 {
    rollup_kib(pid, "Anonymous").unwrap_or_else(|| panic!("no Anonymous in /proc/{pid}/smaps_rollup"))
}

/// `count` programs `pNNN` (`sleep`, not started unless `autostart`), each
/// with a few settings and environment variables, as real configs have.
fn programs(count: usize, autostart: bool) -> String {
    let mut text = String::new();
    for n in 0..count {
        text.push_str(&format!(
            "[program:p{n:03}]\ncommand=/bin/sleep 1000\nautostart={autostart}\nstartsecs=0\n\
             stdout=$DIR/p{n:03}.out\nstderr=$DIR/p{n:03}.err\ndirectory=$DIR\n\
             environment=NAME=p{n:03},ROLE=worker,LEVEL=info\n\n"
        ));
    }
    text
}

fn running_count(env: &Env) -> usize {
    env.pman(&["status"]).stdout.lines().filter(|l| l.split_whitespace().nth(1) == Some("RUNNING")).count()
}

fn reload(env: &Env) {
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
}

fn skip_without_smaps_rollup() -> bool {
    !std::path::Path::new("/proc/self/smaps_rollup").exists()
}

#[test]
fn two_hundred_running_programs_keep_the_heap_small() {
    if skip_without_smaps_rollup() {
        skip!("no /proc/self/smaps_rollup");
    }
    let env = Env::new();
    env.write_config(&programs(200, true));
    let daemon = Daemon::start(&env);
    wait_until(secs(60.0), "200 programs RUNNING", || running_count(&env) == 200);
    for n in 0..200 {
        if let Some(pid) = env.prog_pid(&format!("p{n:03}")) {
            env.track(pid);
        }
    }
    let anon = anonymous_kib(daemon.pid);
    eprintln!("N=200 running: Anonymous {anon} KiB, Rss {:?} KiB", rollup_kib(daemon.pid, "Rss"));
    assert!(anon < 2048, "the daemon holds {anon} KiB of anonymous memory for 200 programs");
}

#[test]
fn reloading_a_big_config_then_a_small_one_gives_the_memory_back() {
    if skip_without_smaps_rollup() {
        skip!("no /proc/self/smaps_rollup");
    }
    let env = Env::new();
    env.write_config(&programs(10, false));
    let daemon = Daemon::start(&env);
    let small = anonymous_kib(daemon.pid);

    env.write_config(&programs(2000, false));
    reload(&env);
    assert_eq!(env.pman(&["status"]).stdout.lines().count(), 2000);
    let big = anonymous_kib(daemon.pid);

    env.write_config(&programs(10, false));
    reload(&env);
    assert_eq!(env.pman(&["status"]).stdout.lines().count(), 10);
    let after = anonymous_kib(daemon.pid);
    eprintln!("Anonymous: 10 programs {small} KiB, 2000 programs {big} KiB, back to 10 {after} KiB");
    assert!(big > small + 1024, "2000 programs should cost over 1 MiB: {small} -> {big} KiB");
    // Generous: at least three quarters of the growth is given back.
    assert!(
        after - small <= (big - small) / 4,
        "back to 10 programs the daemon still holds {after} KiB (10 programs: {small}, 2000: {big})"
    );
}
