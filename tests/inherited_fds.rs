//! Descriptors the daemon inherits from whoever started it never reach
//! its programs, however high their numbers.

#[macro_use]
mod common;

use common::*;
use std::os::fd::AsRawFd;

#[test]
fn descriptors_the_daemon_inherited_never_reach_programs() {
    // As high as the limit allows (past 4096, where a loop would stop).
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid rlimit pointers.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(1 << 16);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    let high = (limit.rlim_cur as i32 - 1).min(5000);
    if high <= 4096 {
        skip!("the descriptor limit ({}) is too low for this test", limit.rlim_cur);
    }
    let env = Env::new();
    let file = std::fs::File::open("/dev/null").unwrap();
    // dup2 makes descriptors without close-on-exec: the daemon inherits them.
    for fd in [9, high] {
        // SAFETY: plain dup2 onto free numbers of this test process.
        assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), fd) }, fd);
    }
    env.write_config(&prog("p", "/bin/sleep 300", "startsecs=0\nstdout=none\nstderr=none"));
    let daemon = Daemon::start(&env);
    for fd in [9, high] {
        // SAFETY: closes the test's own duplicates.
        unsafe { libc::close(fd) };
    }
    let inherited = std::fs::read_link(format!("/proc/{}/fd/{high}", daemon.pid));
    assert!(inherited.is_ok(), "the daemon did not inherit fd {high}");
    let pid = env.running_pid("p");
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2], "descriptors beyond 0-2 reached the program");
}
