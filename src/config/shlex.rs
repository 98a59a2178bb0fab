//! `command=` → argv, with the rules of Python's `shlex.split` (POSIX mode),
//! as Supervisor splits commands: `'…'` is literal, inside `"…"` a backslash
//! escapes only `"` and `\`, outside quotes it escapes any character, and
//! quoted parts join the word around them (`a"b c"` is one word).

use super::Argv;

/// An interior NUL would end the argument: the process gets `?`.
fn put(block: &mut String, c: char) {
    block.push(if c == '\0' { '?' } else { c });
}

/// Splits `text` into words; errors are Python's messages.
pub fn split(text: &str) -> Result<Argv, String> {
    // Each word ended by a NUL.
    let mut block = String::new();
    // A word exists once anything (even `""`) has been seen since the last gap.
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    block.push('\0');
                    in_word = false;
                }
            }
            '\\' => {
                let next = chars.next().ok_or_else(|| "No escaped character".to_string())?;
                put(&mut block, next);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => put(&mut block, q),
                        None => return Err("No closing quotation".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => block.push(e),
                            Some(e) => {
                                block.push('\\');
                                put(&mut block, e);
                            }
                            None => return Err("No escaped character".to_string()),
                        },
                        Some(q) => put(&mut block, q),
                        None => return Err("No closing quotation".to_string()),
                    }
                }
            }
            _ => {
                put(&mut block, c);
                in_word = true;
            }
        }
    }
    if in_word {
        block.push('\0');
    }
    Ok(Argv::from_block(block.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::split;

    fn ok(text: &str) -> Vec<String> {
        let argv = split(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        argv.iter().map(|a| String::from_utf8(a.to_vec()).unwrap()).collect()
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(ok("/bin/ls -l  /tmp"), ["/bin/ls", "-l", "/tmp"]);
        assert_eq!(ok("nginx -g 'daemon off;'"), ["nginx", "-g", "daemon off;"]);
        assert_eq!(ok(r#"a"b c"d"#), ["ab cd"]);
        assert_eq!(ok(r#"x "" ''"#), ["x", "", ""]);
        assert_eq!(ok(""), Vec::<String>::new());
        assert_eq!(ok("a\0b c"), ["a?b", "c"]);
    }

    #[test]
    fn backslashes() {
        assert_eq!(ok(r#""a\"b\\c\$d""#), [r#"a"b\c\$d"#]);
        assert_eq!(ok(r"'a\b'"), [r"a\b"]);
        assert_eq!(ok(r"a\ b \'"), ["a b", "'"]);
    }

    #[test]
    fn newlines() {
        assert_eq!(ok("a\nb"), ["a", "b"]);
        assert_eq!(ok("bash -c \" \\\nexec x\n\""), ["bash", "-c", " \\\nexec x\n"]);
    }

    #[test]
    fn errors() {
        assert_eq!(split("a 'b").unwrap_err(), "No closing quotation");
        assert_eq!(split("a \"b\\").unwrap_err(), "No escaped character");
        assert_eq!(split("a \\").unwrap_err(), "No escaped character");
    }
}
