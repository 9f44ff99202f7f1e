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
# whole run and of its worst 250 ms) and writes a plot. Removes what it made.
#
#   scripts/reserved-streams.sh [SECONDS] [PLOT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "reserved-streams: needs root (namespaces, AF_PACKET, SCHED_FIFO)"; exit 1; }
seconds=${1:-6}
plot=${2:-}

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

run() {   # run LABEL STACK LOAD — STACK: rtud, rtud-off or kernel; LOAD: idle, load4 or load16 (hogs per core)
  local label=$1 stack=$2 load=$3 rtud="" dst_mac endpoint
  PIDS=()
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
  local senders=()
  for s in "${streams[@]}"; do
    IFS=: read -r name port rate size <<<"$s"
    ip netns exec "$p" "$UDPTOOL" send --dst "198.18.0.1:$port" --size "$size" --rate $((rate / 8 / size)) \
        --seconds "$((seconds + 4))" --count 100000000 --fifo 50 --cpu 0 >/dev/null 2>&1 & senders+=($!)
  done
  ip netns exec "$p" "$UDPTOOL" flood --ifname "$b" --src-mac "$mac_p" --dst-mac "$dst_mac" \
      --src 198.18.0.2:7000 --dst "198.18.0.1:$flood_port" --size 64 --seconds "$((seconds + 4))" --fifo 40 --cpu 0 >/dev/null 2>&1 &
  senders+=($!)
  PIDS+=("${senders[@]}")
  for q in "${receivers[@]}"; do wait "$q" || true; done
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

loads=(idle load4 load16)
echo "== reserved streams end to end: rtuctl-created reservations, rtu-udp receivers on RTUClient, a best-effort 64-byte flood; idle, and stress-ng with 4 and 16 CPU hogs per core ($(nproc) cores); ${seconds}s each"
labels=()
for stack in rtud rtud-off kernel; do
  for load in "${loads[@]}"; do
    run "$stack-$load" "$stack" "$load"
    labels+=("$stack-$load")
  done
done

PYTHONPATH=scripts /usr/bin/python3 - "$work" "$plot" "${labels[@]}" -- "${streams[@]}" <<'EOF'
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
