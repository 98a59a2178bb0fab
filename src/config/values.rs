//! Typed values: booleans, numbers, sizes, octal umasks, exit code lists,
//! signals, `autorestart` and `environment=` pair lists. Each parser takes
//! the expanded text and returns the one-line reason on failure.

use super::{AutoRestart, ExitCodes};
use crate::number;
use crate::path::FilePath;
use crate::text::Part::{Int, Str};
use crate::text::TrimSpace;

/// `'TEXT' is not WHAT`: the reason a value is refused.
fn not(text: &str, what: &str) -> String {
    crate::text::concat("'{}' is not {}", &[Str(text.trim_space()), Str(what)])
}

pub fn boolean(text: &str) -> Result<bool, String> {
    let t = text.trim_space();
    // Compared in place: a lower-cased copy is more code (and an allocation).
    let one_of = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if one_of(&["true", "yes", "on", "1"]) {
        Ok(true)
    } else if one_of(&["false", "no", "off", "0"]) {
        Ok(false)
    } else {
        Err(not(text, "a boolean (true/false, yes/no, on/off, 1/0)"))
    }
}

pub fn count(text: &str) -> Result<u32, String> {
    number::u32(text.trim_space()).ok_or_else(|| not(text, "a whole number from 0 to 4294967295"))
}

/// `numprocs`: from 1 to 1000 processes.
pub fn numprocs(text: &str) -> Result<u32, String> {
    match number::u32(text.trim_space()) {
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(not(text, "a whole number from 1 to 1000")),
    }
}

/// A whole number of at least 1.
pub fn positive(text: &str) -> Result<u32, String> {
    match number::u32(text.trim_space()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(not(text, "a whole number from 1 to 4294967295")),
    }
}

pub fn integer(text: &str) -> Result<i32, String> {
    number::i32(text.trim_space()).ok_or_else(|| not(text, "an integer from -2147483648 to 2147483647"))
}

/// An integer from `min` to `max`.
pub fn ranged(text: &str, min: i32, max: i32) -> Result<i32, String> {
    match integer(text) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(crate::text::concat(
            "'{}' is not an integer from {} to {}",
            &[Str(text.trim_space()), Int(min.into()), Int(max.into())],
        )),
    }
}

/// `SOFT:HARD`, or one value for both: a number (a size for byte limits),
/// or `unlimited` (`u64::MAX`).
pub fn rlimit(text: &str, bytes: bool) -> Result<(u64, u64), String> {
    let one = |t: &str| {
        let t = t.trim_space();
        if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinity") {
            Ok(u64::MAX)
        } else if bytes {
            size(t).map_err(|_| not(t, "a size (such as 64MB) or 'unlimited'"))
        } else {
            number::unsigned(t, 10).ok_or_else(|| not(t, "a number or 'unlimited'"))
        }
    };
    let (soft, hard) = match text.split_once(':') {
        Some((soft, hard)) => (one(soft)?, one(hard)?),
        None => {
            let both = one(text)?;
            (both, both)
        }
    };
    if soft > hard {
        return Err(crate::text::concat(
            "soft limit '{}' is above its hard limit",
            &[Str(text.trim_space())],
        ));
    }
    Ok((soft, hard))
}

/// A count, or `infinite` (`None`).
pub fn retries(text: &str) -> Result<Option<u32>, String> {
    if text.trim_space().eq_ignore_ascii_case("infinite") {
        return Ok(None);
    }
    count(text).map(Some).map_err(|_| not(text, "a whole number or 'infinite'"))
}

