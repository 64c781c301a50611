/*
 * test_ring_fastpath.c - the single-record fast paths of sb_ring.h against
 * the general paths they short-cut (docs/ring.md §8.1).
 *
 * Two rings with the same parameters get the same seeded sequence of
 * operations: ring F through the fast entry points (sb_ring_claim,
 * sb_ring_commit, sb_ring_peek), ring G through the general ones
 * (sb_ring_claim_batch of one record, sbi_commit_slow, sbi_peek_slow).
 * Lengths from 0 to the maximum and beyond it (refused), aborts, a small ring that wraps and pads
 * every few records, and a subscriber that falls behind until publishers
 * get back-pressure.  After every operation both must have returned the
 * same code and views; every few operations the whole data region, the
 * producer control block and both slots must be byte-for-byte equal, and
 * the bounds the short paths trust (fast_end) must lie inside what the
 * general paths would allow.  The short paths must actually have been taken
 * for most operations, or the comparison would prove nothing.
 */
#include "test_util.h"

#include <string.h>

#define CAP        4096u
#define MAX_RECORD 1024u
#define STEPS      20000u

struct side {
	struct sb_seg seg, rd;
	struct sb_ring_pub pub;
	struct sb_ring_sub sub;
};

static void side_open(struct side *s, uint32_t align)
{
	tu_seg_new_ex(&s->seg, CAP, MAX_RECORD, 4, 4, align);
	tu_assert_rc(sb_seg_open_fd(s->seg.fd, s->seg.subs_fd, SB_SEG_SUBSCRIBER, &s->rd), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&s->sub, &s->rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&s->pub, &s->seg, SB_PUB_EXCLUSIVE), SB_OK);
}

static void side_close(struct side *s)
{
	sb_ring_pub_detach(&s->pub);
	sb_ring_sub_detach(&s->sub);
	sb_seg_close(&s->rd);
	tu_seg_free(&s->seg);
}

static void fill(void *p, uint32_t len, uint64_t tag)
{
	uint8_t *b = p;

	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(tag * 131 + i);
}

static uint32_t pick_len(uint64_t *rng)
{
	uint64_t r = tu_rand(rng) % 100;

	if (r < 2)
		return MAX_RECORD + 1 + (uint32_t)(tu_rand(rng) % 64); /* refused: EMSGSIZE */
	if (r < 5)
		return 0;
	if (r < 8)
		return MAX_RECORD;
	if (r < 70)
		return (uint32_t)(tu_rand(rng) % 96);
	return (uint32_t)(tu_rand(rng) % (MAX_RECORD + 1));
}

/* The short paths' bounds never reach past what the general paths check:
 * a publisher's claim ending at fast_end leaves a header below the gate and
 * below the end of head's lap; a subscriber's fast_end is the end of its
 * cursor's lap, and only once no read needs validation. */
static void assert_fast_bounds(const struct side *f)
{
	const struct sb_ring_pub *p = &f->pub;
	const struct sb_ring_sub *s = &f->sub;

	if (p->fast_end != 0) {
		assert_true(p->fast_end + SB_REC_HDR_SIZE <= p->gate_limit);
		if (p->head <= p->fast_end)
			assert_true(p->fast_end + SB_REC_HDR_SIZE <= (p->head | p->mask) + 1);
	}
	if (s->fast_end != 0) {
		assert_true(s->seq_known);
		assert_true(s->cursor >= s->safe_from);
		if (s->cursor < s->fast_end)
			assert_int_equal(s->fast_end, (s->cursor | s->mask) + 1);
	}
}

/* Everything both rings share with their readers must be equal. */
static void assert_same_state(const struct side *f, const struct side *g)
{
	const struct sb_prod_ctl *pf = f->seg.prod, *pg = g->seg.prod;

	assert_memory_equal(f->seg.data, g->seg.data, CAP);
	assert_int_equal(atomic_load(&pf->head), atomic_load(&pg->head));
	assert_int_equal(atomic_load(&pf->tail), atomic_load(&pg->tail));
	assert_int_equal(atomic_load(&pf->next_seq), atomic_load(&pg->next_seq));
	assert_int_equal(atomic_load(&f->pub.slot->records), atomic_load(&g->pub.slot->records));
	assert_int_equal(atomic_load(&f->pub.slot->bytes), atomic_load(&g->pub.slot->bytes));
	assert_int_equal(atomic_load(&f->pub.slot->aborted), atomic_load(&g->pub.slot->aborted));
	assert_int_equal(atomic_load(&f->pub.slot->backpressure), atomic_load(&g->pub.slot->backpressure));
	assert_int_equal(atomic_load(&f->sub.slot->cursor), atomic_load(&g->sub.slot->cursor));
	assert_int_equal(atomic_load(&f->sub.slot->consumed), atomic_load(&g->sub.slot->consumed));
	assert_int_equal(f->pub.head, g->pub.head);
	assert_int_equal(f->pub.next_seq, g->pub.next_seq);
	assert_int_equal(f->pub.gate_limit, g->pub.gate_limit);
	assert_fast_bounds(f);
}

