//! `user=`: a program runs with the uid, gid and supplementary groups that
//! `id` reports for that user from the real /etc/passwd and /etc/group, with
//! HOME/USER/LOGNAME from passwd; `~` is that user's home; an unknown user
//! is a failed start and a `check` warning.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// (name, uid, home) of each well-formed /etc/passwd line.
fn passwd() -> Vec<(String, u32, String)> {
    read_file("/etc/passwd")
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let uid = f.get(2)?.parse().ok()?;
            (f.len() >= 7 && !f[0].starts_with('#')).then(|| (f[0].to_string(), uid, f[5].to_string()))
        })
        .collect()
}

/// `id FLAG NAME` split into words.
fn id(flag: &str, name: &str) -> Vec<String> {
    let out = Command::new("id").arg(flag).arg(name).output().expect("run id");
    assert!(out.status.success(), "id {flag} {name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

/// The first user (not root) with supplementary groups, else `nobody`.
fn user_with_groups() -> Option<(String, u32, String)> {
    let users = passwd();
    let with_groups = users
        .iter()
        .find(|(name, uid, _)| *uid != 0 && id("-G", name).into_iter().collect::<BTreeSet<_>>().len() > 1);
    with_groups.or_else(|| users.iter().find(|(name, ..)| name == "nobody")).cloned()
}

/// The words after `key:` in /proc/PID/status.
fn status_field(pid: i32, key: &str) -> Vec<String> {
    let status = read_file(format!("/proc/{pid}/status"));
    let line = status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).unwrap_or("");
    line.split_whitespace().map(str::to_string).collect()
}

/// The value of `key` in /proc/PID/environ.
fn environ(pid: i32, key: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    bytes.split(|&b| b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(key)?.strip_prefix('=').map(str::to_string)
    })
}

/// Asserts the process runs as uid/gid with exactly `groups` and the
/// environment of user `name` with `home`.
fn assert_runs_as(pid: i32, uid: &str, gid: &str, groups: &[String], name: &str, home: &str) {
    assert_eq!(status_field(pid, "Uid"), vec![uid; 4], "real, effective, saved, fs uid");
    assert_eq!(status_field(pid, "Gid"), vec![gid; 4], "real, effective, saved, fs gid");
    let got: BTreeSet<String> = status_field(pid, "Groups").into_iter().collect();
    let want: BTreeSet<String> = groups.iter().cloned().collect();
    assert_eq!(got, want, "supplementary groups");
    assert_eq!(environ(pid, "HOME").as_deref(), Some(home), "HOME");
    assert_eq!(environ(pid, "USER").as_deref(), Some(name), "USER");
    assert_eq!(environ(pid, "LOGNAME").as_deref(), Some(name), "LOGNAME");
}

#[test]
fn a_user_program_gets_the_ids_groups_and_environment_id_reports() {
    if !is_root() {
        skip!("needs root to switch users");
    }
    let Some((name, uid, home)) = user_with_groups() else { skip!("no user with groups nor nobody") };
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("byname", "/bin/sleep 300", &format!("startsecs=0\nuser={name}")),
        prog("byuid", "/bin/sleep 300", &format!("startsecs=0\nuser={uid}")),
    ));
    let _daemon = Daemon::start(&env);
    let (uids, gids, groups) = (id("-u", &name), id("-g", &name), id("-G", &name));
    for program in ["byname", "byuid"] {
        let pid = env.running_pid(program);
        assert_runs_as(pid, &uids[0], &gids[0], &groups, &name, &home);
    }
}

#[test]
fn a_numeric_uid_not_in_passwd_is_used_as_is() {
    if !is_root() {
        skip!("needs root to switch users");
    }
    let users = passwd();
    let Some(uid) = (54321..u32::MAX).find(|uid| !users.iter().any(|u| u.1 == *uid)) else {
        skip!("no free uid")
    };
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("alone", "/bin/sleep 300", &format!("startsecs=0\nuser={uid}")),
        prog("withgid", "/bin/sleep 300", &format!("startsecs=0\nuser={uid}:4321")),
    ));
    let _daemon = Daemon::start(&env);
    let text = uid.to_string();
    let pid = env.running_pid("alone");
    assert_runs_as(pid, &text, &text, std::slice::from_ref(&text), &text, "/");
    let pid = env.running_pid("withgid");
    assert_runs_as(pid, &text, "4321", &["4321".to_string()], &text, "/");
}

