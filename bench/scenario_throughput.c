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
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "payload.h"
#include "report.h"
#include "scenario.h"
#include "segment.h"
#include "sb_ring.h"

#define TP_DEFAULT_COUNT UINT64_C(20000000)
#define TP_MAX_SUBS      64

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
		rc = sb_ring_sub_attach(&sub, &seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN);
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

static int tp_run_once(const struct bench_opts *o, uint32_t size, unsigned batch, uint64_t count,
		       double *rate_out)
{
	FILE *out = bench_out(o);
	struct tp_sub_arg args[TP_MAX_SUBS];
	struct bench_result res;
	struct harness h;
	struct tp_run r;
	double slowest = 0, pub_rate;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.size = size;
	r.warmup = o->warmup;
	r.count = count;
	r.batch = batch;
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
	memset(&res, 0, sizeof(res));
	res.dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc < 0)
		goto out;

	snprintf(res.scenario, sizeof(res.scenario), "throughput-%s%s", batch ? "batch" : "single",
		 o->subs > 1 ? "-fanout" : "");
	res.size = size;
	res.count = count;
	for (unsigned i = 0; i < o->subs; i++) {
		double v = rate(count, r.out->sub[i].t_end - r.out->sub[i].t_begin);

		if (i == 0 || v < slowest)
			slowest = v;
	}
	pub_rate = rate(count, r.out->pub_t_end - r.out->pub_t_begin);
	res.msgs_per_s = slowest;
	res.bytes_per_s = slowest * size;
	if (rate_out)
		*rate_out = slowest;
	fprintf(out, "%-24s %6u %10llu %11.2f M %9.3f %11.2f M %12llu\n", res.scenario, size,
		(unsigned long long)count, slowest / 1e6, res.bytes_per_s / 1e9, pub_rate / 1e6,
		(unsigned long long)r.out->backpressure);
	if (o->subs > 1) {
		for (unsigned i = 0; i < o->subs; i++) {
			double v = rate(count, r.out->sub[i].t_end - r.out->sub[i].t_begin);

			fprintf(out, "  subscriber %-2u (core %d) %17s %11.2f M %9.3f\n", i + 1,
				o->cores[1 + i % (o->ncores - 1)], "", v / 1e6, v * size / 1e9);
		}
	}
	report_disturbance(o, &res);
	rc = report_machine(o, &res);
out:
	bench_seg_remove(&r.seg);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

int throughput_single(const struct bench_opts *o, uint32_t size, uint64_t count, double *msgs_per_s)
{
	return tp_run_once(o, size, 0, count, msgs_per_s);
}

int scenario_throughput(const struct bench_opts *o)
{
	FILE *out = bench_out(o);
	uint64_t count = o->count_given ? o->count : TP_DEFAULT_COUNT;

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
	fprintf(out, "(msgs/s and GB/s of payload at the slowest subscriber; pub msgs/s at the publisher)\n");
	fprintf(out, "%-24s %6s %10s %13s %9s %13s %12s\n", "scenario", "size", "count", "msgs/s", "GB/s",
		"pub msgs/s", "backpressure");
	for (unsigned i = 0; i < o->nsizes; i++) {
		if (tp_run_once(o, o->sizes[i], 0, count, NULL) < 0)
			return -1;
		if (tp_run_once(o, o->sizes[i], o->batch, count, NULL) < 0)
			return -1;
	}
	report_syscalls(o);
	return 0;
}
