# shellcheck shell=bash
# shellcheck disable=SC2034 # variables used by the scripts that source this
# Shared settings and helpers for cross/build.sh, cross/test.sh and
# cross/size-report. Sourced, not run.

# Pinned tools: bump these together and re-run cross/build.sh + cross/test.sh.
PMAN_NIGHTLY=nightly-2026-05-20
PMAN_ZIG_VERSION=0.17.1
PMAN_ZIGBUILD_VERSION=0.24.1

# Every target cross/build.sh knows, in build order. Default: all of them.
PMAN_ALL_TARGETS=(
    mipsel-unknown-linux-musl
    mips-unknown-linux-musl
    armv7-unknown-linux-musleabihf
    aarch64-unknown-linux-musl
    x86_64-unknown-linux-musl
    arm-unknown-linux-musleabi
)

PMAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PMAN_OUT="$PMAN_ROOT/target/cross"

die() {
    printf 'cross: error: %s\n' "$*" >&2
    exit 1
}

# A tool that cannot be installed on this machine (no network, no package):
# exit 3, so CI can tell "could not set up" from "built or tested wrong".
PMAN_TOOLS_EXIT=3
die_tools() {
    printf 'cross: error: cannot set up the build tools: %s\n' "$*" >&2
    exit "$PMAN_TOOLS_EXIT"
}

note() {
    printf 'cross: %s\n' "$*" >&2
}

# Expand short names (mipsel, armv7, ...) to target triples; reject unknown.
resolve_target() {
    local want=$1 t
    for t in "${PMAN_ALL_TARGETS[@]}"; do
        if [[ $want == "$t" || $want == "${t%%-*}" ]]; then
            printf '%s\n' "$t"
            return 0
        fi
    done
    die "unknown target '$want' (known: ${PMAN_ALL_TARGETS[*]})"
}

# qemu-user runner for a target ("" = runs natively on this x86_64 host).
target_runner() {
    case $1 in
        mips-*) echo qemu-mips-static ;;
        mipsel-*) echo qemu-mipsel-static ;;
        armv7-* | arm-*) echo qemu-arm-static ;;
        aarch64-*) echo qemu-aarch64-static ;;
        x86_64-*) echo "" ;;
        *) die "no runner known for $1" ;;
    esac
}

# CPU that qemu emulates for a target: the oldest core OpenWrt ships the
# package for, so instructions the router lacks fail here too.
target_qemu_cpu() {
    case $1 in
        mips-* | mipsel-*) echo 24Kc ;;
        armv7-*) echo cortex-a7 ;;
        arm-*) echo arm1176 ;;
        aarch64-*) echo cortex-a53 ;;
        *) echo "" ;;
    esac
}

# What `file` must say about the binary's machine.
target_file_arch() {
    case $1 in
        mips-*) echo 'MSB executable, MIPS' ;;
        mipsel-*) echo 'LSB executable, MIPS' ;;
        armv7-* | arm-*) echo 'LSB executable, ARM' ;;
        aarch64-*) echo 'LSB executable, ARM aarch64' ;;
        x86_64-*) echo 'LSB executable, x86-64' ;;
    esac
}

# Stripped-size budget in KiB (empty: none).
target_budget_kib() {
    case $1 in
        mips-* | mipsel-*) echo 160 ;;
        armv7-* | aarch64-* | x86_64-*) echo 120 ;;
        *) echo "" ;;
    esac
}

llvm_tools_dir() {
    local sysroot
    sysroot=$(rustc "+$PMAN_NIGHTLY" --print sysroot)
    printf '%s/lib/rustlib/%s/bin\n' "$sysroot" \
        "$(rustc "+$PMAN_NIGHTLY" -vV | sed -n 's/^host: //p')"
}

# Run a command quietly; on failure show its output and stop.
quiet() {
    local what=$1 log
    shift
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die_tools "$what failed: $*"
    fi
    rm -f "$log"
}

apt_ensure() {
    # apt_ensure COMMAND PACKAGE [COMMAND PACKAGE ...]: install missing ones.
    local missing=()
    while (($#)); do
        command -v "$1" >/dev/null 2>&1 || missing+=("$2")
        shift 2
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get to install them"
    note "installing ${missing[*]} (apt-get)"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    quiet "apt-get update" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get update -q
    quiet "apt-get install" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_rust() {
    command -v rustup >/dev/null 2>&1 || die "rustup not found (needed for $PMAN_NIGHTLY)"
    local have
    have=$(rustup component list --toolchain "$PMAN_NIGHTLY" --installed 2>/dev/null || true)
    if ! grep -q '^rust-src' <<<"$have" || ! grep -q '^llvm-tools' <<<"$have" ||
        ! grep -q '^cargo' <<<"$have"; then
        note "installing Rust $PMAN_NIGHTLY with rust-src and llvm-tools (rustup)"
        if ! rustup toolchain install "$PMAN_NIGHTLY" --profile minimal \
            --component rust-src --component llvm-tools --no-self-update >/dev/null 2>&1; then
            # The pinned nightly cannot be fetched: use the machine's own
            # nightly, given its rust-src and llvm-tools.
            note "cannot install $PMAN_NIGHTLY; trying the installed 'nightly'"
            quiet "rustup component add" rustup component add rust-src llvm-tools --toolchain nightly
            PMAN_NIGHTLY=nightly
        fi
    fi
}

# zig and cargo-zigbuild from PyPI, pinned; puts cargo-zigbuild on PATH.
ensure_zig() {
    local py scripts
    py=$(command -v python3 || true)
    [[ -n $py ]] || die "python3 not found (needed to install ziglang and cargo-zigbuild)"
    scripts=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    export PATH="$scripts:$PATH"
    local zig_have zb_have
    zig_have=$("$py" -m ziglang version 2>/dev/null || true)
    zb_have=$("$scripts/cargo-zigbuild" --version 2>/dev/null || true)
    if [[ $zig_have != "$PMAN_ZIG_VERSION" || $zb_have != "cargo-zigbuild $PMAN_ZIGBUILD_VERSION" ]]; then
        note "installing ziglang $PMAN_ZIG_VERSION and cargo-zigbuild $PMAN_ZIGBUILD_VERSION (pip)"
        quiet "pip install" "$py" -m pip install -q --disable-pip-version-check \
            --root-user-action=ignore \
            "ziglang==$PMAN_ZIG_VERSION" "cargo-zigbuild==$PMAN_ZIGBUILD_VERSION"
        zig_have=$("$py" -m ziglang version 2>/dev/null || true)
        [[ $zig_have == "$PMAN_ZIG_VERSION" ]] ||
            die "zig from pip reports '$zig_have', want $PMAN_ZIG_VERSION"
        [[ -x $scripts/cargo-zigbuild ]] || die "cargo-zigbuild not in $scripts after pip install"
    fi
}
