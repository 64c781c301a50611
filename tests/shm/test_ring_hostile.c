/*
 * test_ring_hostile.c - a writer with an admin mapping scribbles over the
 * ring; subscribers must refuse what they cannot trust and carry on.
 *
 * For every kind of impossible record header the subscribers (one tethered,
 * one untethered, both on read-only subscriber mappings) must return
 * SB_ECORRUPT with a detail, never form a pointer outside the ring (the
 * untethered poll copies into a max_record heap buffer, so ASan sees any
 * overlong length), and resume with later records, reporting the exact gap.
 * Fill-the-ring garbage must make a peek loop end, and a single peek must
 * return even when the whole ring holds skippable records.
 */
#include "test_util.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP     4096u
#define MAXREC  1024u

struct hostile_fx {
	struct sb_seg seg; /* creator */
	struct sb_seg adm; /* the hostile writer's admin mapping */
	struct sb_seg rd;  /* subscribers' read-only mapping */
	struct sb_ring_pub pub;
	struct sb_ring_sub teth, unt;
};

static void hfx_open(struct hostile_fx *fx, enum sb_ring_pub_mode mode)
{
	tu_seg_new(&fx->seg, CAP, MAXREC);
	tu_assert_rc(sb_seg_open_path(fx->seg.path, SB_SEG_ADMIN, &fx->adm), SB_OK);
	tu_assert_rc(sb_seg_open_fd(fx->seg.fd, fx->seg.subs_fd, SB_SEG_SUBSCRIBER, &fx->rd), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&fx->pub, &fx->seg, mode), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&fx->teth, &fx->rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&fx->unt, &fx->rd, SB_SUB_UNTETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
}

static void hfx_close(struct hostile_fx *fx)
{
	sb_ring_pub_detach(&fx->pub);
	sb_ring_sub_detach(&fx->teth);
	sb_ring_sub_detach(&fx->unt);
	sb_seg_close(&fx->rd);
	sb_seg_close(&fx->adm);
	tu_seg_free(&fx->seg);
}

static struct sb_rec_hdr *adm_hdr(struct hostile_fx *fx, uint64_t pos)
{
	return (struct sb_rec_hdr *)(fx->adm.data + (pos & (CAP - 1)));
}

static uint64_t seed_of(uint64_t seq)
{
	return seq * 104729 + 3;
}

/* Publish a record; returns its position. */
static uint64_t send_rec(struct hostile_fx *fx, uint32_t len, uint64_t seq)
{
	void *p = NULL;

	tu_assert_rc(sb_ring_claim(&fx->pub, len, &p), SB_OK);
	tu_fill(p, len, seed_of(seq));
	tu_assert_rc(sb_ring_commit(&fx->pub), SB_OK);
	return (uint64_t)((uint8_t *)p - fx->seg.data) - SB_REC_HDR_SIZE;
}

struct got {
	struct sb_ring_view v;
	bool intact;
	unsigned n;
};

static void on_record(void *ctx, const struct sb_ring_view *v)
{
	struct got *g = ctx;

	g->v = *v;
	g->intact = tu_check(v->data, v->len, seed_of(v->seq));
	g->n++;
}

/* Receive one good record on both subscribers: the tethered one by
 * peek/consume, the untethered one by poll (a private copy). */
static void expect_rec_both(struct hostile_fx *fx, uint32_t len, uint64_t seq, uint64_t lost)
{
	struct sb_ring_view v;
	struct got g = { .n = 0 };

	tu_assert_rc(sb_ring_peek(&fx->teth, &v), SB_OK);
	assert_int_equal(v.seq, seq);
	assert_int_equal(v.len, len);
	assert_int_equal(v.lost, lost);
	assert_true(tu_check(v.data, len, seed_of(seq)));
	tu_assert_rc(sb_ring_consume(&fx->teth), SB_OK);

	assert_int_equal(sb_ring_poll(&fx->unt, on_record, &g, 1), 1);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v.seq, seq);
	assert_int_equal(g.v.len, len);
	assert_int_equal(g.v.lost, lost);
	assert_true(g.intact);
}

