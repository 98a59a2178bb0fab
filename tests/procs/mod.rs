//! Finding a test's own processes, wherever they were reparented: each
//! program of a test gets `PMAN_TEST_TAG=<tag>` in its environment, and
//! every descendant inherits it.
#![allow(dead_code)]

use crate::common::*;
use std::fs;

/// `environment=PMAN_TEST_TAG=<tag>` for a program section.
pub fn tag_line(env: &Env) -> String {
    format!("environment=PMAN_TEST_TAG={}", tag(env))
}

/// The tag of this test: its directory, unique per test.
pub fn tag(env: &Env) -> String {
    env.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Live (not zombie) processes carrying this test's tag, with their
/// command lines (arguments joined by spaces).
pub fn tagged(env: &Env) -> Vec<(i32, String)> {
    let needle = format!("PMAN_TEST_TAG={}", tag(env));
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else { return found };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else { continue };
        if !environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) || !pid_alive(pid) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let words: Vec<String> = cmdline
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        found.push((pid, words.join(" ")));
    }
    found
}

/// Pids of this test's live processes whose command line is `cmdline`.
pub fn tagged_running(env: &Env, cmdline: &str) -> Vec<i32> {
    tagged(env).into_iter().filter(|(_, c)| c == cmdline).map(|(pid, _)| pid).collect()
}

/// SIGKILLs whatever of this test is left (cleanup after a failure).
pub fn kill_tagged(env: &Env) {
    for (pid, _) in tagged(env) {
        kill(pid, libc::SIGKILL);
    }
}

/// Kills the test's tagged processes when dropped, so a failed assertion
/// leaves nothing running.
pub struct Cleanup<'a>(pub &'a Env);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        kill_tagged(self.0);
    }
}
