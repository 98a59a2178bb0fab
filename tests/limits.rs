//! Per-program limits: `nice`, `oom_score_adj`, `rlimit_*` and
//! `no_new_privs` as the running program sees them in /proc; a setting the
//! kernel refuses for lack of privilege is FATAL with a reason naming it;
//! out-of-range values are `check` errors; and `status --json` reports the
//! main process's `rss_kb`, `cpu_ms` and `fds` from /proc.

mod common;
use common::*;

/// (soft, hard) of the /proc/PID/limits line starting with `what`.
fn limit(pid: i32, what: &str) -> (String, String) {
    let text = read_file(format!("/proc/{pid}/limits"));
    let line = text.lines().find(|l| l.starts_with(what)).unwrap_or_else(|| panic!("no {what} in:\n{text}"));
    let words: Vec<&str> = line[what.len()..].split_whitespace().collect();
    (words[0].to_string(), words[1].to_string())
}

/// The words after `key:` in /proc/PID/status.
fn status_field(pid: i32, key: &str) -> String {
    let status = read_file(format!("/proc/{pid}/status"));
    let line = status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).unwrap_or("");
    line.trim().to_string()
}

/// Field `n` (1-based, as proc(5) counts) of /proc/PID/stat.
fn stat_field(pid: i32, n: usize) -> i64 {
    let stat = read_file(format!("/proc/{pid}/stat"));
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 1..];
    rest.split_whitespace().nth(n - 3).and_then(|f| f.parse().ok()).expect("a number")
}

fn pair(soft: &str, hard: &str) -> (String, String) {
    (soft.to_string(), hard.to_string())
}

fn nr_open() -> u64 {
    read_file("/proc/sys/fs/nr_open").trim().parse().expect("nr_open")
}

#[test]
fn the_program_runs_with_its_limits() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog(
            "limited",
            "sleep 1000",
            "rlimit_nofile = 256:512\nrlimit_core = unlimited\nrlimit_as = 64MB\nrlimit_fsize = 1MB:unlimited\n\
             rlimit_cpu = 100\nnice = 7\noom_score_adj = 300\nno_new_privs = true"
        ),
        prog("plain", "sleep 1000", ""),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("limited");
    assert_eq!(limit(pid, "Max open files"), pair("256", "512"));
    assert_eq!(limit(pid, "Max core file size"), pair("unlimited", "unlimited"));
    if under_qemu() {
        eprintln!("SKIP Max address space: qemu-user keeps RLIMIT_AS to itself");
    } else {
        assert_eq!(limit(pid, "Max address space"), pair("67108864", "67108864"));
    }
    assert_eq!(limit(pid, "Max file size"), pair("1048576", "unlimited"));
    assert_eq!(limit(pid, "Max cpu time"), pair("100", "100"));
    assert_eq!(stat_field(pid, 19), 7, "nice");
    assert_eq!(read_file(format!("/proc/{pid}/oom_score_adj")).trim(), "300");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");

    // Unset keys leave what the daemon has.
    let plain = env.running_pid("plain");
    let daemon_pid = _daemon.pid;
    assert_eq!(limit(plain, "Max open files"), limit(daemon_pid, "Max open files"));
    assert_eq!(stat_field(plain, 19), stat_field(daemon_pid, 19));
    assert_eq!(
        read_file(format!("/proc/{plain}/oom_score_adj")),
        read_file(format!("/proc/{daemon_pid}/oom_score_adj"))
    );
    assert_eq!(status_field(plain, "NoNewPrivs"), "0");
}

#[test]
fn a_limit_refused_for_lack_of_privilege_is_fatal_at_once() {
    if !is_root() {
        skip!("needs root: only root may raise a hard limit up to nr_open");
    }
    let env = Env::new();
    // Even root may not raise RLIMIT_NOFILE above fs.nr_open: EPERM.
    let too_many = nr_open() + 1;
    env.write_config(&prog("greedy", "sleep 1000", &format!("rlimit_nofile = {too_many}\nstartretries = 5")));
    let _daemon = Daemon::start(&env);
    let line = env.wait_state("greedy", "FATAL", secs(5.0));
    let reason = format!("rlimit_nofile {too_many}: Operation not permitted");
    assert!(line.ends_with(&reason), "{line}");
    let json = env.json_of("greedy");
    assert_eq!(json.string("reason"), Some(reason.as_str()));
    assert_eq!(json.int("restarts"), 0, "no retries: {json:?}");
    assert!(json.null("pid") && json.null("rss_kb") && json.null("cpu_ms") && json.null("fds"), "{json:?}");
}

