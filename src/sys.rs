//! Thin safe wrappers over libc: the one home of `unsafe`.

use crate::config::Limits;
use crate::text::Part::Str;
use crate::users::User;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

pub type Pid = libc::pid_t;

mod alloc;
mod clock;
pub use alloc::Allocator;
pub use clock::{unix_time, Instant};

/// What a failed call left in errno. Its text is [`strerror`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `WHAT: strerror`, e.g. `pipe: Too many open files`.
    pub fn after(self, what: &str) -> String {
        crate::text::concat("{}: {}", &[Str(what), Str(&describe(&self))])
    }

    /// The errno of the call that just failed.
    pub fn last() -> Errno {
        Errno(errno())
    }
}

fn check(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// EINTR: the call is to be made again.
pub fn interrupted(e: &Errno) -> bool {
    e.0 == libc::EINTR
}

/// EAGAIN (EWOULDBLOCK): a non-blocking call that would have waited.
pub fn would_block(e: &Errno) -> bool {
    e.0 == libc::EAGAIN
}

/// `bytes` and a NUL, for a syscall; `None` when they hold a NUL already
/// (std's `CString::new` without its generic conversions).
pub fn c_string(bytes: &[u8]) -> Option<CString> {
    if bytes.contains(&0) {
        return None;
    }
    let mut with_nul = Vec::with_capacity(bytes.len() + 1);
    with_nul.extend_from_slice(bytes);
    with_nul.push(0);
    // SAFETY: one NUL, at the end.
    Some(unsafe { CString::from_vec_with_nul_unchecked(with_nul) })
}

/// `bytes` as text when they are UTF-8, as [`crate::text::utf8_run`]
/// checks (in place of std's larger `from_utf8`).
pub fn str_of(bytes: &[u8]) -> Option<&str> {
    // SAFETY: `utf8_run` read every byte as UTF-8.
    (crate::text::utf8_run(bytes).0 == bytes.len()).then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// [`str_of`] for owned bytes; `Err` gives them back.
pub fn string_of(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    if crate::text::utf8_run(&bytes).0 != bytes.len() {
        return Err(bytes);
    }
    // SAFETY: as in `str_of`.
    Ok(unsafe { String::from_utf8_unchecked(bytes) })
}

/// `strerror` text (std's `io::Error` text without its " (os error N)").
pub fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is valid for its length; strerror_r NUL-terminates within it.
    unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: buf holds a NUL-terminated string (zeroed, and strerror_r ends it).
    crate::text::lossy(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes()).into_owned()
}

/// [`strerror`] of an [`Errno`].
pub fn describe(err: &Errno) -> String {
    strerror(err.0)
}

/// What std's runtime does before `main`, which pman's binary does without
/// (it has its own C `main`): descriptors 0–2 are opened on /dev/null when
/// closed, so that no socket or log file takes their numbers; SIGPIPE is
/// ignored (a write to a gone peer is an EPIPE error). Returns the
/// arguments after argv[0].
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings, as the C runtime passes them
/// to `main`, alive until the process ends.
pub unsafe fn start(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<&'static [u8]> {
    let mut fds = [pollfd(0, 0), pollfd(1, 0), pollfd(2, 0)];
    // SAFETY: fds is a valid array of three pollfds.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0 {
        for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
            // The lowest free number: this one, as the lower ones are open.
            // SAFETY: a NUL-terminated path; the descriptor is kept for good.
            if unsafe { raw_open(c"/dev/null".as_ptr(), libc::O_RDWR, 0) } != p.fd {
                // SAFETY: abort(3) ends the process.
                unsafe { libc::abort() };
            }
        }
    }
    // A kernel sigaction of SIG_IGN: the handler comes after the flags on
    // MIPS, first elsewhere; ignoring needs no restorer and no mask.
    let mut ignore = [0usize; 8];
    ignore[usize::from(cfg!(any(target_arch = "mips", target_arch = "mips64")))] = libc::SIG_IGN;
    // SAFETY: a raw rt_sigaction with a valid kernel sigaction.
    unsafe {
        libc::syscall(libc::SYS_rt_sigaction, libc::SIGPIPE, ignore.as_ptr(), 0usize, KERNEL_SIGSET_BYTES)
    };
    let count = usize::try_from(argc).unwrap_or(0);
    // SAFETY: the caller's promise: `count` valid C strings in `argv`.
    (1..count).map(|i| unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes()).collect()
}

/// A pipe with both ends close-on-exec; `nonblock` applies to both ends.
pub fn pipe(nonblock: bool) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    let flags = libc::O_CLOEXEC | if nonblock { libc::O_NONBLOCK } else { 0 };
    // A raw call: musl's pipe2 carries a fallback for kernels before 2.6.27.
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::syscall(libc::SYS_pipe2, fds.as_mut_ptr(), libc::c_long::from(flags)) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// Writes all of `buf`, retrying on EINTR; for blocking descriptors.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno(libc::EIO)),
            Ok(n) => buf = &buf[n..],
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `poll(2)`; EINTR counts as "nothing ready".
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> Result<usize, Errno> {
    // SAFETY: fds is a valid slice of pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let err = Errno::last();
        if interrupted(&err) {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(n as usize)
}

/// Waits up to `timeout` for `fd` to have something to read (or an end or
/// error to report); false when the time ran out. What a socket's
/// SO_RCVTIMEO would do, without musl's time64 setsockopt.
pub fn readable_within(fd: RawFd, timeout: std::time::Duration) -> bool {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut fds = [pollfd(fd, libc::POLLIN)];
    loop {
        // SAFETY: fds is a valid array of one pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        if n >= 0 || errno() != libc::EINTR {
            return n != 0;
        }
    }
}

