/*
 * bench.h - what every part of shmbus-bench shares: the parsed options and
 * one scenario result (internal header).
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "stats.h"
#include "worker.h"

#define BENCH_MAX_SIZES    4
#define BENCH_MAX_SIZE     (1u << 20)   /* largest --size */
#define BENCH_DEFAULT_RING (4u << 20)   /* --ring-size */
#define BENCH_RT_PRIO      50           /* --rt: SCHED_FIFO priority */

/* Where the baseline keeps its flag (see scenario_baseline.c). */
enum baseline_layout {
	BASELINE_SPLIT = 0,  /* counter on its own cache line, payload elsewhere */
	BASELINE_STREAM = 1, /* counter heads the payload block; blocks advance */
	BASELINE_INLINE = 2, /* counter heads the payload block; one fixed block */
	BASELINE_SPLIT_STREAM = 3, /* counter on a line of its own, payload on the next; blocks advance */
	BASELINE_LAYOUTS
};

/* The layout's name as --baseline spells it, and the scenario name of a
 * baseline result in that layout (split, the default, is plain "baseline"). */
static inline const char *baseline_layout_name(enum baseline_layout l)
{
	static const char *const names[BASELINE_LAYOUTS] = {
		[BASELINE_SPLIT] = "split",
		[BASELINE_STREAM] = "stream",
		[BASELINE_INLINE] = "inline",
		[BASELINE_SPLIT_STREAM] = "split-stream",
	};

	return names[l];
}

static inline const char *baseline_name(enum baseline_layout l)
{
	static const char *const names[BASELINE_LAYOUTS] = {
		[BASELINE_SPLIT] = "baseline",
		[BASELINE_STREAM] = "baseline-stream",
		[BASELINE_INLINE] = "baseline-inline",
		[BASELINE_SPLIT_STREAM] = "baseline-split-stream",
	};

	return names[l];
}

struct bench_opts {
	const char *scenario;
	int cores[WORKER_MAX];
	unsigned ncores;
	uint32_t sizes[BENCH_MAX_SIZES];
	unsigned nsizes;
	bool size_given;
	uint64_t count;
	bool count_given;
	uint64_t warmup;
	unsigned rounds;
	bool rounds_given;
	unsigned retries;      /* compare: re-runs of a disturbed pair */
	uint64_t ring_size;
	unsigned subs;
	unsigned batch;
	unsigned block;        /* interleave: round trips per block */
	unsigned runs;         /* interleave / compare's check: fresh process pairs (0: the scenario's default) */
	bool shared_pub;
	bool claim_ahead;      /* --claim-ahead: the raw ring's pong claims its reply before the request */
	enum baseline_layout baseline;
	bool json;
	const char *csv;
	bool seccomp;
	bool selftest;         /* --selftest-seccomp */
	bool rt;               /* --rt: measuring processes run SCHED_FIFO */
	bool hist;
	bool raw_percentiles;  /* --raw-percentiles: no interpolation within a clock step */
	double timeout_s;      /* 0: derived from the work */
	bool via_daemon;       /* --via-daemon: topics opened by name through shmbusd */
	bool keep_topics;      /* daemon runs leave their topics (recovery inspects them) */
	const char *socket;    /* --socket: shmbusd's socket (NULL: sb_default_socket_path) */
};

/* One measured run of one scenario at one size. */
struct bench_result {
	char scenario[48];
	uint32_t size;
	uint64_t count;
	bool has_latency;      /* false: throughput (latency keys are null) */
	struct lat_stats lat;  /* round-trip latency, ns */
	double msgs_per_s;     /* latency scenarios: round trips per second */
	double bytes_per_s;    /* payload bytes per second (throughput) */
	bool has_hist;
	struct lat_hist hist;
	struct harness_disturbance dist; /* other load on the measuring cores */
	double open_us;        /* via the daemon: connect + opens of the slower side (0: n/a) */
};

/* Where the human-readable report goes: stdout, or stderr under --json so
 * that stdout carries nothing but JSON lines. */
static inline FILE *bench_out(const struct bench_opts *o)
{
	return o->json ? stderr : stdout;
}

/* Time limit for a run of n operations at an estimated cost per operation. */
static inline double bench_timeout(const struct bench_opts *o, uint64_t n, double ns_per_op)
{
	return o->timeout_s > 0 ? o->timeout_s : 60.0 + (double)n * ns_per_op * 1e-9;
}

#endif /* BENCH_BENCH_H */