#[test]
fn tilde_is_the_home_of_user() {
    if !is_root() {
        skip!("needs root to switch users");
    }
    let own_home = std::env::var("HOME").unwrap_or_default();
    let Some((name, _, home)) = passwd().into_iter().find(|(_, uid, home)| {
        *uid != 0 && home.len() > 1 && *home != own_home && std::path::Path::new(home).is_dir()
    }) else {
        skip!("no user with a home directory of its own")
    };
    let env = Env::new();
    env.write_config(&prog("home", "/bin/sleep 300", &format!("startsecs=0\nuser={name}\ndirectory=~")));
    let _daemon = Daemon::start(&env);
    let pid = env.running_pid("home");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("read cwd");
    assert_eq!(cwd, std::fs::canonicalize(&home).expect("canonical home"), "user {name}");
}

#[test]
fn an_unknown_user_is_a_failed_start_and_a_check_warning() {
    let env = Env::new();
    let me = std::fs::metadata("/proc/self").expect("stat /proc/self").uid();
    let known = passwd().into_iter().find(|(_, uid, _)| *uid == me);
    let known = known.map_or_else(|| "0".to_string(), |(name, ..)| name);
    env.write_config(&format!(
        "{}{}",
        prog("ghost", "/bin/sleep 300", "user=pman-no-such-user"),
        prog("me", "/bin/sleep 300", &format!("user={known}\nautostart=false")),
    ));
    let check = env.pman(&["check"]);
    assert_eq!(check.code, 0, "{check}");
    let warnings: Vec<&str> = check.stderr.lines().filter(|l| l.contains("is unknown")).collect();
    assert_eq!(warnings.len(), 1, "{check}");
    assert!(warnings[0].contains("user 'pman-no-such-user' is unknown"), "{check}");

    let _daemon = Daemon::start(&env);
    let line = env.wait_state("ghost", "BACKOFF", secs(5.0));
    assert!(line.starts_with("[ghost] BACKOFF"), "{line}");
    assert!(line.ends_with(" user pman-no-such-user: unknown user"), "{line}");
}

/// `pman -c CONF ARGS...` run as `uid`.
fn pman_as(env: &Env, uid: u32, args: &[&str]) -> Out {
    let mut cmd = pman_command();
    cmd.uid(uid).gid(uid).arg("-c").arg(&env.conf).args(args);
    run_bounded(cmd, secs(30.0))
}

#[test]
fn a_daemon_not_run_by_root_runs_programs_only_as_itself() {
    if !is_root() {
        skip!("needs root to start a daemon as another user");
    }
    let Some((name, uid, _)) = passwd().into_iter().find(|(name, ..)| name == "nobody") else {
        skip!("no user nobody in /etc/passwd")
    };
    let env = Env::new();
    let section = |program: &str, user: &str| {
        format!("[program:{program}]\ncommand=/bin/sleep 300\nuser={user}\nstartsecs=0\nstdout=none\nstderr=none\n")
    };
    env.write_config(&format!(
        "{}{}{}{}",
        section("other", "root"),
        section("itself", &name),
        section("othergid", &format!("{uid}:0")),
        section("owngid", &format!("{uid}:{uid}")),
    ));
    let mut cmd = pman_command();
    cmd.uid(uid).gid(uid).args(["daemon", "-f", "-c"]).arg(&env.conf);
    let stderr = std::fs::File::create(env.path("daemon.stderr")).expect("daemon stderr file");
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(stderr);
    cmd.process_group(0);
    let mut daemon = cmd.spawn().expect("spawn pman daemon -f as nobody");
    env.track(daemon.id() as i32);

    let mut last = String::new();
    let fatal = eventually(secs(5.0), || {
        last = pman_as(&env, uid, &["status", "other"]).stdout;
        last.starts_with("[other] FATAL")
    });
    assert!(fatal, "other not FATAL: {last:?}; daemon stderr:\n{}", env.read("daemon.stderr"));
    assert_eq!(last.trim_end(), "[other] FATAL user root: Operation not permitted");
    let running = eventually(secs(5.0), || {
        last = pman_as(&env, uid, &["status", "itself"]).stdout;
        last.starts_with("[itself] RUNNING")
    });
    assert!(running, "itself not RUNNING: {last:?}");
    let pid: i32 = field(&last, "pid").and_then(|p| p.parse().ok()).expect("pid");
    env.track(pid);
    assert_eq!(status_field(pid, "Uid"), vec![uid.to_string(); 4]);
    // An explicit gid other than its own cannot be had either.
    let line = pman_as(&env, uid, &["status", "othergid"]).stdout;
    assert_eq!(line.trim_end(), format!("[othergid] FATAL user {uid}:0: Operation not permitted"));
    let line = pman_as(&env, uid, &["status", "owngid"]).stdout;
    assert!(line.starts_with("[owngid] RUNNING"), "{line}");

    kill(daemon.id() as i32, libc::SIGTERM);
    let _ = daemon.wait();
}
