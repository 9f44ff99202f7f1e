#!/usr/bin/env bash
# The RTU paper's experiment end to end (issue 5, item 7; the main job runs it
# too). rtud runs in its own namespace on an AF_PACKET veth end with its RTUs
# on a SCHED_FIFO core; `rtuctl` creates three reserved UDP sockets; receiver
# applications (rtu-udp, on RTUClient) attach to them, and a fourth,
# best-effort socket takes a 64-byte flood. The kernel in a peer namespace
# sends the streams (paced, SCHED_FIFO 50 on core 0: the "network") and the
# flood (SCHED_FIFO 40 on core 0, so load does not weaken it).
# Three stacks:
#
#   rtud        reservations as created by rtuctl
#   rtud-off    the same daemon, sockets and programs with --no-reservations
#               (every socket best effort, dispatchers SCHED_OTHER)
#   kernel      the same receiver programs on kernel sockets (rtu-udp --kernel)
#
# each idle and under two levels of background load, stress-ng CPU hogs on
# every core: 4 per core (load4, the RTU scheduler benchmark's load) and 16
# per core (load16: a machine far more oversubscribed, where a SCHED_OTHER
# thread gets about 1/17 of a core). The receiver programs are SCHED_OTHER in
# every configuration.
#
# Prints each stream's received rate against its reservation (share of the
# whole run and of its worst 250 ms), where the lost datagrams went, and
# writes a plot. Removes what it made.
#
#   scripts/reserved-streams.sh [options] [SECONDS] [PLOT.png]
#
#   --nic-on-receiver  charge the receiving side's kernel network work to the
#                      receiving CPU, as on two machines: the veth end in
#                      rtud's namespace runs NAPI in a kernel thread (GRO on,
#                      threaded) pinned to core 1, the RT core. By default a
#                      veth delivers in the sender's context on core 0, so the
#                      kernel's receive processing (IP, UDP, socket queues)
#                      costs the receiving "host" nothing. The NIC thread is
#                      SCHED_FIFO 51 (above the dispatchers' 50) for rtud and
#                      for a fourth stack, kernel-rt (the kernel sockets with
#                      the same tuned NIC thread); SCHED_OTHER, the kernel's
#                      default, for rtud-off and kernel.
#   --flood-pps N      pace the best-effort flood at N datagrams/s (in bursts
#                      of 64) instead of as fast as one core sends
#   --stacks "LIST"    a subset or order of rtud rtud-off kernel (kernel-rt
#                      with --nic-on-receiver)
#   --loads "LIST"     a subset or order of idle load4 load16
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "reserved-streams: needs root (namespaces, AF_PACKET, SCHED_FIFO)"; exit 1; }
nic_on_receiver=0 flood_pps="" stacks="" loads_given=""
while [ $# -gt 0 ]; do
  case $1 in
    --nic-on-receiver) nic_on_receiver=1; shift ;;
    --flood-pps) flood_pps=${2:?--flood-pps needs a rate}; shift 2 ;;
    --stacks) stacks=${2:?--stacks needs a list}; shift 2 ;;
    --loads) loads_given=${2:?--loads needs a list}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "reserved-streams: unknown option $1 (see --help)"; exit 2 ;;
    *) break ;;
  esac
done
seconds=${1:-6}
plot=${2:-}
[ -n "$stacks" ] || { stacks="rtud rtud-off kernel"; [ "$nic_on_receiver" = 1 ] && stacks+=" kernel-rt"; }
for st in $stacks; do
  case $st in rtud|rtud-off|kernel) ;; kernel-rt) [ "$nic_on_receiver" = 1 ] || { echo "reserved-streams: kernel-rt needs --nic-on-receiver"; exit 2; } ;;
    *) echo "reserved-streams: unknown stack $st (rtud, rtud-off, kernel, kernel-rt)"; exit 2 ;; esac
done
for l in ${loads_given:-idle}; do
  case $l in idle|load4|load16) ;; *) echo "reserved-streams: unknown load $l (idle, load4, load16)"; exit 2 ;; esac
done
[ -z "$flood_pps" ] || [[ $flood_pps =~ ^[1-9][0-9]*$ ]] || { echo "reserved-streams: --flood-pps needs a positive number"; exit 2; }

bash scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
for p in rtud rtuctl rtu-udp; do swift build -c release --product "$p" 2>&1 | tail -n 1; done
BIN=$(swift build -c release --show-bin-path)
. scripts/lib-netns.sh
work=$(mktemp -d)
trap 'netns_cleanup "$work"' EXIT   # PIDS: what the run in progress started
. scripts/lib-udptool.sh
build_udptool "$work" >/dev/null

