/*
 * test_untethered.c - nobody holds anything back: A exports untethered
 * from a small ring (64 KiB) that its publisher laps freely, 30% of A's
 * frames are lost on the way, and B imports untethered.  Whatever the
 * bridge cannot recover is gone from A's ring, and the untethered
 * subscriber on B is told exactly how much: every delivered record is
 * intact, each message's `lost` is the jump in sequence numbers before it,
 * delivered + lost == published, the API's counters agree with that, and
 * B's bridge reports the same number as gaps_unrecovered.
 */
#include "nettest.h"

#include <stdio.h>

#define P      nt_prefix("nt4")
#define STREAM 0x44ULL

static void test_untethered_loss_is_reported_exactly(void **state)
{
	static struct nt_host a, b;
	uint64_t n = nt_records(), t0, seed = nt_seed(4242), gaps;
	char a_cfg[1024];
	static const char b_cfg[] =
		"[topic s]\n"
		"ring_size = 16777216\n"
		"max_msg = 4096\n"
		"[import s]\n"
		"port = 0\n"
		"tethered = false\n";
	struct sb_sub_stats st;
	struct nt_rx rx;
	sb_client_t *c;
	sb_sub_t *s;
	pid_t pub;

	(void)state;
	snprintf(a_cfg, sizeof(a_cfg),
		 "tx_fault = drop=3000,seed=%llu\n"
		 "[topic s]\n"
		 "ring_size = 65536\n"
		 "max_msg = 4096\n"
		 "[export s]\n"
		 "port = 0\n"
		 "dest = 02:00:00:00:00:0b\n"
		 "tethered = false\n",
		 (unsigned long long)seed);
	nt_pair_init(&a, &b, P, false);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, b_cfg, NULL);
	s = nt_sub_ready(&b, &c, SB_UNTETHERED, &rx, STREAM);

	t0 = dt_now_ns();
	pub = nt_publisher(&a, STREAM, 0, n);
	/* The last record is in A's ring when the publisher is done, so it
	 * arrives (or its loss is reported with nothing after it: that would
	 * stall here and fail). */
	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	sb_sub_stats(s, &st);
	gaps = nt_wait_dir_stat(&b, "import", "gaps_unrecovered", rx.lost);
	printf("untethered: %llu records in %.2f s: %llu delivered, %llu lost (sub: consumed %llu lost %llu laps %llu; "
	       "bridge: gaps_unrecovered %llu, naks_tx %llu, retransmits %llu, setups_tx %llu)\n",
	       (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9, (unsigned long long)rx.got,
	       (unsigned long long)rx.lost, (unsigned long long)st.consumed, (unsigned long long)st.lost,
	       (unsigned long long)st.laps, (unsigned long long)gaps,
	       (unsigned long long)nt_dir_stat(&b, "import", "naks_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"),
	       (unsigned long long)nt_dir_stat(&a, "export", "setups_tx"));
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.next, n);
	assert_int_equal(rx.got + rx.lost, n);
	assert_int_equal(st.consumed, rx.got);
	assert_int_equal(st.lost, rx.lost);
	/* B's ring is big and its subscriber keeps up: all the loss is the
	 * bridge's, none is local lapping. */
	assert_int_equal(st.laps, 0);
	assert_true(rx.lost > 0); /* the scenario did lose records */
	assert_int_equal(gaps, rx.lost);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), rx.got);

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untethered_loss_is_reported_exactly),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
