//! Files on disk: reading a config file (with the root ownership rule),
//! `[include]` globbing, and turning relative or `~` paths into absolute ones.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An I/O error as users read it: `No such file or directory`, without
/// Rust's ` (os error 2)` suffix.
pub fn reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// Reads a config file. As root, refuses one that someone else could edit
/// (group/world-writable or not owned by root): it would run anything as root.
pub fn read(path: &Path, euid: Option<u32>) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| reason(&e))?;
    if euid == Some(0) {
        let meta = std::fs::metadata(path).map_err(|e| reason(&e))?;
        if meta.uid() != 0 {
            return Err(format!("owned by uid {}, not root: refusing to run it as root", meta.uid()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "writable by {} (mode {:o}): refusing to run it as root",
                if meta.mode() & 0o002 != 0 { "everyone" } else { "its group" },
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `path` made absolute against the working directory (no symlink resolving,
/// like Python's `os.path.abspath` without the normalisation).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    }
}

/// `~`, `~/x` → under `home`; `~name/x` → under that user's home; a relative
/// path → under `base`; an absolute one stays.
pub fn resolve(value: &str, base: &Path, home: &str) -> PathBuf {
    if let Some(rest) = value.strip_prefix('~') {
        let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let dir =
            if user.is_empty() { Some(home.to_string()) } else { super::host::user(user).map(|u| u.home) };
        if let Some(dir) = dir {
            return if tail.is_empty() { PathBuf::from(dir) } else { Path::new(&dir).join(tail) };
        }
    }
    base.join(value)
}

/// `*` and `?` matching of a whole file name.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == name.get(n) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The files an absolute include pattern names, sorted. Wildcards (`*`, `?`)
/// may appear only in the last component; hidden files need a leading `.`.
pub fn glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?']) {
        return Ok(if pattern.is_file() { vec![pattern.to_path_buf()] } else { Vec::new() });
    }
    let (Some(dir), Some(last)) = (pattern.parent(), pattern.file_name()) else {
        return Ok(Vec::new());
    };
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err(format!("'{text}': wildcards are allowed only in the last path component"));
    }
    let last = last.as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            (last.first() == Some(&b'.') || name.first() != Some(&b'.')) && matches(last, name)
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches(b"*.conf", b"a.conf"));
        assert!(matches(b"*.conf", b".conf"));
        assert!(!matches(b"*.conf", b"a.conf.bak"));
        assert!(matches(b"supervisord-*.conf", b"supervisord-x.conf"));
        assert!(matches(b"a?c*", b"abcdef"));
        assert!(matches(b"*", b""));
        assert!(!matches(b"", b"x"));
        assert!(matches(b"*a*b", b"xaxxb"));
    }

    #[test]
    fn paths() {
        let base = Path::new("/etc/pman");
        assert_eq!(resolve("log/x", base, "/root"), PathBuf::from("/etc/pman/log/x"));
        assert_eq!(resolve("/var/x", base, "/root"), PathBuf::from("/var/x"));
        assert_eq!(resolve("~", base, "/home/me"), PathBuf::from("/home/me"));
        assert_eq!(resolve("~/a", base, "/home/me"), PathBuf::from("/home/me/a"));
        assert!(resolve("~root/a", base, "/home/me").ends_with("a"));
        assert_eq!(reason(&std::io::Error::from_raw_os_error(libc::ENOENT)), "No such file or directory");
    }

    #[test]
    fn glob_needs_plain_directories() {
        assert!(glob(Path::new("/etc/*/x.conf")).is_err());
        assert_eq!(glob(Path::new("/nonexistent-pman/*.conf")), Ok(Vec::new()));
    }
}
