#!/bin/sh
# syscall-count.sh - independent cross-check of "zero system calls in steady
# state": run the ring ping-pong WITHOUT the seccomp sandbox under strace and
# print strace's per-syscall summary for all processes (-f).
#
# What to expect: a fixed number of calls for start-up, segment creation and
# mapping, forking, pinning and exit, the same for --count 200000 as for
# --count 2000000.  A count that grows with --count (run it twice to see)
# would be a system call in the data path.  The seccomp sandbox of the
# default run (docs/benchmarks.md) is the proof; this is the second opinion.
#
# Usage: scripts/syscall-count.sh [BUILD_DIR] [extra shmbus-bench options]
#   BUILD_DIR defaults to build; the binary is BUILD_DIR/bench/shmbus-bench.
set -eu

build=build
case "${1:-}" in
	-*|"") ;;
	*) build=$1; shift ;;
esac
bench="$build/bench/shmbus-bench"
if [ ! -x "$bench" ]; then
	echo "syscall-count: $bench not found (build first: meson setup $build && ninja -C $build)" >&2
	exit 2
fi
if ! command -v strace >/dev/null 2>&1; then
	echo "syscall-count: strace is not installed (apt-get install strace)" >&2
	exit 2
fi

out=$(mktemp "${TMPDIR:-/tmp}/shmbus-strace.XXXXXX")
trap 'rm -f "$out"' EXIT

# Under strace every system call stops the process, but the measured loops
# make none, so they run at full speed; only set-up and exit are traced.
strace -c -f -o "$out" "$bench" pingpong --no-seccomp --count 200000 "$@"
echo
echo "strace -c -f summary (all processes) for: $bench pingpong --no-seccomp --count 200000 $*"
cat "$out"
