//! The config loader as users meet it: which daemon a client reaches, what
//! `pman check` says about keys, includes and the daemon's own files, and
//! which files it refuses to read (FIFOs, devices, files swapped under it).

mod common;

use common::{pman_args, pman_command, run_bounded, secs, Env, Out};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `pman -c PATH ARGS...`
fn pman_at(path: &Path, args: &[&str]) -> Out {
    let mut cmd = pman_command();
    cmd.arg("-c").arg(path).args(args);
    run_bounded(cmd, secs(30.0))
}

/// Writes `text` as is (no socket added), mode 0644.
fn write_raw(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create dir");
    }
    fs::write(path, text).expect("write file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", path.display());
}

/// `pman check` of `env.conf`, bounded: it must never wait on a file.
fn check(env: &Env) -> Out {
    pman_at(&env.conf, &["check"])
}

#[test]
fn fifo_config_is_an_error_at_once() {
    let env = Env::new();
    mkfifo(&env.conf);
    let started = std::time::Instant::now();
    let out = check(&env);
    assert!(started.elapsed() < secs(5.0), "check waited on the FIFO: {:?}", started.elapsed());
    assert_eq!(out.code, 2, "{out}");
    let want = format!("pman: {}: not a regular file (a FIFO)\n", env.conf.display());
    assert_eq!(out.stderr, want, "{out}");
    // The daemon refuses it the same way, at once.
    let out = pman_at(&env.conf, &["daemon", "-f"]);
    assert_eq!((out.code, out.stderr.as_str()), (2, want.as_str()), "{out}");
}

#[test]
fn fifo_or_directory_include_is_an_error_naming_it() {
    let env = Env::new();
    env.write_config("[include]\nfiles = inc/*.conf\n[program:a]\ncommand=/bin/true\n");
    fs::create_dir_all(env.path("inc/20-dir.conf")).expect("mkdir");
    mkfifo(&env.path("inc/10-fifo.conf"));
    let out = check(&env);
    assert_eq!(out.code, 2, "{out}");
    let fifo = env.path("inc/10-fifo.conf");
    let dir = env.path("inc/20-dir.conf");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.contains("warning")).collect();
    assert_eq!(
        lines,
        [
            format!("pman: {}: not a regular file (a FIFO)", fifo.display()),
            format!("pman: {}: not a regular file (a directory)", dir.display()),
        ],
        "{out}"
    );
}

#[test]
fn device_config_is_refused_without_reading_it() {
    let out = pman_args(&["-c", "/dev/zero", "check"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stderr, "pman: /dev/zero: not a regular file (a character device)\n", "{out}");
}

/// As root, `check` reads a root-owned config in a world-writable (not
/// sticky) directory while another user swaps their own file with it, over
/// and over: whatever the timing, the hostile text is never accepted.
#[test]
fn swapped_file_never_passes_the_root_rule() {
    if !common::is_root() {
        skip!("needs root: the ownership rule applies to root only");
    }
    if common::under_qemu() {
        skip!("renameat2 under qemu-user is not the race being tested");
    }
    let env = Env::new();
    let shared = env.path("shared");
    fs::create_dir(&shared).expect("mkdir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    let good = shared.join("pman.conf");
    let hostile = shared.join("other.conf");
    write_raw(&good, "[program:good]\ncommand=/bin/true\n");
    write_raw(
        &hostile,
        "[program:evil1]\ncommand=/bin/true\n[program:evil2]\ncommand=/bin/true\n\
         [program:evil3]\ncommand=/bin/true\n",
    );
    std::os::unix::fs::chown(&hostile, Some(65534), Some(65534)).expect("chown 65534");
    let a = std::ffi::CString::new(good.as_os_str().as_encoded_bytes()).expect("path");
    let b = std::ffi::CString::new(hostile.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: the child only calls async-signal-safe syscalls (setgid,
    // setuid, renameat2, _exit) on memory prepared before the fork.
    let swapper = unsafe { libc::fork() };
    assert!(swapper >= 0, "fork");
    if swapper == 0 {
        unsafe {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                libc::_exit(1);
            }
            loop {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                );
            }
        }
    }
    env.track(swapper);
    let deadline = std::time::Instant::now() + secs(4.0);
    let (mut runs, mut accepted, mut refused) = (0, 0, 0);
    let mut failure = None;
    while std::time::Instant::now() < deadline {
        let out = pman_at(&good, &["check"]);
        runs += 1;
        if out.code == 0 {
            accepted += 1;
            if out.stdout != "config OK: 1 programs\n" {
                failure = Some(out);
                break;
            }
        } else if out.code == 2 && out.stderr.contains("owned by uid 65534, not root") {
            refused += 1;
        } else {
            failure = Some(out);
            break;
        }
    }
    common::kill(swapper, libc::SIGKILL);
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(swapper, std::ptr::null_mut(), 0) };
    if let Some(out) = failure {
        panic!("run {runs}: the hostile file got through:\n{out}");
    }
    eprintln!("{runs} checks: {accepted} read the root file, {refused} refused the other");
    assert!(runs >= 5, "only {runs} runs");
}
