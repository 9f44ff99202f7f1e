#!/usr/bin/env bash
# Scale and memory (issue 5, item 8): what many sockets cost rtud, and one
# ring against a Unix socket pair, each figure next to its baseline measured
# in the same run. Four parts:
#
#   dispatch  DispatcherCore alone on a manual clock: ns per invocation with
#             0 / 2,000 / 20,000 idle best-effort entries (two per socket),
#             and the time to add and remove one more (scale-bench dispatch)
#   runtime   RTURuntime as rtud runs it (dispatcher thread SCHED_FIFO on CPU 1)
#             with 0 and 20,000 idle best-effort entries and a reserved 1 ms
#             RTU: its lateness and the dispatcher's CPU, idle and with one
#             entry signalled every 100 µs (scale-bench runtime). It reaches
#             10,000 sockets' worth of entries where the descriptor limit keeps
#             rtud from opening that many sockets (see below)
#   ring      one socket's ring between two processes (client sends with
#             DatagramEndpoint, the other side consumes as the daemon's output
#             RTU does) against an AF_UNIX SOCK_DGRAM / SOCK_SEQPACKET pair,
#             64 and 1472-byte payloads, producer on CPU 0, consumer on CPU 1
#             (scale-bench ring)
#   scale     a real rtud (AF_PACKET on a veth, its own namespace, its own
#             config and control socket; dispatcher on CPU 1, SCHED_FIFO) and
#             4 client processes opening 2,500 sockets each through the control
#             plane: rtud's memory (VmRSS, RssShmem, PSS) idle, with every
#             socket open, after one socket's rings carried traffic and after
#             closing them all; create/close time per operation; the
#             dispatcher's CPU and a reserved 1 ms RTU's release lateness with
#             and without the sockets, echo traffic through one socket to a
#             kernel UDP echo in a peer namespace, and the release of one
#             client's sockets when it exits (scale-bench scale). rtud holds
#             five descriptors per socket: when the hard RLIMIT_NOFILE cannot
#             hold --sockets of them (and cannot be raised: no CAP_SYS_RESOURCE),
#             as many as fit are opened, and the output says so
#
# Topology (made here, deleted by the trap; TESTING.md): namespace node (veth A,
# no kernel address, blackhole route: rtud owns 198.18.0.1) and peer (veth B
# 198.18.0.2/24, the kernel echo on port 7).
#
#   usage: scripts/bench-scale.sh [--sockets N] [--clients N] [--window S]
#                                 [--rtud PATH] [--only dispatch,runtime,ring,scale]
#   (--rtud: run another rtud binary, e.g. one built from an older commit)
# Needs root (namespaces, AF_PACKET, SCHED_FIFO, more descriptors than the
# default limit: rtud holds five per socket). Takes about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKETS=10000 CLIENTS=4 WINDOW=5 RTUD="" ONLY=dispatch,runtime,ring,scale
while [ $# -gt 0 ]; do
    case $1 in
        --sockets) SOCKETS=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --window) WINDOW=$2; shift ;;
        --rtud) RTUD=$(realpath "$2"); shift ;;
        --only) ONLY=$2; shift ;;
        -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
        *) echo "bench-scale: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

[ "$(id -u)" = 0 ] || { echo "bench-scale: needs root (namespaces, AF_PACKET, SCHED_FIFO)" >&2; exit 1; }
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

OUT=bench-out/scale
TMP=$(mktemp -d /tmp/rtu-benchscale.XXXXXX)
SUF=$(printf '%05x' $(((RANDOM * 32 + $$) % 1048576)))
NSN="rtubs-node-$$-$RANDOM" NSP="rtubs-peer-$$-$RANDOM"
A="rbsa$SUF" B="rbsb$SUF"

. scripts/lib-netns.sh   # PIDS: the background processes started here
trap 'netns_cleanup "$TMP"' EXIT
trap 'exit 130' INT TERM

