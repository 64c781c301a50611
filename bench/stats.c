/*
 * stats.c - sorting and percentiles.
 *
 * An LSD radix sort (8-bit digits, passes whose digit is the same for every
 * sample are skipped) sorts millions of tick counts in a few tens of
 * milliseconds; compare rounds pool several million.  qsort is the fallback
 * when the scratch buffer cannot be allocated.
 */
#include "stats.h"

#include <float.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void radix_sort(uint64_t *v, size_t n)
{
	uint64_t *tmp = malloc(n * sizeof(*v));
	uint64_t *src = v, *dst = tmp;
	uint64_t all_or = 0, all_and = UINT64_MAX;

	if (!tmp) {
		qsort(v, n, sizeof(*v), cmp_u64);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		all_or |= v[i];
		all_and &= v[i];
	}
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 };
		size_t pos = 0;

		if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
			continue; /* every sample has the same digit here */
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xff]++;
		for (unsigned d = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
}

static uint64_t step_ticks = 1;

void stats_set_step(uint64_t ticks)
{
	step_ticks = ticks ? ticks : 1;
}

/* Index of the first sample >= v (lower) or > v (upper) in sorted s. */
static size_t bound(const uint64_t *s, size_t n, uint64_t v, bool upper)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s[mid] < v || (upper && s[mid] == v))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Nearest rank: the smallest sample with at least p percent at or below it;
 * p in thousandths of a percent (99.99 % = 99990) so the rank is exact.
 * With a step q > 1 (see stats.h) the value is interpolated within the run
 * of samples equal to it: a run [lo, hi) of value v covers v - q/2 .. v + q/2,
 * and the percentile's real rank n * p sits at (rank - lo) / (hi - lo) of it. */
static double pct(const uint64_t *s, size_t n, uint64_t p_milli, uint64_t q)
{
	uint64_t rank = ((uint64_t)n * p_milli + 99999) / 100000;
	size_t idx = rank < 1 ? 0 : (size_t)rank - 1, lo, hi;
	double at, frac;

	if (idx >= n)
		idx = n - 1;
	if (q <= 1)
		return clock_ticks_to_ns(s[idx]);
	lo = bound(s, n, s[idx], false);
	hi = bound(s, n, s[idx], true);
	at = (double)n * (double)p_milli / 100000.0;
	frac = (at - (double)lo) / (double)(hi - lo);
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	return ((double)s[idx] + (frac - 0.5) * (double)q) / clock_ticks_per_ns();
}

int stats_compute(uint64_t *ticks, size_t n, struct lat_stats *st)
{
	long double sum = 0;
	uint64_t q = step_ticks, off_grid = 0;

	memset(st, 0, sizeof(*st));
	if (n == 0)
		return -1;
	radix_sort(ticks, n);
	for (size_t i = 0; i < n; i++) {
		sum += ticks[i];
		off_grid += ticks[i] % q != 0;
	}
	/* A sample whose two readings straddle a move of the vCPU (another
	 * core's counter, another phase of its steps) is off the grid; a few
	 * of those are expected.  Many mean another clock: no interpolation. */
	if (off_grid * 100 > n)
		q = 1;
	st->n = n;
	st->min_ns = clock_ticks_to_ns(ticks[0]);
	st->mean_ns = (double)(sum / n) / clock_ticks_per_ns();
	st->p50_ns = pct(ticks, n, 50000, q);
	st->p90_ns = pct(ticks, n, 90000, q);
	st->p99_ns = pct(ticks, n, 99000, q);
	st->p999_ns = pct(ticks, n, 99900, q);
	st->p9999_ns = pct(ticks, n, 99990, q);
	st->max_ns = clock_ticks_to_ns(ticks[n - 1]);
	return 0;
}

/* Bucket edges within one octave: 2^(j/4) for j = 0..3. */
static const double quarter_octave[4] = { 1.0, 1.189207115, 1.414213562, 1.681792831 };

void stats_histogram(const uint64_t *sorted, size_t n, struct lat_hist *h)
{
	uint64_t octave;
	unsigned j = 0;
	size_t i = 0;
	double min_ns;

	memset(h, 0, sizeof(*h));
	if (n == 0)
		return;
	h->total = n;
	/* First edge: the largest 2^k * 2^(j/4) ns at or below the minimum. */
	min_ns = clock_ticks_to_ns(sorted[0]);
	octave = UINT64_C(1) << (63 - __builtin_clzll(min_ns < 1.0 ? 1 : (uint64_t)min_ns));
	while (j < 3 && (double)octave * quarter_octave[j + 1] <= min_ns)
		j++;
	while (i < n) {
		unsigned b = h->n;
		double lo = (double)octave * quarter_octave[j];
		double hi;

		if (++j == 4) {
			j = 0;
			octave <<= 1;
		}
		hi = b == STATS_HIST_MAX - 1 ? DBL_MAX : (double)octave * quarter_octave[j];
		h->lo_ns[b] = lo;
		h->hi_ns[b] = hi;
		while (i < n && clock_ticks_to_ns(sorted[i]) < hi) {
			h->count[b]++;
			i++;
		}
		h->n++;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double stats_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}
