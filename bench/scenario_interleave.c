/*
 * scenario_interleave.c - the limit and the ring ping-pong measured by the
 * same two processes in alternating blocks of --block round trips.
 *
 * compare pairs runs that are seconds apart; on a host that moves vCPUs
 * between placements every few seconds, a pair can straddle a move and its
 * ratio says more about the host than about the ring.  Here one ping and
 * one pong process hold both the limit's memory and both rings, and
 * alternate: a block of limit round trips, a block of ring round trips (the
 * order flips every pair, so neither kind always follows the other).  A
 * block is a millisecond or less, so the two kinds share every placement
 * and every disturbance in equal measure.
 *
 * The result: each kind's percentiles over all its samples, and, for the
 * ratio, the run cut into 20 windows of consecutive block pairs: each
 * window's p50 and p99.9 of the ring over those of the limit, and the
 * median over the windows.  The limit is --baseline (split by default), as
 * in compare.
 *
 * With --via-daemon the two kinds are the raw ring and the daemon path
 * (topics opened by name through a running shmbusd and libshmbus): issue
 * 3's "within 5 % of the raw ring", measured the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pair.h"
#include "report.h"
#include "scenario.h"
#include "stats.h"

#define IL_WINDOWS 20
#define IL_PAGE    4096
/* Unmeasured round trips at the start of every block.  Coming back to a
 * kind after a block of the other costs its first one or two round trips
 * (at 1 KiB up to 3x: the other kind's megabytes of ring traffic evicted
 * this kind's handles, ring lines and TLB entries).  Neither a ring nor
 * the limit in a steady stream (compare's rounds) pays that; with blocks
 * of 1000, those first round trips alone would be the p99.9. */
#define IL_REWARM  16

/* Kind A is the reference (the limit, or with --via-daemon the raw ring),
 * kind B the subject (the ring, or the daemon path). */
struct il_run {
	struct limit_pair *lim;     /* NULL with --via-daemon */
	struct ring_pair ring;
	struct daemon_pair dp;      /* --via-daemon only */
	bool via_daemon;
	const char *name_a, *name_b;
	uint32_t size;
	uint64_t warmup;
	uint64_t block;        /* round trips per block */
	uint64_t pairs;        /* block pairs: each kind runs pairs * block */
	uint64_t *s_a;         /* pairs * block samples each, MAP_SHARED */
	uint64_t *s_b;
	uint64_t *acc;         /* [2], MAP_SHARED: payload sums, so the reads stay */
	bool windows;          /* print the per-window table */
};

/* Pair p runs kind A first when p is even. */
static bool a_first(uint64_t p)
{
	return (p & 1) == 0;
}

/* One block of either kind, on the ping (timed) or the pong side. */
static int limit_block(struct worker *w, const struct il_run *r, bool ping, uint64_t first, uint64_t n,
		       uint64_t *samples, uint64_t *acc)
{
	uint64_t bad = ping ? limit_ping(r->lim, first, n, samples, acc) : limit_pong(r->lim, first, n, acc);

	if (bad)
		return worker_fail(w, "limit round trip %llu carried a wrong sequence", (unsigned long long)bad);
	return 0;
}

static int ring_block(struct worker *w, struct ring_side *s, const struct il_run *r, bool ping, uint64_t first,
		      uint64_t n, uint64_t *samples, uint64_t *acc)
{
	return ping ? ring_ping(w, s, r->size, first, n, samples, acc) : ring_pong(w, s, r->size, first, n, acc);
}

static int daemon_block(struct worker *w, struct daemon_side *s, const struct il_run *r, bool ping, uint64_t first,
			uint64_t n, uint64_t *samples, uint64_t *acc)
{
	return ping ? daemon_ping(w, s, r->size, first, n, samples, acc) : daemon_pong(w, s, r->size, first, n, acc);
}

/* Each kind's handles on pages of their own: the raw ring's state where
 * libshmbus keeps a handle (the heap, apart from anything else), so that
 * neither kind's block keeps the other's pages in the TLB.  (With the raw
 * ring's state next to the daemon path's handle pointers, every daemon
 * block kept it warm, and the daemon path alone paid for coming back
 * after the other kind: its first round trip after a switch was slow
 * several times as often as the raw ring's at 1 KiB.) */
struct il_ends {
	struct ring_side *ring;
	struct daemon_side dp;
};

static int kind_a(struct worker *w, struct il_ends *e, const struct il_run *r, bool ping, uint64_t first, uint64_t n,
		  uint64_t *samples, uint64_t *acc)
{
	return r->via_daemon ? ring_block(w, e->ring, r, ping, first, n, samples, acc)
			     : limit_block(w, r, ping, first, n, samples, acc);
}

