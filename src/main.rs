//! pman: a minimal process supervisor for tiny embedded Linux systems.

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: pman::Allocator = pman::Allocator;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = pman::main_with(&args);
    std::process::exit(code);
}