/// `1500`, `256KB`, `1500 KB`, `50mb`, `1GB` (powers of 1024).
pub fn size(text: &str) -> Result<u64, String> {
    let bad = || not(text, "a size (a number, optionally followed by KB, MB or GB)");
    let t = text.trim_space();
    let split = t.len().checked_sub(2).and_then(|at| Some((t.get(..at)?, t.get(at..)?)));
    let (num, unit) = match split {
        Some((num, unit)) if unit.eq_ignore_ascii_case("kb") => (num, 1u64 << 10),
        Some((num, unit)) if unit.eq_ignore_ascii_case("mb") => (num, 1 << 20),
        Some((num, unit)) if unit.eq_ignore_ascii_case("gb") => (num, 1 << 30),
        _ => (t, 1),
    };
    let n = number::unsigned(num.trim_space(), 10).ok_or_else(bad)?;
    n.checked_mul(unit).ok_or_else(bad)
}

/// `022`, `0o022`, `77`: octal, at most 0777.
pub fn umask(text: &str) -> Result<u32, String> {
    let t = text.trim_space();
    let digits = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")).unwrap_or(t);
    match number::unsigned(digits, 8) {
        Some(n) if n <= 0o777 && !digits.starts_with('+') => Ok(n as u32),
        _ => Err(not(t, "an octal umask such as 022")),
    }
}

/// `0`, `0,2`, `0, 1`: exit statuses 0..=255.
pub fn exitcodes(text: &str) -> Result<ExitCodes, String> {
    let mut codes = ExitCodes::EMPTY;
    for part in text.split(',') {
        let p = part.trim_space();
        match number::i32(p) {
            Some(n) if (0..=255).contains(&n) && !p.starts_with('+') => codes = codes.with(n as u8),
            _ => {
                return Err(crate::text::concat(
                    "'{}' in '{}' is not an exit status 0-255",
                    &[Str(p), Str(text.trim_space())],
                ))
            }
        }
    }
    Ok(codes)
}

pub fn signal(text: &str) -> Result<i32, String> {
    crate::signals::parse(text).ok_or_else(|| not(text, "a signal name or number"))
}

pub fn autorestart(text: &str) -> Result<AutoRestart, String> {
    if text.trim_space().eq_ignore_ascii_case("unexpected") {
        return Ok(AutoRestart::Unexpected);
    }
    match boolean(text) {
        Ok(true) => Ok(AutoRestart::Always),
        Ok(false) => Ok(AutoRestart::Never),
        Err(_) => Err(not(text, "true, false or unexpected")),
    }
}

/// `KEY=val,KEY2="a, b",K3='x'`: a quoted value may hold commas and spaces,
/// with `\"`, `\'` and `\\` escapes; an unquoted one runs to the next comma.
pub fn environment(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut rest = text.trim_space_start();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_space_start();
            continue;
        }
        let eq = rest
            .bytes()
            .position(|b| b == b'=' || b == b',')
            .filter(|&i| rest.as_bytes().get(i) == Some(&b'='));
        let Some(eq) = eq else {
            let item = rest.split(',').next().unwrap_or("").trim_space();
            return Err(not(item, "KEY=value"));
        };
        let key = rest.get(..eq).unwrap_or("").trim_space();
        if key.is_empty() || key.chars().any(crate::text::is_space) {
            return Err(crate::text::concat(
                "bad variable name '{}' (want KEY=value, comma-separated)",
                &[Str(key)],
            ));
        }
        rest = rest.get(eq + 1..).unwrap_or("").trim_space_start();
        let mut value = String::new();
        match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut chars = rest.get(1..).unwrap_or("").char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == q {
                        end = Some(i + 2);
                        break;
                    }
                    if c == '\\' {
                        match chars.next() {
                            Some((_, e)) if e == q || e == '\\' => value.push(e),
                            Some((_, e)) => {
                                value.push('\\');
                                value.push(e);
                            }
                            None => {}
                        }
                        continue;
                    }
                    value.push(c);
                }
                let Some(end) = end else {
                    return Err(crate::text::concat("{}: no closing quotation", &[Str(key)]));
                };
                rest = rest.get(end..).unwrap_or("").trim_space_start();
                if !rest.is_empty() && !rest.starts_with(',') {
                    return Err(crate::text::concat(
                        "{}: text after the closing quote (separate pairs with ',')",
                        &[Str(key)],
                    ));
                }
            }
            _ => {
                let end = rest.find(',').unwrap_or(rest.len());
                value = rest.get(..end).unwrap_or("").trim_space().to_string();
                rest = rest.get(end..).unwrap_or("");
            }
        }
        set(&mut pairs, key, &value);
    }
    Ok(pairs)
}

