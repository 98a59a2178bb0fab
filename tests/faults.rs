//! Resource faults and a crashing supervisor (issue 6, parts 3 and 4).
//!
//! Each fault is reported clearly and survived while another program stays
//! RUNNING with the same pid: a failed fork (RLIMIT_NPROC of a non-root
//! daemon), EMFILE (a lowered RLIMIT_NOFILE and a crowd of clients), ENOSPC
//! (`stdout=/dev/full`), exec failures (ENOENT, EACCES, ENOEXEC), a program
//! that ignores SIGTERM, one that leaves a hundred orphans, one that closes
//! its stdout. Then the supervisor itself: SIGKILLed (no program outlives
//! it; a new daemon brings everything back), and SIGSTOPped while programs
//! die (it catches up on every exit once continued).

#[macro_use]
mod common;
mod reliability;

use common::*;
use reliability::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// The program that must not notice any of the faults.
/// strerror(EMFILE) as pman's libc words it: glibc and musl (the static
/// router build) differ.
const EMFILE_TEXTS: [&str; 2] = ["Too many open files", "No file descriptors available"];

/// The EMFILE wording found after `prefix` in `log`, else glibc's.
fn emfile_in(log: &str, prefix: &str) -> &'static str {
    EMFILE_TEXTS.into_iter().find(|t| log.contains(&format!("{prefix}{t}"))).unwrap_or(EMFILE_TEXTS[0])
}

fn steady() -> String {
    prog("steady", "/bin/sleep 300", "startsecs=0\npriority=1")
}

fn daemon_log(env: &Env) -> String {
    env.read("pman.log")
}

/// CPU ticks the daemon burns over `window`, as a share of it (0.0–1.0).
fn cpu_share(pid: i32, window: Duration) -> f64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid).saturating_sub(before);
    used as f64 / ticks_per_sec() as f64 / window.as_secs_f64()
}

/// The pid in a `[NAME] RUNNING pid: N ...` line.
fn pid_in(line: &str) -> Option<i32> {
    field(line, "pid").and_then(|p| p.parse().ok())
}

#[test]
fn a_failed_fork_is_a_failed_start_and_recovers() {
    if !is_root() {
        skip!("needs root to run the daemon as another uid and set its RLIMIT_NPROC");
    }
    if under_qemu() {
        skip!("under qemu-user RLIMIT_NPROC also counts the emulator's threads");
    }
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        skip!("no prlimit(1) to lift the limit again");
    }
    let env = Env::new();
    let own = env.path("own");
    fs::create_dir(&own).unwrap();
    std::os::unix::fs::chown(&own, Some(ODD_UID), Some(ODD_UID)).unwrap();
    env.write_config(
        "[pman]\nlogfile=$DIR/own/pman.log\n\
         [program:steady]\ncommand=/bin/sleep 300\nstartsecs=0\npriority=1\nstdout=none\nstderr=none\n\
         [program:forky]\ncommand=/bin/sleep 300\nstartsecs=0\nautostart=false\nstdout=none\nstderr=none\n",
    );
    // The daemon runs as an unused uid, so RLIMIT_NPROC applies to it and
    // counts only the uid's processes: the daemon and steady make 2, so a
    // soft limit of 2 fails every later fork (clients of that uid only add
    // to the count). Until steady runs, no client of that uid may run: the
    // test watches /proc instead.
    let daemon = OwnDaemon::spawn(
        &env,
        Launch { uid: Some(ODD_UID), rlimit: Some((libc::RLIMIT_NPROC as i64, 2)), ..Launch::default() },
    );
    let mut kids = Vec::new();
    let forked = eventually(secs(5.0), || {
        kids = children_of(daemon.pid);
        kids.len() == 1 && read_file(format!("/proc/{}/comm", kids[0])).trim() == "sleep"
    });
    assert!(forked, "steady was not started: children {kids:?}\n{}", daemon.stderr());
    let status = |name: &str| {
        pman_as(&env, ODD_UID, &["status", name]).stdout.lines().next().unwrap_or_default().to_string()
    };
    let line = status("steady");
    let steady = pid_in(&line).unwrap_or_else(|| panic!("{line:?}"));
    env.track(steady);
    assert_eq!(steady, kids[0]);

    let out = pman_as(&env, ODD_UID, &["start", "forky"]);
    let errno = "fork: Resource temporarily unavailable";
    assert_eq!(out.code, 1, "start with fork failing: {out}");
    assert!(line_matches(out.stdout.trim_end(), "[forky] BACKOFF retry in: {N}s {*}"), "{out}");
    assert!(out.stdout.contains(errno), "the reason is not shown: {out}");
    let json = pman_as(&env, ODD_UID, &["status", "--json", "forky"]);
    assert!(json.stdout.contains(&format!("\"reason\":\"{errno}\"")), "{json}");
    let log = read_file(own.join("pman.log"));
    assert!(log.contains(&format!("forky: {errno}; retry in")), "daemon log:\n{}", tail(&log, 10));
    eprintln!("fork failure: {}", out.stdout.trim_end());

    // Limit lifted to its hard limit (by its own uid: root may lack
    // CAP_SYS_RESOURCE in a container): `start` retries at once and it runs.
    let mut hard = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills `hard`.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut hard) };
    let hard = if hard.rlim_max == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.rlim_max.to_string()
    };
    let mut lift = std::process::Command::new("prlimit");
    lift.args(["--pid", &daemon.pid.to_string(), &format!("--nproc={hard}:{hard}")]);
    std::os::unix::process::CommandExt::uid(&mut lift, ODD_UID);
    std::os::unix::process::CommandExt::gid(&mut lift, ODD_UID);
    let lifted = run_bounded(lift, secs(10.0));
    assert_eq!(lifted.code, 0, "prlimit --nproc=unlimited as uid {ODD_UID}: {lifted}");
    let out = pman_as(&env, ODD_UID, &["start", "forky"]);
    assert_eq!(out.code, 0, "start once fork works again: {out}");
    if let Some(pid) = pid_in(&out.stdout) {
        env.track(pid);
    }
    assert_eq!(pid_in(&status("steady")), Some(steady), "steady changed");
    assert!(pid_alive(daemon.pid));
}