n="rtues-n-$$"; p="rtues-p-$$"; a="rtea$$"; b="rteb$$"
kernel_peer "$n" "$a" "$p" "$b"
ip netns exec "$n" ethtool -K "$a" tx off >/dev/null
nic_thread=""
if [ "$nic_on_receiver" = 1 ]; then
  ip netns exec "$n" ethtool -K "$a" gro on >/dev/null
  ip netns exec "$n" sh -c "echo 1 > /sys/class/net/$a/threaded"
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    nic_thread=$(pgrep "^napi/${a:0:10}" | head -n 1 || true)   # a kthread's name stops at 15 characters
    [ -n "$nic_thread" ] && break
    sleep 0.1
  done
  [ -n "$nic_thread" ] || { echo "reserved-streams: no NAPI thread appeared for $a (threaded NAPI needs Linux 5.12+)"; exit 1; }
  taskset -p 2 "$nic_thread" >/dev/null
fi
mac_p=$(mac_of "$p" "$b")
control="$work/control.sock"
export RTUD_CONTROL=$control

# name:port:bits/s:message size — 120 + 80 Mbit/s of 1472-byte and 16 Mbit/s of 512-byte messages.
streams=(video0:5001:120000000:1472 video1:5002:80000000:1472 audio0:5003:16000000:512)
flood_port=5009
cat >"$work/rtud.toml" <<EOF
[daemon]
control_socket = "$control"
rt_cores = [1]

[[interface]]
name = "$a"
driver = "af_packet"
device = "$a"
address = "198.18.0.1/24"
EOF

link_drops() {   # frames lost before any stack saw them: veth NAPI ring (the sender's tx_dropped) and the receiving end
  echo $(( $(ip netns exec "$p" cat "/sys/class/net/$b/statistics/tx_dropped") + $(ip netns exec "$n" cat "/sys/class/net/$a/statistics/rx_dropped") ))
}

# snapshot LABEL STACK LINK0: where datagrams were lost, taken while the receivers still run.
# "app" = the application's buffer was full (the application was behind: the rtud ring or
# the kernel socket's receive queue); "stack" = rtud's channel was full (its RTU was behind);
# "link" = dropped before any stack looked (the veth ring, rtud's AF_PACKET ring), all flows.
snapshot() {
  local label=$1 stack=$2 link0=$3 out="$work/$1.drops"
  echo "link_ring $(( $(link_drops) - link0 ))" >"$out"
  if [ "$stack" = kernel ]; then
    ip netns exec "$n" cat /proc/net/udp >"$work/$label.udp"
  else
    ip netns exec "$n" "$BIN/rtuctl" socket list --json >"$work/$label.sockets.json" 2>/dev/null || true
    ip netns exec "$n" "$BIN/rtuctl" stats --json >"$work/$label.stats.json" 2>/dev/null || true
  fi
}

