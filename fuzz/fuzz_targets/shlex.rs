//! The `command=` splitter, `pman::config::shlex::split`. Beyond "never
//! panics": whatever it splits, the words quoted back (single quotes as
//! Python's `shlex.quote` does, and double quotes with `\` escapes) and
//! joined split to the same words; and the input read as NUL-separated
//! argv survives the same trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pman::config::shlex;

/// The words `shlex::split` gives, as strings.
fn split(text: &str) -> Result<Vec<String>, String> {
    let argv = shlex::split(text)?;
    Ok(argv.iter().map(|w| String::from_utf8(w.to_vec()).expect("UTF-8 word")).collect())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(words) = split(&text) {
        round_trip(&words);
    }
    let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
    round_trip(&argv);
});

fn round_trip(argv: &[String]) {
    let single: Vec<String> = argv.iter().map(|w| quote_single(w)).collect();
    assert_eq!(split(&single.join(" ")).as_deref(), Ok(argv), "single-quoted {single:?}");
    let double: Vec<String> = argv.iter().map(|w| quote_double(w)).collect();
    assert_eq!(split(&double.join(" \n\t")).as_deref(), Ok(argv), "double-quoted {double:?}");
}

/// Python's `shlex.quote`: safe words bare, others in `'…'` with `'` as `'"'"'`.
fn quote_single(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r#"'"'"'"#))
}

/// `"…"` with `"` and `\` escaped by a backslash.
fn quote_double(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
