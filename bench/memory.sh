#!/usr/bin/env bash
# The daemon's memory, for comparing builds side by side: for each N, each
# binary in turn (ROUNDS times, alternating) supervises N `sleep` programs
# with default file logs; once `status` shows them all RUNNING, the
# daemon's /proc/PID/smaps_rollup and its [stack] mapping are read.
#
#   bench/memory.sh [BIN...]     default: target/cross/x86_64-unknown-linux-musl/pman
#   MEMORY_NS="10 200 1000"      the program counts
#   MEMORY_ROUNDS=2              runs per binary and N
#   MEMORY_LOGS=file             file: each program logs to its own file;
#                                none: stdout = none, stderr = none, and a
#                                directory of its own (as bench/run.sh has it)
#
# Prints one Markdown table row per run: binary, N, PSS, anonymous,
# file-backed PSS, and the stack's resident kB.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
read -ra NS <<<"${MEMORY_NS:-10 200 1000}"
ROUNDS=${MEMORY_ROUNDS:-2}
LOGS=${MEMORY_LOGS:-file}
BINS=("$@")
((${#BINS[@]})) || BINS=("$ROOT/target/cross/x86_64-unknown-linux-musl/pman")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pman-memory.XXXXXX")
DAEMON=""
cleanup() {
    if [[ -n $DAEMON ]] && kill -0 "$DAEMON" 2>/dev/null; then
        # its programs die with it (PR_SET_PDEATHSIG)
        kill -KILL "$DAEMON" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kB of a smaps_rollup field
field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DAEMON/smaps_rollup"; }

measure() { # BIN N
    local bin=$1 n=$2 dir conf running=0 stack
    dir=$(mktemp -d "$TMP/run.XXXXXX")
    conf=$dir/pman.conf
    {
        printf '[pman]\nsocket = @pman-memory-%s-%s\nlogfile = %s/pman.log\n' "$$" "${dir##*.}" "$dir"
        for ((i = 1; i <= n; i++)); do
            printf '[program:p%s]\ncommand = sleep 100000\n' "$i"
            if [[ $LOGS == none ]]; then
                mkdir -p "$dir/sv/p$i"
                printf 'stdout = none\nstderr = none\ndirectory = %s/sv/p%s\n' "$dir" "$i"
            else
                printf 'stdout = %s/p%s.log\n' "$dir" "$i"
            fi
        done
    } >"$conf"
    "$bin" daemon -c "$conf" >/dev/null
    DAEMON=$("$bin" -c "$conf" pid)
    for ((t = 0; t < 300; t++)); do
        running=$("$bin" -c "$conf" status 2>/dev/null | grep -c ' RUNNING ' || true)
        ((running == n)) && break
        sleep 0.1
    done
    ((running == n)) || echo "memory: $bin: only $running of $n programs RUNNING" >&2
    sleep 0.5
    stack=$(awk '/\[stack\]/ { s = 1 } s && $1 == "Rss:" { print $2; exit }' "/proc/$DAEMON/smaps")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$bin" "$n" "$(field Pss)" "$(field Pss_Anon)" \
        "$(field Pss_File)" "$stack"
    "$bin" -c "$conf" kill >/dev/null 2>&1 || true
    for ((t = 0; t < 100; t++)); do
        kill -0 "$DAEMON" 2>/dev/null || break
        sleep 0.1
    done
    cleanup_daemon
}

cleanup_daemon() {
    if [[ -n $DAEMON ]] && kill -0 "$DAEMON" 2>/dev/null; then
        kill -KILL "$DAEMON" 2>/dev/null || true
    fi
    DAEMON=""
}

echo "| binary | N | PSS kB | anonymous kB | file kB | stack kB |"
echo "|---|---|---|---|---|---|"
for n in "${NS[@]}"; do
    for ((r = 0; r < ROUNDS; r++)); do
        for bin in "${BINS[@]}"; do
            measure "$bin" "$n"
        done
    done
done
