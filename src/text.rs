//! Text as bytes: the one writer behind log lines, status lines, syslog
//! datagrams and control replies. It appends strings and decimal numbers
//! to a reused buffer, instead of `core::fmt` (kilobytes of code on a
//! router) and `format!` (an allocation per line).

use std::borrow::Cow;

/// A byte buffer that text is appended to; reused between lines, so once it
/// has grown, building a line allocates nothing. A limited one never grows
/// past its limit: what does not fit is cut.
pub struct Text {
    buf: Vec<u8>,
    limit: usize,
}

/// One piece of a line, for writers that take a whole line at once (the
/// daemon log): `&[Str("web: exited with status "), Int(code)]`.
pub enum Part<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    Uint(u64),
    Int(i64),
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}

impl Text {
    /// An empty, unlimited text (no allocation until the first byte).
    pub const fn new() -> Text {
        Text { buf: Vec::new(), limit: usize::MAX }
    }

    /// An unlimited text with room for `bytes` before it grows.
    pub fn with_capacity(bytes: usize) -> Text {
        Text { buf: Vec::with_capacity(bytes), limit: usize::MAX }
    }

    /// A text of at most `limit` bytes, allocated once, now.
    pub fn limited(limit: usize) -> Text {
        Text { buf: Vec::with_capacity(limit), limit }
    }

    /// Reuses `buf` (its capacity) for a new, unlimited text.
    pub fn reuse(mut buf: Vec<u8>) -> Text {
        buf.clear();
        Text { buf, limit: usize::MAX }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Cuts the text back to its first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Appends `bytes`, as much as the limit leaves room for.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Text {
        let room = self.limit - self.buf.len();
        let n = bytes.len().min(room);
        self.buf.extend_from_slice(&bytes[..n]);
        self
    }

    pub fn str(&mut self, text: &str) -> &mut Text {
        self.bytes(text.as_bytes())
    }

    pub fn byte(&mut self, byte: u8) -> &mut Text {
        self.bytes(&[byte])
    }

    /// `n` in decimal. Not inlined at its 20 uses: 64 B less on mipsel.
    #[inline(never)]
    pub fn uint(&mut self, n: u64) -> &mut Text {
        self.padded(n, 1)
    }

    /// `n` in decimal, with a `-` when negative.
    pub fn int(&mut self, n: i64) -> &mut Text {
        if n < 0 {
            self.byte(b'-');
        }
        self.uint(n.unsigned_abs())
    }

    /// `n` as two digits at least (`04`), as in `00:00:04`.
    pub fn pad2(&mut self, n: u64) -> &mut Text {
        self.padded(n, 2)
    }

    /// `n` in decimal with zeros in front up to `width` digits (at most 20).
    pub fn padded(&mut self, n: u64, width: usize) -> &mut Text {
        let mut digits = [b'0'; 20];
        let at = digits.len() - decimal(n, &mut digits).len();
        let at = at.min(digits.len() - width.clamp(1, digits.len()));
        self.bytes(&digits[at..])
    }

    /// `n` as four lowercase hex digits (JSON's `\u00XX`).
    pub fn hex4(&mut self, n: u16) -> &mut Text {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = [12, 8, 4, 0].map(|shift| HEX[usize::from(n >> shift & 15)]);
        self.bytes(&digits)
    }

    pub fn part(&mut self, part: &Part) -> &mut Text {
        match *part {
            Part::Str(text) => self.str(text),
            Part::Bytes(bytes) => self.bytes(bytes),
            Part::Uint(n) => self.uint(n),
            Part::Int(n) => self.int(n),
        }
    }

    /// `template` with each `{}` in it replaced by the next of `args` (the
    /// args left over follow it): one literal per line costs less code at
    /// each call than a part per piece.
    pub fn parts(&mut self, template: &str, args: &[Part]) -> &mut Text {
        let mut args = args.iter();
        let t = template.as_bytes();
        let (mut from, mut i) = (0, 0);
        while i + 1 < t.len() {
            if t[i] == b'{' && t[i + 1] == b'}' {
                self.bytes(&t[from..i]);
                if let Some(arg) = args.next() {
                    self.part(arg);
                }
                i += 2;
                from = i;
            } else {
                i += 1;
            }
        }
        self.bytes(&t[from..]);
        for arg in args {
            self.part(arg);
        }
        self
    }

    /// Ends the line with a newline, in place of the last byte when the
    /// limit was reached (a cut line still ends).
    pub fn newline(&mut self) -> &mut Text {
        if self.buf.len() == self.limit {
            if let Some(last) = self.buf.last_mut() {
                *last = b'\n';
            }
            return self;
        }
        self.byte(b'\n')
    }

    /// The text as a `str` (lossy when a cut split a character).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        crate::text::lossy(&self.buf)
    }
}

