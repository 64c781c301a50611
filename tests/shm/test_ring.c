/*
 * test_ring.c - the ring's contract, one behaviour per case, single-threaded.
 *
 * Most cases run twice, with a shared (multi-producer) and with an exclusive
 * publisher ("/shared", "/exclusive").  Subscribers always use their own
 * read-only subscriber mapping of the segment, as real ones do.  Expected
 * record positions are computed here from the documented layout rules
 * (docs/ring.md section 1.4), not from the implementation's helpers.
 */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct ring_fx {
	struct sb_seg seg; /* the creator's (publisher) mapping */
	struct sb_seg rd;  /* a subscriber mapping of the same file */
	enum sb_ring_pub_mode mode;
	uint32_t align;    /* record alignment of the topic */
};

/* A case's parameters, passed as its cmocka initial state. */
struct ring_param {
	enum sb_ring_pub_mode mode;
	uint32_t align;
};

static struct ring_param p_shared = { SB_PUB_SHARED, 8 };
static struct ring_param p_exclusive = { SB_PUB_EXCLUSIVE, 8 };
static struct ring_param p_shared_a64 = { SB_PUB_SHARED, 64 };
static struct ring_param p_exclusive_a128 = { SB_PUB_EXCLUSIVE, 128 };

#define BOTH_MODES(f) \
	{ #f "/shared", f, NULL, NULL, &p_shared }, \
	{ #f "/exclusive", f, NULL, NULL, &p_exclusive }
/* The same, plus cache-line aligned records. */
#define ALL_LAYOUTS(f) \
	BOTH_MODES(f), \
	{ #f "/shared/align64", f, NULL, NULL, &p_shared_a64 }, \
	{ #f "/exclusive/align128", f, NULL, NULL, &p_exclusive_a128 }

static void fx_open_ex(struct ring_fx *fx, void **state, uint64_t cap, uint32_t max_record,
		       uint32_t max_subs, uint32_t max_pubs)
{
	const struct ring_param *prm = (state && *state) ? *state : &p_exclusive;

	fx->mode = prm->mode;
	fx->align = prm->align;
	tu_seg_new_ex(&fx->seg, cap, max_record, max_subs, max_pubs, prm->align);
	tu_assert_rc(sb_seg_open_fd(fx->seg.fd, fx->seg.subs_fd, SB_SEG_SUBSCRIBER, &fx->rd), SB_OK);
}

/* Bytes a record of len occupies in this fixture's ring. */
static uint64_t fx_size(const struct ring_fx *fx, uint32_t len)
{
	return sb_rec_size_al(len, fx->align);
}

static void fx_open(struct ring_fx *fx, void **state, uint64_t cap, uint32_t max_record)
{
	fx_open_ex(fx, state, cap, max_record, 8, 8);
}

static void fx_close(struct ring_fx *fx)
{
	sb_seg_close(&fx->rd);
	tu_seg_free(&fx->seg);
}

static void fx_pub(struct ring_fx *fx, struct sb_ring_pub *pub)
{
	tu_assert_rc(sb_ring_pub_attach(pub, &fx->seg, fx->mode), SB_OK);
}

static void fx_sub(struct ring_fx *fx, struct sb_ring_sub *sub, enum sb_ring_sub_kind kind,
		   enum sb_ring_sub_start start)
{
	tu_assert_rc(sb_ring_sub_attach(sub, &fx->rd, kind, start, SB_WAIT_SPIN), SB_OK);
}

/* Payload seed of the record with sequence number seq. */
static uint64_t seed_of(uint64_t seq)
{
	return seq * 7919 + 17;
}

static void send_rec(struct sb_ring_pub *pub, uint32_t len, uint64_t seed)
{
	tu_send_rec(pub, len, seed);
}

static void expect_rec(struct sb_ring_sub *sub, uint32_t len, uint64_t seq, uint64_t lost)
{
	tu_expect_rec(sub, len, seq, lost, seed_of(seq));
}

static void expect_empty(struct sb_ring_sub *sub)
{
	struct sb_ring_view v;

	tu_assert_rc(sb_ring_peek(sub, &v), SB_EEMPTY);
}

static bool in_ring(const struct sb_seg *seg, const void *p, uint32_t len)
{
	const uint8_t *b = p;

	return b >= seg->data && b + len <= seg->data + seg->data_size;
}

/* The documented placement rule: records take 16 + len bytes rounded up to
 * the topic's alignment; one that does not fit in the room before the end of
 * the ring goes to the next lap, behind a PAD (room >= 16) or an implicit
 * 8-byte gap. */
struct layout_sim {
	uint64_t pos, cap, align;
	unsigned pads, gaps;
	uint64_t last_pad_pos, last_pad_room;
	bool padded; /* the last placement needed a pad or gap */
};

static uint64_t sim_place(struct layout_sim *s, uint32_t len)
{
	uint64_t size = sb_rec_size_al(len, s->align), room = s->cap - (s->pos % s->cap), at;

	s->padded = false;
	if (room < size) {
		s->padded = true;
		if (room >= SB_REC_HDR_SIZE) {
			s->pads++;
			s->last_pad_pos = s->pos;
			s->last_pad_room = room;
		} else {
			s->gaps++;
		}
		s->pos += room;
	}
	at = s->pos;
	s->pos += size;
	return at;
}

static uint64_t word_at(const struct sb_seg *seg, uint64_t pos)
{
	const struct sb_rec_hdr *h = (const void *)(seg->data + (pos & (seg->data_size - 1)));

	return atomic_load(&((struct sb_rec_hdr *)h)->word);
}

/* ------------------------------------------------------- basic records */

static void test_ring_single_record_roundtrip(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	void *p = NULL;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	expect_empty(&sub);

	tu_assert_rc(sb_ring_claim(&pub, 100, &p), SB_OK);
	assert_true(in_ring(&fx.seg, p, 100));
	tu_fill(p, 100, seed_of(0));
	/* Claimed is not committed. */
	expect_empty(&sub);
	tu_assert_rc(sb_ring_commit(&pub), SB_OK);

	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(v.len, 100);
	assert_int_equal(v.seq, 0);
	assert_int_equal(v.pos, 0);
	assert_int_equal(v.lost, 0);
	assert_true(in_ring(&fx.rd, v.data, v.len)); /* in place, in our mapping */
	assert_int_equal((const uint8_t *)v.data - fx.rd.data, (uint8_t *)p - fx.seg.data);
	assert_true(tu_check(v.data, 100, seed_of(0)));
	/* Peeking again without consuming starts over at the same record. */
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(v.seq, 0);
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	expect_empty(&sub);

	send_rec(&pub, 1, seed_of(1));
	send_rec(&pub, 8, seed_of(2));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(v.pos, fx_size(&fx, 100));
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	expect_rec(&sub, 8, 2, 0);
	expect_empty(&sub);
	assert_int_equal(sb_ring_sub_consumed(&sub), 3);
	assert_int_equal(sb_ring_sub_lost(&sub), 0);
	assert_int_equal(atomic_load(&fx.seg.prod->next_seq), 3);
	assert_int_equal(atomic_load(&fx.seg.prod->tail), fx_size(&fx, 100) + fx_size(&fx, 1) + fx_size(&fx, 8));
	assert_int_equal(v.pos % fx.align, 0);

	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_zero_length_record(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	void *p = NULL;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	tu_assert_rc(sb_ring_claim(&pub, 0, &p), SB_OK);
	assert_non_null(p);
	tu_assert_rc(sb_ring_commit(&pub), SB_OK);
	tu_assert_rc(sb_ring_send(&pub, "", 0), SB_OK);
	send_rec(&pub, 5, seed_of(2));
	expect_rec(&sub, 0, 0, 0);
	expect_rec(&sub, 0, 1, 0);
	expect_rec(&sub, 5, 2, 0);
	assert_int_equal(atomic_load(&fx.seg.prod->tail), 2 * fx_size(&fx, 0) + fx_size(&fx, 5));
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_max_size_record(void **state)
{
	/* 2032 is the largest payload a 4 KiB ring allows (sb_rec_size <= cap/2). */
	const uint32_t max = 2032;
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;

	fx_open(&fx, state, 4096, max);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	for (uint64_t seq = 0; seq < 20; seq++) {
		send_rec(&pub, max, seed_of(seq));
		expect_rec(&sub, max, seq, 0);
	}
	expect_empty(&sub);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_oversize_claim(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	void *p[4] = { 0 };
	uint32_t lens[3] = { 10, 1025, 10 };

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	tu_assert_rc(sb_ring_claim(&pub, 1025, &p[0]), SB_EMSGSIZE);
	tu_assert_rc(sb_ring_claim(&pub, UINT32_MAX, &p[0]), SB_EMSGSIZE);
	tu_assert_rc(sb_ring_claim_batch(&pub, lens, 3, p), SB_EMSGSIZE);
	/* Nothing was claimed or published... */
	assert_int_equal(atomic_load(&fx.seg.prod->head), 0);
	expect_empty(&sub);
	tu_assert_rc(sb_ring_commit(&pub), SB_ESTATE);
	/* ...and the publisher is still usable. */
	send_rec(&pub, 1024, seed_of(0));
	expect_rec(&sub, 1024, 0, 0);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_call_sequence_errors(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	void *p = NULL, *q[SB_RING_BATCH_MAX + 1];
	uint32_t lens[SB_RING_BATCH_MAX + 1] = { 1, 2 };

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	tu_assert_rc(sb_ring_commit(&pub), SB_ESTATE);
	tu_assert_rc(sb_ring_abort(&pub), SB_ESTATE);
	tu_assert_rc(sb_ring_consume(&sub), SB_ESTATE);

	tu_assert_rc(sb_ring_claim(&pub, 16, &p), SB_OK);
	tu_assert_rc(sb_ring_claim(&pub, 16, &q[0]), SB_ESTATE);
	tu_assert_rc(sb_ring_claim_batch(&pub, lens, 2, q), SB_ESTATE);
	tu_assert_rc(sb_ring_send(&pub, "x", 1), SB_ESTATE);
	tu_fill(p, 16, seed_of(0));
	tu_assert_rc(sb_ring_commit(&pub), SB_OK);
	tu_assert_rc(sb_ring_commit(&pub), SB_ESTATE);

	tu_assert_rc(sb_ring_claim_batch(&pub, lens, 0, q), SB_EINVAL);
	tu_assert_rc(sb_ring_claim_batch(&pub, lens, SB_RING_BATCH_MAX + 1, q), SB_EINVAL);

	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	tu_assert_rc(sb_ring_consume(&sub), SB_ESTATE); /* nothing peeked since */
	expect_empty(&sub);
	tu_assert_rc(sb_ring_consume(&sub), SB_ESTATE); /* an empty peek hands out nothing */
	assert_int_equal(sb_ring_sub_consumed(&sub), 1);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_abort_skipped_without_gap(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	void *p[3] = { 0 };
	uint32_t lens[3] = { 30, 300, 3 };

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	send_rec(&pub, 40, seed_of(0));
	tu_assert_rc(sb_ring_claim(&pub, 100, &p[0]), SB_OK);
	memset(p[0], 0xee, 100);
	tu_assert_rc(sb_ring_abort(&pub), SB_OK);
	tu_assert_rc(sb_ring_abort(&pub), SB_ESTATE);
	send_rec(&pub, 41, seed_of(1));
	tu_assert_rc(sb_ring_claim_batch(&pub, lens, 3, p), SB_OK);
	tu_assert_rc(sb_ring_abort(&pub), SB_OK);
	send_rec(&pub, 42, seed_of(2));

	expect_rec(&sub, 40, 0, 0);
	expect_rec(&sub, 41, 1, 0);
	expect_rec(&sub, 42, 2, 0);
	expect_empty(&sub);
	assert_int_equal(sb_ring_sub_lost(&sub), 0);
	assert_int_equal(atomic_load(&fx.seg.prod->next_seq), 3);
	assert_int_equal(atomic_load(&pub.slot->aborted), 4);
	assert_int_equal(atomic_load(&pub.slot->records), 3);

	/* An aborted claim only ever seen by the subscriber still frees space:
	 * the subscriber's cursor moves past it. */
	tu_assert_rc(sb_ring_claim(&pub, 64, &p[0]), SB_OK);
	tu_assert_rc(sb_ring_abort(&pub), SB_OK);
	expect_empty(&sub);
	assert_int_equal(atomic_load(&sub.slot->cursor), atomic_load(&fx.seg.prod->tail));
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

/* -------------------------------------------------------- wrap, padding */

static void test_ring_wrap_pad_and_gap(void **state)
{
	const uint64_t cap = 4096;
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	struct layout_sim sim = { .cap = cap };
	uint64_t rnd = 12345;

	fx_open(&fx, state, cap, 1024);
	sim.align = fx.align;
	unsigned checked_pads = 0;

	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	for (uint64_t seq = 0; seq < 3000; seq++) {
		uint64_t room = cap - sim.pos % cap, at;
		uint32_t len = (uint32_t)(tu_rand(&rnd) % 1025);

		/* Every 5th record: end exactly 8 bytes before the end of the
		 * ring, so the next one needs the implicit gap. */
		if (seq % 5 == 0 && room >= 8 + SB_REC_HDR_SIZE && room - 8 - SB_REC_HDR_SIZE <= 1024)
			len = (uint32_t)(room - 8 - SB_REC_HDR_SIZE);
		at = sim_place(&sim, len);
		send_rec(&pub, len, seed_of(seq));
		if (sim.padded && sim.last_pad_pos + sim.last_pad_room == at) {
			/* The pad is in the ring, typed and sized to the end. */
			uint64_t w = word_at(&fx.seg, sim.last_pad_pos);

			if (sb_rec_word_type(w) != SB_REC_PAD ||
			    sb_rec_word_len(w) != sim.last_pad_room - SB_REC_HDR_SIZE)
				fail_msg("seq %llu: expected a PAD of %llu bytes at %llu, word 0x%016llx",
					 (unsigned long long)seq, (unsigned long long)sim.last_pad_room,
					 (unsigned long long)sim.last_pad_pos, (unsigned long long)w);
			checked_pads++;
		}
		tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
		assert_int_equal(v.pos, at);
		assert_int_equal(v.seq, seq);
		assert_int_equal(v.len, len);
		assert_int_equal(v.lost, 0);
		assert_int_equal(v.pos % fx.align, 0);
		assert_true(in_ring(&fx.rd, v.data, v.len));
		if (!tu_check(v.data, len, seed_of(seq)))
			fail_msg("record %llu (len %u at %llu) arrived damaged", (unsigned long long)seq,
				 len, (unsigned long long)at);
		tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	}
	expect_empty(&sub);
	/* The sequence really exercised both fillers over many laps (with
	 * records aligned to 16 bytes or more, no 8-byte gap can occur). */
	assert_true(sim.pads > 50);
	if (fx.align == 8)
		assert_true(sim.gaps > 50);
	else
		assert_int_equal(sim.gaps, 0);
	assert_true(checked_pads == sim.pads);
	assert_true(sim.pos / cap > 100);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_batch_wraps(void **state)
{
	const uint64_t cap = 4096;
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v[16];
	struct layout_sim sim = { .cap = cap };
	uint64_t seq = 0;

	fx_open(&fx, state, cap, 1024);
	sim.align = fx.align;
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	for (int round = 0; round < 200; round++) {
		uint32_t lens[7];
		void *p[7];
		uint64_t at[7];
		int n;

		/* Lead-in record that leaves a different room each round. */
		uint32_t lead = (uint32_t)((round * 136) % 1024);
		sim_place(&sim, lead);
		send_rec(&pub, lead, seed_of(seq));
		n = sb_ring_peek_batch(&sub, v, 16);
		assert_int_equal(n, 1);
		tu_assert_rc(sb_ring_consume(&sub), SB_OK);
		seq++;

		for (unsigned i = 0; i < 7; i++) {
			lens[i] = (uint32_t)(200 + 8 * ((round + i) % 5));
			if (round % 3 == 0 && i == 3) {
				/* End 8 bytes before the end of the ring when
				 * possible: an implicit gap inside the batch. */
				uint64_t room = cap - sim.pos % cap;

				lens[i] = room >= 32 && room - 24 <= 1024 ? (uint32_t)(room - 24) : 0;
			}
			at[i] = sim_place(&sim, lens[i]);
		}
		tu_assert_rc(sb_ring_claim_batch(&pub, lens, 7, p), SB_OK);
		for (unsigned i = 0; i < 7; i++) {
			assert_ptr_equal(p[i], fx.seg.data + ((at[i] + SB_REC_HDR_SIZE) & (cap - 1)));
			assert_true(in_ring(&fx.seg, p[i], lens[i]));
			tu_fill(p[i], lens[i], seed_of(seq + i));
		}
		/* Nothing of the batch is visible before its commit. */
		assert_int_equal(sb_ring_peek_batch(&sub, v, 16), SB_EEMPTY);
		tu_assert_rc(sb_ring_commit(&pub), SB_OK);

		/* Read it back in two peeks: 4, then the remaining 3. */
		n = sb_ring_peek_batch(&sub, v, 4);
		assert_int_equal(n, 4);
		for (unsigned i = 0; i < 4; i++) {
			assert_int_equal(v[i].seq, seq + i);
			assert_int_equal(v[i].pos, at[i]);
			assert_int_equal(v[i].len, lens[i]);
			assert_int_equal(v[i].lost, 0);
			assert_true(tu_check(v[i].data, lens[i], seed_of(seq + i)));
		}
		tu_assert_rc(sb_ring_consume(&sub), SB_OK);
		n = sb_ring_peek_batch(&sub, v, 16);
		assert_int_equal(n, 3);
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(v[i].seq, seq + 4 + i);
			assert_int_equal(v[i].pos, at[4 + i]);
			assert_true(tu_check(v[i].data, lens[4 + i], seed_of(seq + 4 + i)));
		}
		tu_assert_rc(sb_ring_consume(&sub), SB_OK);
		seq += 7;
	}
	expect_empty(&sub);
	assert_true(sim.pads > 20);
	if (fx.align == 8)
		assert_true(sim.gaps > 10);
	assert_int_equal(sb_ring_sub_consumed(&sub), seq);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_batch_larger_than_ring(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	uint32_t lens[SB_RING_BATCH_MAX];
	void *p[SB_RING_BATCH_MAX];
	int rc;

	fx_open(&fx, state, 4096, 1024);
	fx_pub(&fx, &pub);
	for (unsigned i = 0; i < SB_RING_BATCH_MAX; i++)
		lens[i] = 1024;
	/* No subscriber at all: a back-pressure answer would tell the caller to
	 * retry something that can never fit. */
	rc = sb_ring_claim_batch(&pub, lens, SB_RING_BATCH_MAX, p);
	if (rc != SB_EMSGSIZE && rc != SB_EINVAL)
		fail_msg("a batch of %u x 1024 bytes in a 4 KiB ring returned %d (%s); expected "
			 "SB_EMSGSIZE or SB_EINVAL, since retrying cannot help",
			 SB_RING_BATCH_MAX, rc, sb_strerror(rc));
	sb_ring_pub_detach(&pub);
	fx_close(&fx);
}

/* ------------------------------------------------------ flow control */

static void test_ring_tethered_backpressure(void **state)
{
	const uint64_t cap = 4096;
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	void *p = NULL;
	uint32_t lens[64];
	uint64_t published = 0, seq_read = 0;

	fx_open(&fx, state, cap, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	/* 256-byte records.  docs/ring.md 4.1: a claim must end 16 bytes (the
	 * commit word it zeroes) at or below cursor + capacity, so 15 fit while
	 * the subscriber sits at 0. */
	for (;;) {
		int rc = sb_ring_claim(&pub, 240, &p);

		if (rc == SB_EBACKPRESSURE)
			break;
		tu_assert_rc(rc, SB_OK);
		tu_fill(p, 240, seed_of(published));
		tu_assert_rc(sb_ring_commit(&pub), SB_OK);
		lens[published++] = 240;
		assert_true(published <= 16);
	}
	assert_int_equal(published, 15);
	assert_int_equal(atomic_load(&pub.slot->backpressure), 1);
	/* The refused call claimed nothing and left no claim open. */
	assert_int_equal(atomic_load(&fx.seg.prod->head), 15 * 256);
	tu_assert_rc(sb_ring_commit(&pub), SB_ESTATE);
	tu_assert_rc(sb_ring_claim(&pub, 240, &p), SB_EBACKPRESSURE);
	assert_int_equal(atomic_load(&pub.slot->backpressure), 2);

	/* One record consumed frees exactly one record's room. */
	expect_rec(&sub, 240, seq_read++, 0);
	send_rec(&pub, 240, seed_of(published));
	lens[published++] = 240;
	tu_assert_rc(sb_ring_claim(&pub, 240, &p), SB_EBACKPRESSURE);

	/* Drained, the ring takes 15 more before pushing back again. */
	while (seq_read < published) {
		expect_rec(&sub, lens[seq_read], seq_read, 0);
		seq_read++;
	}
	for (int i = 0; i < 15; i++) {
		send_rec(&pub, 240, seed_of(published));
		lens[published++] = 240;
	}
	/* head = 7936, cursor = 4096: 256 bytes left.  A 232-byte payload
	 * (248 + 16 > 256) does not fit, a 224-byte one (240 + 16) exactly does. */
	tu_assert_rc(sb_ring_claim(&pub, 240, &p), SB_EBACKPRESSURE);
	tu_assert_rc(sb_ring_claim(&pub, 232, &p), SB_EBACKPRESSURE);
	tu_assert_rc(sb_ring_claim(&pub, 224, &p), SB_OK);
	tu_fill(p, 224, seed_of(published));
	tu_assert_rc(sb_ring_commit(&pub), SB_OK);
	lens[published++] = 224;
	tu_assert_rc(sb_ring_claim(&pub, 0, &p), SB_EBACKPRESSURE);
	while (seq_read < published) {
		expect_rec(&sub, lens[seq_read], seq_read, 0);
		seq_read++;
	}
	expect_empty(&sub);
	assert_int_equal(sb_ring_sub_lost(&sub), 0);
	assert_int_equal(atomic_load(&pub.slot->records), published);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_untethered_never_gates(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_UNTETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	for (uint64_t i = 0; i < 1000; i++)
		send_rec(&pub, 1000, seed_of(i));
	assert_int_equal(atomic_load(&pub.slot->backpressure), 0);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_detach_stops_gating(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub, other;
	void *p = NULL;
	int n = 0;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	while (sb_ring_claim(&pub, 240, &p) == SB_OK) {
		tu_assert_rc(sb_ring_commit(&pub), SB_OK);
		n++;
	}
	assert_int_equal(n, 15);
	tu_assert_rc(sb_ring_claim(&pub, 240, &p), SB_EBACKPRESSURE);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[sub.slot_idx].state), SB_SLOT_TETHERED);
	sb_ring_sub_detach(&sub);
	sb_ring_sub_detach(&sub); /* idempotent */
	assert_int_equal(atomic_load(&fx.seg.subs->sub[0].state), SB_SLOT_FREE);
	/* The slot no longer gates: the publisher laps the old cursor freely. */
	for (int i = 0; i < 100; i++) {
		tu_assert_rc(sb_ring_claim(&pub, 240, &p), SB_OK);
		tu_assert_rc(sb_ring_commit(&pub), SB_OK);
	}
	/* And the freed slot can be taken again. */
	fx_sub(&fx, &other, SB_SUB_TETHERED, SB_START_LATEST);
	assert_int_equal(other.slot_idx, 0);
	sb_ring_sub_detach(&other);
	sb_ring_pub_detach(&pub);
	fx_close(&fx);
}

/* ------------------------------------------------------------- lapping */

static void test_ring_untethered_lapped_exact_loss(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	uint64_t seq = 0;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_UNTETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&sub, 240, 0, 0);
	/* 40 records of 256 bytes: 2.5 laps past the subscriber. */
	for (int i = 0; i < 40; i++)
		send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_ELAPPED);
	assert_true(sb_last_error()[0] != '\0');
	assert_int_equal(sb_ring_sub_laps(&sub), 1);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[sub.slot_idx].laps), 1);
	/* It resumed at the newest record: nothing until the next commit. */
	expect_empty(&sub);
	send_rec(&pub, 240, seed_of(seq++));
	send_rec(&pub, 240, seed_of(seq++));
	/* seqs 1..40 were missed. */
	expect_rec(&sub, 240, 41, 40);
	assert_int_equal(sb_ring_sub_lost(&sub), 40);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[sub.slot_idx].lost), 40);
	expect_rec(&sub, 240, 42, 0);
	assert_int_equal(sb_ring_sub_lost(&sub), 40);
	assert_int_equal(sb_ring_sub_consumed(&sub), 3);

	/* A second lap, this time with records of mixed sizes and a batch. */
	for (int i = 0; i < 50; i++)
		send_rec(&pub, (uint32_t)(i * 37 % 1000), seed_of(seq++));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_ELAPPED);
	send_rec(&pub, 7, seed_of(seq++));
	expect_rec(&sub, 7, seq - 1, 50);
	assert_int_equal(sb_ring_sub_lost(&sub), 90);
	assert_int_equal(sb_ring_sub_laps(&sub), 2);
	/* Every record is counted once: consumed or lost. */
	assert_int_equal(sb_ring_sub_consumed(&sub), 4);
	assert_int_equal(sb_ring_sub_consumed(&sub) + sb_ring_sub_lost(&sub), seq);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_untethered_lapped_before_first_record(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	uint64_t seq = 0;

	fx_open(&fx, state, 4096, 1024);
	/* Two records exist before the subscriber attaches: not its loss. */
	fx_pub(&fx, &pub);
	send_rec(&pub, 240, seed_of(seq++));
	send_rec(&pub, 240, seed_of(seq++));
	fx_sub(&fx, &sub, SB_SUB_UNTETHERED, SB_START_LATEST);
	for (int i = 0; i < 40; i++)
		send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_ELAPPED);
	send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(v.seq, 42);
	/* DESIGN.md 3: a lapped subscriber "learns exactly how many records it
	 * lost": the 40 committed after it attached. */
	if (v.lost != 40)
		fail_msg("untethered subscriber lapped before its first record: view.lost = %llu, "
			 "but it missed the 40 records (seqs 2..41) committed after it attached",
			 (unsigned long long)v.lost);
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	assert_int_equal(sb_ring_sub_lost(&sub), 40);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_untethered_overwritten_while_peeked(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	uint64_t seq = 0;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_UNTETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&sub, 240, 0, 0);
	send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(v.seq, 1);
	/* While the reader holds the view, the publisher laps it. */
	for (int i = 0; i < 20; i++)
		send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_consume(&sub), SB_ELAPPED);
	assert_int_equal(sb_ring_sub_consumed(&sub), 1);
	assert_int_equal(sb_ring_sub_laps(&sub), 1);
	tu_assert_rc(sb_ring_consume(&sub), SB_ESTATE);
	/* The discarded record counts as lost: seqs 1..21. */
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&sub, 240, 22, 21);
	assert_int_equal(sb_ring_sub_lost(&sub), 21);

	/* Same for a batch peek. */
	send_rec(&pub, 240, seed_of(seq++));
	send_rec(&pub, 240, seed_of(seq++));
	assert_int_equal(sb_ring_peek_batch(&sub, &v, 1), 1);
	for (int i = 0; i < 16; i++)
		send_rec(&pub, 240, seed_of(seq++));
	tu_assert_rc(sb_ring_consume(&sub), SB_ELAPPED);

	/* Discarded: seqs 23..40. */
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&sub, 240, seq - 1, 18);
	assert_int_equal(sb_ring_sub_lost(&sub), 21 + 18);
	assert_int_equal(sb_ring_sub_laps(&sub), 2);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

/* ------------------------------------------------------ start points */

static void test_ring_start_oldest_vs_latest(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub old_t, old_u, late;
	struct sb_ring_view v;
	uint64_t seq = 0;

	fx_open(&fx, state, 4096, 1024);
	fx_pub(&fx, &pub);
	for (int i = 0; i < 5; i++)
		send_rec(&pub, 240, seed_of(seq++));
	fx_sub(&fx, &old_t, SB_SUB_TETHERED, SB_START_OLDEST);
	fx_sub(&fx, &old_u, SB_SUB_UNTETHERED, SB_START_OLDEST);
	fx_sub(&fx, &late, SB_SUB_TETHERED, SB_START_LATEST);
	for (uint64_t s = 0; s < 5; s++) {
		expect_rec(&old_t, 240, s, 0);
		expect_rec(&old_u, 240, s, 0);
	}
	expect_empty(&old_t);
	expect_empty(&late);
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&old_t, 240, 5, 0);
	expect_rec(&old_u, 240, 5, 0);
	expect_rec(&late, 240, 5, 0);
	sb_ring_sub_detach(&old_t);
	sb_ring_sub_detach(&old_u);
	sb_ring_sub_detach(&late);

	/* After more than a lap (head at 5 * 256 + 15 * 256 = 5120), the
	 * oldest intact lap boundary is 4096, i.e. seq 16. */
	for (int i = 0; i < 14; i++)
		send_rec(&pub, 240, seed_of(seq++));
	assert_int_equal(atomic_load(&fx.seg.prod->head), 5120);
	fx_sub(&fx, &old_t, SB_SUB_TETHERED, SB_START_OLDEST);
	fx_sub(&fx, &old_u, SB_SUB_UNTETHERED, SB_START_OLDEST);
	tu_assert_rc(sb_ring_peek(&old_t, &v), SB_OK);
	assert_int_equal(v.pos, 4096);
	for (uint64_t s = 16; s < 20; s++) {
		expect_rec(&old_t, 240, s, 0);
		expect_rec(&old_u, 240, s, 0);
	}
	expect_empty(&old_t);
	expect_empty(&old_u);
	/* The tethered OLDEST subscriber gates from where it started. */
	send_rec(&pub, 240, seed_of(seq++));
	expect_rec(&old_t, 240, 20, 0);
	sb_ring_sub_detach(&old_t);
	sb_ring_sub_detach(&old_u);
	sb_ring_pub_detach(&pub);
	fx_close(&fx);
}

/* Attach a tethered SB_START_OLDEST subscriber to a quiescent ring and peek
 * once.  Nothing is being published, so its start point is intact by
 * definition: being lapped there is wrong.  Returns a complaint or NULL. */
static const char *oldest_lapped(struct ring_fx *fx, char *buf, size_t len)
{
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	int rc;

	fx_sub(fx, &sub, SB_SUB_TETHERED, SB_START_OLDEST);
	rc = sb_ring_peek(&sub, &v);
	sb_ring_sub_detach(&sub);
	if (rc == SB_ELAPPED) {
		snprintf(buf, len, "head %llu: lapped on its first peek (%s)",
			 (unsigned long long)atomic_load(&fx->seg.prod->head), sb_last_error());
		return buf;
	}
	if (rc != SB_EEMPTY)
		tu_assert_rc(rc, SB_OK);
	return NULL;
}

static void test_ring_start_oldest_at_lap_edges(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	uint64_t seq = 0;
	char b1[256], b2[256];
	const char *e1, *e2;

	fx_open(&fx, state, 4096, 1024);
	fx_pub(&fx, &pub);
	/* head exactly one capacity: the commit word zeroed after the last
	 * record is the first record's. */
	for (int i = 0; i < 16; i++)
		send_rec(&pub, 240, seed_of(seq++));
	assert_int_equal(atomic_load(&fx.seg.prod->head), 4096);
	e1 = oldest_lapped(&fx, b1, sizeof(b1));
	/* head 8 bytes short of a lap end: the zeroed word is at the next lap,
	 * i.e. again on the oldest lap boundary. */
	for (int i = 0; i < 15; i++)
		send_rec(&pub, 240, seed_of(seq++));
	send_rec(&pub, 232, seed_of(seq++));
	if (fx.align == 8) {
		assert_int_equal(atomic_load(&fx.seg.prod->head), 2 * 4096 - 8);
		e2 = oldest_lapped(&fx, b2, sizeof(b2));
	} else {
		e2 = NULL;
	}
	if (e1 || e2)
		fail_msg("a tethered SB_START_OLDEST subscriber on a quiescent ring was lapped: %s%s%s",
			 e1 ? e1 : "", e1 && e2 ? "; " : "", e2 ? e2 : "");
	sb_ring_pub_detach(&pub);
	fx_close(&fx);
}

/* -------------------------------------------------- attach and slots */

static void test_ring_exclusive_conflicts(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub a, b, c;

	(void)state;
	fx_open(&fx, NULL, 4096, 1024);
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&c, &fx.seg, SB_PUB_EXCLUSIVE), SB_EBUSY);
	assert_true(sb_last_error()[0] != '\0');
	tu_assert_rc(sb_ring_pub_attach(&b, &fx.seg, SB_PUB_SHARED), SB_OK);
	assert_int_equal(atomic_load(&fx.seg.prod->publishers), 2);
	sb_ring_pub_detach(&a);
	tu_assert_rc(sb_ring_pub_attach(&c, &fx.seg, SB_PUB_EXCLUSIVE), SB_EBUSY);
	sb_ring_pub_detach(&b);
	sb_ring_pub_detach(&b); /* idempotent */
	assert_int_equal(atomic_load(&fx.seg.prod->publishers), 0);

	tu_assert_rc(sb_ring_pub_attach(&c, &fx.seg, SB_PUB_EXCLUSIVE), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.seg, SB_PUB_SHARED), SB_EBUSY);
	tu_assert_rc(sb_ring_pub_attach(&b, &fx.seg, SB_PUB_EXCLUSIVE), SB_EBUSY);
	/* A refused attach takes no slot. */
	assert_int_equal(atomic_load(&fx.seg.prod->pub[1].state), SB_SLOT_FREE);
	sb_ring_pub_detach(&c);
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.seg, SB_PUB_SHARED), SB_OK);
	sb_ring_pub_detach(&a);

	tu_assert_rc(sb_ring_pub_attach(&a, &fx.seg, (enum sb_ring_pub_mode)9), SB_EINVAL);
	tu_assert_rc(sb_ring_pub_attach(&a, NULL, SB_PUB_SHARED), SB_EINVAL);
	/* A subscriber mapping cannot publish. */
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.rd, SB_PUB_SHARED), SB_EACCES);
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.rd, SB_PUB_EXCLUSIVE), SB_EACCES);
	assert_int_equal(atomic_load(&fx.seg.prod->publishers), 0);
	fx_close(&fx);
}

