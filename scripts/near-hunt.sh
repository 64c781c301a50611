#!/bin/sh
# near-hunt.sh - catch a VM's near placement and measure in it.
#
# On the development VMs the host moves the two vCPUs between a near
# placement (64 B limit round trip about 100-200 ns) and a far one (about
# 400-700 ns), and near spells can last only seconds (docs/benchmarks.md
# §3.4, §4.0.7).  A measurement started at a random moment then almost
# always lands in the far placement.  This script probes the 64 B limit
# with a short `baseline` run every --every seconds until --minutes have
# passed, and as soon as a probe reads under --near ns it runs one short
# `interleave` (limit and ring ping-pong in alternating blocks of the same
# two processes, so the ratio holds even if the spell ends during it) and
# prints the probe's level beside the interleave's result.  Each line:
#
#   HH:MM:SS probe p50 N ns: far
#   HH:MM:SS probe p50 N ns: near -> SIZE B limit N ring N ns, ratio p50 ...
#
# Usage: scripts/near-hunt.sh [--bench PATH] [--minutes N] [--every S]
#                             [--near NS] [--size 64|1024] [--count N]
#                             [--variant 'LABEL;PATH;OPTIONS']...
# Defaults: build-release/bench/shmbus-bench-lto, 30 minutes, every 10 s,
# near under 250 ns, 64 B, 300000 round trips per kind.  Each --variant adds
# one more interleave per near probe, with another binary and/or more
# interleave options (e.g. 'small;;--ring-size 65536', 'old;/tmp/old/shmbus-bench-lto;'),
# run right after the default one, so that A/B comparisons meet the same
# spell.  Run it on an otherwise idle machine: a build or a test run moves
# both figures.
set -eu

bench=build-release/bench/shmbus-bench-lto
minutes=30
every=10
near=250
size=64
count=300000
while [ $# -gt 0 ]; do
	case "$1" in
	--bench) bench=$2; shift 2 ;;
	--minutes) minutes=$2; shift 2 ;;
	--every) every=$2; shift 2 ;;
	--near) near=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--variant) variants="${variants:-}$2
"; shift 2 ;;
	*) echo "near-hunt: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
	esac
done
if [ ! -x "$bench" ]; then
	echo "near-hunt: $bench not found (build it: meson setup build-release -Dbuildtype=release && ninja -C build-release)" >&2
	exit 2
fi

# One short interleave: the two kinds' pooled p50s, then the median of the
# per-window ratios.  $2: more interleave options, split on blanks.
measure() {
	# shellcheck disable=SC2086
	"$1" interleave --size "$size" --runs 1 --count "$count" $2 2>&1 |
		awk '$1 == "interleave-baseline" { a = $4 } $1 == "interleave-pingpong" { b = $4 }
		     /^median of/ { sub(/.*pingpong \/ baseline /, ""); r = $0 }
		     END { printf "limit %s ring %s ns, ratio %s", a, b, r }'
}

end=$(( $(date +%s) + minutes * 60 ))
caught=0
probes=0
while [ "$(date +%s)" -lt "$end" ]; do
	# The split limit at 64 B: the level the ring's 64 B ratio is taken against.
	p50=$("$bench" baseline --size 64 --count 100000 --json 2>/dev/null |
		sed -n 's/.*"size":64,.*"p50_ns":\([0-9.]*\).*/\1/p' | head -n 1)
	probes=$((probes + 1))
	if [ -z "$p50" ]; then
		echo "near-hunt: the baseline probe printed no 64 B result" >&2
		exit 1
	fi
	if awk -v p="$p50" -v n="$near" 'BEGIN { exit !(p < n) }'; then
		caught=$((caught + 1))
		echo "$(date -u +%H:%M:%S) probe p50 $p50 ns: near -> $size B $(measure "$bench" "")"
		printf '%s' "${variants:-}" | while IFS=';' read -r label vbench vopts; do
			[ -n "$label" ] || continue
			echo "$(date -u +%H:%M:%S)   $label: $(measure "${vbench:-$bench}" "$vopts")"
		done
	else
		echo "$(date -u +%H:%M:%S) probe p50 $p50 ns: far"
		sleep "$every"
	fi
done
echo "near-hunt: $probes probes, $caught near"
