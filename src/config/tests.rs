//! Whole-config tests: text in, `Config` or `FILE:LINE` messages out.

use super::*;
use crate::path::FilePath as PathBuf;
use std::path::Path;

/// A command's arguments, to compare.
fn args(argv: &Argv) -> Vec<&str> {
    argv.iter().map(|a| std::str::from_utf8(a).unwrap()).collect()
}

/// [`super::load`] of a std path (the tests make their files with std).
fn load(path: impl AsRef<Path>) -> Report {
    use std::os::unix::ffi::OsStrExt;
    super::load(path.as_ref().as_os_str().as_bytes())
}

fn socket_name(path: impl AsRef<Path>) -> Result<String, String> {
    use std::os::unix::ffi::OsStrExt;
    super::socket_name(path.as_ref().as_os_str().as_bytes())
}

fn parse(text: &str) -> Report {
    parse_text(text, "/etc/pman/pman.conf".as_bytes())
}

fn config(text: &str) -> Config {
    let report = parse(text);
    match report.result {
        Ok(config) => config,
        Err(errors) => panic!("{errors:#?}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse(text).result {
        Ok(_) => panic!("no error for {text}"),
        Err(errors) => errors,
    }
}

/// Writes a test config readable as root whatever the umask.
fn write(path: impl AsRef<Path>, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::write(&path, text);
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
}

fn file(path: &str) -> LogTarget {
    LogTarget::File(PathBuf::from(path))
}

#[test]
fn seed_example_loads_with_port_warning() {
    let report = parse(
        "[pman]\npidfile=/tmp/pman.pid ; pman daemon's pidfile\nlogfile=/tmp/pman.log ; x\n\
         port=127.0.0.1:50010 ; gRPC server port\ndirectory=/tmp ; default is current dir\n\
         [program:ls]\ncommand=/bin/ls ; program command\nstdout=/tmp/sample_stdout.log ; x\n\
         stderr=/tmp/sample_stderr.log ; x\nautorestart=true ; x\nautostart=true ; x\n",
    );
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].starts_with("/etc/pman/pman.conf:4: ") && report.warnings[0].contains("port"));
    let c = report.result.expect("seed loads");
    assert_eq!(c.pidfile, Some(PathBuf::from("/tmp/pman.pid")));
    assert_eq!(c.logfile, Some(PathBuf::from("/tmp/pman.log")));
    let p = &c.programs[0];
    assert_eq!((p.name.as_str(), args(&p.argv)), ("ls", vec!["/bin/ls"]));
    assert_eq!(p.limits.directory, Some(PathBuf::from("/tmp")));
    assert_eq!(
        (p.stdout.clone(), p.stderr.clone()),
        (file("/tmp/sample_stdout.log"), file("/tmp/sample_stderr.log"))
    );
}

#[test]
fn defaults() {
    let c = config("[program:web]\ncommand=httpd -f\n");
    assert_eq!(c.path, PathBuf::from("/etc/pman/pman.conf"));
    assert_eq!((c.pidfile.clone(), c.logfile.clone()), (None, None));
    assert_eq!((c.logfile_maxbytes, c.logfile_backups), (256 * 1024, 1));
    assert_eq!((c.socket.as_str(), c.syslog_socket.clone()), ("@pman", PathBuf::from("/dev/log")));
    let p = &c.programs[0];
    let expected = ProgramConfig {
        name: "web".into(),
        section: None,
        argv: shlex::split("httpd -f").unwrap(),
        autostart: true,
        autorestart: AutoRestart::Always,
        startsecs: 1,
        startretries: None,
        backoff: 1,
        backoff_max: 60,
        backoff_reset: 60,
        ready: Ready::Startsecs,
        ready_timeout: 60,
        stopsignal: libc::SIGTERM,
        stopwaitsecs: 10,
        killasgroup: true,
        priority: 999,
        stdout: file("/tmp/web_stdout.log"),
        stderr: file("/tmp/web_stderr.log"),
        redirect_stderr: false,
        stdout_maxbytes: 256 * 1024,
        stderr_maxbytes: 256 * 1024,
        stdout_backups: 1,
        stderr_backups: 1,
        limits: Default::default(),
    };
    assert_eq!(p, &expected);
}