/// Lowers the daemon's soft RLIMIT_NOFILE to its lowest free descriptor
/// number: the kernel hands out the lowest free one, so every new
/// descriptor fails with EMFILE. Returns the old soft limit.
fn starve_fds(pid: i32) -> u64 {
    let open: Vec<u64> = fds(pid).iter().filter_map(|f| f.split("->").next()?.parse().ok()).collect();
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap_or(0);
    let (soft, _) = set_soft_limit(pid, libc::RLIMIT_NOFILE as i64, lowest_free).expect("prlimit NOFILE");
    soft
}

#[test]
fn emfile_pauses_the_socket_and_supervision_goes_on() {
    if under_qemu() {
        skip!("under qemu-user RLIMIT_NOFILE also covers the emulator's own descriptors");
    }
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}{}",
        steady(),
        prog("victim", "/bin/sleep 300", "startsecs=0\nbackoff=1\nbackoff_max=1")
    ));
    let daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let victim = env.running_pid("victim");
    let idle_fds = fd_count(daemon.pid);
    let soft = starve_fds(daemon.pid);

    // A crowd of clients: accept(2) fails with EMFILE.
    let crowd: Vec<Raw> =
        (0..20).map(|i| Raw::connect(&env.socket).unwrap_or_else(|e| panic!("#{i}: {e}"))).collect();
    wait_until(secs(5.0), "accept fails with EMFILE", || {
        let log = daemon_log(&env);
        log.contains(&format!("accept: {}", emfile_in(&log, "accept: ")))
    });
    // The daemon still supervises: it sees the victim die; its restarts
    // (which need a pipe) fail for want of descriptors.
    kill(victim, libc::SIGKILL);
    wait_until(secs(5.0), "the victim's death is noticed", || {
        daemon_log(&env).contains("victim: killed by signal KILL")
    });
    let share = cpu_share(daemon.pid, Duration::from_millis(2500));
    let starved_log = daemon_log(&env);
    let emfile = emfile_in(&starved_log, "accept: ");
    let pauses = starved_log.matches(&format!("accept: {emfile}; pausing the socket for 1s")).count();
    assert!(children_of(daemon.pid) == vec![steady], "the victim restarted without descriptors?");

    set_soft_limit(daemon.pid, libc::RLIMIT_NOFILE as i64, soft).expect("prlimit NOFILE");
    let started = Instant::now();
    let answered = eventually(secs(5.0), || env.pman(&["status", "steady"]).code == 0);
    let recovered_in = started.elapsed();
    drop(crowd);
    assert!(answered, "status never answered again after EMFILE:\n{}", tail(&daemon_log(&env), 15));
    let line = env.wait_state("victim", "RUNNING", secs(5.0));
    let new_victim = pid_in(&line).unwrap();
    env.track(new_victim);
    eprintln!(
        "EMFILE: no free descriptor, 20 clients queued; {pauses} accept pauses logged in ~3 s; daemon CPU \
         {:.0}% while starved; answered {recovered_in:.1?} after the limit was restored; victim {victim} -> \
         {new_victim}",
        share * 100.0
    );
    assert!(share < 0.3, "the daemon spins on EMFILE: {:.0}% CPU", share * 100.0);
    assert!((1..=6).contains(&pauses), "{pauses} pauses in ~3 s: the pause is not 1 s");
    assert!(
        starved_log.contains(&format!("victim: pipe: {emfile}")),
        "the failed restarts are not in the daemon log:\n{}",
        tail(&starved_log, 12)
    );
    assert_ne!(new_victim, victim);
    assert_eq!(env.prog_pid("steady"), Some(steady), "steady changed");
    wait_until(secs(12.0), "descriptors back once the crowd is gone", || fd_count(daemon.pid) == idle_fds);
}