/// Sets `key` in an ordered variable list, replacing an earlier value.
pub fn set(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_string(),
        None => pairs.push((key.to_string(), value.to_string())),
    }
}

/// `startsecs`, `fd:N` (3 to 1023), `tcp:PORT`, `tcp:HOST:PORT` (HOST an IP
/// address, `[v6]` or `localhost`: nothing is resolved) or `file:/ABSOLUTE/PATH`.
pub fn ready(text: &str) -> Result<super::Ready, String> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let t = text.trim_space();
    if t.eq_ignore_ascii_case("startsecs") {
        return Ok(super::Ready::Startsecs);
    }
    if t.eq_ignore_ascii_case("healthcheck") {
        return Ok(super::Ready::Healthcheck);
    }
    if let Some(path) = t.strip_prefix("file:") {
        if !path.starts_with('/') {
            return Err(not(text, "file: with an absolute path"));
        }
        return Ok(super::Ready::File(Box::new(FilePath::from(path))));
    }
    if let Some(n) = t.strip_prefix("fd:") {
        return match number::i32(n) {
            Some(n) if (3..=1023).contains(&n) => Ok(super::Ready::Fd(n)),
            _ => Err(not(text, "fd:N with N from 3 to 1023")),
        };
    }
    let bad = || not(text, "startsecs, fd:N, tcp:[HOST:]PORT, file:PATH or healthcheck");
    let addr = t.strip_prefix("tcp:").ok_or_else(bad)?;
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = |text: &str| number::unsigned(text, 10).and_then(|port| u16::try_from(port).ok());
    // The last `:` (a byte search: core's reverse char search is big).
    let last_colon = addr.bytes().rposition(|b| b == b':');
    let at = match last_colon.map(|at| (&addr[..at], &addr[at + 1..])) {
        Some((host, _)) if host != "localhost" => socket_addr(addr),
        // `PORT` or `localhost:PORT`.
        split => port(split.map_or(addr, |(_, text)| text)).map(|port| SocketAddr::new(local, port)),
    };
    at.filter(|a| a.port() != 0).map(|a| super::Ready::Tcp(Box::new(a))).ok_or_else(bad)
}

/// `IPv4:PORT` or `[IPv6]:PORT` (`[IPv6%SCOPE]:PORT`) exactly as
/// `str::parse::<SocketAddr>` reads it, by a port of core's parser: core's
/// own is kilobytes on a router, and only `ready = tcp:` needs it.
fn socket_addr(text: &str) -> Option<std::net::SocketAddr> {
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    let mut p = Addr { b: text.as_bytes(), at: 0 };
    let addr = if p.eat(b'[') {
        let ip = p.ipv6()?;
        let save = p.at;
        let scope = match p.eat(b'%').then(|| p.number(10, None, true, u32::MAX.into())).flatten() {
            Some(n) => n as u32,
            None => {
                p.at = save;
                0
            }
        };
        if !p.eat(b']') {
            return None;
        }
        SocketAddr::V6(SocketAddrV6::new(ip, p.port()?, 0, scope))
    } else {
        let ip = p.ipv4()?;
        SocketAddr::V4(SocketAddrV4::new(ip, p.port()?))
    };
    (p.at == p.b.len()).then_some(addr)
}

/// A cursor over an address; each reader leaves it where it was on failure.
struct Addr<'a> {
    b: &'a [u8],
    at: usize,
}