#[test]
fn limits_hold_a_block_only_when_they_differ_from_the_defaults() {
    let c = config(
        "[program:a]\ncommand=x\n[program:b]\ncommand=x\nnice=5\n\
         [program:c]\ncommand=x\nhealthcheck_interval=30\nno_new_privs=false\n",
    );
    let [a, b, c] = &c.programs[..] else { panic!("three programs") };
    assert!(a.limits.0.is_none() && c.limits.0.is_none());
    assert_eq!(b.limits.0.as_deref().map(|l| l.nice), Some(Some(5)));
    assert_eq!((a.limits.healthcheck_interval, b.limits.healthcheck_interval), (30, 30));
    assert_eq!(a.limits, c.limits);
    assert_ne!(a.limits, b.limits);
}

#[test]
fn every_key() {
    let c = config(
        "[program:x]\ncommand=a\numask=027\nuser=1000:1000\nautostart=no\nautorestart=unexpected\n\
         exitcodes=0, 2\nstartsecs=0\nstartretries=3\nbackoff=0\nbackoff_max=0\nstopsignal=SIGHUP\n\
         stopwaitsecs=2\nkillasgroup=off\npriority=-5\nredirect_stderr=1\nstdout_maxbytes=1 MB\n\
         stderr_logfile_maxbytes=0\nstdout_backups=3\nstderr_logfile_backups=0\n",
    );
    let p = &c.programs[0];
    assert_eq!(
        (p.limits.umask, p.limits.user.as_deref(), p.autostart),
        (Some(0o27), Some("1000:1000"), false)
    );
    assert_eq!((p.autorestart, p.limits.exitcodes), (AutoRestart::Unexpected, ExitCodes::ZERO.with(2)));
    assert_eq!((p.startsecs, p.startretries, p.backoff, p.backoff_max), (0, Some(3), 0, 0));
    assert_eq!((p.stopsignal, p.stopwaitsecs, p.killasgroup, p.priority), (libc::SIGHUP, 2, false, -5));
    assert!(p.redirect_stderr);
    assert_eq!(
        (p.stdout_maxbytes, p.stderr_maxbytes, p.stdout_backups, p.stderr_backups),
        (1 << 20, 0, 3, 0)
    );
}

#[test]
fn aliases_later_line_wins() {
    let c =
        config("[program:x]\ncommand=a\nkillasgroup=false\nstopasgroup=true\nstdout=/a\nstdout_logfile=/b\n");
    assert!(c.programs[0].killasgroup);
    assert_eq!(c.programs[0].stdout, file("/b"));
    let c = config("[program:x]\ncommand=a\nstopasgroup=true\nkillasgroup=no\n");
    assert!(!c.programs[0].killasgroup);
}

#[test]
fn log_targets_and_paths() {
    let c = config(
        "[pman]\npidfile=run/p.pid\nlogfile=NONE\nsocket=ctl.sock\n\
         [program:x]\ncommand=a\nstdout=SysLog\nstderr=None\ndirectory=~\n\
         [program:y]\ncommand=a\nstdout=Auto\nstderr=log/y.err\n",
    );
    assert_eq!(c.pidfile, Some(PathBuf::from("/etc/pman/run/p.pid")));
    assert_eq!(c.logfile, None);
    assert_eq!(c.socket, "/etc/pman/ctl.sock");
    let (x, y) = (&c.programs[0], &c.programs[1]);
    assert_eq!((x.stdout.clone(), x.stderr.clone()), (LogTarget::Syslog, LogTarget::None));
    assert_eq!(x.limits.directory, Some(PathBuf::from(host::own_home())));
    assert_eq!(
        (y.stdout.clone(), y.stderr.clone()),
        (file("/tmp/y_stdout.log"), file("/etc/pman/log/y.err"))
    );
}

#[test]
fn pman_inheritance_and_environment() {
    let c = config(
        "[supervisord]\nenvironment=A=1,B=\"x, y\"\n[pman]\ndirectory=/srv\numask=027\nenvironment=B=2\n\
         [program:x]\ncommand=echo %(ENV_A)s %(ENV_B)s\nenvironment=C=3,A=4\n\
         [program:y]\ncommand=b\ndirectory=/opt\numask=077\n",
    );
    let (x, y) = (&c.programs[0], &c.programs[1]);
    assert_eq!(args(&x.argv), ["echo", "1", "2"]);
    let env: Vec<(&str, &str)> = x.limits.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("A", "4"), ("B", "2"), ("C", "3")]);
    assert_eq!((x.limits.directory.clone(), x.limits.umask), (Some(PathBuf::from("/srv")), Some(0o27)));
    assert_eq!((y.limits.directory.clone(), y.limits.umask), (Some(PathBuf::from("/opt")), Some(0o77)));
}

