/*
 * scenario_throughput.c - one-way throughput, 1 -> N.
 *
 * One publisher process (exclusive unless --shared) streams count records
 * of size bytes into one ring; N tethered busy-spin subscriber processes
 * read every one of them.  Two APIs are measured separately:
 *   single  sb_ring_claim/sb_ring_commit and sb_ring_peek/sb_ring_consume;
 *   batch   sb_ring_claim_batch (--batch records per claim) and
 *           sb_ring_peek_batch + one sb_ring_consume per batch.
 * Every record is real: the publisher writes all its bytes (sequence number
 * first), each subscriber reads all of them and checks the sequence number
 * in the payload and the one the ring assigned.
 *
 * The clock starts for everybody when the last process has passed the
 * post-sandbox barrier; a subscriber's rate is count over the time until it
 * consumed the last record.  The headline rate is the slowest subscriber's.
 * The publisher core is --cores' first; subscriber i runs on the
 * (1 + i mod (ncores-1))-th, so with two cores every subscriber shares the
 * second core and the rates show what time-sharing a busy-spin core costs.
 *
 * With one subscriber every size runs --rounds rounds (default 3) of five
 * runs: the physical limit (stream_limit.c: a raw stream of the same records
 * between the same cores), then the single-record and the batch API, each
 * with spinning and with SB_WAIT_STREAM subscribers, in an order reversed
 * every other round (fan-out: the four ring runs, no limit).  The summary gives each kind's median
 * rate and its median per-round ratio to the limit (a ratio from one round
 * compares runs minutes apart at most, so a placement change of the vCPUs
 * moves both sides), and issue 2's targets.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "payload.h"
#include "report.h"
#include "scenario.h"
#include "segment.h"
#include "stats.h"
#include "sb_ring.h"

#define TP_DEFAULT_COUNT UINT64_C(20000000)
#define TP_MAX_SUBS      64
#define TP_DEFAULT_ROUNDS 3
#define TP_MAX_ROUNDS    1000

struct tp_sub_out {
	alignas(SB_CACHE_LINE) uint64_t t_begin;
	uint64_t t_end;
	uint64_t acc;
};

struct tp_shared {
	alignas(SB_CACHE_LINE) uint64_t pub_t_begin;
	uint64_t pub_t_end;
	uint64_t backpressure;
	struct tp_sub_out sub[TP_MAX_SUBS];
};

struct tp_run {
	struct bench_seg seg;
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	unsigned batch;     /* 0: single-record API */
	bool stream;        /* subscribers wait with SB_WAIT_STREAM (else spin on peek) */
	enum sb_ring_pub_mode mode;
	struct tp_shared *out;
};

/* ------------------------------------------------------------ publisher */

static inline int claim_retry(struct sb_ring_pub *pub, const uint32_t *lens, unsigned n, void **p, uint64_t *bp)
{
	int rc;

	while ((rc = sb_ring_claim_batch(pub, lens, n, p)) == SB_EBACKPRESSURE) {
		(*bp)++;
		payload_spin_hint();
	}
	return rc;
}

static int publish(const struct tp_run *r, struct sb_ring_pub *pub, uint64_t first, uint64_t n, uint64_t *bp)
{
	uint32_t lens[SB_RING_BATCH_MAX];
	void *p[SB_RING_BATCH_MAX];
	unsigned per = r->batch ? r->batch : 1;
	int rc;

	for (unsigned i = 0; i < per; i++)
		lens[i] = r->size;
	for (uint64_t k = 0; k < n;) {
		unsigned m = n - k < per ? (unsigned)(n - k) : per;

		if (m == 1) {
			while ((rc = sb_ring_claim(pub, r->size, &p[0])) == SB_EBACKPRESSURE) {
				(*bp)++;
				payload_spin_hint();
			}
		} else {
			rc = claim_retry(pub, lens, m, p, bp);
		}
		if (sb_unlikely(rc < 0))
			return rc;
		for (unsigned j = 0; j < m; j++)
			payload_write(p[j], r->size, first + k + j);
		rc = sb_ring_commit(pub);
		if (sb_unlikely(rc < 0))
			return rc;
		k += m;
	}
	return 0;
}

