//! The config loader as users meet it: which daemon a client reaches, what
//! `pman check` says about keys, includes and the daemon's own files, and
//! which files it refuses to read (FIFOs, devices, files swapped under it).

#[macro_use]
mod common;

use common::{pman_args, pman_command, prog, run_bounded, secs, wait_until, Daemon, Env, Out, Raw};
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

/// Every client command, as a user would type it against program `a`.
const CLIENT_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["status", "a"],
    &["start", "all"],
    &["stop", "all"],
    &["restart", "a"],
    &["signal", "TERM", "a"],
    &["pid"],
    &["pid", "a"],
    &["log", "a"],
    &["reload"],
    &["kill"],
];

/// The daemon and its program `a` are as they were: same pid, RUNNING.
fn assert_untouched(env: &Env, daemon: &mut Daemon, pid: i32) {
    assert!(daemon.exited().is_none(), "the daemon is gone; stderr:\n{}", daemon.stderr());
    let line = env.status_line("a");
    assert!(line.starts_with(&format!("[a] RUNNING pid: {pid} ")), "{line}");
}

#[test]
fn missing_config_is_an_error_for_every_client_command() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 600", ""));
    let mut daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    let missing = env.path("missing.conf");
    let want = format!("pman: {}: No such file or directory\n", missing.display());
    for args in CLIENT_COMMANDS {
        let out = pman_at(&missing, args);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (2, "", want.as_str()),
            "{args:?}: {out}"
        );
    }
    let mut cmd = pman_command();
    cmd.arg("status").env("PMAN_CONFIG", "/nope.conf");
    let out = run_bounded(cmd, secs(30.0));
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (2, "pman: /nope.conf: No such file or directory\n"),
        "{out}"
    );
    // A directory or a FIFO in its place is no config either.
    mkfifo(&env.path("fifo.conf"));
    for (path, what) in [(env.dir.clone(), "a directory"), (env.path("fifo.conf"), "a FIFO")] {
        let out = pman_at(&path, &["stop", "all"]);
        let want = format!("pman: {}: not a regular file ({what})\n", path.display());
        assert_eq!((out.code, out.stderr.as_str()), (2, want.as_str()), "{out}");
    }
    assert_untouched(&env, &mut daemon, pid);
}

/// In a network namespace of its own (abstract sockets belong to one), a
/// daemon on the default `@pman`: a client whose config is missing must
/// not fall back to it.
#[test]
fn missing_config_never_steers_the_default_daemon() {
    if !common::is_root() {
        skip!("needs root for a private network namespace");
    }
    // SAFETY: unshare(2) moves only this test's thread (and the processes it
    // spawns) into a new network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        skip!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
    }
    let env = Env::new();
    write_raw(&env.conf, &prog("a", "/bin/sleep 600", "").replace("$DIR", &env.dir_str()));
    let mut daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    assert!(Raw::connect("@pman").is_ok(), "the daemon is not on @pman");
    let missing = env.path("missing.conf");
    for args in [&["stop", "all"][..], &["kill"], &["signal", "KILL", "a"]] {
        let out = pman_at(&missing, args);
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert_untouched(&env, &mut daemon, pid);
    }
}

