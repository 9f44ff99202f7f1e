#!/usr/bin/env bash
# The main job (README): build rtud, start it with its built-in defaults in a
# network namespace of its own, and show it working against the Linux kernel
# there — ARP, ping, a 4000-byte ping (fragmentation and reassembly both
# ways) — then its counters and the capture it wrote, decoded by tshark;
# rtuctl creating a reserved socket and showing the daemon's RTUs; then the
# end-to-end experiment (scripts/reserved-streams.sh): reserved sockets made
# with rtuctl, applications on RTUClient, with and without load, against
# rtud without reservations and the kernel's sockets, with a table and a plot.
# Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespace, TAP device)"; exit 1; }

bash scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
echo "== building rtud and rtuctl (release)"
swift build -c release --product rtud 2>&1 | tail -n 1
swift build -c release --product rtuctl 2>&1 | tail -n 1
RTUD=$(swift build -c release --show-bin-path)/rtud
RTUCTL=$(swift build -c release --show-bin-path)/rtuctl

. scripts/lib-netns.sh
ns="rtudemo-$$"
work=$(mktemp -d)
trap 'netns_cleanup "$work"' EXIT

netns_add "$ns"

echo "== effective configuration (built-in defaults)"
"$RTUD" --print-config | grep -vE '^\s*(#|$)'

echo "== starting rtud in namespace $ns (it creates TAP rtu0 and owns 198.18.0.1)"
ip netns exec "$ns" "$RTUD" --pcap "$work/rtud.pcap" --probe 198.18.0.2 >"$work/rtud.log" 2>&1 &
PIDS=("$!")
wait_for_text "$work/rtud.log" ready 5 "${PIDS[0]}" || { cat "$work/rtud.log"; echo "demo: rtud did not start"; exit 1; }

# The kernel's side of the TAP is rtud's peer.
ip netns exec "$ns" ip addr add 198.18.0.2/24 dev rtu0
sleep 1.5   # rtud's probe retries ARP each second until the kernel has its address

echo "== the kernel pings rtud"
ip netns exec "$ns" ping -c 5 -i 0.2 198.18.0.1
echo "== 4000-byte pings: fragmented and reassembled in both directions"
ip netns exec "$ns" ping -c 3 -i 0.3 -s 4000 198.18.0.1
echo "== the kernel's ARP entry for rtud"
ip netns exec "$ns" ip neigh show 198.18.0.1

echo "== rtuctl: the daemon, a reserved socket, its RTUs (control socket /run/rtud/control.sock, the default)"
ip netns exec "$ns" "$RTUCTL" status
ip netns exec "$ns" "$RTUCTL" socket create video0 --protocol udp --bind 198.18.0.1:5000 --rate 40Mbit --message-size 8192 --period 10ms
echo "-- a reservation the core cannot hold is refused, with the reason:"
ip netns exec "$ns" "$RTUCTL" socket create too-much --bind 198.18.0.1:5001 --rate 8Gbit --message-size 1472 || true
ip netns exec "$ns" "$RTUCTL" socket list
ip netns exec "$ns" "$RTUCTL" rtus
ip netns exec "$ns" "$RTUCTL" socket delete video0

stop_all "${PIDS[@]}"; PIDS=()
echo "== rtud's log (neighbour resolution, probe, counters)"
cat "$work/rtud.log"
echo "== the capture rtud wrote, decoded by tshark"
tshark -n -r "$work/rtud.pcap" -o ip.check_checksum:TRUE 2>/dev/null | head -n 40
bad=$(tshark -n -r "$work/rtud.pcap" -o ip.check_checksum:TRUE \
  -Y '_ws.malformed || _ws.expert.severity == "Error" || ip.checksum.status == "Bad" || icmp.checksum.status == "Bad"' 2>/dev/null | wc -l)
echo "malformed frames or bad checksums in the capture: $bad"

# Part two: reserved sockets holding their rates under load, end to end.
mkdir -p bench-out
bash scripts/reserved-streams.sh 5 bench-out/reserved-streams.png
