//! The daemon stays responsive however many programs it runs: starts of
//! many programs are spread over loop turns, so `status` is answered
//! while they start.

#[macro_use]
mod common;

use common::*;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::{Duration, Instant};

const PROGRAMS: usize = 1000;

/// One `status` request over the socket, timed: the reply and how long it took.
fn timed_status(env: &Env) -> (String, Duration) {
    let name = env.socket.trim_start_matches('@');
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let started = Instant::now();
    let mut stream = UnixStream::connect_addr(&addr).expect("connect to the daemon");
    stream.set_read_timeout(Some(secs(10.0))).expect("read timeout");
    stream.write_all(b"status\n").expect("send status");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    (reply, started.elapsed())
}

#[test]
fn status_is_answered_while_a_thousand_programs_start() {
    let env = Env::new();
    let mut text = String::from("[pman]\n");
    for n in 0..PROGRAMS {
        text.push_str(&format!(
            "[program:p{n}]\ncommand=/bin/sleep 1000\nstdout=none\nstderr=none\nstartsecs=1\n"
        ));
    }
    env.write_config(&text);
    let _daemon = Daemon::spawn(&env);
    wait_until(secs(30.0), "the daemon answers", || env.pman(&["pid"]).code == 0);

    let (reply, took) = timed_status(&env);
    let lines: Vec<&str> = reply.lines().filter(|l| l.starts_with('>')).collect();
    assert_eq!(lines.len(), PROGRAMS, "one line per program:\n{reply}");
    let spawned = lines.iter().filter(|l| l.contains(" pid: ")).count();
    eprintln!("status with {PROGRAMS} programs starting: answered in {took:?}, {spawned} spawned by then");
    assert!(took < secs(1.0), "status took {took:?} while programs started");
    assert!(spawned < PROGRAMS, "the daemon answered only once every program was spawned");

    // And every program does start.
    wait_until(secs(120.0), "every program RUNNING", || {
        let (reply, _) = timed_status(&env);
        reply.lines().filter(|l| l.starts_with('>') && l.contains(" RUNNING pid: ")).count() == PROGRAMS
    });
    let (_, took) = timed_status(&env);
    eprintln!("status with {PROGRAMS} programs running: answered in {took:?}");
    assert!(took < secs(1.0), "status took {took:?}");
}

#[test]
fn a_program_stopped_before_its_spawn_is_never_started() {
    let env = Env::new();
    let mut text = String::from("[pman]\n");
    for n in 0..200 {
        text.push_str(&format!("[program:p{n}]\ncommand=/bin/sleep 1000\nstdout=none\nstderr=none\n"));
    }
    text.push_str("[program:last]\ncommand=/bin/sleep 1000\nstdout=none\nstderr=none\npriority=1000\n");
    env.write_config(&text);
    let _daemon = Daemon::spawn(&env);
    wait_until(secs(30.0), "the daemon answers", || env.pman(&["pid"]).code == 0);
    // `last` starts after the 200 others: a stop now comes before its spawn
    // or after it; either way it ends STOPPED with no process.
    let out = env.pman(&["stop", "last"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.trim(), "[last] STOPPED", "{out}");
    wait_until(secs(60.0), "the others RUNNING", || {
        let out = env.pman(&["status"]);
        out.lines().iter().filter(|l| l.contains(" RUNNING pid: ")).count() == 200
    });
    assert_eq!(env.status_line("last"), "[last] STOPPED");
}
