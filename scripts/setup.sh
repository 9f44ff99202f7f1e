#!/usr/bin/env bash
# Idempotent set-up of everything rtud's build, tests and benchmarks need on a
# fresh Debian machine. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  libpcap-dev          # capture files and BPF filters (CShims links libpcap)
  iproute2             # ip netns / veth / tuntap for the real-traffic tests
  iputils-ping         # the kernel peer's ping
  tshark               # decodes rtud's pcap files in the tests
  tcpdump
  iperf3               # kernel-side traffic in benchmarks
  stress-ng            # background CPU load in the real-time benchmarks
  python3-matplotlib   # plots in BENCHMARKS.md
  libclang-rt-14-dev   # sanitizer runtimes
  linux-perf
  util-linux           # taskset, chrt
  ethtool              # checksum offload off on veth peers (AF_PACKET sees partial checksums otherwise)
  gcc                  # bench/c helpers (udptool, linkloop, malloc_count)
  systemd              # systemd-analyze verify of systemd/rtud.service (ServiceTests)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 5 ]; then echo "setup: '$*' failed $n times" >&2; return 1; fi
    echo "setup: '$*' failed, retrying in $((n * 5)) s" >&2
    sleep $((n * 5))
  done
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, no prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  retry apt-get update -q
  retry apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all system packages present"
fi

command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
command -v swift >/dev/null || { echo "setup: no Swift toolchain on PATH" >&2; exit 1; }
