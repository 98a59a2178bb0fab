//! `pman rpcd list|call METHOD`, the rpcd exec plugin: the method list, and
//! each call's one JSON object against a real daemon and real programs,
//! with `{"error":...}` (exit 0) for whatever is wrong in the call.

#[macro_use]
mod common;

use common::json::Json;
use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::Instant;

/// `pman -c CONF rpcd call METHOD` with `input` on stdin: exit code and the
/// one JSON object it printed.
fn call(env: &Env, method: &str, input: &str) -> (i32, Json) {
    let mut cmd = pman_command();
    cmd.arg("-c").arg(&env.conf).args(["rpcd", "call", method]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pman rpcd");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let deadline = Instant::now() + secs(30.0);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pman rpcd call {method} did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "one line of JSON from {method}: {text:?}");
    let json = Json::parse(&text).unwrap_or_else(|e| panic!("{method}: not JSON ({e}): {text:?}"));
    (out.status.code().unwrap_or(-1), json)
}

fn error_of(json: &Json) -> String {
    json.string("error").unwrap_or_else(|| panic!("expected an error object, got {json:?}")).to_string()
}

#[test]
fn list_prints_each_method_and_its_arguments() {
    let env = Env::new();
    env.write_config("");
    let out = env.pman(&["rpcd", "list"]);
    assert_eq!(out.code, 0, "{out}");
    let list = Json::parse(&out.stdout).expect("list is JSON");
    for method in ["status", "start", "stop", "restart", "reload", "log"] {
        assert!(list.has(method), "{method} missing from {}", out.stdout);
    }
    assert_eq!(list.get("start").unwrap().string("name"), Some("str"));
    assert_eq!(list.get("log").unwrap().string("name"), Some("str"));
    assert_eq!(list.get("log").unwrap().int("lines"), 32);
    assert_eq!(list.get("status").unwrap(), &Json::Obj(Vec::new()));
}

#[test]
fn calls_reach_the_daemon_and_answer_one_object() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("web", "sh -c 'echo one; echo two; echo three; exec sleep 1000'", ""),
        prog("idle", "sleep 1000", "autostart=false"),
    ));
    let _daemon = Daemon::start(&env);
    env.wait_state("web", "RUNNING", secs(10.0));
    let web_pid = env.running_pid("web");
    env.track(web_pid);

    let (code, status) = call(&env, "status", "{}");
    assert_eq!(code, 0);
    let programs = status.get("programs").and_then(Json::as_array).expect("programs array");
    let names: Vec<_> = programs.iter().map(|p| p.string("name").unwrap()).collect();
    assert_eq!(names, ["web", "idle"]);
    assert_eq!(programs[0].string("state"), Some("RUNNING"));
    assert_eq!(programs[0].int("pid"), i64::from(web_pid));

    let (code, started) = call(&env, "start", r#"{"name":"idle"}"#);
    assert_eq!(code, 0);
    assert_eq!(started.string("name"), Some("idle"));
    assert_eq!(started.string("state"), Some("RUNNING"), "{started:?}");
    env.track(started.int("pid") as i32);

    let (_, stopped) = call(&env, "stop", r#"{"name":"idle"}"#);
    assert_eq!(stopped.string("state"), Some("STOPPED"), "{stopped:?}");
    assert_eq!(env.state("idle"), "STOPPED");

    let (_, restarted) = call(&env, "restart", r#"{"name":"web"}"#);
    assert_eq!(restarted.string("state"), Some("RUNNING"), "{restarted:?}");
    assert_ne!(restarted.int("pid"), i64::from(web_pid), "restart made a new process");
    env.track(restarted.int("pid") as i32);

    wait_until(secs(10.0), "web's output in its log", || env.read("web.out").matches("three").count() >= 2);
    let (_, log) = call(&env, "log", r#"{"name":"web","lines":2}"#);
    let lines: Vec<_> =
        log.get("lines").and_then(Json::as_array).unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines, ["two", "three"]);

    let (_, reload) = call(&env, "reload", "");
    assert!(reload.get("lines").and_then(Json::as_array).is_some(), "{reload:?}");
}

#[test]
fn whatever_is_wrong_is_an_error_object_with_exit_0() {
    let env = Env::new();
    env.write_config(&prog("web", "sleep 1000", "autostart=false"));
    // No daemon yet.
    let (code, down) = call(&env, "status", "{}");
    assert_eq!(code, 0);
    assert!(error_of(&down).contains("daemon not running"), "{down:?}");

    let _daemon = Daemon::start(&env);
    let cases: &[(&str, &str, &str)] = &[
        ("status", "{\"a\":", "JSON"),
        ("status", "[1,2]", "object"),
        ("start", "not json", "JSON"),
        ("start", "{}", "name"),
        ("start", r#"{"name":7}"#, "name"),
        ("stop", r#"{"name":"nope"}"#, "nope"),
        ("restart", r#"{"name":"../x"}"#, "no such program"),
        ("log", r#"{"name":"web","lines":"many"}"#, "lines"),
        ("log", r#"{"name":"nope"}"#, "nope"),
        ("frob", "{}", "unknown method"),
    ];
    for (method, input, says) in cases {
        let (code, answer) = call(&env, method, input);
        assert_eq!(code, 0, "{method} {input}");
        let error = error_of(&answer);
        assert!(error.contains(says), "{method} {input}: {error:?} should mention {says:?}");
    }
    // Nothing was started by any of that.
    assert_eq!(env.state("web"), "STOPPED");
}

#[test]
fn a_config_with_errors_makes_reload_an_error() {
    let env = Env::new();
    env.write_config(&prog("web", "sleep 1000", "autostart=false"));
    let _daemon = Daemon::start(&env);
    env.write_config("[program:broken]\nnocommand=here\n");
    let (code, answer) = call(&env, "reload", "{}");
    assert_eq!(code, 0);
    assert!(!error_of(&answer).is_empty());
    assert_eq!(env.state("web"), "STOPPED", "the old config still holds");
}
