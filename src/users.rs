//! Users and groups read from `/etc/passwd` and `/etc/group` as plain text,
//! the one home of account lookups (the daemon's `user=`, the config's `~`,
//! `check`'s unknown-user warning). OpenWrt has no NSS, and musl's
//! `getpwnam_r` + `initgroups` cost ~17 KiB of a router binary.
//!
//! The files are read as bytes: one line that is not UTF-8 (a gecos in
//! Latin-1) must not hide every user.

use crate::sys;
use std::ffi::CStr;
use std::os::fd::AsRawFd;

pub const PASSWD: &CStr = c"/etc/passwd";
pub const GROUP: &CStr = c"/etc/group";

/// The kernel's limit on supplementary groups (`NGROUPS_MAX`): a longer list
/// makes `setgroups` fail, so it is cut there, as glibc's `initgroups` does.
const MAX_GROUPS: usize = 65536;

/// One passwd line's fields that pman uses, borrowed from the file's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub uid: u32,
    pub gid: u32,
    pub home: &'a [u8],
}

/// A passwd entry, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Who a program runs as: a resolved `user=` value, with the supplementary
/// groups worked out before fork (the child must not allocate or read files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// The primary group first, then every group that lists `name` as a
    /// member, as `initgroups(name, gid)` would set them.
    pub groups: Vec<libc::gid_t>,
}

/// The lines that hold entries: blank lines and `#` comments are skipped.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').filter(|line| !line.is_empty() && line[0] != b'#')
}

/// A decimal id: digits only (an empty field is not 0), at most `u32::MAX`.
fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u32, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u32::from(b - b'0')),
        _ => None,
    })
}

/// `name:password:uid:gid:gecos:home:shell`; `None` for a line with fewer
/// fields, an empty name or an id that is not a number.
pub fn parse_passwd_line(line: &[u8]) -> Option<Entry<'_>> {
    let mut fields = line.splitn(7, |&b| b == b':');
    let name = fields.next().filter(|name| !name.is_empty())?;
    let _password = fields.next()?;
    let uid = number(fields.next()?)?;
    let gid = number(fields.next()?)?;
    let _gecos = fields.next()?;
    let home = fields.next()?;
    let _shell = fields.next()?;
    Some(Entry { name, uid, gid, home })
}

/// `name:password:gid:member,member…` → (gid, members list); `None` for a
/// line with fewer fields or a gid that is not a number.
pub fn parse_group_line(line: &[u8]) -> Option<(u32, &[u8])> {
    let mut fields = line.splitn(4, |&b| b == b':');
    let _name = fields.next()?;
    let _password = fields.next()?;
    let gid = number(fields.next()?)?;
    Some((gid, fields.next()?))
}

/// Whom to look for in passwd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who<'a> {
    Name(&'a [u8]),
    Uid(u32),
}

impl Who<'_> {
    /// A number is a uid, anything else a name.
    pub fn of(name_or_uid: &str) -> Who<'_> {
        match number(name_or_uid.as_bytes()) {
            Some(uid) => Who::Uid(uid),
            None => Who::Name(name_or_uid.as_bytes()),
        }
    }
}

/// The first passwd entry for `who`, as `getpwnam`/`getpwuid` find it.
pub fn find<'a>(passwd: &'a [u8], who: Who) -> Option<Entry<'a>> {
    lines(passwd).filter_map(parse_passwd_line).find(|entry| match who {
        Who::Name(name) => entry.name == name,
        Who::Uid(uid) => entry.uid == uid,
    })
}

/// `gid` first, then the gid of every group whose members list holds
/// `name`, each once.
pub fn groups(group: &[u8], name: &[u8], gid: u32) -> Vec<libc::gid_t> {
    let mut list = vec![gid];
    for (gid, members) in lines(group).filter_map(parse_group_line) {
        let member = members.split(|&b| b == b',').any(|m| m.trim_ascii() == name);
        if member && !list.contains(&gid) {
            if list.len() == MAX_GROUPS {
                break;
            }
            list.push(gid);
        }
    }
    list
}

fn text(bytes: &[u8]) -> String {
    crate::text::lossy(bytes).into_owned()
}

impl Entry<'_> {
    pub fn to_account(self) -> Account {
        Account { name: text(self.name), uid: self.uid, gid: self.gid, home: text(self.home) }
    }
}