static int tp_pub(struct worker *w, void *arg)
{
	const struct tp_run *r = arg;
	struct sb_ring_pub pub;
	struct sb_seg seg;
	uint64_t bp = 0, t0, t1;
	int rc;

	rc = sb_seg_open_path(r->seg.path, SB_SEG_PUBLISHER, &seg);
	if (rc == 0)
		rc = sb_ring_pub_attach(&pub, &seg, r->mode);
	if (rc < 0)
		return worker_fail(w, "set-up: %s: %s", sb_strerror(rc), sb_last_error());
	worker_barrier(w, 0); /* every subscriber attached */
	rc = publish(r, &pub, 1, r->warmup, &bp);
	if (rc < 0)
		return worker_fail(w, "warm-up publish: %s: %s", sb_strerror(rc), sb_last_error());
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	bp = 0;
	t0 = clock_start();
	rc = publish(r, &pub, r->warmup + 1, r->count, &bp);
	t1 = clock_end();
	if (rc < 0)
		return worker_fail(w, "publish: %s: %s", sb_strerror(rc), sb_last_error());
	sb_ring_pub_detach(&pub);
	r->out->pub_t_begin = t0;
	r->out->pub_t_end = t1;
	r->out->backpressure = bp;
	return 0;
}

/* ----------------------------------------------------------- subscriber */

struct tp_sub_arg {
	const struct tp_run *run;
	unsigned idx;
};

static int bad_record(struct worker *w, uint64_t want, const struct sb_ring_view *v, uint64_t seq, uint32_t size)
{
	return worker_fail(w, "record %llu: len %u payload seq %llu ring seq %llu lost %llu (expected len %u)",
			   (unsigned long long)want, v->len, (unsigned long long)seq, (unsigned long long)v->seq,
			   (unsigned long long)v->lost, size);
}

/* Records first .. first+n-1, checking each; returns 0 or a worker code. */
static int drain(struct worker *w, const struct tp_run *r, struct sb_ring_sub *sub, uint64_t first, uint64_t n,
		 uint64_t *acc)
{
	struct sb_ring_view v[SB_RING_BATCH_MAX];
	unsigned per = r->batch ? r->batch : 1;

	for (uint64_t k = 0; k < n;) {
		unsigned want = n - k < per ? (unsigned)(n - k) : per;
		int m;

		if (want == 1) {
			m = sb_ring_peek(sub, &v[0]);
			m = m == 0 ? 1 : m;
		} else {
			m = sb_ring_peek_batch(sub, v, want);
		}
		if (m == SB_EEMPTY) {
			if (r->stream)
				(void)sb_ring_wait(sub, 0); /* no deadline: returns with data */
			else
				payload_spin_hint();
			continue;
		}
		if (sb_unlikely(m < 0))
			return worker_fail(w, "peek at record %llu: %s: %s", (unsigned long long)(first + k),
					   sb_strerror(m), sb_last_error());
		for (int j = 0; j < m; j++) {
			uint64_t c = first + k + (uint64_t)j, seq;

			*acc += payload_read(v[j].data, v[j].len, &seq);
			/* Ring sequence numbers start at 0 with the first record. */
			if (sb_unlikely(seq != c || v[j].len != r->size || v[j].seq + 1 != c || v[j].lost))
				return bad_record(w, c, &v[j], seq, r->size);
		}
		m = sb_ring_consume(sub) < 0 ? -1 : m;
		if (sb_unlikely(m < 0))
			return worker_fail(w, "consume at record %llu failed", (unsigned long long)(first + k));
		k += (uint64_t)m;
	}
	return 0;
}

static int tp_sub(struct worker *w, void *arg)
{
	const struct tp_sub_arg *a = arg;
	const struct tp_run *r = a->run;
	struct tp_sub_out *out = &r->out->sub[a->idx];
	struct sb_ring_sub sub;
	struct sb_seg seg;
	uint64_t acc = 0, t0, t1;
	int rc;

	rc = sb_seg_open_path(r->seg.path, SB_SEG_SUBSCRIBER, &seg);
	if (rc == 0)
		rc = sb_ring_sub_attach(&sub, &seg, SB_SUB_TETHERED, SB_START_LATEST,
					r->stream ? SB_WAIT_STREAM : SB_WAIT_SPIN);
	if (rc < 0)
		return worker_fail(w, "set-up: %s: %s", sb_strerror(rc), sb_last_error());
	worker_barrier(w, 0);
	rc = drain(w, r, &sub, 1, r->warmup, &acc);
	if (rc)
		return rc;
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	rc = drain(w, r, &sub, r->warmup + 1, r->count, &acc);
	t1 = clock_end();
	if (rc)
		return rc;
	sb_ring_sub_detach(&sub);
	out->t_begin = t0;
	out->t_end = t1;
	out->acc = acc;
	return 0;
}

