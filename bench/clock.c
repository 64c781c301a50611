/*
 * clock.c - TSC calibration.
 *
 * The rate comes from two (CLOCK_MONOTONIC, TSC) pairs ~100 ms apart.  Each
 * pair is the tightest of a few attempts (the one whose TSC reads bracket the
 * clock_gettime call most closely), so a preemption between the two reads
 * cannot skew it.  100 ms bounds the error to well under 0.1 %.
 *
 * The resolution is the greatest common divisor of many differences between
 * readings taken after busy waits of varying length: a counter that steps by
 * q ticks only ever differs by multiples of q, while one that steps by 1
 * yields coprime differences within a few readings.  It is taken in 16
 * chunks and the majority wins, so a vCPU's move during one does not
 * spoil it.
 */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CAL_NS       100000000LL /* calibration interval */
#define PAIR_TRIES   16
#define OVERHEAD_RUNS 4096
#define STEP_READS   4096
#define STEP_CHUNKS  16

static double ticks_per_ns;
static uint64_t step_ticks = 1;

struct pair {
	uint64_t tsc;
	int64_t ns;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct pair tight_pair(void)
{
	struct pair best = { 0, 0 };
	uint64_t best_gap = UINT64_MAX;

	for (int i = 0; i < PAIR_TRIES; i++) {
		uint64_t a = clock_start();
		int64_t ns = mono_ns();
		uint64_t b = clock_end();

		if (b - a < best_gap) {
			best_gap = b - a;
			best.tsc = a + (b - a) / 2;
			best.ns = ns;
		}
	}
	return best;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The gcd of the differences of STEP_READS / STEP_CHUNKS readings. */
static uint64_t chunk_step(unsigned chunk)
{
	uint64_t g = 0, prev = clock_start();

	for (unsigned i = 0; i < STEP_READS / STEP_CHUNKS; i++) {
		/* A wait of 0..60 pause instructions, so that the distances
		 * between readings do not all share a factor by accident. */
		for (unsigned k = (i * 7 + chunk) % 61; k; k--)
			__builtin_ia32_pause();
		uint64_t t = clock_start();

		if (t != prev)
			g = gcd_u64(g, t - prev);
		prev = t;
		if (g == 1)
			break;
	}
	return g ? g : 1;
}

/* The step most chunks agree on: a vCPU moved to another core during one
 * chunk puts a difference off the grid there (another phase of the steps)
 * and spoils that chunk's gcd only. */
static uint64_t measure_step(void)
{
	uint64_t g[STEP_CHUNKS], best = 1;
	unsigned best_n = 0;

	for (unsigned c = 0; c < STEP_CHUNKS; c++)
		g[c] = chunk_step(c);
	for (unsigned c = 0; c < STEP_CHUNKS; c++) {
		unsigned n = 0;

		for (unsigned d = 0; d < STEP_CHUNKS; d++)
			n += g[d] == g[c];
		if (n > best_n || (n == best_n && g[c] < best)) {
			best = g[c];
			best_n = n;
		}
	}
	return best_n * 2 > STEP_CHUNKS ? best : 1; /* no majority: assume one tick */
}

int clock_calibrate(void)
{
	struct timespec nap = { 0, CAL_NS };
	struct pair p0, p1;

	p0 = tight_pair();
	nanosleep(&nap, NULL);
	p1 = tight_pair();
	if (p1.ns <= p0.ns || p1.tsc <= p0.tsc) {
		fprintf(stderr, "shmbus-bench: TSC calibration failed (clock did not advance)\n");
		return -1;
	}
	ticks_per_ns = (double)(p1.tsc - p0.tsc) / (double)(p1.ns - p0.ns);
	if (ticks_per_ns < 0.1 || ticks_per_ns > 20.0) {
		fprintf(stderr, "shmbus-bench: implausible TSC rate %.3f GHz\n", ticks_per_ns);
		return -1;
	}
	step_ticks = measure_step();
	return 0;
}

uint64_t clock_step_ticks(void)
{
	return step_ticks;
}

double clock_ticks_per_ns(void)
{
	return ticks_per_ns;
}

double clock_ticks_to_ns(uint64_t ticks)
{
	return (double)ticks / ticks_per_ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

uint64_t clock_overhead_ticks(void)
{
	static uint64_t d[OVERHEAD_RUNS];

	for (int i = 0; i < OVERHEAD_RUNS; i++) {
		uint64_t a = clock_start();
		uint64_t b = clock_end();

		d[i] = b - a;
	}
	qsort(d, OVERHEAD_RUNS, sizeof(d[0]), cmp_u64);
	return d[OVERHEAD_RUNS / 2];
}

void clock_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

double clock_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