pub fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd, events, revents: 0 }
}

/// How a child ended, from `waitpid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Reaps one exited child without blocking.
pub fn reap_any() -> Option<(Pid, Exit)> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            let exit = if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status))
            } else {
                Exit::Code(libc::WEXITSTATUS(status))
            };
            return Some((pid, exit));
        }
        if pid < 0 && errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

/// `kill(2)`; a negative pid signals a process group.
pub fn kill(pid: Pid, signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(pid, signal) }).map(|_| ())
}

/// True while any process is in process group `pgid`.
pub fn group_alive(pgid: Pid) -> bool {
    pgid > 0 && (kill(-pgid, 0).is_ok() || errno() == libc::EPERM)
}

pub fn getpid() -> Pid {
    // SAFETY: plain syscall.
    unsafe { libc::getpid() }
}

/// This process's umask (read by setting it and putting it back).
pub fn own_umask() -> u32 {
    // SAFETY: plain syscalls; no threads can see the moment in between.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask as u32
    }
}

pub fn geteuid() -> u32 {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() }
}

pub fn getegid() -> u32 {
    // SAFETY: plain syscall.
    unsafe { libc::getegid() }
}

pub fn setsid() {
    // SAFETY: plain syscall; failure (already a leader) is harmless.
    unsafe { libc::setsid() };
}

/// Asks to be a child subreaper, so orphans of programs are reaped by us.
pub fn set_child_subreaper() -> Result<(), Errno> {
    check(prctl(libc::PR_SET_CHILD_SUBREAPER, 1)).map(|_| ())
}

/// fcntl(2) as a raw call: musl's wrapper carries fallbacks for old kernels.
fn fcntl(fd: RawFd, cmd: libc::c_int, arg: libc::c_int) -> libc::c_int {
    // SAFETY: the commands pman uses take an int argument and no pointer.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) as libc::c_int }
}

/// The soft RLIMIT_NOFILE, between 64 and 65,536: how far a loop over
/// descriptor numbers goes (prlimit64 as a raw call, like the child's).
fn open_files_limit() -> RawFd {
    let mut limit = [0u64; 2];
    let null = std::ptr::null::<[u64; 2]>();
    let resource = libc::RLIMIT_NOFILE as libc::c_long;
    // SAFETY: limit is a valid struct rlimit64 to write.
    unsafe { libc::syscall(libc::SYS_prlimit64, 0 as libc::c_long, resource, null, limit.as_mut_ptr()) };
    limit[0].clamp(64, 1 << 16) as RawFd
}

/// Marks every descriptor from `first` up close-on-exec, so nothing the
/// daemon inherited from whoever started it leaks into programs: at once
/// with close_range(2) (Linux 5.11), else one by one up to the limit.
pub fn cloexec_from(first: RawFd) {
    let (from, to, flags) = (first as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC);
    // SAFETY: plain syscall; it only sets flags on descriptors.
    if unsafe { libc::syscall(libc::SYS_close_range, from, to, flags) } == 0 {
        return;
    }
    for fd in first..open_files_limit() {
        // On a closed fd it fails with EBADF, which is fine.
        fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

/// Closes every descriptor from 3 up except `keep`: a detached daemon holds
/// nothing its launcher opened (a `$(pman daemon)` pipe would never end).
pub fn close_inherited(keep: RawFd) {
    let mut fds: Vec<RawFd> = Vec::new();
    let each = &mut |name: &[u8]| fds.extend(str_of(name).and_then(crate::number::i32));
    let listed = each_entry(c"/proc/self/fd", each).then_some(fds);
    let close = |fd: RawFd| {
        if fd > 2 && fd != keep {
            // SAFETY: nothing in this process owns these yet (the directory
            // handle is closed by now; closing a closed fd is EBADF).
            unsafe { libc::close(fd) };
        }
    };
    match listed {
        Some(fds) => fds.into_iter().for_each(close),
        None => (3..open_files_limit()).for_each(close),
    }
}

/// Peer credentials (pid, uid) of a connected Unix socket.
pub fn peer_cred(stream: &UnixStream) -> Result<(Pid, u32), Errno> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // A raw call: musl's getsockopt carries time64 conversions of other
    // options (SO_RCVTIMEO...) that SO_PEERCRED has no use for.
    // SAFETY: cred and len are valid for getsockopt(SO_PEERCRED).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            libc::c_long::from(stream.as_raw_fd()),
            libc::c_long::from(libc::SOL_SOCKET),
            libc::c_long::from(libc::SO_PEERCRED),
            &mut cred as *mut libc::ucred,
            &mut len as *mut libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok((cred.pid, cred.uid))
}

/// Takes a connection from `listener`, close-on-exec (a raw accept4: musl's
/// carries a fallback for kernels without it).
pub fn accept(listener: RawFd) -> Result<UnixStream, Errno> {
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: no address is asked for; a fresh descriptor comes back.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_accept4,
            libc::c_long::from(listener),
            null,
            null,
            libc::c_long::from(libc::SOCK_CLOEXEC),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: accept4 returned a fresh descriptor we now own.
    Ok(unsafe { UnixStream::from_raw_fd(fd as RawFd) })
}

/// Opens a log target for appending, non-blocking: a FIFO with no reader
/// fails at once with ENXIO, and a write that cannot be done at once fails
/// with EAGAIN instead of stopping the loop. `/dev/stdout` and other
/// `/proc/self/fd/N` paths of a pipe get a file description of their own,
/// so the flag never reaches whoever shares the original one.
pub fn open_append(path: &CStr, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
    let flags =
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    // SAFETY: path is NUL-terminated.
    let fd = check(unsafe { raw_open(path.as_ptr(), flags, mode) })?;
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2) as one raw `openat` call: `-1` with errno set on failure. The
/// C library's `open` adds a second call for kernels older than 2.6.23.
/// Async-signal-safe: the child calls it between fork and exec.
///
/// # Safety
/// `path` must be NUL-terminated (a `CStr` pointer).
unsafe fn raw_open(path: *const libc::c_char, flags: libc::c_int, mode: libc::mode_t) -> RawFd {
    // O_LARGEFILE: without it, 32-bit CPUs could not write a log past 2 GiB.
    let flags = flags | libc::O_LARGEFILE;
    libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path, flags, mode as libc::c_long) as RawFd
}

