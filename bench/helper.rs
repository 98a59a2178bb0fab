//! Benchmark helper for bench/run.sh, built with plain rustc (no crates).
//!
//! The binary acts by the name it was copied to (symlinks resolve to the
//! real file, so runit/s6/daemontools `run` symlinks work):
//!   bench-stamp   writes "CLOCK_REALTIME-ns pid" to ./stamp (atomically,
//!                 via rename) right after exec, then sleeps forever;
//!                 with BENCH_STAMP_ONCE set it exits after writing.
//!   bench-crash   appends its CLOCK_REALTIME ns as a line to ./starts and
//!                 exits 1 at once.
//!   bench-helper  subcommands:
//!     kill STAMP TIMEOUT_MS [MIN_AGE_MS]
//!                             read "ns pid" from STAMP, wait until the stamp
//!                             is MIN_AGE_MS old, SIGKILL pid, wait for a new
//!                             stamp, print new_ns - kill_ns
//!     floor N STAMPBIN DIR    fork+exec STAMPBIN (BENCH_STAMP_ONCE) N times
//!                             in DIR, print each exec-to-stamp latency (ns)
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn fork() -> i32;
    fn execv(path: *const i8, argv: *const *const i8) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(code: i32) -> !;
    fn getpid() -> i32;
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn write_stamp(dir: &str) {
    let ns = now_ns();
    let tmp = format!("{dir}/stamp.{}", unsafe { getpid() });
    let line = format!("{ns} {}\n", unsafe { getpid() });
    if fs::write(&tmp, line).is_ok() {
        let _ = fs::rename(&tmp, format!("{dir}/stamp"));
    }
}

fn read_stamp(path: &str) -> Option<(u128, i32)> {
    let s = fs::read_to_string(path).ok()?;
    let mut it = s.split_whitespace();
    let ns = it.next()?.parse().ok()?;
    let pid = it.next()?.parse().ok()?;
    Some((ns, pid))
}

fn die(msg: &str) -> ! {
    eprintln!("bench-helper: {msg}");
    std::process::exit(2)
}

fn cmd_kill(stamp: &str, timeout_ms: u64, min_age_ms: u64) {
    let (born, pid) = read_stamp(stamp).unwrap_or_else(|| die("no stamp"));
    let ready = born + u128::from(min_age_ms) * 1_000_000;
    let now = now_ns();
    if ready > now {
        std::thread::sleep(Duration::from_nanos((ready - now) as u64));
    }
    let t0 = now_ns();
    if unsafe { kill(pid, 9) } != 0 {
        die("kill failed");
    }
    let deadline = std::time::Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        if let Some((ns, p)) = read_stamp(stamp) {
            if p != pid && ns >= t0 {
                println!("{}", ns - t0);
                return;
            }
        }
        if std::time::Instant::now() > deadline {
            println!("timeout");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn cmd_floor(n: usize, bin: &str, dir: &str) {
    std::env::set_current_dir(dir).unwrap_or_else(|_| die("chdir"));
    std::env::set_var("BENCH_STAMP_ONCE", "1");
    let path = CString::new(bin).unwrap();
    let argv = [path.as_ptr(), std::ptr::null()];
    let stamp = format!("{dir}/stamp");
    for _ in 0..n {
        let t0 = now_ns();
        let pid = unsafe { fork() };
        if pid == 0 {
            unsafe {
                execv(path.as_ptr(), argv.as_ptr());
                _exit(127)
            }
        }
        let mut st = 0;
        unsafe { waitpid(pid, &mut st, 0) };
        match read_stamp(&stamp) {
            Some((ns, p)) if p == pid => println!("{}", ns - t0),
            _ => die("floor: child wrote no stamp"),
        }
    }
}

fn main() {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let args: Vec<String> = std::env::args().collect();
    match name.as_str() {
        "bench-stamp" => {
            write_stamp(".");
            if std::env::var_os("BENCH_STAMP_ONCE").is_some() {
                return;
            }
            loop {
                std::thread::sleep(Duration::from_secs(1 << 30));
            }
        }
        "bench-crash" => {
            if let Ok(mut f) = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open("starts")
            {
                let _ = f.write_all(format!("{}\n", now_ns()).as_bytes());
            }
            std::process::exit(1)
        }
        _ => match args.get(1).map(String::as_str) {
            Some("kill") if args.len() == 4 || args.len() == 5 => cmd_kill(
                &args[2],
                args[3].parse().unwrap_or_else(|_| die("timeout")),
                args.get(4).map_or(0, |a| a.parse().unwrap_or_else(|_| die("min age"))),
            ),
            Some("floor") if args.len() == 5 => cmd_floor(
                args[2].parse().unwrap_or_else(|_| die("count")),
                &args[3],
                &args[4],
            ),
            _ => die("usage: bench-helper kill STAMP TIMEOUT_MS [MIN_AGE_MS] | floor N STAMPBIN DIR"),
        },
    }
}
