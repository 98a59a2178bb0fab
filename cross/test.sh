#!/usr/bin/env bash
# Run pman's integration tests (tests/*.rs, built for the host) against the
# cross-built binaries of cross/build.sh, each under qemu-user-static.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: cross/test.sh [-v] [TARGET...] [-- CARGO_TEST_ARGS...]

For each TARGET (default: every target with a binary in target/cross/),
runs `cargo test --no-fail-fast --test '*'` on the host with
  PMAN_BIN=target/cross/TARGET/pman  PMAN_RUNNER=qemu-ARCH-static
(PMAN_RUNNER empty for x86_64, which runs natively) and QEMU_CPU set to the
oldest router core of that target. binfmt_misc is not used.
Arguments after -- go to the test binaries (e.g. -- --test-threads=1).

-v   print the whole test output, also when it passes
Environment: PMAN_CROSS_TEST_TIMEOUT (seconds per target, default 1800).
EOF
}

# shellcheck source=cross/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

verbose=0
targets=()
test_args=()
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -v | --verbose) verbose=1 ;;
        --) shift; test_args=("$@"); break ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) targets+=("$(resolve_target "$1")") ;;
    esac
    shift
done
if ((${#targets[@]} == 0)); then
    for t in "${PMAN_ALL_TARGETS[@]}"; do
        [[ -x $PMAN_OUT/$t/pman ]] && targets+=("$t")
    done
    ((${#targets[@]})) || die "no binaries in target/cross/: run cross/build.sh first"
fi
for t in "${targets[@]}"; do
    [[ -x $PMAN_OUT/$t/pman ]] ||
        die "$t: no target/cross/$t/pman: run cross/build.sh $t first"
done

need_qemu=0
for t in "${targets[@]}"; do [[ -n $(target_runner "$t") ]] && need_qemu=1; done
if ((need_qemu)); then
    apt_ensure qemu-mips-static qemu-user-static
    for t in "${targets[@]}"; do
        r=$(target_runner "$t")
        [[ -z $r ]] || command -v "$r" >/dev/null || die "$r not found (package qemu-user-static)"
    done
fi
command -v timeout >/dev/null || die "timeout not found (coreutils)"

# Host test build in its own target dir: no fight over target/debug's lock
# with host builds running at the same time.
export CARGO_TARGET_DIR="$PMAN_ROOT/target/cross-test"
unset PMAN_CONFIG
log_dir="$CARGO_TARGET_DIR/logs"
mkdir -p "$log_dir"
limit=${PMAN_CROSS_TEST_TIMEOUT:-1800}

shopt -s nullglob
itests=("$PMAN_ROOT"/tests/*.rs)
shopt -u nullglob
((${#itests[@]})) || die "no integration tests in tests/*.rs"

# Build the test binaries once, before any target's run, so a compile error
# is reported once and build time is not counted against a target.
if ! (cd "$PMAN_ROOT" && cargo test --test '*' --no-run) >"$log_dir/build.log" 2>&1; then
    tail -n 60 "$log_dir/build.log" >&2
    die "building the integration tests failed (log: $log_dir/build.log)"
fi

summary=()
status=0
for t in "${targets[@]}"; do
    runner=$(target_runner "$t")
    cpu=$(target_qemu_cpu "$t")
    log="$log_dir/$t.log"
    note "$t: cargo test --test '*' with PMAN_BIN=target/cross/$t/pman PMAN_RUNNER=${runner:-(none)}${cpu:+ QEMU_CPU=$cpu}"
    start=$SECONDS
    rc=0
    (
        cd "$PMAN_ROOT"
        export PMAN_BIN="$PMAN_OUT/$t/pman" PMAN_RUNNER="$runner"
        if [[ -n $cpu ]]; then export QEMU_CPU=$cpu; else unset QEMU_CPU; fi
        # --show-output: tests print "SKIP name: reason" (e.g. what qemu-user
        # cannot do), which libtest would otherwise hide for passing tests.
        timeout --kill-after=30 "$limit" cargo test --no-fail-fast --test '*' -- \
            --show-output "${test_args[@]}"
    ) >"$log" 2>&1 || rc=$?
    secs=$((SECONDS - start))

    # Totals over all test binaries of this run.
    read -r passed failed ignored < <(awk '
        /^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i - 1)
                if ($(i) ~ /^failed;?$/) f += $(i - 1)
                if ($(i) ~ /^ignored;?$/) g += $(i - 1)
            }
        }
        END { print p + 0, f + 0, g + 0 }' "$log")
    skipped=$(grep -c '^SKIP ' "$log" || true)

    if ((rc == 0)); then
        result=ok
        if ((verbose)); then cat "$log"; else grep -E '^(test result:|SKIP )' "$log" || true; fi
    else
        status=1
        if ((rc == 124 || rc == 137)); then
            result="TIMEOUT after ${limit}s"
        else
            result="FAILED (exit $rc)"
        fi
        if ((verbose)); then
            cat "$log"
        else
            # Which binary ran, each failure's output, results, skips.
            awk '/^ *Running /; /^SKIP / && !f; /^failures:/ { f = 1 } f; /^test result:/ { if (!f) print; f = 0 }
                 /^error/ { print }' "$log"
        fi
    fi
    line=$(printf '%-32s %-20s %4d passed %4d failed %4d ignored %4d skipped %5ds' \
        "$t" "$result" "$passed" "$failed" "$ignored" "$skipped" "$secs")
    summary+=("$line")
    note "$line (log: target/cross-test/logs/$t.log)"
done

printf '\n== cross/test.sh summary ==\n'
printf '%s\n' "${summary[@]}"
exit "$status"
