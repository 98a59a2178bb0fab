//! File paths as pman holds them: the bytes a config, the command line or
//! a directory listing gave, without `std::path` (its `Components` code
//! costs kilobytes on MIPS). Two paths are equal when `Path` comparisons
//! would have them equal: repeated and trailing `/`, and `.` past the
//! start, do not count.

use std::ffi::CString;
use std::ops::Deref;

#[derive(Clone, Debug, Default, Eq)]
pub struct FilePath(Vec<u8>);

impl FilePath {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `tail` under this path, as `Path::join` puts it: an absolute `tail`
    /// replaces the path, and one `/` goes between.
    pub fn join(&self, tail: &[u8]) -> FilePath {
        join(&self.0, tail)
    }
}

/// `tail` under `base` ([`FilePath::join`]).
pub fn join(base: &[u8], tail: &[u8]) -> FilePath {
    if is_absolute(tail) {
        return FilePath(tail.to_vec());
    }
    let mut path = Vec::with_capacity(base.len() + 1 + tail.len());
    path.extend_from_slice(base);
    if base.last().is_some_and(|&c| c != b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(tail);
    FilePath(path)
}

pub fn is_absolute(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
}

/// `path` for a syscall: EINVAL when it holds a NUL (no file has such a name).
pub fn c_path(path: &[u8]) -> Result<CString, i32> {
    crate::sys::c_string(path).ok_or(libc::EINVAL)
}

/// Whether `a` and `b` name one place as `Path` comparisons see it: the
/// same start (`/`, a leading `.`, or neither) and the same components,
/// less empty ones and `.`s.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a == b || (start(a) == start(b) && parts(a).eq(parts(b)))
}

/// `path` less what [`same`] skips: two paths have one key exactly when
/// they are the same (for lists sorted by path).
pub fn key(path: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(path.len());
    match start(path) {
        0 => {}
        c => key.push(c),
    }
    for part in parts(path) {
        if !key.is_empty() && key != b"/" {
            key.push(b'/');
        }
        key.extend_from_slice(part);
    }
    key
}

/// How a path starts: `/`, a leading `.` component, or neither (0).
fn start(p: &[u8]) -> u8 {
    match p {
        [b'/', ..] => b'/',
        [b'.'] | [b'.', b'/', ..] => b'.',
        _ => 0,
    }
}

/// Its components less empty ones and `.`s.
fn parts(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&c| c == b'/').filter(|part| !part.is_empty() && *part != b".")
}

impl PartialEq for FilePath {
    fn eq(&self, other: &FilePath) -> bool {
        same(&self.0, &other.0)
    }
}

impl Deref for FilePath {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for FilePath {
    fn from(bytes: Vec<u8>) -> FilePath {
        FilePath(bytes)
    }
}

impl From<&[u8]> for FilePath {
    // One copy routine for both borrowed forms: inlined, they cost 224 B
    // more on mipsel.
    #[inline(never)]
    fn from(bytes: &[u8]) -> FilePath {
        FilePath(bytes.to_vec())
    }
}

impl From<String> for FilePath {
    fn from(text: String) -> FilePath {
        FilePath(text.into_bytes())
    }
}

impl From<&str> for FilePath {
    fn from(text: &str) -> FilePath {
        FilePath::from(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn std_path(bytes: &[u8]) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(bytes))
    }

    #[test]
    fn paths_are_equal_exactly_when_std_paths_are() {
        let paths = [
            "", "/", "//", "/.", "/./", ".", "./", "./.", "..", "a", "a/", "a//", "a/.", "./a", ".//a",
            "a/b", "a//b", "a/./b", "a/b/", "/a", "//a", "/a/", "/./a", "/a/b", "/a//b/.", "/a/../b",
            "/a/b/..", "a/..", ".a", "a.", "/.a/b", "./.", "b/a", "/b/a",
        ];
        for a in paths {
            for b in paths {
                let (pa, pb) = (std_path(a.as_bytes()), std_path(b.as_bytes()));
                assert_eq!(same(a.as_bytes(), b.as_bytes()), pa == pb, "{a:?} {b:?}");
                assert_eq!(FilePath::from(a) == FilePath::from(b), pa == pb, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn join_puts_paths_together_as_std_does() {
        for base in ["", "/", "/etc", "/etc/", "etc", "./etc//"] {
            for tail in ["", "a", "a/b", "/abs", "./a", "a/"] {
                let ours = FilePath::from(base).join(tail.as_bytes());
                let std = std_path(base.as_bytes()).join(tail);
                assert_eq!(ours.as_bytes(), std.as_os_str().as_bytes(), "{base:?} {tail:?}");
            }
        }
    }
}