/// prctl(2) with one argument, as a raw call (async-signal-safe).
fn prctl(option: libc::c_int, arg: libc::c_ulong) -> libc::c_int {
    // SAFETY: these prctl options take one integer and touch no memory.
    unsafe { libc::syscall(libc::SYS_prctl, option, arg, 0, 0, 0) as libc::c_int }
}

/// The working directory, as `std::env::current_dir` finds it (a raw
/// getcwd: musl's pulls strdup in). Not found when it is unreachable
/// (outside a chroot: the kernel's answer then does not start with `/`).
pub fn current_dir() -> Result<crate::path::FilePath, Errno> {
    // PATH_MAX: the longest directory getcwd(2) returns.
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    // The length counts the terminating NUL.
    buf.truncate((n as usize).saturating_sub(1));
    if buf.first() != Some(&b'/') {
        return Err(Errno(libc::ENOENT));
    }
    Ok(buf.into())
}

/// Opens `path` close-on-exec with `flags`; `mode` for a file O_CREAT makes.
pub fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
    // SAFETY: path is NUL-terminated.
    let fd = check(unsafe { raw_open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: open returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Returns freed heap memory to the system: glibc's `malloc_trim`; a
/// no-op with other C libraries.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// True when `fd` is a pipe, FIFO or character device (a terminal): what a
/// write can block on.
pub fn is_pipe_or_device(fd: RawFd) -> bool {
    let kind = fstat(fd).map(|st| st.mode & libc::S_IFMT);
    kind == Ok(libc::S_IFIFO) || kind == Ok(libc::S_IFCHR)
}

/// A private, non-blocking file description of the pipe or terminal behind
/// `fd` (reopened through `/proc/self/fd`), so O_NONBLOCK leaves `fd`'s
/// own, shared with other processes, as it is.
pub fn reopen_nonblocking(fd: RawFd) -> Result<OwnedFd, Errno> {
    let mut path = *b"/proc/self/fd/0000000000\0";
    let mut digits = [0u8; 10];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        path[14 + i] = *d;
    }
    path[14 + len] = 0;
    let cpath = CStr::from_bytes_until_nul(&path).map_err(|_| Errno(libc::EINVAL))?;
    open_append(cpath, 0)
}

/// True when a write of up to PIPE_BUF bytes to `fd` would not block now.
pub fn writable_now(fd: RawFd) -> bool {
    let mut fds = [pollfd(fd, libc::POLLOUT)];
    matches!(poll(&mut fds, 0), Ok(1)) && fds[0].revents & libc::POLLOUT != 0
}

/// Sets O_NONBLOCK on `fd` (fcntl: std's `set_nonblocking` goes through
/// ioctl, which pulls musl's ioctl compat tables in).
pub fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    let flags = check(fcntl(fd, libc::F_GETFL, 0))?;
    check(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)).map(drop)
}

/// Clears O_NONBLOCK.
pub fn set_blocking(fd: RawFd) {
    let flags = fcntl(fd, libc::F_GETFL, 0);
    fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
}

/// The stage of a child's setup that failed, sent back over the errno pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Exec = 1,
    Directory = 2,
    User = 3,
    Stdio = 4,
    /// The detail byte is the index into `Limits::rlimits`.
    Rlimit = 5,
    Nice = 6,
    OomScoreAdj = 7,
    NoNewPrivs = 8,
}

impl Stage {
    pub fn from_byte(byte: u8) -> Stage {
        match byte {
            2 => Stage::Directory,
            3 => Stage::User,
            4 => Stage::Stdio,
            5 => Stage::Rlimit,
            6 => Stage::Nice,
            7 => Stage::OomScoreAdj,
            8 => Stage::NoNewPrivs,
            _ => Stage::Exec,
        }
    }
}

/// Everything a child needs between fork and exec, prepared beforehand so
/// the child allocates nothing.
pub struct ChildPlan<'a> {
    pub path: &'a CStr,
    pub argv: &'a [*const libc::c_char],
    pub envp: &'a [*const libc::c_char],
    pub directory: Option<&'a CStr>,
    pub umask: Option<u32>,
    pub user: Option<&'a User>,
    pub limits: &'a Limits,
    /// `oom_score_adj` as the text written to /proc (empty: inherited).
    pub oom_score_adj: &'a [u8],
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Write end of the close-on-exec errno pipe.
    pub report: RawFd,
    /// `ready = fd:N`: a pipe's write end, and N, where the child gets it.
    pub ready: Option<(RawFd, RawFd)>,
    /// The daemon's pid: if it is gone before PDEATHSIG is armed, give up.
    pub parent: Pid,
}

