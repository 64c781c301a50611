#!/usr/bin/env bash
# test_bench_smoke.sh - every latency scenario of shmbus-bench that the main
# job and docs/benchmarks.md rely on runs to completion with tiny counts,
# with its data checks on, and leaves nothing behind.
#
# What it asserts is what the scenarios promise besides their figures,
# never a figure (no timing): each run exits 0 and prints its result line;
# the measured loops made no system call (the seccomp sandbox would have
# killed them); the daemon runs delete their topics (nothing named
# sbbench.* stays in the daemon's segment directory or in its LIST); the
# recovery scenario's restarted daemon adopted the topic; and a run told
# to make a system call inside the sandbox fails (the positive control
# for the "0 system calls" line).
#
# Under ASan/UBSan the bench runs without its seccomp sandbox (the
# sanitizers' runtime makes system calls of its own), so the sandbox's two
# checks are left out there.
#
# usage: test_bench_smoke.sh SHMBUS_BENCH SHMBUSD SHMBUSCTL plain|sanitized
set -euo pipefail

BENCH="$1"
DAEMON="$2"
CTL="$3"
SANITIZED="${4:-plain}"
CORES="0,1"
[[ "$(nproc)" -ge 2 ]] || CORES="0,0" # pingpong refuses one core: checked below

TMP="$(mktemp -d /tmp/sbsmoke.XXXXXX)"
SEGS="$(mktemp -d /dev/shm/sbsmoke.XXXXXX)"
SOCK="$TMP/shmbusd.sock"
DAEMON_PID=""

cleanup() {
    if [[ -n "$DAEMON_PID" ]]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf -- "$TMP" "$SEGS"
}
trap cleanup EXIT

fail() {
    echo "test_bench_smoke: FAIL: $*" >&2
    exit 1
}

# run NAME ARGS...: the bench with ARGS; output in $TMP/NAME.out; exit 0 required.
run() {
    local name="$1"
    shift
    echo "== shmbus-bench $*"
    if ! "$BENCH" "$@" >"$TMP/$name.out" 2>&1; then
        cat "$TMP/$name.out" >&2
        fail "shmbus-bench $* exited non-zero"
    fi
}

expect() {
    local name="$1" pattern="$2"
    grep -Eq -- "$pattern" "$TMP/$name.out" || {
        cat "$TMP/$name.out" >&2
        fail "$name: no line matching '$pattern'"
    }
}

if [[ "$CORES" == "0,0" ]]; then
    echo "test_bench_smoke: one CPU only: the ping-pong scenarios need two; skipped"
    exit 77
fi

SMALL=(--cores "$CORES" --size 64 --count 4000 --warmup 1000)

# The raw ring and the limit, and the sandbox's positive control.
run pingpong pingpong "${SMALL[@]}" --json
expect pingpong '"scenario":"pingpong".*"p50_ns":'
if [[ "$SANITIZED" != sanitized ]]; then
    expect pingpong 'syscalls in measured loop: 0 \(seccomp-enforced\)'
    if "$BENCH" pingpong "${SMALL[@]}" --selftest-seccomp >"$TMP/selftest.out" 2>&1; then
        cat "$TMP/selftest.out" >&2
        fail "a system call inside the measured loop did not fail the run"
    fi
fi
# Throughput: the limit (a raw stream), the ring with both APIs and both
# subscriber waits, one JSON object per kind with its ratio to the limit.
run throughput throughput --cores "$CORES" --size 64 --count 20000 --warmup 1000 --rounds 2 --json
expect throughput '"scenario":"throughput-limit","size":64.*"rounds":2'
for kind in single batch single-stream batch-stream; do
    expect throughput "\"scenario\":\"throughput-$kind\",\"size\":64.*\"ratio_limit\":[0-9.]+"
done
expect throughput '^  single-stream +[0-9.]+ +[0-9.]+ +[0-9.]+x'
if [[ "$SANITIZED" != sanitized ]]; then
    expect throughput 'syscalls in measured loop: 0 \(seccomp-enforced\)'
fi
run interleave interleave "${SMALL[@]}" --runs 2
expect interleave '^median of 2 runs at 64 B: pingpong / baseline p50 [0-9.]+x'
run ahead interleave "${SMALL[@]}" --claim-ahead
expect ahead 'pingpong-ahead / baseline p50 [0-9.]+x'
if "$BENCH" compare "${SMALL[@]}" --claim-ahead >"$TMP/ahead-refused.out" 2>&1; then
    fail "compare accepted --claim-ahead (its verdicts are measured without it)"
fi

# Through a daemon of our own: pingpong, interleave and compare --via-daemon.
"$DAEMON" --socket "$SOCK" --dir "$SEGS" >"$TMP/shmbusd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 500); do
    [[ -S "$SOCK" ]] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$TMP/shmbusd.log" >&2; fail "shmbusd exited at start"; }
    sleep 0.01
done
[[ -S "$SOCK" ]] || fail "shmbusd did not create $SOCK"

run daemon-pp pingpong --via-daemon --socket "$SOCK" "${SMALL[@]}" --size 1024 --json
expect daemon-pp '"scenario":"pingpong-daemon".*"size":1024'
run daemon-il interleave --via-daemon --socket "$SOCK" "${SMALL[@]}" --runs 2
expect daemon-il '^median of 2 runs at 64 B: pingpong-daemon / pingpong p50 [0-9.]+x'
run compare compare --via-daemon --socket "$SOCK" "${SMALL[@]}" --rounds 1 --runs 1 --count 8000
expect compare 'shmbus-daemon / shmbus \(raw ring\): p50 [0-9.]+x'
expect compare '^median of [0-9]+ (runs|windows) at 64 B: pingpong-daemon / pingpong'

# Nothing left behind: the runs deleted their topics (segment files and
# the daemon's registry both).
left="$(find "$SEGS" -name 'sbbench.*' | head -5)"
[[ -z "$left" ]] || fail "topics left in $SEGS: $left"
"$CTL" --socket "$SOCK" list >"$TMP/list.out" 2>&1 || { cat "$TMP/list.out" >&2; fail "shmbusctl list failed"; }
if grep -q 'sbbench\.' "$TMP/list.out"; then
    cat "$TMP/list.out" >&2
    fail "shmbusd still lists sbbench.* topics"
fi

# recovery runs daemons of its own ($SHMBUSD); its last one must adopt the
# topic.  Its ping-pong must outlast five daemon restarts (the clients
# re-register with each), hence the larger count.
export SHMBUSD="$DAEMON"
run recovery recovery --cores "$CORES" --size 64 --count 300000 --warmup 1000 --rounds 3
expect recovery 'every record arrived in order, none lost'
expect recovery 'the last restarted daemon adopted and serves sbbench\.'

echo "test_bench_smoke: all scenarios ran"
