#!/usr/bin/env bash
# Log capture throughput: a program writes SIZE MB to stdout as fast as it
# can; pman copies it through its pipe into a capped, rotating log. Prints
# MB/s and the daemon's CPU time per MB, beside the uncapped case (the
# program writes the file itself: the ceiling) for comparison.
#
# usage: bench/log-throughput.sh [SIZE_MB]      (default 100)
#   PMAN_BIN=path  the binary (default: cargo build --release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size_mb=${1:-100}
if [[ -z ${PMAN_BIN:-} ]]; then
    cargo build --release --quiet
    PMAN_BIN=$PWD/target/release/pman
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pman-logbench.XXXXXX")
daemon_pid=
cleanup() {
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME MAXBYTES: one daemon, one writer; prints a table row.
run() {
    local name=$1 maxbytes=$2 conf="$work/$1.conf" sock="@pman-logbench-$$-$1"
    cat >"$conf" <<CONF
[pman]
socket = $sock
logfile = $work/$name-pman.log
[program:writer]
command = /bin/sh -c 'start=\$(date +%%s%%N); head -c ${size_mb}M /dev/zero; end=\$(date +%%s%%N); echo \$((end - start)) > $work/$name.ns; exec sleep 600'
stdout = $work/$name.out
stdout_maxbytes = $maxbytes
stdout_backups = 1
stderr = none
startsecs = 0
CONF
    rm -f "$work/$name.ns"
    "$PMAN_BIN" -c "$conf" daemon -f 2>/dev/null &
    daemon_pid=$!
    local before
    before=$(cpu_ticks "$daemon_pid")
    for _ in $(seq 600); do [[ -s $work/$name.ns ]] && break; sleep 0.1; done
    [[ -s $work/$name.ns ]] || { echo "$name: the writer did not finish within 60 s" >&2; exit 1; }
    local after ns
    after=$(cpu_ticks "$daemon_pid")
    ns=$(cat "$work/$name.ns")
    "$PMAN_BIN" -c "$conf" kill >/dev/null
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    awk -v n="$name" -v mb="$size_mb" -v ns="$ns" -v t="$((after - before))" -v hz="$clk_tck" \
        -v files="$(ls "$work" | grep -c "^$name.out")" 'BEGIN {
        s = ns / 1e9; cpu = t / hz * 1000;
        printf "| %s | %d MB | %.0f MB/s | %.0f ms | %.2f ms | %d |\n", n, mb, mb / s, cpu, cpu / mb, files }'
}

echo "| log | written | throughput | daemon CPU | daemon CPU per MB | files |"
echo "|---|---|---|---|---|---|"
run capped-1MB 1MB
run capped-256KB 256KB
run uncapped 0