/// Forks a child that runs `plan`. Returns the child's pid.
pub fn spawn(plan: &ChildPlan) -> Result<Pid, Errno> {
    // SAFETY: fork in a single-threaded process; the child only makes
    // async-signal-safe calls on prepared data and then execs or _exits.
    let (pid, old) = unsafe { fork_blocked() };
    let failed = (pid < 0).then(Errno::last);
    if pid == 0 {
        // SAFETY: see above; child_main never returns. Its signals stay
        // blocked until it has set every disposition back to the default,
        // so none of the daemon's handlers runs in it.
        unsafe { child_main(plan) }
    }
    set_signal_mask(&old);
    failed.map_or(Ok(pid), Err)
}

/// A kernel signal set in the kernel's words (128 signals: MIPS has them;
/// the others read 64).
type KernelSigset = [libc::c_ulong; SIGSET_WORDS];
const SIGSET_WORDS: usize = 128 / libc::c_ulong::BITS as usize;

/// fork(2) as a plain clone(SIGCHLD) with every signal blocked across it:
/// libc's fork takes locks that only threads need, and links its lock and
/// clock code (about 5 KiB on mipsel). Returns the pid (0 in the child,
/// -1 with errno set) and the mask to restore.
unsafe fn fork_blocked() -> (Pid, KernelSigset) {
    let (all, mut old): (KernelSigset, KernelSigset) = ([!0; SIGSET_WORDS], [0; SIGSET_WORDS]);
    libc::syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        all.as_ptr(),
        old.as_mut_ptr(),
        KERNEL_SIGSET_BYTES,
    );
    // No new stack and no thread ids: the arguments after the flags are 0
    // in every architecture's order.
    let pid = libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0usize, 0usize, 0usize, 0usize);
    (pid as Pid, old)
}

fn set_signal_mask(mask: &KernelSigset) {
    // SAFETY: mask is a valid kernel signal set; the old one is not asked for.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            mask.as_ptr(),
            std::ptr::null_mut::<KernelSigset>(),
            KERNEL_SIGSET_BYTES,
        )
    };
}

/// The kernel's sigset size (`_NSIG / 8`): 128 signals on MIPS, 64 elsewhere.
const KERNEL_SIGSET_BYTES: usize =
    if cfg!(any(target_arch = "mips", target_arch = "mips64")) { 16 } else { 8 };

/// The errno pipe's message: stage, detail, errno.
pub const REPORT_BYTES: usize = 6;

unsafe fn child_fail(report: RawFd, stage: Stage) -> ! {
    child_fail_at(report, stage, 0)
}

unsafe fn child_fail_at(report: RawFd, stage: Stage, detail: u8) -> ! {
    let errno = *libc::__errno_location();
    let mut msg = [0u8; REPORT_BYTES];
    msg[0] = stage as u8;
    msg[1] = detail;
    msg[2..].copy_from_slice(&errno.to_ne_bytes());
    libc::write(report, msg.as_ptr().cast(), msg.len());
    libc::_exit(127)
}

// The 32-bit uid calls (the plain ones take 16-bit ids on these).
#[cfg(not(any(target_arch = "arm", target_arch = "x86")))]
use libc::{SYS_setgid as SYS_SETGID, SYS_setgroups as SYS_SETGROUPS, SYS_setuid as SYS_SETUID};
#[cfg(any(target_arch = "arm", target_arch = "x86"))]
use libc::{SYS_setgid32 as SYS_SETGID, SYS_setgroups32 as SYS_SETGROUPS, SYS_setuid32 as SYS_SETUID};

unsafe fn child_main(plan: &ChildPlan) -> ! {
    libc::setsid();
    // Default dispositions (std ignores SIGPIPE; a launcher may ignore
    // real-time signals libc reserves) and an empty mask. The raw syscall
    // reaches every signal; an all-zero kernel sigaction is SIG_DFL on
    // every architecture.
    let action = [0u64; 8];
    for signal in 1..=64 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            libc::syscall(libc::SYS_rt_sigaction, signal, action.as_ptr(), 0usize, KERNEL_SIGSET_BYTES);
        }
    }
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());

    if libc::dup2(plan.stdin, 0) < 0 || libc::dup2(plan.stdout, 1) < 0 || libc::dup2(plan.stderr, 2) < 0 {
        child_fail(plan.report, Stage::Stdio);
    }
    let mut report = plan.report;
    if let Some((fd, n)) = plan.ready {
        // The errno pipe moves out of the way of the ready descriptor.
        if report == n {
            report = fcntl(report, libc::F_DUPFD_CLOEXEC, n + 1);
        }
        let placed = if fd == n { fcntl(n, libc::F_SETFD, 0) } else { libc::dup2(fd, n) };
        if placed < 0 {
            child_fail(report, Stage::Stdio);
        }
    }
    // Before dropping to `user`, so root may raise a hard limit. The child
    // has one thread: raw calls, not libc's, which sync every thread
    // (`__synccall`, over a KiB on a router).
    for (n, limit) in plan.limits.rlimits.iter().enumerate() {
        // struct rlimit64; u64::MAX is RLIM64_INFINITY.
        let value = [limit.soft, limit.hard];
        let null = std::ptr::null_mut::<[u64; 2]>();
        if libc::syscall(
            libc::SYS_prlimit64,
            0 as libc::c_long,
            limit.resource as libc::c_long,
            value.as_ptr(),
            null,
        ) < 0
        {
            child_fail_at(report, Stage::Rlimit, n as u8);
        }
    }
    if let Some(nice) = plan.limits.nice {
        if libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) < 0 {
            child_fail(report, Stage::Nice);
        }
    }
    if !plan.oom_score_adj.is_empty() {
        let fd = raw_open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC, 0);
        if fd < 0 || libc::write(fd, plan.oom_score_adj.as_ptr().cast(), plan.oom_score_adj.len()) < 0 {
            child_fail(report, Stage::OomScoreAdj);
        }
        libc::close(fd);
    }
    if plan.limits.no_new_privs && prctl(libc::PR_SET_NO_NEW_PRIVS, 1) < 0 {
        child_fail(report, Stage::NoNewPrivs);
    }
    if let Some(user) = plan.user {
        // The groups were read from /etc/group before fork.
        if libc::syscall(SYS_SETGID, user.gid as libc::c_long) < 0
            || libc::syscall(SYS_SETGROUPS, user.groups.len(), user.groups.as_ptr()) < 0
            || libc::syscall(SYS_SETUID, user.uid as libc::c_long) < 0
        {
            child_fail(report, Stage::User);
        }
    }
    // After dropping privileges: changing credentials clears PDEATHSIG.
    prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    if libc::getppid() != plan.parent {
        libc::_exit(127);
    }
    if let Some(mask) = plan.umask {
        libc::umask(mask as libc::mode_t);
    }
    if let Some(dir) = plan.directory {
        if libc::chdir(dir.as_ptr()) < 0 {
            child_fail(report, Stage::Directory);
        }
    }
    libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
    child_fail(report, Stage::Exec)
}