static void expect_corrupt_both(struct hostile_fx *fx, const char *needle)
{
	struct sb_ring_view v;
	struct got g = { .n = 0 };

	tu_assert_rc(sb_ring_peek(&fx->teth, &v), SB_ECORRUPT);
	tu_assert_detail("corrupt");
	tu_assert_detail(needle);
	tu_assert_rc(sb_ring_poll(&fx->unt, on_record, &g, 1), SB_ECORRUPT);
	tu_assert_detail(needle);
	assert_int_equal(g.n, 0);
}

/* ------------------------------------------------- impossible headers */

typedef void (*spoil_fn)(struct sb_rec_hdr *h, uint64_t pos);

static void spoil_len_over_max(struct sb_rec_hdr *h, uint64_t pos)
{
	(void)pos;
	atomic_store(&h->word, sb_rec_word(MAXREC + 1, SB_REC_DATA, 0));
}

static void spoil_len_huge(struct sb_rec_hdr *h, uint64_t pos)
{
	(void)pos;
	atomic_store(&h->word, sb_rec_word(UINT32_MAX, SB_REC_DATA, 0));
}

static void spoil_past_end(struct sb_rec_hdr *h, uint64_t pos)
{
	/* Within max_record, but longer than the room left in the ring. */
	uint64_t room = CAP - (pos & (CAP - 1));

	assert_true(room - SB_REC_HDR_SIZE < MAXREC);
	atomic_store(&h->word, sb_rec_word((uint32_t)(room - SB_REC_HDR_SIZE + 8), SB_REC_DATA, 0));
}

static void spoil_abort_past_end(struct sb_rec_hdr *h, uint64_t pos)
{
	uint64_t room = CAP - (pos & (CAP - 1));

	atomic_store(&h->word, sb_rec_word((uint32_t)(room + 64), SB_REC_ABORT, 0));
}

static void spoil_short_pad(struct sb_rec_hdr *h, uint64_t pos)
{
	uint64_t room = CAP - (pos & (CAP - 1));

	atomic_store(&h->word, sb_rec_word((uint32_t)(room - SB_REC_HDR_SIZE - 8), SB_REC_PAD, 0));
}

static void spoil_long_pad(struct sb_rec_hdr *h, uint64_t pos)
{
	uint64_t room = CAP - (pos & (CAP - 1));

	atomic_store(&h->word, sb_rec_word((uint32_t)(room + 8), SB_REC_PAD, 0));
}

static void spoil_unknown_type(struct sb_rec_hdr *h, uint64_t pos)
{
	(void)pos;
	atomic_store(&h->word, sb_rec_word(16, 0x5858, 0));
}

static void spoil_seq_backwards(struct sb_rec_hdr *h, uint64_t pos)
{
	(void)pos;
	h->seq = 1;
}

/* r0..r2 fill 3 KiB, r3 sits at 3072 with 1024 bytes of room; the hostile
 * writer rewrites r3's header after r0..r9 are committed and r0..r2
 * consumed.  Both subscribers must refuse r3, skip to the newest record and
 * then report exactly r3..r9 (7 records) lost. */
static void spoil_and_resume(enum sb_ring_pub_mode mode, spoil_fn spoil, const char *needle)
{
	struct hostile_fx fx;
	uint64_t pos[10], seq = 0;

	hfx_open(&fx, mode);
	for (int i = 0; i < 3; i++) {
		pos[seq] = send_rec(&fx, 1008, seq);
		seq++;
	}
	for (int i = 0; i < 7; i++) {
		pos[seq] = send_rec(&fx, 96, seq);
		seq++;
	}
	assert_int_equal(pos[3], 3072);
	for (uint64_t s = 0; s < 3; s++)
		expect_rec_both(&fx, 1008, s, 0);

	spoil(adm_hdr(&fx, pos[3]), pos[3]);
	expect_corrupt_both(&fx, needle);

	/* Resumed at the newest record: r10 arrives, with r3..r9 lost. */
	send_rec(&fx, 50, seq++);
	expect_rec_both(&fx, 50, 10, 7);
	assert_int_equal(sb_ring_sub_lost(&fx.teth), 7);
	assert_int_equal(sb_ring_sub_lost(&fx.unt), 7);
	/* And keeps going across laps. */
	for (int i = 0; i < 100; i++) {
		send_rec(&fx, (uint32_t)(i * 13 % MAXREC), seq);
		expect_rec_both(&fx, (uint32_t)(i * 13 % MAXREC), seq, 0);
		seq++;
	}
	hfx_close(&fx);
}

