//! pman: a minimal process supervisor for tiny embedded Linux systems.

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: pman::Allocator = pman::Allocator;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = pman::main_with(args.get(1..).unwrap_or_default());
    std::process::exit(code);
}
