//! `pman log` as an admin uses it: the last lines read from the end of a
//! huge file in little memory, `-f` across rotations without a gap, the
//! config's paths when no daemon runs, the daemon's paths when one does,
//! numprocs programs, `--daemon`, and logs that are not files.

#[macro_use]
mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

/// The peak RSS (`VmHWM`, KiB) of a running process since its exec.
fn peak_rss_kib(pid: i32) -> u64 {
    read_file(format!("/proc/{pid}/status"))
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn last_lines_of_a_200_mb_log_are_read_from_its_end_in_little_memory() {
    if under_qemu() {
        skip!("the RSS seen is the emulator's");
    }
    let env = Env::new();
    env.write_config(&prog("big", "/bin/sleep 300", "autostart=false"));
    let _daemon = Daemon::start(&env);
    // 200 MB: lines at the start, a hole, lines at the end (no disk used).
    let path = env.path("big.out");
    let mut file = std::fs::File::create(&path).expect("create big.out");
    file.write_all(b"first line\n").expect("write");
    file.set_len(200 << 20).expect("grow big.out");
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("reopen");
    file.write_all(b"\nnext to last\nlast\n").expect("append");
    drop(file);

    // `-f` keeps the client alive to be measured once it has printed.
    let mut client = env.pman_spawn(&["log", "big", "-n", "2", "-f"]);
    let pid = client.id() as i32;
    let mut stdout = client.stdout.take().expect("stdout");
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                printed.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    let want = b"next to last\nlast\n";
    let shown = eventually(secs(10.0), || printed.lock().expect("lock").ends_with(want));
    let peak_kib = peak_rss_kib(pid);
    kill(pid, libc::SIGKILL);
    let _ = client.wait();
    let _ = reader.join();
    let text = String::from_utf8_lossy(&printed.lock().expect("lock")).into_owned();
    assert!(shown, "pman log -n 2 printed {text:?}");
    assert_eq!(text, "next to last\nlast\n");
    assert!(peak_kib > 0, "no VmHWM for pid {pid}");
    assert!(peak_kib < 20 * 1024, "pman log -n 2 of a 200 MB file peaked at {peak_kib} KiB");
}

#[test]
fn follow_loses_no_line_when_the_file_rotates() {
    let env = Env::new();
    // Numbered lines, 20 at a time, about a rotation every few bursts.
    let counter = "/bin/sh -c 'i=0; while :; do j=0; while [ $j -lt 20 ]; do echo n-$i; i=$((i+1)); \
                   j=$((j+1)); done; sleep 0.02; done'";
    env.write_config(&prog("counter", counter, "startsecs=0\nstdout_maxbytes=1KB\nstdout_backups=10"));
    let _daemon = Daemon::start(&env);
    env.running_pid("counter");
    wait_until(secs(5.0), "a first rotation", || env.path("counter.out.1").exists());

    let follower = env.pman_spawn(&["log", "counter", "-f", "-n", "3"]);
    let pid = follower.id() as i32;
    std::thread::sleep(Duration::from_secs(3));
    kill(pid, libc::SIGTERM);
    let output = follower.wait_with_output().expect("wait for log -f");
    let text = String::from_utf8_lossy(&output.stdout);

    // Only whole lines count: the last one may have been cut by the kill.
    let whole = &text[..text.rfind('\n').map_or(0, |at| at + 1)];
    let numbers: Vec<u64> = whole
        .lines()
        .map(|l| {
            l.strip_prefix("n-").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("odd line {l:?}"))
        })
        .collect();
    assert!(numbers.len() > 300, "too few lines followed to cross rotations: {}", numbers.len());
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap after n-{} in what log -f printed", pair[0]);
    }
}

