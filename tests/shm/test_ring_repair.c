/*
 * test_ring_repair.c - sb_ring_repair, the daemon's tool for claims left
 * open by dead publishers, on states built by hand.
 *
 * "Dies" here means: the handle's claim is left open and never touched
 * again; a dead publisher that never reached its CAS is a slot whose intent
 * is written directly.  The daemon's end-to-end version (a SIGKILLed
 * process, the grace period) is tests/daemon/test_lease.c.
 */
#include "test_util.h"

#include <string.h>

#define CAP        65536u
#define MAX_RECORD 1024u

/* The daemon's kind of mapping: only it may repair. */
static void open_admin(const struct sb_seg *seg, struct sb_seg *adm)
{
	tu_assert_rc(sb_seg_open_fd(seg->fd, seg->subs_fd, SB_SEG_ADMIN, adm), SB_OK);
}

static void test_repair_exclusive_claim(void **state)
{
	struct sb_seg seg, rd, adm;
	struct sb_ring_pub dead, next;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	void *p;

	(void)state;
	tu_seg_new(&seg, CAP, MAX_RECORD);
	open_admin(&seg, &adm);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &rd), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&sub, &rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&dead, &seg, SB_PUB_EXCLUSIVE), SB_OK);
	tu_send_rec(&dead, 40, 0xa1);
	tu_assert_rc(sb_ring_claim(&dead, 200, &p), SB_OK);
	memset(p, 0xee, 100); /* half written, then the owner dies */
	tu_expect_rec(&sub, 40, 0, 0, 0xa1);
	assert_int_equal(sb_ring_peek(&sub, &v), SB_EEMPTY);

	/* Not stuck where the caller says: nothing to do. */
	assert_int_equal(sb_ring_repair(&adm, 12345), 0);
	/* Only an admin mapping may repair. */
	assert_int_equal(sb_ring_repair(&rd, atomic_load(&seg.prod->tail)), SB_EINVAL);
	tu_assert_detail("admin");
	assert_int_equal(sb_ring_repair(&seg, atomic_load(&seg.prod->tail)), SB_EINVAL);
	assert_int_equal(sb_ring_repair(&adm, atomic_load(&seg.prod->tail)), 1);
	assert_int_equal(atomic_load(&seg.prod->tail), atomic_load(&seg.prod->head));
	assert_int_equal(atomic_load(&seg.prod->repairs), 1);
	/* Readers move on; the aborted claim consumed no sequence number. */
	assert_int_equal(sb_ring_peek(&sub, &v), SB_EEMPTY);
	/* The daemon releases the dead one's slot and mode (sb_ring_pub_detach
	 * stands in for it here), and a new publisher carries on. */
	dead.claim_open = false;
	sb_ring_pub_detach(&dead);
	tu_assert_rc(sb_ring_pub_attach(&next, &seg, SB_PUB_EXCLUSIVE), SB_OK);
	tu_send_rec(&next, 60, 0xb2);
	tu_expect_rec(&sub, 60, 1, 0, 0xb2);
	sb_ring_pub_detach(&next);
	sb_ring_sub_detach(&sub);
	sb_seg_close(&rd);
	sb_seg_close(&adm);
	tu_seg_free(&seg);
}

/*
 * Shared publishers X, Z and Y.  X claims [t, t+lx) and dies; Z claims the
 * next record and waits in commit behind X.  Y died after writing its
 * intent at t but before its CAS (which would have failed); its length
 * is y_len.  The repair must turn exactly X's claim into an aborted record
 * (not Y's idea of it), so that Z's commit can then go through.
 */
static void double_death(uint32_t y_len_kind)
{
	struct sb_seg seg, rd, adm;
	struct sb_ring_pub x, y, z;
	struct sb_ring_sub sub;
	struct sb_ring_view v;
	uint64_t t, lx, lz, h;
	void *p;

	tu_seg_new(&seg, CAP, MAX_RECORD);
	open_admin(&seg, &adm);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &rd), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&sub, &rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&x, &seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&y, &seg, SB_PUB_SHARED), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&z, &seg, SB_PUB_SHARED), SB_OK);
	tu_send_rec(&x, 24, 0x11);
	tu_expect_rec(&sub, 24, 0, 0, 0x11);

	t = atomic_load(&seg.prod->tail);
	tu_assert_rc(sb_ring_claim(&x, 100, &p), SB_OK); /* X: then dies */
	lx = atomic_load(&seg.prod->head) - t;
	tu_assert_rc(sb_ring_claim(&z, 50, &p), SB_OK);  /* Z: waits behind X */
	tu_fill(p, 50, 0x33);
	h = atomic_load(&seg.prod->head);
	lz = h - t - lx;
	/* Y: intent written, CAS never made. */
	atomic_store(&y.slot->intent_pos, t);
	if (y_len_kind == 0)
		atomic_store(&y.slot->intent_len, lx + lz); /* ends at head: plausible */
	else
		atomic_store(&y.slot->intent_len, lx - 8);  /* ends inside X's claim */

	assert_int_equal(sb_ring_repair(&adm, t), 1);
	assert_int_equal(atomic_load(&seg.prod->tail), t + lx); /* X's claim, and only it */
	/* Z's commit, waiting for tail == its claim start, goes through. */
	tu_assert_rc(sb_ring_commit(&z), SB_OK);
	assert_int_equal(atomic_load(&seg.prod->tail), h);
	tu_expect_rec(&sub, 50, 1, 0, 0x33);
	assert_int_equal(sb_ring_peek(&sub, &v), SB_EEMPTY);

	x.claim_open = false;
	atomic_store(&y.slot->intent_pos, UINT64_MAX);
	sb_ring_pub_detach(&x);
	sb_ring_pub_detach(&y);
	sb_ring_pub_detach(&z);
	sb_ring_sub_detach(&sub);
	sb_seg_close(&rd);
	sb_seg_close(&adm);
	tu_seg_free(&seg);
}

static void test_repair_double_death_longer_intent(void **state)
{
	(void)state;
	double_death(0);
}

static void test_repair_double_death_inside_intent(void **state)
{
	(void)state;
	double_death(1);
}

/* Shared mode and no intent names the stuck position: the extent cannot be
 * known, so nothing is touched and the error says so. */
static void test_repair_unknown_extent(void **state)
{
	struct sb_seg seg, adm;
	struct sb_ring_pub x;
	uint64_t t;
	void *p;

	(void)state;
	tu_seg_new(&seg, CAP, MAX_RECORD);
	open_admin(&seg, &adm);
	tu_assert_rc(sb_ring_pub_attach(&x, &seg, SB_PUB_SHARED), SB_OK);
	t = atomic_load(&seg.prod->tail);
	tu_assert_rc(sb_ring_claim(&x, 100, &p), SB_OK);
	atomic_store(&x.slot->intent_pos, UINT64_MAX); /* as if lost */
	assert_int_equal(sb_ring_repair(&adm, t), SB_ECORRUPT);
	tu_assert_detail("extent");
	assert_int_equal(atomic_load(&seg.prod->tail), t);
	atomic_store(&x.slot->intent_pos, t);
	tu_assert_rc(sb_ring_commit(&x), SB_OK); /* the owner was alive after all */
	sb_ring_pub_detach(&x);
	sb_seg_close(&adm);
	tu_seg_free(&seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repair_exclusive_claim),
		cmocka_unit_test(test_repair_double_death_longer_intent),
		cmocka_unit_test(test_repair_double_death_inside_intent),
		cmocka_unit_test(test_repair_unknown_extent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
