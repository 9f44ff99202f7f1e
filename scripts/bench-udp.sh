#!/usr/bin/env bash
# UDP over LRP channels and RTUs (issue 4, item 6): every figure next to its
# baseline measured in the same run, several rounds, medians reported.
#
#   tput      kernel peer (udptool send, SCHED_FIFO on CPU 0, burst 32) -> rtud socket (udp-node
#             sink, once per receive ring of --rings) against the same sender -> kernel socket
#             (udptool recv), 64 and 1472-byte payloads
#   cap       one rtud socket under udptool flood (AF_PACKET TX ring, SCHED_FIFO on CPU 0),
#             delivered to the application (sink) and to an upcall (streams), with udp-node's CPU
#             per datagram; against linkloop rx-packet (the minimal C AF_PACKET loop of
#             bench-links.sh) fed by the same flood on the same veth
#   rtt       udptool rtt -> udp-node echo (once per receive ring of --rings), against
#             udptool rtt -> udptool echo (kernel): closed loop, the next request right after a reply
#   sparse    the same echoes, one request per udptool rtt process (SPARSE_COUNT of them, 2 ms
#             apart): each request finds the receiver idle for milliseconds
#   overload  64-byte flood paced at 0.5x..4x one socket's capacity; the consumer spends
#             UDP_WORK_NS (10000) ns per datagram, in the receiving thread (app) or in the upcall,
#             because rtud's own path outruns every generator this machine has (see cap)
#   rtu       udp-node streams: three reserved streams (UDP_STREAMS), each from its own paced
#             SCHED_FIFO sender, plus a best-effort flood port; reservations on (SCHED_FIFO) / off
#             (--no-reservations --policy other), each without and with stress-ng --cpu 8 in the
#             root namespace; with a light flood consumer and with a CPU-hungry one
#             (1472-byte flood, UDP_HUNGRY_NS = 3000 ns of work per datagram in its upcall)
#
# Topology (all made here, all deleted by the trap; TESTING.md): three namespaces,
#   node ns   veth A, no kernel address: udp-node (AF_PACKET) as 198.18.0.1, or linkloop
#   peer ns   veth B 198.18.0.2/24 (peer of A), veth D 198.18.1.2/24 (peer of C): every sender
#   kern ns   veth C 198.18.1.1/24: the kernel socket baseline, the same kind of veth as A
# "ethtool -K B/D tx off": the peer computes UDP checksums itself (AF_PACKET would see partial
# ones); same cost for both receivers. The node ns holds a blackhole route for 198.18.0.0/15 so
# its own kernel discards the frames meant for rtud without trying to send ICMP errors (work that
# lands on the sender's CPU, not on rtud's). Receivers run on CPU 1 (udp-node pinned there, its
# dispatcher SCHED_FIFO; the kernel baselines pinned there at SCHED_FIFO too); senders on CPU 0.
#
# --rings v2,v3 (the default): udp-node's AF_PACKET receive ring(s) in tput, rtt and sparse, each
# an rtud receiver of its own ("rtud-v2", "rtud-v3"), in an order that rotates between rounds with
# the kernel's; the other parts run the driver's default ring. --link-rtu PERIOD_US:BATCH sets
# udp-node's link RTU (minimum inter-release time and frames per release; default 1000:256) in
# those three parts. --app-fifo P runs udp-node echo's application thread at SCHED_FIFO P (the
# kernel's udptool echo runs at 50; udp-node's dispatcher too, so P < 50); default: SCHED_OTHER.
#
# Output: bench-out/udp/results.jsonl (one object per run, tool outputs embedded),
# bench-out/udp/summary.{md,json}, docs/bench/udp-*.png (scripts/plot_udp.py).
#   usage: scripts/bench-udp.sh [--quick] [--rounds N] [--seconds S] [--only tput,cap,rtt,sparse,overload,rtu]
#          [--rings v2,v3] [--link-rtu PERIOD_US:BATCH] [--app-fifo P]
# Needs root (namespaces, SCHED_FIFO, AF_PACKET). A full run takes ~9 minutes, --quick ~3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=3 SECS=2.5 RTT_COUNT=5000 STREAM_SECS=4 ONLY=tput,cap,rtt,sparse,overload,rtu RINGS=v2,v3 LINK_RTU="" SPARSE_COUNT=300 APP_FIFO=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1 SECS=2 RTT_COUNT=2000 STREAM_SECS=3 SPARSE_COUNT=100 ;;
        --rounds) ROUNDS=$2; shift ;;
        --seconds) SECS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --rings) RINGS=$2; shift ;;
        --link-rtu) LINK_RTU=$2; shift ;;
        --app-fifo) APP_FIFO=$2; shift ;;
        -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
        *) echo "bench-udp: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
