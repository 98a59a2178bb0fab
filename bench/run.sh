#!/usr/bin/env bash
# pman benchmark: pman side by side with supervisord, runit, s6, daemontools
# and (when given) nitro, supervising N sleeping programs. Prints one
# Markdown report on stdout (also saved to target/bench/report-*.md).
#
#   bench/run.sh                 full run (about 8-10 minutes)
#   BENCH_QUICK=1 bench/run.sh   short durations, for a smoke test
#
# Environment:
#   BENCH_QUICK=1        shorter idle/crash windows, fewer kills and runs
#   BENCH_PEERS="..."    subset of: supervisord runit s6 daemontools nitro pman pman-musl
#   BENCH_NO_INSTALL=1   never run apt-get/pip, skip what is missing
#   BENCH_KEEP=1         keep the temp dir
#   NITRO_BIN, NITROCTL_BIN  prebuilt nitro binaries (nitro is skipped without them)
#   PMAN_MUSL            static pman (default target/cross/x86_64-unknown-linux-musl/pman)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/target/bench
mkdir -p "$BENCH"

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    IDLE_SECS=3 KILLS=5 CRASH_SECS=8 HF_MIN=3 HF_MAX=20 HF_WARM=1 BIG_N=1000
else
    IDLE_SECS=10 KILLS=20 CRASH_SECS=30 HF_MIN=10 HF_MAX="" HF_WARM=3 BIG_N=1000
fi
NS=(10 200)
KILL_GAP_MS=1500 # a program is killed once up this long (> startsecs, > 1 s restart floors)
read -ra PEERS <<<"${BENCH_PEERS:-supervisord runit s6 daemontools nitro pman pman-musl}"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup
# Every supervisor we start is recorded in ROOTS; cleanup kills its whole
# process tree by pid (stop first so nothing respawns, then SIGKILL).
ROOTS=()
TMP=""
descendants() { # ROOT -> ROOT and all its descendants, one pid a line
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1; seen[$1] = 1 }
        END {
            if (!(root in seen)) exit
            q[1] = root; n = 1
            for (i = 1; i <= n; i++) {
                print q[i]
                m = split(kids[q[i]], a, " ")
                for (j = 1; j <= m; j++) q[++n] = a[j]
            }
        }'
}
alive() { # PID: exists and is not a zombie
    local st
    st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}
