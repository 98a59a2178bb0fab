//! Nothing a program, a file or a peer does stops the loop: log targets
//! that cannot take output, names that are not names, huge requests,
//! descriptors running out, a launcher waiting on inherited descriptors,
//! a huge command line.

#[macro_use]
mod common;
mod reliability;

use common::*;
use reliability::*;
use std::time::Instant;

/// A `command` whose quoted path spans a continuation line puts a newline
/// into the exec reason: the status line stays one line.
#[test]
fn a_reason_with_a_newline_is_one_status_line() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("ok", "/bin/sleep 300", "startsecs=0"),
        prog("bad", "\"/no/such\n  program\" x", "startsecs=0\nbackoff=30\nbackoff_max=30")
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("ok");
    wait_until(secs(5.0), "bad fails its start", || env.state("bad") == "BACKOFF");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 3, "{out}");
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(line_matches(lines[0], "[ok] RUNNING pid: {N} uptime: {T}"), "{out}");
    assert!(
        line_matches(
            lines[1],
            "[bad] BACKOFF exit: 127 retry in: {N}s exec /no/such?program: No such file or directory"
        ),
        "{out}"
    );
    let reason = env.json_of("bad").get("reason").and_then(|r| r.as_str().map(str::to_string));
    assert_eq!(reason.as_deref(), Some("exec /no/such?program: No such file or directory"));
}

/// Names outside the NAME charset are nobody's: `no such program`, exit 2,
/// nothing done, and never split into other names.
#[test]
fn names_that_are_not_names_select_nothing() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("web", "/bin/sleep 300", "startsecs=0"),
        prog("db", "/bin/sleep 300", "startsecs=0")
    ));
    let _daemon = Daemon::start(&env);
    let web = env.running_pid("web");
    let db = env.running_pid("db");
    for (name, shown) in [("web db", "web db"), ("web\nkill", "web?kill"), ("", ""), ("web%20db", "web%20db")]
    {
        let out = env.pman(&["stop", name]);
        assert_eq!(out.code, 2, "stop {name:?}: {out}");
        assert_eq!(out.stderr, format!("pman: no such program: {shown}\n"), "stop {name:?}");
        assert_eq!(out.stdout, "");
    }
    let out = env.pman(&["status", ""]);
    assert_eq!((out.code, out.stderr.as_str(), out.stdout.as_str()), (2, "pman: no such program: \n", ""));
    let out = env.pman(&["status", "web", "web db"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.lines().len(), 1, "{out}");
    assert!(out.stdout.starts_with("[web] RUNNING"), "{out}");
    let out = env.pman(&["signal", "TERM", "db web"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!((env.prog_pid("web"), env.prog_pid("db")), (Some(web), Some(db)), "something was done");
    assert!(pid_alive(web) && pid_alive(db));
}

/// Peak RSS (VmHWM) of `pid` in KiB.
fn peak_rss_kb(pid: i32) -> u64 {
    let status = read_file(format!("/proc/{pid}/status"));
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    value.and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// 5,000 programs and a request naming `all` 1,020 times: answered at
/// once, and the daemon's memory does not grow with words × programs.
#[test]
fn a_request_repeating_all_costs_what_it_says() {
    let env = Env::new();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "[program:p{i}]\ncommand=/bin/true\nautostart=false\nstdout=none\nstderr=none\n"
        ));
    }
    env.write_config(&text);
    let daemon = Daemon::start(&env);
    env.pman(&["status"]);
    let before = peak_rss_kb(daemon.pid);
    let mut request = String::from("status");
    for _ in 0..1020 {
        request.push_str(" all");
    }
    request.push('\n');
    let started = Instant::now();
    let (reply, closed, code) = raw_request(&env.socket, request.as_bytes(), secs(20.0));
    let took = started.elapsed();
    assert!(closed, "no complete reply");
    assert_eq!(code, Some(3));
    assert_eq!(reply.lines().filter(|l| l.starts_with('>')).count(), 5000);
    let after = peak_rss_kb(daemon.pid);
    eprintln!("status + 1,020 x all over 5,000 programs: {took:?}, peak RSS {before} -> {after} KiB");
    // words x programs would be 5.1 M indices: 40 MB.
    assert!(after < before + 8 * 1024, "peak RSS {before} -> {after} KiB");
}