/// `access(path, X_OK)`.
pub fn executable(path: &CStr) -> bool {
    // SAFETY: path is NUL-terminated.
    unsafe { libc::access(path.as_ptr(), libc::X_OK) == 0 }
}

/// The child's half of a detaching fork: returns the child's pid in the
/// parent, 0 in the child.
pub fn fork() -> Result<Pid, Errno> {
    // SAFETY: the process is single-threaded here.
    let (pid, old) = unsafe { fork_blocked() };
    let failed = (pid < 0).then(Errno::last);
    set_signal_mask(&old);
    failed.map_or(Ok(pid), Err)
}

/// libc's `abort` for the static musl build. musl's raises SIGABRT at the
/// thread id it cached at start-up, which is the parent's in a daemon
/// that [`fork`] detached; this one signals the process itself.
#[cfg(all(target_env = "musl", target_feature = "crt-static"))]
#[no_mangle]
extern "C" fn abort() -> ! {
    let default = [0u64; 8];
    let mut abrt: KernelSigset = [0; SIGSET_WORDS];
    abrt[0] = 1 << (libc::SIGABRT - 1);
    // SAFETY: raw syscalls on valid arguments; _exit ends the process.
    unsafe {
        libc::syscall(libc::SYS_rt_sigaction, libc::SIGABRT, default.as_ptr(), 0usize, KERNEL_SIGSET_BYTES);
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_UNBLOCK,
            abrt.as_ptr(),
            0usize,
            KERNEL_SIGSET_BYTES,
        );
        libc::syscall(libc::SYS_kill, libc::getpid(), libc::SIGABRT);
        libc::_exit(127)
    }
}

/// libc's `exit` for the static musl build. musl's flushes and closes its
/// `FILE` streams, which pman never uses (std flushes its own stdout
/// before it calls `exit`), and that brings in musl's stdio and locks
/// (about 1.3 KiB on mipsel). The binary has no atexit handlers and no
/// `.fini_array`, so ending the process is all there is to do.
#[cfg(all(target_env = "musl", target_feature = "crt-static"))]
#[no_mangle]
extern "C" fn exit(code: libc::c_int) -> ! {
    // SAFETY: _exit ends the process.
    unsafe { libc::_exit(code) }
}

#[cfg(all(target_env = "musl", target_feature = "crt-static"))]
extern "C" {
    /// musl's sigaction proper, which its `sigaction` wraps.
    fn __libc_sigaction(
        signal: libc::c_int,
        action: *const libc::sigaction,
        old: *mut libc::sigaction,
    ) -> libc::c_int;
}

/// libc's `sigaction` for the static musl build (signal-hook's handlers).
/// musl's takes a lock around changes to SIGABRT's disposition, for its
/// `abort`; pman's own [`abort`] needs none, and the lock code goes.
/// Signals 32 to 34 stay musl's own, as in musl's.
#[cfg(all(target_env = "musl", target_feature = "crt-static"))]
#[no_mangle]
unsafe extern "C" fn sigaction(
    signal: libc::c_int,
    action: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> libc::c_int {
    if (32..35).contains(&signal) {
        // SAFETY: errno is this thread's.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    }
    // SAFETY: the caller's arguments, as musl's sigaction takes them.
    unsafe { __libc_sigaction(signal, action, old) }
}

/// Points stdin, stdout and stderr at /dev/null.
pub fn stdio_to_devnull() {
    // SAFETY: plain syscalls on a fresh descriptor.
    unsafe {
        let fd = raw_open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

/// Registers `signals` so each delivery writes its number as one byte to
/// `pipe` (non-blocking write end of a self-pipe).
pub fn signals_to_pipe(signals: &[libc::c_int], pipe: RawFd) -> Result<(), Errno> {
    for &signal in signals {
        let action = move || {
            let byte = signal as u8;
            // SAFETY: write(2) is async-signal-safe; a full pipe drops the byte.
            unsafe { libc::write(pipe, (&byte as *const u8).cast(), 1) };
        };
        // SAFETY: the action only calls write(2).
        unsafe { signal_hook::low_level::register(signal, action) }
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
    }
    Ok(())
}

mod c {
    extern "C" {
        pub static environ: *const *const libc::c_char;
    }
}

/// The daemon's environment as `KEY=value` strings. They stay valid: pman
/// never changes its own environment (no `setenv`, no `putenv`).
pub fn environ() -> Vec<&'static CStr> {
    let mut all = Vec::new();
    // SAFETY: environ is a NULL-terminated array of C strings that nothing
    // in pman changes.
    unsafe {
        let mut at = c::environ;
        while !at.is_null() && !(*at).is_null() {
            all.push(CStr::from_ptr(*at));
            at = at.add(1);
        }
    }
    all
}

/// The value of environment variable `name`, if set (see [`environ`]).
/// Allocates nothing.
pub fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    // SAFETY: as in `environ`.
    unsafe {
        let mut at = c::environ;
        while !at.is_null() && !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if let Some(value) = entry.strip_prefix(name).and_then(|rest| rest.strip_prefix(b"=")) {
                return Some(value);
            }
            at = at.add(1);
        }
    }
    None
}

/// [`getenv`] by any name: one holding `=` or a NUL names no variable.
pub fn env_var(name: &str) -> Option<&'static [u8]> {
    // `A=B` would match the variable A with a value `B=…`.
    getenv(name.as_bytes()).filter(|_| !name.contains('='))
}