#[test]
fn without_a_daemon_log_reads_the_path_the_config_gives() {
    let env = Env::new();
    env.write_config(&prog("web", "/bin/sleep 300", ""));
    std::fs::write(env.path("web.out"), "one\ntwo\nthree\n").expect("write log");
    std::fs::write(env.path("web.err"), "oops\n").expect("write log");
    let out = env.pman(&["log", "web", "-n", "2"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "two\nthree\n", "{out}");
    let out = env.pman(&["tail", "web", "--stderr"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "oops\n", "{out}");
    let out = env.pman(&["log", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stderr, "pman: no such program: nope\n", "{out}");
}

#[test]
fn without_a_daemon_an_error_in_another_section_does_not_stop_log() {
    let env = Env::new();
    let broken = "[program:broken]\ncommand=/bin/true\nstartsecs=abc\n";
    env.write_config(&(prog("web", "/bin/sleep 300", "") + broken));
    std::fs::write(env.path("web.out"), "one\ntwo\n").expect("write log");
    let out = env.pman(&["log", "web", "-n", "1"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "two\n", "{out}");
}

#[test]
fn with_a_daemon_log_reads_the_paths_in_effect() {
    let env = Env::new();
    env.write_config(&prog("web", "/bin/sh -c 'echo from-the-daemon; exec /bin/sleep 300'", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    env.running_pid("web");
    wait_until(secs(5.0), "the program's line", || env.read("web.out").contains("from-the-daemon"));
    // The file on disk now names another log, but it is not reloaded.
    env.write_config(
        "[program:web]\ncommand=/bin/sleep 300\nstdout=$DIR/elsewhere.out\nstderr=$DIR/elsewhere.err\n",
    );
    std::fs::write(env.path("elsewhere.out"), "not this one\n").expect("write");
    let out = env.pman(&["log", "web"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "from-the-daemon\n", "{out}");
}

#[test]
fn a_numprocs_program_with_several_processes_names_them() {
    let env = Env::new();
    env.write_config(
        "[program:worker]\ncommand=/bin/sleep 300\nnumprocs=3\nprocess_name=%(program_name)s_%(process_num)02d\n\
         stdout=$DIR/%(program_name)s_%(process_num)02d.out\nautostart=false\n",
    );
    let want = "pman: log: worker has 3 processes: worker_00 worker_01 worker_02\n";
    for (what, running) in [("without a daemon", false), ("with a daemon", true)] {
        let _daemon = running.then(|| Daemon::start(&env));
        for name in ["worker", "worker:*"] {
            let out = env.pman(&["log", name]);
            assert_eq!(out.code, 2, "{what}: log {name}: {out}");
            assert_eq!(out.stderr, want.replace("log: worker ", &format!("log: {name} ")), "{what}: {out}");
            assert_eq!(out.stdout, "", "{what}: {out}");
        }
        std::fs::write(env.path("worker_01.out"), "hello from 01\n").expect("write");
        let out = env.pman(&["log", "worker_01"]);
        assert_eq!(out.code, 0, "{what}: {out}");
        assert_eq!(out.stdout, "hello from 01\n", "{what}: {out}");
    }
}

#[test]
fn log_daemon_shows_the_daemons_own_log() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\n{}",
        prog("a", "/bin/sleep 300", "startsecs=0")
    ));
    let daemon = Daemon::start(&env);
    env.running_pid("a");
    wait_until(secs(5.0), "a line in the daemon log", || !env.read("pman.log").is_empty());
    let last = env.read("pman.log").lines().last().unwrap_or_default().to_string();
    let out = env.pman(&["log", "--daemon", "-n", "1"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, format!("{last}\n"), "{out}");
    drop(daemon);
    // No daemon needed either.
    let out = env.pman(&["log", "--daemon", "-n", "1"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stdout.is_empty(), "{out}");

    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", ""));
    let out = env.pman(&["log", "--daemon"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stderr, "pman: the daemon logs to syslog (see logread)\n", "{out}");
    assert_eq!(out.stdout, "", "{out}");
}

/// A log in a directory that is missing can hold nothing (the daemon logs
/// to syslog instead, the program does not start): `log` says so rather
/// than show an empty log. A file not written yet is an empty log.
#[test]
fn a_log_that_cannot_exist_is_an_error_not_an_empty_log() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/nodir/pman.log\n{}{}",
        prog("a", "/bin/sleep 300", "autostart=false"),
        "[program:b]\ncommand=/bin/sleep 300\nstdout=$DIR/gone/b.out\nautostart=false\n",
    ));
    let daemon_log = env.path("nodir/pman.log");
    let b_log = env.path("gone/b.out");
    for (what, running) in [("without a daemon", false), ("with a daemon", true)] {
        let _daemon = running.then(|| Daemon::start(&env));
        let out = env.pman(&["log", "--daemon"]);
        assert_eq!(out.code, 1, "{what}: {out}");
        let want = format!("pman: {}: No such file or directory\n", daemon_log.display());
        assert_eq!(out.stderr, want, "{what}: {out}");
        let out = env.pman(&["log", "b"]);
        assert_eq!(out.code, 1, "{what}: {out}");
        assert_eq!(out.stderr, format!("pman: {}: No such file or directory\n", b_log.display()), "{what}");
        let out = env.pman(&["log", "a"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, ""), "never started: empty, {what}: {out}");
    }
}

#[test]
fn syslog_none_and_unrun_programs_have_no_file_to_show() {
    let env = Env::new();
    env.write_config(
        "[program:s]\ncommand=/bin/sleep 300\nstdout=syslog\nstderr=none\nautostart=false\n\
         [program:r]\ncommand=/bin/sleep 300\nstdout=none\nredirect_stderr=true\nautostart=false\n\
         [program:b]\ncommand=/bin/sleep 300\nstartsecs=abc\n",
    );
    let cases: &[(&[&str], &str)] = &[
        (&["log", "s"], "pman: s: stdout goes to syslog (see logread)\n"),
        (&["log", "s", "--stderr"], "pman: s: stderr is not logged (none)\n"),
        (&["log", "r", "--stderr"], "pman: r: stdout is not logged (none)\n"),
        // A section with errors is never run: it has no log.
        (&["log", "b"], "pman: b: not run: its config has errors (FATAL config)\n"),
    ];
    for (what, running) in [("without a daemon", false), ("with a daemon", true)] {
        let _daemon = running.then(|| Daemon::start(&env));
        for (args, want) in cases {
            let out = env.pman(args);
            assert_eq!(out.code, 1, "{what}: {args:?}: {out}");
            assert_eq!(out.stderr, *want, "{what}: {args:?}: {out}");
            assert_eq!(out.stdout, "", "{what}: {args:?}: {out}");
        }
    }
}