kill_tree() { # ROOT
    local root=$1 pids prev="" i
    alive "$root" || { { wait "$root"; } 2>/dev/null || true; return 0; }
    for ((i = 0; i < 10; i++)); do # SIGSTOP until the tree stops growing
        pids=$(descendants "$root" | tr '\n' ' ')
        [[ -n $pids ]] || break
        # shellcheck disable=SC2086
        kill -STOP $pids 2>/dev/null || true
        [[ $pids == "$prev" ]] && break
        prev=$pids
    done
    # shellcheck disable=SC2086
    if [[ -n $prev ]]; then kill -KILL $prev 2>/dev/null || true; fi
    for ((i = 0; i < 100; i++)); do
        local left=0 p
        for p in $prev; do alive "$p" && { left=1; break; }; done
        ((left)) || break
        sleep 0.05
    done
    { wait "$root"; } 2>/dev/null || true
}
cleanup() {
    local r
    for r in "${ROOTS[@]}"; do kill_tree "$r"; done
    ROOTS=()
    if [[ -n $TMP && ${BENCH_KEEP:-0} != 1 ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget_root() { # PID: drop from ROOTS after kill_tree
    local r keep=()
    for r in "${ROOTS[@]}"; do [[ $r == "$1" ]] || keep+=("$r"); done
    ROOTS=("${keep[@]}")
}

# ---------------------------------------------------------------- install
have() { command -v "$1" >/dev/null 2>&1; }
install_peers() {
    [[ ${BENCH_NO_INSTALL:-0} == 1 ]] && return 0
    local want=()
    have runsvdir || want+=(runit)
    have s6-svscan || want+=(s6)
    have svscan || want+=(daemontools)
    have hyperfine || want+=(hyperfine)
    if ((${#want[@]})); then
        log "installing ${want[*]} (apt-get)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${want[@]}"; } >"$BENCH/apt.log" 2>&1; then
            log "apt-get failed (see $BENCH/apt.log); missing peers are skipped"
        fi
    fi
    if [[ ! -x $BENCH/venv/bin/supervisord ]]; then
        log "installing supervisor (pip, $BENCH/venv)"
        { python3 -m venv "$BENCH/venv" && "$BENCH/venv/bin/pip" install -q supervisor; } \
            >"$BENCH/pip.log" 2>&1 || log "pip failed (see $BENCH/pip.log); supervisord skipped"
    fi
}

# ---------------------------------------------------------------- helpers
now_ns() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }
kb() { # KB -> "N KB" or "N.NN MB"
    awk -v k="$1" 'BEGIN { if (k >= 1024) printf "%.2f MB", k / 1024; else printf "%d KB", k }'
}
bytes_kb() { awk -v b="$1" 'BEGIN { printf "%d", b / 1024 + 0.5 }'; }
median_p90() { # reads numbers, prints "median p90" (nearest rank)
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        r = int(0.9 * NR + 0.999999); if (r < 1) r = 1
        print m, v[r] }'
}

comm_of() { awk '{ s = $0; sub(/^[0-9]+ \(/, "", s); sub(/\) .*/, "", s); print s }' "/proc/$1/stat" 2>/dev/null; }
# supervisor processes of a peer: the root plus, for the daemontools family,
# its children that are per-service supervisors
sup_pids() { # PEER ROOT
    local peer=$1 root=$2 child
    echo "$root"
    case $peer in
        runit) child=runsv ;;
        s6) child=s6-supervise ;;
        daemontools) child=supervise ;;
        *) return 0 ;;
    esac
    ps -e -o pid=,ppid=,comm= | awk -v r="$root" -v c="$child" '$2 == r && $3 == c { print $1 }'
}
pss_kb() { # PID... -> summed Pss (kB); PSS_FIELD=Pss_Anon for the anonymous part
    local p t=0 v
    for p in "$@"; do
        v=$(awk -v f="${PSS_FIELD:-Pss}:" '$1 == f { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
ctxsw() { # PID... -> summed voluntary+nonvoluntary context switches
    local p t=0 v
    for p in "$@"; do
        v=$(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "/proc/$p/status" 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo "$t"
}
cpu_ticks() { # PID... -> summed utime+stime (clock ticks)
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$p/stat" 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo "$t"
}
sched_ns() { # PID... -> summed on-CPU time from /proc/PID/schedstat (ns)
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{ print $1 }' "/proc/$p/schedstat" 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo "$t"
}
count_procs() { # ROOT COMM... -> how many descendants run one of COMM
    local root=$1
    shift
    local pids
    pids=$(descendants "$root" | tr '\n' ' ')
    [[ -n $pids ]] || { echo 0; return; }
    # shellcheck disable=SC2086
    ps -o comm= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | awk -v want=" $* " 'index(want, " " $1 " ") { n++ } END { print n + 0 }'
}

# ---------------------------------------------------------------- programs
# Program 0 (p000) is the stamp helper, the others `sleep`; the crash setup
# has one program `crash` (bench-crash: appends to ./starts, exits 1).
make_dirs() { # DIR N|crash
    local d=$1 n=$2 i name
    mkdir -p "$d/sv"
    if [[ $n == crash ]]; then
        mkdir -p "$d/sv/crash"
        ln -s "$BIN/bench-crash" "$d/sv/crash/run"
        return
    fi
    for ((i = 0; i < n; i++)); do
        name=$(printf 'p%03d' "$i")
        mkdir -p "$d/sv/$name"
        if ((i == 0)); then
            ln -s "$BIN/bench-stamp" "$d/sv/$name/run"
        else
            printf '#!/bin/sh\nexec sleep 1000000\n' >"$d/sv/$name/run"
            chmod +x "$d/sv/$name/run"
        fi
    done
}
prog_names() { (cd "$1/sv" && ls); }
prog_cmd() { # DIR NAME -> command line for pman/supervisord
    case $2 in
        p000) echo "$BIN/bench-stamp" ;;
        crash) echo "$BIN/bench-crash" ;;
        *) echo "sleep 1000000" ;;
    esac
}
write_pman_conf() { # DIR TAG STARTSECS CRASH(0/1)
    local d=$1 tag=$2 ss=$3 crash=$4 name
    {
        printf '[pman]\nsocket = @pman-bench-%s-%s\nlogfile = %s/pman.log\n' "$$" "$tag" "$d"
        for name in $(prog_names "$d"); do
            printf '\n[program:%s]\ncommand = %s\ndirectory = %s/sv/%s\n' "$name" "$(prog_cmd "$d" "$name")" "$d" "$name"
            if ((crash)); then
                printf 'stdout = none\nstderr = none\n' # defaults otherwise: startsecs=1, backoff=1, backoff_max=60
            else
                # backoff_reset = 1: each kill (after 1.5 s up) is a first crash,
                # restarted at once; the default 60 would back off from the second.
                printf 'startsecs = %s\nbackoff_reset = 1\nstdout = none\nstderr = none\n' "$ss"
            fi
        done
    } >"$d/pman.conf"
}
write_supervisord_conf() { # DIR
    local d=$1 name
    {
        printf '[unix_http_server]\nfile = %s/supervisor.sock\n\n' "$d"
        printf '[supervisord]\nnodaemon = true\nlogfile = %s/supervisord.log\npidfile = %s/supervisord.pid\nchildlogdir = %s\n\n' "$d" "$d" "$d"
        printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n'
        printf '[supervisorctl]\nserverurl = unix://%s/supervisor.sock\n' "$d"
        for name in $(prog_names "$d"); do
            printf '\n[program:%s]\ncommand = %s\ndirectory = %s/sv/%s\nstdout_logfile = NONE\nstderr_logfile = NONE\n' \
                "$name" "$(prog_cmd "$d" "$name")" "$d" "$name"
            [[ $name == crash ]] || printf 'startsecs = 1\n'
        done
    } >"$d/supervisord.conf"
}