static int kind_b(struct worker *w, struct il_ends *e, const struct il_run *r, bool ping, uint64_t first, uint64_t n,
		  uint64_t *samples, uint64_t *acc)
{
	return r->via_daemon ? daemon_block(w, &e->dp, r, ping, first, n, samples, acc)
			     : ring_block(w, e->ring, r, ping, first, n, samples, acc);
}

/* Both sides run the same schedule: warm-up of each kind, then the block
 * pairs; only ping keeps samples. */
static int il_side(struct worker *w, const struct il_run *r, bool ping)
{
	struct il_ends e = { .ring = NULL };
	uint64_t acc = 0, open_ticks;
	int rc;

	e.ring = aligned_alloc(IL_PAGE, (sizeof(*e.ring) + IL_PAGE - 1) & ~(size_t)(IL_PAGE - 1));
	if (!e.ring)
		return worker_fail(w, "interleave: no memory for the ring's handles");
	rc = ring_side_open(w, &r->ring, ping, e.ring);
	if (rc == 0 && r->via_daemon)
		rc = daemon_side_open(w, &r->dp, ping, &e.dp, &open_ticks);
	if (rc)
		return rc;
	worker_barrier(w, 0); /* both subscribers attached before the first record */
	rc = kind_a(w, &e, r, ping, 1, r->warmup, NULL, &acc);
	if (rc == 0)
		rc = kind_b(w, &e, r, ping, 1, r->warmup, NULL, &acc);
	if (rc == 0)
		rc = worker_enter_measured(w, 1);
	for (uint64_t p = 0; p < r->pairs && rc == 0; p++) {
		uint64_t first = r->warmup + 1 + p * (IL_REWARM + r->block), off = p * r->block;

		/* Each block starts with IL_REWARM unmeasured round trips (see
		 * IL_REWARM), then the measured ones. */
		for (int half = 0; half < 2 && rc == 0; half++) {
			bool a = (half == 0) == a_first(p);
			uint64_t *samples = !ping ? NULL : a ? r->s_a + off : r->s_b + off;

			rc = a ? kind_a(w, &e, r, ping, first, IL_REWARM, NULL, &acc)
			       : kind_b(w, &e, r, ping, first, IL_REWARM, NULL, &acc);
			if (rc == 0)
				rc = a ? kind_a(w, &e, r, ping, first + IL_REWARM, r->block, samples, &acc)
				       : kind_b(w, &e, r, ping, first + IL_REWARM, r->block, samples, &acc);
		}
	}
	if (rc)
		return rc; /* the worker exits: no need to free */
	ring_side_close(e.ring);
	free(e.ring);
	r->acc[ping ? 0 : 1] = acc;
	return 0;
}

static int il_ping(struct worker *w, void *arg)
{
	return il_side(w, arg, true);
}

static int il_pong(struct worker *w, void *arg)
{
	return il_side(w, arg, false);
}

struct il_window {
	struct lat_stats a, b;
	double r50, r999;
};

/* Percentiles of window i of both kinds (copies: the pooled figures sort
 * the whole arrays afterwards). */
static void window_stats(const struct il_run *r, uint64_t per_window, unsigned i, uint64_t *scratch,
			 struct il_window *wd)
{
	uint64_t off = (uint64_t)i * per_window;

	memcpy(scratch, r->s_a + off, per_window * sizeof(*scratch));
	stats_compute(scratch, per_window, &wd->a);
	memcpy(scratch, r->s_b + off, per_window * sizeof(*scratch));
	stats_compute(scratch, per_window, &wd->b);
	wd->r50 = wd->b.p50_ns / wd->a.p50_ns;
	wd->r999 = wd->b.p999_ns / wd->a.p999_ns;
}

