//! pman: a minimal process supervisor for tiny embedded Linux systems.
//!
//! The binary has its own C `main`: std's runtime start-up and clean-up
//! (argument capture, stack-overflow handler, stdout flush) are code pman
//! does not need; `pman::start` does the few steps it does need.

#![no_main]

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: pman::Allocator = pman::Allocator;

/// The C runtime's entry: the process exits with what this returns.
#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // SAFETY: argc and argv are the C runtime's, valid for the whole run.
    let args = unsafe { pman::start(argc, argv) };
    pman::main_args(&args)
}
