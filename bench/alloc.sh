#!/usr/bin/env bash
# Does pman's daemon allocate in its steady state? Runs it under valgrind
# (DHAT by default) four times and compares the heap totals:
#   idle: one sleeping program, daemon up IDLE_A s, then IDLE_B s
#   crash loop: one program that exits 1 at once (startsecs=1, backoff=0,
#     backoff_max=0, startretries=infinite, stdout/stderr none), stopped
#     after K and after 2K starts
# and prints allocations per idle minute and per restart, and the call
# stacks whose allocation count grows with the restarts (from DHAT).
#
#   bench/alloc.sh                 K=200, idle 5 s vs 65 s
#   BENCH_QUICK=1 bench/alloc.sh   K=50, idle 5 s vs 20 s
#   ALLOC_TOOL=memcheck            memcheck's "total heap usage" instead of DHAT (no stacks)
#   ALLOC_K, ALLOC_IDLE_A, ALLOC_IDLE_B override the sizes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/target/bench
mkdir -p "$BENCH"
if [[ ${BENCH_QUICK:-0} == 1 ]]; then K=${ALLOC_K:-50} IA=${ALLOC_IDLE_A:-5} IB=${ALLOC_IDLE_B:-20}; else
    K=${ALLOC_K:-200} IA=${ALLOC_IDLE_A:-5} IB=${ALLOC_IDLE_B:-65}; fi
TOOL=${ALLOC_TOOL:-dhat}

log() { printf 'alloc: %s\n' "$*" >&2; }