#[test]
fn supervisord_globals_and_note() {
    let report = parse(
        "[supervisord]\nlogfile=/var/log/s.log\nlogfile_maxbytes=50MB\nlogfile_backups=10\npidfile=s.pid\n\
         nodaemon=true\n[pman]\npidfile=/run/pman.pid\n",
    );
    assert_eq!(report.notes.len(), 1);
    assert!(report.notes[0].contains("startretries=infinite"));
    assert!(report.warnings.iter().any(|w| w.starts_with("/etc/pman/pman.conf:1: [supervisord]")));
    let c = report.result.expect("loads");
    assert_eq!(c.logfile, Some(PathBuf::from("/var/log/s.log")));
    assert_eq!((c.logfile_maxbytes, c.logfile_backups), (50 << 20, 10));
    assert_eq!(c.pidfile, Some(PathBuf::from("/run/pman.pid")));
}

#[test]
fn numprocs_names_and_order() {
    let c = config(
        "[program:w]\ncommand=srv --port 51%(process_num)02d\nnumprocs=3\nnumprocs_start=1\n\
         process_name=%(program_name)s_%(process_num)02d\n[program:z]\ncommand=z\n",
    );
    let names: Vec<&str> = c.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w_01", "w_02", "w_03", "z"]);
    assert_eq!(args(&c.programs[2].argv), ["srv", "--port", "5103"]);
    assert_eq!(c.programs[2].group(), "w");
    assert_eq!(c.programs[2].stdout, file("/tmp/w_03_stdout.log"));
}

#[test]
fn repeated_section_keeps_first_position() {
    let c = config("[program:a]\ncommand=one\n[program:b]\ncommand=b\n[program:a]\ncommand=two\n");
    let names: Vec<&str> = c.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(args(&c.programs[0].argv), ["two"]);
}

#[test]
fn continuation_lines_split_as_spaces() {
    let c = config("[program:a]\ncommand=/bin/sh -c \"\n  echo one\n  echo two\"\n    --flag\n");
    assert_eq!(args(&c.programs[0].argv), ["/bin/sh", "-c", "\necho one\necho two", "--flag"]);
}

#[test]
fn warnings_name_key_and_nearest() {
    let report = parse(
        "[program:a]\ncommand=x\nauto_start=true\nserverurl=AUTO\nstdout_events_enabled=1\n\
         [programs:b]\n[group:g]\nprograms=a\n[include]\nfile=x\n",
    );
    assert!(report.warnings.iter().all(|w| !w.contains("nearest: [") || w.contains("[program:b]")));
    let w = &report.warnings;
    assert!(
        w[0].starts_with("/etc/pman/pman.conf:3: ")
            && w[0].contains("'auto_start'")
            && w[0].contains("autostart")
    );
    assert!(w[1].contains(":4: ") && w[1].contains("serverurl"));
    assert!(w[2].contains(":5: ") && w[2].contains("stdout_events_enabled"));
    assert!(w[3].contains(":6: ") && w[3].contains("[program:b]"));
    assert!(w[4].contains(":7: ") && w[4].contains("[group:g]"));
    assert!(w[5].contains(":9: ") && w[5].contains("[include] has no files= key"));
    assert!(w[6].contains(":10: ") && w[6].contains("files"));
    assert_eq!(w.len(), 7, "{w:?}");
    assert!(report.result.is_ok());
}

#[test]
fn every_error_in_file_order() {
    let errs = errors(
        "[program:a]\ncommand=x\nstartsecs=-1\nexitcodes=0,x\nstopsignal=QUIT  ; c\n\
         stopsignal=NOPE\n[program:b]\nautostart=maybe\nnumprocs=2\n[program:c d]\ncommand=x\n\
         [program:e]\ncommand='open\nstdout_maxbytes=1 TB\n[pman]\numask=9\nsocket=@\n",
    );
    let at: Vec<&str> = errs.iter().map(|e| e.split(' ').next().unwrap_or("")).collect();
    assert_eq!(
        at,
        [
            "/etc/pman/pman.conf:3:",
            "/etc/pman/pman.conf:4:",
            "/etc/pman/pman.conf:6:",
            "/etc/pman/pman.conf:7:",
            "/etc/pman/pman.conf:8:",
            "/etc/pman/pman.conf:9:",
            "/etc/pman/pman.conf:10:",
            "/etc/pman/pman.conf:13:",
            "/etc/pman/pman.conf:14:",
            "/etc/pman/pman.conf:16:",
            "/etc/pman/pman.conf:17:",
        ],
        "{errs:#?}"
    );
    assert!(errs[0].contains("startsecs") && errs[0].contains("'-1'"));
    assert!(errs[3].contains("command is required"));
}

