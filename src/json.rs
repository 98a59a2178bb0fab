//! A tiny JSON reader (RFC 8259) for the client: `status --json` replies and
//! rpcd's arguments. Numbers stay as their text (no float code is pulled
//! in); nesting is bounded, so no input can exhaust the stack.

use crate::text::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written (already checked against the grammar).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// How deep arrays and objects may nest.
const MAX_DEPTH: usize = 64;

impl Json {
    /// Parses a whole document (whitespace around it allowed, nothing else).
    pub fn parse(text: &[u8]) -> Result<Json, &'static str> {
        let mut p = Parser { s: text, at: 0 };
        let value = p.value(0)?;
        p.ws();
        if p.at != p.s.len() {
            return Err("trailing data after the JSON value");
        }
        Ok(value)
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer (`12`, not `1.5` or `-1`).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) => crate::number::unsigned(n, 10),
            _ => None,
        }
    }

    /// Writes the value back as compact JSON.
    pub fn write(&self, out: &mut Text) {
        match self {
            Json::Null => {
                out.str("null");
            }
            Json::Bool(b) => {
                out.str(if *b { "true" } else { "false" });
            }
            Json::Num(n) => {
                out.str(n);
            }
            Json::Str(s) => string(out, s),
            Json::Arr(items) => {
                let mut sep = b'[';
                for item in items {
                    out.byte(sep);
                    sep = b',';
                    item.write(out);
                }
                out.str(if items.is_empty() { "[]" } else { "]" });
            }
            Json::Obj(fields) => {
                let mut sep = b'{';
                for (key, value) in fields {
                    out.byte(sep);
                    sep = b',';
                    string(out, key);
                    out.byte(b':');
                    value.write(out);
                }
                out.str(if fields.is_empty() { "{}" } else { "}" });
            }
        }
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
        while matches!(self.s.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
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

    fn word(&mut self, word: &[u8], value: Json) -> Result<Json, &'static str> {
        if self.s[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err("bad JSON literal")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, &'static str> {
        self.ws();
        if depth > MAX_DEPTH {
            return Err("JSON nested too deep");
        }
        match self.peek().ok_or("unexpected end of JSON")? {
            b'n' => self.word(b"null", Json::Null),
            b't' => self.word(b"true", Json::Bool(true)),
            b'f' => self.word(b"false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            // Arrays and objects share one loop: an object's items have keys.
            open @ (b'[' | b'{') => {
                self.at += 1;
                let object = open == b'{';
                let close = open + 2; // `]` and `}` follow `[` and `{` by two.
                let (mut items, mut fields) = (Vec::new(), Vec::new());
                self.ws();
                if !self.eat(close) {
                    loop {
                        let mut key = None;
                        if object {
                            self.ws();
                            if self.peek() != Some(b'"') {
                                return Err("expected a string key in JSON object");
                            }
                            key = Some(self.string()?);
                            self.ws();
                            if !self.eat(b':') {
                                return Err("expected ':' in JSON object");
                            }
                        }
                        let value = self.value(depth + 1)?;
                        match key {
                            Some(key) => fields.push((key, value)),
                            None => items.push(value),
                        }
                        self.ws();
                        if self.eat(close) {
                            break;
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
                Ok(if object { Json::Obj(fields) } else { Json::Arr(items) })
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err("unexpected character in JSON"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Json, &'static str> {
        const BAD: &str = "bad JSON number";
        let start = self.at;
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
        // Only ASCII digits and signs were taken.
        let text = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        Ok(Json::Num(text))
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

    fn string(&mut self) -> Result<String, &'static str> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek().ok_or("unterminated JSON string")?;
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated JSON string")?;
                    self.at += 1;
                    if e != b'u' {
                        // `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`: one byte each.
                        let at = b"\"\\/bfnrt".iter().position(|&x| x == e).ok_or("bad JSON escape")?;
                        out.push(b"\"\\/\x08\x0c\n\r\t"[at]);
                        continue;
                    }
                    let mut n = self.hex4()?;
                    if (0xD800..0xDC00).contains(&n) && self.s[self.at..].starts_with(b"\\u") {
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return Err("bad JSON surrogate pair");
                        }
                        n = 0x10000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                    }
                    let c = char::from_u32(n).ok_or("bad JSON \\u escape")?;
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                0..=0x1f => return Err("control character in JSON string"),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| "JSON string is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = Text::new();
        Json::parse(text.as_bytes()).unwrap().write(&mut out);
        String::from_utf8(out.into_bytes()).unwrap()
    }

    #[test]
    fn reads_and_writes_back() {
        assert_eq!(
            round_trip(r#" {"a": [1, -2.5e3, true, null], "b": "x\"\u00e9\n"} "#),
            "{\"a\":[1,-2.5e3,true,null],\"b\":\"x\\\"\u{e9}\\n\"}"
        );
        assert_eq!(round_trip(r#""\ud83d\ude00""#), "\"\u{1f600}\"");
        let escapes = Json::parse(br#""\"\\\/\b\f\n\r\t\u0041""#).unwrap();
        assert_eq!(escapes.as_str(), Some("\"\\/\u{8}\u{c}\n\r\tA"));
        assert_eq!(round_trip(r#""\u0001\t\r\\é\u001f""#), r#""\u0001\t\r\\é\u001f""#);
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in ["", "{", "[1,]", "01", "1.", "\"\\x\"", "{\"a\" 1}", "nul", "[] x", "\"\u{1}\""] {
            assert!(Json::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let cases = [
            ("[1 2]", "expected ',' or ']' in JSON array"),
            ("{\"a\":1 2}", "expected ',' or '}' in JSON object"),
            ("{\"a\" 1}", "expected ':' in JSON object"),
            ("{1:2}", "expected a string key in JSON object"),
            ("{\"a\":1,}", "expected a string key in JSON object"),
            ("[1,", "unexpected end of JSON"),
        ];
        for (bad, message) in cases {
            assert_eq!(Json::parse(bad.as_bytes()).err(), Some(message), "{bad:?}");
        }
        assert_eq!(round_trip(" [ ] "), "[]");
        assert_eq!(round_trip("{ }"), "{}");
        assert_eq!(round_trip("[{},[],{\"a\":[{}]}]"), "[{},[],{\"a\":[{}]}]");
        let deep = "[".repeat(10_000);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }
}