static void test_ring_hostile_len_over_max(void **state)
{
	(void)state;
	spoil_and_resume(SB_PUB_EXCLUSIVE, spoil_len_over_max, "max record");
	spoil_and_resume(SB_PUB_SHARED, spoil_len_huge, "max record");
}

/* A length over max_record whose record would still fit in the room left
 * before the end of the ring: only the max_record check can refuse it (the
 * cases above also run past the end).  The record at position 0, unread,
 * has the whole ring before it. */
static void test_ring_hostile_len_over_max_with_room(void **state)
{
	struct hostile_fx fx;
	uint64_t seq = 0;

	(void)state;
	hfx_open(&fx, SB_PUB_EXCLUSIVE);
	for (int i = 0; i < 10; i++)
		send_rec(&fx, 96, seq++);
	assert_true(sb_rec_size_al(MAXREC + 8, 8) < CAP);
	atomic_store(&adm_hdr(&fx, 0)->word, sb_rec_word(MAXREC + 8, SB_REC_DATA, 0));
	expect_corrupt_both(&fx, "max record");
	send_rec(&fx, 50, seq++);
	expect_rec_both(&fx, 50, 10, 10); /* r0..r9 lost, none delivered */
	hfx_close(&fx);
}

static void test_ring_hostile_len_past_ring_end(void **state)
{
	(void)state;
	spoil_and_resume(SB_PUB_EXCLUSIVE, spoil_past_end, "past the end");
	spoil_and_resume(SB_PUB_SHARED, spoil_abort_past_end, "past the end");
}

static void test_ring_hostile_pad_not_reaching_end(void **state)
{
	(void)state;
	spoil_and_resume(SB_PUB_EXCLUSIVE, spoil_short_pad, "padding");
	spoil_and_resume(SB_PUB_SHARED, spoil_long_pad, "padding");
}

static void test_ring_hostile_unknown_type(void **state)
{
	(void)state;
	spoil_and_resume(SB_PUB_EXCLUSIVE, spoil_unknown_type, "unknown record type");
}

static void test_ring_hostile_seq_backwards(void **state)
{
	(void)state;
	spoil_and_resume(SB_PUB_SHARED, spoil_seq_backwards, "sequence");
}

/* r3's seq is forged far ahead.  Nothing about r3 itself is impossible
 * (a jump ahead is how loss shows), so it may be delivered; r4 then goes
 * backwards and is refused.  What matters is that the subscriber is not
 * wedged by the forged expectation: it must resume with the publisher's
 * later records. */