#[test]
fn expansion_errors() {
    let e = errors("[program:a]\ncommand=echo 100%\n");
    assert!(e[0].starts_with("/etc/pman/pman.conf:2: [program:a] command:") && e[0].contains("%%"));
    let e = errors("[program:a]\ncommand=%(ENV_PMAN_TEST_SURELY_UNSET)s\n");
    assert!(e[0].contains("PMAN_TEST_SURELY_UNSET is not set"));
    let e = errors("[program:a]\ncommand=%(nope)s\n");
    assert!(e[0].contains("unknown name %(nope)"));
    let c = config("[program:a]\ncommand=celery --hostname 'main@%%h' %(here)s %(group_name)s\n");
    assert_eq!(args(&c.programs[0].argv), ["celery", "--hostname", "main@%h", "/etc/pman", "a"]);
}

#[test]
fn duplicate_process_names() {
    let e = errors("[program:a]\ncommand=x\n[program:b]\ncommand=x\nprocess_name=a\n");
    assert!(
        e[0].starts_with("/etc/pman/pman.conf:3:") && e[0].contains("'a' is already used by [program:a]")
    );
}

#[test]
fn numprocs_needs_process_num() {
    let e = errors("[program:a]\ncommand=x\nnumprocs=2\n");
    assert!(e[0].contains("%(process_num)"));
    let e = errors("[program:a]\ncommand=x\nnumprocs=0\n");
    assert!(e[0].contains("numprocs"));
}

#[test]
fn user_forms() {
    for ok in ["root", "0", "0:0", "nobody"] {
        config(&format!("[program:a]\ncommand=x\nuser={ok}\n"));
    }
    for bad in ["a:b", "1:", "two words"] {
        errors(&format!("[program:a]\ncommand=x\nuser={bad}\n"));
    }
}