impl Addr<'_> {
    // Not inlined: its six copies cost 192 B more on mipsel.
    #[inline(never)]
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    /// Digits in `radix`, all there are: at least one, at most `max`, no
    /// leading zero unless `zero_ok` (or alone), at most `limit`.
    fn number(&mut self, radix: u32, max: Option<usize>, zero_ok: bool, limit: u64) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d) = self.b.get(self.at).and_then(|&c| char::from(c).to_digit(radix)) {
            n = n.saturating_mul(radix.into()).saturating_add(d.into());
            self.at += 1;
        }
        let count = self.at - start;
        let zero = self.b.get(start) == Some(&b'0');
        if count == 0 || max.is_some_and(|m| count > m) || (!zero_ok && zero && count > 1) || n > limit {
            self.at = start;
            return None;
        }
        Some(n)
    }

    /// `:PORT`.
    fn port(&mut self) -> Option<u16> {
        let start = self.at;
        let port = self.eat(b':').then(|| self.number(10, None, true, u16::MAX.into())).flatten();
        if port.is_none() {
            self.at = start;
        }
        port.map(|n| n as u16)
    }

    fn ipv4(&mut self) -> Option<std::net::Ipv4Addr> {
        let start = self.at;
        let mut octets = [0u8; 4];
        for (i, octet) in octets.iter_mut().enumerate() {
            match (i == 0 || self.eat(b'.')).then(|| self.number(10, Some(3), false, 255)).flatten() {
                Some(n) => *octet = n as u8,
                None => {
                    self.at = start;
                    return None;
                }
            }
        }
        Some(octets.into())
    }

    /// Up to `groups.len()` groups (a last IPv4 address is two): how many,
    /// and whether the last ones were an IPv4 address.
    fn groups(&mut self, groups: &mut [u16]) -> (usize, bool) {
        let limit = groups.len();
        for i in 0..limit {
            let before = self.at;
            if i + 1 < limit {
                if let Some(v4) = (i == 0 || self.eat(b':')).then(|| self.ipv4()).flatten() {
                    let [a, b, c, d] = v4.octets();
                    groups[i] = u16::from_be_bytes([a, b]);
                    groups[i + 1] = u16::from_be_bytes([c, d]);
                    return (i + 2, true);
                }
                self.at = before;
            }
            match (i == 0 || self.eat(b':')).then(|| self.number(16, Some(4), true, 0xffff)).flatten() {
                Some(n) => groups[i] = n as u16,
                None => {
                    self.at = before;
                    return (i, false);
                }
            }
        }
        (limit, false)
    }

    fn ipv6(&mut self) -> Option<std::net::Ipv6Addr> {
        let start = self.at;
        let mut head = [0u16; 8];
        let (head_size, head_ipv4) = self.groups(&mut head);
        if head_size < 8 {
            // An IPv4 part only ends an address; `::` stands for at least one zero group.
            if head_ipv4 || !(self.eat(b':') && self.eat(b':')) {
                self.at = start;
                return None;
            }
            let mut tail = [0u16; 7];
            let limit = 7 - head_size;
            let (tail_size, _) = self.groups(&mut tail[..limit]);
            head[8 - tail_size..].copy_from_slice(&tail[..tail_size]);
        }
        // One exit: each conversion to an address is a byte swap per group.
        Some(head.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Vec<(String, String)> {
        environment(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn booleans() {
        for t in ["true", "YES", "On", "1"] {
            assert_eq!(boolean(t), Ok(true));
        }
        for t in ["false", "No", "OFF", "0"] {
            assert_eq!(boolean(t), Ok(false));
        }
        assert!(boolean("maybe").is_err());
        assert!(boolean("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("0"), Ok(0));
        assert_eq!(size("256KB"), Ok(256 * 1024));
        assert_eq!(size("1500 KB"), Ok(1500 * 1024));
        assert_eq!(size("50mb"), Ok(50 << 20));
        assert_eq!(size("1GB"), Ok(1 << 30));
        for bad in ["", "KB", "1.5MB", "-1", "10 TB", "99999999999999999999GB", "18446744073709551615GB"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(umask("022"), Ok(0o22));
        assert_eq!(umask("0o077"), Ok(0o77));
        assert!(umask("8").is_err());
        assert!(umask("1777").is_err());
        assert_eq!(exitcodes("0, 1"), Ok(ExitCodes::ZERO.with(1)));
        assert_eq!(exitcodes("0,2"), Ok(ExitCodes::ZERO.with(2)));
        assert_eq!(exitcodes("2,0,2"), exitcodes("0,2"));
        assert!(exitcodes("0,,1").is_err());
        assert!(exitcodes("256").is_err());
        assert_eq!(retries("infinite"), Ok(None));
        assert_eq!(retries("3"), Ok(Some(3)));
        assert!(retries("-1").is_err());
        assert_eq!(integer("-5"), Ok(-5));
        assert_eq!(signal("QUIT"), Ok(libc::SIGQUIT));
        assert!(signal("QUIT  # comment").is_err());
        assert_eq!(autorestart("Unexpected"), Ok(AutoRestart::Unexpected));
        assert_eq!(autorestart("yes"), Ok(AutoRestart::Always));
        assert!(autorestart("sometimes").is_err());
    }

    #[test]
    fn socket_addresses_read_as_std_reads_them() {
        let cases = [
            "1.2.3.4:80",
            "01.2.3.4:80",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "256.1.1.1:1",
            "1.2.3.4:65536",
            "1.2.3:80",
            "1.2.3.4.5:80",
            "1.2.3.4:",
            "1.2.3.4:080",
            "[::1]:8080",
            "[::]:1",
            "[1::]:1",
            "[1:2:3:4:5:6:7:8]:1",
            "[1:2:3:4:5:6:7:8:9]:1",
            "[1:2:3:4:5:6:7::]:1",
            "[::1:2:3:4:5:6:7]:1",
            "[1:2:3:4:5:6:1.2.3.4]:1",
            "[::ffff:1.2.3.4]:1",
            "[1.2.3.4::]:1",
            "[::1.2.3.4:5]:1",
            "[fe80::1%2]:1",
            "[fe80::1%]:1",
            "[fe80::1%99999999999]:1",
            "[12345::]:1",
            "[0000::]:1",
            "[::1]",
            "[::1]:",
            "::1:80",
            "[::1.2.3]:1",
            "[:1]:1",
            "[1:]:1",
            "[1:::2]:1",
            "[a:b:c:d:e:f:1.2.3.4]:1",
            "[::1]:1 ",
            "+1.2.3.4:1",
        ];
        for case in cases {
            assert_eq!(socket_addr(case), case.parse().ok(), "{case:?}");
        }
        // And a few hundred thousand made of the characters addresses hold.
        let alphabet = b"0123456789afAF:.[]%";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..300_000 {
            let len = next(24);
            let mut text: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            if next(2) == 0 {
                text.insert(0, b'[');
            }
            let text = String::from_utf8(text).unwrap_or_default();
            assert_eq!(socket_addr(&text), text.parse().ok(), "{text:?}");
        }
    }

    #[test]
    fn environment_lists() {
        assert_eq!(env("A=1,B=two"), pairs(&[("A", "1"), ("B", "two")]));
        assert_eq!(
            env(r#"A="a, b",B='x y', C = "q\"\\" "#),
            pairs(&[("A", "a, b"), ("B", "x y"), ("C", "q\"\\")])
        );
        assert_eq!(env("HOME=/pretix"), pairs(&[("HOME", "/pretix")]));
        assert_eq!(env("A=x=y,A=z,"), pairs(&[("A", "z")]));
        assert_eq!(env("A="), pairs(&[("A", "")]));
        assert_eq!(env(r#"V="with \$USER""#), pairs(&[("V", r"with \$USER")]));
        assert_eq!(env(""), pairs(&[]));
        for bad in ["A", "=1", "A=\"open", "A=\"x\"y", "A B=1", "A=1,B"] {
            assert!(environment(bad).is_err(), "{bad}");
        }
    }
}
