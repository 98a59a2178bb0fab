//! The client's JSON reader (`pman::json`, for `status --json` replies and
//! rpcd's arguments). Beyond "never panics" (deep nesting included): in a
//! document it accepts, every member reads back, each member's text is a
//! document of its own, and every string decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pman::json::{self, Value};

fn walk(value: Value, depth: usize) {
    assert_eq!(json::parse(value.raw()), Ok(value), "{:?}", String::from_utf8_lossy(value.raw()));
    if value.raw().first() == Some(&b'"') {
        assert!(value.as_str().is_some());
    }
    let mut n = 0;
    for member in value.items() {
        walk(member, depth + 1);
        n += 1;
    }
    assert!(n == 0 || value.is_array() || value.is_object());
    assert!(depth <= 65);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = json::parse(data) {
        walk(value, 0);
    }
});
