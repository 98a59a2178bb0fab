//! Thin safe wrappers over libc: the one home of `unsafe`.
