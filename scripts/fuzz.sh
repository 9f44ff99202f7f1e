#!/usr/bin/env bash
# Fuzzes every Wire parser with libFuzzer + AddressSanitizer.
#
#   scripts/fuzz.sh [seconds]     (default 30; CI runs a ~20 s smoke run)
#
# Compiles Sources/Wire/*.swift together with Fuzz/FuzzFrames.swift in one
# module (swiftc directly: SwiftPM has no fuzzer build mode), seeds a working
# corpus in .build-fuzz/corpus from the committed Fuzz/corpus, and runs for the
# given time. Exits non-zero on a crash, an ASan report or a failed invariant;
# the crashing input is left in .build-fuzz/ (crash-*), reproducible with
#   .build-fuzz/fuzz-frames .build-fuzz/crash-<hash>
set -euo pipefail

seconds=${1:-30}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/.build-fuzz"
command -v swiftc >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

mkdir -p "$out/corpus"
echo "fuzz: compiling (swiftc -sanitize=fuzzer,address -O)"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name WireFuzz \
  "$root"/Sources/Wire/*.swift "$root/Fuzz/FuzzFrames.swift" -o "$out/fuzz-frames"

# Seeds: the committed frames; the corpus the fuzzer grows stays in .build-fuzz.
cp "$root"/Fuzz/corpus/* "$out/corpus/"

echo "fuzz: running for ${seconds} s"
# libFuzzer reports crashes itself; Swift's backtracer would only delay (or,
# without a terminal, stall) the exit.
export SWIFT_BACKTRACE=enable=no
"$out/fuzz-frames" "$out/corpus" \
  -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/"
echo "fuzz: no crash in ${seconds} s"
