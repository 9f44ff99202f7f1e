#!/usr/bin/env bash
# RTU scheduler benchmark (issue 3): release lateness and deadline misses of
# an RTU set using ~60 % of one core, idle and under stress-ng (four CPU hogs
# per core), SCHED_FIFO against SCHED_OTHER, in one run, every miss
# attributed to its cause (machine stall, kernel or RT throttling, guest
# scheduling, overrun) from evidence taken at the same moment; dispatcher
# overhead. Needs root (or CAP_SYS_NICE) for SCHED_FIFO. Raw records (per
# job, per witness wake-up, per miss): bench-out/; plot:
# docs/bench/sched-lateness.png. Takes about 110 s with the default 20 s per
# configuration (~34,000 releases each).
#   usage: scripts/bench-sched.sh [sched-bench options, e.g. --seconds 20 --cpu 1]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
command -v stress-ng >/dev/null || bash scripts/setup.sh
swift build -c release --scratch-path .build-rtu --product sched-bench
mkdir -p bench-out docs/bench
.build-rtu/release/sched-bench --out bench-out "$@" | tee bench-out/sched-summary.md
/usr/bin/python3 scripts/plot_sched.py bench-out docs/bench/sched-lateness.png
