//! A tiny JSON reader (RFC 8259) for the client: `status --json` replies and
//! rpcd's arguments. A document is checked once, whole; its values are then
//! read in place, as slices of its text: no tree is built, a string is
//! decoded only when it is asked for, and a value is written back as it
//! came. Nesting is bounded, so no input can exhaust the stack.

use crate::text::Text;

/// How deep arrays and objects may nest.
const MAX_DEPTH: usize = 64;

/// One value of a checked document, as written (no whitespace around it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a>(&'a [u8]);

/// Checks a whole document (whitespace around it allowed, nothing else).
pub fn parse(text: &[u8]) -> Result<Value<'_>, &'static str> {
    let mut p = Parser { s: text, at: 0 };
    p.ws();
    let start = p.at;
    p.value(0)?;
    let value = Value(&text[start..p.at]);
    p.ws();
    if p.at != text.len() {
        return Err("trailing data after the JSON value");
    }
    Ok(value)
}

impl<'a> Value<'a> {
    /// The value's text, exactly as the document has it.
    pub fn raw(self) -> &'a [u8] {
        self.0
    }

    pub fn is_object(self) -> bool {
        self.0.first() == Some(&b'{')
    }

    pub fn is_array(self) -> bool {
        self.0.first() == Some(&b'[')
    }

    pub fn is_null(self) -> bool {
        self.0 == b"null"
    }

    /// An array's items, or an object's values after their keys; none for
    /// any other value. Not inlined: 48 B less on mipsel.
    #[inline(never)]
    pub fn items(self) -> Items<'a> {
        let open = self.is_array() || self.is_object();
        Items {
            p: Parser { s: self.0, at: usize::from(open) },
            object: self.is_object(),
            done: !open,
            key: None,
        }
    }

    /// The value of `key` in an object (its first, if written twice).
    pub fn get(self, key: &str) -> Option<Value<'a>> {
        let mut items = self.items();
        while let Some(value) = items.next() {
            if items.key.as_deref() == Some(key) {
                return Some(value);
            }
        }
        None
    }

    /// A string's text, escapes decoded.
    pub fn as_str(self) -> Option<String> {
        if self.0.first() != Some(&b'"') {
            return None;
        }
        let mut out = Vec::new();
        Parser { s: self.0, at: 0 }.string(Some(&mut out)).ok()?;
        crate::sys::string_of(out).ok()
    }

    /// A non-negative integer (`12`, not `1.5` or `-1`).
    pub fn as_u64(self) -> Option<u64> {
        crate::number::unsigned(crate::sys::str_of(self.0)?, 10)
    }
}

/// The members of an array or object, in order ([`Value::items`]).
pub struct Items<'a> {
    p: Parser<'a>,
    object: bool,
    done: bool,
    /// The key of the member last returned, in an object.
    key: Option<String>,
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    /// The document was checked whole: whatever is read here is well formed.
    fn next(&mut self) -> Option<Value<'a>> {
        let p = &mut self.p;
        p.ws();
        if self.done || matches!(p.peek(), Some(b']' | b'}') | None) {
            self.done = true;
            return None;
        }
        if self.object {
            let mut key = Vec::new();
            p.string(Some(&mut key)).ok()?;
            self.key = crate::sys::string_of(key).ok();
            p.ws();
            p.at += 1; // ':'
            p.ws();
        }
        let start = p.at;
        p.value(0).ok()?;
        let value = Value(&p.s[start..p.at]);
        p.ws();
        p.eat(b',');
        Some(value)
    }
}