#[test]
fn socket_name_reads_only_pman_socket() {
    let dir = std::env::temp_dir().join(format!("pman-config-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("socket.conf");
    let ok = |s: &str| Ok(s.to_string());
    write(&path, "[program:a]\nbroken\n[pman]\nsocket = @other ; c\n");
    assert_eq!(socket_name(&path), ok("@other"));
    // A [pman] section re-opened later wins; other sections never count.
    write(&path, "[pman]\nsocket=@first\n[program:b]\nsocket=@no\n[pman] ; again\nsocket=@second\n");
    assert_eq!(socket_name(&path), ok("@second"));
    // An indented header continues the value before it, for the daemon too.
    let text = "[pman]\nsocket=@first\n[program:b]\ncommand=x\n [pman] ; again\nsocket=@second\n";
    write(&path, text);
    assert_eq!(socket_name(&path), ok("@first"));
    assert_eq!(parse(text).result.map(|c| c.socket).ok().as_deref(), Some("@first"));
    write(&path, "[pman]\nlogfile=/tmp/x\n[program:b]\nsocket=@no\n");
    assert_eq!(socket_name(&path), ok(DEFAULT_SOCKET));
    // A relative path is relative to the file's directory; ENV_ sees [pman] environment.
    write(&path, "[pman]\nenvironment=S=\"ctl\"\nsocket=run/%(ENV_S)s.sock\n");
    assert_eq!(socket_name(&path), Ok(dir.join("run/ctl.sock").display().to_string()));
    // Included files count, in reading order; broken programs there do not matter.
    write(&path, "[include]\nfiles=inc/*.conf\n[pman]\nsocket=@main\n");
    let _ = std::fs::create_dir_all(dir.join("inc"));
    write(dir.join("inc/00-pman.conf"), "[program:x]\nstartsecs=bad\n[pman]\nsocket=@inc\n");
    assert_eq!(socket_name(&path), ok("@inc"));
    // Errors: as the daemon reports them.
    write(&path, "[pman]\nsocket=@%(ENV_PMAN_TEST_SURELY_UNSET)s\n");
    let err = socket_name(&path).err().unwrap_or_default();
    assert!(err.starts_with(&format!("{}:2: [pman] socket: ", path.display())), "{err}");
    assert_eq!(
        socket_name(dir.join("missing.conf")),
        Err(format!("{}: No such file or directory", dir.join("missing.conf").display()))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn includes_are_sorted_relative_and_merge() {
    let dir = std::env::temp_dir().join(format!("pman-config-inc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("conf.d"));
    let main = dir.join("main.conf");
    let _ =
        std::fs::write(&main, "[include]\nfiles = conf.d/*.conf extra/*.ini\n[program:main]\ncommand=x\n");
    write(dir.join("conf.d/b.conf"), "[program:b]\ncommand=x\n[program:main]\npriority=5\n");
    write(dir.join("conf.d/a.conf"), "[program:a]\ncommand=x\nbogus=1\n");
    write(dir.join("conf.d/c.txt"), "[program:c]\ncommand=x\n");
    let report = load(&main);
    let _ = std::fs::remove_dir_all(&dir);
    let c = report.result.expect("loads");
    let names: Vec<&str> = c.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["main", "a", "b"]);
    assert_eq!(c.programs[0].priority, 5);
    let a = dir.join("conf.d/a.conf");
    assert!(report.warnings.iter().any(|w| w.starts_with(&format!("{}:3: ", a.display()))));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains(":2: include") && w.contains("extra/*.ini matches no file")));
}

#[test]
fn include_loops_and_missing_files() {
    let dir = std::env::temp_dir().join(format!("pman-config-loop-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let main = dir.join("main.conf");
    write(&main, "[include]\nfiles=main.conf\n[program:a]\ncommand=x\n");
    let report = load(&main);
    assert_eq!(report.result.map(|c| c.programs.len()).ok(), Some(1));
    let report = load(dir.join("none.conf"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        report.result.err(),
        Some(vec![format!("{}: No such file or directory", dir.join("none.conf").display())])
    );
}

#[test]
fn a_file_under_another_name_is_already_read() {
    let dir = std::env::temp_dir().join(format!("pman-config-alias-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let main = dir.join("main.conf");
    write(&main, "[include]\nfiles=*.ini\n[program:a]\ncommand=/bin/sh\n");
    write(dir.join("b.ini"), "[program:b]\ncommand=/bin/sh\n");
    // A hard link and a symlink to files already read, and a dangling symlink twice.
    let _ = std::fs::hard_link(dir.join("b.ini"), dir.join("c.ini"));
    let _ = std::os::unix::fs::symlink(&main, dir.join("d.ini"));
    let _ = std::os::unix::fs::symlink(dir.join("none"), dir.join("e.ini"));
    write(dir.join("f.ini"), "[include]\nfiles=e.ini\n");
    let report = load(&main);
    let _ = std::fs::remove_dir_all(&dir);
    let again = |at: &str, name: &str| {
        format!(
            "{}:2: {} is already read; not included again",
            dir.join(at).display(),
            dir.join(name).display()
        )
    };
    // f.ini includes e.ini again: one error, then a warning.
    assert_eq!(
        report.warnings,
        [again("main.conf", "c.ini"), again("main.conf", "d.ini"), again("f.ini", "e.ini")]
    );
    assert_eq!(
        report.result.err(),
        Some(vec![format!("{}: No such file or directory", dir.join("e.ini").display())])
    );
}

#[test]
fn thousands_of_programs_load_fast() {
    // Sorted lookups, not a scan per program: 5,000 programs, each section
    // repeated once, build in well under a second (generous on a slow machine).
    let mut text = String::from("[pman]\nsocket=@many\n");
    for i in 0..5000 {
        text.push_str(&format!("[program:p{i}]\ncommand=/bin/sleep 1000\nstdout=/tmp/many/p{i}.log\n"));
    }
    for i in 0..5000 {
        text.push_str(&format!("[program:p{i}]\npriority={i}\n"));
    }
    let started = std::time::Instant::now();
    let report = parse(&text);
    let elapsed = started.elapsed();
    assert_eq!(report.result.map(|c| c.programs.len()).ok(), Some(5000));
    assert_eq!(report.warnings.len(), 5000);
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn root_refuses_writable_files() {
    if host::euid() != Some(0) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pman-config-root-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let main = dir.join("main.conf");
    write(&main, "[program:a]\ncommand=x\n");
    let _ = std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o664));
    let errors = load(&main).result.err().unwrap_or_default();
    assert!(errors.first().is_some_and(|e| e.contains("writable")), "{errors:?}");
    let _ = std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o644));
    assert!(load(&main).result.is_ok());
    let _ = std::os::unix::fs::chown(&main, Some(1000), None);
    let errors = load(&main).result.err().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(errors.first().is_some_and(|e| e.contains("owned by uid 1000")), "{errors:?}");
}

#[test]
fn hostile_input_never_panics() {
    let samples = [
        "", "[", "]", "[]", "=", ":", "[a]\n=", "[program:]\n", "[program:a]\ncommand=%", "[program:a]\ncommand=%(",
        "[program:a]\ncommand=%()s", "[program:a]\ncommand=%(process_num)-0+ 5.3d", "[program:a]\nnumprocs=4294967295\n",
        "[program:a]\ncommand=x\nnumprocs=2\nnumprocs_start=4294967295\nprocess_name=%(process_num)d",
        "[program:a]\nenvironment=\"\nx", "\u{feff}[pman]\nsocket=@\u{0}", "[pman]\nsocket=@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "[program:é]\ncommand=é\n  \u{2003}x", "[a]\n\u{2003}k=v\n \u{2003}c", "[program:a]\ncommand=\\",
        "[program:a]\nstdout_maxbytes=99999999999999999999", "[program:a]\nexitcodes=", "[include]\nfiles=/*/x",
    ];
    for s in samples {
        let _ = parse(s);
    }
}

/// Random configs built from the tokens that matter; nothing may panic.
/// `PMAN_CONFIG_FUZZ_ROUNDS` raises the count for a longer local run.
#[test]
fn random_configs_never_panic() {
    const TOKENS: &[&str] = &[
        "[program:a]",
        "[program:b]",
        "[pman]",
        "[supervisord]",
        "[include]",
        "[",
        "]",
        "\n",
        "\n  ",
        " ",
        "\t",
        "=",
        ":",
        ";",
        " ;",
        " #",
        "#",
        "%",
        "%%",
        "%(",
        ")",
        "s",
        "d",
        "02",
        "-",
        "%(program_name)s",
        "%(process_num)02d",
        "%(ENV_HOME)s",
        "%(here)s",
        "'",
        "\"",
        "\\",
        ",",
        "command",
        "numprocs",
        "process_name",
        "environment",
        "stdout",
        "user",
        "umask",
        "socket",
        "files",
        "exitcodes",
        "1",
        "0",
        "4294967296",
        "KB",
        "@",
        "~",
        "/",
        "AUTO",
        "none",
        "é",
        "\u{2003}",
        "\r\n",
    ];
    let rounds =
        std::env::var("PMAN_CONFIG_FUZZ_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(3000u32);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..rounds {
        let mut text = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = seed % 60;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(TOKENS.get((seed % TOKENS.len() as u64) as usize).copied().unwrap_or(""));
        }
        let _ = parse(&text);
        let _ = shlex::split(&text);
        let _ = values::environment(&text);
    }
}

#[test]
fn disk_warnings_from_load() {
    let dir = std::env::temp_dir().join(format!("pman-config-disk-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let main = dir.join("main.conf");
    write(
        &main,
        "[program:a]\ncommand=pman-surely-missing-cmd\nstdout=/nonexistent-dir/a.log\nstdout_maxbytes=1KB\n\
         [program:b]\ncommand=/nonexistent/bin\ndirectory=/nonexistent-dir\nuser=pman-no-such-user\n\
         stdout=/nonexistent-dir/a.log\n[program:c]\ncommand=sh\n",
    );
    let report = load(&main);
    let _ = std::fs::remove_dir_all(&dir);
    let w = report.warnings.join("\n");
    let at = |line: usize, text: &str| {
        report
            .warnings
            .iter()
            .any(|x| x.starts_with(&format!("{}:{line}: ", main.display())) && x.contains(text))
    };
    assert!(at(2, "pman-surely-missing-cmd is not found in PATH"), "{w}");
    assert!(at(3, "log directory /nonexistent-dir does not exist"), "{w}");
    assert!(at(6, "/nonexistent/bin is not an executable file"), "{w}");
    assert!(at(7, "directory /nonexistent-dir does not exist"), "{w}");
    assert!(at(8, "user 'pman-no-such-user' is unknown"), "{w}");
    assert!(at(9, "is also the stdout of a"), "{w}");
    assert_eq!(report.warnings.len(), 7, "{w}");
    assert_eq!(report.result.map(|c| c.programs.len()).ok(), Some(3));
}

#[test]
fn messages_quoting_continued_values_stay_one_line() {
    // Found by fuzzing: a continuation line went into the message verbatim,
    // splitting one error over two lines (and two `reload` reply lines).
    let errors = errors("[supervisord]\nlogfile_maxbytes=50MB\n  \"\n");
    assert_eq!(
        errors,
        [
            r#"/etc/pman/pman.conf:2: [supervisord] logfile_maxbytes: '50MB\n"' is not a size (a number, optionally followed by KB, MB or GB)"#
        ]
    );
}

#[test]
fn hints_only_when_close_and_words_for_other_supervisors() {
    let report = parse(
        "[program:a]\ncommand=x\nautorestrat=true\ndepend_on=b\nenvFiles=/etc/env\nlogfile=/tmp/a.log\n\
         stdout_syslog=true\nRestartPause=3\nStartSecs=1\n[pman]\nSockt=@x\nfoo=1\n[fcgi-program:php]\n\
         command=x\n[ctlplugin:wildcards]\nx=1\n[services]\n[program-default]\n",
    );
    let w = &report.warnings;
    let at = |line: usize| {
        let prefix = format!("/etc/pman/pman.conf:{line}: ");
        w.iter().find(|x| x.starts_with(&prefix)).cloned().unwrap_or_default()
    };
    assert_eq!(at(3), "/etc/pman/pman.conf:3: [program:a] unknown key 'autorestrat' ignored (nearest known key: autorestart)");
    assert_eq!(
        at(4),
        "/etc/pman/pman.conf:4: [program:a] unknown key 'depend_on' ignored (nearest known key: depends_on)"
    );
    assert!(at(5).contains("envFiles is ochinchina/supervisord's, not supported by pman"), "{w:#?}");
    assert!(at(6).contains("logfile is matsune/pman's; pman: use stdout"), "{w:#?}");
    assert!(at(7).contains("stdout_syslog is Supervisor's; pman: use stdout = syslog"), "{w:#?}");
    assert!(at(8).contains("RestartPause is ochinchina"), "{w:#?}");
    assert_eq!(at(9), "", "a known key in any case is no warning");
    assert!(at(11).contains("'Sockt'") && at(11).contains("nearest known key: socket"), "{w:#?}");
    assert!(at(12).ends_with("unknown key 'foo' ignored"), "{w:#?}");
    assert!(at(13).contains("[fcgi-program:php]") && at(13).contains("does not run its processes"), "{w:#?}");
    assert!(at(15).contains("[ctlplugin:wildcards] is a Supervisor section"), "{w:#?}");
    assert_eq!(at(17), "/etc/pman/pman.conf:17: unknown section [services] ignored");
    assert!(at(18).contains("[program-default] is ochinchina/supervisord's"), "{w:#?}");
    assert_eq!(w.len(), 12, "{w:#?}");
    // A bad value names the key as written, too.
    let e = errors("[program:a]\ncommand=x\nStartSecs=soon\n");
    assert!(e[0].contains("[program:a] StartSecs:"), "{e:?}");
}

#[test]
fn redirect_stderr_warns_only_about_a_stderr_log_it_ignores() {
    for quiet in ["", "stderr_logfile=NONE\n", "stderr_logfile=none\n", "stderr_logfile=AUTO\n"] {
        let report =
            parse(&format!("[program:a]\ncommand=x\nstdout_logfile=NONE\nredirect_stderr=true\n{quiet}"));
        assert!(report.warnings.is_empty(), "{quiet}: {:?}", report.warnings);
    }
    let report = parse("[program:a]\ncommand=x\nredirect_stderr=true\nstderr_logfile=/tmp/e.log\n");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains(":4: [program:a] stderr_logfile is ignored with redirect_stderr=true")
    );
}

#[test]
fn repeated_program_section_warns_naming_both_places() {
    let report =
        parse("[program:a]\ncommand=one\n[program:b]\ncommand=b\n[program:a]\ncommand=two\n[pman]\n[pman]\n");
    assert_eq!(
        report.warnings,
        ["/etc/pman/pman.conf:5: [program:a] appears again (first at /etc/pman/pman.conf:1); merged as \
          Supervisor does, later values winning"]
    );
    assert_eq!(args(&report.result.expect("loads").programs[0].argv), ["two"]);
}

#[test]
fn supervisord_directory_and_umask_pman_winning() {
    let c = config("[supervisord]\ndirectory=/srv\numask=077\n[program:a]\ncommand=x\n");
    assert_eq!(
        (c.programs[0].limits.directory.clone(), c.programs[0].limits.umask),
        (Some(PathBuf::from("/srv")), Some(0o77))
    );
    let c =
        config("[supervisord]\ndirectory=/srv\numask=077\n[pman]\ndirectory=/opt\n[program:a]\ncommand=x\n");
    assert_eq!(
        (c.programs[0].limits.directory.clone(), c.programs[0].limits.umask),
        (Some(PathBuf::from("/opt")), Some(0o77))
    );
    let e = errors("[supervisord]\numask=9\n");
    assert!(e[0].starts_with("/etc/pman/pman.conf:2: [supervisord] umask:"), "{e:?}");
}

#[test]
fn missing_directories_of_the_daemons_own_files_warn() {
    let dir = std::env::temp_dir().join(format!("pman-config-own-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let main = dir.join("main.conf");
    write(
        &main,
        "[pman]\nlogfile=/nonexistent-pman/d.log\npidfile=/nonexistent-run/p.pid\n[program:a]\ncommand=sh\n",
    );
    let report = load(&main);
    write(&main, "[pman]\nlogfile=d.log\npidfile=/tmp/p.pid\n");
    let fine = load(&main);
    let _ = std::fs::remove_dir_all(&dir);
    let want = [
        format!("{}:2: [pman] logfile directory /nonexistent-pman does not exist (the daemon would log to syslog)", main.display()),
        format!("{}:3: [pman] pidfile directory /nonexistent-run does not exist", main.display()),
    ];
    assert_eq!(report.warnings, want);
    assert!(report.result.is_ok());
    assert_eq!(fine.warnings, Vec::<String>::new());
}

#[test]
fn a_quoted_multi_line_value_stays_one_line() {
    assert_eq!(one_line("a\nb\r\nc"), "a\\nb\\r\\nc");
    assert_eq!(one_line("é plain"), "é plain");
}

#[test]
fn a_dependency_cycle_is_named_from_each_section_on_it() {
    let errs = errors(
        "[program:a]\ncommand=a\ndepends_on=b\n[program:b]\ncommand=b\ndepends_on=c\n\
         [program:c]\ncommand=c\ndepends_on=d, a\n[program:d]\ncommand=d\n[program:e]\ncommand=e\ndepends_on=a\n",
    );
    assert_eq!(
        errs,
        [
            "/etc/pman/pman.conf:3: [program:a] depends_on: cycle a -> b -> c -> a",
            "/etc/pman/pman.conf:6: [program:b] depends_on: cycle b -> c -> a -> b",
            "/etc/pman/pman.conf:9: [program:c] depends_on: cycle c -> a -> b -> c",
        ]
    );
}

#[test]
fn a_stream_sharing_a_file_takes_the_first_streams_cap() {
    let report = parse(
        "[program:p1]\ncommand=x\nstdout=/tmp/x.log\nstdout_maxbytes=0\n\
         [program:p2]\ncommand=x\nstdout=/tmp/x.log\nstdout_maxbytes=1KB\nstdout_backups=3\n\
         [program:q1]\ncommand=x\nstdout=/tmp/y.log\nstdout_maxbytes=1KB\n\
         [program:q2]\ncommand=x\nstdout=/tmp//y.log\nstdout_maxbytes=0\n\
         [program:r]\ncommand=x\nstdout=/tmp/z.log\nstderr=/tmp/z.log\nstderr_maxbytes=0\n",
    );
    assert_eq!(report.warnings.len(), 3, "{:?}", report.warnings);
    let config = report.result.expect("valid");
    let limits: Vec<(u64, u32, u64, u32)> = config
        .programs
        .iter()
        .map(|p| (p.stdout_maxbytes, p.stdout_backups, p.stderr_maxbytes, p.stderr_backups))
        .collect();
    let default = 256 << 10;
    assert_eq!(limits[1].0, 0, "p2 takes p1's unbounded file");
    assert_eq!(limits[1].1, 1, "p2 takes p1's backups");
    assert_eq!(limits[3].0, 1024, "q2 takes q1's cap");
    assert_eq!(limits[4], (default, 1, default, 1), "r's stderr takes its stdout's cap");
}
