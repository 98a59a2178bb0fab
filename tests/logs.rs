//! Captured output as a router admin relies on it: nothing written before a
//! crash is lost, a flood never grows the daemon or the disk past the caps,
//! and two programs naming one file share its cap.

mod common;

use common::*;

fn vm_rss_kib(pid: i32) -> u64 {
    read_file(format!("/proc/{pid}/status"))
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn size(env: &Env, rel: &str) -> u64 {
    std::fs::metadata(env.path(rel)).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn output_written_just_before_a_crash_is_in_the_log() {
    let env = Env::new();
    // Each run says goodbye with its pid, then dies by SIGKILL at once.
    env.write_config(&prog(
        "crashy",
        "/bin/sh -c 'echo \"last words of $$\"; kill -KILL $$'",
        "startsecs=0\nbackoff=0",
    ));
    let _daemon = Daemon::start(&env);
    wait_until(secs(5.0), "two restarts", || env.json_of("crashy").int("restarts") >= 2);
    let log = env.read("crashy.out");
    let words = log.lines().filter(|l| l.starts_with("last words of ")).count();
    // Every run that was restarted wrote its line before dying.
    assert!(words >= 2, "lines lost across crashes: {log:?}");
    assert_eq!(env.json_of("crashy").string("exit_signal"), Some("KILL"));
}

#[test]
fn a_flood_is_slowed_by_the_pipe_and_never_passes_the_caps() {
    let env = Env::new();
    // About 16 MB as fast as the shell can: far more than the caps hold.
    let flood = "/bin/sh -c 'yes 0123456789012345678901234567890123456789 | head -c 16000000; echo the-end; \
                 exec /bin/sleep 300'";
    env.write_config(&prog("flood", flood, "startsecs=0\nstdout_maxbytes=64KB\nstdout_backups=2"));
    let daemon = Daemon::start(&env);
    env.running_pid("flood");
    let rss_before = vm_rss_kib(daemon.pid);
    let mut peak = rss_before;
    wait_until(secs(20.0), "the flood's last line", || {
        peak = peak.max(vm_rss_kib(daemon.pid));
        env.read("flood.out").contains("the-end")
    });
    for file in ["flood.out", "flood.out.1", "flood.out.2"] {
        let len = size(&env, file);
        assert!(len > 0 && len <= 64 * 1024, "{file}: {len} bytes, cap 64 KiB");
    }
    assert_eq!(size(&env, "flood.out.3"), 0, "more backups than stdout_backups=2");
    // The daemon copies through one fixed buffer: a 16 MB flood leaves no trace.
    assert!(peak <= rss_before + 256, "daemon RSS grew from {rss_before} KiB to {peak} KiB");
    assert_eq!(env.json_of("flood").int("log_errors"), 0);
    assert_eq!(env.state("flood"), "RUNNING");
}

#[test]
fn rotation_keeps_the_newest_lines_in_the_current_file_at_line_boundaries() {
    let env = Env::new();
    let script =
        "/bin/sh -c 'i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; exec /bin/sleep 300'";
    env.write_config(&prog("r", script, "startsecs=0\nstdout_maxbytes=1KB\nstdout_backups=3"));
    let _daemon = Daemon::start(&env);
    wait_until(secs(3.0), "last line", || env.read("r.out").contains("line-299"));
    let current = env.read("r.out");
    assert!(current.ends_with("line-299\n"), "newest line not last in the current file: {current:?}");
    // About 2.9 KB through a 1 KB cap: three files, each on whole lines.
    assert_eq!(size(&env, "r.out.3"), 0, "more rotations than the output needs");
    for file in ["r.out", "r.out.1", "r.out.2"] {
        let text = env.read(file);
        assert!(text.starts_with("line-") && text.ends_with('\n'), "{file} cut mid-line: {text:?}");
    }
    // The backups hold the lines just before, in order.
    let newest_backup = env.read("r.out.1");
    let last_backed_up: u32 = newest_backup.lines().last().and_then(|l| l[5..].parse().ok()).unwrap_or(0);
    let first_current: u32 = current.lines().next().and_then(|l| l[5..].parse().ok()).unwrap_or(0);
    assert_eq!(last_backed_up + 1, first_current, "a line went missing at the rotation");
}

#[test]
fn streams_naming_one_file_share_its_cap() {
    let env = Env::new();
    let chatty = |tag: &str| {
        format!(
            "/bin/sh -c 'i=0; while [ $i -lt 100 ]; do echo {tag}-$i; i=$((i+1)); done; exec /bin/sleep 300'"
        )
    };
    let shared = "stdout=$DIR/shared.log\nstdout_maxbytes=1KB\nstdout_backups=1\nstartsecs=0";
    env.write_config(&format!(
        "[program:a]\ncommand={}\n{shared}\n[program:b]\ncommand={}\n{shared}\n",
        chatty("aaa"),
        chatty("bbb")
    ));
    let _daemon = Daemon::start(&env);
    wait_until(secs(3.0), "both programs' last lines", || {
        let all = format!("{}{}", env.read("shared.log.1"), env.read("shared.log"));
        all.contains("aaa-99") && all.contains("bbb-99")
    });
    assert!(size(&env, "shared.log") <= 1024, "shared cap exceeded");
    assert!(size(&env, "shared.log.1") <= 1024, "shared cap exceeded");
    assert_eq!(size(&env, "shared.log.2"), 0, "one writer, one rotation: no .2 with backups=1");
}

/// A stream naming a file another stream named first takes that stream's
/// cap, also when one of the two is uncapped: both go one way.
#[test]
fn a_shared_file_is_capped_as_its_first_stream_says() {
    let env = Env::new();
    let chatty = |tag: &str| {
        format!(
            "/bin/sh -c 'i=0; while [ $i -lt 100 ]; do echo {tag}-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; \
             exec /bin/sleep 300'"
        )
    };
    env.write_config(&format!(
        "[program:p1]\ncommand={}\nstdout=$DIR/x.log\nstdout_maxbytes=0\nstartsecs=0\n\
         [program:p2]\ncommand={}\nstdout=$DIR/x.log\nstdout_maxbytes=1KB\nstartsecs=0\n\
         [program:q1]\ncommand={}\nstdout=$DIR/y.log\nstdout_maxbytes=1KB\nstdout_backups=20\nstartsecs=0\n\
         [program:q2]\ncommand={}\nstdout=$DIR/y.log\nstdout_maxbytes=0\nstartsecs=0\n",
        chatty("p1"),
        chatty("p2"),
        chatty("q1"),
        chatty("q2")
    ));
    let _daemon = Daemon::start(&env);
    // x.log is unbounded: every line of both is in it, nothing rotated.
    wait_until(secs(5.0), "both programs' last lines in x.log", || {
        let x = env.read("x.log");
        x.contains("p1-99") && x.contains("p2-99")
    });
    assert_eq!(size(&env, "x.log.1"), 0, "an uncapped file was rotated");
    // y.log is capped at 1 KB (with 20 backups) for both.
    let files: Vec<String> =
        std::iter::once("y.log".to_string()).chain((1..=20).map(|n| format!("y.log.{n}"))).collect();
    wait_until(secs(5.0), "both programs' last lines in y.log*", || {
        let all: String = files.iter().map(|f| env.read(f)).collect();
        all.contains("q1-99") && all.contains("q2-99")
    });
    for f in &files {
        assert!(size(&env, f) <= 1024, "the shared cap was exceeded: {f} is {} bytes", size(&env, f));
    }
}

#[test]
fn uncapped_output_is_written_by_the_program_itself() {
    let env = Env::new();
    env.write_config(&prog(
        "direct",
        "/bin/sh -c 'echo straight; exec /bin/sleep 300'",
        "startsecs=0\nstdout_maxbytes=0",
    ));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("direct");
    wait_until(secs(3.0), "the line", || env.read("direct.out").contains("straight"));
    let target = std::fs::read_link(format!("/proc/{pid}/fd/1")).expect("fd 1");
    assert_eq!(target, env.path("direct.out"), "stdout_maxbytes=0 goes through a pipe");
}