/// A restart that fails before any process exists (no descriptor for the
/// errno pipe) is a failed start: its reason belongs in the daemon log
/// (pman used to log nothing for a BACKOFF -> BACKOFF failure).
#[test]
fn a_restart_failing_for_want_of_descriptors_is_logged() {
    if under_qemu() {
        skip!("under qemu-user RLIMIT_NOFILE also covers the emulator's own descriptors");
    }
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}",
        prog("victim", "/bin/sleep 300", "startsecs=0\nbackoff=1\nbackoff_max=1")
    ));
    let daemon = Daemon::start(&env);
    let victim = env.running_pid("victim");
    let soft = starve_fds(daemon.pid);
    kill(victim, libc::SIGKILL);
    // Restart at once (1 s after the previous start), then every second.
    std::thread::sleep(Duration::from_millis(2500));
    let log = daemon_log(&env);
    set_soft_limit(daemon.pid, libc::RLIMIT_NOFILE as i64, soft).expect("prlimit NOFILE");
    env.running_pid("victim");
    assert!(
        log.contains(&format!("victim: pipe: {}", emfile_in(&log, "victim: pipe: "))),
        "the failed restarts left no trace in the daemon log:\n{}",
        tail(&log, 10)
    );
}

#[test]
fn enospc_is_counted_and_logged_once() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}[program:full]\ncommand=/bin/sh -c 'while :; do echo data; sleep 0.02; done'\n\
         stdout=/dev/full\nstdout_maxbytes=64KB\nstderr=none\nstartsecs=0\n",
        steady()
    ));
    let _daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let full = env.running_pid("full");
    wait_until(secs(5.0), "log_errors > 10", || env.json_of("full").int("log_errors") > 10);
    std::thread::sleep(Duration::from_millis(300));
    let json = env.json_of("full");
    let log = daemon_log(&env);
    let said = log.lines().filter(|l| l.contains("No space left on device")).count();
    eprintln!("ENOSPC: log_errors {} ; daemon log lines about it: {said}", json.int("log_errors"));
    assert_eq!(json.string("state"), Some("RUNNING"), "full is not RUNNING");
    assert_eq!(json.int("pid"), full as i64, "full was restarted");
    assert_eq!(said, 1, "the daemon log should say it once, when the burst begins:\n{}", tail(&log, 10));
    assert!(log.contains("full stdout: No space left on device"), "{}", tail(&log, 10));
    assert_eq!(env.prog_pid("steady"), Some(steady));
}

