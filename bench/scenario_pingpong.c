/*
 * scenario_pingpong.c - round-trip latency through two shmbus rings.
 *
 * Segment AB carries ping -> pong, segment BA the replies.  Each process
 * publishes on one (exclusive publisher, or shared with --shared) and
 * subscribes to the other (tethered, busy-spin).  "ping" (timed) claims a
 * record of size bytes, fills it with payload_write (sequence number first),
 * commits, then spins on peek until the reply arrives, reads every byte of
 * it and consumes it.  "pong" peeks, reads every byte, checks the sequence,
 * consumes, and replies with a record of the same size.  The payload code
 * and the spin hint are those of the baseline, so the difference between
 * the two is the ring: claim, commit, peek, consume, and where the ring puts
 * the bytes.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "pair.h"
#include "payload.h"
#include "scenario.h"

struct pp_shared {
	alignas(SB_CACHE_LINE) uint64_t acc[2];
	uint64_t t_begin;
	uint64_t t_end;
};

struct pp_run {
	struct ring_pair pair;
	uint64_t warmup;
	uint64_t count;
	uint64_t *samples;          /* count entries, MAP_SHARED */
	struct pp_shared *out;      /* MAP_SHARED */
};

int ring_pair_create(const struct bench_opts *o, uint32_t size, struct ring_pair *rp)
{
	uint32_t max_record = size ? size : 8;

	memset(rp, 0, sizeof(*rp));
	rp->size = size;
	rp->mode = o->shared_pub ? SB_PUB_SHARED : SB_PUB_EXCLUSIVE;
	rp->claim_ahead = o->claim_ahead;
	if (bench_seg_create(&rp->ab, "ab", o->ring_size, max_record, 4) < 0 ||
	    bench_seg_create(&rp->ba, "ba", o->ring_size, max_record, 4) < 0) {
		ring_pair_remove(rp);
		return -1;
	}
	return 0;
}

void ring_pair_remove(struct ring_pair *rp)
{
	bench_seg_remove(&rp->ab);
	bench_seg_remove(&rp->ba);
}

int ring_side_open(struct worker *w, const struct ring_pair *rp, bool ping, struct ring_side *s)
{
	const char *pub_path = ping ? rp->ab.path : rp->ba.path, *sub_path = ping ? rp->ba.path : rp->ab.path;
	int rc = sb_seg_open_path(pub_path, SB_SEG_PUBLISHER, &s->pub_seg);

	if (rc == 0)
		rc = sb_seg_open_path(sub_path, SB_SEG_SUBSCRIBER, &s->sub_seg);
	if (rc == 0)
		rc = sb_ring_pub_attach(&s->pub, &s->pub_seg, rp->mode);
	if (rc == 0)
		rc = sb_ring_sub_attach(&s->sub, &s->sub_seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN);
	if (rc < 0)
		return worker_fail(w, "set-up: %s: %s", sb_strerror(rc), sb_last_error());
	s->claim_ahead = rp->claim_ahead;
	return 0;
}

void ring_side_close(struct ring_side *s)
{
	sb_ring_sub_detach(&s->sub);
	sb_ring_pub_detach(&s->pub);
}

/* Claim size bytes, waiting out back-pressure.  Returns 0 or the error. */
static inline int claim_one(struct sb_ring_pub *pub, uint32_t size, void **p)
{
	int rc;

	while ((rc = sb_ring_claim(pub, size, p)) == SB_EBACKPRESSURE)
		payload_spin_hint();
	return rc;
}

/* Publish one record of size bytes carrying sequence c. */
static inline int send_one(struct sb_ring_pub *pub, uint32_t size, uint64_t c)
{
	void *p;
	int rc = claim_one(pub, size, &p);

	if (rc < 0)
		return rc;
	payload_write(p, size, c);
	return sb_ring_commit(pub);
}

/* Wait for, read and consume one record; *seq gets its first 8 bytes. */
static inline int recv_one(struct sb_ring_sub *sub, uint64_t *acc, struct sb_ring_view *v, uint64_t *seq)
{
	int rc;

	while ((rc = sb_ring_peek(sub, v)) == SB_EEMPTY)
		payload_spin_hint();
	if (rc < 0)
		return rc;
	*acc += payload_read(v->data, v->len, seq);
	return sb_ring_consume(sub);
}

/* Explains a failed round trip (called with the loop's verdict). */
static int bad_trip(struct worker *w, const char *what, uint64_t c, int rc, const struct sb_ring_view *v,
		    uint32_t size, uint64_t seq)
{
	if (rc < 0)
		return worker_fail(w, "%s %llu: %s: %s", what, (unsigned long long)c, sb_strerror(rc), sb_last_error());
	return worker_fail(w, "%s %llu: got len %u seq %llu lost %llu, expected len %u seq %llu", what,
			   (unsigned long long)c, v->len, (unsigned long long)seq, (unsigned long long)v->lost, size,
			   (unsigned long long)c);
}