# ---------------------------------------------------------------- peers
pman_bin() { # PEER
    case $1 in
        pman) echo "$ROOT/target/release/pman" ;;
        pman-musl) echo "$PMAN_MUSL" ;;
    esac
}
peer_available() { # PEER -> 0/1, sets SKIP[PEER] with a reason
    case $1 in
        supervisord) [[ -x $BENCH/venv/bin/supervisord ]] || { SKIP[$1]="supervisor not installed"; return 1; } ;;
        runit) have runsvdir && have sv || { SKIP[$1]="runit not installed"; return 1; } ;;
        s6) have s6-svscan && have s6-svstat || { SKIP[$1]="s6 not installed"; return 1; } ;;
        daemontools) have svscan && have svstat || { SKIP[$1]="daemontools not installed"; return 1; } ;;
        nitro) [[ -n ${NITRO_BIN:-} && -x ${NITRO_BIN:-} && -n ${NITROCTL_BIN:-} && -x ${NITROCTL_BIN:-} ]] ||
            { SKIP[$1]="not packaged: set NITRO_BIN and NITROCTL_BIN to prebuilt binaries"; return 1; } ;;
        pman) [[ -x $ROOT/target/release/pman ]] || { SKIP[$1]="no release build"; return 1; } ;;
        pman-musl) [[ -x $PMAN_MUSL ]] || { SKIP[$1]="no static build (cross/build.sh x86_64-unknown-linux-musl)"; return 1; } ;;
    esac
}
installed_size() { # PEER -> bytes of supervisor + control tool (+ non-libc shared libs)
    local files=() f lib
    case $1 in
        supervisord) du -sb "$BENCH"/venv/lib/python3*/site-packages/supervisor | awk '{ print $1 }'; return ;;
        runit) files=("$(command -v runsvdir)" "$(command -v runsv)" "$(command -v sv)") ;;
        s6) files=("$(command -v s6-svscan)" "$(command -v s6-supervise)" "$(command -v s6-svstat)" "$(command -v s6-svc)") ;;
        daemontools) files=("$(command -v svscan)" "$(command -v supervise)" "$(command -v svstat)" "$(command -v svc)") ;;
        nitro) files=("$NITRO_BIN" "$NITROCTL_BIN") ;;
        pman | pman-musl) files=("$(pman_bin "$1")") ;;
    esac
    for f in "${files[@]}"; do
        for lib in $(ldd "$f" 2>/dev/null | awk '$3 ~ /^\// { print $3 }'); do
            case $(basename "$lib") in
                libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | libgcc_s.so* | ld-linux*) ;;
                *) files+=("$(readlink -f "$lib")") ;;
            esac
        done
    done
    printf '%s\n' "${files[@]}" | sort -u | xargs stat -L -c %s | awk '{ s += $1 } END { print s }'
}
size_note() {
    case $1 in
        supervisord) echo "python package only; + the Python interpreter" ;;
        s6) echo "s6-svscan s6-supervise s6-svstat s6-svc + libskarnet/libs6" ;;
        runit) echo "runsvdir runsv sv" ;;
        daemontools) echo "svscan supervise svstat svc" ;;
        nitro) echo "nitro nitroctl" ;;
        pman) echo "glibc, dynamic" ;;
        pman-musl) echo "musl, static, stripped" ;;
    esac
}