/// A program writing 8 KiB lines every 10 ms.
const FLOOD: &str = "/bin/sh -c 'while :; do printf \"%%08192d\\n\" 0; sleep 0.01; done'";

/// A program that fails at once and is restarted at once, over and over.
const FLAP: &str = "[program:flap]\ncommand=/bin/false\nstartsecs=1\nbackoff=0\nbackoff_max=0\n\
                    stdout=none\nstderr=none\n";

fn mkfifo(path: &std::path::Path) {
    let cpath = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: plain mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

/// Opens the FIFO's read end without blocking; the test holds it and
/// never reads, like a reader that stopped.
fn hold_reader(path: &std::path::Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open the FIFO's read end")
}

/// While `flap` restarts and the flood goes nowhere, `pman status`
/// answers within the liveness bound and restarts go on.
fn assert_loop_serves(env: &Env, flood: &str) {
    let first = env.json_of("flap").int("restarts");
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..10 {
        let (out, took) = timed_status(&env.conf, flood);
        assert_eq!(out.code, 0, "{out}");
        slowest = slowest.max(took);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    wait_until(secs(5.0), "flap keeps being restarted", || env.json_of("flap").int("restarts") > first + 3);
    assert!(slowest < liveness() * 2, "status took {slowest:?}");
}

#[test]
fn a_fifo_log_with_no_reader_or_a_stopped_one_never_blocks_the_loop() {
    let env = Env::new();
    mkfifo(&env.path("nobody.fifo"));
    mkfifo(&env.path("stuck.fifo"));
    mkfifo(&env.path("alone.fifo"));
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\nlogfile_maxbytes=10MB\n\
         [program:nobody]\ncommand={FLOOD}\nstartsecs=0\nstdout=$DIR/nobody.fifo\nstderr=none\n\
         [program:stuck]\ncommand={FLOOD}\nstartsecs=0\nstdout=$DIR/stuck.fifo\nstderr=none\n\
         [program:uncapped]\ncommand={FLOOD}\nstartsecs=0\nstdout=$DIR/alone.fifo\nstdout_maxbytes=0\nstderr=none\n\
         {FLAP}"
    ));
    let stuck_reader = hold_reader(&env.path("stuck.fifo"));
    let _daemon = Daemon::start(&env);
    env.running_pid("nobody");
    env.running_pid("stuck");
    // Uncapped: the program writes itself; with no reader it writes to /dev/null.
    env.running_pid("uncapped");
    wait_until(secs(5.0), "output to a FIFO with no reader is counted", || {
        env.json_of("nobody").int("log_errors") > 0
    });
    wait_until(secs(5.0), "output to a FIFO nobody reads is counted", || {
        env.json_of("stuck").int("log_errors") > 0
    });
    let log = env.read("pman.log");
    assert!(log.contains("nobody stdout: No such device or address; dropping output"), "{}", tail(&log, 20));
    let alone = format!(
        "uncapped: stdout {}: a FIFO with no reader; this run's output goes to /dev/null",
        env.path("alone.fifo").display()
    );
    assert!(log.contains(&alone), "{}", tail(&log, 20));
    assert_loop_serves(&env, "nobody");
    assert_loop_serves(&env, "stuck");
    assert_eq!(env.pman(&["stop", "flap"]).code, 0);
    let log = || env.read("pman.log.1") + &env.read("pman.log");
    // Once the reader reads again, output flows and the loss is logged.
    let mut reader = stuck_reader;
    let mut got = 0usize;
    let mut buf = vec![0u8; 65536];
    wait_until(secs(5.0), "output reaches the FIFO's reader again", || {
        use std::io::Read;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        got > 200_000
    });
    let told = eventually(secs(5.0), || log().contains(" bytes dropped (Resource temporarily unavailable)"));
    assert!(told, "the daemon log does not tell what was dropped:\n{}", tail(&log(), 20));
}