run() {   # run LABEL STACK LOAD — STACK: rtud, rtud-off, kernel or kernel-rt; LOAD: idle, load4 or load16 (hogs per core)
  local label=$1 stack=$2 load=$3 rtud="" dst_mac endpoint
  PIDS=()
  if [ -n "$nic_thread" ]; then
    case $stack in rtud|kernel-rt) chrt -f -p 51 "$nic_thread" ;; *) chrt -o -p 0 "$nic_thread" ;; esac
  fi
  [ "$stack" = kernel-rt ] && stack=kernel
  ip -n "$p" neigh flush dev "$b"
  if [ "$stack" = kernel ]; then
    ip -n "$n" addr add 198.18.0.1/24 dev "$a"
    dst_mac=$(mac_of "$n" "$a")
  else
    local extra=()
    [ "$stack" = rtud-off ] && extra=(--no-reservations)
    ip netns exec "$n" "$BIN/rtud" --config "$work/rtud.toml" "${extra[@]}" >"$work/$label.rtud.log" 2>&1 &
    rtud=$!
    PIDS+=("$rtud")
    wait_for_text "$work/$label.rtud.log" "ready" 30 "$rtud" || { cat "$work/$label.rtud.log"; echo "rtud did not start"; exit 1; }
    dst_mac=02:72:c6:12:00:01
    for s in "${streams[@]}"; do
      IFS=: read -r name port rate size <<<"$s"
      ip netns exec "$n" "$BIN/rtuctl" socket create "$name" --bind "198.18.0.1:$port" --rate "${rate}bit" \
          --message-size "$size" --period 10ms >/dev/null
    done
  fi
  local receivers=()
  for s in "${streams[@]}" "flood:$flood_port:0:64"; do
    IFS=: read -r name port rate size <<<"$s"
    if [ "$stack" = kernel ]; then endpoint=(--kernel --bind "198.18.0.1:$port")
    elif [ "$name" = flood ]; then endpoint=(--bind "198.18.0.1:$port")
    else endpoint=(--attach "$name"); fi
    ip netns exec "$n" "$BIN/rtu-udp" recv "${endpoint[@]}" --seconds "$((seconds + 3))" --idle-timeout 0 \
        --intervals 250 --warmup 1 >"$work/$label.$name.json" 2>"$work/$label.$name.err" &
    receivers+=($!)
  done
  PIDS+=("${receivers[@]}")
  for s in "${streams[@]}" "flood:$flood_port:0:64"; do
    IFS=: read -r name port rate size <<<"$s"
    wait_for_text "$work/$label.$name.json" ready 10 || { cat "$work/$label.$name.err"; echo "receiver $name did not start"; exit 1; }
  done
  local stress=""
  if [ "$load" != idle ]; then
    stress-ng --cpu "$(( ${load#load} * $(nproc) ))" --timeout "$((seconds + 5))s" >/dev/null 2>&1 &
    stress=$!
    PIDS+=("$stress")
    sleep 0.5
  fi
  local senders=() link0 pace=()
  link0=$(link_drops)
  for s in "${streams[@]}"; do
    IFS=: read -r name port rate size <<<"$s"
    ip netns exec "$p" "$UDPTOOL" send --dst "198.18.0.1:$port" --size "$size" --rate $((rate / 8 / size)) \
        --seconds "$((seconds + 4))" --count 100000000 --fifo 50 --cpu 0 >/dev/null 2>&1 & senders+=($!)
  done
  [ -n "$flood_pps" ] && pace=(--rate "$flood_pps" --burst 64)
  ip netns exec "$p" "$UDPTOOL" flood --ifname "$b" --src-mac "$mac_p" --dst-mac "$dst_mac" \
      --src 198.18.0.2:7000 --dst "198.18.0.1:$flood_port" --size 64 "${pace[@]}" --seconds "$((seconds + 4))" \
      --fifo 40 --cpu 0 >/dev/null 2>&1 &
  senders+=($!)
  PIDS+=("${senders[@]}")
  # The receivers stop about 1 s after the snapshot. It runs SCHED_FIFO 30 (below the RT threads, above
  # the load), or the load would delay it past the receivers' end and their counters would be gone.
  ( chrt -f -p 30 "$BASHPID" >/dev/null; sleep "$((seconds + 1))"; snapshot "$label" "$stack" "$link0" ) &
  local snap=$!
  PIDS+=("$snap")
  for q in "${receivers[@]}"; do wait "$q" || true; done
  wait "$snap" || true
  stop_all "${senders[@]}" $stress
  if [ -n "$rtud" ]; then
    ip netns exec "$n" "$BIN/rtuctl" rtus --json >"$work/$label.rtus.json" 2>/dev/null || true
    stop_all "$rtud"
  else
    ip -n "$n" addr del 198.18.0.1/24 dev "$a"
  fi
  PIDS=()
  echo "  $label done" >&2
}

read -r -a loads <<<"${loads_given:-idle load4 load16}"
echo "== reserved streams end to end: rtuctl-created reservations, rtu-udp receivers on RTUClient, a best-effort 64-byte flood${flood_pps:+ at $flood_pps/s}; idle, and stress-ng with 4 and 16 CPU hogs per core ($(nproc) cores); ${seconds}s each"
if [ -n "$nic_thread" ]; then
  echo "   receive-side kernel network work on core 1 (threaded NAPI, thread $nic_thread): SCHED_FIFO 51 for rtud and kernel-rt, SCHED_OTHER for rtud-off and kernel"
else
  echo "   receive-side kernel network work in the sender's context on core 0 (veth without NAPI)"
fi
labels=()
for stack in $stacks; do
  for load in "${loads[@]}"; do
    run "$stack-$load" "$stack" "$load"
    labels+=("$stack-$load")
  done
done

PYTHONPATH=scripts /usr/bin/python3 - "$work" "$plot" "${labels[@]}" -- "${streams[@]}" <<'EOF'
import json
import os
import sys
from benchdata import last_json, pyplot
work, plot = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
labels, streams = rest[:rest.index("--")], rest[rest.index("--") + 1:]
def intervals(label, name):
    return last_json(f"{work}/{label}.{name}.json").get("intervals", [])