start_peer() { # PEER DIR -> sets STARTED (pid of the supervisor process)
    local peer=$1 d=$2 tag
    case $peer in
        supervisord) "$BENCH/venv/bin/supervisord" -c "$d/supervisord.conf" >"$d/out.log" 2>&1 & ;;
        runit) runsvdir "$d/sv" >"$d/out.log" 2>&1 </dev/null & ;;
        s6) s6-svscan "$d/sv" >"$d/out.log" 2>&1 </dev/null & ;;
        daemontools) svscan "$d/sv" >"$d/out.log" 2>&1 </dev/null & ;;
        nitro) NITRO_SOCK=$d/nitro.sock "$NITRO_BIN" "$d/sv" >"$d/out.log" 2>&1 </dev/null & ;;
        pman | pman-musl) "$(pman_bin "$peer")" daemon -f -c "$d/pman.conf" >"$d/out.log" 2>&1 </dev/null & ;;
    esac
    STARTED=$!
    disown "$STARTED" # no "Killed" job notices; cleanup polls /proc instead of wait
    ROOTS+=("$STARTED")
}
prepare() { # PEER DIR N|crash STARTSECS
    local peer=$1 d=$2 n=$3 ss=${4:-1}
    make_dirs "$d" "$n"
    case $peer in
        supervisord) write_supervisord_conf "$d" ;;
        pman | pman-musl) write_pman_conf "$d" "$(basename "$d")" "$ss" "$([[ $n == crash ]] && echo 1 || echo 0)" ;;
    esac
}
# status commands, one word list per line for hyperfine -N (no shell)
status_cmd() { # PEER DIR one|all
    local peer=$1 d=$2 what=$3
    case $peer:$what in
        supervisord:one) echo "$BENCH/venv/bin/supervisorctl -c $d/supervisord.conf status p000" ;;
        supervisord:all) echo "$BENCH/venv/bin/supervisorctl -c $d/supervisord.conf status" ;;
        runit:one) echo "sv status $d/sv/p000" ;;
        runit:all) echo "sv status $(echo "$d"/sv/*)" ;;
        s6:one) echo "s6-svstat $d/sv/p000" ;;
        s6:all) echo "sh -c 'for s in $d/sv/*; do s6-svstat \$s; done'" ;;
        daemontools:one) echo "svstat $d/sv/p000" ;;
        daemontools:all) echo "svstat $(echo "$d"/sv/*)" ;;
        nitro:one) echo "$NITROCTL_BIN pidof p000" ;;
        nitro:all) echo "$NITROCTL_BIN list" ;;
        pman*:one) echo "$(pman_bin "$peer") -c $d/pman.conf status p000" ;;
        pman*:all) echo "$(pman_bin "$peer") -c $d/pman.conf status" ;;
    esac
}
wait_up() { # PEER DIR ROOT N TIMEOUT_S: all N programs running (and RUNNING where the supervisor has startsecs)
    local peer=$1 d=$2 root=$3 n=$4 limit=$5 t0
    t0=$SECONDS
    while (($(count_procs "$root" sleep bench-stamp run) < n)); do
        ((SECONDS - t0 < limit)) || return 1
        alive "$root" || return 1
        sleep 0.2
    done
    case $peer in
        pman*) while ! "$(pman_bin "$peer")" -c "$d/pman.conf" status >/dev/null 2>&1; do
            ((SECONDS - t0 < limit)) || return 1
            sleep 0.2
        done ;;
        supervisord) while (($("$BENCH/venv/bin/supervisorctl" -c "$d/supervisord.conf" status 2>/dev/null | grep -c RUNNING) < n)); do
            ((SECONDS - t0 < limit)) || return 1
            sleep 0.3
        done ;;
    esac
}
hf() { # OUTJSON CMD... -> runs hyperfine, prints medians (ms) one a line
    local out=$1
    shift
    local max=()
    [[ -n $HF_MAX ]] && max=(--max-runs "$HF_MAX") # else hyperfine's 3 s per command
    if ! timeout 180 hyperfine -N -i --style none --warmup "$HF_WARM" --min-runs "$HF_MIN" "${max[@]}" \
        --export-json "$out" "$@" >"$out.log" 2>&1; then
        for _ in "$@"; do echo "-"; done
        return 0
    fi
    python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.2f" % (r["median"] * 1000))' "$out"
}

# ---------------------------------------------------------------- phases
declare -A R SKIP
set_r() { R["$1,$2"]=$3; }
get_r() { echo "${R["$1,$2"]:--}"; }

