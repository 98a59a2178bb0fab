//! pman: a minimal process supervisor for tiny embedded Linux systems.

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: pman::Allocator = pman::Allocator;

fn main() {
    let code = pman::main_os(std::env::args_os().skip(1));
    std::process::exit(code);
}
