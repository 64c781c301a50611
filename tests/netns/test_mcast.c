/*
 * test_mcast.c - multicast fan-out: A exports to the group MAC
 * 01:00:5e:00:00:01 on a switch (a Linux bridge in its own namespace, no
 * snooping: the group is flooded), B and C import it, and a tethered
 * subscriber on each gets every record exactly once, in order.  C loses 3%
 * of what it receives (its injector): its NAKs make the sender go back for
 * both, B drops what it already has, and the sender holds its ring for the
 * slower of the two.
 */
#include "nettest.h"

#include <stdio.h>

#define P      nt_prefix("nt7")
#define STREAM 0x77ULL

static const char a_cfg[] =
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[export s]\n"
	"port = 0\n"
	"dest = 01:00:5e:00:00:01\n"
	/* the two importers' port MACs (scripts/netns-topology.sh) */
	"receivers = 02:00:00:00:00:0b, 02:00:00:00:00:0c\n";

static const char r_cfg[] =
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[import s]\n"
	"port = 0\n"
	"sender = 02:00:00:00:00:0a\n";

static void test_mcast_two_receivers_get_every_record(void **state)
{
	static struct nt_host a, b, c;
	uint64_t n = nt_records(), t0, last;
	struct nt_rx rb, rc;
	sb_client_t *cb, *cc;
	sb_sub_t *sb, *sc;
	pid_t pub;
	char c_cfg[512];

	(void)state;
	nt_pair_init(&a, &b, P, true);
	nt_host_init(&c, P, 'c', 1);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, r_cfg, NULL);
	snprintf(c_cfg, sizeof(c_cfg), "rx_fault = drop=300,seed=%llu\n%s", (unsigned long long)nt_seed(7), r_cfg);
	nt_host_start(&c, c_cfg, NULL);
	sb = nt_sub_open(&b, &cb, SB_TETHERED);
	sc = nt_sub_open(&c, &cc, SB_TETHERED);
	nt_rx_init(&rb, STREAM, true);
	nt_rx_init(&rc, STREAM, true);
	nt_wait_dir_stat(&b, "import", "resyncs", 1);
	nt_wait_dir_stat(&c, "import", "resyncs", 1);

	t0 = dt_now_ns();
	last = t0;
	pub = nt_publisher(&a, STREAM, 0, n);
	while (rb.next < n || rc.next < n) {
		int k = nt_rx_some(sb, &rb, 1000000) + nt_rx_some(sc, &rc, 1000000);

		if (k > 0)
			last = dt_now_ns();
		else if (dt_now_ns() - last > NT_STALL_NS)
			fail_msg("multicast stalled: B at %llu, C at %llu of %llu", (unsigned long long)rb.next,
				 (unsigned long long)rc.next, (unsigned long long)n);
	}
	nt_publisher_wait(pub);
	printf("mcast: %llu records to two hosts in %.2f s; A: frames_tx %llu retransmits %llu; naks B %llu C %llu\n",
	       (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9,
	       (unsigned long long)nt_port_stat(&a, "frames_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"),
	       (unsigned long long)nt_dir_stat(&b, "import", "naks_tx"),
	       (unsigned long long)nt_dir_stat(&c, "import", "naks_tx"));
	nt_rx_assert_clean(&rb);
	nt_rx_assert_clean(&rc);
	assert_int_equal(rb.got, n);
	assert_int_equal(rc.got, n);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), n);
	assert_int_equal(nt_dir_stat(&c, "import", "records_rx"), n);
	assert_true(nt_dir_stat(&c, "import", "naks_tx") > 0);
	assert_true(nt_dir_stat(&a, "export", "retransmits") > 0);
	assert_int_equal(nt_dir_stat(&a, "export", "foreign_rx"), 0); /* both listed */
	assert_true(nt_dir_stat(&b, "import", "duplicates") > 0); /* C's repairs reach B too */

	sb_disconnect(cb);
	sb_disconnect(cc);
	nt_host_stop(&c);
	nt_host_stop(&b);
	nt_host_stop(&a);
	nt_pass();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mcast_two_receivers_get_every_record),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
