/*
 * scenario_opcost.c - what the ring's calls cost on one core, with no
 * second core to wait for.
 *
 * One process on --cores' first core is exclusive publisher and tethered
 * subscriber of one segment.  Each pass publishes half a ring of size-byte
 * records (claim, write every byte, commit; or claim_batch/commit of
 * --batch records), then reads them all back (peek, read every byte and
 * check the sequence number, consume; or peek_batch/consume).  The two
 * phases are timed apart: ns per record published and ns per record
 * consumed, averaged over every record of every pass after warm-up.
 *
 * No cache line moves between cores here, so this is the instruction and
 * cache cost of the calls alone: the part of the latency and throughput
 * budget the ring's code can change.  It is the low-noise figure to watch
 * when changing the data path (the two-core scenarios swing with the
 * VM's placement; this one hardly does), and the binary to run under
 * `valgrind --tool=callgrind` for instruction counts.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "payload.h"
#include "report.h"
#include "scenario.h"
#include "segment.h"
#include "sb_ring.h"

#define OC_DEFAULT_COUNT UINT64_C(20000000)

struct oc_out {
	alignas(SB_CACHE_LINE) uint64_t pub_ticks;
	uint64_t sub_ticks;
	uint64_t records;
	uint64_t acc;
};

struct oc_run {
	struct bench_seg seg;
	uint32_t size;
	unsigned batch;       /* 0: single-record calls */
	uint64_t warmup;
	uint64_t count;
	struct oc_out *out;   /* MAP_SHARED */
};

struct oc_side {
	struct sb_seg pub_seg, sub_seg;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
};

static int publish_n(const struct oc_run *r, struct oc_side *s, uint64_t first, uint64_t n)
{
	uint32_t lens[SB_RING_BATCH_MAX];
	void *p[SB_RING_BATCH_MAX];
	int rc;

	for (unsigned i = 0; i < SB_RING_BATCH_MAX; i++)
		lens[i] = r->size;
	for (uint64_t k = 0; k < n;) {
		unsigned m = r->batch ? (n - k < r->batch ? (unsigned)(n - k) : r->batch) : 1;

		rc = m == 1 ? sb_ring_claim(&s->pub, r->size, &p[0]) : sb_ring_claim_batch(&s->pub, lens, m, p);
		if (sb_unlikely(rc < 0))
			return rc;
		for (unsigned j = 0; j < m; j++)
			payload_write(p[j], r->size, first + k + j);
		rc = sb_ring_commit(&s->pub);
		if (sb_unlikely(rc < 0))
			return rc;
		k += m;
	}
	return 0;
}

static int consume_n(const struct oc_run *r, struct oc_side *s, uint64_t first, uint64_t n, uint64_t *acc)
{
	struct sb_ring_view v[SB_RING_BATCH_MAX];

	for (uint64_t k = 0; k < n;) {
		unsigned want = r->batch ? (n - k < r->batch ? (unsigned)(n - k) : r->batch) : 1;
		int m = want == 1 ? sb_ring_peek(&s->sub, &v[0]) : sb_ring_peek_batch(&s->sub, v, want);

		if (m == 0)
			m = 1;
		if (sb_unlikely(m < 0))
			return m; /* the ring holds every record of the pass: never empty */
		for (int j = 0; j < m; j++) {
			uint64_t seq;

			*acc += payload_read(v[j].data, v[j].len, &seq);
			if (sb_unlikely(seq != first + k + (uint64_t)j || v[j].len != r->size || v[j].lost))
				return SB_ECORRUPT;
		}
		if (sb_unlikely(sb_ring_consume(&s->sub) < 0))
			return SB_ESTATE;
		k += (uint64_t)m;
	}
	return 0;
}

/* Passes of per records until n are done; adds each phase's ticks. */
static int passes(struct worker *w, const struct oc_run *r, struct oc_side *s, uint64_t first, uint64_t n,
		  uint64_t per, uint64_t *pub_ticks, uint64_t *sub_ticks, uint64_t *acc)
{
	for (uint64_t done = 0; done < n;) {
		uint64_t m = n - done < per ? n - done : per, t0, t1, t2;
		int rc;

		t0 = clock_start();
		rc = publish_n(r, s, first + done, m);
		t1 = clock_end();
		if (rc == 0)
			rc = consume_n(r, s, first + done, m, acc);
		t2 = clock_end();
		if (rc < 0)
			return worker_fail(w, "record %llu: %s: %s", (unsigned long long)(first + done), sb_strerror(rc),
					   sb_last_error());
		*pub_ticks += t1 - t0;
		*sub_ticks += t2 - t1;
		done += m;
	}
	return 0;
}