/// `template` filled with `args` (see [`Text::parts`]) as one `String`: for
/// messages that leave as a `String` (errors shown to users), without `format!`.
pub fn concat(template: &str, args: &[Part]) -> String {
    let mut text = Text::new();
    text.parts(template, args);
    crate::sys::string_of(text.buf).unwrap_or_else(|bytes| lossy(&bytes).into_owned())
}

/// Unicode White_Space, as `char::is_whitespace` has it, without core's
/// lookup table and generic trimming code (1.5 KiB on mipsel).
pub fn is_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// `str::trim`, `trim_start` and `trim_end` by [`is_space`].
pub trait TrimSpace {
    fn trim_space(&self) -> &str;
    fn trim_space_start(&self) -> &str;
    fn trim_space_end(&self) -> &str;
}

impl TrimSpace for str {
    fn trim_space(&self) -> &str {
        self.trim_space_start().trim_space_end()
    }

    fn trim_space_start(&self) -> &str {
        let start = self.char_indices().find(|&(_, c)| !is_space(c)).map_or(self.len(), |(i, _)| i);
        self.get(start..).unwrap_or("")
    }

    fn trim_space_end(&self) -> &str {
        let mut end = self.len();
        for c in self.chars().rev().take_while(|&c| is_space(c)) {
            end -= c.len_utf8();
        }
        self.get(..end).unwrap_or("")
    }
}

/// How many bytes from the start of `bytes` are UTF-8 and, when that is not
/// all of them, how long the bad sequence there is (`None`: cut short by
/// the end): `Utf8Error`'s `valid_up_to` and `error_len`. No overlong
/// forms, no surrogates, nothing past U+10FFFF. std's validator has fast
/// paths and a table (1.2 KiB on mipsel) that a router's short lines do
/// not need.
pub fn utf8_run(bytes: &[u8]) -> (usize, Option<usize>) {
    let mut at = 0;
    while let Some(&lead) = bytes.get(at) {
        let len = match lead {
            0..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return (at, Some(1)),
        };
        // The bounds of the second byte: no overlong forms, no surrogates,
        // nothing past U+10FFFF.
        let (low, high) = match lead {
            0xe0 => (0xa0, 0xbf),
            0xed => (0x80, 0x9f),
            0xf0 => (0x90, 0xbf),
            0xf4 => (0x80, 0x8f),
            _ => (0x80, 0xbf),
        };
        for k in 1..len {
            let Some(&next) = bytes.get(at + k) else { return (at, None) };
            let (low, high) = if k == 1 { (low, high) } else { (0x80, 0xbf) };
            if next < low || next > high {
                return (at, Some(k));
            }
        }
        at += len;
    }
    (at, None)
}

/// `bytes` as text, each run of bytes that is not UTF-8 replaced by one
/// U+FFFD, as `String::from_utf8_lossy` does (whose chunk iterator is
/// 1 KiB on mipsel); borrowed when `bytes` is UTF-8 already.
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(text) = crate::sys::str_of(bytes) {
        return Cow::Borrowed(text);
    }
    let (mut out, mut rest) = (String::with_capacity(bytes.len() + 2), bytes);
    loop {
        let (good, bad) = utf8_run(rest);
        out.push_str(crate::sys::str_of(&rest[..good]).unwrap_or_default());
        if good == rest.len() {
            break Cow::Owned(out);
        }
        out.push('\u{FFFD}');
        rest = &rest[good + bad.unwrap_or(rest.len() - good)..];
    }
}

