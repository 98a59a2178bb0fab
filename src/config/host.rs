//! What the config needs to know about the machine: effective uid, host
//! name, `/etc/passwd` entries, home directories, executables on PATH.

use crate::path::FilePath;
use crate::text::TrimSpace;
use crate::users::{self, Account};

/// The effective uid (always known; `Option` keeps "unknown" expressible for tests).
pub fn euid() -> Option<u32> {
    Some(crate::sys::geteuid())
}

/// `platform.node()` for `%(host_node_name)s`.
pub fn host_name() -> String {
    super::files::read_bytes(b"/proc/sys/kernel/hostname")
        .ok()
        .and_then(|bytes| crate::sys::string_of(bytes).ok())
        .map(|s| s.trim_space().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Looks up a user name or a numeric uid in `/etc/passwd`.
pub fn user(name_or_uid: &str) -> Option<Account> {
    users::account(name_or_uid)
}

/// The daemon's home: `$HOME`, else its passwd entry, else `/`.
pub fn own_home() -> String {
    if let Some(home) = crate::sys::env_var("HOME").filter(|h| !h.is_empty()) {
        return crate::text::lossy(home).into_owned();
    }
    euid()
        .and_then(|uid| user(&crate::text::concat("{}", &[crate::text::Part::Uint(uid.into())])))
        .map(|a| a.home)
        .unwrap_or_else(|| "/".to_string())
}

pub fn is_executable(path: &[u8]) -> bool {
    super::files::stat(path).is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFREG && st.mode & 0o111 != 0)
}

/// Finds a bare command name in `path_var` (a `PATH` value).
pub fn which(name: &str, path_var: &str) -> Option<FilePath> {
    // One buffer for every candidate: a long PATH must not cost an
    // allocation per directory per program.
    let mut candidate = Vec::new();
    for dir in path_var.split(':').filter(|dir| !dir.is_empty()) {
        candidate.clear();
        candidate.extend_from_slice(dir.as_bytes());
        if !dir.ends_with('/') {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name.as_bytes());
        if is_executable(&candidate) {
            return Some(candidate.into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_root() {
        assert!(which("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert!(which("pman-surely-missing", "/bin:/usr/bin").is_none());
        assert_eq!(user("root").map(|u| u.uid), Some(0));
        assert_eq!(user("0").map(|u| u.name), Some("root".to_string()));
        assert!(euid().is_some());
    }
}