/// The O_NONBLOCK flag of the daemon's descriptor `fd`, from fdinfo.
fn nonblocking(pid: i32, fd: i32) -> bool {
    let info = read_file(format!("/proc/{pid}/fdinfo/{fd}"));
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(str::trim).unwrap_or("0");
    u32::from_str_radix(flags, 8).unwrap_or(0) & libc::O_NONBLOCK as u32 != 0
}

/// Bytes waiting in a pipe (FIONREAD on its read end).
fn unread_bytes(pipe: &impl std::os::fd::AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    n.max(0) as usize
}

/// `pman daemon -f` whose stdout and stderr are pipes nobody reads (as
/// under a stuck log collector): `stdout=/dev/stdout` output and the
/// daemon's own log lines are dropped, the loop goes on.
#[test]
fn full_stdout_and_stderr_pipes_never_block_the_loop() {
    use std::process::Stdio;
    let env = Env::new();
    env.write_config(&format!(
        "[program:out]\ncommand={FLOOD}\nstartsecs=0\nstdout=/dev/stdout\nstderr=none\n{FLAP}"
    ));
    let mut cmd = pman_command();
    cmd.args(["daemon", "-f", "-c"]).arg(&env.conf);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("spawn pman daemon -f");
    let pid = child.id() as i32;
    // Held, never read.
    let (_stdout, _stderr) = (child.stdout.take(), child.stderr.take());
    let answered = eventually(secs(5.0), || env.pman(&["pid"]).code == 0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(answered, "the daemon does not answer");
        env.running_pid("out");
        wait_until(secs(5.0), "output to a full /dev/stdout is counted", || {
            env.json_of("out").int("log_errors") > 0
        });
        wait_until(secs(30.0), "the daemon's log lines fill its stderr pipe", || {
            _stderr.as_ref().is_some_and(|pipe| unread_bytes(pipe) >= 60 * 1024)
        });
        assert_loop_serves(&env, "out");
        assert!(!nonblocking(pid, 1) && !nonblocking(pid, 2), "O_NONBLOCK leaked onto the shared pipes");
        assert_eq!(env.pman(&["kill"]).code, 0);
    }));
    kill(pid, libc::SIGKILL);
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `x=$(pman daemon)`: the launcher's stdout pipe reaches EOF once it has
/// returned, even when the launcher also handed the daemon another
/// descriptor of the same pipe (fd 5 here): the daemon keeps none of them.
#[test]
fn a_detached_daemon_keeps_no_inherited_descriptor() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let mut cmd = pman_command();
    cmd.args(["daemon", "-c"]).arg(&env.conf);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: only dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::dup2(1, 5) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut launcher = cmd.spawn().expect("spawn pman daemon");
    let mut stdout = launcher.stdout.take().expect("stdout pipe");
    let the_pipe = {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", stdout.as_raw_fd())).expect("readlink");
        link.display().to_string()
    };
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = done.send(text);
    });
    let output = wait.recv_timeout(secs(10.0));
    let status = launcher.wait().expect("wait for the launcher");
    let daemon_pid: Option<i32> = env.pman(&["pid"]).stdout.trim().parse().ok();
    let daemon_fds = daemon_pid.map(fds).unwrap_or_default();
    let stopped = env.pman(&["kill"]);
    if let Some(pid) = daemon_pid {
        // In case `kill` could not stop it: by pid, so the pipe ends.
        if !eventually(secs(5.0), || !pid_alive(pid)) {
            kill(pid, libc::SIGKILL);
        }
    }
    assert!(output.is_ok(), "the launcher's stdout never ended; daemon fds: {daemon_fds:?}");
    assert_eq!(status.code(), Some(0));
    assert!(daemon_pid.is_some(), "no daemon answered");
    assert_eq!(stopped.code, 0, "{stopped}");
    assert!(!daemon_fds.iter().any(|f| f.ends_with(&the_pipe)), "{the_pipe} in {daemon_fds:?}");
}

