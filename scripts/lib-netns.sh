# Sourced by the scripts that make network namespaces (shared/TESTING.md:
# their own namespaces, unique names, always deleted):
#
#   . scripts/lib-netns.sh
#   trap 'netns_cleanup "$work"' EXIT  stops PIDS, deletes the namespaces, removes the paths given
#                                      (or call netns_cleanup from the script's own trap)
#   PIDS+=("$!")                       a background process the script started, for netns_cleanup to stop
#   netns_add "$NS1" "$NS2"            each with loopback up and IPv6 off (quiet links)
#   veth "$NS1" "$DEV1" "$NS2" "$DEV2" a veth pair, DEV1 in NS1 and DEV2 in NS2 (or both in one), both up
#   kernel_peer "$NS" "$DEV" "$PEER" "$PDEV"
#                                      both namespaces, a veth DEV (NS) – PDEV (PEER), the kernel at
#                                      198.18.0.2/24 on PDEV with checksum offload off (whole checksums)
#   stop_all PID...                    kills the processes and waits for them
#   mac_of "$NS" "$DEV"                the device's MAC address
#   wait_for_text FILE TEXT SECONDS [PID]
#                                      until FILE holds TEXT: fails when PID exits first or time runs out

NETNS_MADE=()
PIDS=()

netns_add() {
    local ns
    for ns in "$@"; do
        ip netns add "$ns" || return 1
        NETNS_MADE+=("$ns")
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    done
}

# netns_cleanup [PATH...]: stops the processes in PIDS (first: they run in
# the namespaces), deletes every namespace netns_add made (and with them their
# devices), and removes the PATHs (the script's scratch directories).
netns_cleanup() {
    local ns
    stop_all "${PIDS[@]}"
    PIDS=()
    for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    NETNS_MADE=()
    rm -rf -- "$@"
}

veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" &&
        ip -n "$1" link set "$2" up &&
        ip -n "$3" link set "$4" up
}

kernel_peer() {
    netns_add "$1" "$3" &&
        veth "$1" "$2" "$3" "$4" &&
        ip -n "$3" addr add 198.18.0.2/24 dev "$4" &&
        ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
}

stop_all() {
    local q
    for q in "$@"; do kill "$q" 2>/dev/null || true; done
    for q in "$@"; do wait "$q" 2>/dev/null || true; done
}

mac_of() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

wait_for_text() {
    local file=$1 text=$2 pid=${4:-} i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.05
    done
    grep -qF -- "$text" "$file" 2>/dev/null
}
