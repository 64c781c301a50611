/*
 * stats.h - latency statistics from every sample (internal header).
 *
 * Samples are TSC tick counts collected into a preallocated array by the
 * measured loop, one per operation, warm-up excluded and nothing dropped.
 * Percentiles are nearest-rank on the fully sorted array (no reservoir, no
 * bucketing), so p99.99 of 1,000,000 samples is the 999,900th smallest.
 *
 * Where the clock advances in coarse steps (clock_step_ticks() > 1), every
 * sample is a multiple of the step and a nearest-rank percentile can only be
 * a multiple of it too: 10 ns steps at a 150 ns p50 make any ratio of two
 * p50s jump in 7 % increments.  A percentile then falls within a run of
 * equal samples, and is interpolated linearly across the step that run
 * stands for (value - step/2 .. value + step/2), by the rank's position in
 * the run: grouped-data interpolation.  A sample taken between two readings
 * of a stepping counter equals the true interval plus an error of mean zero
 * (the readings' phase within a step is uniform), so the interpolated
 * percentiles resolve differences far below the step.  A sample taken
 * across a move of the vCPU to another core can be off the grid (the
 * counter's steps have another phase there); up to 1 % such samples are
 * tolerated, more turn interpolation off.  stats_set_step(1)
 * (--raw-percentiles) reports plain nearest-rank values.  min and max are
 * always the raw extremes.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct lat_stats {
	uint64_t n;
	double min_ns;
	double mean_ns;
	double p50_ns;
	double p90_ns;
	double p99_ns;
	double p999_ns;
	double p9999_ns;
	double max_ns;
};

#define STATS_HIST_MAX 48

/* Log-scale histogram: four buckets per power of two of nanoseconds. */
struct lat_hist {
	unsigned n;
	double lo_ns[STATS_HIST_MAX];
	double hi_ns[STATS_HIST_MAX];
	uint64_t count[STATS_HIST_MAX];
	uint64_t total;
};

/* The clock step, in ticks, that stats_compute interpolates across (default
 * 1: none).  Samples of which more than 1 % are not multiples of it are
 * not interpolated (a few are: readings that straddle a vCPU's move). */
void stats_set_step(uint64_t ticks);

/* Sort ticks[0..n) in place and fill *st.  Returns 0, or -1 if n == 0. */
int stats_compute(uint64_t *ticks, size_t n, struct lat_stats *st);

/* Histogram of samples already sorted by stats_compute. */
void stats_histogram(const uint64_t *sorted, size_t n, struct lat_hist *h);

/* Median of v[0..n) (n >= 1); reorders v. */
double stats_median(double *v, size_t n);

#endif /* BENCH_STATS_H */