/// Resolves a `user=` value against the texts of passwd and group: a name
/// must be in passwd; a numeric uid is looked up, and one not in passwd is
/// used as is (gid = uid, home `/`, no other groups); `uid:gid` sets the
/// primary group.
pub fn resolve(spec: &str, passwd: &[u8], group: &[u8]) -> Option<User> {
    let (name, gid) = match spec.split_once(':') {
        Some((name, gid)) => (name, Some(number(gid.as_bytes())?)),
        None => (spec, None),
    };
    let who = Who::of(name);
    match (find(passwd, who), who) {
        (Some(entry), _) => {
            let gid = gid.unwrap_or(entry.gid);
            let groups = groups(group, entry.name, gid);
            Some(User { name: text(entry.name), uid: entry.uid, gid, home: text(entry.home), groups })
        }
        (None, Who::Uid(uid)) => {
            let gid = gid.unwrap_or(uid);
            Some(User { name: name.to_string(), uid, gid, home: "/".to_string(), groups: vec![gid] })
        }
        (None, Who::Name(_)) => None,
    }
}

/// A file's bytes; an unreadable file reads as empty (no users, no groups).
fn read(path: &CStr) -> Vec<u8> {
    let Ok(fd) = sys::open(path, libc::O_RDONLY, 0) else { return Vec::new() };
    let mut bytes = Vec::new();
    match sys::read_to_end(fd.as_raw_fd(), &mut bytes) {
        Ok(()) => bytes,
        Err(_) => Vec::new(),
    }
}

/// [`resolve`] against `/etc/passwd` and `/etc/group`.
pub fn lookup(spec: &str) -> Option<User> {
    resolve(spec, &read(PASSWD), &read(GROUP))
}

