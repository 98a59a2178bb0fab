//! Files on disk: reading a config file (with the root ownership rule),
//! `[include]` globbing, and turning relative or `~` paths into absolute ones.

use crate::path::{c_path, is_absolute, join, FilePath};
use crate::sort;
use crate::sys::{self, FileStat};
use crate::text::Part::Str;
use std::os::fd::AsRawFd;

/// An errno as users read it: `No such file or directory`.
pub fn reason(errno: i32) -> String {
    sys::strerror(errno)
}

/// `stat(path)`, symlinks followed; `Err(errno)`.
pub fn stat(path: &[u8]) -> Result<FileStat, i32> {
    sys::stat(&c_path(path)?)
}

/// Whether `path` is a directory (symlinks followed).
pub fn is_dir(path: &[u8]) -> bool {
    stat(path).is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFDIR)
}

/// The whole content of `path`; `Err(errno)`.
pub fn read_bytes(path: &[u8]) -> Result<Vec<u8>, i32> {
    let fd = sys::open_read(&c_path(path)?)?;
    let mut bytes = Vec::new();
    sys::read_to_end(fd.as_raw_fd(), &mut bytes)?;
    Ok(bytes)
}

/// Reads a config file. It must be a regular file, and as root one that no
/// one else could edit (group/world-writable or not owned by root would let
/// them run anything as root). Both are checked on the open descriptor the
/// text is read from, so swapping files meanwhile cannot slip another one in.
/// `before` is the file's `stat`, when it has one.
pub fn read(path: &[u8], euid: Option<u32>, before: Option<&FileStat>) -> Result<String, String> {
    // A device is refused before it is opened: opening some (a watchdog, a
    // tape) acts. The descriptor's fstat below is what decides.
    if let Some(st) = before {
        not_regular(st)?;
    }
    let path = c_path(path).map_err(reason)?;
    let fd = sys::open_read(&path).map_err(reason)?;
    let st = sys::fstat(fd.as_raw_fd()).map_err(reason)?;
    not_regular(&st)?;
    if euid == Some(0) {
        if st.uid != 0 {
            let mut text = String::from("owned by uid ");
            text.push_str(&crate::text::concat("{}", &[crate::text::Part::Uint(st.uid.into())]));
            text.push_str(", not root: refusing to run it as root");
            return Err(text);
        }
        if st.mode & 0o022 != 0 {
            let who = if st.mode & 0o002 != 0 { "everyone" } else { "its group" };
            let mode = octal(st.mode & 0o7777);
            return Err(crate::text::concat(
                "writable by {} (mode {}): refusing to run it as root",
                &[Str(who), Str(&mode)],
            ));
        }
    }
    let mut bytes = Vec::new();
    sys::read_to_end(fd.as_raw_fd(), &mut bytes).map_err(reason)?;
    Ok(crate::text::lossy(&bytes).into_owned())
}

/// Config files are regular files; anything else is named in the error.
fn not_regular(st: &FileStat) -> Result<(), String> {
    let what = match st.mode & libc::S_IFMT {
        libc::S_IFREG => return Ok(()),
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "not a file",
    };
    let mut text = String::from("not a regular file (");
    text.push_str(what);
    text.push(')');
    Err(text)
}

/// `path` made absolute against the working directory (no symlink
/// resolving). Its leading `..`s (and `.`s) are taken off the working
/// directory, which getcwd gives free of symlinks, so that is exact:
/// `../sub/pman.conf` from `/etc/x` is `/etc/sub/pman.conf`, and paths
/// relative to it compare equal to the ones written out in full.
pub fn absolute(path: &[u8]) -> FilePath {
    if !is_absolute(path) {
        if let Ok(cwd) = sys::current_dir() {
            let mut base = cwd.as_bytes();
            let mut rest = path;
            loop {
                let (part, tail) = match rest.iter().position(|&b| b == b'/') {
                    Some(at) => (&rest[..at], &rest[at + 1..]),
                    None => (rest, &b""[..]),
                };
                match part {
                    b"." | b"" if !tail.is_empty() => {}
                    b".." => base = parent(base).unwrap_or(b"/"),
                    _ => break,
                }
                rest = tail;
            }
            return crate::path::join(base, rest);
        }
    }
    path.into()
}