#[test]
fn exec_failures_show_exec_path_strerror() {
    let env = Env::new();
    let noexec = env.path("noexec.sh");
    fs::write(&noexec, "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&noexec, fs::Permissions::from_mode(0o644)).unwrap();
    let garbage = env.path("garbage.bin");
    fs::write(&garbage, b"\x01\x02\x03 not a program \xfe\xff\n\x00\x00").unwrap();
    fs::set_permissions(&garbage, fs::Permissions::from_mode(0o755)).unwrap();
    let cases = [
        ("enoent", "/nope".to_string(), "No such file or directory"),
        ("eacces", noexec.display().to_string(), "Permission denied"),
        ("enoexec", garbage.display().to_string(), "Exec format error"),
        ("isdir", env.dir_str(), "Permission denied"),
        ("bare", "pman-no-such-command".to_string(), "No such file or directory"),
    ];
    let mut text = format!("[pman]\nlogfile=$DIR/pman.log\n{}", steady());
    for (name, command, _) in &cases {
        text.push_str(&prog(name, command, "startretries=0"));
    }
    env.write_config(&text);
    let _daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    for (name, command, strerror) in &cases {
        let line = env.wait_state(name, "FATAL", secs(5.0));
        let reason = format!("exec {command}: {strerror}");
        assert_eq!(line, format!("[{name}] FATAL exit: 127 {reason}"), "{name}");
        assert_eq!(env.json_of(name).string("reason"), Some(reason.as_str()), "{name}");
        assert!(daemon_log(&env).contains(&format!("{name}: {reason}")), "{name}: not in the daemon log");
        eprintln!("{line}");
    }
    assert_eq!(env.prog_pid("steady"), Some(steady));
}

#[test]
fn a_program_ignoring_sigterm_is_killed_after_stopwaitsecs() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}{}",
        steady(),
        prog(
            "stubborn",
            "/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'",
            "startsecs=0\nstopwaitsecs=1"
        )
    ));
    let _daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let pid = env.running_pid("stubborn");
    let started = Instant::now();
    let stopper = env.pman_spawn(&["stop", "stubborn"]);
    let stopping = env.wait_state("stubborn", "STOPPING", secs(1.0));
    let out = stopper.wait_with_output().expect("stop");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("SIGTERM ignored: {stopping:?}, stopped by SIGKILL after {took:.1?}");
    assert!(out.status.success(), "stop: {stdout}");
    assert_eq!(stdout, "[stubborn] STOPPED\n");
    assert!(took >= Duration::from_millis(900), "stopped after {took:?}, before stopwaitsecs=1");
    assert!(took < secs(4.0), "stopped after {took:?}");
    assert!(!pid_alive(pid), "still alive");
    assert!(!kill(-pid, 0), "its process group outlived the stop");
    assert!(daemon_log(&env).contains("stubborn: killed by signal KILL"), "{}", tail(&daemon_log(&env), 8));
    assert_eq!(env.prog_pid("steady"), Some(steady));
}

#[test]
fn a_hundred_orphans_are_reaped() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        steady(),
        prog(
            "forker",
            // Each orphan lives 3 s: on a loaded machine the forks alone take a while.
            "/bin/sh -c 'i=0; while [ $i -lt 100 ]; do sleep 3 & i=$((i+1)); done; exit 0'",
            "startsecs=0\nautorestart=false"
        )
    ));
    let daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    env.wait_state("forker", "EXITED", secs(5.0));
    // The orphans are the daemon's now (it is a child subreaper).
    let adopted = children_of(daemon.pid).len().saturating_sub(1);
    wait_until(secs(10.0), "every orphan exits and is reaped", || {
        children_of(daemon.pid) == vec![steady] && zombie_children(daemon.pid).is_empty()
    });
    eprintln!("orphans: {adopted} adopted by the daemon, all reaped, no zombies");
    if !under_qemu() {
        assert!(adopted >= 90, "only {adopted} orphans were adopted: is the daemon a subreaper?");
    }
    assert_eq!(env.status_line("forker"), "[forker] EXITED exit: 0");
    assert_eq!(env.prog_pid("steady"), Some(steady));
}

#[test]
fn a_program_closing_its_stdout_keeps_running() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        steady(),
        prog(
            "closer",
            "/bin/sh -c 'echo before; echo err >&2; exec >&- 2>&-; while :; do sleep 0.1; done'",
            ""
        )
    ));
    let daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let pid = env.wait_state("closer", "RUNNING", secs(5.0));
    let pid = pid_in(&pid).unwrap();
    env.track(pid);
    let share = cpu_share(daemon.pid, Duration::from_millis(1500));
    assert_eq!(env.prog_pid("closer"), Some(pid), "closer was restarted");
    assert!(share < 0.3, "the daemon spins on a closed pipe: {:.0}% CPU", share * 100.0);
    assert_eq!(env.read("closer.out"), "before\n");
    // Its output is still captured after a restart.
    let out = env.pman(&["restart", "closer"]);
    assert_eq!(out.code, 0, "{out}");
    let again = env.prog_pid("closer").unwrap();
    wait_until(secs(3.0), "output after the restart", || env.read("closer.out") == "before\nbefore\n");
    assert_eq!(env.read("closer.err"), "err\nerr\n");
    eprintln!(
        "closed stdout: stayed RUNNING (pid {pid}), daemon CPU {:.0}%, restart {pid} -> {again}",
        share * 100.0
    );
    assert_eq!(env.prog_pid("steady"), Some(steady));
}

