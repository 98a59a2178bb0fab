//! INI text → sections of `key = value` entries with their line numbers,
//! read the way Supervisor's configparser reads them (inline comments after
//! whitespace, `:` or `=`, indented continuation lines, lower-case keys).

use crate::sort;
use crate::text::Part::Str;
use crate::text::TrimSpace;

/// One `key = value`; `file` indexes the loader's file list, `line` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased, as configparser compares keys.
    pub key: String,
    /// The key as the file spells it, when that is not `key`: messages show it.
    pub spelled: Option<String>,
    pub value: String,
    pub file: usize,
    pub line: usize,
}

/// A `[name]` section. After [`merge`], a repeated section holds the entries
/// of every occurrence in reading order and keeps its first position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub file: usize,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Entry {
    /// The key as written in the file.
    pub fn written(&self) -> &str {
        self.spelled.as_deref().unwrap_or(&self.key)
    }
}

impl Section {
    /// The last value of `key` (later wins, as in configparser).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Cuts a ` ;` / ` #` inline comment (the marker must follow whitespace or
/// start the line). Returns the text before it and whether a comment was cut.
fn strip_comment(line: &str) -> (&str, bool) {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && prev_space {
            return (line.get(..i).unwrap_or(""), true);
        }
        prev_space = crate::text::is_space(c);
    }
    (line, false)
}

/// The lines of `text` as `str::lines` has them (the `\r` of a `\r\n` is
/// cut, a last `\n` ends the last line), found by a byte search.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text).filter(|t| !t.is_empty());
    std::iter::from_fn(move || {
        let t = rest?;
        let Some(at) = t.bytes().position(|b| b == b'\n') else {
            rest = None;
            return Some(t);
        };
        rest = t.get(at + 1..).filter(|a| !a.is_empty());
        let line = t.get(..at).unwrap_or("");
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// Parses one file's text. Errors are `(line, message)`.
pub fn parse(text: &str, file: usize) -> (Vec<Section>, Vec<(usize, String)>) {
    parse_some(text, file, &|_| true)
}

/// Like [`parse`], but keeps only the sections whose name `keep` accepts: the
/// others are read line by line as usual (so continuation lines end where
/// they would) and dropped, which costs no allocation.
pub fn parse_some(
    text: &str,
    file: usize,
    keep: &dyn Fn(&str) -> bool,
) -> (Vec<Section>, Vec<(usize, String)>) {
    let mut sections: Vec<Section> = Vec::new();
    let mut errors = Vec::new();
    // Whether the current section is kept; `None` before the first header.
    let mut kept: Option<bool> = None;
    // Whether the last entry of the last section may take continuation lines.
    let mut open_key = false;
    let mut indent_level = 0usize;
    // Editors on other systems may start the file with a UTF-8 byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in lines(text).enumerate() {
        let line_no = index + 1;
        let (before, had_comment) = strip_comment(raw);
        let is_comment_line = raw.trim_space_start().starts_with([';', '#']);
        let value = before.trim_space();
        if value.is_empty() {
            // A blank line inside a multi-line value is kept (configparser's
            // empty_lines_in_values); trailing ones are trimmed at the end.
            if !had_comment && !is_comment_line && open_key && kept == Some(true) {
                if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                    entry.value.push('\n');
                }
            }
            continue;
        }
        let indent = raw.len() - raw.trim_space_start().len();
        if open_key && indent > indent_level {
            if let Some(entry) =
                sections.last_mut().and_then(|s| s.entries.last_mut()).filter(|_| kept == Some(true))
            {
                entry.value.push('\n');
                entry.value.push_str(value);
            }
            continue;
        }
        indent_level = indent;
        open_key = false;
        if let Some(rest) = value.strip_prefix('[') {
            // A byte search: `]` is ASCII, and core's reverse char search is big.
            match rest.bytes().rposition(|b| b == b']') {
                Some(end) => {
                    let name = rest.get(..end).unwrap_or("").trim_space();
                    if name.is_empty() {
                        quoting(&mut errors, line_no, "empty section name []", "", "");
                    }
                    kept = Some(keep(name));
                    if kept == Some(true) {
                        sections.push(Section {
                            name: name.to_string(),
                            file,
                            line: line_no,
                            entries: Vec::new(),
                        });
                    }
                }
                None => quoting(&mut errors, line_no, "section header without ']': ", value, ""),
            }
            continue;
        }
        if kept.is_none() {
            quoting(&mut errors, line_no, "'", value, "' comes before any [section]");
            continue;
        }
        // A byte search (both are ASCII): core's char-set searcher is more code.
        let Some(sep) = value.bytes().position(|b| b == b'=' || b == b':') else {
            quoting(&mut errors, line_no, "expected 'key = value' or '[section]', found '", value, "'");
            continue;
        };
        let key = value.get(..sep).unwrap_or("").trim_space();
        if key.is_empty() {
            quoting(&mut errors, line_no, "missing key before '=' in '", value, "'");
            continue;
        }
        open_key = true;
        let Some(section) = sections.last_mut().filter(|_| kept == Some(true)) else { continue };
        let val = value.get(sep + 1..).unwrap_or("").trim_space();
        let lower = lower_key(key);
        let spelled = (lower != key).then(|| key.to_string());
        section.entries.push(Entry { key: lower, spelled, value: val.to_string(), file, line: line_no });
    }
    for section in &mut sections {
        for entry in &mut section.entries {
            let trimmed = entry.value.trim_space_end().len();
            entry.value.truncate(trimmed);
        }
    }
    (sections, errors)
}