/// `Path::parent` by bytes (without `Components`): `path` less its last
/// component and the separators and `.`s before and after it; `None` for a
/// root or an empty path.
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    let b = path;
    // A root or a leading `.` is no component to take away.
    let start = usize::from(b.first() == Some(&b'/') || b == b"." || b.starts_with(b"./"));
    let (mut end, mut taken) = (b.len(), false);
    loop {
        while end > start && b.get(end - 1) == Some(&b'/') {
            end -= 1;
        }
        let body = b.get(start..end).unwrap_or_default();
        if body.is_empty() {
            break;
        }
        let at = body.iter().rposition(|&c| c == b'/').map_or(start, |i| start + i + 1);
        // A `.` is skipped; the first other component is taken away, and
        // the separators and `.`s before it with it.
        if b.get(at..end) != Some(b".") {
            if taken {
                break;
            }
            taken = true;
        }
        end = at;
    }
    if !taken {
        // Only a root (no parent) or a leading `.` (whose parent is empty).
        return (start == 1 && b.first() == Some(&b'.')).then_some(&b""[..]);
    }
    b.get(..end)
}

/// `~`, `~/x` → under `home`; `~name/x` → under that user's home; a relative
/// path → under `base`; an absolute one stays.
pub fn resolve(value: &str, base: &[u8], home: &str) -> FilePath {
    if let Some(rest) = value.strip_prefix('~') {
        let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let dir =
            if user.is_empty() { Some(home.to_string()) } else { super::host::user(user).map(|u| u.home) };
        if let Some(dir) = dir {
            return if tail.is_empty() { FilePath::from(dir) } else { join(dir.as_bytes(), tail.as_bytes()) };
        }
    }
    join(base, value.as_bytes())
}

/// Whether the pattern piece at `p[i]` (not `*`) takes `c`, and where the
/// next piece starts. `?` is one character; `[...]` (`[!...]`: negated) a
/// class, read as `fnmatch.translate` reads it: a `[` without its `]` is
/// literal; `]` right after `[` or `[!` is a member; `a-z` is a range, a
/// reversed one matches nothing; `\` is not an escape.
fn piece(p: &[char], i: usize, c: char) -> (bool, usize) {
    let first = p.get(i).copied();
    if first == Some('?') {
        return (true, i + 1);
    }
    if first == Some('[') {
        let mut j = i + 1;
        if p.get(j) == Some(&'!') {
            j += 1;
        }
        if p.get(j) == Some(&']') {
            j += 1;
        }
        while p.get(j).is_some_and(|&c| c != ']') {
            j += 1;
        }
        if let Some(mut body) = p.get(i + 1..j).filter(|_| j < p.len()) {
            let negated = body.first() == Some(&'!');
            if negated {
                body = body.get(1..).unwrap_or_default();
            }
            let mut hit = false;
            while let Some(&lo) = body.first() {
                match body.get(1..3) {
                    Some(&['-', hi]) => {
                        hit |= (lo..=hi).contains(&c);
                        body = body.get(3..).unwrap_or_default();
                    }
                    _ => {
                        hit |= lo == c;
                        body = body.get(1..).unwrap_or_default();
                    }
                }
            }
            return (hit != negated, j + 1);
        }
    }
    (first == Some(c), i + 1)
}

/// The characters of `bytes` (what is not UTF-8 replaced), one loop for
/// the pattern and the name alike.
fn chars(bytes: &[u8]) -> Vec<char> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend(crate::text::lossy(bytes).chars());
    out
}