/// Copies the environment variable `name` into `buf` (cut to its size):
/// its length, or `None` when unset. Allocates nothing, unlike `std::env`.
pub fn getenv_into(name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let value = getenv(name)?;
    let n = value.len().min(buf.len());
    buf[..n].copy_from_slice(&value[..n]);
    Some(n)
}

/// Reads the start of the file at `path` into `buf`: the bytes read.
/// Allocates nothing.
pub fn read_start(path: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: path is NUL-terminated; the descriptor is ours until closed.
    let fd = check(unsafe { raw_open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0) })?;
    let n = read(fd, buf);
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    n
}

/// How many entries the directory at `path` has, `.` and `..` aside.
/// Allocates nothing (getdents64 into a buffer on the stack).
pub fn count_entries(path: &CStr) -> Option<u64> {
    let mut count = 0;
    each_entry(path, &mut |_| count += 1).then_some(count)
}

/// Calls `each` with the name of every entry of directory `path` but `.`
/// and `..`; false when the directory cannot be read to its end.
pub fn each_entry(path: &CStr, each: &mut dyn FnMut(&[u8])) -> bool {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: path is NUL-terminated; the descriptor is ours until closed.
    let Ok(fd) = check(unsafe { raw_open(path.as_ptr(), flags, 0) }) else { return false };
    let mut buf = [0u64; 256];
    let done = loop {
        // SAFETY: the buffer is ours and as long as said.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), 8 * buf.len()) };
        if n <= 0 {
            break n == 0;
        }
        // SAFETY: the u64 buffer seen as bytes, `n` of them filled.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
        while at + 19 < bytes.len() {
            let reclen = usize::from(u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]));
            let name = &bytes[at + 19..(at + reclen).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                each(name);
            }
            at += reclen.max(1);
        }
    };
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    done
}

/// Clock ticks per second, the unit of CPU times in /proc: the kernel's
/// USER_HZ, 100 on every CPU but alpha's 1024 (bounded to 1..=2^16 all the
/// same, for [`crate::daemon`]'s 32-bit division by it).
pub fn clock_ticks() -> u32 {
    // The kernel's AT_CLKTCK (musl's sysconf would bring its whole table).
    // SAFETY: getauxval has no preconditions.
    (unsafe { libc::getauxval(libc::AT_CLKTCK) } as u32).clamp(1, 1 << 16)
}

/// What `stat`/`fstat` tell about a file: which one it is, its type and
/// permission bits (`st_mode`) and its owner.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
    /// Modification time: seconds, nanoseconds.
    pub mtime: (i64, i64),
}

