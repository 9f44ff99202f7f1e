#!/usr/bin/env bash
# The emulated OC-3c end to end (issue 6, item 5 and its done-criterion) with
# real daemons: two rtud, A and B, each in its own namespace on its end of a
# veth (driver = "af_packet"), link = "atm", applications on RTUClient
# (rtu-udp) sending on A and receiving on B. Measures, each beside its
# baseline from the same run:
#
#   goodput     one UBR VC, a sender application on A as fast as its socket
#               accepts (payload = MTU - 28), a receiver on B counting; MTU
#               9180 and 1500 against ATM-FACTS.md's physical limits; also with
#               the sender paced at 105 % of the line's packet rate, and at
#               9180 with rtud's default 8 cells per carrier frame
#   baseline    the same programs over the same veth with link = "ethernet"
#               at 9180 and 1500
#   cell clock  A's captures: the carrier's cell frames (--pcap; timestamped
#               when rtud hands them to the carrier) and the AAL5 PDUs
#               (--pcap-pdu; each stamped with the cell slot of its last
#               cell): the most cells in any window of 1, 2.5, 5, 10 and 100 ms
#               against 353,207.5 cells/s x window + 1, and the mean rate
#   CBR         three CBR VCs (PCR 150,000 / 120,000 / 80,000 cells/s, as in
#               atm-bench) and a backlogged UBR VC on one line, a best-effort
#               socket bound to each VC offered 110 % of its PCR (so the VC's
#               GCRA is the limit; a reservation above the PCR is refused);
#               receivers on B count cells/s per VC against the PCR
#   reference   atm-bench's goodput on a simulated clock (the adaptor alone)
#
# Cores: each host on its own core, as if they were two machines: A's
# dispatcher and the senders on core 0, B's dispatcher and the receivers on
# core 1, so neither's receive or cell clock waits behind the other's. The
# applications are SCHED_OTHER at nice -10: the SCHED_FIFO dispatcher
# preempts them, and other work on a shared machine does not starve them.
# An unpaced sender then gets what A's dispatcher leaves of core 0, which is
# still far more than the line carries; a receiver left without the CPU for
# longer than its ring holds (1 MiB: 61 ms at MTU 9180) would lose datagrams.
#
# Prints tables; raw JSON in bench-out/atm-e2e/ (results.json, and per run
# the receivers' output, both daemons' counters, sockets and RTUs, and the
# analysis of the captures); PLOT: a figure (scripts/plot_atm_e2e.py). Root;
# its own namespaces, 198.18.0.0/15 only; everything removed on exit.
#
#   scripts/bench-atm-e2e.sh [SECONDS] [PLOT.png]        (default 10 s a run, about 8 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-atm-e2e: needs root (namespaces, AF_PACKET, SCHED_FIFO)"; exit 1; }
seconds=${1:-10}
plot=${2:-}
case $seconds in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS] [PLOT.png]"; exit 2 ;; esac

bash scripts/setup.sh >/dev/null
export PATH=/opt/swift/usr/bin:$PATH
PY=/usr/bin/python3   # Debian's, with python3-matplotlib and numpy (scripts/setup.sh)
for p in rtud rtuctl rtu-udp atm-bench; do swift build -c release --product "$p" 2>&1 | tail -n 1; done
BIN=$(swift build -c release --show-bin-path)
. scripts/lib-netns.sh

out=bench-out/atm-e2e
rm -rf "$out"
mkdir -p "$out"
na="rtae-a-$$"; nb="rtae-b-$$"; da="rtaa$$"; db="rtab$$"
work=""; shm=""
trap 'netns_cleanup "$work" "$shm"' EXIT   # PIDS: what the run in progress started
work=$(mktemp -d)
# A's captures (hundreds of MB a run, deleted after its analysis) go to
# tmpfs: written inside NAME.atm, they should cost it memory copies, not a
# file system's block allocation and writeback.
shm=$(mktemp -d -p /dev/shm rtae.XXXXXX)
netns_add "$na" "$nb"
veth "$na" "$da" "$nb" "$db"
addr_a=198.18.0.1; addr_b=198.18.0.2
LINE=353207.5