echo "bench-scale: building rtud and scale-bench (release)..." >&2
swift build -c release --product scale-bench >&2
[ -n "$RTUD" ] || { swift build -c release --product rtud >&2; RTUD="$(swift build -c release --show-bin-path)/rtud"; }
# The run uses copies: a concurrent rebuild cannot change them midway.
cp "$(swift build -c release --show-bin-path)/scale-bench" "$TMP/scale-bench"
cp "$RTUD" "$TMP/rtud"
BENCH="$TMP/scale-bench"
mkdir -p "$OUT"
# rtud keeps five descriptors per socket (memfd, four eventfds), each client
# as many. Without CAP_SYS_RESOURCE the hard limit cannot be raised; then
# fewer sockets are opened, as many as fit, and the table says how many.
ulimit -n "$(ulimit -Hn)"
OPEN=$SOCKETS
FIT=$(( ( ($(ulimit -n) - 128) / 5 - 4 ) / (CLIENTS * 10) * (CLIENTS * 10) ))
if [ "$FIT" -lt "$SOCKETS" ]; then
    echo "bench-scale: the descriptor limit ($(ulimit -n), hard) holds $FIT sockets in rtud (5 descriptors each), not $SOCKETS: the scale part opens $FIT" >&2
    OPEN=$FIT
fi

REV=$(git rev-parse --short HEAD 2>/dev/null || echo "(not a git tree)")
git diff --quiet HEAD -- Sources 2>/dev/null || REV="$REV+changes"
echo "# Scale and memory, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $REV, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rtud: $RTUD; descriptor limit $(ulimit -n); the scale part opens $OPEN sockets from $CLIENTS clients"

if want dispatch; then
    echo
    echo "### DispatcherCore alone (manual clock, CPU 1, median of 5)"
    echo
    timeout 900 "$BENCH" dispatch --entries 0,2000,$((SOCKETS * 2)) --cpu 1 | tee "$OUT/dispatch.md"
fi

if want runtime; then
    echo
    echo "### RTURuntime with idle best-effort entries (dispatcher SCHED_FIFO on CPU 1, $WINDOW s each)"
    echo
    timeout 900 "$BENCH" runtime --entries 0,$((SOCKETS * 2)) --seconds "$WINDOW" --cpu 1 | tee "$OUT/runtime.md"
fi

if want ring; then
    echo
    timeout 300 "$BENCH" ring --json "$OUT/ring.json" | tee "$OUT/ring.md"
fi

if want scale; then
    netns_add "$NSN" "$NSP"
    veth "$NSN" "$A" "$NSP" "$B"
    ip -n "$NSN" route add blackhole 198.18.0.0/15
    ip -n "$NSP" addr add 198.18.0.2/24 dev "$B"
    ip netns exec "$NSP" ethtool -K "$B" tx off >/dev/null 2>&1 || true

    cat >"$TMP/rtud.toml" <<EOF
[daemon]
control_socket = "$TMP/control.sock"
rt_cores = [1]
log_level = "info"

[limits]
max_sockets = $((OPEN + 64))
max_sockets_per_client = $OPEN

[[interface]]
name = "rtu0"
driver = "af_packet"
device = "$A"
address = "198.18.0.1/24"
EOF
    ip netns exec "$NSN" "$TMP/rtud" --config "$TMP/rtud.toml" --probe 198.18.0.2 >"$TMP/rtud.log" 2>&1 &
    RTUD_PID=$!
    PIDS+=("$RTUD_PID")
    wait_for_text "$TMP/rtud.log" "ready" 30 "$RTUD_PID" || { cat "$TMP/rtud.log"; echo "bench-scale: rtud did not start" >&2; exit 1; }
    wait_for_text "$TMP/rtud.log" "is at" 10 "$RTUD_PID" || echo "bench-scale: rtud has not resolved the peer yet" >&2
    ip netns exec "$NSP" "$BENCH" echo --bind 198.18.0.2:7 --idle 900 >/dev/null &
    PIDS+=("$!")

    echo
    timeout 1800 "$BENCH" scale --control "$TMP/control.sock" --rtud-pid "$RTUD_PID" --rt-core 1 \
        --clients "$CLIENTS" --sockets "$OPEN" --window "$WINDOW" --json "$OUT/scale.json" | tee "$OUT/scale.md"
    grep -E "warning|error" "$TMP/rtud.log" | head -20 >&2 || true
fi