/// A section that appeared again: where it did, and where it first did.
pub struct Repeat {
    pub name: String,
    pub again: (usize, usize),
    pub first: (usize, usize),
}

/// Appends `new` to `all`; a section seen before takes the new entries and
/// keeps its first position. Returns where sections appeared again.
pub fn merge(all: &mut Vec<Section>, new: Vec<Section>) -> Vec<Repeat> {
    let old = all.len();
    // The first occurrence of each new section's name, as an index into
    // `all` then `new`: one sort, not a scan per section, so thousands of
    // sections stay fast.
    let names: Vec<&str> = all.iter().chain(new.iter()).map(|s| s.name.as_str()).collect();
    let order = sort::sorted(names.len(), &|a, b| (names[a], a) < (names[b], b));
    let mut first = vec![0usize; new.len()];
    // The name of the current run of equal names, and its first index.
    let mut run: Option<(&str, usize)> = None;
    for &i in &order {
        let f = match run {
            Some((name, f)) if name == names[i] => f,
            _ => {
                run = Some((names[i], i));
                i
            }
        };
        if let Some(slot) = i.checked_sub(old).and_then(|j| first.get_mut(j)) {
            *slot = f;
        }
    }
    drop(order);
    drop(names);
    // Where each new section ended up in `all`.
    let mut placed = vec![0usize; new.len()];
    let mut repeats = Vec::new();
    for (j, section) in new.into_iter().enumerate() {
        let f = first.get(j).copied().unwrap_or(old + j);
        let target = if f < old { Some(f) } else { placed.get(f - old).copied().filter(|_| f != old + j) };
        match target.and_then(|t| all.get_mut(t)) {
            Some(existing) => {
                repeats.push(Repeat {
                    name: section.name,
                    again: (section.file, section.line),
                    first: (existing.file, existing.line),
                });
                existing.entries.extend(section.entries);
            }
            None => {
                if let Some(p) = placed.get_mut(j) {
                    *p = all.len();
                }
                all.push(section);
            }
        }
    }
    repeats
}

/// A key lower-cased as configparser does: ASCII letters, and the Kelvin
/// sign, the one other letter whose lower case is ASCII (`k`).
fn lower_key(key: &str) -> String {
    key.chars().map(|c| if c == '\u{212a}' { 'k' } else { c.to_ascii_lowercase() }).collect()
}

/// Adds the error at `line`: `before`, `text` cut by [`clip`], `after`.
/// (One call per kind of bad line, not one inlined push each.)
#[inline(never)]
fn quoting(errors: &mut Vec<(usize, String)>, line: usize, before: &str, text: &str, after: &str) {
    errors.push((line, crate::text::concat("{}{}{}", &[Str(before), Str(&clip(text)), Str(after)])));
}

