#!/usr/bin/env bash
# Fuzzes pman's parsers with cargo-fuzz (libFuzzer): every target, or the
# ones named, for SECONDS each (default 30), one at a time.
#   fuzz/run.sh [SECONDS] [TARGET...]      targets: config shlex protocol json
# On a fresh machine it installs what it needs: a nightly toolchain (the
# pinned one, else any installed nightly, else stable with RUSTC_BOOTSTRAP)
# and cargo-fuzz. New inputs go to fuzz/corpus-full/ (not committed); the
# committed, minimized fuzz/corpus/ is read as seeds. Exits 1 if any target
# found a crash, a panic, a time-out or a memory blow-up (see fuzz/artifacts/).
set -euo pipefail

seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config shlex protocol json)

nightly=${PMAN_FUZZ_TOOLCHAIN:-nightly-2026-05-20}
cargo_fuzz_version=0.13.2

cd "$(dirname "$0")"
started=$(date +%s)

if ! command -v rustup >/dev/null; then
    echo "fuzz: rustup is needed" >&2
    exit 1
fi
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1; then
    if timeout 600 rustup toolchain install "$nightly" --profile minimal >&2; then
        :
    elif rustup run nightly rustc --version >/dev/null 2>&1; then
        nightly=nightly
    else
        # libFuzzer needs -Z flags; stable takes them with RUSTC_BOOTSTRAP.
        echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
        nightly=stable
        export RUSTC_BOOTSTRAP=1
    fi
fi
echo "fuzz: toolchain $(rustup run "$nightly" rustc --version)"

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

cargo "+$nightly" fuzz build

# Per input: 2 s is far beyond any linear-time parse of max_len bytes;
# 1 GiB is far beyond what a router-sized parse may take.
max_len_config=16384
passed=0
failed=0
for target in "${targets[@]}"; do
    max_len=4096
    [ "$target" = config ] && max_len=$max_len_config
    mkdir -p "corpus/$target" "corpus-full/$target"
    echo "fuzz: $target for ${seconds}s"
    if cargo "+$nightly" fuzz run "$target" "corpus-full/$target" "corpus/$target" -- \
        -dict="dict/$target.dict" -max_len="$max_len" -timeout=2 -rss_limit_mb=1024 \
        -max_total_time="$seconds" -print_final_stats=1; then
        passed=$((passed + 1))
    else
        echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)" >&2
        failed=$((failed + 1))
    fi
done

echo "fuzz: ran for $(($(date +%s) - started))s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