static int oc_worker(struct worker *w, void *arg)
{
	const struct oc_run *r = arg;
	uint64_t per = (r->seg.data_size / 2) / sb_rec_size_al(r->size, bench_seg_align() ? bench_seg_align() : 8);
	uint64_t pt = 0, st = 0, acc = 0;
	struct oc_side s;
	int rc;

	rc = sb_seg_open_path(r->seg.path, SB_SEG_PUBLISHER, &s.pub_seg);
	if (rc == 0)
		rc = sb_seg_open_path(r->seg.path, SB_SEG_SUBSCRIBER, &s.sub_seg);
	if (rc == 0)
		rc = sb_ring_sub_attach(&s.sub, &s.sub_seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN);
	if (rc == 0)
		rc = sb_ring_pub_attach(&s.pub, &s.pub_seg, SB_PUB_EXCLUSIVE);
	if (rc < 0)
		return worker_fail(w, "set-up: %s: %s", sb_strerror(rc), sb_last_error());
	if (per < 1)
		per = 1;
	if (r->batch && per > r->batch)
		per -= per % r->batch; /* whole batches per pass */
	rc = passes(w, r, &s, 0, r->warmup, per, &pt, &st, &acc);
	if (rc == 0)
		rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	pt = st = 0;
	rc = passes(w, r, &s, r->warmup, r->count, per, &pt, &st, &acc);
	if (rc)
		return rc;
	sb_ring_pub_detach(&s.pub);
	sb_ring_sub_detach(&s.sub);
	r->out->pub_ticks = pt;
	r->out->sub_ticks = st;
	r->out->records = r->count;
	r->out->acc = acc;
	return 0;
}

static int oc_run_once(const struct bench_opts *o, uint32_t size, unsigned batch, uint64_t count)
{
	FILE *out = bench_out(o);
	struct bench_result res;
	struct harness h;
	struct oc_run r;
	double pub_ns, sub_ns;
	char extra[160];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.size = size;
	r.batch = batch;
	r.warmup = o->warmup;
	r.count = count;
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.out) {
		fprintf(stderr, "shmbus-bench: cannot map shared memory: %s\n", strerror(errno));
		return -1;
	}
	if (bench_seg_create(&r.seg, "oc", o->ring_size, size, 1) < 0)
		goto out;
	if (harness_init(&h, 1, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	rc = harness_spawn(&h, "opcost", o->cores[0], oc_worker, &r);
	if (rc == 0)
		rc = harness_wait(&h, bench_timeout(o, count + o->warmup, 200.0 + size));
	memset(&res, 0, sizeof(res));
	res.dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc < 0)
		goto out;

	pub_ns = clock_ticks_to_ns(r.out->pub_ticks) / (double)count;
	sub_ns = clock_ticks_to_ns(r.out->sub_ticks) / (double)count;
	snprintf(res.scenario, sizeof(res.scenario), "opcost-%s", batch ? "batch" : "single");
	res.size = size;
	res.count = count;
	res.msgs_per_s = pub_ns + sub_ns > 0 ? 1e9 / (pub_ns + sub_ns) : 0;
	res.bytes_per_s = res.msgs_per_s * size;
	fprintf(out, "%-24s %6u %10llu %12.2f %12.2f %11.2f M %11.2f M\n", res.scenario, size,
		(unsigned long long)count, pub_ns, sub_ns, 1e3 / pub_ns, 1e3 / sub_ns);
	report_disturbance(o, &res);
	snprintf(extra, sizeof(extra), "\"pub_ns\":%.3f,\"sub_ns\":%.3f,\"batch\":%u", pub_ns, sub_ns, batch);
	if (o->json)
		report_json(&res, extra);
	rc = report_csv(o, &res);
out:
	bench_seg_remove(&r.seg);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

int scenario_opcost(const struct bench_opts *o)
{
	FILE *out = bench_out(o);
	uint64_t count = o->count_given ? o->count : OC_DEFAULT_COUNT;

	for (unsigned i = 0; i < o->nsizes; i++) {
		if (o->sizes[i] < 8) {
			fprintf(stderr, "shmbus-bench: opcost records carry an 8-byte sequence: --size must be >= 8\n");
			return -1;
		}
	}
	fprintf(out, "ring call cost on one core (core %d): exclusive publisher and tethered subscriber in one "
		     "process, half a ring (%llu KiB) published, then read back, per pass\n",
		o->cores[0], (unsigned long long)(o->ring_size >> 10));
	fprintf(out, "(ns per record: claim + write + commit, peek + read + consume; batch API: %u per call)\n",
		o->batch);
	fprintf(out, "%-24s %6s %10s %12s %12s %13s %13s\n", "scenario", "size", "count", "pub ns/rec", "sub ns/rec",
		"pub rate", "sub rate");
	for (unsigned i = 0; i < o->nsizes; i++) {
		if (oc_run_once(o, o->sizes[i], 0, count) < 0)
			return -1;
		if (oc_run_once(o, o->sizes[i], o->batch, count) < 0)
			return -1;
	}
	report_syscalls(o);
	return 0;
}
