/*
 * stream_limit.c - the physical limit of one-way throughput between the two
 * cores: a raw stream with no ring protocol.
 *
 * The same bytes the ring moves, with the least coordination that still
 * loses nothing: records laid out as the ring's (a 16-byte header, the
 * payload after it, the stride of the segments' record alignment), back to
 * back in a region of --ring-size bytes on hugepages, a record that would
 * straddle the end of the region moved to its start (both sides know the
 * layout, so no padding record is written).  The writer fills the payload
 * with payload_write, then RELEASEs the header's first word (the record's
 * number, which grows with every lap, so a stale word never matches); the
 * reader spins on that word with the ring scenarios' spin hint, reads every
 * byte with payload_read and checks the number.  The reader RELEASEs its
 * position only every STREAM_PUBLISH_EVERY records (a ring subscriber
 * publishes its cursor on every consume) and the writer re-reads it only
 * when the region is full.  A reader that has caught up waits
 * STREAM_SLIP_PAUSES spin hints before it looks again, so that it does not
 * keep the line the writer is filling away from the writer: a reader that
 * polls that line makes every store of the writer wait for the line to come
 * back, and measured on a 2-vCPU VM the rate then fell from 82-122 M to
 * 11-36 M records/s in about half of the runs (docs/benchmarks.md 4.0.7).
 * What remains is the cost of moving the lines from one core to the other,
 * which no protocol can beat.  What the ring's single-record and batch APIs
 * reach is reported against this (scenario_throughput.c).
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "payload.h"
#include "scenario.h"
#include "sb_atomic.h"
#include "sb_layout.h"
#include "sb_ring.h"
#include "segment.h"
#include "worker.h"

#define STREAM_PUBLISH_EVERY 64u
#define STREAM_SLIP_PAUSES   64u

struct stream_ctl {
	/* The reader's position: every record below it has been read.
	 * RELEASE by the reader after its reads, ACQUIRE by the gated writer. */
	alignas(SB_CACHE_LINE) _Atomic uint64_t read_pos;
	alignas(SB_CACHE_LINE) uint64_t t_begin;
	uint64_t t_end;
	uint64_t acc;
};

struct stream_run {
	uint8_t *region;
	uint64_t cap;       /* region bytes, a power of two */
	uint64_t stride;    /* the ring's record size: header + size, aligned */
	uint32_t size;
	uint32_t publish_every;
	uint64_t warmup;
	uint64_t count;
	struct stream_ctl *ctl;
};

/* Where the record after one starting at pos starts, given it must fit
 * before the end of the region. */
static inline uint64_t stream_place(const struct stream_run *r, uint64_t pos)
{
	uint64_t off = pos & (r->cap - 1);

	return off + r->stride > r->cap ? pos + (r->cap - off) : pos;
}

static inline _Atomic uint64_t *stream_word(const struct stream_run *r, uint64_t pos)
{
	return (_Atomic uint64_t *)(void *)(r->region + (pos & (r->cap - 1)));
}

/* Records first .. first+n-1 from position *pos on. */
static void stream_write(const struct stream_run *r, uint64_t *pos, uint64_t *gate, uint64_t first, uint64_t n)
{
	uint64_t p = *pos, g = *gate;

	for (uint64_t k = first; k < first + n; k++) {
		p = stream_place(r, p);
		while (sb_unlikely(p + r->stride > g)) {
			/* ACQUIRE: pairs with the reader's RELEASE of read_pos;
			 * its reads of the bytes below it happened before we
			 * overwrite them. */
			g = sb_load_acquire(&r->ctl->read_pos) + r->cap;
			if (p + r->stride > g)
				payload_spin_hint();
		}
		/* As the ring's publisher (sbi_prefetch_write_ahead). */
		sbi_prefetch_write_ahead(r->region, r->cap - 1, p, p + r->stride, g);
		payload_write(r->region + (p & (r->cap - 1)) + SB_REC_HDR_SIZE, r->size, k);
		/* RELEASE: pairs with the reader's ACQUIRE of the word; the
		 * payload is complete when the number is seen. */
		sb_store_release(stream_word(r, p), k);
		p += r->stride;
	}
	*pos = p;
	*gate = g;
}