ns_of() { if [ "$1" = a ]; then echo "$na"; else echo "$nb"; fi; }
ctl() { local side=$1; shift; ip netns exec "$(ns_of "$side")" env RTUD_CONTROL="$work/$side.sock" "$BIN/rtuctl" "$@"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
# Time the hypervisor ran something else on each vCPU (/proc/stat steal, in USER_HZ ticks).
steal() { awk '/^cpu[0-9]/ { printf "%s%s", sep, $9; sep = "," }' /proc/stat; }

# config SIDE LINK MTU CELLS_PER_FRAME PVC...   PVC = VPI/VCI:category[:pcr]; the first is the peer's default VC.
config() {
  local side=$1 link=$2 mtu=$3 cpf=$4 core dev addr peer
  shift 4
  if [ "$side" = a ]; then core=0; dev=$da; addr=$addr_a; peer=$addr_b; else core=1; dev=$db; addr=$addr_b; peer=$addr_a; fi
  cat <<EOF
[daemon]
control_socket = "$work/$side.sock"
rt_cores = [$core]

[[interface]]
name = "if0"
driver = "af_packet"
device = "$dev"
address = "$addr/24"
mtu = $mtu
link = "$link"
EOF
  local p vc cat pcr
  for p in "$@"; do
    IFS=: read -r vc cat pcr <<<"$p"
    printf '\n[[interface.pvc]]\nvc = "%s"\npeer = "%s"\ncategory = "%s"\n' "$vc" "$peer" "$cat"
    if [ -n "$pcr" ]; then printf 'pcr = %s\n' "$pcr"; fi
  done
  if [ "$link" = atm ]; then printf '\n[atm]\ncells_per_frame = %s\n' "$cpf"; fi
}

# start_pair RUN LINK MTU CELLS_PER_FRAME PVC...: both daemons, A capturing its
# carrier's frames and its AAL5 PDUs on an ATM link.
start_pair() {
  local run=$1 link=$2 mtu=$3 cpf=$4 side
  shift 4
  mkdir -p "$out/$run"
  echo "{\"load_average_start\":$(loadavg),\"steal_ticks\":[$(steal)]}" >"$out/$run/start.json"
  # The carrier keeps the veth's MTU: 1500 under the cells (28 cells a frame
  # at most, RFC 4717), the packets' MTU for the Ethernet baseline.
  local carrier=1500
  if [ "$link" = ethernet ]; then carrier=$mtu; fi
  ip -n "$na" link set "$da" mtu "$carrier"
  ip -n "$nb" link set "$db" mtu "$carrier"
  for side in b a; do
    config "$side" "$link" "$mtu" "$cpf" "$@" >"$out/$run/rtud-$side.toml"
    local extra=()
    if [ "$side" = a ] && [ "$link" = atm ]; then extra=(--pcap "$shm/cells.pcap" --pcap-pdu "$shm/pdu.pcap"); fi
    ip netns exec "$(ns_of $side)" "$BIN/rtud" --config "$out/$run/rtud-$side.toml" "${extra[@]}" >"$out/$run/rtud-$side.log" 2>&1 &
    PIDS+=($!)
    if [ "$side" = a ]; then rtud_a=$!; else rtud_b=$!; fi
    wait_for_text "$out/$run/rtud-$side.log" "ready" 30 "$!" || { cat "$out/$run/rtud-$side.log"; echo "rtud $side did not start"; exit 1; }
  done
}

# stop_pair RUN: both daemons' counters, sockets and RTUs into the run's directory, then stop them
# (A's captures are complete once it has stopped).
stop_pair() {
  local run=$1 side
  for side in a b; do
    ctl "$side" stats --json >"$out/$run/stats-$side.json"
    ctl "$side" socket list --json >"$out/$run/sockets-$side.json"
    ctl "$side" rtus --json >"$out/$run/rtus-$side.json"
  done
  stop_all "$rtud_a" "$rtud_b"
  PIDS=()
}

# flow_sockets NAME PORT [VC]: socket NAME on B (bound) and on A (connected to B's), on VC if given.
receivers=(); senders=()
flow_sockets() {
  local name=$1 port=$2 vc=${3:-}
  local vcs=()
  if [ -n "$vc" ]; then vcs=(--vc "$vc"); fi
  ctl b socket create "$name" --bind "$addr_b:$port" "${vcs[@]}" >/dev/null
  ctl a socket create "$name" --bind "$addr_a:$port" --connect "$addr_b:$port" "${vcs[@]}" >/dev/null
}
start_receiver() {   # RUN NAME: counts per 250 ms from 1 s after its first datagram
  local run=$1 name=$2
  ip netns exec "$nb" env RTUD_CONTROL="$work/b.sock" nice -n -10 taskset -c 1 "$BIN/rtu-udp" recv --attach "$name" --seconds "$((seconds + 8))" \
      --idle-timeout 1 --intervals 250 --warmup 1 >"$out/$run/recv-$name.json" 2>"$out/$run/recv-$name.err" &
  receivers+=($!); PIDS+=($!)
  wait_for_text "$out/$run/recv-$name.json" ready 10 "$!" || { cat "$out/$run/recv-$name.err"; echo "receiver $name did not start"; exit 1; }
}
start_sender() {   # RUN NAME PAYLOAD PPS (0: as fast as the socket accepts)
  local run=$1 name=$2 payload=$3 pps=$4
  local pacing=()
  if [ "$pps" != 0 ]; then pacing=(--pps "$pps"); fi
  ip netns exec "$na" env RTUD_CONTROL="$work/a.sock" nice -n -10 taskset -c 0 "$BIN/rtu-udp" send --attach "$name" --size "$payload" \
      --count 2000000000 "${pacing[@]}" >"$out/$run/send-$name.json" 2>"$out/$run/send-$name.err" &
  senders+=($!); PIDS+=($!)
}
# finish_flows RUN: the senders run SECONDS + 1.5 s (1 s of warm-up; the receivers' last,
# partial interval is left out), then are stopped; the receivers end 1 s after their last datagram.
finish_flows() {
  local run=$1 q
  sleep "$((seconds / 2))"
  # Other SCHED_FIFO processes on the machine half-way through (not kernel threads, not ours): they share
  # the cores' real-time time with A and B (and their throttling at 95 %).
  ps -eo pid,ppid,cls,rtprio,psr,comm --no-headers | awk -v a="$rtud_a" -v b="$rtud_b" \
      '$3 == "FF" && $2 != 2 && $1 != a && $1 != b && $4 < 99 { print $6 " (pid " $1 ", prio " $4 ", cpu " $5 ")" }' \
      | grep -v '^watchdogd' >"$out/$run/other-fifo.txt" || true
  sleep "$((seconds - seconds / 2)).5"; sleep 1
  stop_all "${senders[@]}"
  for q in "${receivers[@]}"; do wait "$q" || true; done
  echo "{\"sender_seconds\":$((seconds + 1)).5,\"load_average_end\":$(loadavg),\"steal_ticks\":[$(steal)]}" >"$out/$run/end.json"
  receivers=(); senders=()
}

# analyse_captures RUN PVC...: A's two captures → RUN/clock.json; then deleted (hundreds of MB).
analyse_captures() {
  local run=$1 mac
  shift
  # The carrier frames A sent: from rtud A's MAC (its log says which).
  mac=$(grep -o ' at [0-9a-f:]\{17\}' "$out/$run/rtud-a.log" | head -1 | cut -c5-)
  "$PY" - "$shm/cells.pcap" "$shm/pdu.pcap" "$mac" "$LINE" "$@" >"$out/$run/clock.json" <<'EOF'
import json, struct, sys
import numpy as np
cells_path, pdu_path, mac, line = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", "")), float(sys.argv[4])
pcrs = {}
for p in sys.argv[5:]:
    vc, cat, pcr = (p.split(":") + [""])[:3]
    pcrs[vc] = float(pcr) if pcr else None
WINDOWS_MS = (1, 2.5, 5, 10, 100)

def records(path):
    data = open(path, "rb").read()
    assert struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4, "a microsecond pcap file"
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        yield sec, usec, data[off + 16: off + 16 + incl]
        off += 16 + incl

def most_in_windows(t, cum, unit):
    """The most cells in any window [t_i, t_i + W) (t sorted, cum[k] = cells of the first k entries)."""
    found = {}
    for ms in WINDOWS_MS:
        w = ms * unit
        end = np.searchsorted(t, t + w, side="left")
        found[str(ms)] = int((cum[end] - cum[:len(t)]).max())
    return found

def limit(rate, ms):
    return int(rate * ms / 1000) + 1

# A CBR VC is shaped to GCRA(1/PCR, CDVT), rtud's CDVT being 10 slots (28,320 ns):
# at most (W + CDVT) x PCR + 1 cells in a window W.
CDVT_MS = 10 * 2832 / 1e6
def pcr_limit(pcr, ms):
    return int(pcr * (ms + CDVT_MS) / 1000) + 1

# 1. The carrier frames A sent (RFC 4717 N-to-one: 14-byte Ethernet, 4-byte
# MPLS label, 4-byte control word, 52-byte cells), stamped by PcapCapture with
# one CLOCK_REALTIME read per transmit call, in microseconds: when rtud handed
# them to the carrier, not when their cells' slots were.
ts, n_cells = [], []
for sec, usec, frame in records(cells_path):
    if frame[6:12] == mac and frame[12:14] == b"\x88\x47":
        ts.append(sec * 1_000_000 + usec)
        n_cells.append((len(frame) - 22) // 52)
ts, n_cells = np.array(ts, dtype=np.int64), np.array(n_cells, dtype=np.int64)
t, first = np.unique(ts, return_index=True)
per_call = np.add.reduceat(n_cells, first)
cum = np.concatenate(([0], np.cumsum(per_call)))
span = (t[-1] - t[0]) / 1e6
handoff = {"frames": int(len(ts)), "cells": int(n_cells.sum()), "transmit_calls": int(len(t)), "span_s": span,
           "mean_cells_per_s": float((n_cells.sum() - per_call[-1]) / span),
           "cells_per_call_max": int(per_call.max()), "cells_per_call_median": float(np.median(per_call)),
           "call_gap_median_us": float(np.median(np.diff(t))), "call_gap_max_us": int(np.diff(t).max()),
           "most_cells": most_in_windows(t, cum, 1000), "limit": {str(ms): limit(line, ms) for ms in WINDOWS_MS},
           # Cells per ms over the first 200 ms after 1 s, for the plot.
           "cells_per_ms": np.bincount(((ts[ts >= ts[0] + 1_000_000] - ts[0] - 1_000_000) // 1000).astype(np.int64),
                                       weights=n_cells[ts >= ts[0] + 1_000_000]).astype(int)[:200].tolist()}

# 2. The AAL5 PDUs A sent (ERF type 4, interface 1 = transmit), each stamped
# by the transmitter with the slot time of its last cell (ns). One VC's PDUs
# go one after the other, so the cells of its PDUs i+1..j all lie in slots
# (t_i, t_j]: the count in any window between two PDU ends is exact.
per_vc = {}
for sec, usec, rec in records(pdu_path):
    stamp, _type, flags = struct.unpack_from("<QBB", rec, 0)
    if flags & 3 != 1:
        continue
    word = struct.unpack_from(">I", rec, 16)[0]
    vc = f"{(word >> 20) & 0xFF}/{(word >> 4) & 0xFFFF}"
    ns = (stamp >> 32) * 1_000_000_000 + (((stamp & 0xFFFFFFFF) * 1_000_000_000 + (1 << 32) - 1) >> 32)
    per_vc.setdefault(vc, []).append((ns, (len(rec) - 20) // 48))
slots = {}
for vc, pdus in sorted(per_vc.items()):
    tv = np.array([p[0] for p in pdus], dtype=np.int64)
    cv = np.array([p[1] for p in pdus], dtype=np.int64)
    # cum[k]: cells of PDUs 1..k, so cum[j] - cum[i] = the cells of PDUs i+1..j.
    cum = np.concatenate(([0], np.cumsum(cv[1:])))
    most = {}
    for ms in WINDOWS_MS:
        w = int(ms * 1_000_000)
        end = np.searchsorted(tv, tv + w, side="right") - 1
        most[str(ms)] = int((cum[end] - cum[:len(tv)]).max())
    # Steady rate: PDU ends from 1 s after the first to 0.5 s before the last.
    a = int(np.searchsorted(tv, tv[0] + 1_000_000_000))
    b = int(np.searchsorted(tv, tv[-1] - 500_000_000)) - 1
    pcr = pcrs.get(vc)
    slots[vc] = {"pdus": len(tv), "cells": int(cv.sum()), "pcr": pcrs.get(vc),
                 "steady_cells_per_s": float((cum[b] - cum[a]) / ((tv[b] - tv[a]) / 1e9)) if b > a else 0.0,
                 "most_cells": most,
                 "limit": {str(ms): pcr_limit(pcr, ms) if pcr else limit(line, ms) for ms in WINDOWS_MS},
                 "limit_is": "pcr" if pcrs.get(vc) else "line"}
print(json.dumps({"handoff": handoff, "slots": slots}))
EOF
  rm -f "$shm/cells.pcap" "$shm/pdu.pcap"
}

goodput_run() {   # LABEL LINK MTU CELLS_PER_FRAME PACING (0: unpaced; else a share of the line's packet rate)
  local run=$1 link=$2 mtu=$3 cpf=$4 pacing=$5 pps=0
  echo "  $run (load average $(loadavg))" >&2
  if [ "$link" = atm ]; then start_pair "$run" atm "$mtu" "$cpf" 0/100:ubr; else start_pair "$run" ethernet "$mtu" 0; fi
  if [ "$pacing" != 0 ]; then
    local cells=$(( (mtu + 16 + 47) / 48 ))
    pps=$("$PY" -c "print(round($LINE / $cells * $pacing, 1))")
  fi
  echo "{\"run\":\"$run\",\"link\":\"$link\",\"mtu\":$mtu,\"cells_per_frame\":$cpf,\"pacing\":$pacing,\"pps\":$pps}" >"$out/$run/setup.json"
  flow_sockets flow 5000
  start_receiver "$run" flow
  start_sender "$run" flow "$((mtu - 28))" "$pps"
  finish_flows "$run"
  stop_pair "$run"
  if [ "$link" = atm ]; then analyse_captures "$run" 0/100:ubr; fi
}

# The CBR run: PCR 150,000 / 120,000 / 80,000 cells/s (atm-bench's), 1500-byte
# packets (32 cells); a dedicated UBR VC, 0/60, gets what they leave
# (3,207.5 cells/s = 100 packets/s) and is offered 2,000 packets/s. The peer's
# default VC, 0/100, carries ARP and ICMP and no socket may bind it.
cbr_vcs=(0/50:cbr:150000 0/51:cbr:120000 0/52:cbr:80000)
cbr_run() {
  local run=cbr-atm-1500 p vc cat pcr
  echo "  $run (load average $(loadavg))" >&2
  start_pair "$run" atm 1500 28 0/100:ubr 0/60:ubr "${cbr_vcs[@]}"
  echo "{\"run\":\"$run\",\"link\":\"atm\",\"mtu\":1500,\"cells_per_frame\":28}" >"$out/$run/setup.json"
  for p in "${cbr_vcs[@]}" 0/60:ubr:; do
    IFS=: read -r vc cat pcr <<<"$p"
    flow_sockets "vc${vc#0/}" "$((5000 + ${vc#0/}))" "$vc"
    start_receiver "$run" "vc${vc#0/}"
  done
  for p in "${cbr_vcs[@]}" 0/60:ubr:; do
    IFS=: read -r vc cat pcr <<<"$p"
    # 110 % of the PCR in 32-cell packets; UBR 2,000 packets/s.
    if [ -n "$pcr" ]; then start_sender "$run" "vc${vc#0/}" 1472 "$((pcr * 11 / 320))"; else start_sender "$run" "vc${vc#0/}" 1472 2000; fi
  done
  finish_flows "$run"
  stop_pair "$run"
  analyse_captures "$run" 0/100:ubr 0/60:ubr "${cbr_vcs[@]}"
}

echo "== ATM end to end: two rtud (A core 0, B core 1) over a veth, link = atm vs ethernet, ${seconds}s a run; $(nproc) CPUs, load average $(loadavg)"
goodput_run atm-9180 atm 9180 28 0
goodput_run atm-9180-paced atm 9180 28 1.05
goodput_run atm-9180-8cells atm 9180 8 0
goodput_run ethernet-9180 ethernet 9180 0 0
goodput_run atm-1500 atm 1500 28 0
goodput_run atm-1500-paced atm 1500 28 1.05
goodput_run ethernet-1500 ethernet 1500 0 0
cbr_run
# The adaptor alone on a simulated clock (BENCHMARKS.md's atm-bench), for reference.
taskset -c 1 "$BIN/atm-bench" 3 --json "$out/atm-bench.jsonl" >/dev/null

PYTHONPATH=scripts "$PY" - "$out" "$seconds" "$LINE" <<'EOF'
import json, os, sys
from benchdata import run_meta, last_json as last_json_of
out, seconds, line = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def load(run, name): return json.load(open(f"{out}/{run}/{name}"))
def last_json(run, name): return last_json_of(f"{out}/{run}/{name}")
def sent(run, name):
    return next(s for s in load(run, "sockets-a.json") if s["name"] == name)["counters"]["sent"]
def atm_rtu(run):
    r = next((r for r in load(run, "rtus-a.json") if r["name"] == "if0.atm"), None)
    if r is None:
        return None
    found = {k: r[k] for k in ("invocations", "overruns", "deadline_misses", "lateness_p99_ns", "lateness_max_ns",
                                "execution_p50_ns", "execution_p99_ns", "execution_max_ns", "budget_ns")}
    ticks = os.sysconf("SC_CLK_TCK")
    found["other_fifo_processes"] = open(f"{out}/{run}/other-fifo.txt").read().split("\n")[:-1]
    found["steal_ms_per_cpu"] = [(b - a) * 1000 / ticks for a, b in zip(load(run, "start.json")["steal_ticks"],
                                                                       load(run, "end.json")["steal_ticks"])]
    return found
def losses(run):
    """Every non-zero counter of either daemon that counts a loss, and the cell slots A's clock forfeited."""
    found = {}
    for side in "ab":
        for k, v in load(run, f"stats-{side}.json").get("if0", {}).items():
            if v and any(s in k for s in ("drop", "forfeit", "would_block", "no_buffer", "errors", "lost")):
                found[f"{side}.{k}"] = int(v)
        for s in load(run, f"sockets-{side}.json"):
            for k, v in s["counters"].items():
                if v and ("drop" in k or "fail" in k):
                    found[f"{side}.{s['name']}.{k}"] = int(v)
    # ARP is not needed on a PVC (the adaptor answers it): one request at start-up, not a loss.
    return {k: v for k, v in found.items() if "arp_not_needed" not in k and not k.endswith("link_tx_dropped")
            and "arp_not_for_us" not in k}
LINE_BPS = 149.76e6
def cells_of(ip): return -(-(ip + 8 + 8) // 48)   # LLC/SNAP header + AAL5 trailer, in 48-byte cells
def limit_mbps(useful, ip): return LINE_BPS * useful / (53 * cells_of(ip)) / 1e6
results = {"meta": run_meta(seconds=seconds), "goodput": [], "cbr": [], "clock": {}, "losses": {}}
runs = sorted((d for d in os.listdir(out) if os.path.isdir(f"{out}/{d}")),
              key=lambda d: ["atm-9180", "atm-9180-paced", "atm-9180-8cells", "ethernet-9180", "atm-1500",
                             "atm-1500-paced", "ethernet-1500", "cbr-atm-1500"].index(d))

print()
print(f"{'run':<16} {'UDP payload':>11} {'limit':>7} {'share':>7} {'IP':>8} {'limit':>7} {'share':>7} {'worst 250ms':>11}"
      f" {'sender pkt/s':>12} {'line pkt/s':>10} {'forfeited':>9}  load")
for run in runs:
    if run.startswith("cbr"):
        continue
    s = load(run, "setup.json")
    mtu, link = s["mtu"], s["link"]
    iv = last_json(run, "recv-flow.json").get("intervals", [])
    payload = mtu - 28
    pps = sum(iv) / (len(iv) * 0.25) if iv else 0.0
    a = load(run, "stats-a.json").get("if0", {})
    row = dict(s, payload=payload, intervals=iv, datagrams_per_s=pps, udp_mbps=pps * payload * 8 / 1e6,
               ip_mbps=pps * mtu * 8 / 1e6, worst_interval_udp_mbps=min(iv) * 4 * payload * 8 / 1e6 if iv else 0.0,
               sender_datagrams=sent(run, "flow"), sender_datagrams_per_s=sent(run, "flow") / load(run, "end.json")["sender_seconds"],
               load_average=[load(run, "start.json")["load_average_start"], load(run, "end.json")["load_average_end"]],
               atm_rtu=atm_rtu(run))
    results["losses"][run] = losses(run)
    if link == "atm":
        row.update(cells_per_packet=cells_of(mtu), udp_limit_mbps=limit_mbps(payload, mtu), ip_limit_mbps=limit_mbps(mtu, mtu),
                   line_datagrams_per_s=line / cells_of(mtu), cells_sent=int(a.get("atm_tx_cells", 0)),
                   slots_forfeited=int(a.get("atm_slots_forfeited", 0)))
        results["clock"][run] = load(run, "clock.json")
        share = lambda k: f"{row[k + '_limit_mbps']:7.2f} {100 * row[k + '_mbps'] / row[k + '_limit_mbps']:6.2f}%"
        line_pps, forfeited = f"{row['line_datagrams_per_s']:10.0f}", f"{row['slots_forfeited']:9d}"
    else:
        share = lambda k: f"{'':7} {'':7}"
        line_pps, forfeited = f"{'':10}", f"{'':9}"
    results["goodput"].append(row)
    print(f"{run:<16} {row['udp_mbps']:11.2f} {share('udp')} {row['ip_mbps']:8.2f} {share('ip')} {row['worst_interval_udp_mbps']:11.2f}"
          f" {row['sender_datagrams_per_s']:12.0f} {line_pps} {forfeited}  {row['load_average'][0]:.1f}-{row['load_average'][1]:.1f}")
print("Mbit/s at the receiving application: UDP payload and IP; share: of ATM-FACTS.md's physical limit, 149.76 Mbit/s")
print("x useful bytes / (53 x cells); from the receiver's 250 ms intervals after a 1 s warm-up. sender pkt/s: what A's")
print("socket took from the sender's ring; forfeited: cell slots A's clock gave up (its NAME.atm ran later than its")
print("catch-up window).")

results["clock"]["cbr-atm-1500"] = load("cbr-atm-1500", "clock.json")
print()
head = "".join(f" {str(ms) + ' ms':>13}" for ms in (1, 2.5, 5, 10, 100))
print(f"{'cell clock, A':<34}{head}  mean cells/s  most in one call")
for run, c in results["clock"].items():
    h = c["handoff"]
    cols = "".join(f" {h['most_cells'][w]:>5} / {h['limit'][w]:<5}" for w in ("1", "2.5", "5", "10", "100"))
    print(f"{run + ': carrier frames':<34}{cols}  {h['mean_cells_per_s']:11.0f}  {h['cells_per_call_max']:16d}")
    for vc, v in c["slots"].items():
        cols = "".join(f" {v['most_cells'][w]:>5} / {v['limit'][w]:<5}" for w in ("1", "2.5", "5", "10", "100"))
        print(f"{'  PDU slot times, ' + vc + (' vs PCR' if v['pcr'] else ''):<34}{cols}  {v['steady_cells_per_s']:11.0f}")
print("most cells in any window / 353,207.5 x window + 1 (a CBR VC: PCR x (window + CDVT 28.3 us) + 1). Carrier frames: handed")
print("to the carrier then (one CLOCK_REALTIME read per transmit call, us); PDU slot times: the slot of each PDU's last cell")
print("as the transmitter assigned it (the ERF capture), windows between PDU ends of one VC. A transmit call hands over")
print("the cells of the slots since the last one: at most the catch-up window, 284 slots, when NAME.atm ran late.")

print()
run = "cbr-atm-1500"
print(f"{'CBR run, VC':<12} {'contract':<18} {'cells/s received':>16} {'of PCR':>8} {'worst 250ms':>11} {'sent (slots)':>12} {'offered':>8}")
for vc, pcr in (("0/50", 150000), ("0/51", 120000), ("0/52", 80000), ("0/60", None)):
    name = "vc" + vc.split("/")[1]
    iv = last_json(run, f"recv-{name}.json").get("intervals", [])
    cps = sum(iv) * 32 / (len(iv) * 0.25) if iv else 0.0
    row = {"vc": vc, "pcr": pcr, "cells_per_s": cps, "intervals": iv, "share": cps / pcr if pcr else None,
           "worst_interval_cells_per_s": min(iv) * 32 * 4 if iv else 0,
           "sent_cells_per_s": results["clock"][run]["slots"].get(vc, {}).get("steady_cells_per_s", 0.0),
           "offered_cells_per_s": sent(run, name) * 32 / load(run, "end.json")["sender_seconds"]}
    results["cbr"].append(row)
    contract = f"CBR PCR {pcr:,}" if pcr else "UBR (3,207.5 left)"
    share = f"{100 * row['share']:7.2f}%" if pcr else f"{'':8}"
    worst = f"{100 * row['worst_interval_cells_per_s'] / pcr:10.1f}%" if pcr else f"{row['worst_interval_cells_per_s']:11.0f}"
    print(f"{vc:<12} {contract:<18} {cps:16.0f} {share} {worst} {row['sent_cells_per_s']:12.0f} {row['offered_cells_per_s']:8.0f}")
results["losses"][run] = losses(run)
results["cbr_atm_rtu"] = atm_rtu(run)
results["cbr_load_average"] = [load(run, "start.json")["load_average_start"], load(run, "end.json")["load_average_end"]]
print("cells/s received: datagrams x 32 cells (1500-byte packets, LLC/SNAP) per 250 ms interval after 1 s; sent: the VC's")
print("cells per second of slot time in A's PDU capture; offered: what A's socket took from its sender, in cells/s.")
print(f"load average {results['cbr_load_average'][0]:.1f}-{results['cbr_load_average'][1]:.1f}")

print()
print("losses (non-zero drop counters of A and B; forfeited cell slots of A):")
for run, found in results["losses"].items():
    print(f"  {run}: " + (", ".join(f"{k}={v}" for k, v in found.items()) or "none"))
print("NAME.atm on A: lateness p99/max and execution p50/p99/max in us (budget), overruns; the longest time A handed")
print("nothing to the carrier (from its capture); hypervisor steal per vCPU:")
for row in results["goodput"] + [{"run": run, "atm_rtu": results["cbr_atm_rtu"]}]:
    r = row.get("atm_rtu")
    if r:
        r["handoff_gap_max_ms"] = results["clock"][row["run"]]["handoff"]["call_gap_max_us"] / 1e3
        print(f"  {row['run']:<16} gap {r['handoff_gap_max_ms']:.1f} ms, late {r['lateness_p99_ns'] / 1e3:.0f}/{r['lateness_max_ns'] / 1e3:.0f}, exec "
              f"{r['execution_p50_ns'] / 1e3:.0f}/{r['execution_p99_ns'] / 1e3:.0f}/{r['execution_max_ns'] / 1e3:.0f} "
              f"({r['budget_ns'] / 1e3:.0f}), overruns {r['overruns']} of {r['invocations']}; steal "
              + "/".join(f"{m:.0f}" for m in r["steal_ms_per_cpu"]) + " ms"
              + (f"; other SCHED_FIFO processes: {', '.join(r['other_fifo_processes'])}" if r["other_fifo_processes"] else ""))
ref = [json.loads(l) for l in open(f"{out}/atm-bench.jsonl") if '"goodput"' in l]
results["atm_bench_goodput"] = ref
for r in ref:
    print(f"atm-bench, simulated clock, MTU {r['mtu']:.0f}: UDP {r['udp_mbps']:.2f} of {r['udp_limit_mbps']:.2f} Mbit/s, "
          f"IP {r['ip_mbps']:.2f} of {r['ip_limit_mbps']:.2f}")
json.dump(results, open(f"{out}/results.json", "w"), indent=1)
print(f"raw: {out}/results.json")
EOF
if [ -n "$plot" ]; then
  mkdir -p "$(dirname "$plot")"
  "$PY" scripts/plot_atm_e2e.py "$out/results.json" "$plot"
fi
