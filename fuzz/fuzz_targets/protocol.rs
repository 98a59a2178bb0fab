//! Control-protocol request lines through `pman::protocol::Request::parse`.
//! Beyond "never panics": a parsed request encodes to a line that parses
//! back to the same request, and a refused line gets a short one-line error
//! (the daemon sends it back as one `!` line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pman::protocol::{Request, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    match Request::parse(&line) {
        Ok(request) => {
            let encoded = request.encode();
            assert!(encoded.len() <= line.len(), "{encoded:?} is longer than {line:?}");
            assert_eq!(Request::parse(&encoded).as_ref(), Ok(&request), "{encoded:?}");
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
