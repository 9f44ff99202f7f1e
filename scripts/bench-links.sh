#!/usr/bin/env bash
# Link-driver benchmark (issue 2, item 9): frames/s received and sent by the
# Swift TAP and AF_PACKET drivers (link-bench) against the minimal C loops of
# bench/c/linkloop.c, in the same run, plus malloc calls per received frame.
# The AF_PACKET receive is measured with both rings: af_packet-rx is the
# TPACKET_V3 ring (against the C loop, which has the same ring);
# af_packet-rx-v2 the TPACKET_V2 ring in the same ring memory (Swift only: the
# C loop has no V2 ring; its ratio is taken against the Swift V3 runs).
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

declare -A RATE MED ALL CPUNS ALLOCS KDROPS
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%d\n", (v[NR/2]+v[NR/2+1])/2 }'; }
# measure R NAME gen IF MODE ARGS... (a generator feeds IF) or R NAME - - MODE ARGS...: round R of
# one measurement, Swift then C (Swift only for the V2 ring); the best rate and all rates are kept.
measure() {
    local r=$1 name=$2 gen=$3 gen_if=$4; shift 4
    [[ -n "${ONLY:-}" && "$name" != $ONLY ]] && return 0
    local impls="swift c"
    [[ $name == *-v2 ]] && impls=swift
    for impl in $impls; do
        [ "$gen" = gen ] && start_gen "$gen_if" "$OURMAC"
        local line
        line=$(run "$impl" "$@")
        [ "$gen" = gen ] && stop_gen
        local f s c
        f=$(echo "$line" | field frames); s=$(echo "$line" | field busy); c=$(echo "$line" | field cpu)
        local rate=$(awk -v f="$f" -v s="$s" 'BEGIN{printf "%d", f/s}')
        echo "  $name $impl round $r: $line" >&2
        ((rate > ${RATE[$name.$impl]:-0})) && RATE[$name.$impl]=$rate
        ALL[$name.$impl]+=" $rate"
        CPUNS[$name.$impl]=$(awk -v f="$f" -v c="$c" 'BEGIN{ if (f>0) printf "%d", c*1e9/f; else print "-" }')
        if [ "$impl" = swift ]; then
            ALLOCS[$name]=$(echo "$line" | field allocs)/$f
            KDROPS[$name]=$(echo "$line" | field kdrops)
        fi
    done
}

echo "running: ${SECS}s per run, $ROUNDS rounds, Swift and C alternating, every measurement once per round" >&2
for ((r = 0; r < ROUNDS; r++)); do
    measure $r af_packet-rx    gen "$VB" rx-packet "$VA" "$OURMAC" "$SECS"
    measure $r af_packet-rx-v2 gen "$VB" rx-packet-v2 "$VA" "$OURMAC" "$SECS"
    measure $r af_packet-tx    -   -    tx-packet "$VA" "$SECS"
    measure $r tap-rx          gen "$TAP" rx-tap "$TAP" "$SECS"
    measure $r tap-tx          -   -    tx-tap "$TAP" "$SECS"
done
for key in "${!ALL[@]}"; do MED[$key]=$(echo "${ALL[$key]}" | median); done

printf '\nframes/s: best and median of %d runs of %ss; receive is the drain rate of a full ring/queue (busy time), transmit the wall rate.\n' "$ROUNDS" "$SECS"
printf '\n| driver, direction | Swift frames/s best | C best | Swift/C best | Swift median | C median | Swift/C median | Swift CPU ns/frame (last run) | C CPU ns/frame (last run) | Swift mallocs/frames (last run) | Swift kernel drops (last run) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for name in af_packet-rx af_packet-rx-v2 af_packet-tx tap-rx tap-tx; do
    [[ -n "${ONLY:-}" && "$name" != $ONLY ]] && continue
    s=${RATE[$name.swift]} c=${RATE[$name.c]:-0} ms=${MED[$name.swift]} mc=${MED[$name.c]:-0}
    ratio=$(awk -v s="$s" -v c="$c" 'BEGIN{ if (c>0) printf "%.2f", s/c; else print "-" }')
    mratio=$(awk -v s="$ms" -v c="$mc" 'BEGIN{ if (c>0) printf "%.2f", s/c; else print "-" }')
    printf '| %s | %d | %d | %s | %d | %d | %s | %s | %s | %s | %s |\n' "$name" "$s" "$c" "$ratio" "$ms" "$mc" "$mratio" \
        "${CPUNS[$name.swift]}" "${CPUNS[$name.c]:--}" "${ALLOCS[$name]}" "${KDROPS[$name]}"
done
if [[ -n "${RATE[af_packet-rx.swift]:-}" && -n "${RATE[af_packet-rx-v2.swift]:-}" ]]; then
    awk -v b2="${RATE[af_packet-rx-v2.swift]}" -v b3="${RATE[af_packet-rx.swift]}" \
        -v m2="${MED[af_packet-rx-v2.swift]}" -v m3="${MED[af_packet-rx.swift]}" \
        'BEGIN{ if (b3 > 0 && m3 > 0) printf "\nAF_PACKET receive drain, Swift V2 / Swift V3: best %.2f, median %.2f\n", b2/b3, m2/m3 }'
fi