specs = []
for s in streams:
    name, port, rate, size = s.split(":")
    specs.append((name, int(rate), int(rate) / 8 / int(size)))
print(f"{'':>16} | " + " | ".join(f"{n} {r / 1e6:.0f} Mbit/s".center(17) for n, r, _ in specs) + " |  flood  |")
print(f"{'stack, load':>16} | " + " | ".join(f"{'share':>7} {'worst':>9}" for _ in specs) + " |  pkt/s  |")
results = {}
for l in labels:
    line = f"{l:>16} |"
    for name, rate, pps in specs:
        iv = intervals(l, name)
        share = sum(iv) / (pps * len(iv) / 4) if iv else 0.0
        worst = min(iv) / (pps / 4) if iv else 0.0
        results.setdefault(l, {})[name] = iv
        line += f" {share * 100:>6.1f}% {worst * 100:>8.0f}% |"
    iv = intervals(l, "flood")
    line += f" {(sum(iv) / (len(iv) / 4) / 1000 if iv else 0):>6.0f}k |"
    print(line)
def lost(label):
    """Datagrams of the three reserved streams lost so far, by where: (app, stack, link);
    None when the run's snapshot left no counters."""
    base, app, stack = f"{work}/{label}", 0, 0
    if not os.path.exists(f"{base}.drops"):
        return None
    link = int(open(f"{base}.drops").read().split()[1])   # "link_ring N", written by snapshot
    ports = {int(s.split(":")[1]) for s in streams}
    if os.path.exists(f"{base}.udp"):   # kernel sockets: /proc/net/udp, each socket's local address:port (hex), its drops last
        for row in open(f"{base}.udp").readlines()[1:]:
            f = row.split()
            if int(f[1].split(":")[1], 16) in ports:
                app += int(f[-1])
        return app, stack, link
    try:
        socks = json.load(open(f"{base}.sockets.json"))
        stats = json.load(open(f"{base}.stats.json"))
    except (OSError, ValueError):
        return None
    for sk in socks:
        if int(sk["local"].rsplit(":", 1)[1]) in ports:
            app += sk["counters"].get("dropped_ring_full", 0)
            stack += sk["counters"].get("dropped_channel_full", 0)
    link += sum(v.get("link_rx_dropped", 0) for v in stats.values() if isinstance(v, dict))
    return app, stack, link
print()
print(f"{'stack, load':>16} | where the reserved streams' datagrams were lost, up to 1 s before the end")
for l in labels:
    w = lost(l)
    if w is None:
        print(f"{l:>16} | (no counters)")
        continue
    print(f"{l:>16} | application behind {w[0]:>8} | stack behind {w[1]:>8} | link ring (all flows) {w[2]:>9}")
print()
print("application behind: the application's rtud ring or kernel socket queue was full; stack behind:")
print("rtud's channel was full (its RTU was late); link ring: frames dropped before any stack saw them,")
print("counted for every flow (the veth NAPI ring, rtud's AF_PACKET ring).")
print("share: datagrams the application received / reserved rate, over the run after a 1 s warm-up;")
print("worst: the lowest 250 ms interval (an RTU delivers a batch every 10 ms period, so an interval")
print("holds 24 to 26 of them: ±4 %; an application starved of CPU for a while shows here even when")
print("its ring kept everything and its share is whole).")
if plot:
    plt = pyplot()
    stacks = list(dict.fromkeys(l.rsplit("-", 1)[0] for l in labels))
    loads = list(dict.fromkeys(l.rsplit("-", 1)[1] for l in labels))
    fig, axes = plt.subplots(len(loads), len(specs), figsize=(5 * len(specs), 3.2 * len(loads)), sharey=True, squeeze=False)
    for row, load in enumerate(loads):
        for col, (name, rate, pps) in enumerate(specs):
            ax = axes[row][col]
            for stack in stacks:
                iv = results[f"{stack}-{load}"][name]
                ax.plot([i / 4 for i in range(len(iv))], [100 * v / (pps / 4) for v in iv], label=stack)
            ax.set_title(f"{name} ({rate / 1e6:.0f} Mbit/s reserved), {load}", fontsize=9)
            ax.set_ylim(0, 130)
            if row == len(loads) - 1:
                ax.set_xlabel("time (s)")
        axes[row][0].set_ylabel("% of reserved rate / 250 ms")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plot, dpi=80)
    print(f"plot: {plot}")
EOF
