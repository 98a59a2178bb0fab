//! The clocks, read by clock_gettime(2) itself: std's `Instant` and libc's
//! `time` go through musl's vDSO lookup (about 1.6 KiB on mipsel), and a
//! syscall a few times per loop turn costs nothing the daemon would notice.

use std::num::NonZeroU64;

/// A point on the monotonic clock (`CLOCK_MONOTONIC`) in milliseconds
/// since boot: a plain integer, where std's `Duration` would normalise
/// nanoseconds and check for overflow at each step, inlined everywhere
/// on 32-bit CPUs. u64 milliseconds last 584 million years; no time the
/// daemon shows needs finer steps. Counted from 1 at boot, so that an
/// `Option<Instant>` is a plain integer too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(NonZeroU64);

impl Instant {
    pub fn now() -> Instant {
        let (secs, nanos) = clock(libc::CLOCK_MONOTONIC);
        // Seconds since boot fit u32 for 136 years.
        Instant(NonZeroU64::MIN).after_ms(nanos as u32 / 1_000_000).after_secs(secs as u32)
    }

    // Out of line: 64-bit sums, differences and products are some twenty
    // instructions on a 32-bit CPU, and deadlines are armed in many places.

    /// `ms` milliseconds later.
    #[inline(never)]
    pub fn after_ms(self, ms: u32) -> Instant {
        self.later(ms.into())
    }

    /// `secs` seconds later.
    #[inline(never)]
    pub fn after_secs(self, secs: u32) -> Instant {
        self.later(u64::from(secs) * 1000)
    }

    /// The sum is never 0 (it would have to wrap round, in 584 million
    /// years); the fallback only keeps the type's promise, cheaply.
    fn later(self, ms: u64) -> Instant {
        Instant(NonZeroU64::new(self.0.get() + ms).unwrap_or(self.0))
    }

    /// Milliseconds since `earlier`; 0 when it is not before.
    #[inline(never)]
    pub fn ms_since(self, earlier: Instant) -> u64 {
        self.0.get().saturating_sub(earlier.0.get())
    }

    /// Whole seconds since `earlier` (cut); 0 when it is not before.
    pub fn secs_since(self, earlier: Instant) -> u32 {
        secs(self.ms_since(earlier))
    }

    /// Seconds until `later`, rounded up; 0 when it is not after.
    pub fn secs_until(self, later: Instant) -> u32 {
        secs(later.ms_since(self).saturating_add(999))
    }

    /// A point `ms` milliseconds after boot, as [`Instant::now`] counts.
    #[cfg(test)]
    fn from_ms(ms: u64) -> Instant {
        Instant(NonZeroU64::MIN.saturating_add(ms))
    }
}

/// `ms / 1000` as u32, `u32::MAX` from 136 years on.
fn secs(ms: u64) -> u32 {
    u32::try_from(crate::number::divide(ms, 1000)).unwrap_or(u32::MAX)
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
        std::thread::sleep(std::time::Duration::from_millis(30));
        let (std_after, ours_after) = (std::time::Instant::now(), Instant::now());
        let (ours, std) = (ours_after.ms_since(ours_before), (std_after - std_before).as_millis() as u64);
        assert!(ours >= std && std >= 30, "{ours} {std}");
        assert!(ours - std < 1000, "{ours} {std}");
        assert_eq!(ours_before.ms_since(ours_after), 0);
        let (secs, nanos) = clock(libc::CLOCK_MONOTONIC);
        let raw = Instant::from_ms(secs as u64 * 1000 + nanos as u64 / 1_000_000);
        let now = Instant::now();
        assert!(now >= raw && now.ms_since(raw) < 1000, "{now:?} {raw:?}");
        assert_eq!(ours_before.after_ms(ours as u32), ours_after);
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs());
        let unix = unix_time();
        assert!(wall.as_ref().is_ok_and(|&w| (w as i64 - unix).abs() <= 1), "{wall:?} {unix}");
    }

    #[test]
    fn seconds_are_cut_or_rounded_up_as_divisions_are() {
        let top = 1000u64 << 32;
        let mut samples = vec![0, 1, 999, 1000, 1001, 1999, (1 << 32) - 1, 1 << 32, (1 << 32) + 999];
        samples.extend([top - 1001, top - 1000, top - 999, top - 1]);
        for hi in [1, 2, 3, 500, 998, 999] {
            samples.extend([(hi << 32) - 1, hi << 32, (hi << 32) + 703, (hi << 32) + 704]);
        }
        let mut ms = 7u64;
        while ms < top {
            samples.extend([ms - 1, ms, ms + 1]);
            ms = ms * 3 + 1;
        }
        let t0 = Instant::from_ms(5);
        for ms in samples {
            let later = Instant::from_ms(5 + ms);
            assert_eq!(u64::from(later.secs_since(t0)), ms / 1000, "{ms}");
            assert_eq!(u64::from(t0.secs_until(later)), ms.div_ceil(1000).min(u32::MAX.into()), "{ms}");
            assert_eq!((later.secs_until(t0), t0.secs_since(later)), (0, 0), "{ms}");
        }
        assert_eq!(Instant::from_ms(0).secs_since(Instant::from_ms(0).after_secs(0)), 0);
        assert_eq!(Instant::from_ms(top + 5).secs_since(t0), u32::MAX);
        assert_eq!(Instant::from_ms(u64::MAX).secs_since(Instant::from_ms(0)), u32::MAX);
        assert_eq!(t0.after_secs(u32::MAX).secs_since(t0), u32::MAX);
        assert_eq!(t0.secs_until(t0.after_secs(u32::MAX)), u32::MAX);
        assert_eq!(t0.after_secs(3).after_ms(500).ms_since(t0), 3500);
        assert_eq!(t0.secs_until(t0.after_ms(3500)), 4);
        assert_eq!(std::mem::size_of::<Option<Instant>>(), 8);
    }
}
