#!/usr/bin/env bash
# test_topology.sh - the test topology script itself: `up` and `up-mcast`
# build what they promise (namespaces, veths with their MACs and addresses,
# a link that carries frames), running them twice is harmless, `down`
# removes everything and is harmless when nothing is there.  Exit 77
# without root.
set -euo pipefail

SCRIPT="${1:?usage: test_topology.sh path/to/netns-topology.sh}"
P="nt0$(printf %03x $(( $$ % 4096 )))"  # per run: concurrent runs never share namespaces

if [[ "$(id -u)" -ne 0 ]]; then
    echo "SKIP: needs root"
    exit 77
fi

cleanup() { bash "$SCRIPT" -p "$P" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
mac_of() { ip -n "$1" -br link show "$2" | awk '{print $3}'; }
rx_packets() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
# reaches NS_FROM ADDR NS_TO IF_TO: a datagram from one namespace makes
# frames (ARP at least) arrive on the other's interface.
reaches() {
    local before after
    before="$(rx_packets "$3" "$4")"
    ip netns exec "$1" bash -c "echo x > /dev/udp/$2/9" 2>/dev/null || true
    for _ in $(seq 1 500); do
        after="$(rx_packets "$3" "$4")"
        [[ "$after" -gt "$before" ]] && return 0
        sleep 0.01
    done
    return 1
}

# The script's own skip (no `ip netns` here) is ours.
rc=0
bash "$SCRIPT" -p "$P" up || rc=$?
[[ $rc -eq 77 ]] && { echo "SKIP: netns-topology.sh cannot build namespaces here"; exit 77; }
[[ $rc -eq 0 ]] || fail "up exited $rc"

check_pair() {
    ns_exists "${P}A" || fail "no namespace ${P}A"
    ns_exists "${P}B" || fail "no namespace ${P}B"
    [[ "$(mac_of "${P}A" "${P}-a")" == 02:00:00:00:00:0a ]] || fail "${P}-a has MAC $(mac_of "${P}A" "${P}-a")"
    [[ "$(mac_of "${P}B" "${P}-b")" == 02:00:00:00:00:0b ]] || fail "${P}-b has MAC $(mac_of "${P}B" "${P}-b")"
    ip -n "${P}A" -br link show "${P}-a" | grep -q 'UP' || fail "${P}-a is not up"
    # Frames cross the link (both ends inside our namespaces).
    reaches "${P}A" 169.254.77.2 "${P}B" "${P}-b" || fail "A cannot reach B"
    # Nothing of ours in the root namespace.
    ! ip -br link show "${P}-a" >/dev/null 2>&1 || fail "${P}-a visible in the root namespace"
}

check_pair
bash "$SCRIPT" -p "$P" up >/dev/null || fail "second up failed"
check_pair

bash "$SCRIPT" -p "$P" up-mcast >/dev/null || fail "up-mcast failed"
for h in A B C S; do ns_exists "${P}$h" || fail "up-mcast: no namespace ${P}$h"; done
[[ "$(mac_of "${P}C" "${P}-c")" == 02:00:00:00:00:0c ]] || fail "${P}-c has the wrong MAC"
reaches "${P}A" 169.254.77.3 "${P}C" "${P}-c" || fail "up-mcast: A cannot reach C"
reaches "${P}B" 169.254.77.3 "${P}C" "${P}-c" || fail "up-mcast: B cannot reach C"
bash "$SCRIPT" -p "$P" up-mcast >/dev/null || fail "second up-mcast failed"

bash "$SCRIPT" -p "$P" down >/dev/null || fail "down failed"
for h in A B C S; do ! ns_exists "${P}$h" || fail "down left ${P}$h"; done
bash "$SCRIPT" -p "$P" down >/dev/null || fail "down with nothing up failed"

# Prefixes are checked: a bad one is a usage error, not a half-built topology.
rc=0
bash "$SCRIPT" -p "BAD_prefix" up >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "bad prefix: exit $rc, expected 2"
echo "PASS: netns-topology.sh up, up-mcast, down (idempotent)"