#[test]
fn errors_in_program_sections_never_stop_a_client() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 600", ""));
    let mut daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    env.write_config(&format!(
        "{}[program:b]\nstartsecs=soon\nthis is no ini line\n[program:c d]\n",
        prog("a", "/bin/sleep 600", "")
    ));
    let out = env.pman(&["status", "a"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.pman(&["reload"]);
    assert_eq!(out.code, 2, "the daemon validates the reload: {out}");
    assert!(out.stderr.contains("startsecs"), "{out}");
    assert_untouched(&env, &mut daemon, pid);
}

/// Spawns the daemon of a config written by hand and waits for `socket`.
fn daemon_on(env: &Env, socket: &str) -> Daemon {
    let mut daemon = Daemon::spawn(env);
    wait_until(secs(5.0), "the daemon listening", || {
        assert!(daemon.exited().is_none(), "the daemon exited; stderr:\n{}", daemon.stderr());
        Raw::connect(socket).is_ok()
    });
    daemon
}

#[test]
fn socket_set_in_an_included_file_is_the_clients_too() {
    let env = Env::new();
    write_raw(
        &env.conf,
        &format!(
            "[include]\nfiles = inc/*.conf\n{}",
            prog("a", "/bin/sleep 600", "").replace("$DIR", &env.dir_str())
        ),
    );
    write_raw(&env.path("inc/00-pman.conf"), &format!("[pman]\nsocket = {}\n", env.socket));
    let _daemon = daemon_on(&env, &env.socket);
    let pid = env.running_pid("a");
    let out = env.pman(&["pid", "a"]);
    assert_eq!((out.code, out.stdout.trim()), (0, pid.to_string().as_str()), "{out}");
}

#[test]
fn socket_expands_the_pman_environment() {
    let env = Env::new();
    let name = env.socket.trim_start_matches('@');
    write_raw(
        &env.conf,
        &format!(
            "[pman]\nenvironment = PMAN_SOCK_NAME=\"{name}\"\n[include]\nfiles = inc/*.conf\n{}",
            prog("a", "/bin/sleep 600", "").replace("$DIR", &env.dir_str())
        ),
    );
    write_raw(&env.path("inc/00-pman.conf"), "[pman]\nsocket = @%(ENV_PMAN_SOCK_NAME)s\n");
    let _daemon = daemon_on(&env, &env.socket);
    env.running_pid("a");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn an_invalid_socket_is_an_error_for_clients() {
    let env = Env::new();
    write_raw(&env.conf, "[pman]\nsocket = @%(ENV_PMAN_SURELY_UNSET)s\n");
    let out = env.pman(&["status"]);
    assert_eq!(out.code, 2, "{out}");
    let want = format!("pman: {}:2: [pman] socket: ", env.conf.display());
    assert!(out.stderr.starts_with(&want) && out.stderr.contains("PMAN_SURELY_UNSET"), "{out}");
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

/// `pman check` of `env.conf`: its warnings (without the `pman: warning: `
/// prefix), after asserting it passed.
fn check_warnings(env: &Env) -> Vec<String> {
    let out = check(env);
    assert_eq!(out.code, 0, "{out}");
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("pman: warning: "))
        .map(|l| l.strip_prefix(&format!("{}:", env.conf.display())).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn check_suggests_only_close_keys_and_names_other_supervisors_keys() {
    let env = Env::new();
    write_raw(
        &env.conf,
        "[program:a]\ncommand=/bin/true\nautorestrat=false\ndepend_on=b\nenvFiles=/etc/a.env\n\
         restart_when_binary_changed=true\nlogfile=/tmp/a.log\nstderr_syslog=true\nAuto_Start=yes\n\
         stdout_logfile=NONE\nredirect_stderr=true\nstderr_logfile=NONE\n\
         [fcgi-program:php]\ncommand=/usr/bin/php-cgi\n[ctlplugin:wildcards]\nsupervisor.ctl_factory=x\n",
    );
    assert_eq!(
        check_warnings(&env),
        [
            "3: [program:a] unknown key 'autorestrat' ignored (nearest known key: autorestart)",
            "4: [program:a] unknown key 'depend_on' ignored (nearest known key: depends_on)",
            "5: [program:a] envFiles is ochinchina/supervisord's, not supported by pman; ignored",
            "6: [program:a] restart_when_binary_changed is ochinchina/supervisord's, not supported by pman; ignored",
            "7: [program:a] logfile is matsune/pman's; pman: use stdout (and stderr); ignored",
            "8: [program:a] stderr_syslog is Supervisor's; pman: use stderr = syslog; ignored",
            "9: [program:a] unknown key 'Auto_Start' ignored (nearest known key: autostart)",
            "13: [fcgi-program:php] is Supervisor's FastCGI section: pman does not run its processes; ignored",
            "15: [ctlplugin:wildcards] is a Supervisor section pman does not use; ignored",
        ]
    );
}

#[test]
fn a_program_section_repeated_in_an_include_merges_with_a_warning() {
    let env = Env::new();
    write_raw(&env.conf, "[include]\nfiles = conf.d/*.conf\n[program:a]\ncommand=/bin/sleep 600\n");
    let inc = env.path("conf.d/a.conf");
    write_raw(&inc, "; local override\n[program:a]\ncommand=/bin/true\n");
    let out = check(&env);
    assert_eq!((out.code, out.stdout.as_str()), (0, "config OK: 1 programs\n"), "{out}");
    let want = format!(
        "pman: warning: {}:2: [program:a] appears again (first at {}:3); merged as Supervisor does, later \
         values winning\n",
        inc.display(),
        env.conf.display()
    );
    assert_eq!(out.stderr, want, "{out}");
}

#[test]
fn includes_glob_in_every_path_component_as_python_does() {
    let env = Env::new();
    let autostart_off = |name: &str| format!("[program:{name}]\ncommand=/bin/sleep 600\nautostart=false\n");
    env.write_config(&format!(
        "[include]\nfiles = common/*/*.ini conf.d/[0-9][0-9]-*.conf none/*.conf\n{}",
        autostart_off("main")
    ));
    for (file, name) in [
        ("common/b/x.ini", "bx"),
        ("common/a/y.ini", "ay"),
        ("common/a/x.ini", "ax"),
        ("common/.hidden/x.ini", "hidden"),
        ("conf.d/20-b.conf", "c20"),
        ("conf.d/10-a.conf", "c10"),
        ("conf.d/x-a.conf", "cx"),
    ] {
        write_raw(&env.path(file), &autostart_off(name));
    }
    let out = check(&env);
    assert_eq!((out.code, out.stdout.as_str()), (0, "config OK: 6 programs\n"), "{out}");
    let none = env.path("none/*.conf");
    assert_eq!(
        out.stderr,
        format!("pman: warning: {}:4: include {} matches no file\n", env.conf.display(), none.display()),
        "{out}"
    );
    // Config order: the main file's, then each pattern's files sorted.
    let _daemon = Daemon::start(&env);
    let out = env.pman(&["status"]);
    let names: Vec<&str> = out.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["[main]", "[ax]", "[ay]", "[bx]", "[c10]", "[c20]"], "{out}");
}

#[test]
fn supervisord_directory_and_umask_apply_unless_pman_sets_them() {
    let env = Env::new();
    fs::create_dir(env.path("work")).expect("mkdir");
    let report = "/bin/sh -c 'pwd > $DIR/where; umask >> $DIR/where; exec sleep 600'";
    env.write_config(&format!(
        "[supervisord]\ndirectory = $DIR/work\numask = 027\n{}{}",
        prog("a", report, ""),
        "[pman]\numask = 077\n"
    ));
    let _daemon = Daemon::start(&env);
    env.running_pid("a");
    wait_until(secs(5.0), "the program's report", || env.read("where").lines().count() == 2);
    assert_eq!(env.read("where"), format!("{}\n0077\n", env.path("work").display()));
}

#[test]
fn check_warns_when_the_daemons_own_files_have_no_directory() {
    let env = Env::new();
    env.write_config(&format!(
        "[pman]\nlogfile = $DIR/nolog/pman.log\npidfile = $DIR/norun/pman.pid\n{}",
        prog("a", "/bin/true", "")
    ));
    let dir = env.dir_str();
    assert_eq!(
        check_warnings(&env),
        [
            format!(
                "3: [pman] logfile directory {dir}/nolog does not exist (the daemon would log to syslog)"
            ),
            format!("4: [pman] pidfile directory {dir}/norun does not exist"),
        ]
    );
    fs::create_dir(env.path("nolog")).expect("mkdir");
    fs::create_dir(env.path("norun")).expect("mkdir");
    assert_eq!(check_warnings(&env), Vec::<String>::new());
}

/// As root, an included file that someone else could edit is skipped by
/// clients as by the daemon: it never chooses the socket.
#[test]
fn an_include_the_root_rule_refuses_never_chooses_the_socket() {
    if !common::is_root() {
        skip!("the ownership rule applies to root only");
    }
    let env = Env::new();
    env.write_config(&format!("[include]\nfiles = inc/*.conf\n{}", prog("a", "/bin/sleep 600", "")));
    let inc = env.path("inc/99-other.conf");
    write_raw(&inc, "[pman]\nsocket = @pman-surely-not-this-one\n");
    fs::set_permissions(&inc, fs::Permissions::from_mode(0o666)).expect("chmod");
    // No daemon runs: the error names the socket the client chose.
    let out = env.pman(&["pid"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stderr, format!("pman: daemon not running ({})\n", env.socket), "{out}");
    fs::set_permissions(&inc, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = env.pman(&["pid"]);
    assert_eq!(out.stderr, "pman: daemon not running (@pman-surely-not-this-one)\n", "{out}");
    fs::set_permissions(&inc, fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = check(&env);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(&format!("pman: {}: writable by everyone", inc.display())), "{out}");
}

/// A reload (SIGHUP) finds a FIFO where the config was: refused at once,
/// and the daemon goes on serving with its old config.
#[test]
fn a_reload_from_a_fifo_is_refused_without_waiting() {
    let env = Env::new();
    env.write_config(&prog("a", "/bin/sleep 600", ""));
    let mut daemon = Daemon::start(&env);
    let pid = env.running_pid("a");
    fs::remove_file(&env.conf).expect("rm config");
    mkfifo(&env.conf);
    // A client cannot even learn the socket from it.
    let out = env.pman(&["reload"]);
    let want = format!("pman: {}: not a regular file (a FIFO)\n", env.conf.display());
    assert_eq!((out.code, out.stderr.as_str()), (2, want.as_str()), "{out}");
    daemon.signal(libc::SIGHUP);
    wait_until(secs(5.0), "the refused reload in the daemon's log", || {
        daemon.stderr().contains("not a regular file (a FIFO)")
    });
    let mut raw = Raw::connect(&env.socket).expect("connect");
    raw.send(b"status a\n").expect("send");
    let (reply, eof) = raw.read_to_end(secs(5.0));
    let text = String::from_utf8_lossy(&reply);
    assert!(eof && text.starts_with(&format!(">[a] RUNNING pid: {pid} ")), "{text:?}");
    assert!(daemon.exited().is_none(), "{}", daemon.stderr());
}
