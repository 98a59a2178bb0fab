//! `pman reload` and SIGHUP: added, removed, changed and unchanged programs,
//! a broken config that changes nothing, warnings, and a new socket name.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeSet;

#[test]
fn reload_applies_the_difference() {
    let env = Env::new();
    let sleeper = |name: &str, secs: u32| prog(name, &format!("/bin/sleep {secs}"), "startsecs=0");
    env.write_config(&format!(
        "{}{}{}{}{}",
        sleeper("keep", 300),
        sleeper("gone", 300),
        sleeper("chg", 300),
        prog("off", "/bin/sleep 300", "autostart=false"),
        sleeper("park", 300),
    ));
    let _daemon = Daemon::start(&env);
    let park = env.running_pid("park");
    let keep = env.running_pid("keep");
    let gone = env.running_pid("gone");
    let chg = env.running_pid("chg");

    env.write_config(&format!(
        "{}{}{}{}{}",
        sleeper("keep", 300),
        sleeper("chg", 301),
        sleeper("new", 300),
        prog("off", "/bin/sleep 300", "autostart=false"),
        // Changed to autostart=false: stopped, not started again.
        prog("park", "/bin/sleep 300", "startsecs=0\nautostart=false"),
    ));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    let want: BTreeSet<&str> =
        ["[gone] removed", "[chg] changed", "[new] added", "[park] changed"].into_iter().collect();
    assert_eq!(lines, want, "{out}");
    assert_eq!(out.stdout.lines().count(), 4, "{out}");
    assert!(!pid_alive(park), "changed to autostart=false but still running");

    // Stops are done when reload returns.
    assert!(!pid_alive(gone), "removed program still running");
    assert!(!pid_alive(chg), "changed program's old process still running");
    assert_eq!(env.prog_pid("keep"), Some(keep), "unchanged program was restarted");
    let chg2 = env.running_pid("chg");
    assert_ne!(chg2, chg);
    let cmdline = read_file(format!("/proc/{chg2}/cmdline"));
    assert!(cmdline.contains("301"), "changed program runs the old command: {cmdline:?}");
    env.running_pid("new");
    assert_eq!(env.status_line("off"), "[off] STOPPED");
    assert_eq!(env.status_line("park"), "[park] STOPPED");

    let gone_status = env.pman(&["status", "gone"]);
    assert_eq!(gone_status.code, 2, "{gone_status}");
    let all = env.pman(&["status"]);
    let names: Vec<&str> = all.stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[keep]", "[chg]", "[new]", "[off]", "[park]"], "new config order: {all}");

    // Nothing to do: says so.
    let out = env.pman(&["reload"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "no changes\n"), "{out}");
    assert_eq!(env.prog_pid("keep"), Some(keep));
}

#[test]
fn a_change_in_pman_section_changes_the_programs_it_reaches() {
    let env = Env::new();
    let body = format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("b", "/bin/sleep 300", "startsecs=0")
    );
    env.write_config(&format!("[pman]\nenvironment=LEVEL=1\n{body}"));
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    env.running_pid("b");
    env.write_config(&format!("[pman]\nenvironment=LEVEL=2\n{body}"));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["[a] changed", "[b] changed"].into_iter().collect(), "{out}");
    let a2 = env.running_pid("a");
    assert_ne!(a, a2);
    let environ = std::fs::read(format!("/proc/{a2}/environ")).unwrap_or_default();
    assert!(environ.split(|&b| b == 0).any(|v| v == b"LEVEL=2"), "new environment not applied");
}

#[test]
fn broken_config_changes_nothing() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("b", "/bin/sleep 300", "startsecs=0")
    ));
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let b = env.running_pid("b");

    // Adds c, changes a, removes b, and has a bad value.
    let broken = format!(
        "{}{}",
        prog("a", "/bin/sleep 301", "startsecs=0"),
        prog("c", "/bin/sleep 300", "startsecs=0\nstartretries=lots"),
    );
    env.write_config(&broken);
    let bad_line =
        env.render(&broken).lines().position(|l| l == "startretries=lots").map(|i| i + 1).unwrap_or(0);
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    let location = format!("{}:{bad_line}", env.conf.display());
    assert!(out.stderr.contains(&location), "error does not name {location}: {out}");
    assert!(out.stderr.starts_with("pman: "), "{out}");

    // The client still reaches the daemon with the broken file.
    let status = env.pman(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(status.stdout.lines().count(), 2, "{status}");
    assert_eq!(env.prog_pid("a"), Some(a), "a changed by a refused reload");
    assert_eq!(env.prog_pid("b"), Some(b), "b removed by a refused reload");
    assert_eq!(env.pman(&["status", "c"]).code, 2, "c added by a refused reload");

    // SIGHUP with the broken file: logged, nothing changes, the daemon lives.
    let daemon_pid: i32 = env.pman(&["pid"]).stdout.trim().parse().expect("daemon pid");
    kill(daemon_pid, libc::SIGHUP);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.prog_pid("a"), Some(a));
    assert_eq!(env.prog_pid("b"), Some(b));

    // Fixed: applies.
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("c", "/bin/sleep 300", "startsecs=0")
    ));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["[b] removed", "[c] added"].into_iter().collect(), "{out}");
    assert_eq!(env.prog_pid("a"), Some(a));
}

#[test]
fn reload_prints_warnings() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let _daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let text = prog("a", "/bin/sleep 300", "startsecs=0\nautorestrat=true");
    env.write_config(&text);
    let line = env.render(&text).lines().position(|l| l == "autorestrat=true").map(|i| i + 1).unwrap_or(0);
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "an unknown key is only a warning: {out}");
    let prefix = format!("pman: warning: {}:{line}: ", env.conf.display());
    let warning = out.stderr.lines().find(|l| l.starts_with(&prefix));
    let warning = warning.unwrap_or_else(|| panic!("no `{prefix}...` warning: {out}"));
    assert!(warning.contains("autorestrat") && warning.contains("autorestart"), "{warning}");
    assert_eq!(env.prog_pid("a"), Some(a), "a warning changed the program");
}

