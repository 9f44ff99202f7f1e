#!/usr/bin/env bash
# The main job (README): build rtud, start it with its built-in defaults in a
# network namespace of its own, and show it working against the Linux kernel
# there — ARP, ping, a 4000-byte ping (fragmentation and reassembly both
# ways) — then its counters and the capture it wrote, decoded by tshark;
# then reserved UDP sockets holding their rates under load
# (scripts/demo-reservations.sh).
# Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespace, TAP device)"; exit 1; }

bash scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
echo "== building rtud (release)"
swift build -c release --product rtud 2>&1 | tail -n 1
RTUD=$(swift build -c release --show-bin-path)/rtud

. scripts/lib-netns.sh
ns="rtudemo-$$"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  netns_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

netns_add "$ns"

echo "== effective configuration (built-in defaults)"
"$RTUD" --print-config | grep -vE '^\s*(#|$)'

echo "== starting rtud in namespace $ns (it creates TAP rtu0 and owns 198.18.0.1)"
ip netns exec "$ns" "$RTUD" --pcap "$work/rtud.pcap" --probe 198.18.0.2 >"$work/rtud.log" 2>&1 &
pid=$!
wait_for_text "$work/rtud.log" ready 5 "$pid" || { cat "$work/rtud.log"; echo "demo: rtud did not start"; exit 1; }

# The kernel's side of the TAP is rtud's peer.
ip netns exec "$ns" ip addr add 198.18.0.2/24 dev rtu0
sleep 1.5   # rtud's probe retries ARP each second until the kernel has its address

echo "== the kernel pings rtud"
ip netns exec "$ns" ping -c 5 -i 0.2 198.18.0.1
echo "== 4000-byte pings: fragmented and reassembled in both directions"
ip netns exec "$ns" ping -c 3 -i 0.3 -s 4000 198.18.0.1
echo "== the kernel's ARP entry for rtud"
ip netns exec "$ns" ip neigh show 198.18.0.1

kill -TERM "$pid"; wait "$pid" || true; pid=""
echo "== rtud's log (neighbour resolution, probe, counters)"
cat "$work/rtud.log"
echo "== the capture rtud wrote, decoded by tshark"
tshark -n -r "$work/rtud.pcap" -o ip.check_checksum:TRUE 2>/dev/null | head -n 40
bad=$(tshark -n -r "$work/rtud.pcap" -o ip.check_checksum:TRUE \
  -Y '_ws.malformed || _ws.expert.severity == "Error" || ip.checksum.status == "Bad" || icmp.checksum.status == "Bad"' 2>/dev/null | wc -l)
echo "malformed frames or bad checksums in the capture: $bad"

# Part two: the data path with reservations (UDP over LRP channels and RTUs).
bash scripts/demo-reservations.sh 5