static unsigned n_fast_claim, n_fast_peek;

static void publish_both(struct side *f, struct side *g, uint32_t len, bool abort, uint64_t tag,
			 unsigned *n_bp)
{
	void *pf = NULL, *pg = NULL;
	int rf = sb_ring_claim(&f->pub, len, &pf);
	int rg = sb_ring_claim_batch(&g->pub, &len, 1, &pg);

	assert_int_equal(rf, rg);
	if (rf == SB_EBACKPRESSURE) {
		(*n_bp)++;
		return;
	}
	if (len > MAX_RECORD) {
		tu_assert_rc(rf, SB_EMSGSIZE);
		return;
	}
	tu_assert_rc(rf, SB_OK);
	n_fast_claim += f->pub.claim_fast;
	assert_int_equal((uint8_t *)pf - f->seg.data, (uint8_t *)pg - g->seg.data);
	fill(pf, len, tag);
	fill(pg, len, tag);
	if (abort) {
		tu_assert_rc(sb_ring_abort(&f->pub), SB_OK);
		tu_assert_rc(sb_ring_abort(&g->pub), SB_OK);
	} else {
		tu_assert_rc(sb_ring_commit(&f->pub), SB_OK);
		tu_assert_rc(sbi_commit_slow(&g->pub), SB_OK);
	}
	/* Neither path leaves a claim open, so a second commit is refused. */
	assert_int_equal(sb_ring_commit(&f->pub), SB_ESTATE);
	assert_int_equal(sbi_commit_slow(&g->pub), SB_ESTATE);
}

/* Returns false once both rings are empty. */
static bool consume_both(struct side *f, struct side *g)
{
	struct sb_ring_view vf, vg;
	int rf = sbi_peek_fast(&f->sub, &vf); /* sb_ring_peek, counting short paths */
	int rg = sbi_peek_slow(&g->sub, &vg);

	if (rf == SBI_SLOW)
		rf = sbi_peek_slow(&f->sub, &vf);
	else
		n_fast_peek += rf == SB_OK;

	assert_int_equal(rf, rg);
	if (rf == SB_EEMPTY)
		return false;
	tu_assert_rc(rf, SB_OK);
	assert_int_equal(vf.len, vg.len);
	assert_int_equal(vf.seq, vg.seq);
	assert_int_equal(vf.pos, vg.pos);
	assert_int_equal(vf.lost, 0);
	assert_int_equal(vg.lost, 0);
	assert_int_equal((const uint8_t *)vf.data - f->rd.data, (const uint8_t *)vg.data - g->rd.data);
	assert_memory_equal(vf.data, vg.data, vf.len);
	tu_assert_rc(sb_ring_consume(&f->sub), SB_OK);
	tu_assert_rc(sb_ring_consume(&g->sub), SB_OK);
	return true;
}

static void run_differential(uint32_t align, uint64_t seed)
{
	struct side f, g;
	uint64_t rng = seed, published = 0;
	unsigned n_bp = 0, n_abort = 0, n_consumed = 0;

	n_fast_claim = n_fast_peek = 0;
	side_open(&f, align);
	side_open(&g, align);
	for (unsigned step = 0; step < STEPS; step++) {
		uint64_t r = tu_rand(&rng) % 100;

		if (r < 55) {
			bool abort = tu_rand(&rng) % 10 == 0;

			publish_both(&f, &g, pick_len(&rng), abort, published++, &n_bp);
			n_abort += abort;
		} else if (r < 90) {
			n_consumed += consume_both(&f, &g);
		} else {
			while (consume_both(&f, &g))
				n_consumed++;
		}
		if (step % 16 == 0)
			assert_same_state(&f, &g);
	}
	while (consume_both(&f, &g))
		;
	assert_same_state(&f, &g);
	/* The sequence exercised what it is for. */
	assert_true(n_bp > 0);
	assert_true(n_abort > 0);
	assert_true(atomic_load(&f.seg.prod->head) > 20 * CAP); /* wrapped many times */
	/* Most claims and reads took the short paths (some cannot: the wrap,
	 * the rescans, records after padding and aborts). */
	assert_true(n_fast_claim > (unsigned)(published / 2));
	assert_true(n_fast_peek > n_consumed / 2);
	side_close(&f);
	side_close(&g);
}

static void test_fastpath_matches_general_dense(void **state)
{
	(void)state;
	run_differential(8, 0x5eed0001);
	run_differential(8, 0x5eed0002);
}

static void test_fastpath_matches_general_aligned(void **state)
{
	(void)state;
	run_differential(64, 0x5eed0003);
	run_differential(128, 0x5eed0004);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fastpath_matches_general_dense),
		cmocka_unit_test(test_fastpath_matches_general_aligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