static void test_ring_hostile_seq_forged_ahead(void **state)
{
	struct hostile_fx fx;
	uint64_t pos3 = 0, seq = 0;
	bool got[2] = { false, false };

	(void)state;
	hfx_open(&fx, SB_PUB_EXCLUSIVE);
	for (int i = 0; i < 10; i++) {
		uint64_t p = send_rec(&fx, 96, seq);

		if (seq++ == 3)
			pos3 = p;
	}
	for (uint64_t s = 0; s < 3; s++)
		expect_rec_both(&fx, 96, s, 0);
	adm_hdr(&fx, pos3)->seq = 1000000;

	for (int round = 0; round < 50 && !(got[0] && got[1]); round++) {
		send_rec(&fx, 32, seq++);
		for (int who = 0; who < 2; who++) {
			struct sb_ring_sub *sub = who ? &fx.unt : &fx.teth;
			struct sb_ring_view v;
			int rc;

			while (!got[who] && (rc = sb_ring_peek(sub, &v)) != SB_EEMPTY) {
				if (rc == SB_ECORRUPT)
					continue;
				tu_assert_rc(rc, SB_OK);
				got[who] = v.len == 32 && v.seq < 1000000 && tu_check(v.data, 32, seed_of(v.seq));
				tu_assert_rc(sb_ring_consume(sub), SB_OK);
			}
		}
	}
	if (!got[0] || !got[1])
		fail_msg("after one record with a forged seq of 1000000, the %s subscriber refused the "
			 "next %llu genuine records (last detail: %s)",
			 got[0] ? "untethered" : "tethered", (unsigned long long)(seq - 10), sb_last_error());
	hfx_close(&fx);
}

/* A rogue writer appends a garbage record at tail and advances head and
 * tail past it, as a commit would; the shared publisher carries on after it. */
static void test_ring_hostile_appended_record(void **state)
{
	struct hostile_fx fx;
	uint64_t t;
	struct sb_rec_hdr *h;

	(void)state;
	hfx_open(&fx, SB_PUB_SHARED);
	send_rec(&fx, 100, 0);
	expect_rec_both(&fx, 100, 0, 0);

	t = atomic_load(&fx.adm.prod->tail);
	h = adm_hdr(&fx, t);
	h->seq = 1;
	atomic_store(&adm_hdr(&fx, t + 216)->word, 0);
	atomic_store(&h->word, sb_rec_word(5000, SB_REC_DATA, 3));
	atomic_store(&fx.adm.prod->head, t + 216);
	atomic_store(&fx.adm.prod->tail, t + 216);
	expect_corrupt_both(&fx, "max record");

	/* The publisher claims after the rogue record; nothing was lost from
	 * the sequence the real publisher wrote. */
	send_rec(&fx, 40, 1);
	expect_rec_both(&fx, 40, 1, 0);
	hfx_close(&fx);
}

/* ------------------------------------------------------------- garbage */

static int code_ok_or_end(int rc)
{
	return rc == SB_OK || rc == SB_ECORRUPT || rc == SB_EEMPTY;
}

/* Read until the ring says stop; every delivered view must lie inside the
 * ring and respect max_record.  Returns the code that ended the loop. */
static int drain_garbage(struct hostile_fx *fx, struct sb_ring_sub *sub, unsigned *delivered)
{
	for (unsigned i = 0; i < 100000; i++) {
		struct sb_ring_view v[8];
		int n = sb_ring_peek_batch(sub, v, 8);

		if (n < 0)
			return n;
		for (int k = 0; k < n; k++) {
			const uint8_t *d = v[k].data;

			if (v[k].len > MAXREC || d < fx->rd.data || d + v[k].len > fx->rd.data + CAP)
				fail_msg("garbage delivered as a record: len %u at offset %td", v[k].len,
					 d - fx->rd.data);
		}
		(*delivered) += (unsigned)n;
		n = sb_ring_consume(sub);
		if (n < 0)
			return n;
	}
	fail_msg("subscriber still reading garbage after 100000 peeks");
	return 0;
}

static void fill_garbage(struct hostile_fx *fx, uint64_t seed, bool plausible)
{
	uint64_t r = seed;

	if (!plausible) {
		tu_fill(fx->adm.data, CAP, seed);
		return;
	}
	/* Headers that look like records, with lengths around the limits. */
	for (uint64_t off = 0; off < CAP; off += SB_REC_HDR_SIZE) {
		static const uint16_t types[] = { SB_REC_DATA, SB_REC_PAD, SB_REC_ABORT, 0x4144 ^ 1 };
		struct sb_rec_hdr *h = adm_hdr(fx, off);
		uint32_t len = (uint32_t)(tu_rand(&r) % (2 * MAXREC));

		h->seq = tu_rand(&r) % 4 == 0 ? tu_rand(&r) : off / 16;
		atomic_store(&h->word, sb_rec_word(len, types[tu_rand(&r) % 4], 0));
	}
}