/// A path's bytes as a part: [`concat`] shows them as `Path::display` does
/// (what is not UTF-8 replaced), without `core::fmt`'s path printing.
pub fn path(path: &[u8]) -> Part<'_> {
    Part::Bytes(path)
}

/// `n` in decimal, written at the end of `buf`: the digits.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        // A 64-bit `/` would be a compiler-rt call on 32-bit CPUs.
        let q = crate::number::divide(n, 10);
        buf[at] = b'0' + (n - q * 10) as u8;
        n = q;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// [`decimal`] as text, for `concat`s of `&str`.
pub fn decimal_str(n: u64, buf: &mut [u8; 20]) -> &str {
    crate::sys::str_of(decimal(n, buf)).unwrap_or_default()
}

/// A character a reason cannot show: control characters (newlines
/// included) and the replacement for bytes that were not UTF-8.
pub fn unshowable(c: char) -> bool {
    c.is_control() || c == char::REPLACEMENT_CHARACTER
}

/// Appends `text` as one line, each unshowable character as `?`.
pub fn push_one_line(out: &mut Text, text: &str) {
    let mut shown = 0;
    for (at, c) in text.char_indices() {
        if unshowable(c) {
            out.str(&text[shown..at]).byte(b'?');
            shown = at + c.len_utf8();
        }
    }
    out.str(&text[shown..]);
}

