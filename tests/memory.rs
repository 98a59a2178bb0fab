//! The daemon's footprint. Memory: with 200 programs its heap stays small,
//! and after a reload from a big config back to a small one it gives the
//! big one's memory back (`Anonymous` of /proc/PID/smaps_rollup: heap,
//! stack and written data, not the mapped binary). Log timestamps: local
//! time from POSIX TZ rules without libc's zoneinfo code, else UTC with `Z`.

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

/// Under qemu-user the pid is the emulator's, whose memory is not pman's.
fn cannot_measure() -> Option<&'static str> {
    if under_qemu() {
        Some("under qemu-user /proc/PID measures the emulator")
    } else if !std::path::Path::new("/proc/self/smaps_rollup").exists() {
        Some("no /proc/self/smaps_rollup")
    } else {
        None
    }
}

#[test]
fn two_hundred_running_programs_keep_the_heap_small() {
    if let Some(why) = cannot_measure() {
        skip!("{why}");
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
    // Generous: about 0.4-0.7 MiB here, over 1 MiB with zig's allocator.
    assert!(anon < 1024, "the daemon holds {anon} KiB of anonymous memory for 200 programs");
}

#[test]
fn reloading_a_big_config_then_a_small_one_gives_the_memory_back() {
    if let Some(why) = cannot_measure() {
        skip!("{why}");
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
        after.saturating_sub(small) <= (big - small) / 4,
        "back to 10 programs the daemon still holds {after} KiB (10 programs: {small}, 2000: {big})"
    );
}

/// Seconds since the epoch of a `YYYY-MM-DD HH:MM:SS` wall-clock time.
fn parse_time(text: &str) -> Option<i64> {
    let n = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hour, minute, second) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    Some(days * 86400 + hour * 3600 + minute * 60 + second)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The first line of the daemon log of a daemon started with `TZ=tz`.
fn first_log_line(tz: &str) -> String {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}",
        prog("a", "/bin/sleep 300", "autostart=false")
    ));
    let _daemon = Daemon::start_with(&env, &[("TZ", tz)]);
    let mut line = String::new();
    wait_until(secs(5.0), "a line in the daemon log", || {
        line = env.read("pman.log").lines().next().unwrap_or_default().to_string();
        !line.is_empty()
    });
    line
}

#[test]
fn log_lines_carry_local_time_from_posix_tz_rules() {
    // UTC+14 all year: no date on Earth is further from UTC.
    let line = first_log_line("<+14>-14");
    assert!(line_matches(&line, "{N}-{N}-{N} {N}:{N}:{N} {*}"), "{line:?}");
    let stamp = parse_time(&line).unwrap_or_else(|| panic!("no time in {line:?}"));
    let local_now = now() + 14 * 3600;
    assert!((stamp - local_now).abs() < 600, "{line:?} is not UTC+14 (now {local_now})");

    // Summer time all year round, in the rule's terms.
    let line = first_log_line("AAA0BBB-5,J1/0,J365/24");
    let stamp = parse_time(&line).unwrap_or_else(|| panic!("no time in {line:?}"));
    assert!((stamp - (now() + 5 * 3600)).abs() < 600, "{line:?} is not in summer time (UTC+5)");
}

#[test]
fn without_posix_tz_rules_log_lines_are_utc_marked_z() {
    // A zoneinfo name is not a POSIX rule: pman reads no zoneinfo files.
    let line = first_log_line("Europe/Berlin");
    assert!(line_matches(&line, "{N}-{N}-{N} {N}:{N}:{N}Z {*}"), "{line:?}");
    let stamp = parse_time(&line).unwrap_or_else(|| panic!("no time in {line:?}"));
    assert!((stamp - now()).abs() < 600, "{line:?} is not UTC");
}