#[test]
fn sighup_reloads() {
    let env = Env::new();
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("b", "/bin/sleep 300", "startsecs=0")
    ));
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let b = env.running_pid("b");
    env.write_config(&format!(
        "{}{}",
        prog("a", "/bin/sleep 300", "startsecs=0"),
        prog("c", "/bin/sleep 300", "startsecs=0")
    ));
    daemon.signal(libc::SIGHUP);
    wait_until(secs(3.0), "c added by SIGHUP", || env.state("c") == "RUNNING");
    wait_until(secs(3.0), "b removed by SIGHUP", || !pid_alive(b) && env.pman(&["status", "b"]).code == 2);
    assert_eq!(env.prog_pid("a"), Some(a));
    env.prog_pid("c");
}

#[test]
fn a_new_socket_name_applies() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 300", "startsecs=0"));
    let daemon = Daemon::start(&env);
    let a = env.running_pid("a");
    let new_socket = format!("{}-new", env.socket);
    let text = env.render(&prog("a", "/bin/sleep 300", "startsecs=0")).replace(&env.socket, &new_socket);
    std::fs::write(&env.conf, text).expect("write config");
    // Asked on the old socket, a dry run names the change.
    let mut raw = Raw::connect(&env.socket).expect("connect to the old socket");
    raw.send(b"reload --dry-run\n").expect("send");
    let (reply, _) = raw.read_to_end(secs(10.0));
    let want = format!(">socket: {} -> {new_socket}\n=0\n", env.socket);
    assert_eq!(String::from_utf8_lossy(&reply), want);
    daemon.signal(libc::SIGHUP);
    wait_until(secs(3.0), "the daemon answers on the new socket", || env.pman(&["pid"]).code == 0);
    assert_eq!(env.prog_pid("a"), Some(a), "socket change restarted a program");
    wait_until(secs(3.0), "the old socket is closed", || Raw::connect(&env.socket).is_err());
}

#[test]
fn a_new_pidfile_or_logfile_is_named_by_reload() {
    let env = Env::new();
    let program = prog("a", "/bin/sleep 300", "startsecs=0");
    env.write_config(&format!("[pman]\npidfile=$DIR/a.pid\n{program}"));
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    env.write_config(&format!("[pman]\npidfile=$DIR/b.pid\nlogfile=$DIR/pman.log\n{program}"));
    let out = env.pman(&["reload"]);
    let dir = env.dir_str();
    let want = format!("pidfile: {dir}/a.pid -> {dir}/b.pid\nlogfile: none -> {dir}/pman.log\n");
    assert_eq!((out.code, out.stdout.as_str()), (0, want.as_str()), "{out}");
    wait_until(secs(3.0), "the new pidfile", || env.read("b.pid").trim().parse::<i32>().is_ok());
    assert_eq!(env.pman(&["reload"]).stdout, "no changes\n");
}

/// Writes an included file as is (no `[pman]` added), mode 0644.
fn write_raw(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

#[test]
fn drop_in_files_are_included_in_order_and_reloaded() {
    let env = Env::new();
    std::fs::create_dir(env.path("conf.d")).expect("mkdir");
    env.write_config(&format!(
        "{}[include]\nfiles = conf.d/*.conf\n",
        prog("main", "/bin/sleep 300", "startsecs=0")
    ));
    let dir = env.dir_str();
    let dropin = |name: &str| {
        format!(
            "[program:{name}]\ncommand=/bin/sleep 300\nstartsecs=0\nstdout={dir}/{name}.out\nstderr=none\n"
        )
    };
    write_raw(&env.path("conf.d/b.conf"), &dropin("bee"));
    write_raw(&env.path("conf.d/a.conf"), &dropin("ant"));
    write_raw(&env.path("conf.d/ignored.txt"), &dropin("nope"));
    let _daemon = Daemon::start(&env);
    let all = env.pman(&["status"]);
    let names: Vec<&str> = all.stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(names, ["[main]", "[ant]", "[bee]"], "main file first, then included files sorted: {all}");
    let ant = env.running_pid("ant");

    // A package drops in a file, another removes its own.
    write_raw(&env.path("conf.d/c.conf"), &dropin("cat"));
    std::fs::remove_file(env.path("conf.d/b.conf")).expect("rm");
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["[bee] removed", "[cat] added"].into_iter().collect(), "{out}");
    env.running_pid("cat");
    assert_eq!(env.prog_pid("ant"), Some(ant));
}

#[test]
fn reload_stops_removed_programs_by_descending_priority() {
    let env = Env::new();
    let body = |names: &[(&str, u32)]| {
        names
            .iter()
            .map(|(n, p)| prog(n, &order_script(n, "order"), &format!("startsecs=0\npriority={p}")))
            .collect::<String>()
    };
    env.write_config(&body(&[("stay", 5), ("low", 1), ("high", 90), ("mid", 50)]));
    let _daemon = Daemon::start(&env);
    for name in ["stay", "low", "high", "mid"] {
        env.running_pid(name);
    }
    wait_until(secs(3.0), "all started", || env.read("order").lines().count() == 4);
    env.write_config(&body(&[("stay", 5)]));
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 0, "{out}");
    let text = env.read("order");
    let stops: Vec<&str> = text.lines().filter(|l| l.starts_with("stop-")).collect();
    assert_eq!(stops, ["stop-high", "stop-mid", "stop-low"], "{text}");
}
