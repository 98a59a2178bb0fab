//! Rotation of a capped log file, shared by program output (`capture`)
//! and the daemon's own log (`log`): `log` → `log.1` → … → `log.N`, and
//! with no backups the file is emptied in place. The caller reopens.

use crate::sys;

pub fn rotate(path: &[u8], backups: u32) {
    if backups == 0 {
        if let Ok(path) = crate::path::c_path(path) {
            let _ = sys::open(&path, libc::O_WRONLY | libc::O_TRUNC, 0);
        }
        return;
    }
    // `path.N` built in two buffers that are swapped, never formatted.
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for n in (1..backups).rev() {
        numbered(&mut from, path, n);
        numbered(&mut to, path, n + 1);
        let _ = sys::rename(&from, &to);
    }
    numbered(&mut to, path, 1);
    let _ = sys::rename(path, &to);
}

/// `path.n` into `out`.
fn numbered(out: &mut Vec<u8>, path: &[u8], n: u32) {
    let mut text = crate::text::Text::reuse(std::mem::take(out));
    text.bytes(path).byte(b'.').uint(u64::from(n));
    *out = text.into_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn backups_shift_and_none_empties_in_place() {
        let dir = std::env::temp_dir().join(format!("pman-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let log = log.as_os_str().as_bytes().to_vec();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        std::fs::write(std::ffi::OsStr::from_bytes(&log), "first").unwrap();
        rotate(&log, 2);
        std::fs::write(std::ffi::OsStr::from_bytes(&log), "second").unwrap();
        rotate(&log, 2);
        std::fs::write(std::ffi::OsStr::from_bytes(&log), "third").unwrap();
        rotate(&log, 2);
        assert_eq!(
            (read("out.log"), read("out.log.1"), read("out.log.2")),
            (None, Some("third".into()), Some("second".into()))
        );
        std::fs::write(std::ffi::OsStr::from_bytes(&log), "kept name").unwrap();
        rotate(&log, 0);
        assert_eq!(read("out.log"), Some(String::new()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