/// `text` as one line (see [`push_one_line`]); unchanged when it is one.
pub fn one_line(text: String) -> String {
    if !text.chars().any(unshowable) {
        return text;
    }
    let mut out = Text::with_capacity(text.len());
    push_one_line(&mut out, &text);
    // Whole characters and `?` only: valid UTF-8.
    crate::sys::string_of(out.into_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn spaces_are_unicode_white_space() {
        use super::TrimSpace;
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(super::is_space(c), c.is_whitespace(), "{c:?}");
        }
        for s in ["", " ", " a ", "\u{a0}x\u{3000}", "a b", "\t\r\n", "é ", " é", "\u{85}\u{2029}"] {
            assert_eq!(s.trim_space(), s.trim(), "{s:?}");
            assert_eq!(s.trim_space_start(), s.trim_start(), "{s:?}");
            assert_eq!(s.trim_space_end(), s.trim_end(), "{s:?}");
        }
    }

    #[test]
    fn utf8_runs_are_what_std_finds() {
        let std_run = |bytes: &[u8]| match std::str::from_utf8(bytes) {
            Ok(_) => (bytes.len(), None),
            Err(e) => (e.valid_up_to(), e.error_len()),
        };
        // Every sequence of up to three bytes, then a tail that shows where a
        // sequence ends; four-byte leads with every second byte and a spread
        // of third and fourth ones.
        let mut bytes = Vec::new();
        for len in 1..=3u32 {
            for n in 0..1u32 << (8 * len) {
                bytes.clear();
                bytes.extend_from_slice(&n.to_be_bytes()[4 - len as usize..]);
                bytes.push(b'x');
                assert_eq!(utf8_run(&bytes), std_run(&bytes), "{bytes:x?}");
                bytes.pop();
                assert_eq!(utf8_run(&bytes), std_run(&bytes), "{bytes:x?}");
            }
        }
        let spread = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff];
        for lead in 0xf0..=0xff {
            for second in 0..=0xff {
                for third in spread {
                    for fourth in spread {
                        let bytes = [b'a', lead, second, third, fourth];
                        assert_eq!(utf8_run(&bytes), std_run(&bytes), "{bytes:x?}");
                    }
                }
            }
        }
        assert_eq!(crate::sys::str_of(b"caf\xc3\xa9"), Some("caf\u{e9}"));
        assert_eq!(crate::sys::str_of(b"\xed\xa0\x80"), None);
        assert_eq!(crate::sys::string_of(b"\xff".to_vec()), Err(b"\xff".to_vec()));
    }

    #[test]
    fn lossy_text_is_what_std_makes_of_it() {
        let cases: [&[u8]; 9] = [
            b"",
            b"plain",
            b"\xff",
            b"a\xffb",
            b"\xe2\x82",
            b"\xe2\x82x\xe2\x82\xac",
            b"\xf0\x9f\x98",
            b"\xc0\xaf\xed\xa0\x80",
            "é\u{1f600}".as_bytes(),
        ];
        for bytes in cases {
            assert_eq!(super::lossy(bytes), String::from_utf8_lossy(bytes), "{bytes:?}");
        }
        // Every pair of bytes from a spread of lead, continuation and ASCII bytes.
        let spread = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
        for a in spread {
            for b in spread {
                for c in [0x80, 0x9f, 0xa0, 0xbf, 0x41] {
                    let bytes = [a, b, c, 0x80];
                    assert_eq!(super::lossy(&bytes), String::from_utf8_lossy(&bytes), "{bytes:?}");
                }
            }
        }
        assert!(matches!(super::lossy(b"ok"), Cow::Borrowed("ok")));
    }

    use super::*;

    fn text(build: impl FnOnce(&mut Text) -> &mut Text) -> String {
        let mut t = Text::new();
        build(&mut t);
        String::from_utf8(t.into_bytes()).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(text(|t| t.uint(0)), "0");
        assert_eq!(text(|t| t.uint(u64::MAX)), "18446744073709551615");
        assert_eq!(text(|t| t.int(-42)), "-42");
        assert_eq!(text(|t| t.int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(|t| t.int(7)), "7");
        assert_eq!(text(|t| t.pad2(4).byte(b':').pad2(59).byte(b':').pad2(123)), "04:59:123");
        assert_eq!(text(|t| t.padded(7, 4).byte(b' ').padded(12345, 4)), "0007 12345");
        assert_eq!(text(|t| t.padded(5, 99)), "00000000000000000005");
        assert_eq!(text(|t| t.hex4(0x1f)), "001f");
    }

    #[test]
    fn a_template_fills_only_its_holes() {
        // A lone brace is text; a `{}` inside an arg is not a hole; args
        // beyond the holes follow; a hole with no arg left is empty.
        assert_eq!(concat("{ x} {}: {}", &[Part::Str("a{}b"), Part::Uint(7)]), "{ x} a{}b: 7");
        assert_eq!(concat("n={}", &[Part::Int(-2), Part::Str(" rest")]), "n=-2 rest");
        assert_eq!(concat("[{}] {}", &[Part::Bytes(b"web")]), "[web] ");
        assert_eq!(concat("{}", &[]), "");
        assert_eq!(concat("ends with {", &[]), "ends with {");
    }

    #[test]
    fn strings_and_parts_chain() {
        let line = text(|t| {
            t.str("[")
                .str("web")
                .str("] ")
                .bytes(b"RUNNING")
                .parts(" pid: {} n: {}{}", &[Part::Int(1210), Part::Uint(3), Part::Bytes(b"!")])
        });
        assert_eq!(line, "[web] RUNNING pid: 1210 n: 3!");
    }

    #[test]
    fn a_limited_text_cuts_and_still_ends_its_line() {
        let mut t = Text::limited(8);
        let capacity = t.capacity();
        t.str("0123").uint(456789).str("more");
        assert_eq!(t.as_bytes(), b"01234567");
        t.newline();
        assert_eq!(t.as_bytes(), b"0123456\n");
        t.clear();
        t.str("ab").newline();
        assert_eq!(t.as_bytes(), b"ab\n");
        assert_eq!(t.capacity(), capacity, "a limited text never grows");
    }

    #[test]
    fn a_path_reads_as_its_display() {
        use std::os::unix::ffi::OsStrExt;
        for bytes in [&b"/etc/pman.conf"[..], b"/tmp/\xff\xfeend", b"/a\xe2\x82", b"caf\xc3\xa9/\xc3"] {
            let p = std::path::Path::new(std::ffi::OsStr::from_bytes(bytes));
            assert_eq!(concat("at {}", &[path(bytes)]), format!("at {}", p.display()));
        }
    }

    #[test]
    fn reuse_keeps_the_capacity_and_drops_the_content() {
        let mut buf = Vec::with_capacity(100);
        buf.extend_from_slice(b"old");
        let mut t = Text::reuse(buf);
        assert!(t.is_empty());
        t.str("new");
        assert_eq!((t.as_bytes(), t.len()), (&b"new"[..], 3));
        assert!(t.capacity() >= 100);
    }
}