# All peers run side by side at one N: started together, one idle window,
# then status timings peer by peer, and restart latency round-robin (one
# kill per peer per round), so load from other work on the machine hits
# every peer alike.
measure_n() { # N PEER...
    local n=$1 peer d root pids c0 c1 one all
    shift
    declare -A root_of
    local up=()
    for peer in "$@"; do
        d=$TMP/$peer-n$n
        prepare "$peer" "$d" "$n" 1
        start_peer "$peer" "$d"
        root_of[$peer]=$STARTED
    done
    for peer in "$@"; do
        d=$TMP/$peer-n$n
        [[ $peer == nitro ]] && export NITRO_SOCK=$d/nitro.sock
        if wait_up "$peer" "$d" "${root_of[$peer]}" "$n" 90; then
            up+=("$peer")
        else
            log "$peer N=$n: programs not all up within 90 s (see $d/out.log)"
            set_r "$peer" "note_n$n" "did not bring up $n programs in 90 s"
        fi
    done
    sleep 2 # let start-up timers (startsecs) and scans settle
    for peer in "${up[@]}"; do
        mapfile -t pids < <(sup_pids "$peer" "${root_of[$peer]}")
        R["$peer,pids_$n"]="${pids[*]}"
        set_r "$peer" "nsup_$n" "${#pids[@]}"
        set_r "$peer" "pss_$n" "$(pss_kb "${pids[@]}")"
        set_r "$peer" "anon_$n" "$(PSS_FIELD=Pss_Anon pss_kb "${pids[@]}")"
        R["$peer,c0"]=$(ctxsw "${pids[@]}")
    done
    sleep "$IDLE_SECS"
    for peer in "${up[@]}"; do
        read -ra pids <<<"${R["$peer,pids_$n"]}"
        c0=${R["$peer,c0"]}
        c1=$(ctxsw "${pids[@]}")
        set_r "$peer" "wake_$n" "$(awk -v d=$((c1 - c0)) -v s="$IDLE_SECS" 'BEGIN { printf "%.0f", d * 60 / s }')"
    done
    for peer in "${up[@]}"; do
        d=$TMP/$peer-n$n
        [[ $peer == nitro ]] && export NITRO_SOCK=$d/nitro.sock
        { read -r one; read -r all; } < <(hf "$d/hf.json" "$(status_cmd "$peer" "$d" one)" "$(status_cmd "$peer" "$d" all)")
        set_r "$peer" "st1_$n" "$one"
        set_r "$peer" "stall_$n" "$all"
        log "$peer N=$n: PSS $(get_r "$peer" "pss_$n") kB, wakeups/min $(get_r "$peer" "wake_$n"), status $one / $all ms"
    done
    if ((n == 10)); then
        local lat_peers=()
        for peer in "${up[@]}"; do [[ $peer == pman-musl ]] || lat_peers+=("$peer"); done
        restart_latency "$n" "${lat_peers[@]}"
    fi
    for peer in "$@"; do
        kill_tree "${root_of[$peer]}"
        forget_root "${root_of[$peer]}"
    done
}
restart_latency() { # N PEER...: KILLS rounds, one kill per peer per round
    local n=$1 peer i v med p90
    shift
    local -A lat
    for ((i = 0; i < KILLS; i++)); do
        for peer in "$@"; do
            v=$("$BIN/bench-helper" kill "$TMP/$peer-n$n/sv/p000/stamp" 5000 "$KILL_GAP_MS") || {
                log "$peer: no restart within 5 s"
                v=""
            }
            [[ -n $v && $v != timeout ]] && lat[$peer]+="$v "
        done
    done
    for peer in "$@"; do
        read -r med p90 < <(printf '%s\n' ${lat[$peer]:-} | median_p90)
        set_r "$peer" rl_med "$(ms "$med")"
        set_r "$peer" rl_p90 "$(ms "$p90")"
        log "$peer: restart latency median $(ms "$med") ms, p90 $(ms "$p90") ms ($(wc -w <<<"${lat[$peer]:-}")/$KILLS)"
    done
}
crash_loops() { # PEER...: all crash loops run at once, each in its own window
    local peer d i sz
    declare -A root first
    for peer in "$@"; do
        d=$TMP/$peer-crash
        prepare "$peer" "$d" crash
        [[ $peer == nitro ]] && export NITRO_SOCK=$d/nitro.sock
        start_peer "$peer" "$d"
        root[$peer]=$STARTED
    done
    for peer in "$@"; do # window: CRASH_SECS from the first start (its stamp)
        d=$TMP/$peer-crash
        for ((i = 0; i < 200; i++)); do
            [[ -s $d/sv/crash/starts ]] && break
            sleep 0.05
        done
        first[$peer]=$(head -n 1 "$d/sv/crash/starts" 2>/dev/null || now_ns)
        mapfile -t pids < <(sup_pids "$peer" "${root[$peer]}")
        R["$peer,cr_pids"]="${pids[*]}"
        R["$peer,cr_cpu0"]=$(cpu_ticks "${pids[@]}")
        R["$peer,cr_sch0"]=$(sched_ns "${pids[@]}")
    done
    for peer in "$@"; do
        d=$TMP/$peer-crash
        sleep "$(awk -v t="${first[$peer]}" -v now="$(now_ns)" -v w="$CRASH_SECS" 'BEGIN { s = (t + w * 1e9 - now) / 1e9; printf "%.3f", (s > 0 ? s : 0) }')"
        read -ra pids <<<"${R["$peer,cr_pids"]}"
        sz=$(awk -v t="${first[$peer]}" -v w="$CRASH_SECS" '$1 - t < w * 1e9 { n++ } END { print n + 0 }' "$d/sv/crash/starts" 2>/dev/null || echo 0)
        set_r "$peer" cr_starts "$sz"
        local c0=${R["$peer,cr_cpu0"]} s0=${R["$peer,cr_sch0"]} c1 s1
        c1=$(cpu_ticks "${pids[@]}")
        s1=$(sched_ns "${pids[@]}")
        set_r "$peer" cr_cpu "$(((c1 - c0) * 1000 / $(getconf CLK_TCK)))"
        set_r "$peer" cr_sched "$(ms $((s1 - s0)))"
        case $peer in
            pman*) "$(pman_bin "$peer")" -c "$d/pman.conf" status crash >"$d/final" 2>&1 || true
                if grep -q FATAL "$d/final"; then set_r "$peer" cr_gives "yes (FATAL)"; else set_r "$peer" cr_gives "no ($(awk '{ print $2 }' "$d/final"))"; fi ;;
            supervisord) "$BENCH/venv/bin/supervisorctl" -c "$d/supervisord.conf" status crash >"$d/final" 2>&1 || true
                if grep -q FATAL "$d/final"; then set_r "$peer" cr_gives "yes (FATAL)"; else set_r "$peer" cr_gives "no ($(awk '{ print $2 }' "$d/final"))"; fi ;;
            *) set_r "$peer" cr_gives "no (by design)" ;;
        esac
        log "$peer crash loop: $sz starts, $(get_r "$peer" cr_cpu) ms CPU (stat), $(get_r "$peer" cr_sched) ms (schedstat) in $CRASH_SECS s"
    done
    for peer in "$@"; do
        kill_tree "${root[$peer]}"
        forget_root "${root[$peer]}"
    done
}
big_n() { # PEER: N=BIG_N, startsecs=0: time to start all, PSS, status
    local peer=$1 d root t0 t1 pbin one all
    d=$TMP/$peer-n$BIG_N
    pbin=$(pman_bin "$peer")
    prepare "$peer" "$d" "$BIG_N" 0
    t0=$(now_ns)
    start_peer "$peer" "$d"
    root=$STARTED
    while ! "$pbin" -c "$d/pman.conf" status >/dev/null 2>&1; do
        if (($(now_ns) - t0 > 120000000000)) || ! alive "$root"; then
            log "$peer N=$BIG_N: not all RUNNING in 120 s"
            kill_tree "$root"; forget_root "$root"
            return 0
        fi
        sleep 0.02
    done
    t1=$(now_ns)
    set_r "$peer" big_start "$(ms $((t1 - t0)))"
    sleep 2
    set_r "$peer" big_pss "$(pss_kb "$root")"
    { read -r one; read -r all; } < <(hf "$d/hf.json" "$(status_cmd "$peer" "$d" one)" "$(status_cmd "$peer" "$d" all)")
    set_r "$peer" big_st1 "$one"
    set_r "$peer" big_stall "$all"
    kill_tree "$root"
    forget_root "$root"
    log "$peer N=$BIG_N: start all $(get_r "$peer" big_start) ms, PSS $(get_r "$peer" big_pss) kB, status $one / $all ms"
}

