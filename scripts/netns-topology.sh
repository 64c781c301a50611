#!/usr/bin/env bash
# Test hosts without NICs: network namespaces joined by veth pairs, for the
# bridge's tests and cross-host benchmarks (docs/operations.md §7.3).
#
#   scripts/netns-topology.sh [-p PREFIX] up        two hosts, one veth pair
#   scripts/netns-topology.sh [-p PREFIX] up-mcast  three hosts on a switch
#   scripts/netns-topology.sh [-p PREFIX] down      remove whatever PREFIX made
#   scripts/netns-topology.sh [-p PREFIX] status    show it
#
# PREFIX (default "sb", env SB_NETNS_PREFIX; at most 6 characters, [a-z0-9])
# names everything, so that concurrent test runs never share a namespace:
#
#   up:        ${P}A [${P}-a] <---- veth ----> [${P}-b] ${P}B
#   up-mcast:  ${P}A [${P}-a]--[${P}-sa]\
#                                         br0 in ${P}S (a learning switch)
#              ${P}B [${P}-b]--[${P}-sb]-/ \
#              ${P}C [${P}-c]--[${P}-sc]----/
#
# Host interfaces get fixed MACs (02:00:00:00:00:0a / 0b / 0c) and the
# link-local IPv4 addresses 169.254.77.1 / .2 / .3 (for the kernel UDP
# baseline); IPv6 is off on them so that no router solicitation or MLD
# report ever reaches a bridge port. Nothing leaves the namespaces: no
# interface is in the root namespace and no route leads out.
#
# Idempotent: `up` first removes what a previous run with the same PREFIX
# left. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it, or without
# `ip netns`, it exits 77 (the tests' "skipped") and says why.
set -euo pipefail

PREFIX="${SB_NETNS_PREFIX:-sb}"
if [[ "${1:-}" == "-p" ]]; then
    PREFIX="${2:?-p needs a prefix}"
    shift 2
fi
CMD="${1:-}"

log() { printf 'netns-topology: %s\n' "$*"; }
die() { printf 'netns-topology: error: %s\n' "$*" >&2; exit "${2:-1}"; }

[[ "$PREFIX" =~ ^[a-z0-9]{1,6}$ ]] || die "prefix '$PREFIX' must be 1-6 characters of [a-z0-9]" 2

NS_A="${PREFIX}A" NS_B="${PREFIX}B" NS_C="${PREFIX}C" NS_S="${PREFIX}S"
IF_A="${PREFIX}-a" IF_B="${PREFIX}-b" IF_C="${PREFIX}-c"
MAC_A=02:00:00:00:00:0a MAC_B=02:00:00:00:00:0b MAC_C=02:00:00:00:00:0c

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

need_root() {
    if [[ "$(id -u)" -ne 0 ]]; then
        log "skipped: needs root to create network namespaces"
        exit 77
    fi
    command -v ip >/dev/null 2>&1 || { log "skipped: no 'ip' command (iproute2)"; exit 77; }
    if ! ip netns list >/dev/null 2>&1; then
        log "skipped: 'ip netns' does not work here"
        exit 77
    fi
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

down() {
    local ns
    for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_S"; do
        if ns_exists "$ns"; then
            # Deleting a namespace deletes its interfaces and their peers.
            ip netns del "$ns"
            log "removed namespace $ns"
        fi
    done
}

# host_if NS IF MAC ADDR: configure a host's interface inside its namespace.
host_if() {
    local ns="$1" ifc="$2" mac="$3" addr="$4"
    ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$ifc.disable_ipv6=1" >/dev/null
    ip -n "$ns" link set "$ifc" address "$mac"
    ip -n "$ns" addr add "$addr/24" dev "$ifc"
    ip -n "$ns" link set "$ifc" up
    ip -n "$ns" link set lo up
}

up_pair() {
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
    host_if "$NS_A" "$IF_A" "$MAC_A" 169.254.77.1
    host_if "$NS_B" "$IF_B" "$MAC_B" 169.254.77.2
    log "up: $NS_A/$IF_A ($MAC_A, 169.254.77.1) <-> $NS_B/$IF_B ($MAC_B, 169.254.77.2)"
}

up_mcast() {
    local h ns ifc sw mac addr
    ip netns add "$NS_S"
    ip -n "$NS_S" link add br0 type bridge
    ip netns exec "$NS_S" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 >/dev/null
    for h in a b c; do
        case "$h" in
            a) ns="$NS_A" ifc="$IF_A" mac="$MAC_A" addr=169.254.77.1 ;;
            b) ns="$NS_B" ifc="$IF_B" mac="$MAC_B" addr=169.254.77.2 ;;
            c) ns="$NS_C" ifc="$IF_C" mac="$MAC_C" addr=169.254.77.3 ;;
        esac
        sw="${PREFIX}-s$h"
        ip netns add "$ns"
        ip link add "$ifc" netns "$ns" type veth peer name "$sw" netns "$NS_S"
        ip -n "$NS_S" link set "$sw" master br0 up
        host_if "$ns" "$ifc" "$mac" "$addr"
    done
    # No multicast snooping: a group MAC is flooded to every port, which is
    # what fan-out to every importing host needs.
    ip -n "$NS_S" link set br0 type bridge mcast_snooping 0
    ip -n "$NS_S" link set br0 up
    log "up-mcast: $NS_A/$IF_A, $NS_B/$IF_B, $NS_C/$IF_C on br0 in $NS_S"
}

status() {
    local ns
    for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_S"; do
        if ns_exists "$ns"; then
            echo "== $ns"
            ip -n "$ns" -br link
        fi
    done
}

case "$CMD" in
    up) need_root; down; up_pair ;;
    up-mcast) need_root; down; up_mcast ;;
    down) need_root; down ;;
    status) status ;;
    *) usage ;;
esac
