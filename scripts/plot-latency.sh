#!/usr/bin/env bash
# Plot the latency percentiles in a shmbus-bench CSV (written with --csv) as
# a PNG with gnuplot: one line per subject (the pooled rows of compare, or
# single pingpong/baseline runs), p50 .. max on a logarithmic scale.
#
#   scripts/plot-latency.sh RESULTS.csv OUT.png [SIZE]
#
# SIZE keeps only the rows of that payload size.  Per-round rows of compare
# ("compare-rN-...") are left out: the pooled rows already hold all samples.
set -euo pipefail

csv=${1:?usage: plot-latency.sh RESULTS.csv OUT.png [SIZE]}
png=${2:?usage: plot-latency.sh RESULTS.csv OUT.png [SIZE]}
size=${3:-}
command -v gnuplot >/dev/null || { echo "plot-latency: gnuplot not installed (scripts/install-deps.sh)" >&2; exit 1; }

data=$(mktemp)
trap 'rm -f "$data"' EXIT

# Transpose: one row per percentile, one column per subject.
awk -F, -v size="$size" '
	NR == 1 { next }
	$4 == "" || $1 ~ /-r[0-9]+-/ || (size != "" && $2 != size) { next }
	{
		n++
		name = $1
		if (name == "compare") name = "shmbus"
		sub(/^compare-/, "", name)
		label[n] = name " " $2 "B"
		for (k = 4; k <= 9; k++) v[n, k] = $k
	}
	END {
		if (n == 0) { print "plot-latency: no latency rows in the CSV" > "/dev/stderr"; exit 1 }
		split("p50 p90 p99 p99.9 p99.99 max", pct, " ")
		printf "percentile"
		for (i = 1; i <= n; i++) printf "\t\"%s\"", label[i]
		printf "\n"
		for (k = 4; k <= 9; k++) {
			printf "%s", pct[k - 3]
			for (i = 1; i <= n; i++) printf "\t%s", v[i, k]
			printf "\n"
		}
	}' "$csv" > "$data"

cols=$(head -1 "$data" | awk -F'\t' '{ print NF }')
gnuplot <<GNUPLOT
set terminal pngcairo size 960,600 font "sans,11"
set output "$png"
set datafile separator "\t"
set title "shmbus-bench round-trip latency (ns, all samples)"
set logscale y 10
set ylabel "round trip (ns)"
set xlabel "percentile"
set grid ytics mytics
set key top left
plot for [c=2:$cols] "$data" using 0:c:xtic(1) with linespoints lw 2 title columnheader(c)
GNUPLOT
echo "plot-latency: wrote $png"
