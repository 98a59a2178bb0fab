//! `pman check` as a user runs it: config files written to a temp dir, the
//! real binary, its exit code, stdout and stderr.
//!
//! `PMAN_BIN` overrides the binary; `PMAN_RUNNER` (e.g. `qemu-mipsel-static`)
//! is put in front of it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn bin() -> PathBuf {
    match std::env::var_os("PMAN_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_pman")),
    }
}

fn runner() -> Option<String> {
    std::env::var("PMAN_RUNNER").ok().filter(|r| !r.trim().is_empty())
}

/// A private directory, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("pman-check-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, text).expect("write config");
        // As root, pman refuses group- or world-writable configs: whatever the umask.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pman(args: &[&str]) -> Run {
    let mut cmd = match runner() {
        Some(runner) => {
            let mut words = runner.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap_or("env"));
            cmd.args(words).arg(bin());
            cmd
        }
        None => Command::new(bin()),
    };
    let out = cmd.args(args).env_remove("PMAN_CONFIG").output().expect("run pman");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn check(path: &Path, extra: &[&str]) -> Run {
    let path = path.to_str().expect("utf-8 temp path");
    let mut args = vec!["-c", path, "check"];
    args.extend_from_slice(extra);
    pman(&args)
}

const SEED: &str = "\
[pman]
pidfile=/tmp/pman.pid ; pman daemon's pidfile
logfile=/tmp/pman.log ; pman daemon's logfile
port=127.0.0.1:50010 ; gRPC server port
directory=/tmp ; default is current dir
[program:ls]
command=/bin/ls ; program command
stdout=/tmp/sample_stdout.log ; program stdout logfile
stderr=/tmp/sample_stderr.log ; program stderr logfile
autorestart=true ; automatically restart if exited unexpectedly
autostart=true ; start program on daemon's startup
";

#[test]
fn seed_example_is_ok_with_a_port_warning() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", SEED);
    let run = check(&conf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "config OK: 1 programs\n");
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].starts_with(&format!("pman: warning: {}:4: ", conf.display())), "{}", warnings[0]);
    assert!(warnings[0].contains("port"));
}