RTUD_IMPLS=()
for ring in ${RINGS//,/ }; do
    [[ $ring == v2 || $ring == v3 ]] || { echo "bench-udp: --rings takes v2 and/or v3, not $ring" >&2; exit 2; }
    RTUD_IMPLS+=("rtud-$ring")
done
LINK_OPTS=()   # udp-node options of the rtud receivers in tput, rtt and sparse
if [ -n "$LINK_RTU" ]; then
    [[ $LINK_RTU =~ ^[0-9]+:[0-9]+$ ]] || { echo "bench-udp: --link-rtu PERIOD_US:BATCH, not $LINK_RTU" >&2; exit 2; }
    LINK_OPTS=(--link-period-us "${LINK_RTU%:*}" --link-batch "${LINK_RTU#*:}")
fi

[ "$(id -u)" = 0 ] || { echo "bench-udp: needs root (namespaces, SCHED_FIFO, AF_PACKET)" >&2; exit 1; }
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
for tool in ethtool stress-ng gcc; do command -v $tool >/dev/null || bash scripts/setup.sh; done
PY=/usr/bin/python3   # Debian's, with python3-matplotlib (scripts/setup.sh)

OUT=bench-out/udp
TMP=$(mktemp -d /tmp/rtu-benchudp.XXXXXX)
SUF=$(printf '%05x' $(((RANDOM * 32 + $$) % 1048576)))
NSN="rtubu-node-$$-$RANDOM" NSP="rtubu-peer-$$-$RANDOM" NSK="rtubu-kern-$$-$RANDOM"
A="rbua$SUF" B="rbub$SUF" C="rbuc$SUF" D="rbud$SUF"
NODE_IP=198.18.0.1 PEER_IP=198.18.0.2 KERN_IP=198.18.1.1
STRESS_PID=""    # stress-ng, in its own process group

stop_stress() {
    if [ -n "$STRESS_PID" ]; then
        kill -TERM -- "-$STRESS_PID" 2>/dev/null || true
        wait "$STRESS_PID" 2>/dev/null || true
        STRESS_PID=""
    fi
}
. scripts/lib-netns.sh   # PIDS: the background processes started here (each under `timeout`)
trap 'stop_stress; netns_cleanup "$TMP"' EXIT
trap 'exit 130' INT TERM

echo "bench-udp: building udp-node (release), udptool, linkloop..." >&2
swift build -c release --scratch-path .build-bench --product udp-node >&2
NODE="$(swift build -c release --scratch-path .build-bench --show-bin-path)/udp-node"
. scripts/lib-udptool.sh
build_udptool "$TMP" || exit 1
gcc -O2 -Wall -o "$TMP/linkloop" bench/c/linkloop.c -lpcap
cp "$NODE" "$TMP/udp-node"   # the run uses this copy: a concurrent rebuild cannot change it midway
NODE="$TMP/udp-node"
mkdir -p "$OUT" docs/bench
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# ---- topology ----
netns_add "$NSN" "$NSP" "$NSK"
veth "$NSN" "$A" "$NSP" "$B"
veth "$NSK" "$C" "$NSP" "$D"
ip -n "$NSN" route add blackhole 198.18.0.0/15
ip -n "$NSP" addr add "$PEER_IP/24" dev "$B"
ip -n "$NSP" addr add 198.18.1.2/24 dev "$D"
ip -n "$NSK" addr add "$KERN_IP/24" dev "$C"
for dev in "$B" "$D"; do ip netns exec "$NSP" ethtool -K "$dev" tx off >/dev/null; done
AMAC=$(mac_of "$NSN" "$A")
BMAC=$(mac_of "$NSP" "$B")

# arrays, not functions: a background job started from one is then the tool itself (ip execs
# into `timeout`), so its pid is the one to signal
INN=(ip netns exec "$NSN") INP=(ip netns exec "$NSP") INK=(ip netns exec "$NSK")

# ---- helpers ----
# cpu_snap [PID]: "busy0 total0 steal0 busy1 total1 steal1 time_ns proc_ns" (jiffies from /proc/stat;
# proc_ns: CPU time of every thread of PID's child, the tool started under `timeout`, from schedstat)
proc_ns() {
    local c
    c=$(pgrep -P "$1" 2>/dev/null | head -1 || true)
    if [ -z "$c" ]; then echo -1; return; fi   # gone: no figure rather than a wrong one
    cat /proc/"$c"/task/*/schedstat 2>/dev/null | awk '{s += $1} END{printf "%.0f", s}'
}
cpu_snap() {
    local p=-1
    [ -n "${1:-}" ] && p=$(proc_ns "$1")
    awk -v t="$(date +%s%N)" -v p="$p" '/^cpu[01] /{b=$2+$3+$4+$7+$8; tt=b+$5+$6+$9; printf "%d %d %d ", b, tt, $9}
        END{print t, p}' /proc/stat
}
# cpu_json BEFORE AFTER: CPU 0/1 busy shares, vCPU steal, and the receiver's own CPU share over the interval
cpu_json() {
    awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," ");
        t0=y[2]-x[2]; t1=y[5]-x[5]; dt=y[7]-x[7];
        printf "{\"cpu0_busy\":%.3f,\"cpu1_busy\":%.3f,\"steal_ms\":%d,\"seconds\":%.3f,\"receiver_cpu\":%.3f}",
            (t0>0?(y[1]-x[1])/t0:0), (t1>0?(y[4]-x[4])/t1:0), (y[3]-x[3]+y[6]-x[6])*10, dt/1e9,
            (dt>0 && x[8]>0 && y[8]>=x[8] ? (y[8]-x[8])/dt : -1)}' | sed 's/"receiver_cpu":-1.000/"receiver_cpu":null/'
}
# last JSON object a tool printed (or null)
jlast() { local l; l=$(grep '^{' "$1" 2>/dev/null | tail -1 || true); echo "${l:-null}"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# record KEY=VALUE... -- adds one object to results.jsonl; values that start with { or [ are JSON
record() {
    local line="{" sep="" kv k v
    for kv in "$@"; do
        k=${kv%%=*} v=${kv#*=}
        if [[ $k != commit && $k != kernel && $k != date && $k != config && $k != impl ]] \
            && [[ "$v" == \{* || "$v" == \[* || "$v" == null || "$v" =~ ^-?[0-9.]+$ ]]; then line+="$sep\"$k\":$v"
        else line+="$sep\"$k\":\"$v\""; fi
        sep=","
    done
    echo "$line}" >>"$RESULTS"
}

# start_node OUTFILE NODEOPTS... -- ROLE ARGS...: udp-node in the node ns, its process pinned to
# CPU 1 (the dispatcher pins itself there anyway); waits for "ready" (roles that listen).
NODE_PID=""
start_node() {
    local out=$1; shift
    local limit=$1; shift
    # A fresh file: the redirection truncates it only once the child runs, and the poll below
    # must never see the previous run's "ready".
    rm -f "$out" "$out.err"
    "${INN[@]}" timeout "$limit" taskset -c 1 "$NODE" --device "$A" --address "$NODE_IP/24" "$@" >"$out" 2>"$out.err" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_for_text "$out" '"ready"' 10 "$NODE_PID" && return 0
    echo "bench-udp: udp-node did not become ready: $*" >&2
    cat "$out.err" >&2
    return 1
}
finish() {  # PID: waits for it, forgets it
    wait "$1" 2>/dev/null || true
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}
spawn() {  # spawn OUTFILE CMD...: background, stdout to OUTFILE; pid in BG_PID
    local out=$1; shift
    rm -f "$out" "$out.err"
    "$@" >"$out" 2>"$out.err" &
    BG_PID=$!
    PIDS+=("$BG_PID")
}
flood() {  # flood PORT SIZE SECONDS [extra udptool options]: the command, in array FLOOD
    local port=$1 size=$2 secs=$3; shift 3
    FLOOD=("${INP[@]}" timeout $((${secs%.*} + 15)) "$TMP/udptool" flood --ifname "$B" --src-mac "$BMAC" --dst-mac "$AMAC"
        --src "$PEER_IP:7000" --dst "$NODE_IP:$port" --size "$size" --seconds "$secs" "$@")
}
order() { if (($1 % 2)); then echo "$3 $2"; else echo "$2 $3"; fi; }   # alternate who goes first
rotate() {  # rotate ROUND A B...: the list started at its ROUND-th element (who goes first changes each round)
    local r=$1; shift
    local a=("$@") i out=()
    for ((i = 0; i < ${#a[@]}; i++)); do out+=("${a[(i + r) % ${#a[@]}]}"); done
    echo "${out[*]}"
}

# flooded_sink SIZE WORK_NS [flood options]: udp-node sink on port 5000, spending WORK_NS per
# datagram in the receiving thread, under a SIZE-byte flood (SCHED_FIFO, CPU 0) for SECS; the
# node's report in $rcv (pid in rpid, still to be finished), the flood's in $fl, CPU snapshots
# c0/c1 around the flood.
flooded_sink() {
    local size=$1 work=$2; shift 2
    start_node "$rcv" $((LONG + 10)) sink --port 5000 --seconds "$LONG" --idle-timeout 1 --work-ns "$work"
    rpid=$NODE_PID
    flood 5000 "$size" "$SECS" --fifo 50 --cpu 0 "$@"
    c0=$(cpu_snap "$rpid"); "${FLOOD[@]}" >"$fl"; c1=$(cpu_snap "$rpid")
}
# flooded_upcall SIZE WORK_NS [flood options]: the same with the datagrams consumed in the flood
# port's upcall on the core (udp-node streams --flood-port); CPU snapshots inside its window.
flooded_upcall() {
    local size=$1 work=$2 fpid; shift 2
    start_node "$rcv" $((LONG + 10)) streams --flood-port 5000 --seconds "$SECS" --warmup 0.5 --work-ns "$work"
    rpid=$NODE_PID
    # the node counts from 0.5 s after "ready" for SECS seconds (and exits 0.5 s after); cover that window
    flood 5000 "$size" "$(awk -v s="$SECS" 'BEGIN{print s + 1}')" --fifo 50 --cpu 0 "$@"
    spawn "$fl" "${FLOOD[@]}"
    fpid=$BG_PID
    sleep 0.6; c0=$(cpu_snap "$rpid"); sleep "$(awk -v s="$SECS" 'BEGIN{print s - 0.6}')"; c1=$(cpu_snap "$rpid")
    finish "$fpid"
}
LONG=$((${SECS%.*} + 8))
# start_echo IMPL: the echo server on port 7, udp-node with IMPL's ring (rtud-v2, rtud-v3) or
# udptool (kernel), on CPU 1; its pid in epid, its address in dst.
start_echo() {
    if [ "$1" != kernel ]; then
        start_node "$TMP/echo.json" 120 --rx-ring "${1#rtud-}" "${LINK_OPTS[@]}" ${APP_FIFO:+--app-fifo "$APP_FIFO"} \
            echo --port 7 --seconds 100
        epid=$NODE_PID dst=$NODE_IP
    else
        spawn "$TMP/echo.json" "${INK[@]}" timeout 120 "$TMP/udptool" echo --bind "$KERN_IP:7" --cpu 1 --fifo 50 --seconds 100
        epid=$BG_PID dst=$KERN_IP
        sleep 0.3
    fi
}

echo "bench-udp: ${ROUNDS} rounds, ${SECS} s per run; load average $(loadavg); results in $RESULTS" >&2
record bench=meta rounds="$ROUNDS" seconds="$SECS" rtt_count="$RTT_COUNT" stream_seconds="$STREAM_SECS" rings="$RINGS" \
    link_rtu="${LINK_RTU:-1000:256}" sparse_count="$SPARSE_COUNT" app_fifo="${APP_FIFO:-none}" \
    loadavg="$(loadavg)" kernel="$(uname -r)" cpus="$(nproc)" commit="$(git rev-parse --short HEAD)" \
    date="$(date -u +%FT%TZ)"

# ---- 1. throughput: kernel sender -> rtud socket / kernel socket ----
if want tput; then
    echo "== tput: udptool send (SCHED_FIFO, CPU 0, burst 32) -> rtud sink / kernel recv (CPU 1)" >&2
    for ((r = 0; r < ROUNDS; r++)); do
        for size in 64 1472; do
            for impl in $(rotate $r "${RTUD_IMPLS[@]}" kernel); do
                snd="$TMP/send.json" rcv="$TMP/recv.json"
                if [ $impl != kernel ]; then
                    start_node "$rcv" $((LONG + 10)) --rx-ring "${impl#rtud-}" "${LINK_OPTS[@]}" sink --port 5000 --seconds "$LONG" --idle-timeout 1
                    rpid=$NODE_PID dst=$NODE_IP
                else
                    spawn "$rcv" "${INK[@]}" timeout $((LONG + 10)) "$TMP/udptool" recv --bind "$KERN_IP:5000" --cpu 1 --fifo 50 \
                        --seconds "$LONG" --idle-timeout 1 --rcvbuf 4194304
                    rpid=$BG_PID dst=$KERN_IP
                    sleep 0.3
                fi
                sleep 0.2
                c0=$(cpu_snap "$rpid")
                "${INP[@]}" timeout $((LONG + 10)) "$TMP/udptool" send --dst "$dst:5000" --size $size --count 1000000000 \
                    --seconds "$SECS" --burst 32 --fifo 50 --cpu 0 >"$snd"
                c1=$(cpu_snap "$rpid")
                finish "$rpid"
                record bench=tput impl=$impl size=$size round=$r cpu="$(cpu_json "$c0" "$c1")" \
                    tx="$(jlast "$snd")" rx="$(jlast "$rcv")"
                echo "  round $r size $size $impl: sent $(jq -r .pps "$snd") /s, received $(jq -r .pps <<<"$(jlast "$rcv")") /s" >&2
            done
        done
    done
fi

# ---- 2. capacity of one rtud socket under a flood, against the C loop ----
if want cap; then
    echo "== cap: udptool flood (TX ring, SCHED_FIFO, CPU 0) -> rtud sink / rtud upcall / linkloop (CPU 1)" >&2
    for ((r = 0; r < ROUNDS; r++)); do
        for size in 64 1472; do
            for impl in $(order $r rtud-sink rtud-upcall) linkloop; do
                fl="$TMP/flood.json" rcv="$TMP/recv.json"
                case $impl in
                rtud-sink) flooded_sink $size 0 ;;
                rtud-upcall) flooded_upcall $size 0 ;;
                linkloop)
                    # bench-links' receive loop: sleeps 50 ms while the ring fills, then drains it;
                    # frames/busy is its drain rate, frames/seconds what it took in.
                    flood 5000 $size "$(awk -v s="$SECS" 'BEGIN{print s + 0.6}')" --fifo 50 --cpu 0
                    spawn "$fl" "${FLOOD[@]}"
                    fpid=$BG_PID
                    sleep 0.3
                    c0=$(cpu_snap)
                    "${INN[@]}" timeout $((LONG + 10)) taskset -c 1 "$TMP/linkloop" rx-packet "$A" "$AMAC" "$SECS" >"$rcv"
                    c1=$(cpu_snap)
                    finish "$fpid"
                    rpid=""
                    ;;
                esac
                [ -n "$rpid" ] && finish "$rpid"
                if [ $impl = linkloop ]; then
                    rx=$(awk '{for(i=1;i<=NF;i++){split($i,kv,"="); v[kv[1]]=kv[2]}} END{printf "{\"frames\":%d,\"seconds\":%s,\"busy\":%s,\"cpu\":%s,\"drain_fps\":%.1f,\"wall_fps\":%.1f}", v["frames"], v["seconds"], v["busy"], v["cpu"], (v["busy"]>0?v["frames"]/v["busy"]:0), v["frames"]/v["seconds"]}' "$rcv")
                else
                    rx=$(jlast "$rcv")
                fi
                record bench=cap impl=$impl size=$size round=$r cpu="$(cpu_json "$c0" "$c1")" tx="$(jlast "$fl")" rx="$rx"
                echo "  round $r size $size $impl: offered $(jq -r .pps "$fl") /s; $(jq -c 'if .mode == "sink" then {pps, channel_dropped, ring_dropped} elif .mode == "streams" then (.streams[0] | {pps, channel_dropped}) else {drain_fps, wall_fps} end' <<<"$rx") cpu $(cpu_json "$c0" "$c1")" >&2
            done
        done
    done
fi

# ---- 3. request/response round trips ----
if want rtt; then
    echo "== rtt: udptool rtt (CPU 0) -> udp-node echo / udptool echo (CPU 1), one datagram in flight" >&2
    for ((r = 0; r < ROUNDS; r++)); do
        for size in 64 1472; do
            for impl in $(rotate $r "${RTUD_IMPLS[@]}" kernel); do
                res="$TMP/rtt.json"
                start_echo $impl
                c0=$(cpu_snap "$epid")
                "${INP[@]}" timeout 100 "$TMP/udptool" rtt --dst "$dst:7" --size $size --count "$RTT_COUNT" --warmup 1000 \
                    --fifo 50 --cpu 0 >"$res"
                c1=$(cpu_snap "$epid")
                kill -TERM "$epid" 2>/dev/null || true
                finish "$epid"
                record bench=rtt impl=$impl size=$size round=$r cpu="$(cpu_json "$c0" "$c1")" rtt="$(jlast "$res")"
                echo "  round $r size $size $impl: $(jq -c '{p50_us, p99_us, max_us, lost}' "$res")" >&2
            done
        done
    done
fi

# ---- 3b. sparse round trips: one request per udptool process ----
# Each sample is one `udptool rtt --count 1` (a fresh socket, SCHED_FIFO, CPU 0), 2 ms after the
# previous process ended: the receiver has been idle for milliseconds, so what a lone request
# waits for shows (in rtud: the receive ring's hand-over, the link RTU's release).
if want sparse; then
    echo "== sparse: $SPARSE_COUNT single-request udptool rtt runs, 2 ms apart -> udp-node echo / udptool echo" >&2
    for ((r = 0; r < ROUNDS; r++)); do
        for impl in $(rotate $r "${RTUD_IMPLS[@]}" kernel); do
            start_echo $impl
            "${INP[@]}" timeout 100 bash -c 'for ((i = 0; i < $2; i++)); do
                    "$0" rtt --dst "$1" --size 64 --count 1 --warmup 0 --fifo 50 --cpu 0 | grep "^{"; sleep 0.002
                done' "$TMP/udptool" "$dst:7" "$SPARSE_COUNT" >"$TMP/sparse.jsonl"
            kill -TERM "$epid" 2>/dev/null || true
            finish "$epid"
            res=$(jq -s -c '[.[] | .p50_us | select(. != null)] | sort | length as $n
                | {count: $n, lost: ('"$SPARSE_COUNT"' - $n)} + (if $n > 0 then {p50_us: .[($n * 0.5 | ceil) - 1],
                  p90_us: .[($n * 0.9 | ceil) - 1], p99_us: .[($n * 0.99 | ceil) - 1], max_us: .[-1], min_us: .[0]} else {} end)' \
                "$TMP/sparse.jsonl")
            record bench=sparse impl=$impl size=64 round=$r rtt="$res"
            echo "  round $r $impl: $(jq -c '{p50_us, p99_us, max_us, lost}' <<<"$res")" >&2
        done
    done
fi

# ---- 4. overload (LRP): offered load from 0.5x to 4x one socket's capacity ----
# rtud's own receive path outruns every generator here (see cap), so the consumer is made the
# bottleneck: the application spends WORK ns per datagram (udp-node --work-ns), either in the
# receiving thread (app: sink, the rtud socket's ring in between) or in the upcall on the core
# (upcall: streams --flood-port, the channel in between). Capacity = median delivered under the
# unpaced flood; then the flood is paced at k x capacity.
overload_run() {  # overload_run CONSUMER RATE (0: unpaced); records one run
    local consumer=$1 rate=$2 fl="$TMP/flood.json" rcv="$TMP/recv.json" ropt=()
    [ "$rate" != 0 ] && ropt=(--rate "$rate")
    if [ "$consumer" = app ]; then flooded_sink 64 "$WORK" "${ropt[@]}"; else flooded_upcall 64 "$WORK" "${ropt[@]}"; fi
    finish "$rpid"
    local rx
    rx=$(jlast "$rcv")
    record bench=overload consumer="$consumer" work_ns="$WORK" factor="${3:-max}" rate="$rate" round="$r" \
        cpu="$(cpu_json "$c0" "$c1")" tx="$(jlast "$fl")" rx="$rx"
    echo "  round $r $consumer ${3:-unpaced}${3:+x ($rate/s)}: offered $(jq -r .pps "$fl") /s; $(jq -c 'if .mode == "sink" then {pps, channel_dropped, ring_dropped, link_dropped: .counters.link_rx_dropped} else (.streams[0] | {pps, channel_dropped}) end' <<<"$rx")" >&2
}
if want overload; then
    WORK=${UDP_WORK_NS:-10000}
    for consumer in app upcall; do
        echo "== overload ($consumer): the application spends $WORK ns per datagram; 64-byte flood (SCHED_FIFO, CPU 0)" >&2
        for ((r = 0; r < ROUNDS; r++)); do overload_run $consumer 0; done
        CAP=$(jq -s --arg c $consumer '[.[] | select(.bench == "overload" and .consumer == $c and .factor == "max")
            | if .rx.mode == "sink" then .rx.pps else .rx.streams[0].pps end] | sort | .[length / 2 | floor] // empty' "$RESULTS")
        [ -n "$CAP" ] || { echo "bench-udp: no capacity measured for $consumer" >&2; exit 1; }
        record bench=overload-capacity consumer=$consumer work_ns="$WORK" pps="$CAP"
        echo "  capacity ($consumer): $CAP datagrams/s" >&2
        for ((r = 0; r < ROUNDS; r++)); do
            for k in 0.5 1 2 3 4; do
                overload_run $consumer "$(awk -v c="$CAP" -v k="$k" 'BEGIN{printf "%d", c * k}')" "$k"
            done
        done
    done
fi

# ---- 5. reservations under load (RTU) ----
# Three reserved streams, each from its own paced SCHED_FIFO sender on CPU 0, and a best-effort
# flood port fed by udptool flood at full speed (SCHED_OTHER on CPU 0, so it cannot push CPU 0
# into RT throttling, which would stall the paced senders). Two kinds of flood consumer:
#   light:  64-byte flood, the upcall only counts (rtud's whole load needs ~15 % of the core)
#   hungry: 1472-byte flood, the upcall spends HUNGRY_NS per datagram (a best-effort application
#           that wants more CPU than the core has left)
# each in four configurations: reservations on (SCHED_FIFO) / off (--no-reservations --policy
# other), without and with stress-ng --cpu 8 (four hogs per core) in the root namespace.
if want rtu; then
    read -r -a STREAMS <<<"${UDP_STREAMS:-5001:120000000:1472 5002:80000000:1472 5003:16000000:512}"
    FLOOD_PORT=5009 HUNGRY_NS=${UDP_HUNGRY_NS:-3000} STRESS_CPUS=${UDP_STRESS_CPUS:-8}
    echo "== rtu: streams ${STREAMS[*]} + best-effort flood on $FLOOD_PORT; ${STREAM_SECS} s per run" >&2
    for ((r = 0; r < ROUNDS; r++)); do
        for flavour in light hungry; do
            if [ $flavour = light ]; then fsize=64 fwork=0; else fsize=1472 fwork=$HUNGRY_NS; fi
            for config in res-idle nores-idle res-stress nores-stress; do
                case $config in
                    res-*) opts=(--policy fifo) ;;
                    nores-*) opts=(--no-reservations --policy other) ;;
                esac
                if [[ $config == *-stress ]]; then
                    setsid stress-ng --cpu "$STRESS_CPUS" --timeout $((STREAM_SECS + 6)) --quiet 2>/dev/null &
                    STRESS_PID=$!
                    sleep 1
                fi
                args=()
                for s in "${STREAMS[@]}"; do args+=(--stream "$s"); done
                rcv="$TMP/streams.json"
                if ! start_node "$rcv" $((STREAM_SECS + 20)) "${opts[@]}" streams "${args[@]}" --flood-port $FLOOD_PORT \
                    --work-ns "$fwork" --warmup 1 --seconds "$STREAM_SECS"; then
                    stop_stress
                    exit 1
                fi
                rpid=$NODE_PID
                spids=() i=0
                for s in "${STREAMS[@]}"; do
                    IFS=: read -r port bps size <<<"$s"
                    pps=$(awk -v b="$bps" -v s="$size" 'BEGIN{printf "%.3f", b / 8 / s}')
                    spawn "$TMP/send$i.json" "${INP[@]}" timeout $((STREAM_SECS + 15)) "$TMP/udptool" send \
                        --dst "$NODE_IP:$port" --size "$size" --rate "$pps" --count 1000000000 \
                        --seconds $((STREAM_SECS + 2)) --stream $((i + 1)) --fifo 50 --cpu 0
                    spids+=("$BG_PID")
                    i=$((i + 1))
                done
                flood $FLOOD_PORT $fsize $((STREAM_SECS + 2)) --cpu 0
                spawn "$TMP/flood.json" "${FLOOD[@]}"
                spids+=("$BG_PID")
                sleep 1.1; c0=$(cpu_snap "$rpid"); sleep "$(awk -v s="$STREAM_SECS" 'BEGIN{print s - 0.6}')"; c1=$(cpu_snap "$rpid")
                for p in "${spids[@]}"; do finish "$p"; done
                finish "$rpid"
                stop_stress
                sends="[$(for ((j = 0; j < i; j++)); do jlast "$TMP/send$j.json"; done | paste -sd,)]"
                rx=$(jlast "$rcv")
                record bench=rtu flavour=$flavour flood_size=$fsize flood_work_ns=$fwork stress_cpus="$STRESS_CPUS" \
                    config=$config round=$r cpu="$(cpu_json "$c0" "$c1")" flood="$(jlast "$TMP/flood.json")" senders="$sends" rx="$rx"
                [ "$rx" = null ] && cat "$rcv.err" >&2
                echo "  round $r $flavour $config: shares $(jq -c '[.streams[] | select(.reserved_pps > 0) | .share]' <<<"$rx"), worst 100 ms $(jq -c '[.streams[] | select(.reserved_pps > 0) | (.min_interval / .reserved_pps * 10 * 1000 | round / 1000)]' <<<"$rx"); flood $(jq -r .pps "$TMP/flood.json") /s offered, $(jq -r '.streams[-1].pps' <<<"$rx") /s delivered; link drops $(jq -r '.counters.link_rx_dropped // 0' <<<"$rx")" >&2
            done
        done
    done
fi

record bench=meta-end loadavg="$(loadavg)" date="$(date -u +%FT%TZ)"
"$PY" scripts/plot_udp.py "$OUT" docs/bench
cat "$OUT/summary.md"
