//! The clocks, read by clock_gettime(2) itself: std's `Instant` and libc's
//! `time` go through musl's vDSO lookup (about 1.6 KiB on mipsel), and a
//! syscall a few times per loop turn costs nothing the daemon would notice.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point on the monotonic clock (`CLOCK_MONOTONIC`), as std's `Instant`
/// (the methods pman uses, with the same meaning; the
/// arithmetic panics on overflow as std's does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(Duration);

impl Instant {
    pub fn now() -> Instant {
        let (secs, nanos) = clock(libc::CLOCK_MONOTONIC);
        Instant(Duration::new(secs as u64, nanos as u32))
    }

    /// How long after `earlier` this is; zero when it is not after.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0 + d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0 - d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_time() -> i64 {
    clock(libc::CLOCK_REALTIME).0
}

/// clock_gettime(2): seconds and nanoseconds. Neither clock can fail for
/// these ids; a zero time stands for a failure that cannot happen.
#[cfg(target_pointer_width = "64")]
fn clock(id: libc::clockid_t) -> (i64, i64) {
    let mut ts = [0i64; 2];
    // SAFETY: ts is a writable `struct timespec` (two 64-bit words here).
    unsafe { libc::syscall(libc::SYS_clock_gettime, id, ts.as_mut_ptr()) };
    (ts[0], ts[1])
}

/// On 32-bit CPUs: clock_gettime64 (Linux 5.1 on) for a time past 2038,
/// else the 32-bit call of older kernels.
#[cfg(target_pointer_width = "32")]
fn clock(id: libc::clockid_t) -> (i64, i64) {
    // The generic number, which MIPS o32 offsets by 4000 as it does all.
    const SYS_CLOCK_GETTIME64: libc::c_long = if cfg!(target_arch = "mips") { 4403 } else { 403 };
    let mut ts = [0i64; 2];
    // SAFETY: ts is a writable `struct __kernel_timespec` (two 64-bit words).
    if unsafe { libc::syscall(SYS_CLOCK_GETTIME64, id, ts.as_mut_ptr()) } == 0 {
        return (ts[0], ts[1]);
    }
    let mut old = [0i32; 2];
    // SAFETY: old is a writable 32-bit `struct timespec`.
    unsafe { libc::syscall(libc::SYS_clock_gettime, id, old.as_mut_ptr()) };
    (old[0].into(), old[1].into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clocks_read_as_std_reads_them() {
        // Ours is read first and last: its span holds std's.
        let (ours_before, std_before) = (Instant::now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let (std_after, ours_after) = (std::time::Instant::now(), Instant::now());
        let (ours, std) = (ours_after - ours_before, std_after - std_before);
        assert!(ours >= std && std >= Duration::from_millis(30), "{ours:?} {std:?}");
        assert!(ours - std < Duration::from_secs(1), "{ours:?} {std:?}");
        assert_eq!(ours_before.saturating_duration_since(ours_after), Duration::ZERO);
        assert_eq!(ours_before + ours, ours_after);
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs());
        let unix = unix_time();
        assert!(wall.as_ref().is_ok_and(|&w| (w as i64 - unix).abs() <= 1), "{wall:?} {unix}");
    }
}