/// Whether a whole file name matches a pattern component (`*`, `?`, `[...]`).
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let p = chars(pattern);
    let name = chars(name);
    // Two pointers, backtracking to the last `*`.
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = name.get(n) {
        if p.get(t) == Some(&'*') {
            star = Some((t, n));
            t += 1;
            continue;
        }
        if t < p.len() {
            let (hit, next) = piece(&p, t, c);
            if hit {
                t = next;
                n += 1;
                continue;
            }
        }
        match star {
            Some((st, sn)) => {
                t = st + 1;
                n = sn + 1;
                star = Some((st, sn + 1));
            }
            None => return false,
        }
    }
    p.get(t..).is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

fn has_magic(component: &[u8]) -> bool {
    component.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// What an absolute include pattern names, as Python's `glob.glob` (which
/// Supervisor uses) finds it: `*`, `?` and `[...]` in any path component, a
/// hidden name only for a component that starts with `.`; sorted as strings.
/// Whatever matches is returned, files or not: reading says what is wrong.
pub fn glob(pattern: &[u8]) -> Vec<FilePath> {
    let bytes = pattern;
    let parts: Vec<&[u8]> = bytes.split(|&b| b == b'/').filter(|p| !p.is_empty()).collect();
    let root = if bytes.first() == Some(&b'/') { FilePath::from("/") } else { FilePath::from(".") };
    let mut found = Vec::new();
    walk(root, &parts, &mut found);
    // Unstable: paths of equal bytes are the same path.
    let order = sort::sorted(found.len(), &|a, b| found[a].as_bytes() < found[b].as_bytes());
    order.iter().map(|&i| std::mem::take(&mut found[i])).collect()
}

/// Matches `parts` below `base`: directories for every part but the last.
fn walk(base: FilePath, parts: &[&[u8]], found: &mut Vec<FilePath>) {
    let Some((&part, rest)) = parts.split_first() else { return };
    if !has_magic(part) {
        let next = base.join(part);
        if !rest.is_empty() {
            walk(next, rest, found);
        } else if c_path(&next).is_ok_and(|c| sys::exists_nofollow(&c)) {
            found.push(next);
        }
        return;
    }
    let Ok(dir) = c_path(&base) else { return };
    let hidden_too = part.first() == Some(&b'.');
    let mut matched: Vec<FilePath> = Vec::new();
    // An entry that cannot be read is left out, as std's `read_dir` would.
    sys::each_entry(&dir, &mut |name| {
        if (hidden_too || name.first() != Some(&b'.')) && matches(part, name) {
            matched.push(base.join(name));
        }
    });
    for path in matched {
        if rest.is_empty() {
            found.push(path);
        } else if is_dir(&path) {
            walk(path, rest, found);
        }
    }
}

/// `n` in octal as `{:o}` writes it (no leading zeros).
fn octal(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.insert(0, b'0' + (n & 7) as u8);
        n >>= 3;
        if n == 0 {
            return crate::sys::string_of(digits).unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_takes_its_leading_dot_dots_off_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let up = cwd.parent().unwrap_or(&cwd).to_str().unwrap().to_string();
        let here = cwd.to_str().unwrap();
        let cases = [
            ("../sub/pman.conf", format!("{up}/sub/pman.conf")),
            ("./../sub/pman.conf", format!("{up}/sub/pman.conf")),
            ("pman.conf", format!("{here}/pman.conf")),
            ("./pman.conf", format!("{here}/pman.conf")),
            ("a/../b.conf", format!("{here}/a/../b.conf")),
            ("/etc/../x.conf", "/etc/../x.conf".to_string()),
        ];
        for (path, want) in cases {
            let got = absolute(path.as_bytes());
            assert_eq!(String::from_utf8_lossy(got.as_bytes()), want.replace("//", "/"), "{path}");
        }
        let deep = "../".repeat(cwd.components().count() + 3) + "x.conf";
        assert_eq!(absolute(deep.as_bytes()).as_bytes(), b"/x.conf");
    }

    #[test]
    fn octal_is_written_as_format_writes_it() {
        for n in (0..=0o7777).chain([u32::MAX]) {
            assert_eq!(octal(n), format!("{n:o}"));
        }
    }

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
        let base = b"/etc/pman";
        assert_eq!(resolve("log/x", base, "/root"), FilePath::from("/etc/pman/log/x"));
        assert_eq!(resolve("/var/x", base, "/root"), FilePath::from("/var/x"));
        assert_eq!(resolve("~", base, "/home/me"), FilePath::from("/home/me"));
        assert_eq!(resolve("~/a", base, "/home/me"), FilePath::from("/home/me/a"));
        assert!(resolve("~root/a", base, "/home/me").ends_with(b"/a"));
        assert_eq!(reason(libc::ENOENT), "No such file or directory");
    }

    #[test]
    fn path_keys_and_parents_are_as_paths_have_them() {
        use std::os::unix::ffi::OsStrExt;
        use std::path::Path;
        let words = ["", "/", ".", "..", "a", "dev", "b.log", "./", "//", "/.", "a/", "/dev"];
        let mut paths = Vec::new();
        for a in words {
            for b in words {
                for c in ["", "/", "//", "/./", "x"] {
                    paths.push([a, c, b].concat());
                }
            }
        }
        for a in &paths {
            let (pa, ka) = (Path::new(a), crate::path::key(a.as_bytes()));
            assert_eq!(parent(a.as_bytes()), pa.parent().map(|p| p.as_os_str().as_bytes()), "{a:?}");
            let dev = ka.starts_with(b"/dev") && matches!(ka.get(4), None | Some(b'/'));
            assert_eq!(dev, pa.starts_with("/dev"), "{a:?}");
            for b in &paths {
                assert_eq!(ka == crate::path::key(b.as_bytes()), pa == Path::new(b), "{a:?} {b:?}");
                assert_eq!(crate::path::same(a.as_bytes(), b.as_bytes()), pa == Path::new(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn classes_as_fnmatch() {
        assert!(matches(b"[ab]x", b"bx"));
        assert!(!matches(b"[!ab]x", b"bx"));
        assert!(matches(b"[!ab]x", b"cx"));
        assert!(matches(b"[0-9][0-9]-*", b"10-web.conf"));
        assert!(!matches(b"[0-9]*", b"a1"));
        assert!(matches(b"[]]", b"]"));
        assert!(matches(b"[!]]", b"a"));
        assert!(matches(b"a[", b"a["));
        assert!(!matches(b"[z-a]", b"a"));
        assert!(matches(b"[a-]", b"-"));
        assert!(matches(b"\\*", b"\\x"));
        assert!(matches(b"*.c[o]nf", b"x.conf"));
        assert!(matches(b"caf[\xc3\xa9e]", "caf\u{e9}".as_bytes()));
    }

    #[test]
    fn glob_like_python() {
        let dir = std::env::temp_dir().join(format!("pman-glob-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in
            ["common/b/x.ini", "common/a/x.ini", "common/a/y.ini", "common/.h/x.ini", "common/c.ini/x.ini"]
        {
            let path = dir.join(f);
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(&dir));
            let _ = std::fs::write(&path, "");
        }
        let _ = std::fs::write(dir.join("common/.hidden.ini"), "");
        let names = |pattern: &str| -> Vec<String> {
            use std::os::unix::ffi::OsStrExt;
            let prefix = [dir.as_os_str().as_bytes(), b"/"].concat();
            glob(dir.join(pattern).as_os_str().as_bytes())
                .iter()
                .map(|p| String::from_utf8_lossy(p.strip_prefix(&prefix[..]).unwrap_or(p)).into_owned())
                .collect()
        };
        assert_eq!(
            names("common/*/*.ini"),
            ["common/a/x.ini", "common/a/y.ini", "common/b/x.ini", "common/c.ini/x.ini"]
        );
        assert_eq!(names("common/*.ini"), ["common/c.ini"]);
        assert_eq!(names("common/.*.ini"), ["common/.hidden.ini"]);
        assert_eq!(names("common/?/[x]*"), ["common/a/x.ini", "common/b/x.ini"]);
        assert_eq!(names("common/a/x.ini"), ["common/a/x.ini"]);
        assert!(names("common/a/none.ini").is_empty());
        assert!(names("nothing/*/*.ini").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
