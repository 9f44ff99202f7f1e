#!/usr/bin/env bash
# Reserved sockets holding their rates under load, in process (the main job,
# scripts/demo.sh, runs the daemon's version: scripts/reserved-streams.sh). One rtud node (udp-node, release)
# receives three reserved UDP streams and a best-effort flood from the
# kernel in a peer namespace, while stress-ng runs four CPU hogs per core:
# once with reservations (RTUs on a SCHED_FIFO core), once with them turned
# off (the same code, best-effort on SCHED_OTHER). Prints what each stream
# received against what it reserved. Everything it creates is removed.
#
#   scripts/demo-reservations.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo-reservations: needs root (namespaces, AF_PACKET, SCHED_FIFO)"; exit 1; }
seconds=${1:-6}

bash scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product udp-node 2>&1 | tail -n 1
NODE=$(swift build -c release --show-bin-path)/udp-node
. scripts/lib-netns.sh
work=$(mktemp -d)
trap 'netns_cleanup "$work"' EXIT   # PIDS: what the run in progress started
. scripts/lib-udptool.sh
build_udptool "$work" >/dev/null

n="rtures-n-$$"; p="rtures-p-$$"; a="rtra$$"; b="rtrb$$"
kernel_peer "$n" "$a" "$p" "$b"
mac_n=$(mac_of "$n" "$a")
mac_p=$(mac_of "$p" "$b")

# port:bits/s:message size — 120 + 80 Mbit/s of 1472-byte and 16 Mbit/s of 512-byte messages.
streams=(5001:120000000:1472 5002:80000000:1472 5003:16000000:512)

run() {   # run NAME [udp-node options…]
  local name=$1; shift
  local args=()
  for s in "${streams[@]}"; do args+=(--stream "$s"); done
  ip netns exec "$n" "$NODE" --device "$a" --address 198.18.0.1/24 "$@" streams "${args[@]}" \
      --flood-port 5009 --seconds "$seconds" --warmup 2 >"$work/$name.json" 2>"$work/$name.err" &
  local node=$!
  PIDS=("$node")
  wait_for_text "$work/$name.json" ready 10 "$node" || { cat "$work/$name.err"; echo "udp-node did not start"; exit 1; }
  stress-ng --cpu 8 --timeout "$((seconds + 4))s" >/dev/null 2>&1 &
  local stress=$!
  PIDS+=("$stress")
  local senders=()
  for s in "${streams[@]}"; do
    IFS=: read -r port rate size <<<"$s"
    ip netns exec "$p" "$UDPTOOL" send --dst "198.18.0.1:$port" --size "$size" --rate $((rate / 8 / size)) \
        --seconds "$((seconds + 4))" --count 100000000 --fifo 50 --cpu 0 >/dev/null 2>&1 & senders+=($!)
  done
  ip netns exec "$p" "$UDPTOOL" flood --ifname "$b" --src-mac "$mac_p" --dst-mac "$mac_n" \
      --src 198.18.0.2:7000 --dst 198.18.0.1:5009 --size 64 --seconds "$((seconds + 4))" --cpu 0 >/dev/null 2>&1 & senders+=($!)
  PIDS+=("${senders[@]}")
  wait "$node" || { cat "$work/$name.err"; exit 1; }
  for q in "${senders[@]}"; do wait "$q" 2>/dev/null || true; done
  wait "$stress" 2>/dev/null || true
  PIDS=()
}

echo "== reserved streams under load: 3 reserved UDP streams + a best-effort 64-byte flood, stress-ng --cpu 8 (4 hogs per core), ${seconds}s each"
run on
run off --no-reservations --policy other
PYTHONPATH=scripts python3 - "$work/on.json" "$work/off.json" "${streams[@]}" <<'EOF'
import sys
from benchdata import last_json
runs = [last_json(f) for f in sys.argv[1:3]]
sizes = {int(s.split(":")[0]): int(s.split(":")[2]) for s in sys.argv[3:]}
print(f"{'stream':>13} {'reserved':>9} | {'with reservations':^28} | {'reservations off':^28}")
print(f"{'':>13} {'Mbit/s':>9} | {'Mbit/s':>8} {'share':>7} {'worst 0.1s':>11} | {'Mbit/s':>8} {'share':>7} {'worst 0.1s':>11}")
for i, first in enumerate(runs[0]["streams"]):
    port = first["port"]
    if first["reserved_pps"] > 0:
        mb = first["reserved_pps"] * sizes[port] * 8 / 1e6
        line = f"{port:>13} {mb:>9.1f} |"
        for r in runs:
            t = r["streams"][i]
            worst = min(t["intervals"]) / (t["reserved_pps"] / 10)
            line += f" {mb * t['share']:>8.1f} {t['share'] * 100:>6.1f}% {worst * 100:>10.0f}% |"
    else:
        line = f"{str(port) + ' flood':>13} {'(b.e.)':>9} |"
        for r in runs:
            t = r["streams"][i]
            line += f" {t['pps'] / 1000:>8.0f} {'kpkt/s':>7} {'':>11} |"
    print(line)
for label, r in zip(["with reservations", "reservations off"], runs):
    flood = next(t for t in r["streams"] if t["reserved_pps"] == 0)
    print(f"{label}: dispatcher {r['policy']}, flood frames dropped at its channel: {flood['channel_dropped']}")
EOF
