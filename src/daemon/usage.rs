//! What `status --json` reads from /proc about a live process when the
//! request is made: resident memory, CPU time and open descriptors. Paths
//! and file contents sit in buffers on the stack: nothing is allocated.

use crate::sys::{self, Pid};
use crate::text::Text;
use std::ffi::CStr;

/// Appends `,"rss_kb":…,"cpu_ms":…,"fds":…`, each null when unknown or
/// when there is no process.
pub fn json_fields(out: &mut Text, pid: Option<Pid>) {
    let (mut rss_kb, mut cpu_ms, mut fds) = (None, None, None);
    if let Some(pid) = pid {
        rss_kb = proc_number(pid, b"/status", vm_rss);
        cpu_ms = proc_number(pid, b"/stat", cpu_ticks)
            .map(|ticks| crate::number::divide(ticks * 1000, sys::clock_ticks()));
        fds = sys::count_entries(proc_path(&mut [0u8; 32], pid, b"/fd"));
    }
    for (name, value) in [(",\"rss_kb\":", rss_kb), (",\"cpu_ms\":", cpu_ms), (",\"fds\":", fds)] {
        out.str(name);
        match value {
            Some(n) => out.uint(n),
            None => out.str("null"),
        };
    }
}

/// VmRSS of a live process in kB (for `memory_max`).
pub fn rss_kb(pid: Pid) -> Option<u64> {
    proc_number(pid, b"/status", vm_rss)
}

/// What `parse` finds in `/proc/PID` + `leaf`. Out of line: its 4 KiB
/// buffer is on the stack only while the file is read, not in the frames
/// of the loop that asks (stack pages, once touched, stay resident).
#[inline(never)]
fn proc_number(pid: Pid, leaf: &[u8], parse: fn(&[u8]) -> Option<u64>) -> Option<u64> {
    let mut path = [0u8; 32];
    let mut file = [0u8; 4096];
    let n = read(proc_path(&mut path, pid, leaf), &mut file)?;
    parse(file.get(..n)?)
}

fn read(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    sys::read_start(path, buf).ok()
}

/// `/proc/PID` and `leaf`, NUL-terminated, in `buf`.
fn proc_path<'a>(buf: &'a mut [u8; 32], pid: Pid, leaf: &[u8]) -> &'a CStr {
    let mut digits = [0u8; 20];
    let digits = crate::text::decimal(pid.unsigned_abs().into(), &mut digits);
    let mut len = 0;
    for part in [b"/proc/".as_slice(), digits, leaf, b"\0"] {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    CStr::from_bytes_until_nul(&buf[..len]).unwrap_or(c"")
}

/// The leading decimal number of `bytes`, after blanks.
fn number(bytes: &[u8]) -> Option<u64> {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t')?;
    let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit());
    let mut value: Option<u64> = None;
    for &d in digits {
        value = Some(value.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d - b'0'))?);
    }
    value
}

/// `VmRSS:` of /proc/PID/status, in kB (absent for a zombie).
fn vm_rss(status: &[u8]) -> Option<u64> {
    let key = b"\nVmRSS:";
    let at = status.windows(key.len()).position(|w| w == key)?;
    number(&status[at + key.len()..])
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat, in clock ticks;
/// counted after the `)` that ends the command name, which may hold spaces.
fn cpu_ticks(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let utime = number(fields.nth(11)?)?;
    let stime = number(fields.next()?)?;
    utime.checked_add(stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let stat =
            b"42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 9 1000 200 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(12));
        assert_eq!(vm_rss(b"Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t    1234 kB\n"), Some(1234));
        assert_eq!(vm_rss(b"Name:\tx\nState:\tZ (zombie)\n"), None);
        let mut buf = [0u8; 32];
        assert_eq!(proc_path(&mut buf, 12345, b"/fd").to_bytes(), b"/proc/12345/fd");
    }

    #[test]
    fn fields_of_this_process_and_of_none() {
        let mut out = Text::new();
        json_fields(&mut out, None);
        assert_eq!(out.to_str_lossy(), r#","rss_kb":null,"cpu_ms":null,"fds":null"#);
        out.clear();
        json_fields(&mut out, Some(sys::getpid()));
        let text = out.to_str_lossy();
        assert!(!text.contains("null") && text.contains(r#","fds":"#), "{text}");
    }
}