static void garbage_round(uint64_t seed, bool plausible)
{
	struct hostile_fx fx;
	unsigned delivered = 0;
	uint64_t t, seq = 0;
	int rc;

	hfx_open(&fx, SB_PUB_SHARED);
	for (int i = 0; i < 3; i++) {
		send_rec(&fx, 300, seq);
		expect_rec_both(&fx, 300, seq, 0);
		seq++;
	}
	fill_garbage(&fx, seed, plausible);
	/* Move the frontier forward by less than a lap, as if committed. */
	t = atomic_load(&fx.adm.prod->tail) + 8 * (1 + seed % 300);
	atomic_store(&fx.adm.prod->head, t);
	atomic_store(&fx.adm.prod->tail, t);

	rc = drain_garbage(&fx, &fx.teth, &delivered);
	if (!code_ok_or_end(rc))
		fail_msg("seed %llu: tethered read of garbage ended with %d (%s)", (unsigned long long)seed,
			 rc, sb_strerror(rc));
	rc = drain_garbage(&fx, &fx.unt, &delivered);
	if (!code_ok_or_end(rc))
		fail_msg("seed %llu: untethered read of garbage ended with %d (%s)", (unsigned long long)seed,
			 rc, sb_strerror(rc));

	/* The real publisher carries on at tail.  A subscriber that had
	 * wandered past tail may lose a record or two to the garbage it still
	 * meets there, but once back at tail it must get the real records. */
	{
		bool got[2] = { false, false };

		for (int round = 0; round < 20 && !(got[0] && got[1]); round++) {
			send_rec(&fx, 64, seq++);
			for (int who = 0; who < 2; who++) {
				struct sb_ring_sub *sub = who ? &fx.unt : &fx.teth;
				struct sb_ring_view v;

				while (!got[who]) {
					rc = sb_ring_peek(sub, &v);
					if (rc != SB_OK) {
						assert_true(code_ok_or_end(rc) || rc == SB_ELAPPED);
						break;
					}
					got[who] = v.len == 64 && tu_check(v.data, 64, seed_of(v.seq));
					tu_assert_rc(sb_ring_consume(sub), SB_OK);
				}
			}
		}
		if (!got[0] || !got[1])
			fail_msg("seed %llu: %s subscriber never resumed after garbage", (unsigned long long)seed,
				 got[0] ? "untethered" : "tethered");
	}
	hfx_close(&fx);
}

static void test_ring_hostile_random_fill(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++)
		garbage_round(seed, false);
}

static void test_ring_hostile_plausible_headers(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 200; seed++)
		garbage_round(seed, true);
}

/* ------------------------------------------------------ segment header */

static void test_ring_hostile_header_byte_flips(void **state)
{
	struct sb_seg seg, adm, out;
	uint8_t *hb;

	(void)state;
	tu_seg_new(&seg, CAP, MAXREC);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_ADMIN, &adm), SB_OK);
	hb = adm.base;
	for (size_t i = 0; i < sizeof(struct sb_seg_hdr); i++) {
		static const uint8_t masks[] = { 0x01, 0x80, 0xff };

		for (size_t m = 0; m < sizeof(masks); m++) {
			int rc;

			hb[i] ^= masks[m];
			rc = sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out);
			hb[i] ^= masks[m];
			if (rc != SB_ECORRUPT && rc != SB_EVERSION) {
				if (rc == SB_OK)
					sb_seg_close(&out);
				fail_msg("header byte %zu ^ 0x%02x: sb_seg_open_fd returned %d (%s)", i,
					 masks[m], rc, sb_strerror(rc));
			}
			assert_true(sb_last_error()[0] != '\0');
		}
	}
	/* Restored: accepted again. */
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_OK);
	sb_seg_close(&out);
	sb_seg_close(&adm);
	tu_seg_free(&seg);
}