/// A line quoted in an error, cut to a readable length.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => crate::text::concat("{}…", &[Str(text.get(..at).unwrap_or(""))]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<Section> {
        let (sections, errors) = parse(text, 0);
        assert!(errors.is_empty(), "{errors:?}");
        sections
    }

    #[test]
    fn lines_as_str_lines() {
        for text in ["", "\n", "a", "a\n", "a\r\n", "a\n\nb", "\r", "a\r", "a\rb\n\r\n", "\n\n", "é\r\nx"] {
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn comments_separators_and_case() {
        let s = one("# top\n[program:a] ; note\nCommand = /bin/x ; c\nuser: bob\n  ; indented comment\nk=a;b\nq=a #b\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "program:a");
        let e = &s[0].entries;
        assert_eq!((e[0].key.as_str(), e[0].value.as_str(), e[0].line), ("command", "/bin/x", 3));
        assert_eq!((e[1].key.as_str(), e[1].value.as_str()), ("user", "bob"));
        assert_eq!(e[2].value, "a;b");
        assert_eq!(e[3].value, "a");
    }

    #[test]
    fn first_separator_splits() {
        let s = one("[a]\nurl = http://x=1\nenv=A=b:c\n");
        assert_eq!(s[0].entries[0].key, "url");
        assert_eq!(s[0].entries[0].value, "http://x=1");
        assert_eq!(s[0].entries[1].value, "A=b:c");
    }

    #[test]
    fn continuation_lines() {
        let s = one("[a]\ncommand=one\n  two ; c\n\n\tthree\n\nnext=1\n");
        assert_eq!(s[0].entries[0].value, "one\ntwo\n\nthree");
        assert_eq!(s[0].entries[1].value, "1");
    }

    #[test]
    fn indented_key_after_section_is_a_key() {
        let s = one("[a]\n  x=1\n  y=2\n");
        assert_eq!(s[0].entries.len(), 2);
    }

    #[test]
    fn errors_name_lines() {
        let (_, errors) = parse("x=1\n[a]\n{% if %}\n=v\n[b\n[]\n", 0);
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![1, 3, 4, 5, 6]);
    }

    #[test]
    fn keys_are_lower_cased_as_configparser_does() {
        assert_eq!(lower_key("Command"), "command");
        assert_eq!(lower_key("\u{212a}illAsGroup"), "killasgroup");
        assert_eq!(lower_key("ÄUTOSTART"), "Äutostart");
    }

    #[test]
    fn merge_keeps_first_position() {
        let mut all = one("[a]\nx=1\n[b]\ny=1\n");
        let repeats = merge(&mut all, one("[a]\nx=2\n[c]\n"));
        assert_eq!(
            repeats.iter().map(|r| (r.name.as_str(), r.again, r.first)).collect::<Vec<_>>(),
            [("a", (0, 1), (0, 1))]
        );
        assert_eq!(all.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(all[0].get("x").map(|e| e.value.as_str()), Some("2"));
    }

    #[test]
    fn merge_is_linear_in_sections() {
        // A scan per section made a 16 KB file of empty sections take
        // quadratic time; 50 000 of them now merge in milliseconds.
        let text: String = (0..50_000).map(|i| format!("[s{i}]\n")).collect();
        let started = std::time::Instant::now();
        let mut all = one(&text);
        merge(&mut all, one(&text));
        assert_eq!(all.len(), 50_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn parse_some_skips_other_sections_exactly() {
        let text =
            "[program:a]\ncommand=x\n  [pman]\n[pman]\nsocket=@s\n  more\n[program:b]\nk=v\n  socket=@no\n";
        let (sections, _) = parse_some(text, 0, &|name| name == "pman");
        assert_eq!(sections.len(), 1);
        assert_eq!((sections[0].line, sections[0].entries.len()), (4, 1));
        assert_eq!(sections[0].entries[0].value, "@s\nmore");
        assert_eq!(parse(text, 0).0[0].entries[0].value, "x\n[pman]");
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let s = one("\u{feff}[a]\r\nx = 1\r\n");
        assert_eq!((s[0].name.as_str(), s[0].entries[0].value.as_str()), ("a", "1"));
    }

    #[test]
    fn header_trailing_space_and_comment() {
        let s = one("[eventlistener:stdout] \n[x]   ; c\n");
        assert_eq!(s[0].name, "eventlistener:stdout");
        assert_eq!(s[1].name, "x");
    }
}