/// `s` as a JSON string. Read as bytes: only ASCII ones are escaped, and
/// no byte of a multi-byte character is ASCII.
pub fn string(out: &mut Text, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.byte(b'"');
    for b in s.as_bytes() {
        let control = [b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
        out.bytes(match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &control,
            _ => std::slice::from_ref(b),
        });
    }
    out.byte(b'"');
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    /// Checks the value that starts here and steps over it.
    fn value(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deep");
        }
        let word: &[u8] = match self.peek().ok_or("unexpected end of JSON")? {
            b'n' => b"null",
            b't' => b"true",
            b'f' => b"false",
            b'"' => return self.string(None),
            // Arrays and objects share one loop: an object's items have keys.
            open @ (b'[' | b'{') => {
                self.at += 1;
                let object = open == b'{';
                let close = open + 2; // `]` and `}` follow `[` and `{` by two.
                self.ws();
                if self.eat(close) {
                    return Ok(());
                }
                loop {
                    self.ws();
                    if object {
                        if self.peek() != Some(b'"') {
                            return Err("expected a string key in JSON object");
                        }
                        self.string(None)?;
                        self.ws();
                        if !self.eat(b':') {
                            return Err("expected ':' in JSON object");
                        }
                        self.ws();
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    if self.eat(close) {
                        return Ok(());
                    }
                    if !self.eat(b',') {
                        return Err(if object {
                            "expected ',' or '}' in JSON object"
                        } else {
                            "expected ',' or ']' in JSON array"
                        });
                    }
                }
            }
            b'-' | b'0'..=b'9' => return self.number(),
            _ => return Err("unexpected character in JSON"),
        };
        if !self.s[self.at..].starts_with(word) {
            return Err("bad JSON literal");
        }
        self.at += word.len();
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<(), &'static str> {
        const BAD: &str = "bad JSON number";
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(BAD),
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(BAD);
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let hex = self.s.get(self.at..self.at + 4).ok_or("bad JSON \\u escape")?;
        let mut n = 0;
        for &b in hex {
            let digit = (b as char).to_digit(16).ok_or("bad JSON \\u escape")?;
            n = n * 16 + digit;
        }
        self.at += 4;
        Ok(n)
    }

    /// Checks the string that starts here and steps over it; its text goes
    /// to `out` when there is one. A document's strings are checked to be
    /// UTF-8 without being kept.
    fn string(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), &'static str> {
        self.at += 1;
        let start = self.at;
        let mut utf8 = [0u8; 4];
        loop {
            let b = self.peek().ok_or("unterminated JSON string")?;
            self.at += 1;
            let text: &[u8] = match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated JSON string")?;
                    self.at += 1;
                    if let Some(at) = b"\"\\/bfnrt".iter().position(|&x| x == e) {
                        // `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`: one byte each.
                        &b"\"\\/\x08\x0c\n\r\t"[at..at + 1]
                    } else if e != b'u' {
                        return Err("bad JSON escape");
                    } else {
                        let mut n = self.hex4()?;
                        if (0xD800..0xDC00).contains(&n) && self.s[self.at..].starts_with(b"\\u") {
                            self.at += 2;
                            let low = self.hex4()?;
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err("bad JSON surrogate pair");
                            }
                            n = 0x10000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                        }
                        char::from_u32(n).ok_or("bad JSON \\u escape")?.encode_utf8(&mut utf8).as_bytes()
                    }
                }
                0..=0x1f => return Err("control character in JSON string"),
                _ => std::slice::from_ref(&self.s[self.at - 1]),
            };
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(text);
            }
        }
        // Escapes decode to UTF-8 and cannot break it: the bytes as written decide.
        if out.is_none() && crate::sys::str_of(&self.s[start..self.at - 1]).is_none() {
            return Err("JSON string is not UTF-8");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_of(text: &str) -> Option<String> {
        parse(text.as_bytes()).unwrap().as_str()
    }

    #[test]
    fn reads_values_in_place() {
        let doc = parse(br#" {"a": [1, -2.5e3, true, null], "b": "x\"\u00e9\n", "a": 2} "#).unwrap();
        assert!(doc.is_object());
        assert_eq!(doc.raw(), br#"{"a": [1, -2.5e3, true, null], "b": "x\"\u00e9\n", "a": 2}"#);
        let a = doc.get("a").unwrap();
        assert!(a.is_array());
        let items: Vec<&[u8]> = a.items().map(Value::raw).collect();
        assert_eq!(items, [&b"1"[..], b"-2.5e3", b"true", b"null"]);
        assert_eq!(a.items().next().and_then(Value::as_u64), Some(1));
        assert!(a.items().nth(3).is_some_and(Value::is_null));
        assert_eq!(doc.get("b").and_then(Value::as_str).as_deref(), Some("x\"\u{e9}\n"));
        assert_eq!(doc.get("c"), None);
        assert_eq!(doc.items().count(), 3);
        assert_eq!(doc.get("a").and_then(|v| v.as_str()), None, "not a string");
        assert_eq!(parse(b"\"1\"").unwrap().as_u64(), None);
        assert_eq!(parse(b"-1").unwrap().as_u64(), None);
        assert_eq!(parse(b"[]").unwrap().items().count(), 0);
        assert_eq!(parse(b"{ }").unwrap().items().count(), 0);
        assert_eq!(parse(b"7").unwrap().items().count(), 0);
        let nested = parse(br#"[{},[],{"a":[{}]}]"#).unwrap();
        let raw: Vec<&[u8]> = nested.items().map(Value::raw).collect();
        assert_eq!(raw, [&b"{}"[..], b"[]", br#"{"a":[{}]}"#]);
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(string_of(r#""\ud83d\ude00""#).as_deref(), Some("\u{1f600}"));
        assert_eq!(string_of(r#""\"\\\/\b\f\n\r\t\u0041""#).as_deref(), Some("\"\\/\u{8}\u{c}\n\r\tA"));
        assert_eq!(string_of(r#""é\u001f""#).as_deref(), Some("é\u{1f}"));
        let keyed = parse(br#"{"n\u0061me":"web"}"#).unwrap();
        assert_eq!(keyed.get("name").and_then(Value::as_str).as_deref(), Some("web"));
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in ["", "{", "[1,]", "01", "1.", "\"\\x\"", "{\"a\" 1}", "nul", "[] x", "\"\u{1}\""] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert_eq!(parse(b"\"\xff\"").err(), Some("JSON string is not UTF-8"));
        assert_eq!(parse(b"{\"\xc3\":1}").err(), Some("JSON string is not UTF-8"));
        let cases = [
            ("[1 2]", "expected ',' or ']' in JSON array"),
            ("{\"a\":1 2}", "expected ',' or '}' in JSON object"),
            ("{\"a\" 1}", "expected ':' in JSON object"),
            ("{1:2}", "expected a string key in JSON object"),
            ("{\"a\":1,}", "expected a string key in JSON object"),
            ("[1,", "unexpected end of JSON"),
            ("\"\\ud800\\u0041\"", "bad JSON surrogate pair"),
        ];
        for (bad, message) in cases {
            assert_eq!(parse(bad.as_bytes()).err(), Some(message), "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert_eq!(parse(deep.as_bytes()).err(), Some("JSON nested too deep"));
        assert!(parse("[".repeat(MAX_DEPTH + 1).as_bytes()).is_err());
        let fine = ["[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)].concat();
        assert!(parse(fine.as_bytes()).is_ok());
    }
}
