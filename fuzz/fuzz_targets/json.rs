//! The client's JSON reader (`pman::json`, for `status --json` replies and
//! rpcd's arguments). Beyond "never panics" (deep nesting included): a
//! parsed document written back as compact JSON parses to the same value,
//! and writing that again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pman::json::Json;
use pman::text::Text;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = Json::parse(data) {
        let mut out = Text::new();
        value.write(&mut out);
        let again = Json::parse(out.as_bytes());
        assert_eq!(again.as_ref(), Ok(&value), "{:?}", String::from_utf8_lossy(out.as_bytes()));
        let mut twice = Text::new();
        again.unwrap().write(&mut twice);
        assert_eq!(out.as_bytes(), twice.as_bytes());
    }
});