static inline bool trip_ok(const struct sb_ring_view *v, uint32_t size, uint64_t seq, uint64_t c)
{
	return v->len == size && v->lost == 0 && (size < 8 || seq == c);
}

int ring_ping(struct worker *w, struct ring_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *samples,
	      uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0, t0, t1;
		struct sb_ring_view v = { 0 };
		int rc;

		t0 = clock_start();
		rc = send_one(&s->pub, size, c);
		if (rc == 0)
			rc = recv_one(&s->sub, acc, &v, &seq);
		t1 = clock_end();
		if (sb_unlikely(rc < 0 || !trip_ok(&v, size, seq, c)))
			return bad_trip(w, "round trip", c, rc, &v, size, seq);
		if (samples)
			samples[k] = t1 - t0;
	}
	return 0;
}

/* --claim-ahead: the reply is claimed before the request is awaited, and
 * only written and committed once it is in (docs/api.md, "Claiming
 * ahead").  No claim stays open when the loop returns. */
static int ring_pong_ahead(struct worker *w, struct ring_side *s, uint32_t size, uint64_t first, uint64_t n,
			   uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0;
		struct sb_ring_view v = { 0 };
		void *p;
		int rc = claim_one(&s->pub, size, &p);

		if (sb_likely(rc == 0))
			rc = recv_one(&s->sub, acc, &v, &seq);
		if (sb_unlikely(rc < 0 || !trip_ok(&v, size, seq, c)))
			return bad_trip(w, "message", c, rc, &v, size, seq);
		payload_write(p, size, c);
		rc = sb_ring_commit(&s->pub);
		if (sb_unlikely(rc < 0))
			return bad_trip(w, "reply", c, rc, &v, size, seq);
	}
	return 0;
}

int ring_pong(struct worker *w, struct ring_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *acc)
{
	if (s->claim_ahead)
		return ring_pong_ahead(w, s, size, first, n, acc);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0;
		struct sb_ring_view v = { 0 };
		int rc = recv_one(&s->sub, acc, &v, &seq);

		if (sb_unlikely(rc < 0 || !trip_ok(&v, size, seq, c)))
			return bad_trip(w, "message", c, rc, &v, size, seq);
		rc = send_one(&s->pub, size, c);
		if (sb_unlikely(rc < 0))
			return bad_trip(w, "reply", c, rc, &v, size, seq);
	}
	return 0;
}

static int pp_ping(struct worker *w, void *arg)
{
	const struct pp_run *r = arg;
	struct ring_side s;
	uint64_t acc = 0, t0, t1;
	int rc;

	rc = ring_side_open(w, &r->pair, true, &s);
	if (rc)
		return rc;
	worker_barrier(w, 0); /* both subscribers attached before the first record */
	rc = ring_ping(w, &s, r->pair.size, 1, r->warmup, NULL, &acc);
	if (rc)
		return rc;
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	rc = ring_ping(w, &s, r->pair.size, r->warmup + 1, r->count, r->samples, &acc);
	t1 = clock_end();
	if (rc)
		return rc;
	ring_side_close(&s);
	r->out->acc[0] = acc;
	r->out->t_begin = t0;
	r->out->t_end = t1;
	return 0;
}

static int pp_pong(struct worker *w, void *arg)
{
	const struct pp_run *r = arg;
	struct ring_side s;
	uint64_t acc = 0;
	int rc;

	rc = ring_side_open(w, &r->pair, false, &s);
	if (rc)
		return rc;
	worker_barrier(w, 0);
	rc = ring_pong(w, &s, r->pair.size, 1, r->warmup, &acc);
	if (rc)
		return rc;
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	rc = ring_pong(w, &s, r->pair.size, r->warmup + 1, r->count, &acc);
	if (rc)
		return rc;
	ring_side_close(&s);
	r->out->acc[1] = acc;
	return 0;
}

int pingpong_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res)
{
	size_t sbytes = spec->count * sizeof(uint64_t);
	struct harness h;
	struct pp_run r;
	int rc = -1;

	if (o->ncores < 2 || o->cores[0] == o->cores[1]) {
		fprintf(stderr, "shmbus-bench: pingpong needs two different cores (--cores A,B)\n");
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.warmup = spec->warmup;
	r.count = spec->count;
	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	if (ring_pair_create(o, spec->size, &r.pair) < 0)
		goto out;
	if (harness_init(&h, 2, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	if (harness_spawn(&h, "pingpong-pong", o->cores[1], pp_pong, &r) == 0 &&
	    harness_spawn(&h, "pingpong-ping", o->cores[0], pp_ping, &r) == 0)
		rc = harness_wait(&h, bench_timeout(o, spec->count + spec->warmup, 5000.0 + spec->size * 10.0));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), o->shared_pub ? "pingpong-shared"
							       : o->claim_ahead ? "pingpong-ahead" : "pingpong");
		latency_finish(o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	ring_pair_remove(&r.pair);
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

int scenario_pingpong(const struct bench_opts *o)
{
	return latency_scenario(o, o->via_daemon ? daemon_run : pingpong_run);
}