/* ------------------------------------------- a peek that must return */

enum { PEEK_OK = 10, PEEK_EMPTY, PEEK_CORRUPT, PEEK_LAPPED, PEEK_OTHER };

/* The whole ring holds well-formed, skippable ABORT records, as a hostile
 * writer can arrange.  One peek must return (any code) rather than skip
 * around the ring forever.  The peek runs in a child; the parent watches the
 * child's cursor in the shared subscriber slot, and a cursor that moved more
 * than four laps inside one peek proves it is not going to return. */
static void abort_chain(enum sb_ring_sub_kind kind)
{
	struct hostile_fx fx;
	struct sb_ring_sub *sub;
	const struct sb_sub_slot *slot;
	uint64_t start;
	pid_t pid;
	int status;

	hfx_open(&fx, SB_PUB_SHARED);
	/* 112 bytes: the cursor stays on the 16-byte grid the chain uses. */
	send_rec(&fx, 96, 0);
	expect_rec_both(&fx, 96, 0, 0);
	for (uint64_t off = 0; off < CAP; off += SB_REC_HDR_SIZE) {
		adm_hdr(&fx, off)->seq = 1;
		atomic_store(&adm_hdr(&fx, off)->word, sb_rec_word(0, SB_REC_ABORT, 0));
	}
	sub = kind == SB_SUB_TETHERED ? &fx.teth : &fx.unt;
	slot = &fx.seg.subs->sub[sub->slot_idx];
	start = atomic_load(&slot->cursor);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sb_ring_view v;
		int rc;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		rc = sb_ring_peek(sub, &v);
		_exit(rc == SB_OK ? PEEK_OK : rc == SB_EEMPTY ? PEEK_EMPTY : rc == SB_ECORRUPT ? PEEK_CORRUPT
		      : rc == SB_ELAPPED ? PEEK_LAPPED : PEEK_OTHER);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		assert_true(w >= 0);
		if (w == pid)
			break;
		if (atomic_load(&slot->cursor) > start + 4 * CAP) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("%s subscriber: one sb_ring_peek skipped more than 4 laps of ABORT records "
				 "without returning (cursor %llu -> %llu and counting)",
				 kind == SB_SUB_TETHERED ? "tethered" : "untethered", (unsigned long long)start,
				 (unsigned long long)atomic_load(&slot->cursor));
		}
		sched_yield();
	}
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != PEEK_EMPTY && WEXITSTATUS(status) != PEEK_CORRUPT)
		fail_msg("peek over a ring of ABORT records ended with child code %d", WEXITSTATUS(status));
	hfx_close(&fx);
}

static void test_ring_hostile_abort_chain_tethered(void **state)
{
	(void)state;
	abort_chain(SB_SUB_TETHERED);
}

static void test_ring_hostile_abort_chain_untethered(void **state)
{
	(void)state;
	abort_chain(SB_SUB_UNTETHERED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_hostile_len_over_max),
		cmocka_unit_test(test_ring_hostile_len_over_max_with_room),
		cmocka_unit_test(test_ring_hostile_len_past_ring_end),
		cmocka_unit_test(test_ring_hostile_pad_not_reaching_end),
		cmocka_unit_test(test_ring_hostile_unknown_type),
		cmocka_unit_test(test_ring_hostile_seq_backwards),
		cmocka_unit_test(test_ring_hostile_seq_forged_ahead),
		cmocka_unit_test(test_ring_hostile_appended_record),
		cmocka_unit_test(test_ring_hostile_random_fill),
		cmocka_unit_test(test_ring_hostile_plausible_headers),
		cmocka_unit_test(test_ring_hostile_header_byte_flips),
		cmocka_unit_test(test_ring_hostile_abort_chain_tethered),
		cmocka_unit_test(test_ring_hostile_abort_chain_untethered),
	};

	tu_capture_logs();
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