/// The `/etc/passwd` entry with the uid `name_or_uid` when it is a number,
/// else the one with that name.
pub fn account(name_or_uid: &str) -> Option<Account> {
    find(&read(PASSWD), Who::of(name_or_uid)).map(Entry::to_account)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &[u8] = b"\
# users of the test machine
root:x:0:0:root:/root:/bin/ash

daemon:*:1:1:daemon:/var:/bin/false
short:x:5:5
badid:x:12a:5::/home/badid:/bin/sh
emptyid:x::5::/home/emptyid:/bin/sh
:x:7:7::/nameless:/bin/sh
huge:x:4294967296:5::/home/huge:/bin/sh
nobody:*:65534:65534:nobody:/var:/bin/false
dnsmasq:x:453:453:dnsmasq:/var/run/dnsmasq:/bin/false
latin:x:600:600:Jos\xe9:/home/latin:/bin/sh
nobody:x:9:9:second nobody:/elsewhere:/bin/sh
colons:x:70:70::/home/colons:/bin/sh:extra:fields
noshell:x:71:71::/home/noshell:
";

    const GROUP_TEXT: &[u8] = b"\
# groups
root:x:0:
daemon:x:1:dnsmasq
adm:x:4:dnsmasq, latin
broken:x:
nogid:x:abc:dnsmasq
dialout:x:20:root,dnsmasq
dnsmasq:x:453:
nogroup:x:65534:
again:x:20:dnsmasq
last:x:30:latin,dnsmasq";

    fn entry(line: &[u8]) -> Option<(String, u32, u32, String)> {
        parse_passwd_line(line).map(|e| (text(e.name), e.uid, e.gid, text(e.home)))
    }

    #[test]
    fn passwd_lines_need_seven_fields_a_name_and_numeric_ids() {
        let expected = Some(("root".to_string(), 0, 0, "/root".to_string()));
        assert_eq!(entry(b"root:x:0:0:root:/root:/bin/ash"), expected);
        assert_eq!(entry(b"short:x:5:5"), None);
        assert_eq!(entry(b"six:x:5:5::/home/six"), None);
        assert_eq!(entry(b"badid:x:12a:5::/h:/bin/sh"), None);
        assert_eq!(entry(b"badgid:x:5:-1::/h:/bin/sh"), None);
        assert_eq!(entry(b"emptyid:x::5::/h:/bin/sh"), None);
        assert_eq!(entry(b"plus:x:+5:5::/h:/bin/sh"), None);
        assert_eq!(entry(b":x:7:7::/nameless:/bin/sh"), None);
        assert_eq!(entry(b"huge:x:4294967296:5::/h:/bin/sh"), None);
        assert_eq!(entry(b"max:x:4294967295:5::/h:/bin/sh").map(|e| e.1), Some(u32::MAX));
        // The shell is the rest of the line, colons included.
        assert_eq!(entry(b"c:x:70:70::/home/c:/bin/sh:x:y").map(|e| e.3), Some("/home/c".to_string()));
        assert_eq!(entry(b"e:x:71:71:::").map(|e| e.3), Some(String::new()));
    }

    #[test]
    fn finds_users_by_name_and_uid_first_match_wins() {
        let nobody = find(PASSWD_TEXT, Who::Name(b"nobody")).map(Entry::to_account);
        assert_eq!(
            nobody,
            Some(Account { name: "nobody".into(), uid: 65534, gid: 65534, home: "/var".into() })
        );
        assert_eq!(find(PASSWD_TEXT, Who::Uid(9)).map(|e| e.home), Some(&b"/elsewhere"[..]));
        assert_eq!(find(PASSWD_TEXT, Who::Uid(453)).map(|e| e.name), Some(&b"dnsmasq"[..]));
        // Comments, blank, short and malformed lines hold no users.
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"# users of the test machine")), None);
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"short")), None);
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"badid")), None);
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"emptyid")), None);
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"")), None);
        assert_eq!(find(PASSWD_TEXT, Who::Uid(12)), None);
        // A line that is not UTF-8 hides nothing, itself included.
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"latin")).map(|e| e.uid), Some(600));
        assert_eq!(find(PASSWD_TEXT, Who::Name(b"noshell")).map(|e| e.uid), Some(71));
    }

    #[test]
    fn group_lines_need_four_fields_and_a_numeric_gid() {
        assert_eq!(parse_group_line(b"wheel:x:10:a,b"), Some((10, &b"a,b"[..])));
        assert_eq!(parse_group_line(b"empty:x:11:"), Some((11, &b""[..])));
        assert_eq!(parse_group_line(b"short:x:12"), None);
        assert_eq!(parse_group_line(b"bad:x:1x:a"), None);
        assert_eq!(parse_group_line(b"bad:x::a"), None);
    }

    #[test]
    fn groups_are_the_primary_then_each_group_listing_the_user_once() {
        // dnsmasq's own group lists no members: it still comes first.
        assert_eq!(groups(GROUP_TEXT, b"dnsmasq", 453), vec![453, 1, 4, 20, 30]);
        // Spaces around members are ignored; a last line without a newline counts.
        assert_eq!(groups(GROUP_TEXT, b"latin", 600), vec![600, 4, 30]);
        // The primary group listed as a group of the user is not repeated.
        assert_eq!(groups(GROUP_TEXT, b"root", 20), vec![20]);
        assert_eq!(groups(GROUP_TEXT, b"nobody", 65534), vec![65534]);
        // A member name is matched whole, never as a prefix or a part.
        assert_eq!(groups(GROUP_TEXT, b"dns", 5), vec![5]);
        assert_eq!(groups(b"", b"root", 0), vec![0]);
    }

    #[test]
    fn long_lines_and_long_member_lists() {
        let mut group = b"big:x:77:".to_vec();
        for n in 0..5000 {
            group.extend_from_slice(format!("member{n},").as_bytes());
        }
        group.extend_from_slice(b"target\nother:x:78:target\n");
        assert_eq!(groups(&group, b"target", 1), vec![1, 77, 78]);
        assert_eq!(groups(&group, b"member4999", 1), vec![1, 77]);

        let home = "/h".repeat(3000);
        let line = format!("long:x:1234:1234:{}:{home}:/bin/sh\n", "g".repeat(5000));
        let found = find(line.as_bytes(), Who::Name(b"long")).map(Entry::to_account);
        assert_eq!(found.map(|a| a.home), Some(home));
    }

    #[test]
    fn groups_stop_at_the_kernel_limit() {
        let mut group = Vec::new();
        for gid in 1..=MAX_GROUPS as u32 + 10 {
            group.extend_from_slice(format!("g{gid}:x:{gid}:u\n").as_bytes());
        }
        let list = groups(&group, b"u", 0);
        assert_eq!(list.len(), MAX_GROUPS);
        assert_eq!(list[..3], [0, 1, 2]);
    }

    #[test]
    fn resolves_names_uids_and_uid_gid() {
        let user = |spec| resolve(spec, PASSWD_TEXT, GROUP_TEXT);
        let dnsmasq = user("dnsmasq").expect("dnsmasq");
        assert_eq!((dnsmasq.uid, dnsmasq.gid, dnsmasq.home.as_str()), (453, 453, "/var/run/dnsmasq"));
        assert_eq!(dnsmasq.groups, vec![453, 1, 4, 20, 30]);
        assert_eq!(user("453"), Some(dnsmasq.clone()));
        // uid:gid keeps the account's name, home and groups, with another primary group.
        let other = user("453:20").expect("453:20");
        assert_eq!((other.name.as_str(), other.gid), ("dnsmasq", 20));
        assert_eq!(other.groups, vec![20, 1, 4, 30]);
        // A numeric uid not in passwd is used as is.
        let stranger =
            User { name: "4242".into(), uid: 4242, gid: 4242, home: "/".into(), groups: vec![4242] };
        assert_eq!(user("4242"), Some(stranger));
        assert_eq!(user("4242:7").map(|u| (u.gid, u.groups)), Some((7, vec![7])));
        assert_eq!(user("pman-no-such-user"), None);
        assert_eq!(user("dnsmasq:x"), None);
        assert_eq!(user("453:"), None);
        assert_eq!(user(""), None);
    }
}