# ---------------------------------------------------------------- report
report() {
    local cols=() p head sep m peer line
    for p in "${PEERS[@]}"; do [[ -z ${SKIP[$p]:-} ]] && cols+=("$p"); done
    echo "# pman benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- load average at start / end: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the machine)"
    echo "- pman: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src 2>/dev/null || echo ' (+ uncommitted src changes)')"
    echo "- command: \`$([[ $QUICK == 1 ]] && echo 'BENCH_QUICK=1 ')bench/run.sh\` (idle ${IDLE_SECS} s, $KILLS kills, crash window ${CRASH_SECS} s)"
    echo
    head="| metric |"
    sep="|---|"
    for p in "${cols[@]}"; do head+=" $p |"; sep+="---|"; done
    echo "$head pman goal |"
    echo "$sep---|"
    row() { # LABEL GOAL FUNC
        local label=$1 goal=$2 fn=$3 line
        line="| $label |"
        for peer in "${cols[@]}"; do line+=" $($fn "$peer") |"; done
        echo "$line $goal |"
    }
    f_size() { local b; b=$(installed_size "$1" 2>/dev/null || echo 0); echo "$(kb "$(bytes_kb "$b")")"; }
    f_pss10() { local v; v=$(get_r "$1" pss_10); [[ $v == - ]] && echo - || kb "$v"; }
    f_pss200() { local v; v=$(get_r "$1" pss_200); [[ $v == - ]] && echo - || kb "$v"; }
    f_anon() { local a b; a=$(get_r "$1" anon_10); b=$(get_r "$1" anon_200); [[ $a == - ]] && a=- || a=$(kb "$a"); [[ $b == - ]] && b=- || b=$(kb "$b"); echo "$a / $b"; }
    f_nsup() { echo "$(get_r "$1" nsup_10) / $(get_r "$1" nsup_200)"; }
    f_w10() { get_r "$1" wake_10; }
    f_w200() { get_r "$1" wake_200; }
    f_s1_10() { local v; v=$(get_r "$1" st1_10); [[ $v == - ]] && echo - || echo "$v ms"; }
    f_sa_10() { local v; v=$(get_r "$1" stall_10); [[ $v == - ]] && echo - || echo "$v ms"; }
    f_s1_200() { local v; v=$(get_r "$1" st1_200); [[ $v == - ]] && echo - || echo "$v ms"; }
    f_sa_200() { local v; v=$(get_r "$1" stall_200); [[ $v == - ]] && echo - || echo "$v ms"; }
    f_rl() { [[ $(get_r "$1" rl_med) == - ]] && echo - || echo "$(get_r "$1" rl_med) / $(get_r "$1" rl_p90) ms"; }
    f_cr() { [[ $(get_r "$1" cr_starts) == - ]] && echo - || echo "$(get_r "$1" cr_starts) / $(get_r "$1" cr_cpu) ms"; }
    f_crs() { [[ $(get_r "$1" cr_sched) == - ]] && echo - || echo "$(get_r "$1" cr_sched) ms"; }
    f_crg() { get_r "$1" cr_gives; }
    row "installed size (supervisor + control tool)" "" f_size
    row "supervisor processes, N=10 / N=200" "" f_nsup
    row "PSS, N=10" "≤ 200 KB" f_pss10
    row "PSS, N=200" "≤ 300 KB" f_pss200
    row "of which anonymous (Pss_Anon), N=10 / N=200" "" f_anon
    row "idle wakeups per minute, N=10" "0" f_w10
    row "idle wakeups per minute, N=200" "0" f_w200
    row "status, one program, N=10" "" f_s1_10
    row "status, all programs, N=10" "≤ 0.8 ms" f_sa_10
    row "status, one program, N=200" "" f_s1_200
    row "status, all programs, N=200" "≤ 2 ms" f_sa_200
    row "restart latency after SIGKILL, median / p90, N=10" "≤ nitro's" f_rl
    row "crash loop: starts / CPU (utime+stime) in ${CRASH_SECS} s" "≤ 6 / ≤ 5 ms" f_cr
    row "crash loop: CPU (schedstat) in ${CRASH_SECS} s" "" f_crs
    row "crash loop: gives up?" "never" f_crg
    echo
    echo "Fork+exec floor of the stamp helper (this harness, fork → exec → stamp written): median $(get_r floor med) ms, p90 $(get_r floor p90) ms."
    echo
    # ratios
    local base
    for base in pman pman-musl; do
        [[ " ${cols[*]} " == *" $base "* ]] || continue
        echo "Ratios $base / peer (below 1: $base is better):"
        echo
        head="| metric |"; sep="|---|"
        local others=()
        for p in "${cols[@]}"; do [[ $p == pman* ]] || { others+=("$p"); head+=" $p |"; sep+="---|"; }; done
        echo "$head"; echo "$sep"
        for m in pss_10 pss_200 wake_10 wake_200 stall_10 stall_200 rl_med cr_starts cr_cpu; do
            line="| $m |"
            for p in "${others[@]}"; do
                line+=" $(awk -v a="$(get_r "$base" "$m")" -v b="$(get_r "$p" "$m")" 'BEGIN {
                    if (a == "-" || b == "-") { print "-"; exit }
                    if (b + 0 == 0) { print ((a + 0 == 0) ? "= (0)" : "∞"); exit }
                    printf "%.3g", a / b }') |"
            done
            echo "$line"
        done
        echo
    done
    for base in pman pman-musl; do
        [[ " ${cols[*]} " == *" $base "* ]] || continue
        [[ $(get_r "$base" big_pss) != - ]] || continue
        local pss10 per
        pss10=$(get_r "$base" pss_10)
        per=$(awk -v a="$(get_r "$base" big_pss)" -v b="$pss10" -v n="$BIG_N" 'BEGIN { if (b == "-") print "-"; else printf "%.2f", (a - b) / (n - 10) }')
        echo "$base alone, N=$BIG_N (startsecs=0): PSS $(kb "$(get_r "$base" big_pss)"), memory per program $per KB ((PSS(N=$BIG_N) − PSS(N=10)) / $((BIG_N - 10))), status one $(get_r "$base" big_st1) ms, status all $(get_r "$base" big_stall) ms, time to start all (launch → \`status\` exits 0) $(get_r "$base" big_start) ms."
        echo
    done
    echo "Notes:"
    echo
    for p in "${PEERS[@]}"; do [[ -n ${SKIP[$p]:-} ]] && echo "- $p skipped: ${SKIP[$p]}"; done
    for p in "${cols[@]}"; do
        [[ $(get_r "$p" note_n10) != - ]] && echo "- $p N=10: $(get_r "$p" note_n10)"
        [[ $(get_r "$p" note_n200) != - ]] && echo "- $p N=200: $(get_r "$p" note_n200)"
        echo "- $p size: $(size_note "$p")"
    done
    echo "- status = hyperfine median, no shell (\`-N\`); s6 has no all-services status, so \`all\` is a \`sh\` loop of \`s6-svstat\`; nitro's \`one\` is \`nitroctl pidof\`."
    echo "- PSS and wakeups are summed over the supervisor processes only (runit: runsvdir + runsv, daemontools: svscan + supervise, s6: s6-svscan + s6-supervise), wakeups = voluntary + nonvoluntary context switches over ${IDLE_SECS} s of quiet, per minute."
    echo "- all supervisors run side by side at one N; status is timed peer after peer; the restart kills go round-robin over the peers.