#[test]
fn a_non_root_daemon_cannot_raise_a_hard_limit() {
    if !is_root() {
        skip!("needs root to run the daemon as another user");
    }
    if std::process::Command::new("setpriv").arg("--help").output().map_or(true, |o| !o.status.success()) {
        skip!("no setpriv");
    }
    let (_, hard) = limit(std::process::id() as i32, "Max open files");
    let Ok(hard) = hard.parse::<u64>() else { skip!("the hard limit of open files is unlimited") };
    let env = Env::new();
    let raised = hard + 1;
    env.write_config(&format!(
        "[program:raise]\ncommand=sleep 1000\nstdout=none\nstderr=none\nrlimit_nofile = 64:{raised}\n\
         [program:lower]\ncommand=sleep 1000\nstdout=none\nstderr=none\nrlimit_nofile = 64:128\n"
    ));
    let as_nobody = |args: &[&str]| {
        let inner = pman_command();
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        cmd.arg(inner.get_program()).args(inner.get_args()).arg("-c").arg(&env.conf).args(args);
        cmd
    };
    let mut daemon = as_nobody(&["daemon", "-f"]);
    daemon.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    daemon.stderr(std::process::Stdio::null());
    let mut daemon = daemon.spawn().expect("spawn the daemon as nobody");
    env.track(daemon.id() as i32);
    let mut line = String::new();
    let fatal = eventually(secs(10.0), || {
        line = run_bounded(as_nobody(&["status", "raise"]), secs(10.0)).stdout;
        line.contains("FATAL")
    });
    let mut lower = String::new();
    let running = eventually(secs(10.0), || {
        lower = run_bounded(as_nobody(&["status", "lower"]), secs(10.0)).stdout;
        lower.contains("RUNNING")
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(fatal, "not FATAL: {line:?}");
    assert!(
        line.trim_end().ends_with(&format!("rlimit_nofile 64:{raised}: Operation not permitted")),
        "{line}"
    );
    // Lowering needs no privilege.
    assert!(running, "{lower}");
}

#[test]
fn check_refuses_values_out_of_range_and_soft_above_hard() {
    let env = Env::new();
    env.write_config(
        "[program:a]\ncommand=sleep 1\n\
         nice = 20\n\
         oom_score_adj = -1001\n\
         rlimit_nofile = 2048:1024\n\
         rlimit_as = lots\n\
         rlimit_core = 1MB\n\
         rlimit_stack = 8MB:unlimited\n\
         nice = -20\n",
    );
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    let file = env.conf.display().to_string();
    let errors: Vec<&str> = out.stderr.lines().collect();
    // The later `nice` wins; the others are errors naming their lines
    // (the test's `[pman]` section takes the first two).
    assert_eq!(errors.len(), 3, "{out}");
    assert!(errors[0].starts_with(&format!("pman: {file}:6: ")) && errors[0].contains("-1001"), "{out}");
    assert!(errors[0].contains("-1000 to 1000"), "{out}");
    assert!(errors[1].starts_with(&format!("pman: {file}:7: ")) && errors[1].contains("hard limit"), "{out}");
    assert!(errors[2].starts_with(&format!("pman: {file}:8: ")) && errors[2].contains("lots"), "{out}");

    env.write_config("[program:a]\ncommand=sleep 1\nnice = 20\n");
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(&format!("{file}:5: ")) && out.stderr.contains("-20 to 19"), "{out}");

    env.write_config(
        "[program:a]\ncommand=sleep 1\nnice = -20\noom_score_adj = 1000\nrlimit_nproc = 10:20\n",
    );
    let out = env.pman(&["check"]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn the_example_config_is_valid() {
    // A copy: as root, `check` refuses a file owned by another user.
    let env = Env::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/limits.conf");
    std::fs::write(&env.conf, read_file(example)).expect("copy the example");
    let out = env.pman(&["check"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "config OK: 2 programs\n"), "{out}");
    assert_eq!(out.stderr, "", "no warnings");
}

#[test]
fn json_reads_memory_cpu_and_descriptors_from_proc() {
    let env = Env::new();
    // Some CPU first, then the same process sleeps: its CPU time stays put.
    let busy = "sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 1000'";
    env.write_config(&format!(
        "{}{}",
        prog("busy", busy, "startsecs = 0"),
        prog("idle", "sleep 1000", "autostart = false"),
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("busy");
    wait_until(secs(30.0), "busy to exec sleep", || read_file(format!("/proc/{pid}/comm")).trim() == "sleep");

    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = || stat_field(pid, 14) + stat_field(pid, 15);
    // `sleep` may still be loading when its name shows: compare the CPU
    // time pman read with the one around it once it holds still.
    let mut seen = String::new();
    let same = eventually(secs(5.0), || {
        let before = ticks();
        let json = env.json_of("busy");
        let after = ticks();
        seen = format!("{json:?} between {before} and {after} ticks");
        before == after && json.int("cpu_ms") == after * 1000 / hz
    });
    assert!(same, "{seen}");
    let json = env.json_of("busy");
    assert!(json.int("cpu_ms") > 0, "{json:?}");
    // Right after its exec `sleep` still faults pages in: compare once it settles.
    let mut seen = String::new();
    let close = eventually(secs(5.0), || {
        let json = env.json_of("busy");
        let rss: i64 =
            status_field(pid, "VmRSS").split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        seen = format!("{json:?} vs VmRSS {rss}");
        json.int("rss_kb") > 0 && json.int("rss_kb").abs_diff(rss) <= 64
    });
    assert!(close, "{seen}");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").count() as i64;
    assert_eq!(json.int("fds"), fds, "{json:?}");
    assert!(fds >= 3, "stdin, stdout and stderr at least");

    let idle = env.json_of("idle");
    assert!(idle.null("rss_kb") && idle.null("cpu_ms") && idle.null("fds"), "{idle:?}");
}