/// A ~20 MB `command=` argument: after a reload takes that program away,
/// the daemon's RSS goes back down (the spawn scratch buffer included).
#[test]
fn memory_after_a_huge_command_does_not_stay() {
    let env = Env::new();
    let small = prog("s", "/bin/sleep 300", "startsecs=0");
    env.write_config(&small);
    let daemon = Daemon::start(&env);
    env.running_pid("s");
    let idle = rss_kb(daemon.pid);
    let huge = "x".repeat(20_000_000);
    env.write_config(&format!(
        "{small}[program:big]\ncommand=/bin/echo {huge}\nstartsecs=0\nbackoff=60\nstdout=none\nstderr=none\n"
    ));
    drop(huge);
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    // Its exec fails (one argument above the kernel's limit), after the
    // whole command line was laid out for it.
    wait_until(secs(20.0), "big tried to start", || env.state("big") == "BACKOFF");
    let loaded = rss_kb(daemon.pid);
    env.write_config(&small);
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let mut now = 0;
    let back = eventually(secs(10.0), || {
        env.pman(&["status"]);
        now = rss_kb(daemon.pid);
        now < idle + 4 * 1024
    });
    eprintln!("RSS idle {idle} KiB, with a 20 MB command {loaded} KiB, after reloading it away {now} KiB");
    assert!(loaded > idle + 15 * 1024, "the huge command was not loaded? {idle} -> {loaded} KiB");
    assert!(back, "RSS stays at {now} KiB (idle {idle} KiB, loaded {loaded} KiB)");
}

/// RLIMIT_NOFILE 64 and 30 programs with two log files each: starts fail
/// for want of descriptors (BACKOFF `pipe: Too many open files`) while
/// `status`, `stop` and `kill` still answer.
#[test]
fn the_socket_keeps_serving_when_descriptors_run_out() {
    if under_qemu() {
        skip!("under qemu-user RLIMIT_NOFILE also covers the emulator's own descriptors");
    }
    let env = Env::new();
    let mut text = String::from("[pman]\nlogfile=$DIR/pman.log\n");
    for i in 0..30 {
        text.push_str(&prog(&format!("p{i:02}"), "/bin/sleep 300", "startsecs=0\nbackoff=1\nbackoff_max=1"));
    }
    env.write_config(&text);
    let launch = Launch { rlimit: Some((libc::RLIMIT_NOFILE as i64, 64)), ..Launch::default() };
    let mut daemon = OwnDaemon::spawn(&env, launch);
    let answered = eventually(secs(5.0), || env.pman(&["pid"]).code == 0);
    assert!(answered, "the daemon does not answer:\n{}", daemon.stderr());
    let mut starved = String::new();
    wait_until(secs(10.0), "some starts fail for want of descriptors", || {
        let out = env.pman(&["status"]);
        starved = out.stdout.clone();
        out.code == 3
            && out.stdout.contains("BACKOFF retry in: ")
            // glibc's and musl's words for EMFILE
            && (out.stdout.contains("pipe: Too many open files")
                || out.stdout.contains("pipe: No file descriptors available"))
    });
    let running = starved.lines().filter(|l| l.contains(" RUNNING ")).count();
    for _ in 0..20 {
        let (out, took) = timed_status(&env.conf, "p00");
        assert!(out.code == 0 || out.code == 3, "{out}");
        assert!(took < liveness() * 2, "status took {took:?}");
    }
    let json = env.pman(&["status", "--json"]);
    assert_eq!(json.code, 3, "{json}");
    let stop = env.pman(&["stop", "all"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert_eq!(stop.lines().len(), 30, "{stop}");
    let out = env.pman(&["kill"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(daemon.wait_exit(secs(10.0)), Some(0));
    eprintln!(
        "RLIMIT_NOFILE 64: {running} of 30 programs RUNNING, the rest in BACKOFF; status/stop/kill answered"
    );
    assert!(running > 0 && running < 30, "{starved}");
}