static uint64_t sum(const uint64_t *v, uint64_t n)
{
	uint64_t t = 0;

	for (uint64_t i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* " (issue N: <= Tx: met)" for a ratio with a target, "" without (t 0). */
static const char *verdict(char *buf, size_t len, int issue, double ratio, double t)
{
	if (t <= 0)
		return "";
	snprintf(buf, len, " (issue %d: <= %.2fx: %s)", issue, t, ratio <= t ? "met" : "MISSED");
	return buf;
}

static int report(const struct bench_opts *o, const struct il_run *r, const struct harness_disturbance *dist,
		  bool brief, double *r50_out, double *r999_out)
{
	FILE *out = bench_out(o);
	uint64_t n = r->pairs * r->block;
	unsigned nw = r->pairs < IL_WINDOWS ? (unsigned)r->pairs : IL_WINDOWS;
	uint64_t per_window = (r->pairs / nw) * r->block;
	uint64_t *scratch = malloc(per_window * sizeof(*scratch));
	double r50[IL_WINDOWS], r999[IL_WINDOWS], m50, m999;
	struct bench_result ra, rb;
	double t50 = BENCH_DAEMON_TARGET, t999 = BENCH_DAEMON_TARGET;
	struct run_spec spec = { .size = r->size, .count = n, .warmup = r->warmup };
	char extra[160], v50[48], v999[48];
	int issue = r->via_daemon ? 3 : 2;

	if (!scratch) {
		fprintf(stderr, "shmbus-bench: interleave: no memory for the windows\n");
		return -1;
	}
	if (r->windows)
		fprintf(out, "window %10s %11s %10s %11s  ratio p50  ratio p99.9\n", "A p50", "A p99.9", "B p50",
			"B p99.9");
	for (unsigned i = 0; i < nw; i++) {
		struct il_window wd;

		window_stats(r, per_window, i, scratch, &wd);
		r50[i] = wd.r50;
		r999[i] = wd.r999;
		if (r->windows)
			fprintf(out, "%6u %10.0f %11.0f %10.0f %11.0f %10.3f %12.3f\n", i + 1, wd.a.p50_ns, wd.a.p999_ns,
			wd.b.p50_ns, wd.b.p999_ns, wd.r50, wd.r999);
	}
	free(scratch);
	m50 = stats_median(r50, nw);
	m999 = stats_median(r999, nw);
	if (!r->via_daemon)
		bench_ring_targets(r->size, &t50, &t999);

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	ra.dist = rb.dist = *dist;
	/* msgs/s: round trips per second of time spent in that kind. */
	latency_finish(o, &spec, r->s_a, sum(r->s_a, n), &ra);
	latency_finish(o, &spec, r->s_b, sum(r->s_b, n), &rb);
	snprintf(ra.scenario, sizeof(ra.scenario), "interleave-%s", r->name_a);
	snprintf(rb.scenario, sizeof(rb.scenario), "interleave-%s", r->name_b);
	*r50_out = m50;
	*r999_out = m999;
	if (brief) {
		fprintf(out, "  p50 A %.0f B %.0f ns, p99.9 A %.0f B %.0f ns: median of %u windows p50 %.3fx, "
			     "p99.9 %.3fx%s\n", ra.lat.p50_ns, rb.lat.p50_ns, ra.lat.p999_ns, rb.lat.p999_ns, nw, m50,
			m999, harness_disturbed(dist) ? "  (disturbed)" : "");
	} else {
		fprintf(out, "\nall samples, %llu round trips of each kind in blocks of %llu (A: %s, B: %s):\n",
			(unsigned long long)n, (unsigned long long)r->block, r->name_a, r->name_b);
		report_latency_head(o);
		report_latency_row(o, &ra);
		report_latency_row(o, &rb);
		report_disturbance(o, &rb);
		fprintf(out, "median of %u windows at %u B: %s / %s p50 %.3fx%s, p99.9 %.3fx%s\n\n", nw, r->size,
			r->name_b, r->name_a, m50, verdict(v50, sizeof(v50), issue, m50, t50), m999,
			verdict(v999, sizeof(v999), issue, m999, t999));
	}
	snprintf(extra, sizeof(extra), ",\"ratio_p50\":%.4f,\"ratio_p999\":%.4f,\"windows\":%u,\"block\":%llu", m50,
		 m999, nw, (unsigned long long)r->block);
	if (o->json) {
		report_json(&ra, NULL);
		report_json(&rb, extra);
	}
	if (o->csv && (report_csv(o, &ra) < 0 || report_csv(o, &rb) < 0))
		return -1;
	return 0;
}

/* The result names of the two kinds (JSON, CSV and the report). */
static const char *name_a_of(const struct bench_opts *o, bool via_daemon)
{
	return via_daemon ? "pingpong" : baseline_name(o->baseline);
}

static const char *name_b_of(const struct bench_opts *o, bool via_daemon)
{
	return via_daemon ? "pingpong-daemon" : o->claim_ahead ? "pingpong-ahead" : "pingpong";
}

int interleave_measure(const struct bench_opts *o, uint32_t size, bool via_daemon, uint64_t count, bool windows,
		       bool brief, double *r50, double *r999)
{
	struct il_run r;
	struct harness h;
	struct harness_disturbance dist;
	size_t sbytes;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.via_daemon = via_daemon;
	r.windows = windows;
	r.name_a = name_a_of(o, via_daemon);
	r.name_b = name_b_of(o, via_daemon);
	r.size = size;
	r.warmup = o->warmup;
	r.block = o->block;
	r.pairs = count / o->block;
	if (r.pairs == 0)
		r.pairs = 1;
	sbytes = r.pairs * r.block * sizeof(uint64_t);
	r.s_a = shared_alloc(sbytes);
	r.s_b = shared_alloc(sbytes);
	r.acc = shared_alloc(2 * sizeof(uint64_t));
	if (!r.s_a || !r.s_b || !r.acc) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", 2 * sbytes,
			strerror(errno));
		goto out;
	}
	if (r.via_daemon ? daemon_pair_create(o, size, &r.dp) < 0 : !(r.lim = limit_pair_new(o, size)))
		goto out;
	if (ring_pair_create(o, size, &r.ring) < 0)
		goto out;
	if (harness_init(&h, 2, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	if (harness_spawn(&h, "interleave-pong", o->cores[1], il_pong, &r) == 0 &&
	    harness_spawn(&h, "interleave-ping", o->cores[0], il_ping, &r) == 0)
		rc = harness_wait(&h, bench_timeout(o, 2 * (r.pairs * (IL_REWARM + r.block) + r.warmup),
						    5000.0 + size * 10.0));
	dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc == 0)
		rc = report(o, &r, &dist, brief, r50, r999);
out:
	ring_pair_remove(&r.ring);
	if (r.via_daemon)
		daemon_pair_remove(&r.dp);
	limit_pair_free(r.lim);
	shared_free(r.s_a, sbytes);
	shared_free(r.s_b, sbytes);
	shared_free(r.acc, 2 * sizeof(uint64_t));
	return rc;
}

int interleave_runs(const struct bench_opts *o, uint32_t size, bool via_daemon, uint64_t count, bool windows,
		    unsigned runs)
{
	FILE *out = bench_out(o);
	double r50[1000], r999[1000], m50, m999, t50 = BENCH_DAEMON_TARGET, t999 = BENCH_DAEMON_TARGET;
	const char *a = name_a_of(o, via_daemon), *b = name_b_of(o, via_daemon);
	char v50[48], v999[48];
	int issue = via_daemon ? 3 : 2;

	if (o->runs)
		runs = o->runs;
	if (runs > 1000)
		runs = 1000;
	if (runs == 1)
		return interleave_measure(o, size, via_daemon, count, windows, false, &r50[0], &r999[0]);
	fprintf(out, "%u runs at %u B, %s / %s, each in fresh processes with fresh segments:\n", runs, size, b, a);
	for (unsigned k = 0; k < runs; k++) {
		fprintf(out, "run %u:", k + 1);
		if (interleave_measure(o, size, via_daemon, count, false, true, &r50[k], &r999[k]) < 0)
			return -1;
	}
	fprintf(out, "  per run, p50:");
	for (unsigned k = 0; k < runs; k++)
		fprintf(out, " %.3f", r50[k]);
	fprintf(out, "; p99.9:");
	for (unsigned k = 0; k < runs; k++)
		fprintf(out, " %.3f", r999[k]);
	m50 = stats_median(r50, runs);
	m999 = stats_median(r999, runs);
	if (!via_daemon)
		bench_ring_targets(size, &t50, &t999);
	fprintf(out, "\nmedian of %u runs at %u B: %s / %s p50 %.3fx%s, p99.9 %.3fx%s\n\n", runs, size, b, a, m50,
		verdict(v50, sizeof(v50), issue, m50, t50), m999, verdict(v999, sizeof(v999), issue, m999, t999));
	if (o->json) {
		struct bench_result res;
		char extra[96];

		memset(&res, 0, sizeof(res));
		res.size = size;
		res.count = count * runs;
		snprintf(res.scenario, sizeof(res.scenario), "interleave-runs-%s", b);
		snprintf(extra, sizeof(extra), ",\"ratio_p50\":%.4f,\"ratio_p999\":%.4f,\"runs\":%u", m50, m999, runs);
		report_json(&res, extra);
	}
	return 0;
}

int scenario_interleave(const struct bench_opts *o)
{
	FILE *out = bench_out(o);

	if (o->ncores < 2 || o->cores[0] == o->cores[1]) {
		fprintf(stderr, "shmbus-bench: interleave needs two different cores (--cores A,B)\n");
		return -1;
	}
	fprintf(out, "A = %s, B = %s, in alternating blocks of %u round trips, same two processes; ratios B / A "
		     "per window of consecutive blocks, median over the windows\n",
		o->via_daemon ? "the raw ring ping-pong" : "the limit",
		o->via_daemon ? "the daemon path" : o->claim_ahead ? "the ring ping-pong claiming ahead" : "the ring ping-pong",
		o->block);
	for (unsigned i = 0; i < o->nsizes; i++) {
		fprintf(out, "\nat %u-byte payload each way:\n", o->sizes[i]);
		if (interleave_runs(o, o->sizes[i], o->via_daemon, o->count, true, 1) < 0)
			return -1;
	}
	report_syscalls(o);
	return 0;
}
