//! Soak (issue 6, part 5): ten thousand restarts of a program that exits at
//! once. The daemon's RSS and descriptors stay flat, no zombie is left, and
//! its own log never grows past its cap or keeps more backups than asked.
//! The figures are printed for the README.

#[macro_use]
mod common;
mod reliability;

use common::*;
use reliability::*;
use std::time::{Duration, Instant};

/// RSS may differ by this much (KiB) between the 1,000th and the last restart.
const RSS_SLACK_KB: u64 = 64;
const LOG_CAP: u64 = 64 * 1024;
const LOG_BACKUPS: usize = 2;
/// Longest daemon log line we allow past the cap (a line is never split).
const ONE_LINE: u64 = 1024;

/// The fewest descriptors seen over a few samples: a restart in flight
/// holds an errno pipe for a moment.
fn settled_fds(pid: i32) -> usize {
    // A spawn holds its errno pipe until the child execs, and the flapping
    // program is respawned back to back: sample long enough to see a gap.
    (0..60)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            fd_count(pid)
        })
        .min()
        .unwrap_or(0)
}

#[test]
fn ten_thousand_restarts_leave_the_daemon_as_it_was() {
    // Under emulation every fork+exec costs far more: soak less.
    let target: i64 = if under_qemu() { 1_000 } else { 10_000 };
    let early: i64 = target / 10;
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\nlogfile_maxbytes=64KB\nlogfile_backups={LOG_BACKUPS}\n\
         [program:steady]\ncommand=/bin/sleep 300\nstartsecs=0\nstdout=none\nstderr=none\n\
         [program:flap]\ncommand=/bin/false\nstartsecs=1\nbackoff=0\nbackoff_max=0\nautostart=false\n\
         stdout=none\nstderr=none\n"
    ));
    let daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let idle_fds = fd_targets(daemon.pid);
    let idle_rss = rss_kb(daemon.pid);

    let started = Instant::now();
    let out = env.pman(&["start", "flap"]);
    assert_eq!(out.code, 1, "the first start of /bin/false fails: {out}");

    let bound = secs(120.0);
    let log = env.path("pman.log");
    let mut restarts = 0;
    let mut early_mark: Option<(u64, usize, Duration)> = None;
    let mut biggest_log = 0u64;
    let mut most_backups = 0usize;
    let mut zombie_checks = 0;
    while restarts < target {
        assert!(started.elapsed() < bound, "only {restarts} restarts within {bound:?}");
        std::thread::sleep(Duration::from_millis(200));
        let json = env.json_of("flap");
        restarts = json.int("restarts");
        assert_ne!(json.string("state"), Some("FATAL"), "{json:?}");
        biggest_log = biggest_log.max(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0));
        let backups = (1..=LOG_BACKUPS + 3).filter(|n| env.path(&format!("pman.log.{n}")).exists()).count();
        most_backups = most_backups.max(backups);
        if early_mark.is_none() && restarts >= early {
            early_mark = Some((rss_kb(daemon.pid), settled_fds(daemon.pid), started.elapsed()));
        }
        if zombie_checks < 5 && restarts > early {
            zombie_checks += 1;
            let lasting = lasting_zombies(daemon.pid, Duration::from_millis(300));
            assert!(lasting.is_empty(), "zombies not reaped at {restarts} restarts: {lasting:?}");
        }
    }
    let elapsed = started.elapsed();
    let (early_rss, early_fds, early_at) = early_mark.expect("passed the early mark");
    let late_rss = rss_kb(daemon.pid);
    let late_fds = settled_fds(daemon.pid);
    let lasting = lasting_zombies(daemon.pid, Duration::from_millis(300));

    let out = env.pman(&["stop", "flap"]);
    assert_eq!(out.code, 0, "{out}");
    let stopped_fds = fd_targets(daemon.pid);
    let stopped_rss = rss_kb(daemon.pid);
    let zombies = zombie_children(daemon.pid);
    eprintln!(
        "soak: {restarts} restarts in {elapsed:.1?} ({:.0}/s); RSS idle {idle_rss} KiB, at {early} restarts \
         {early_rss} KiB ({early_at:.1?}), at {restarts} {late_rss} KiB, stopped {stopped_rss} KiB; fds idle {}, \
         at {early} {early_fds}, at {restarts} {late_fds}, stopped {}; daemon log at most {biggest_log} bytes \
         (cap {LOG_CAP}), {most_backups} backups (logfile_backups={LOG_BACKUPS}); zombies {}",
        restarts as f64 / elapsed.as_secs_f64(),
        idle_fds.len(),
        stopped_fds.len(),
        zombies.len() + lasting.len(),
    );
    assert!(lasting.is_empty(), "zombies not reaped while soaking: {lasting:?}");
    assert!(zombies.is_empty(), "zombies after the stop: {zombies:?}");
    if under_qemu() {
        // qemu-user's own descriptors and memory show in the daemon's /proc
        // entries and come and go with its threads.
        eprintln!("SKIP soak RSS and descriptor checks: qemu-user's own files and memory are counted in");
    } else {
        assert!(
            late_rss <= early_rss + RSS_SLACK_KB,
            "RSS grew from {early_rss} KiB ({early} restarts) to {late_rss} KiB ({restarts} restarts)"
        );
        assert_eq!(late_fds, early_fds, "descriptors grew while soaking: {:?}", fds(daemon.pid));
        assert_eq!(stopped_fds, idle_fds, "descriptors after the soak differ from before");
    }
    assert!(biggest_log <= LOG_CAP + ONE_LINE, "the daemon log reached {biggest_log} bytes (cap {LOG_CAP})");
    assert!(
        most_backups <= LOG_BACKUPS,
        "{most_backups} backups of the daemon log (logfile_backups={LOG_BACKUPS})"
    );
    assert!(most_backups >= 1, "the daemon log never rotated: is it logging restarts?");
    assert_eq!(env.prog_pid("steady"), Some(steady), "steady changed during the soak");
}