- restart latency: ${KILLS} SIGKILLs of a program that has been up ${KILL_GAP_MS} ms, from kill(2) to CLOCK_REALTIME written by the new child right after exec."
    echo "- crash loop: one program that exits 1 at once, each supervisor's default restart policy (pman: startsecs=1, backoff=1, backoff_max=60, startretries=infinite); the window starts at the first start (stamped by the program); the crash loops of all supervisors run at the same time."
}

# ---------------------------------------------------------------- main
main() {
    local t_start=$SECONDS p d
    PMAN_MUSL=${PMAN_MUSL:-$ROOT/target/cross/x86_64-unknown-linux-musl/pman}
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    install_peers
    have hyperfine || { log "hyperfine is required"; exit 1; }
    log "building pman (release)"
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=$BENCH/bin
    mkdir -p "$BIN"
    rustc -O -C target-feature=+crt-static -C strip=symbols --edition 2021 "$ROOT/bench/helper.rs" -o "$BIN/bench-helper"
    cp -f "$BIN/bench-helper" "$BIN/bench-stamp"
    cp -f "$BIN/bench-helper" "$BIN/bench-crash"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/pman-bench.XXXXXX")
    local active=()
    for p in "${PEERS[@]}"; do
        if peer_available "$p"; then active+=("$p"); else log "skipping $p: ${SKIP[$p]}"; fi
    done
    mkdir -p "$TMP/floor"
    read -r fm fp < <("$BIN/bench-helper" floor 20 "$BIN/bench-stamp" "$TMP/floor" | median_p90)
    set_r floor med "$(ms "$fm")"
    set_r floor p90 "$(ms "$fp")"
    for n in "${NS[@]}"; do
        log "N=$n: ${active[*]}"
        measure_n "$n" "${active[@]}"
    done
    local crash=()
    for p in "${active[@]}"; do [[ $p == pman-musl ]] || crash+=("$p"); done
    log "crash loops (${crash[*]}), ${CRASH_SECS} s"
    crash_loops "${crash[@]}"
    for p in pman pman-musl; do
        [[ " ${active[*]} " == *" $p "* ]] && big_n "$p"
    done
    log "done in $((SECONDS - t_start)) s"
    local out
    out=$BENCH/report-$(date +%Y%m%d-%H%M%S).md
    report | tee "$out"
    log "report saved to $out"
}
main "$@"
