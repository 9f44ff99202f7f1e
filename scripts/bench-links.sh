#!/usr/bin/env bash
# Link-driver benchmark (issue 2, item 9): frames/s received and sent by the
# Swift TAP and AF_PACKET drivers (link-bench) against the minimal C loops of
# bench/c/linkloop.c, in the same run, plus malloc calls per received frame.
# Everything happens in a namespace this script creates and always deletes
# (TESTING.md). Needs root. Usage: scripts/bench-links.sh [seconds-per-run] [rounds]
# (ONLY='af_packet-*' runs a subset.)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-2}
ROUNDS=${2:-2}
SCRATCH=${SCRATCH:-.build-links}
OUT=$(mktemp -d /tmp/rtu-linkbench.XXXXXX)
NS="rtubench-$$-$RANDOM"
SUF=$(printf '%05x' $((RANDOM * 32 + $$ % 32)))
VA="rlba$SUF" VB="rlbb$SUF" TAP="rlbt$SUF"
OURMAC=02:00:c6:12:09:01
GEN_PID=""

. scripts/lib-netns.sh
cleanup() {
    [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null || true
    netns_cleanup
    rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "bench-links: needs root (namespaces, TAP)" >&2; exit 1; }
echo "building link-bench (release) and the C loops..." >&2
swift build -c release --scratch-path "$SCRATCH" --product link-bench >&2
BENCH="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/link-bench"
gcc -O2 -Wall -o "$OUT/linkloop" bench/c/linkloop.c -lpcap
gcc -O2 -Wall -shared -fPIC -o "$OUT/malloc_count.so" bench/c/malloc_count.c

netns_add "$NS"
veth "$NS" "$VA" "$NS" "$VB"
ipn() { ip -n "$NS" "$@"; }
ipn tuntap add dev "$TAP" mode tap
# A deep TAP queue, so the receive drain measures the reader, not the queue size.
ipn link set "$TAP" txqueuelen 65536
ipn link set "$TAP" up

inns() { ip netns exec "$NS" "$@"; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

# run IMPL MODE ARGS...: one timed run, pinned to CPU 1; prints the result line.
run() {
    local impl=$1; shift
    if [ "$impl" = swift ]; then
        inns env LD_PRELOAD="$OUT/malloc_count.so" taskset -c 1 "$BENCH" "$@"
    else
        inns taskset -c 1 "$OUT/linkloop" "$@"
    fi
}

# start_gen IF DST: starts the generator on CPU 0 for longer than one run.
start_gen() {
    inns taskset -c 0 "$OUT/linkloop" gen "$1" "$2" $((SECS + 2)) >/dev/null &
    GEN_PID=$!
    sleep 0.3
}
stop_gen() { kill "$GEN_PID" 2>/dev/null || true; wait "$GEN_PID" 2>/dev/null || true; GEN_PID=""; }

declare -A RATE MED CPUNS ALLOCS DROPS
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%d\n", (v[NR/2]+v[NR/2+1])/2 }'; }
measure() {  # NAME gen IF MODE ARGS... (a generator feeds IF) or NAME - - MODE ARGS...
    local name=$1 gen=$2 gen_if=$3; shift 3
    [[ -n "${ONLY:-}" && "$name" != $ONLY ]] && return 0
    local best_s=0 best_c=0 all_s="" all_c=""
    for ((r = 0; r < ROUNDS; r++)); do
        for impl in swift c; do
            [ "$gen" = gen ] && start_gen "$gen_if" "$OURMAC"
            local line
            line=$(run "$impl" "$@")
            [ "$gen" = gen ] && stop_gen
            local f s c
            f=$(echo "$line" | field frames); s=$(echo "$line" | field busy); c=$(echo "$line" | field cpu)
            local rate=$(awk -v f="$f" -v s="$s" 'BEGIN{printf "%d", f/s}')
            echo "  $name $impl round $r: $line" >&2
            if [ "$impl" = swift ]; then
                ((rate > best_s)) && best_s=$rate
                all_s+=" $rate"
                ALLOCS[$name]=$(echo "$line" | field allocs)/$f
                CPUNS[$name.swift]=$(awk -v f="$f" -v c="$c" 'BEGIN{ if (f>0) printf "%d", c*1e9/f; else print "-" }')
            else
                ((rate > best_c)) && best_c=$rate
                all_c+=" $rate"
                CPUNS[$name.c]=$(awk -v f="$f" -v c="$c" 'BEGIN{ if (f>0) printf "%d", c*1e9/f; else print "-" }')
            fi
        done
    done
    RATE[$name.swift]=$best_s
    RATE[$name.c]=$best_c
    MED[$name.swift]=$(echo "$all_s" | median)
    MED[$name.c]=$(echo "$all_c" | median)
}

echo "running: ${SECS}s per run, $ROUNDS rounds, Swift and C alternating" >&2
measure af_packet-rx gen "$VB" rx-packet "$VA" "$OURMAC" "$SECS"
measure af_packet-tx -   -    tx-packet "$VA" "$SECS"
measure tap-rx       gen "$TAP" rx-tap "$TAP" "$SECS"
measure tap-tx       -   -    tx-tap "$TAP" "$SECS"

printf '\nframes/s: best and median of %d runs of %ss; receive is the drain rate of a full ring/queue (busy time), transmit the wall rate.\n' "$ROUNDS" "$SECS"
printf '\n| driver, direction | Swift frames/s best | C best | Swift/C best | Swift median | C median | Swift/C median | Swift CPU ns/frame (last run) | C CPU ns/frame (last run) | Swift mallocs/frames (last run) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for name in af_packet-rx af_packet-tx tap-rx tap-tx; do
    [[ -n "${ONLY:-}" && "$name" != $ONLY ]] && continue
    s=${RATE[$name.swift]} c=${RATE[$name.c]} ms=${MED[$name.swift]} mc=${MED[$name.c]}
    ratio=$(awk -v s="$s" -v c="$c" 'BEGIN{ if (c>0) printf "%.2f", s/c; else print "-" }')
    mratio=$(awk -v s="$ms" -v c="$mc" 'BEGIN{ if (c>0) printf "%.2f", s/c; else print "-" }')
    printf '| %s | %d | %d | %s | %d | %d | %s | %s | %s | %s |\n' "$name" "$s" "$c" "$ratio" "$ms" "$mc" "$mratio" \
        "${CPUNS[$name.swift]}" "${CPUNS[$name.c]}" "${ALLOCS[$name]}"
done
