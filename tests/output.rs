//! Where program output goes: configured files, `redirect_stderr`, `none`,
//! the `/tmp/NAME_stdout.log` defaults, syslog datagrams, size caps with
//! rotation, and `pman log`.

#[macro_use]
mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn stdout_and_stderr_go_to_their_files() {
    let env = Env::new();
    let script = "/bin/sh -c 'echo out1; echo err1 >&2; exec /bin/sleep 300'";
    env.write_config(&format!(
        "{}{}{}{}{}{}",
        prog("split", script, "startsecs=0"),
        prog("merged", script, "startsecs=0\nredirect_stderr=true"),
        prog("quiet", script, "startsecs=0\nstdout=none\nstderr=NONE"),
        // Relative log paths are relative to the config file's directory.
        "[program:rel]\ncommand=/bin/sh -c 'echo rel1; exec /bin/sleep 300'\nstartsecs=0\n\
         stdout_logfile=logs/rel.out\nstderr=none\n",
        // Two streams naming one path share it.
        "[program:s1]\ncommand=/bin/sh -c 'echo from-s1; exec /bin/sleep 300'\nstartsecs=0\n\
         stdout=$DIR/shared.log\nstderr=$DIR/shared.log\n",
        "[program:s2]\ncommand=/bin/sh -c 'echo from-s2 >&2; exec /bin/sleep 300'\nstartsecs=0\n\
         stdout=$DIR/shared.log\nstderr=$DIR/shared.log\n",
    ));
    std::fs::create_dir(env.path("logs")).expect("mkdir logs");
    let _daemon = Daemon::start(&env);
    for name in ["split", "merged", "quiet", "rel", "s1", "s2"] {
        env.running_pid(name);
    }
    wait_until(secs(3.0), "split.out and split.err", || {
        has_line(&env.read("split.out"), "out1") && has_line(&env.read("split.err"), "err1")
    });
    assert!(!env.read("split.out").contains("err1"), "stderr in the stdout log");
    assert!(!env.read("split.err").contains("out1"), "stdout in the stderr log");
    wait_until(secs(3.0), "merged.out has both", || {
        let text = env.read("merged.out");
        has_line(&text, "out1") && has_line(&text, "err1")
    });
    assert_eq!(env.read("merged.err"), "", "redirect_stderr: the stderr log should get nothing");
    assert!(!env.path("quiet.out").exists() && !env.path("quiet.err").exists(), "none: files written anyway");
    assert!(line_matches(&env.status_line("quiet"), "[quiet] RUNNING pid: {N} uptime: {T}"));
    wait_until(secs(3.0), "logs/rel.out beside the config", || has_line(&env.read("logs/rel.out"), "rel1"));
    wait_until(secs(3.0), "both programs in shared.log", || {
        let text = env.read("shared.log");
        has_line(&text, "from-s1") && has_line(&text, "from-s2")
    });
}

/// Removes the default `/tmp/NAME_std*.log` files however the test ends.
struct TmpLogs(String);

impl Drop for TmpLogs {
    fn drop(&mut self) {
        for stream in ["stdout", "stderr"] {
            let _ = std::fs::remove_file(format!("/tmp/{}_{stream}.log", self.0));
        }
    }
}