#[test]
fn strict_turns_warnings_into_exit_2() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", SEED);
    let run = check(&conf, &["--strict"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pman: warning: "));
    let clean = dir.write("clean.conf", "[program:ls]\ncommand=/bin/ls\n");
    let run = check(&clean, &["--strict"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 1 programs\n"), "{}", run.stderr);
}

#[test]
fn counts_programs_after_numprocs() {
    let dir = TempDir::new();
    let conf = dir.write(
        "pman.conf",
        "[program:worker]\ncommand=/bin/sleep 60\nnumprocs=3\nprocess_name=%(program_name)s_%(process_num)02d\n\
         [program:web]\ncommand=/bin/sleep 60\n",
    );
    let run = check(&conf, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 4 programs\n"), "{}", run.stderr);
}

#[test]
fn every_error_with_file_and_line_and_exit_2() {
    let dir = TempDir::new();
    let conf = dir.write(
        "pman.conf",
        "[program:a]\ncommand=/bin/true\nstartsecs=soon\n[program:b]\ncommand=/bin/true\nstopsignal=NOPE\n",
    );
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let file = conf.display().to_string();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("pman: {file}:3: ")) && lines[0].contains("startsecs"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with(&format!("pman: {file}:6: ")) && lines[1].contains("NOPE"), "{}", lines[1]);
}

#[test]
fn missing_file_is_an_error() {
    let dir = TempDir::new();
    let conf = dir.0.join("absent.conf");
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, format!("pman: {}: No such file or directory\n", conf.display()));
}

#[test]
fn unknown_key_warns_with_nearest_key() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", "[program:a]\ncommand=/bin/true\nauto_start=false\n");
    let run = check(&conf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let w = run.stderr.lines().next().unwrap_or("");
    assert!(w.starts_with(&format!("pman: warning: {}:3: ", conf.display())), "{w}");
    assert!(w.contains("auto_start") && w.contains("autostart"), "{w}");
}

#[test]
fn config_option_after_the_command() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", "[program:a]\ncommand=/bin/true\n");
    let path = conf.to_str().expect("utf-8");
    let run = pman(&["check", "-c", path]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 1 programs\n"), "{}", run.stderr);
}

#[test]
fn includes_in_sorted_order_relative_to_the_file() {
    let dir = TempDir::new();
    let conf = dir.write(
        "etc/pman.conf",
        "[include]\nfiles = conf.d/*.conf nothing/*.conf\n[program:main]\ncommand=/bin/true\n",
    );
    dir.write("etc/conf.d/20-b.conf", "[program:b]\ncommand=/bin/true\n");
    dir.write("etc/conf.d/10-a.conf", "[program:a]\ncommand=/bin/true\nstartsecs=bad\n");
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2);
    let a = dir.0.join("etc/conf.d/10-a.conf");
    assert!(run.stderr.contains(&format!("pman: {}:3: ", a.display())), "{}", run.stderr);
    assert!(run.stderr.contains("matches no file"), "{}", run.stderr);
    dir.write("etc/conf.d/10-a.conf", "[program:a]\ncommand=/bin/true\n");
    let run = check(&conf, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 3 programs\n"), "{}", run.stderr);
}

#[test]
fn include_without_files_is_a_warning() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", "[program:a]\ncommand=/bin/true\n[include]\nfile = x.conf\n");
    let run = check(&conf, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 1 programs\n"), "{}", run.stderr);
    let prefix = format!("pman: warning: {}:3: [include] has no files= key", conf.display());
    assert!(run.stderr.lines().any(|l| l.starts_with(&prefix)), "{}", run.stderr);
    assert_eq!(check(&conf, &["--strict"]).code, 2);
}

#[test]
fn supervisord_conf_gets_one_note() {
    let dir = TempDir::new();
    let conf = dir.write(
        "supervisord.conf",
        "[supervisord]\nnodaemon=true\n[unix_http_server]\nfile=/tmp/s.sock\n[program:a]\ncommand=/bin/true\n\
         stdout_logfile=AUTO\n",
    );
    let run = check(&conf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr.matches("pman: note: ").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("startretries=infinite"));
}

/// The supervisord.conf corpus (30 real files, tests/compat/supervisord/):
/// every one that is not a template passes `pman check`.
#[test]
fn compat_corpus() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/check.sh");
    if runner().is_some() {
        eprintln!("SKIP compat_corpus: check.sh runs the binary directly, not through an emulator");
        return;
    }
    let out = Command::new("bash").arg(script).env("PMAN_BIN", bin()).output().expect("run check.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
}

#[test]
fn include_patterns_see_the_pman_environment() {
    let dir = TempDir::new();
    let conf = dir
        .write("pman.conf", "[pman]\nenvironment = D=conf.d\n[include]\nfiles = %(here)s/%(ENV_D)s/*.conf\n");
    dir.write("conf.d/a.conf", "[program:a]\ncommand=/bin/true\n");
    let run = check(&conf, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 1 programs\n"), "{}", run.stderr);
    // [supervisord] environment counts too; a variable set nowhere is an error.
    let sup =
        dir.write("sup.conf", "[supervisord]\nenvironment=D=conf.d\n[include]\nfiles=%(ENV_D)s/*.conf\n");
    let run = check(&sup, &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "config OK: 1 programs\n"), "{}", run.stderr);
    let unset = dir.write("unset.conf", "[include]\nfiles=%(ENV_PMAN_NO_SUCH_VAR)s/*.conf\n");
    let run = check(&unset, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{}:2: [include] files: ", unset.display())), "{}", run.stderr);
}

#[test]
fn warnings_show_the_port_key_as_written() {
    let dir = TempDir::new();
    let conf = dir.write("pman.conf", "[pman]\nPort = 1\n[program:a]\ncommand=/bin/true\n");
    let run = check(&conf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = format!(
        "pman: warning: {}:2: [pman] Port is ignored: pman is steered through its socket\n",
        conf.display()
    );
    assert_eq!(run.stderr, expected);
}

#[test]
fn numbers_past_their_range_name_the_range_and_numprocs_errs_once() {
    let dir = TempDir::new();
    let conf = dir.write(
        "pman.conf",
        "[program:a]\ncommand=/bin/true\nstartsecs=99999999999\npriority=-99999999999\n\
         healthcheck_interval=0\n[program:w]\ncommand=/bin/true\nnumprocs=5000\n",
    );
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2);
    let file = conf.display();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("pman: {file}:3: [program:a] startsecs: '99999999999' is not a whole number from 0 to 4294967295"),
            format!(
                "pman: {file}:4: [program:a] priority: '-99999999999' is not an integer from -2147483648 to 2147483647"
            ),
            format!("pman: {file}:5: [program:a] healthcheck_interval: '0' is not a whole number from 1 to 4294967295"),
            format!("pman: {file}:8: [program:w] numprocs: '5000' is not a whole number from 1 to 1000"),
        ],
        "{}",
        run.stderr
    );
}

/// What a file says is quoted as one line: an escape sequence in a value
/// or a key never reaches the terminal, whatever the message.
#[test]
fn control_characters_of_the_file_show_as_question_marks() {
    let dir = TempDir::new();
    let conf = dir.write(
        "pman.conf",
        "[program:g]\ncommand=/bin/true\nstartsecs=\u{1b}[31mRED\u{7}\nfoo\u{1b}x=1\n[bad\u{1b}\n",
    );
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let file = conf.display();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("pman: warning: {file}:4: [program:g] unknown key 'foo?x' ignored"),
            format!("pman: {file}:3: [program:g] startsecs: '?[31mRED?' is not a whole number from 0 to 4294967295"),
            format!("pman: {file}:5: section header without ']': [bad?"),
        ],
        "{}",
        run.stderr
    );
}

/// `check` lists every error: a section's `depends_on` error shows among
/// its other errors, and a cycle through a section with errors is one.
#[test]
fn dependency_errors_show_beside_a_sections_other_errors() {
    let dir = TempDir::new();
    let conf = dir.write(
        "pman.conf",
        "[program:a]\ncommand=/bin/true\ndepends_on=nosuch\npriority=x\n\
         [program:c]\ncommand=/bin/true\ndepends_on=d\n\
         [program:d]\ncommand=/bin/true\ndepends_on=c\nstartsecs=q\n",
    );
    let run = check(&conf, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let file = conf.display();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("pman: {file}:3: [program:a] depends_on: 'nosuch' is no program"),
            format!(
                "pman: {file}:4: [program:a] priority: 'x' is not an integer from -2147483648 to 2147483647"
            ),
            format!("pman: {file}:7: [program:c] depends_on: cycle c -> d -> c"),
            format!("pman: {file}:10: [program:d] depends_on: cycle d -> c -> d"),
            format!("pman: {file}:11: [program:d] startsecs: 'q' is not a whole number from 0 to 4294967295"),
        ],
        "{}",
        run.stderr
    );
}