static uint64_t stream_read(const struct stream_run *r, uint64_t *pos, uint64_t first, uint64_t n, uint64_t *acc)
{
	uint64_t p = *pos;
	uint32_t left = r->publish_every; /* a countdown: no division per record */

	for (uint64_t k = first; k < first + n; k++) {
		uint64_t seq;

		p = stream_place(r, p);
		/* ACQUIRE: pairs with the writer's RELEASE of the word. */
		while (sb_load_acquire(stream_word(r, p)) != k)
			for (unsigned q = 0; q < STREAM_SLIP_PAUSES; q++)
				payload_spin_hint();
		*acc += payload_read(r->region + (p & (r->cap - 1)) + SB_REC_HDR_SIZE, r->size, &seq);
		if (sb_unlikely(r->size >= 8 && seq != k))
			return k;
		/* The ring's batch readers keep the stream ahead on its way
		 * (sbi_prefetch_ahead); so does the limit. */
		sbi_prefetch_ahead(r->region, r->cap - 1, p, p + r->stride);
		p += r->stride;
		if (--left == 0) {
			left = r->publish_every;
			/* RELEASE: pairs with the writer's ACQUIRE; our reads of
			 * everything below p are done. */
			sb_store_release(&r->ctl->read_pos, p);
		}
	}
	*pos = p;
	return 0;
}

static int stream_writer(struct worker *w, void *arg)
{
	const struct stream_run *r = arg;
	uint64_t pos = 0, gate = r->cap;
	int rc;

	worker_barrier(w, 0);
	stream_write(r, &pos, &gate, 1, r->warmup);
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	stream_write(r, &pos, &gate, r->warmup + 1, r->count);
	return 0;
}

static int stream_reader(struct worker *w, void *arg)
{
	const struct stream_run *r = arg;
	uint64_t pos = 0, acc = 0, bad, t0, t1;
	int rc;

	worker_barrier(w, 0);
	bad = stream_read(r, &pos, 1, r->warmup, &acc);
	if (bad)
		return worker_fail(w, "warm-up record %llu carried a wrong number", (unsigned long long)bad);
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	bad = stream_read(r, &pos, r->warmup + 1, r->count, &acc);
	t1 = clock_end();
	if (bad)
		return worker_fail(w, "record %llu carried a wrong number", (unsigned long long)bad);
	r->ctl->t_begin = t0;
	r->ctl->t_end = t1;
	r->ctl->acc = acc;
	return 0;
}

int stream_limit_run(const struct bench_opts *o, uint32_t size, uint64_t count, struct bench_result *res)
{
	struct stream_run r;
	struct harness h;
	size_t region_len = 0;
	uint64_t slots;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.cap = o->ring_size;
	r.size = size;
	r.stride = sb_rec_size_al(size, bench_seg_align() ? bench_seg_align() : SB_REC_ALIGN);
	r.warmup = o->warmup;
	r.count = count;
	slots = r.cap / r.stride;
	if (slots < 2) {
		fprintf(stderr, "shmbus-bench: the stream limit needs --ring-size to hold two %u-byte records\n", size);
		return -1;
	}
	/* Publish often enough that a full region always holds a position
	 * the reader will publish: otherwise the writer could wait forever. */
	r.publish_every = slots / 4 < STREAM_PUBLISH_EVERY ? (uint32_t)(slots / 4 ? slots / 4 : 1)
							     : STREAM_PUBLISH_EVERY;
	r.region = shared_alloc_huge(r.cap, &region_len);
	r.ctl = shared_alloc(sizeof(*r.ctl));
	if (!r.region || !r.ctl) {
		fprintf(stderr, "shmbus-bench: cannot map the stream region: %s\n", strerror(errno));
		goto out;
	}
	if (harness_init(&h, 2, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	rc = harness_spawn(&h, "stream-reader", o->cores[1], stream_reader, &r);
	if (rc == 0)
		rc = harness_spawn(&h, "stream-writer", o->cores[0], stream_writer, &r);
	if (rc == 0)
		rc = harness_wait(&h, bench_timeout(o, count + o->warmup, 1000.0 + size));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc < 0)
		goto out;
	snprintf(res->scenario, sizeof(res->scenario), "throughput-limit");
	res->size = size;
	res->count = count;
	if (r.ctl->t_end > r.ctl->t_begin)
		res->msgs_per_s = (double)count / (clock_ticks_to_ns(r.ctl->t_end - r.ctl->t_begin) * 1e-9);
	res->bytes_per_s = res->msgs_per_s * size;
out:
	if (r.region)
		shared_free(r.region, region_len);
	if (r.ctl)
		shared_free(r.ctl, sizeof(*r.ctl));
	return rc;
}
