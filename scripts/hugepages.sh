#!/usr/bin/env bash
# Reserve 2 MiB hugepages and mount hugetlbfs at /dev/hugepages for shmbus.
#   usage: scripts/hugepages.sh [COUNT]     (default 512; env SB_HUGEPAGES)
# Idempotent: pages are reserved only when fewer are reserved already, and the
# mount is made only when no hugetlbfs is mounted at /dev/hugepages. Without
# root it changes nothing. It never fails hard: when the kernel refuses (in a
# container, say) it warns and exits 0, and shmbus falls back to /dev/shm.
set -euo pipefail

MOUNTPOINT=/dev/hugepages
SYSFS_2M=/sys/kernel/mm/hugepages/hugepages-2048kB

log() { printf 'hugepages: %s\n' "$*"; }
warn() { printf 'hugepages: warning: %s\n' "$*" >&2; }

meminfo() {
    awk -v k="$1:" '$1 == k { print $2; found = 1 } END { if (!found) print "" }' /proc/meminfo
}

report() {
    local total free
    total="$(meminfo HugePages_Total)"
    free="$(meminfo HugePages_Free)"
    log "HugePages_Total: ${total:-n/a}  HugePages_Free: ${free:-n/a}  (default page size $(meminfo Hugepagesize) kB)"
    if [[ -n "$nr_file" && "$nr_file" == "$SYSFS_2M/nr_hugepages" ]]; then
        log "2 MiB pages: total $(cat "$SYSFS_2M/nr_hugepages")  free $(cat "$SYSFS_2M/free_hugepages")"
    fi
}

fallback_exit() {
    warn "$*"
    log "shmbus will fall back to /dev/shm (slower first touch, no hugepages)"
    report
    exit 0
}

want="${1:-${SB_HUGEPAGES:-512}}"
if ! [[ "$want" =~ ^[0-9]+$ ]]; then
    log "error: page count must be a non-negative integer, got '$want'" >&2
    exit 2
fi

# Pick the knob for 2 MiB pages: the classic sysctl when 2 MiB is the default
# huge page size (x86-64), else the per-size sysfs file.
nr_file=""
if [[ "$(meminfo Hugepagesize)" == "2048" ]]; then
    nr_file=/proc/sys/vm/nr_hugepages
elif [[ -e "$SYSFS_2M/nr_hugepages" ]]; then
    nr_file="$SYSFS_2M/nr_hugepages"
fi
if [[ -z "$nr_file" || ! -r "$nr_file" ]]; then
    fallback_exit "this kernel offers no 2 MiB hugepages"
fi

have="$(cat "$nr_file")"
mounted=0
if awk -v m="$MOUNTPOINT" '$2 == m && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
    mounted=1
fi

if [[ "$(id -u)" -ne 0 ]]; then
    log "not root: changing nothing ($have pages reserved, hugetlbfs at $MOUNTPOINT: $([[ $mounted -eq 1 ]] && echo yes || echo no))"
    if [[ "$have" -eq 0 || "$mounted" -eq 0 ]]; then
        log "shmbus will fall back to /dev/shm; run as root to reserve $want pages and mount hugetlbfs"
    elif [[ "$have" -lt "$want" ]]; then
        log "fewer pages than the $want requested; run as root to reserve more"
    fi
    report
    exit 0
fi

if [[ "$have" -ge "$want" ]]; then
    log "$have pages reserved already (wanted $want); leaving as is"
else
    log "reserving $want pages of 2 MiB via $nr_file (had $have)"
    refused=0
    if ! { printf '%s\n' "$want" >"$nr_file"; } 2>/dev/null; then
        warn "the kernel refused to change $nr_file (read-only /proc/sys in a container?)"
        refused=1
    fi
    got="$(cat "$nr_file")"
    if [[ "$refused" -eq 0 && "$got" -lt "$want" ]]; then
        warn "only $got of $want pages could be reserved (memory fragmented?)"
    fi
    if [[ "$got" -eq 0 ]]; then
        fallback_exit "no hugepages could be reserved"
    fi
fi

if [[ "$mounted" -eq 1 ]]; then
    log "hugetlbfs already mounted at $MOUNTPOINT"
else
    log "mounting hugetlbfs at $MOUNTPOINT"
    if ! mkdir -p "$MOUNTPOINT" 2>/dev/null \
        || ! mount -t hugetlbfs -o pagesize=2M nodev "$MOUNTPOINT" 2>/dev/null; then
        fallback_exit "could not mount hugetlbfs at $MOUNTPOINT"
    fi
fi

report