impl FileStat {
    /// Which file it is: a rename keeps it, a new file at the path does not.
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

/// statx(2) of `path` (relative to `dir`), read into a [`FileStat`]. One
/// raw call for stat, lstat and fstat: the C library's versions convert
/// between its struct layouts and the kernel's on 32-bit CPUs (2 KiB
/// on mipsel). Linux 4.11 and later have it.
fn statx(dir: RawFd, path: &CStr, flags: libc::c_int) -> Result<FileStat, i32> {
    // struct statx: 256 bytes, the same layout on every CPU.
    let mut buf = [0u8; 256];
    // SAFETY: path is NUL-terminated; buf is as large as struct statx.
    let r = unsafe {
        libc::syscall(libc::SYS_statx, dir, path.as_ptr(), flags, libc::STATX_BASIC_STATS, buf.as_mut_ptr())
    };
    if r < 0 {
        return Err(errno());
    }
    let field = |at: usize, len: usize| {
        buf[at..at + len].iter().enumerate().fold(0u64, |n, (i, &b)| {
            n | u64::from(b) << (if cfg!(target_endian = "little") { i } else { len - 1 - i } * 8)
        })
    };
    Ok(FileStat {
        // (major, minor): compared only with each other.
        dev: field(136, 4) << 32 | field(140, 4),
        ino: field(32, 8),
        mode: field(28, 2) as u32,
        uid: field(20, 4) as u32,
        size: field(40, 8),
        mtime: (field(112, 8) as i64, field(120, 4) as i64),
    })
}

/// [`stat`] of a path that may hold a NUL (EINVAL then).
pub fn stat_path(path: &[u8]) -> Result<FileStat, i32> {
    stat(&crate::path::c_path(path)?)
}

impl FileStat {
    pub fn is_regular(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// `stat(2)` (symlinks followed); `Err(errno)`.
pub fn stat(path: &CStr) -> Result<FileStat, i32> {
    statx(libc::AT_FDCWD, path, 0)
}

/// Whether `path` names anything, a dangling symlink included (lstat(2)).
pub fn exists_nofollow(path: &CStr) -> bool {
    statx(libc::AT_FDCWD, path, libc::AT_SYMLINK_NOFOLLOW).is_ok()
}

/// `path` for a syscall; EINVAL when it holds a NUL.
fn c_path(path: &[u8]) -> Result<std::ffi::CString, Errno> {
    crate::path::c_path(path).map_err(Errno)
}

/// unlink(2), as `std::fs::remove_file` does it.
pub fn remove_file(path: &[u8]) -> Result<(), Errno> {
    let path = c_path(path)?;
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::unlink(path.as_ptr()) }).map(drop)
}

/// rename(2), as `std::fs::rename` does it.
pub fn rename(from: &[u8], to: &[u8]) -> Result<(), Errno> {
    let (from, to) = (c_path(from)?, c_path(to)?);
    // SAFETY: both paths are NUL-terminated.
    check(unsafe { libc::rename(from.as_ptr(), to.as_ptr()) }).map(drop)
}

/// `fstat(2)`; `Err(errno)`.
pub fn fstat(fd: RawFd) -> Result<FileStat, i32> {
    statx(fd, c"", libc::AT_EMPTY_PATH)
}

/// Opens `path` read-only, close-on-exec; O_NONBLOCK so that a FIFO does not
/// wait for a writer, O_NOCTTY so that a terminal is never adopted.
pub fn open_read(path: &CStr) -> Result<OwnedFd, i32> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { raw_open(path.as_ptr(), flags, 0) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: open returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Appends everything `fd` holds to `out`, retrying on EINTR; `Err(errno)`.
/// Reads straight into `out`'s spare room (no buffer on the stack, whose
/// pages would stay with the daemon).
pub fn read_to_end(fd: RawFd, out: &mut Vec<u8>) -> Result<(), i32> {
    loop {
        out.reserve(1024);
        let spare = out.spare_capacity_mut();
        // SAFETY: spare is valid for spare.len() bytes.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        match n {
            0 => return Ok(()),
            // SAFETY: read initialised the first n bytes of the spare room.
            n if n > 0 => unsafe { out.set_len(out.len() + n as usize) },
            _ if errno() == libc::EINTR => {}
            _ => return Err(errno()),
        }
    }
}
// The client's calls: dialing the daemon, reading log files.

/// Connects a stream socket to `name` (`@name`: an abstract name).
/// `Err` is the errno (EINVAL: a name too long for `sockaddr_un`).
pub fn connect_unix(name: &str) -> Result<UnixStream, i32> {
    let (bytes, abstract_name) = match name.strip_prefix('@') {
        Some(rest) => (rest.as_bytes(), true),
        None => (name.as_bytes(), false),
    };
    let (addr, len) = unix_address(bytes, abstract_name).ok_or(libc::EINVAL)?;
    let stream = UnixStream::from(unix_socket(libc::SOCK_STREAM).map_err(|e| e.0)?);
    // SAFETY: addr is a valid sockaddr_un of at least len bytes.
    let ret = unsafe { libc::connect(stream.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) };
    if ret < 0 {
        return Err(errno());
    }
    Ok(stream)
}

/// The `sockaddr_un` of `name` (an abstract one, or a path) and its length;
/// `None` when it does not fit or holds a NUL.
fn unix_address(name: &[u8], abstract_name: bool) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // An abstract name starts with a NUL (left in place); a path ends with one.
    let (first, nul) = if abstract_name { (1, 0) } else { (0, 1) };
    if first + name.len() + nul > addr.sun_path.len() || name.contains(&0) {
        return None;
    }
    for (slot, &byte) in addr.sun_path[first..].iter_mut().zip(name) {
        *slot = byte as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + first + name.len() + nul;
    Some((addr, len as libc::socklen_t))
}

/// A close-on-exec Unix socket of `kind` (SOCK_STREAM, SOCK_DGRAM, with
/// SOCK_NONBLOCK or not).
/// socket(2) as one raw call: the C library's retries without the
/// SOCK_CLOEXEC/SOCK_NONBLOCK flags for kernels older than 2.6.27.
fn raw_socket(family: libc::c_int, kind: libc::c_int) -> RawFd {
    // SAFETY: socket takes no pointers.
    unsafe { libc::syscall(libc::SYS_socket, family, kind, 0) as RawFd }
}

fn unix_socket(kind: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall.
    let fd = check(raw_socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC))?;
    // SAFETY: socket returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds and listens on `name` (`@name`: abstract), non-blocking. EINVAL
/// for a name no socket address holds (the config refuses those first).
pub fn listen_unix(name: &str) -> Result<UnixListener, Errno> {
    let (bytes, abstract_name) = match name.strip_prefix('@') {
        Some(rest) => (rest.as_bytes(), true),
        None => (name.as_bytes(), false),
    };
    let (addr, len) = unix_address(bytes, abstract_name).ok_or(Errno(libc::EINVAL))?;
    let fd = unix_socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    // SAFETY: addr is a valid sockaddr_un of len bytes.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) })?;
    // -1: the kernel's largest backlog (somaxconn), as std asks for on Linux.
    // SAFETY: plain syscall on our socket.
    check(unsafe { libc::listen(fd.as_raw_fd(), -1) })?;
    Ok(UnixListener::from(fd))
}

/// An unbound datagram socket (for syslog), non-blocking with `nonblock`.
pub fn unix_datagram(nonblock: bool) -> Result<UnixDatagram, Errno> {
    let kind = libc::SOCK_DGRAM | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    Ok(UnixDatagram::from(unix_socket(kind)?))
}

/// Sends `bytes` as one datagram to the socket at `path`. `Err(errno)`;
/// 0 when the path fits no socket address (no errno, as std has none).
pub fn send_unix(socket: &UnixDatagram, bytes: &[u8], path: &[u8]) -> Result<(), i32> {
    let (addr, len) = unix_address(path, false).ok_or(0)?;
    // SAFETY: bytes and addr are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL,
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if sent < 0 {
        return Err(errno());
    }
    Ok(())
}

/// `lseek(2)`: moves `fd`'s offset to `pos` (`None`: where it is now).
/// Returns the resulting offset.
pub fn seek(fd: RawFd, pos: Option<u64>) -> Option<u64> {
    let (offset, whence) = match pos {
        Some(pos) => (pos as libc::off_t, libc::SEEK_SET),
        None => (0, libc::SEEK_CUR),
    };
    // SAFETY: plain syscall.
    let at = unsafe { libc::lseek(fd, offset, whence) };
    (at >= 0).then_some(at as u64)
}

/// `pread(2)`: fills as much of `buf` as the file holds from `pos` on.
pub fn pread(fd: RawFd, buf: &mut [u8], pos: u64) -> Option<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), pos as libc::off_t) };
    (n >= 0).then_some(n as usize)
}