#[test]
fn default_log_paths_are_in_tmp() {
    let env = Env::new();
    let name = format!("pmant{}x{}", std::process::id(), env.socket.rsplit('-').next().unwrap_or("0"));
    let logs = TmpLogs(name.clone());
    let auto = format!("{name}a");
    let auto_logs = TmpLogs(auto.clone());
    env.write_config(&format!(
        "[program:{name}]\ncommand=/bin/sh -c 'echo hello; echo oops >&2; exec /bin/sleep 300'\nstartsecs=0\n\
         [program:{auto}]\ncommand=/bin/sh -c 'echo auto; exec /bin/sleep 300'\nstartsecs=0\nstdout=Auto\n"
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid(&name);
    env.running_pid(&auto);
    let auto_out = format!("/tmp/{}_stdout.log", auto_logs.0);
    wait_until(secs(3.0), "AUTO is the default path", || has_line(&read_file(&auto_out), "auto"));
    let out = format!("/tmp/{}_stdout.log", logs.0);
    let err = format!("/tmp/{}_stderr.log", logs.0);
    wait_until(secs(3.0), "default log files", || {
        has_line(&read_file(&out), "hello") && has_line(&read_file(&err), "oops")
    });
}

#[test]
fn syslog_output_is_one_datagram_per_line() {
    let env = Env::new();
    let sock_path = env.path("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    sock.set_read_timeout(Some(secs(3.0))).expect("timeout");
    env.write_config(&format!(
        "[pman]\nlogfile=$DIR/pman.log\nsyslog_socket={}\n{}",
        sock_path.display(),
        "[program:sl]\ncommand=/bin/sh -c 'echo one; echo two; echo bad >&2; exec /bin/sleep 300'\n\
         startsecs=0\nstdout=syslog\nstderr=SYSLOG\n",
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("sl");
    // Only the program's datagrams: the daemon may log there too.
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let tag = format!("sl[{pid}]: ");
    while got.len() < 3 {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
                if datagram.contains(&tag) {
                    got.push(datagram);
                }
            }
            Err(e) => panic!("syslog datagrams of sl: got {got:?}, then {e}"),
        }
    }
    let want_out1 = format!("<30>sl[{pid}]: one");
    let want_out2 = format!("<30>sl[{pid}]: two");
    let want_err = format!("<27>sl[{pid}]: bad");
    let clean: Vec<&str> = got.iter().map(|d| d.trim_end_matches('\n')).collect();
    assert!(clean.contains(&want_out1.as_str()), "{got:?}");
    assert!(clean.contains(&want_out2.as_str()), "{got:?}");
    assert!(clean.contains(&want_err.as_str()), "{got:?}");
    let pos = |w: &str| clean.iter().position(|d| *d == w);
    assert!(pos(&want_out1) < pos(&want_out2), "stdout lines out of order: {got:?}");

    let out = env.pman(&["log", "sl"]);
    assert_eq!(out.code, 1, "log of a syslog stream: {out}");
}

/// A line cut at 1 KiB whose newline comes right after is no empty line
/// of its own, and a line a process leaves unended goes out, tagged with
/// its pid, once the process has exited, not glued to the next run's;
/// what a child left behind writes later goes by the same pid.
#[test]
fn syslog_cuts_long_lines_and_sends_an_unended_last_line() {
    let env = Env::new();
    let sock_path = env.path("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    sock.set_read_timeout(Some(secs(5.0))).expect("timeout");
    env.write_config(&format!(
        // The daemon logs to its file: only the programs' datagrams queue up.
        "[pman]\nlogfile=$DIR/pman.log\nsyslog_socket={}\n{}",
        sock_path.display(),
        "[program:cut]\ncommand=/bin/sh -c 'head -c 1024 /dev/zero | tr \"\\\\000\" a; echo; \
         head -c 2048 /dev/zero | tr \"\\\\000\" z; echo; echo end; exec sleep 300'\n\
         startsecs=0\nstdout=syslog\nstderr=none\n\
         [program:part]\ncommand=/bin/sh -c 'echo first; printf partial'\n\
         startsecs=0\nautorestart=false\nstdout=syslog\nstderr=none\n\
         [program:late]\ncommand=/bin/sh -c 'echo main; (sleep 0.5; echo late) &'\n\
         startsecs=0\nautorestart=false\nstdout=syslog\nstderr=none\n",
    ));
    let _daemon = Daemon::start(&env);
    let mut cut = Vec::new();
    let mut part = Vec::new();
    let mut late = Vec::new();
    let mut buf = [0u8; 4096];
    while cut.last().map(String::as_str) != Some("end") || part.len() < 2 || late.len() < 2 {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
                if let Some(rest) = datagram.strip_prefix("<30>cut[") {
                    cut.push(rest.split_once("]: ").map_or(String::new(), |(_, line)| line.to_string()));
                } else if let Some(rest) = datagram.strip_prefix("<30>part[") {
                    part.push(rest.to_string());
                } else if let Some(rest) = datagram.strip_prefix("<30>late[") {
                    late.push(rest.to_string());
                }
            }
            Err(e) => panic!(
                "datagrams: cut {lens:?} part {part:?}, then {e}",
                lens =
                    cut.iter().map(|c| (c.len(), c.chars().take(5).collect::<String>())).collect::<Vec<_>>()
            ),
        }
    }
    let lens: Vec<usize> = cut.iter().map(String::len).collect();
    assert_eq!(lens, [1024, 1024, 1024, 3], "no empty datagram after a cut");
    let pid = |d: &str| d.split_once(']').map(|(p, _)| p.to_string());
    assert!(part[0].ends_with("]: first"), "{part:?}");
    assert!(part[1].ends_with("]: partial"), "{part:?}");
    assert_eq!(pid(&part[0]), pid(&part[1]), "{part:?}");
    // A line its background child writes after it exited goes by its pid.
    assert!(late[0].ends_with("]: main") && late[1].ends_with("]: late"), "{late:?}");
    assert_eq!(pid(&late[0]), pid(&late[1]), "{late:?}");
    assert_eq!(env.state("part"), "EXITED");
}

/// Programs that write an unended line and exit at once, all together:
/// each line reaches syslog under its writer's pid, whichever turn of the
/// loop reads it.
#[test]
fn unended_lines_of_programs_exiting_together_all_reach_syslog() {
    let env = Env::new();
    let sock_path = env.path("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    sock.set_read_timeout(Some(secs(5.0))).expect("timeout");
    let mut config = format!("[pman]\nlogfile=$DIR/pman.log\nsyslog_socket={}\n", sock_path.display());
    for i in 0..8 {
        config += &format!(
            "[program:p{i}]\ncommand=/bin/sh -c 'printf x{i}'\nstartsecs=0\nautorestart=false\n\
             stdout=syslog\nstderr=none\n"
        );
    }
    env.write_config(&config);
    let _daemon = Daemon::start(&env);
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while seen.len() < 8 {
        let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("seen {seen:?}, then {e}"));
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    seen.sort();
    for (i, datagram) in seen.iter().enumerate() {
        let (tag, line) = datagram.split_once("]: ").unwrap_or_default();
        assert_eq!(line, format!("x{i}"), "{seen:?}");
        assert!(tag.starts_with(&format!("<30>p{i}[")) && !tag.ends_with("[0"), "{seen:?}");
    }
}

#[test]
fn logs_are_capped_and_rotated() {
    let env = Env::new();
    // 40 lines of 100 bytes = 4000 bytes through a 1 KB cap.
    let script = "/bin/sh -c 'i=0; while [ $i -lt 40 ]; do printf \"%%099d\\n\" $i; i=$((i+1)); done; \
                  echo done; exec /bin/sleep 300'";
    env.write_config(&format!(
        "{}{}",
        prog("one", script, "startsecs=0\nstdout_maxbytes=1KB\nstdout_backups=1"),
        prog("two", script, "startsecs=0\nstdout_maxbytes = 1 KB\nstdout_logfile_backups=2"),
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("one");
    env.running_pid("two");
    wait_until(secs(3.0), "last line logged", || {
        has_line(&env.read("one.out"), "done") && has_line(&env.read("two.out"), "done")
    });
    let size = |rel: &str| std::fs::metadata(env.path(rel)).map(|m| m.len()).ok();
    for file in ["one.out", "one.out.1", "two.out", "two.out.1", "two.out.2"] {
        let len = size(file).unwrap_or_else(|| panic!("{file} missing"));
        assert!(len <= 1024, "{file} is {len} bytes, cap 1 KB");
    }
    assert!(size("one.out.2").is_none(), "stdout_backups=1 kept a .2");
    assert!(size("two.out.3").is_none(), "backups=2 kept a .3");
}

#[test]
fn log_command_prints_captured_output() {
    let env = Env::new();
    let script = "/bin/sh -c 'i=1; while [ $i -le 30 ]; do echo line$i; i=$((i+1)); done; \
                  echo e1 >&2; echo e2 >&2; exec /bin/sleep 300'";
    env.write_config(&format!(
        "{}{}{}",
        prog("p", script, "startsecs=0"),
        prog("r", script, "startsecs=0\nredirect_stderr=true"),
        prog("n", script, "startsecs=0\nstdout=none\nstderr=none"),
    ));
    let _daemon = Daemon::start(&env);
    for name in ["p", "r", "n"] {
        env.running_pid(name);
    }
    wait_until(secs(3.0), "output logged", || {
        has_line(&env.read("p.err"), "e2") && has_line(&env.read("r.out"), "e2")
    });

    let out = env.pman(&["log", "p"]);
    assert_eq!(out.code, 0, "{out}");
    let want: Vec<String> = (11..=30).map(|i| format!("line{i}")).collect();
    assert_eq!(out.lines(), want, "default: the last 20 lines");

    let out = env.pman(&["log", "p", "-n", "3"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "line28\nline29\nline30\n"), "{out}");

    let out = env.pman(&["log", "p", "--stderr"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "e1\ne2\n"), "{out}");

    // With redirect_stderr, --stderr is the stdout log.
    let out = env.pman(&["log", "r", "--stderr", "-n", "2"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "e1\ne2\n"), "{out}");

    let out = env.pman(&["log", "n"]);
    assert_eq!(out.code, 1, "no log for stdout=none: {out}");

    let out = env.pman(&["log", "nosuch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("pman: no such program: nosuch"), "{out}");
}

#[test]
fn log_follow_streams_new_lines() {
    let env = Env::new();
    let script = "/bin/sh -c 'i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done'";
    env.write_config(&prog("t", script, "startsecs=0"));
    let _daemon = Daemon::start(&env);
    env.running_pid("t");
    wait_until(secs(3.0), "first ticks", || has_line(&env.read("t.out"), "tick2"));

    let mut follower = env.pman_spawn(&["log", "t", "-f", "-n", "1"]);
    let stdout = follower.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + secs(5.0);
    while got.len() < 6 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            got.push(line);
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(got.len() >= 6, "log -f printed only {got:?}");
    let numbers: Vec<u64> = got.iter().filter_map(|l| l.strip_prefix("tick")?.parse().ok()).collect();
    assert_eq!(numbers.len(), got.len(), "{got:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "lines lost or repeated: {got:?}");

    // The daemon shrugs off the follower going away.
    let out = env.pman(&["status", "t"]);
    assert_eq!(out.code, 0, "{out}");
}
