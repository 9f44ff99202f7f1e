#!/usr/bin/env bash
# ATM adaptor benchmark (issue 6): CPU cost per cell of segmentation and
# reassembly (median of rounds), UDP goodput over the emulated OC-3c at MTU
# 9180 and 1500 on a simulated clock against ATM-FACTS.md's physical limits,
# and three CBR VCs sharing the line against their PCRs. No traffic leaves
# the process (an in-memory carrier), so no root and no namespaces.
# Usage: scripts/bench-atm.sh [rounds] [PLOT.png]
#   rounds: default 31. Raw results: bench-out/atm.jsonl (a "meta" line, then
#   one JSON object per figure). PLOT: also draw them there (scripts/plot_atm.py;
#   BENCHMARKS.md uses docs/bench/atm.png).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=31
PLOT=""
for arg in "$@"; do
    case $arg in
        '' | *[!0-9]*) PLOT=$arg ;;
        *) ROUNDS=$arg ;;
    esac
done
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
PY=/usr/bin/python3   # Debian's, with python3-matplotlib (scripts/setup.sh)
if [ -n "$PLOT" ] && ! "$PY" -c 'import matplotlib' 2>/dev/null; then bash scripts/setup.sh; fi
SCRATCH=${SCRATCH:-.build-atm}
echo "building atm-bench (release)..." >&2
swift build -c release --scratch-path "$SCRATCH" --product atm-bench >&2
BENCH="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/atm-bench"
mkdir -p bench-out
OUT=bench-out/atm.jsonl
# Where and when: the plot's subtitle and BENCHMARKS.md's "measured on".
PYTHONPATH=scripts "$PY" - "$OUT" "$ROUNDS" <<'EOF'
import json, os, sys
from benchdata import run_meta
meta = run_meta(bench="meta", rounds=int(sys.argv[2]), load_average=os.getloadavg()[0])
with open(sys.argv[1], "w") as f:
    f.write(json.dumps(meta) + "\n")
EOF
# Pinned to one CPU when taskset is there, so the per-cell figures do not
# include migrations.
if command -v taskset >/dev/null; then
    taskset -c 1 "$BENCH" "$ROUNDS" --json "$OUT"
else
    "$BENCH" "$ROUNDS" --json "$OUT"
fi
if [ -n "$PLOT" ]; then
    mkdir -p "$(dirname "$PLOT")"
    "$PY" scripts/plot_atm.py "$OUT" "$PLOT"
fi