/// One look at a non-blocking TCP connect to `addr`: true once it is made.
/// A connect still in progress stays in `pending` for the next look; one
/// that failed is tried again at once.
pub fn tcp_connected(addr: &std::net::SocketAddr, pending: &mut Option<OwnedFd>) -> bool {
    if let Some(fd) = pending.take() {
        let mut fds = [pollfd(fd.as_raw_fd(), libc::POLLOUT)];
        if !matches!(poll(&mut fds, 0), Ok(n) if n > 0) {
            *pending = Some(fd);
            return false;
        }
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err and len are valid for getsockopt to write (raw: see peer_cred).
        let got = unsafe {
            libc::syscall(
                libc::SYS_getsockopt,
                libc::c_long::from(fd.as_raw_fd()),
                libc::c_long::from(libc::SOL_SOCKET),
                libc::c_long::from(libc::SO_ERROR),
                &mut err as *mut libc::c_int,
                &mut len as *mut libc::socklen_t,
            )
        };
        if got == 0 && err == 0 {
            return true;
        }
        // Refused: the next try starts now, so tries stay one look apart.
    }
    // SAFETY: sockaddr_storage is plain data, zeroed then filled per family.
    let (storage, len) = unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let len = match addr {
            std::net::SocketAddr::V4(a) => {
                let sin = &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                std::mem::size_of::<libc::sockaddr_in>()
            }
            std::net::SocketAddr::V6(a) => {
                let sin6 = &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        (ss, len as libc::socklen_t)
    };
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain syscalls; the fd is owned at once; storage outlives connect.
    unsafe {
        let raw = raw_socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        if raw < 0 {
            return false;
        }
        let fd = OwnedFd::from_raw_fd(raw);
        if libc::connect(raw, (&storage as *const libc::sockaddr_storage).cast(), len) == 0 {
            return true;
        }
        if errno() == libc::EINPROGRESS {
            *pending = Some(fd);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_look_at_a_refused_tcp_connect_is_a_new_try() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let mut pending = None;
        assert!(!tcp_connected(&addr, &mut pending));
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!tcp_connected(&addr, &mut pending));
            // A refused try is followed by the next one, not by nothing.
            assert!(pending.is_some(), "a look found the refusal and tried again");
        }
        let listener = std::net::TcpListener::bind(addr).expect("bind again");
        std::thread::sleep(std::time::Duration::from_millis(20));
        // The try made at the last refusal, or a fresh one, now connects.
        let connected = tcp_connected(&addr, &mut pending) || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tcp_connected(&addr, &mut pending)
        };
        assert!(connected);
        drop(listener);
    }

    #[test]
    fn variables_are_found_by_their_whole_name() {
        let (name, value) = environ()
            .iter()
            .find_map(|e| e.to_str().ok()?.split_once('=').filter(|(n, _)| !n.is_empty()))
            .expect("the test runs with an environment");
        assert_eq!(env_var(name), Some(value.as_bytes()));
        assert_eq!(getenv(name.as_bytes()), Some(value.as_bytes()));
        let mut buf = [0u8; 2];
        assert_eq!(getenv_into(name.as_bytes(), &mut buf), Some(value.len().min(2)));
        assert_eq!(env_var(&[name, "=", value].concat()), None);
        assert_eq!(env_var(&[name, "\0"].concat()), None);
        assert_eq!(env_var("PMAN_NO_SUCH_VARIABLE_SET"), None);
    }

    #[test]
    fn the_working_directory_and_errno_texts_read_as_std_reads_them() {
        use std::os::unix::ffi::OsStrExt;
        let std_dir = std::env::current_dir().ok();
        assert_eq!(current_dir().ok().as_deref(), std_dir.as_ref().map(|d| d.as_os_str().as_bytes()));
        for errno in [libc::ENOENT, libc::EACCES, libc::EADDRINUSE, 0, 4095] {
            let std_text = std::io::Error::from_raw_os_error(errno).to_string();
            assert_eq!(strerror(errno) + &format!(" (os error {errno})"), std_text);
        }
    }

    #[test]
    fn c_strings_are_what_std_makes() {
        for bytes in [&b""[..], b"/tmp/log", b"a\xffb", b"\0", b"a\0", b"/tmp/\0x"] {
            assert_eq!(c_string(bytes), CString::new(bytes).ok(), "{bytes:?}");
        }
    }
}