DAEMON=""
TMP=""
cleanup() {
    if [[ -n $DAEMON ]] && kill -0 "$DAEMON" 2>/dev/null; then
        # the daemon's programs die with it (PR_SET_PDEATHSIG)
        kill -KILL "$DAEMON" 2>/dev/null || true
    fi
    if [[ -n $TMP && ${BENCH_KEEP:-0} != 1 ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v valgrind >/dev/null; then
    [[ ${BENCH_NO_INSTALL:-0} == 1 ]] && { log "valgrind missing"; exit 1; }
    log "installing valgrind (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; } >"$BENCH/apt-valgrind.log" 2>&1
fi

# release profile, with debug info and unstripped, in its own target dir
log "building pman (release + debug info)"
(cd "$ROOT" && CARGO_TARGET_DIR=$BENCH/cargo CARGO_PROFILE_RELEASE_DEBUG=2 CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --quiet --features system-alloc)
PMAN=$BENCH/cargo/release/pman
mkdir -p "$BENCH/bin"
rustc -O -C target-feature=+crt-static -C strip=symbols --edition 2021 "$ROOT/bench/helper.rs" -o "$BENCH/bin/bench-helper"
cp -f "$BENCH/bin/bench-helper" "$BENCH/bin/bench-crash"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pman-alloc.XXXXXX")

write_conf() { # DIR idle|crash
    local d=$1
    {
        printf '[pman]\nsocket = @pman-alloc-%s-%s\nlogfile = %s/pman.log\n\n' "$$" "$(basename "$d")" "$d"
        if [[ $2 == idle || $2 == status ]]; then
            printf '[program:sleeper]\ncommand = sleep 1000000\nstartsecs = 1\nstdout = none\nstderr = none\n'
        else
            # bench-crash appends a line to ./starts and exits 1: counting
            # starts costs the daemon nothing (no status requests)
            printf '[program:crash]\ncommand = %s\ndirectory = %s\nstartsecs = 1\nbackoff = 0\nbackoff_max = 0\n' \
                "$BENCH/bin/bench-crash" "$d"
            printf 'startretries = infinite\nstdout = none\nstderr = none\n'
        fi
    } >"$d/pman.conf"
}

nstarts() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

# runs the daemon under valgrind for SECONDS or until STARTS starts, then
# `pman kill`; sets RESULT="allocs bytes starts" from the tool's summary
run_vg() { # NAME idle|crash SECONDS|STARTS
    local name=$1 kind=$2 amount=$3 d vglog t0 i
    d=$TMP/$name
    mkdir -p "$d"
    write_conf "$d" "$kind"
    vglog=$d/vg.log
    local tool_args=(--tool="$TOOL" --num-callers=40 --fullpath-after=)
    [[ $TOOL == dhat ]] && tool_args+=(--dhat-out-file="$d/dhat.json")
    valgrind "${tool_args[@]}" --log-file="$vglog" --trace-children=no \
        "$PMAN" daemon -f -c "$d/pman.conf" >"$d/out.log" 2>&1 </dev/null &
    DAEMON=$!
    t0=$SECONDS
    # bounded wait for the daemon to answer (valgrind start-up is slow)
    for ((i = 0; i < 600; i++)); do
        "$PMAN" -c "$d/pman.conf" pid >/dev/null 2>&1 && break
        kill -0 "$DAEMON" 2>/dev/null || { log "$name: daemon died (see $d)"; return 1; }
        sleep 0.1
    done
    if [[ $kind == idle ]]; then
        sleep "$amount"
    elif [[ $kind == status ]]; then
        for ((i = 0; i < amount; i++)); do
            timeout 10 "$PMAN" -c "$d/pman.conf" status >/dev/null 2>&1 || true
        done
    else
        while (($(nstarts "$d/starts") < amount)); do
            ((SECONDS - t0 < 300)) || { log "$name: fewer than $amount starts in 300 s"; break; }
            sleep 0.05
        done
    fi
    local starts
    starts=$(nstarts "$d/starts")
    timeout 60 "$PMAN" -c "$d/pman.conf" kill >/dev/null 2>&1 || log "$name: pman kill failed"
    for ((i = 0; i < 600; i++)); do
        kill -0 "$DAEMON" 2>/dev/null || break
        sleep 0.1
    done
    wait "$DAEMON" 2>/dev/null || true
    DAEMON=""
    local allocs bytes
    if [[ $TOOL == dhat ]]; then
        # "Total:     123 bytes in 4 blocks"
        read -r bytes allocs < <(awk '/Total:/ { gsub(",", ""); print $3, $6; exit }' "$vglog")
    else
        # "total heap usage: 1,234 allocs, 1,200 frees, 56,789 bytes allocated"
        read -r allocs bytes < <(awk '/total heap usage/ { gsub(",", ""); print $5, $9; exit }' "$vglog")
    fi
    RESULT="${allocs:-?} ${bytes:-?} $starts"
}

log "idle ${IA} s"
run_vg idle-a idle "$IA"
read -r ia_allocs ia_bytes _ <<<"$RESULT"
log "idle ${IB} s"
run_vg idle-b idle "$IB"
read -r ib_allocs ib_bytes _ <<<"$RESULT"
log "$K status requests"
run_vg status-a status "$K"
read -r sa_allocs sa_bytes _ <<<"$RESULT"
log "$((2 * K)) status requests"
run_vg status-b status "$((2 * K))"
read -r sb_allocs sb_bytes _ <<<"$RESULT"
log "crash loop, $K starts"
run_vg crash-a crash "$K"
read -r ca_allocs ca_bytes ca_starts <<<"$RESULT"
log "crash loop, $((2 * K)) starts"
run_vg crash-b crash "$((2 * K))"
read -r cb_allocs cb_bytes cb_starts <<<"$RESULT"

per() { awk -v a="$1" -v b="$2" -v d="$3" -v s="${4:-1}" 'BEGIN { if (d == 0) print "-"; else printf "%.2f", (b - a) / d * s }'; }
cat <<EOF
# pman steady-state allocations

- date: $(date -u '+%Y-%m-%d %H:%M UTC'), pman $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src 2>/dev/null || echo ' (+ uncommitted src changes)'), valgrind --tool=$TOOL, glibc release build with debug info
- command: \`$([[ ${BENCH_QUICK:-0} == 1 ]] && echo 'BENCH_QUICK=1 ')bench/alloc.sh\`

| run | heap allocations | bytes allocated | starts of the program |
|---|---|---|---|
| idle ${IA} s | $ia_allocs | $ia_bytes | 1 |
| idle ${IB} s | $ib_allocs | $ib_bytes | 1 |
| crash loop A | $ca_allocs | $ca_bytes | $ca_starts |
| crash loop B | $cb_allocs | $cb_bytes | $cb_starts |
| idle, $K \`status\` requests | $sa_allocs | $sa_bytes | 1 |
| idle, $((2 * K)) \`status\` requests | $sb_allocs | $sb_bytes | 1 |

- allocations per idle minute: $(per "$ia_allocs" "$ib_allocs" "$((IB - IA))" 60) ($(per "$ia_bytes" "$ib_bytes" "$((IB - IA))" 60) bytes)
- allocations per restart: $(per "$ca_allocs" "$cb_allocs" "$((cb_starts - ca_starts))") ($(per "$ca_bytes" "$cb_bytes" "$((cb_starts - ca_starts))") bytes)
- allocations per \`status\` request (one program): $(per "$sa_allocs" "$sb_allocs" "$K") ($(per "$sa_bytes" "$sb_bytes" "$K") bytes)
EOF

sites() { # LABEL A.json B.json COUNT
    echo
    echo "Allocation sites whose count grows with $1 (run B − run A, per one; frames in pman's src, innermost first):"
    echo
    python3 - "$2" "$3" "$4" "$ROOT" <<'PY'
import json, re, sys
a_path, b_path, dstarts, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
OURS = re.compile(r"[( ](src/|" + re.escape(root) + r"/src/)")

def load(path):
    d = json.load(open(path))
    ftbl = d["ftbl"]
    sites = {}
    for pp in d["pps"]:
        frames = [ftbl[i] for i in pp["fs"]]
        # key: the frames that name a file in pman's src (else the whole stack)
        ours = [f for f in frames if OURS.search(f)]
        key = tuple(ours[:6]) if ours else tuple(frames[:4])
        s = sites.setdefault(key, [0, 0, frames])
        s[0] += pp["tbk"]  # blocks
        s[1] += pp["tb"]  # bytes
    return sites

a, b = load(a_path), load(b_path)
rows = []
for key, (nb, nbytes, frames) in b.items():
    na, nbytes_a = a.get(key, [0, 0, None])[:2]
    if nb - na > 0:
        rows.append((nb - na, nbytes - nbytes_a, key, frames))
rows.sort(key=lambda r: -r[0])

def short(f):
    f = re.sub(r"^0x[0-9A-Fa-f]+: ", "", f)
    return f.replace(root + "/", "")

if not rows or dstarts <= 0:
    print("(none)")
for blocks, nbytes, key, frames in rows[:12]:
    print(f"- {blocks / dstarts:.2f} allocations ({nbytes / dstarts:.0f} bytes) each:")
    shown = key if key and OURS.search(key[0]) else frames[:6]
    for f in shown:
        print(f"  - `{short(f)}`")
PY
}
if [[ $TOOL == dhat ]]; then
    sites "the restarts" "$TMP/crash-a/dhat.json" "$TMP/crash-b/dhat.json" "$((cb_starts - ca_starts))"
    sites "the status requests" "$TMP/status-a/dhat.json" "$TMP/status-b/dhat.json" "$K"
fi
