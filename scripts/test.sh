#!/usr/bin/env bash
# The test command (README; .ci/run calls it). Installs what is missing, builds,
# runs a short fuzzing smoke run, then every test target. Real-traffic tests
# need root; with CI=true a missing privilege fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH

echo "== build"
swift build --build-tests

if [ -x scripts/fuzz.sh ]; then
  echo "== fuzz smoke run"
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi

echo "== tests"
export RTUD_BIN="$PWD/.build/debug/rtud"   # the integration tests run this daemon
swift test --skip-build --no-parallel
