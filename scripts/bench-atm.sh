#!/usr/bin/env bash
# ATM adaptor benchmark (issue 6): CPU cost per cell of segmentation and
# reassembly (median of rounds), UDP goodput over the emulated OC-3c at MTU
# 9180 and 1500 on a simulated clock against ATM-FACTS.md's physical limits,
# and three CBR VCs sharing the line against their PCRs. No traffic leaves
# the process (an in-memory carrier), so no root and no namespaces.
# Usage: scripts/bench-atm.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-31}
SCRATCH=${SCRATCH:-.build-atm}
echo "building atm-bench (release)..." >&2
swift build -c release --scratch-path "$SCRATCH" --product atm-bench >&2
BENCH="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/atm-bench"
# Pinned to one CPU when taskset is there, so the per-cell figures do not
# include migrations.
if command -v taskset >/dev/null; then taskset -c 1 "$BENCH" "$ROUNDS"; else "$BENCH" "$ROUNDS"; fi