static void test_ring_publisher_slots_exhausted(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub p[3];

	(void)state;
	fx_open_ex(&fx, NULL, 4096, 1024, 8, 2);
	tu_assert_rc(sb_ring_pub_attach(&p[0], &fx.seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&p[1], &fx.seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&p[2], &fx.seg, SB_PUB_SHARED), SB_ENOSPC);
	/* The refused attach released the mode it took. */
	assert_int_equal(atomic_load(&fx.seg.prod->publishers), 2);
	sb_ring_pub_detach(&p[0]);
	tu_assert_rc(sb_ring_pub_attach(&p[2], &fx.seg, SB_PUB_SHARED), SB_OK);
	assert_int_equal(p[2].slot_idx, 0);
	sb_ring_pub_detach(&p[1]);
	sb_ring_pub_detach(&p[2]);
	fx_close(&fx);
}

static void test_ring_subscriber_slots_exhausted(void **state)
{
	struct ring_fx fx;
	struct sb_ring_sub s[4];

	(void)state;
	fx_open_ex(&fx, NULL, 4096, 1024, 3, 2);
	tu_assert_rc(sb_ring_sub_attach(&s[0], &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&s[1], &fx.rd, SB_SUB_UNTETHERED, SB_START_OLDEST, SB_WAIT_YIELD), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&s[2], &fx.seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_BLOCK), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&s[3], &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_ENOSPC);
	assert_true(sb_last_error()[0] != '\0');
	assert_int_equal(atomic_load(&fx.seg.subs->sub[0].state), SB_SLOT_TETHERED);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[1].state), SB_SLOT_UNTETHERED);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[2].state), SB_SLOT_TETHERED);
	assert_int_equal(atomic_load(&fx.seg.subs->blocking), 1);
	sb_ring_sub_detach(&s[1]);
	assert_int_equal(atomic_load(&fx.seg.subs->sub[1].state), SB_SLOT_FREE);
	tu_assert_rc(sb_ring_sub_attach(&s[3], &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	assert_int_equal(s[3].slot_idx, 1);
	sb_ring_sub_detach(&s[2]);
	assert_int_equal(atomic_load(&fx.seg.subs->blocking), 0);
	sb_ring_sub_detach(&s[0]);
	sb_ring_sub_detach(&s[3]);

	tu_assert_rc(sb_ring_sub_attach(&s[0], NULL, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_EINVAL);
	tu_assert_rc(sb_ring_sub_attach(&s[0], &fx.rd, (enum sb_ring_sub_kind)5, SB_START_LATEST, SB_WAIT_SPIN), SB_EINVAL);
	tu_assert_rc(sb_ring_sub_attach(&s[0], &fx.rd, SB_SUB_TETHERED, (enum sb_ring_sub_start)5, SB_WAIT_SPIN), SB_EINVAL);
	tu_assert_rc(sb_ring_sub_attach(&s[0], &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, (enum sb_ring_wait_strategy)5), SB_EINVAL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&fx.seg.subs->sub[i].state), SB_SLOT_FREE);
	fx_close(&fx);
}

static void test_ring_mode_switch_keeps_sequence(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	uint64_t seq = 0;

	(void)state;
	fx_open(&fx, NULL, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	for (int round = 0; round < 6; round++) {
		enum sb_ring_pub_mode m = round % 2 ? SB_PUB_EXCLUSIVE : SB_PUB_SHARED;

		tu_assert_rc(sb_ring_pub_attach(&pub, &fx.seg, m), SB_OK);
		for (int i = 0; i < 7; i++) {
			send_rec(&pub, (uint32_t)(100 * i + round), seed_of(seq));
			expect_rec(&sub, (uint32_t)(100 * i + round), seq, 0);
			seq++;
		}
		sb_ring_pub_detach(&pub);
	}
	assert_int_equal(atomic_load(&fx.seg.prod->next_seq), seq);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_detach_aborts_open_claim(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	void *p = NULL;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	tu_assert_rc(sb_ring_claim(&pub, 500, &p), SB_OK);
	memset(p, 0xab, 500);
	sb_ring_pub_detach(&pub);
	assert_int_equal(atomic_load(&fx.seg.prod->head), atomic_load(&fx.seg.prod->tail));
	fx_pub(&fx, &pub);
	send_rec(&pub, 12, seed_of(0));
	expect_rec(&sub, 12, 0, 0);
	expect_empty(&sub);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_shared_publishers_commit_in_claim_order(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub a, b;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	void *pa = NULL, *pb = NULL;

	(void)state;
	fx_open(&fx, NULL, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	tu_assert_rc(sb_ring_pub_attach(&a, &fx.seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&b, &fx.seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_claim(&a, 10, &pa), SB_OK);
	tu_assert_rc(sb_ring_claim(&b, 20, &pb), SB_OK);
	assert_ptr_equal(pb, (uint8_t *)pa + fx_size(&fx, 10));
	tu_fill(pa, 10, seed_of(0));
	tu_fill(pb, 20, seed_of(1));
	tu_assert_rc(sb_ring_commit(&a), SB_OK);
	tu_assert_rc(sb_ring_commit(&b), SB_OK);
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(sb_rec_word_pub(word_at(&fx.seg, v.pos)), a.slot_idx);
	expect_rec(&sub, 10, 0, 0);
	tu_assert_rc(sb_ring_peek(&sub, &v), SB_OK);
	assert_int_equal(sb_rec_word_pub(word_at(&fx.seg, v.pos)), b.slot_idx);
	expect_rec(&sub, 20, 1, 0);

	/* The earlier claim aborted: the later one still gets the next seq. */
	tu_assert_rc(sb_ring_claim(&a, 30, &pa), SB_OK);
	tu_assert_rc(sb_ring_claim(&b, 40, &pb), SB_OK);
	tu_fill(pb, 40, seed_of(2));
	tu_assert_rc(sb_ring_abort(&a), SB_OK);
	tu_assert_rc(sb_ring_commit(&b), SB_OK);
	expect_rec(&sub, 40, 2, 0);
	expect_empty(&sub);
	sb_ring_pub_detach(&a);
	sb_ring_pub_detach(&b);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

static void test_ring_counters(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	const struct sb_sub_slot *ss;
	uint64_t bytes = 0;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	for (uint64_t i = 0; i < 10; i++) {
		send_rec(&pub, (uint32_t)(i * 11), seed_of(i));
		bytes += i * 11;
		expect_rec(&sub, (uint32_t)(i * 11), i, 0);
	}
	ss = &fx.seg.subs->sub[sub.slot_idx];
	assert_int_equal(atomic_load(&pub.slot->records), 10);
	assert_int_equal(atomic_load(&ss->consumed), 10);
	assert_int_equal(atomic_load(&ss->cursor), atomic_load(&fx.seg.prod->tail));
	assert_int_equal(atomic_load(&ss->lost), 0);
	assert_int_equal(atomic_load(&pub.slot->backpressure), 0);
	assert_int_equal(atomic_load(&fx.seg.prod->pub_slots_hwm), 1);
	assert_int_equal(atomic_load(&fx.seg.subs->sub_slots_hwm), 1);
	/* sb_layout.h: "bytes: committed payload bytes". */
	if (atomic_load(&pub.slot->bytes) != bytes)
		fail_msg("publisher slot counts %llu committed payload bytes, %llu were committed",
			 (unsigned long long)atomic_load(&pub.slot->bytes), (unsigned long long)bytes);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

/* -------------------------------------------------------- poll, wait */

struct collected {
	unsigned n;
	struct sb_ring_view v[64];
	bool intact[64];
};

static void collect(void *ctx, const struct sb_ring_view *v)
{
	struct collected *c = ctx;

	if (c->n < 64) {
		c->v[c->n] = *v;
		c->intact[c->n] = tu_check(v->data, v->len, seed_of(v->seq));
	}
	c->n++;
}

static void test_ring_poll_delivers(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub teth, unt;
	struct collected c;

	fx_open(&fx, state, 4096, 1024);
	fx_sub(&fx, &teth, SB_SUB_TETHERED, SB_START_LATEST);
	fx_sub(&fx, &unt, SB_SUB_UNTETHERED, SB_START_LATEST);
	fx_pub(&fx, &pub);
	memset(&c, 0, sizeof(c));
	assert_int_equal(sb_ring_poll(&teth, collect, &c, 8), 0);
	assert_int_equal(sb_ring_poll(&unt, collect, &c, 8), 0);
	assert_int_equal(c.n, 0);
	for (uint64_t i = 0; i < 5; i++)
		send_rec(&pub, (uint32_t)(50 + i), seed_of(i));

	/* Tethered: in place, up to max per call. */
	assert_int_equal(sb_ring_poll(&teth, collect, &c, 3), 3);
	assert_int_equal(sb_ring_poll(&teth, collect, &c, 100), 2);
	assert_int_equal(sb_ring_poll(&teth, collect, &c, 100), 0);
	assert_int_equal(c.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(c.v[i].seq, i);
		assert_int_equal(c.v[i].len, 50 + i);
		assert_true(c.intact[i]);
		assert_true(in_ring(&fx.rd, c.v[i].data, c.v[i].len));
	}
	assert_int_equal(sb_ring_sub_consumed(&teth), 5);
	sb_ring_sub_detach(&teth);

	/* Untethered: a private, validated copy. */
	memset(&c, 0, sizeof(c));
	while (sb_ring_poll(&unt, collect, &c, 8) > 0)
		;
	assert_int_equal(c.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(c.v[i].seq, i);
		assert_true(c.intact[i]);
		assert_false(in_ring(&fx.rd, c.v[i].data, 1));
		assert_false(in_ring(&fx.seg, c.v[i].data, 1));
	}
	assert_int_equal(sb_ring_sub_consumed(&unt), 5);

	/* Untethered poll reports a lap instead of delivering. */
	for (int i = 0; i < 40; i++)
		send_rec(&pub, 240, seed_of(5 + (uint64_t)i));
	memset(&c, 0, sizeof(c));
	tu_assert_rc(sb_ring_poll(&unt, collect, &c, 8), SB_ELAPPED);
	assert_int_equal(c.n, 0);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&unt);
	fx_close(&fx);
}

static void test_ring_wait_strategies_time_out_and_return(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub spin, yield, block, stream;

	(void)state;
	fx_open(&fx, NULL, 4096, 1024);
	tu_assert_rc(sb_ring_sub_attach(&stream, &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_STREAM), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&spin, &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&yield, &fx.rd, SB_SUB_UNTETHERED, SB_START_LATEST, SB_WAIT_YIELD), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&block, &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_BLOCK), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&pub, &fx.seg, SB_PUB_EXCLUSIVE), SB_OK);
	tu_assert_rc(sb_ring_wait(&spin, 1000000), SB_ETIMEDOUT);
	tu_assert_rc(sb_ring_wait(&yield, 1000000), SB_ETIMEDOUT);
	tu_assert_rc(sb_ring_wait(&block, 2000000), SB_ETIMEDOUT);
	tu_assert_rc(sb_ring_wait(&stream, 1000000), SB_ETIMEDOUT);
	assert_int_equal(atomic_load(&fx.seg.subs->sleepers), 0);
	send_rec(&pub, 1, seed_of(0));
	tu_assert_rc(sb_ring_wait(&stream, 1000000), SB_OK);
	tu_assert_rc(sb_ring_wait(&stream, 0), SB_OK);
	expect_rec(&stream, 1, 0, 0);
	tu_assert_rc(sb_ring_wait(&stream, 1000), SB_ETIMEDOUT);
	tu_assert_rc(sb_ring_wait(&spin, 1000000), SB_OK);
	tu_assert_rc(sb_ring_wait(&yield, 0), SB_OK);
	tu_assert_rc(sb_ring_wait(&block, 0), SB_OK);
	expect_rec(&spin, 1, 0, 0);
	expect_rec(&block, 1, 0, 0);
	tu_assert_rc(sb_ring_wait(&spin, 1000), SB_ETIMEDOUT);
	tu_assert_rc(sb_ring_wait(&yield, 0), SB_OK); /* still unread */
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&spin);
	sb_ring_sub_detach(&yield);
	sb_ring_sub_detach(&block);
	sb_ring_sub_detach(&stream);
	fx_close(&fx);
}

struct waiter {
	struct sb_ring_sub *sub;
	atomic_int started;
	atomic_int rc;
	atomic_int done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	atomic_store(&w->started, 1);
	atomic_store(&w->rc, sb_ring_wait(w->sub, 0));
	atomic_store(&w->done, 1);
	return NULL;
}

/* rounds times: a thread waits on sub with no deadline; once it is waiting
 * (until_asleep: asleep on the doorbell, counted in its sleepers, and not
 * returned; else: it has announced itself) one record is published, and the
 * wait must return SB_OK with that record next. */
static void waiter_rounds(struct ring_fx *fx, struct sb_ring_pub *pub, struct sb_ring_sub *sub, int rounds,
			  bool until_asleep)
{
	struct waiter w = { .sub = sub };
	pthread_t t;

	for (int round = 0; round < rounds; round++) {
		atomic_store(&w.started, 0);
		atomic_store(&w.done, 0);
		atomic_store(&w.rc, 1);
		assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
		if (until_asleep) {
			while (atomic_load(&fx->seg.subs->sleepers) == 0)
				sched_yield();
			assert_int_equal(atomic_load(&w.done), 0);
		} else {
			while (atomic_load(&w.started) == 0)
				sched_yield();
		}
		send_rec(pub, 64, seed_of((uint64_t)round));
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(atomic_load(&w.done), 1);
		tu_assert_rc(atomic_load(&w.rc), SB_OK);
		expect_rec(sub, 64, (uint64_t)round, 0);
	}
}

static void test_ring_wait_block_woken_by_commit(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;

	fx_open(&fx, state, 4096, 1024);
	tu_assert_rc(sb_ring_sub_attach(&sub, &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_BLOCK), SB_OK);
	assert_int_equal(atomic_load(&fx.seg.subs->blocking), 1);
	fx_pub(&fx, &pub);
	waiter_rounds(&fx, &pub, &sub, 5, true);
	assert_int_equal(atomic_load(&fx.seg.subs->sleepers), 0);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	assert_int_equal(atomic_load(&fx.seg.subs->blocking), 0);
	fx_close(&fx);
}

/* A stream waiter (SB_WAIT_STREAM) without a deadline returns once a
 * commit lands, whether it started waiting before or after it, and never
 * sleeps on the doorbell.  The waiter announces itself before it waits; the
 * record goes out only then, so most rounds find it inside its slips. */
static void test_ring_wait_stream_returns_on_commit(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;

	fx_open(&fx, state, 4096, 1024);
	tu_assert_rc(sb_ring_sub_attach(&sub, &fx.rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_STREAM), SB_OK);
	assert_int_equal(atomic_load(&fx.seg.subs->blocking), 0);
	fx_pub(&fx, &pub);
	waiter_rounds(&fx, &pub, &sub, 20, false);
	assert_int_equal(atomic_load(&fx.seg.subs->sleepers), 0);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

/* The line an empty subscriber prefetches (sbi_wait_line_off) is the
 * hardware line after the one holding the word it polls, wrapping with the
 * ring: never outside the data region, whatever the word's offset. */
static void test_ring_wait_line_is_next_line(void **state)
{
	(void)state;
	for (uint64_t cap = 4096; cap <= 65536; cap *= 16) {
		for (uint64_t off = 0; off < cap; off += 8) {
			uint64_t line = sbi_wait_line_off(off, cap - 1);

			assert_true(line < cap);
			assert_int_equal(line % SB_HW_LINE, 0);
			assert_int_equal(line, (off / SB_HW_LINE + 1) * SB_HW_LINE % cap);
		}
	}
}

/* The read-ahead of a reader that is behind (sbi_prefetch_ahead): the
 * lines each record prefetches start in [pos, next) + SB_READ_AHEAD_BYTES,
 * are whole lines, and consecutive records of any sizes cover the stream
 * ahead with no gap and no line twice. */
static void test_ring_read_ahead_covers_each_line_once(void **state)
{
	uint64_t rng = 42;

	(void)state;
	for (unsigned trial = 0; trial < 64; trial++) {
		uint64_t pos = (tu_rand(&rng) % 100000) * 8, start = sbi_ahead_line(pos), expect = start;

		assert_true(start >= pos + SB_READ_AHEAD_BYTES && start < pos + SB_READ_AHEAD_BYTES + SB_HW_LINE);
		for (unsigned i = 0; i < 200; i++) {
			uint64_t next = pos + sb_rec_size_al((uint32_t)(tu_rand(&rng) % 300), 8);
			uint64_t from = sbi_ahead_line(pos), to = sbi_ahead_line(next);

			assert_int_equal(from, expect); /* meets the previous record's range */
			assert_int_equal(from % SB_HW_LINE, 0);
			for (uint64_t line = from; line < to; line += SB_HW_LINE) {
				assert_true(line >= pos + SB_READ_AHEAD_BYTES);
				assert_true(line < next + SB_READ_AHEAD_BYTES);
			}
			expect = to;
			pos = next;
		}
	}
}

/* The publisher's write-ahead (sbi_prefetch_write_ahead): for claims of at
 * most SB_WRITE_AHEAD_BYTES, the read-ahead's lines, cut at the last whole
 * line below the gate, so that it never takes a line a tethered subscriber
 * may still be reading; nothing for longer claims. */
static void test_ring_write_ahead_stays_below_gate(void **state)
{
	uint64_t rng = 7;
	unsigned cut = 0, whole = 0, none = 0;

	(void)state;
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t pos = (tu_rand(&rng) % 100000) * 8;
		uint64_t next = pos + sb_rec_size_al((uint32_t)(tu_rand(&rng) % 200), 8);
		uint64_t gate = next + tu_rand(&rng) % (2 * SB_READ_AHEAD_BYTES);
		uint64_t from, to;

		sbi_write_ahead_lines(pos, next, gate, &from, &to);
		if (next - pos > SB_WRITE_AHEAD_BYTES) {
			assert_true(to <= from);
			none++;
			continue;
		}
		assert_int_equal(from, sbi_ahead_line(pos));
		for (uint64_t line = from; line < to; line += SB_HW_LINE)
			assert_true(line + SB_HW_LINE <= gate);
		if (to < sbi_ahead_line(next)) {
			assert_true(to + SB_HW_LINE > gate); /* cut only by the gate */
			cut++;
		} else {
			assert_int_equal(to, sbi_ahead_line(next));
			whole++;
		}
	}
	/* Every branch was taken. */
	assert_true(cut > 0 && whole > 0 && none > 0);
}

/* The read-ahead starts only once a reader has found more than
 * SB_READ_AHEAD_AFTER records since it last found the ring empty (sub->run):
 * both peeks count, and an empty peek, or a batch walk that reaches the
 * end of what is committed, starts the count over. */
static void test_ring_read_ahead_run_counts_since_empty(void **state)
{
	struct ring_fx fx;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
	struct sb_ring_view v[32];
	uint64_t seq = 0;

	fx_open(&fx, state, 65536, 64);
	fx_pub(&fx, &pub);
	fx_sub(&fx, &sub, SB_SUB_TETHERED, SB_START_OLDEST);
	expect_empty(&sub);
	assert_int_equal(sub.run, 0);
	for (unsigned i = 0; i < SB_READ_AHEAD_AFTER + 8; i++)
		send_rec(&pub, 24, seed_of(i));
	for (unsigned i = 0; i < SB_READ_AHEAD_AFTER + 8; i++) {
		expect_rec(&sub, 24, seq, 0);
		seq++;
		assert_int_equal(sub.run, i + 1);
	}
	expect_empty(&sub);
	assert_int_equal(sub.run, 0);
	/* A walk that stops at max keeps counting; one that reaches the
	 * end of the committed records starts over. */
	for (unsigned i = 0; i < 40; i++)
		send_rec(&pub, 24, seed_of(seq + i));
	tu_assert_rc(sb_ring_peek_batch(&sub, v, 32), 32);
	assert_int_equal(sub.run, 32);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(v[i].seq, seq + i);
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	tu_assert_rc(sb_ring_peek_batch(&sub, v, 32), 8);
	assert_int_equal(v[7].seq, seq + 39);
	assert_int_equal(sub.run, 0);
	tu_assert_rc(sb_ring_consume(&sub), SB_OK);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&sub);
	fx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL_LAYOUTS(test_ring_single_record_roundtrip),
		ALL_LAYOUTS(test_ring_zero_length_record),
		ALL_LAYOUTS(test_ring_max_size_record),
		BOTH_MODES(test_ring_oversize_claim),
		BOTH_MODES(test_ring_call_sequence_errors),
		ALL_LAYOUTS(test_ring_abort_skipped_without_gap),
		ALL_LAYOUTS(test_ring_wrap_pad_and_gap),
		ALL_LAYOUTS(test_ring_batch_wraps),
		BOTH_MODES(test_ring_batch_larger_than_ring),
		BOTH_MODES(test_ring_tethered_backpressure),
		BOTH_MODES(test_ring_untethered_never_gates),
		BOTH_MODES(test_ring_detach_stops_gating),
		ALL_LAYOUTS(test_ring_untethered_lapped_exact_loss),
		BOTH_MODES(test_ring_untethered_lapped_before_first_record),
		ALL_LAYOUTS(test_ring_untethered_overwritten_while_peeked),
		BOTH_MODES(test_ring_start_oldest_vs_latest),
		BOTH_MODES(test_ring_start_oldest_at_lap_edges),
		cmocka_unit_test(test_ring_exclusive_conflicts),
		cmocka_unit_test(test_ring_publisher_slots_exhausted),
		cmocka_unit_test(test_ring_subscriber_slots_exhausted),
		cmocka_unit_test(test_ring_mode_switch_keeps_sequence),
		ALL_LAYOUTS(test_ring_detach_aborts_open_claim),
		cmocka_unit_test(test_ring_shared_publishers_commit_in_claim_order),
		BOTH_MODES(test_ring_counters),
		ALL_LAYOUTS(test_ring_poll_delivers),
		cmocka_unit_test(test_ring_wait_strategies_time_out_and_return),
		BOTH_MODES(test_ring_wait_block_woken_by_commit),
		BOTH_MODES(test_ring_wait_stream_returns_on_commit),
		cmocka_unit_test(test_ring_wait_line_is_next_line),
		cmocka_unit_test(test_ring_read_ahead_covers_each_line_once),
		cmocka_unit_test(test_ring_write_ahead_stays_below_gate),
		BOTH_MODES(test_ring_read_ahead_run_counts_since_empty),
	};

	tu_capture_logs();
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