/* ------------------------------------------------------------- the runs */

static double rate(uint64_t n, uint64_t ticks)
{
	return ticks ? (double)n / (clock_ticks_to_ns(ticks) * 1e-9) : 0.0;
}

/* One row of the table; pub_rate < 0 and bp NULL: not applicable. */
static void tp_row(FILE *out, const struct bench_result *res, double pub_rate, const uint64_t *bp)
{
	char pub[24] = "-", bps[24] = "-";

	if (pub_rate >= 0)
		snprintf(pub, sizeof(pub), "%.2f M", pub_rate / 1e6);
	if (bp)
		snprintf(bps, sizeof(bps), "%llu", (unsigned long long)*bp);
	fprintf(out, "%-24s %6u %10llu %11.2f M %9.3f %13s %12s\n", res->scenario, res->size,
		(unsigned long long)res->count, res->msgs_per_s / 1e6, res->bytes_per_s / 1e9, pub, bps);
}

/* One run of the ring (batch 0: single-record API): prints its row(s) and
 * fills res with the slowest subscriber's rate. */
static int tp_run_once(const struct bench_opts *o, uint32_t size, unsigned batch, bool stream, uint64_t count,
		       struct bench_result *res)
{
	FILE *out = bench_out(o);
	struct tp_sub_arg args[TP_MAX_SUBS];
	struct harness h;
	struct tp_run r;
	double slowest = 0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.size = size;
	r.warmup = o->warmup;
	r.count = count;
	r.batch = batch;
	r.stream = stream;
	r.mode = o->shared_pub ? SB_PUB_SHARED : SB_PUB_EXCLUSIVE;
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.out) {
		fprintf(stderr, "shmbus-bench: cannot map shared memory: %s\n", strerror(errno));
		return -1;
	}
	if (bench_seg_create(&r.seg, "tp", o->ring_size, size, o->subs) < 0)
		goto out;
	if (harness_init(&h, 1 + o->subs, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	rc = 0;
	for (unsigned i = 0; i < o->subs && rc == 0; i++) {
		char role[32];

		args[i].run = &r;
		args[i].idx = i;
		snprintf(role, sizeof(role), "throughput-sub%u", i + 1);
		rc = harness_spawn(&h, role, o->cores[1 + i % (o->ncores - 1)], tp_sub, &args[i]);
	}
	if (rc == 0)
		rc = harness_spawn(&h, "throughput-pub", o->cores[0], tp_pub, &r);
	if (rc == 0)
		rc = harness_wait(&h, bench_timeout(o, (count + o->warmup) * o->subs, 2000.0 + size));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc < 0)
		goto out;

	snprintf(res->scenario, sizeof(res->scenario), "throughput-%s%s%s", batch ? "batch" : "single",
		 stream ? "-stream" : "", o->subs > 1 ? "-fanout" : "");
	res->size = size;
	res->count = count;
	for (unsigned i = 0; i < o->subs; i++) {
		double v = rate(count, r.out->sub[i].t_end - r.out->sub[i].t_begin);

		if (i == 0 || v < slowest)
			slowest = v;
	}
	res->msgs_per_s = slowest;
	res->bytes_per_s = slowest * size;
	tp_row(out, res, rate(count, r.out->pub_t_end - r.out->pub_t_begin), &r.out->backpressure);
	if (o->subs > 1) {
		for (unsigned i = 0; i < o->subs; i++) {
			double v = rate(count, r.out->sub[i].t_end - r.out->sub[i].t_begin);

			fprintf(out, "  subscriber %-2u (core %d) %17s %11.2f M %9.3f\n", i + 1,
				o->cores[1 + i % (o->ncores - 1)], "", v / 1e6, v * size / 1e9);
		}
	}
	report_disturbance(o, res);
out:
	bench_seg_remove(&r.seg);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

int throughput_single(const struct bench_opts *o, uint32_t size, uint64_t count, double *msgs_per_s)
{
	struct bench_result res;
	int rc = tp_run_once(o, size, 0, false, count, &res);

	if (rc < 0)
		return rc;
	if (msgs_per_s)
		*msgs_per_s = res.msgs_per_s;
	return report_machine(o, &res);
}

/* ------------------------------------------------- rounds and verdicts */

enum { TP_LIMIT, TP_SINGLE, TP_BATCH, TP_SINGLE_STREAM, TP_BATCH_STREAM, TP_KINDS };

/* stats_median of a copy: the per-round values are printed after it. */
static double median(const double *v, unsigned n)
{
	double s[TP_MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	return stats_median(s, n);
}

/* Issue 2's throughput targets at this size, in msgs/s (64 B) or payload
 * bytes/s (1 KiB); 0: none. */
static void tp_targets(uint32_t size, double *single, double *batch, double *bytes)
{
	*single = size == 64 ? 80e6 : 0;
	*batch = size == 64 ? 150e6 : 0;
	*bytes = size == 1024 ? 12e9 : 0;
}

static void tp_verdict(FILE *out, const char *what, double got, double want, const char *unit, double scale)
{
	if (want > 0)
		fprintf(out, "  issue 2: %s >= %.0f %s: %s (%.2f %s)\n", what, want / scale, unit,
			got >= want ? "met" : "not met", got / scale, unit);
}

/* One size: rounds of the limit and the four ring kinds (the order reversed
 * every other round, so neither kind always runs first), the medians, the
 * per-round ratios to the limit, the targets, and JSON/CSV. */
static int tp_size(const struct bench_opts *o, uint32_t size, uint64_t count, unsigned rounds)
{
	static const char *const names[TP_KINDS] = { "limit", "single", "batch", "single-stream",
						      "batch-stream" };
	FILE *out = bench_out(o);
	bool with_limit = o->subs == 1;
	double v[TP_KINDS][TP_MAX_ROUNDS], ratio[TP_KINDS][TP_MAX_ROUNDS];
	struct bench_result last[TP_KINDS];
	double med[TP_KINDS], mratio[TP_KINDS], t_single, t_batch, t_bytes;

	for (unsigned i = 0; i < rounds; i++) {
		for (unsigned j = 0; j < TP_KINDS; j++) {
			unsigned k = i % 2 ? TP_KINDS - 1 - j : j;
			int rc;

			if (k == TP_LIMIT && !with_limit)
				continue;
			if (k == TP_LIMIT) {
				rc = stream_limit_run(o, size, count, &last[k]);
				if (rc == 0) {
					tp_row(out, &last[k], -1, NULL);
					report_disturbance(o, &last[k]);
				}
			} else {
				bool batched = k == TP_BATCH || k == TP_BATCH_STREAM;

				rc = tp_run_once(o, size, batched ? o->batch : 0, k >= TP_SINGLE_STREAM, count,
						 &last[k]);
			}
			if (rc < 0)
				return -1;
			v[k][i] = last[k].msgs_per_s;
		}
		if (with_limit)
			for (unsigned k = 0; k < TP_KINDS; k++)
				ratio[k][i] = v[TP_LIMIT][i] > 0 ? v[k][i] / v[TP_LIMIT][i] : 0;
	}
	for (unsigned k = 0; k < TP_KINDS; k++) {
		if (k == TP_LIMIT && !with_limit)
			continue;
		med[k] = median(v[k], rounds);
		mratio[k] = with_limit ? median(ratio[k], rounds) : 0;
	}
	fprintf(out, "at %u B, median of %u round%s: %-14s %9s %8s %10s   per round\n", size, rounds,
		rounds == 1 ? "" : "s", "kind", "M msgs/s", "GB/s", with_limit ? "/ limit" : "");
	for (unsigned k = 0; k < TP_KINDS; k++) {
		if (k == TP_LIMIT && !with_limit)
			continue;
		fprintf(out, "  %-14s %9.2f %8.3f", names[k], med[k] / 1e6, med[k] * size / 1e9);
		if (k != TP_LIMIT && with_limit)
			fprintf(out, " %9.2fx  ", mratio[k]);
		else
			fprintf(out, " %10s  ", "");
		for (unsigned i = 0; i < rounds; i++) {
			if (k != TP_LIMIT && with_limit)
				fprintf(out, " %.2fx", ratio[k][i]);
			else
				fprintf(out, " %.1f M", v[k][i] / 1e6);
		}
		fputc('\n', out);
	}
	tp_targets(size, &t_single, &t_batch, &t_bytes);
	if (with_limit) {
		static const unsigned order[] = { TP_SINGLE, TP_SINGLE_STREAM, TP_BATCH, TP_BATCH_STREAM };
		static const char *const what[TP_KINDS] = {
			[TP_SINGLE] = "single-record, spin", [TP_SINGLE_STREAM] = "single-record, stream wait",
			[TP_BATCH] = "batch, spin", [TP_BATCH_STREAM] = "batch, stream wait",
		};

		for (unsigned i = 0; i < 4; i++) {
			unsigned k = order[i];

			tp_verdict(out, what[k], med[k], k == TP_BATCH || k == TP_BATCH_STREAM ? t_batch : t_single,
				   "M msgs/s", 1e6);
		}
		/* The byte rate is a target for either API. */
		for (unsigned i = 0; i < 4; i++)
			tp_verdict(out, what[order[i]], med[order[i]] * size, t_bytes, "GB/s", 1e9);
	}
	for (unsigned k = 0; k < TP_KINDS; k++) {
		struct bench_result res;
		char extra[96];

		if (k == TP_LIMIT && !with_limit)
			continue;
		res = last[k];
		res.msgs_per_s = med[k];
		res.bytes_per_s = med[k] * size;
		if (with_limit && k != TP_LIMIT)
			snprintf(extra, sizeof(extra), ",\"rounds\":%u,\"ratio_limit\":%.3f", rounds, mratio[k]);
		else
			snprintf(extra, sizeof(extra), ",\"rounds\":%u", rounds);
		if (o->json)
			report_json(&res, extra);
		if (report_csv(o, &res) < 0)
			return -1;
	}
	return 0;
}

int scenario_throughput(const struct bench_opts *o)
{
	FILE *out = bench_out(o);
	uint64_t count = o->count_given ? o->count : TP_DEFAULT_COUNT;
	unsigned rounds = o->rounds_given ? o->rounds : TP_DEFAULT_ROUNDS;

	if (o->ncores < 2) {
		fprintf(stderr, "shmbus-bench: throughput needs at least two cores (--cores PUB,SUB[,SUB...])\n");
		return -1;
	}
	if (o->subs < 1 || o->subs > TP_MAX_SUBS) {
		fprintf(stderr, "shmbus-bench: --subs must be 1..%d\n", TP_MAX_SUBS);
		return -1;
	}
	for (unsigned i = 0; i < o->nsizes; i++) {
		if (o->sizes[i] < 8) {
			fprintf(stderr, "shmbus-bench: throughput records carry an 8-byte sequence: --size must be >= 8\n");
			return -1;
		}
	}
	fprintf(out, "one-way throughput, 1 publisher -> %u tethered subscriber%s, ring %llu KiB, %s publisher, "
		     "batch API: %u records per claim/peek\n",
		o->subs, o->subs > 1 ? "s" : "", (unsigned long long)(o->ring_size >> 10),
		o->shared_pub ? "shared" : "exclusive", o->batch);
	fprintf(out, "(msgs/s and GB/s of payload at the slowest subscriber; pub msgs/s at the publisher; "
		     "-stream: the subscribers wait with SB_WAIT_STREAM, else they spin on peek)\n");
	if (o->subs == 1)
		fprintf(out, "(limit: a raw stream of the same records between the same cores, no ring protocol; "
			     "%u rounds, ratios to the limit per round)\n", rounds);
	fprintf(out, "%-24s %6s %10s %13s %9s %13s %12s\n", "scenario", "size", "count", "msgs/s", "GB/s",
		"pub msgs/s", "backpressure");
	for (unsigned i = 0; i < o->nsizes; i++)
		if (tp_size(o, o->sizes[i], count, rounds) < 0)
			return -1;
	report_syscalls(o);
	return 0;
}