/// `start` waits until RUNNING or until the start attempt failed; with
/// `backoff=0` and `backoff_max=0` every retry is immediate, and the client
/// must still get its answer after the first failed attempt (it used to
/// wait for ever: the retry fired before the job looked).
#[test]
fn start_returns_when_backoff_is_zero() {
    let env = Env::new();
    env.write_config(&prog(
        "flap",
        "/bin/false",
        "startsecs=1\nbackoff=0\nbackoff_max=0\nautostart=false\nstdout=none\nstderr=none",
    ));
    let _daemon = Daemon::start(&env);
    let mut client = env.pman_spawn(&["start", "flap"]);
    let answered = eventually(secs(5.0), || matches!(client.try_wait(), Ok(Some(_))));
    if !answered {
        kill(client.id() as i32, libc::SIGKILL);
        let _ = client.wait();
    }
    let restarts = env.json_of("flap").int("restarts");
    env.pman(&["stop", "flap"]);
    assert!(answered, "`pman start flap` still waiting after 5 s ({restarts} restarts meanwhile)");
    let out = client.wait_with_output().expect("start");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("[flap] "));
}

// ------------------------------------------------------ crash the supervisor

#[test]
fn a_sigkilled_daemon_leaves_no_program_and_a_new_one_brings_them_back() {
    let env = Env::new();
    let names = ["one", "two", "loop"];
    env.write_config(&format!(
        "{}{}{}",
        prog("one", "/bin/sleep 300", "startsecs=0"),
        prog("two", "/bin/sleep 300", "startsecs=0"),
        prog("loop", "/bin/sh -c 'while :; do sleep 0.1; done'", "startsecs=0"),
    ));
    let mut daemon = Daemon::start(&env);
    let before: Vec<i32> = names.iter().map(|n| env.running_pid(n)).collect();
    kill(daemon.pid, libc::SIGKILL);
    assert!(daemon.wait_exit(secs(2.0)).is_some(), "the daemon survived SIGKILL");
    let killed = Instant::now();
    wait_until(secs(2.0), "every program dies with its daemon (PDEATHSIG)", || {
        before.iter().all(|&p| !pid_alive(p))
    });
    let gone_in = killed.elapsed();
    let daemon = Daemon::start(&env);
    let after: Vec<i32> = names.iter().map(|n| env.running_pid(n)).collect();
    eprintln!(
        "daemon SIGKILLed: programs {before:?} gone in {gone_in:.2?}; new daemon {} runs {after:?}",
        daemon.pid
    );
    for (i, name) in names.iter().enumerate() {
        assert_ne!(before[i], after[i], "{name}");
        assert_eq!(proc_ppid(after[i]), Some(daemon.pid), "{name} is not the new daemon's child");
    }
}

#[test]
fn a_stopped_daemon_catches_up_on_every_missed_exit() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}{}",
        steady(),
        prog("x", "/bin/sleep 300", "startsecs=0"),
        prog("y", "/bin/sleep 300", "startsecs=0"),
    ));
    let daemon = Daemon::start(&env);
    let steady = env.running_pid("steady");
    let (x, y) = (env.running_pid("x"), env.running_pid("y"));
    daemon.signal(libc::SIGSTOP);
    kill(x, libc::SIGKILL);
    kill(y, libc::SIGKILL);
    wait_until(secs(2.0), "both are zombies of the stopped daemon", || {
        proc_state(x) == Some('Z') && proc_state(y) == Some('Z')
    });
    std::thread::sleep(Duration::from_millis(200));
    daemon.signal(libc::SIGCONT);
    let started = Instant::now();
    let new_x = pid_in(&env.wait_state("x", "RUNNING", secs(5.0))).unwrap();
    let new_y = pid_in(&env.wait_state("y", "RUNNING", secs(5.0))).unwrap();
    let x_new = env.running_pid("x");
    let y_new = env.running_pid("y");
    eprintln!(
        "SIGSTOP/SIGCONT: x {x} -> {new_x}, y {y} -> {new_y}, both back {:.1?} after SIGCONT",
        started.elapsed()
    );
    assert!(new_x != x && new_y != y && x_new == new_x && y_new == new_y);
    for name in ["x", "y"] {
        let json = env.json_of(name);
        assert_eq!(json.int("restarts"), 1, "{name}");
        assert_eq!(json.string("exit_signal"), Some("KILL"), "{name}");
    }
    assert!(zombie_children(daemon.pid).is_empty(), "zombies left: {:?}", zombie_children(daemon.pid));
    assert_eq!(env.prog_pid("steady"), Some(steady));
}
