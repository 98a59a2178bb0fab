#!/usr/bin/env bash
# Build static pman binaries for router CPUs: target/cross/TARGET/pman
# (stripped) and target/cross/TARGET/pman.unstripped (symbols, for
# cross/size-report). Installs what it needs on a fresh machine.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: cross/build.sh [--mode tiny|release] [-v] [TARGET...]

Builds static musl binaries of pman into target/cross/TARGET/pman.
TARGET is a triple or its first part (mipsel, armv7, ...); default: all of
  mipsel-unknown-linux-musl mips-unknown-linux-musl
  armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl
  x86_64-unknown-linux-musl arm-unknown-linux-musleabi

--mode tiny     (default) std rebuilt with optimize_for_size and
                panic=immediate-abort (cross/tiny.toml): smallest
--mode release  std rebuilt as is, panics print a message (cross/release.toml)
-v              show cargo's output
Environment: PMAN_CROSS_MODE sets the default mode.
EOF
}

# shellcheck source=cross/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=${PMAN_CROSS_MODE:-tiny}
verbose=0
targets=()
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --mode) (($# >= 2)) || die "--mode needs a value"; mode=$2; shift ;;
        --mode=*) mode=${1#--mode=} ;;
        -v | --verbose) verbose=1 ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) targets+=("$(resolve_target "$1")") ;;
    esac
    shift
done
((${#targets[@]})) || targets=("${PMAN_ALL_TARGETS[@]}")
[[ $mode == tiny || $mode == release ]] || die "unknown mode '$mode' (tiny or release)"

ensure_rust
ensure_zig
apt_ensure file file readelf binutils

tools=$(llvm_tools_dir)
objcopy=$tools/llvm-objcopy
[[ -x $objcopy ]] || die "llvm-objcopy not found in $tools (llvm-tools component)"

# A target dir per mode: switching modes in one dir would rebuild std.
build_dir="$PMAN_ROOT/target/cross-build/$mode"
mkdir -p "$build_dir" "$PMAN_OUT"

# Flags from the environment would replace .cargo/config.toml's per-target
# rustflags (crt-static, link-self-contained=no) and break static linking.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET_DIR \
    CARGO_TARGET_DIR
export RUSTUP_TOOLCHAIN=$PMAN_NIGHTLY

build_one() {
    local target=$1 log start secs bin out desc
    log="$build_dir/$target.log"
    start=$SECONDS
    local cmd=(cargo zigbuild --release --target "$target"
        --config "$PMAN_ROOT/cross/$mode.toml" --target-dir "$build_dir")
    if ((verbose)); then
        (cd "$PMAN_ROOT" && "${cmd[@]}") 2>&1 | tee "$log" >&2 ||
            die "$target: build failed (log: $log)"
    elif ! (cd "$PMAN_ROOT" && "${cmd[@]}") >"$log" 2>&1; then
        grep -v -e '^warning: linker stderr: unable to open library directory' "$log" |
            tail -n 60 >&2
        die "$target: build failed (full log: $log)"
    fi
    secs=$((SECONDS - start))

    bin="$build_dir/$target/release/pman"
    [[ -f $bin ]] || die "$target: cargo succeeded but $bin is missing"
    out="$PMAN_OUT/$target"
    mkdir -p "$out"
    cp -f "$bin" "$out/pman.unstripped.tmp"
    mv -f "$out/pman.unstripped.tmp" "$out/pman.unstripped"
    # --strip-all: symbols and debug info. .pdr: MIPS procedure descriptors
    # that strip(1) keeps and nothing reads at run time. .comment: tool names.
    "$objcopy" --strip-all --remove-section=.pdr --remove-section=.comment \
        "$bin" "$out/pman.tmp" || die "$target: llvm-objcopy failed"
    mv -f "$out/pman.tmp" "$out/pman"

    desc=$(file -b "$out/pman")
    [[ $desc == *"statically linked"* ]] ||
        die "$target: not statically linked: $desc"
    [[ $desc == *"$(target_file_arch "$target")"* ]] ||
        die "$target: wrong machine: $desc"
    if readelf -lW "$out/pman" | grep -q INTERP; then
        die "$target: has a program interpreter (dynamic): $(readelf -lW "$out/pman" | grep -A1 INTERP)"
    fi
    if readelf -dW "$out/pman" 2>/dev/null | grep -q NEEDED; then
        die "$target: needs shared libraries: $(readelf -dW "$out/pman" | grep NEEDED)"
    fi
    printf '%-32s %8d bytes  %3ds  %s\n' "$target" "$(stat -c %s "$out/pman")" "$secs" \
        "target/cross/$target/pman"
}

for t in "${targets[@]}"; do
    build_one "$t"
done
