//! Control-protocol request lines through `pman::protocol::Request::parse`.
//! Beyond "never panics": a parsed request encodes to a line (at most 3
//! times as long: names are escaped as `%XX`) that parses back to the same
//! request and encodes the same again, and a refused line gets a short one-line error
//! (the daemon sends it back as one `!` line). The same bytes, split at NUL
//! into names (what a client may be handed on its command line), make a
//! request that encodes to one line and parses back to exactly those names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pman::protocol::{Request, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let names: Vec<String> = line.split('\0').map(str::to_string).collect();
    let request = Request::Stop(names);
    let encoded = request.encode();
    assert!(!encoded.contains('\n'), "{encoded:?}");
    assert_eq!(Request::parse(&encoded).as_ref(), Ok(&request), "{encoded:?}");

    match Request::parse(&line) {
        Ok(request) => {
            let encoded = request.encode();
            assert!(encoded.len() <= 3 * line.len() + 8, "{encoded:?} is too long for {line:?}");
            assert!(!encoded.contains('\n'), "{encoded:?}");
            let again = Request::parse(&encoded);
            assert_eq!(again.as_ref(), Ok(&request), "{encoded:?}");
            assert_eq!(again.map(|r| r.encode()).as_deref(), Ok(encoded.as_str()));
        }
        Err(message) => {
            if !line.contains('\n') {
                assert!(!message.contains('\n'), "{message:?}");
            }
            if line.len() <= MAX_REQUEST {
                assert!(message.chars().count() <= 100, "{message:?}");
            }
        }
    }
});
