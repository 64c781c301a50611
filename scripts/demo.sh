#!/usr/bin/env bash
# The main job of shmbus: set up the machine, build an optimised release in
# build-release/, start shmbusd (own socket and segment directory, stopped
# on exit), and run the ping-pong latency comparison through topics opened
# by name via the daemon (beside the raw ring, the physical limit and the
# peers ZeroMQ and iceoryx where installed; shmbus-bench starts and stops
# iceoryx's RouDi itself) for 64-byte and 1024-byte messages.
#
#   usage: scripts/demo.sh [EXTRA shmbus-bench ARGS...]   (passed to every run)
#   env SB_SKIP_SETUP=1   skip scripts/install-deps.sh and hugepages.sh
#   env SB_CORES=a,b      pin the two processes to these CPUs (default: the
#                         first two CPUs this process may run on)
#   env SB_DEMO_LINK=shared  measure libshmbus as a shared library (default:
#                         shmbus-bench-lto, libshmbus.a linked with -flto as
#                         docs/api.md recommends for latency, where built)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=build-release
BENCH="$BUILD_DIR/bench/shmbus-bench"
DAEMON="$BUILD_DIR/daemon/shmbusd"
DAEMON_PID=""
RUN_DIR=""
SEG_DIR=""

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }

setup_machine() {
    if [[ "${SB_SKIP_SETUP:-0}" == "1" ]]; then
        log "setup skipped (SB_SKIP_SETUP=1)"
        return
    fi
    log "setup: scripts/install-deps.sh"
    bash scripts/install-deps.sh
    log "setup: scripts/hugepages.sh"
    bash scripts/hugepages.sh
}

build_release() {
    local opts=(-Dbuildtype=release -Dtests=false)
    if [[ -f "$BUILD_DIR/meson-private/coredata.dat" ]]; then
        log "meson setup --reconfigure $BUILD_DIR ${opts[*]}"
        meson setup --reconfigure "$BUILD_DIR" "${opts[@]}"
    else
        log "meson setup $BUILD_DIR ${opts[*]}"
        meson setup "$BUILD_DIR" "${opts[@]}"
    fi
    log "meson compile -C $BUILD_DIR"
    meson compile -C "$BUILD_DIR"
}

# Print the CPUs this process may run on, one per line, from a list such as
# "0-3,8,10-11" (Cpus_allowed_list), so that cpusets in containers are honoured.
allowed_cpus() {
    local list range lo hi cpu ranges=()
    list="$(awk '$1 == "Cpus_allowed_list:" { print $2 }' /proc/self/status)"
    [[ -n "$list" ]] || list="0-$(($(nproc) - 1))"
    IFS=',' read -r -a ranges <<<"$list"
    for range in "${ranges[@]}"; do
        lo="${range%-*}"
        hi="${range#*-}"
        for ((cpu = lo; cpu <= hi; cpu++)); do
            echo "$cpu"
        done
    done
}

pick_cores() {
    if [[ -n "${SB_CORES:-}" ]]; then
        echo "$SB_CORES"
        return
    fi
    local cpus=()
    mapfile -t cpus < <(allowed_cpus)
    if [[ ${#cpus[@]} -ge 2 ]]; then
        echo "${cpus[0]},${cpus[1]}"
    else
        warn "only one CPU available: both processes share CPU ${cpus[0]:-0}; latencies will be dominated by scheduling, not by the bus"
        echo "${cpus[0]:-0},${cpus[0]:-0}"
    fi
}

# Segments of the demo's daemon: a fresh directory on the hugetlbfs mount
# when there is a writable one (as the raw-ring runs use), else /dev/shm.
make_seg_dir() {
    local huge
    huge="$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)"
    if [[ -n "$huge" && -w "$huge" ]]; then
        mktemp -d "$huge/shmbus-demo.XXXXXX"
    else
        mktemp -d /dev/shm/shmbus-demo.XXXXXX
    fi
}

stop_daemon() {
    if [[ -n "$DAEMON_PID" ]]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
        log "shmbusd (pid $DAEMON_PID) stopped"
        DAEMON_PID=""
    fi
    [[ -n "$SEG_DIR" ]] && rm -rf -- "$SEG_DIR"
    [[ -n "$RUN_DIR" ]] && rm -rf -- "$RUN_DIR"
    SEG_DIR=""
    RUN_DIR=""
}

start_daemon() {
    RUN_DIR="$(mktemp -d /tmp/shmbus-demo.XXXXXX)"
    SEG_DIR="$(make_seg_dir)"
    SOCKET="$RUN_DIR/shmbusd.sock"
    log "$DAEMON --socket $SOCKET --dir $SEG_DIR  (log: $RUN_DIR/shmbusd.log)"
    "$DAEMON" --socket "$SOCKET" --dir "$SEG_DIR" >"$RUN_DIR/shmbusd.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 100); do
        [[ -S "$SOCKET" ]] && return 0
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            echo "demo.sh: shmbusd exited at start:" >&2
            cat "$RUN_DIR/shmbusd.log" >&2
            DAEMON_PID=""
            return 1
        fi
        sleep 0.05
    done
    echo "demo.sh: shmbusd did not create $SOCKET within 5 s" >&2
    return 1
}

# run_bench SIZE [EXTRA ARGS...]: one ping-pong comparison at SIZE bytes.
run_bench() {
    local size="$1"
    shift
    log "$BENCH compare --via-daemon --socket $SOCKET --cores $CORES --size $size${*:+ $*}"
    "$BENCH" compare --via-daemon --socket "$SOCKET" --cores "$CORES" --size "$size" "$@"
}

main() {
    setup_machine
    build_release
    if [[ "${SB_DEMO_LINK:-lto}" != "shared" && -x "$BUILD_DIR/bench/shmbus-bench-lto" ]]; then
        BENCH="$BUILD_DIR/bench/shmbus-bench-lto"
        log "libshmbus: static with -flto (shmbus-bench-lto; SB_DEMO_LINK=shared for the shared library)"
    else
        log "libshmbus: shared library (shmbus-bench)"
    fi
    if [[ ! -x "$BENCH" ]]; then
        echo "demo.sh: $BENCH was not built" >&2
        exit 1
    fi
    if [[ ! -x "$DAEMON" ]]; then
        echo "demo.sh: $DAEMON was not built" >&2
        exit 1
    fi
    CORES="$(pick_cores)"
    log "pinning to cores $CORES"
    trap stop_daemon EXIT
    trap 'exit 130' INT TERM
    start_daemon
    run_bench 64 "$@"
    run_bench 1024 "$@"
    stop_daemon
    log "demo done"
}

main "$@"
