/*
 * test_clean.c - a clean link: a topic exported by host A is imported by
 * host B, and a tethered subscriber on B gets every record exactly once, in
 * order, with the publisher's sequence numbers and intact payloads; records
 * of mixed sizes, small ones batched, large ones fragmented beyond the MTU.
 */
#include "nettest.h"

#include <stdio.h>

#define P      nt_prefix("nt1")
#define STREAM 0x11ULL

static const char a_cfg[] =
	"mtu = 1500\n"
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[export s]\n"
	"port = 0\n"
	"dest = 02:00:00:00:00:0b\n";

static const char b_cfg[] =
	"mtu = 1500\n"
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[import s]\n"
	"port = 0\n"
	"sender = 02:00:00:00:00:0a\n";

static void test_clean_link_delivers_every_record_once_in_order(void **state)
{
	static struct nt_host a, b;
	uint64_t n = nt_records(), t0;
	struct nt_rx rx;
	sb_client_t *c;
	sb_sub_t *s;
	pid_t pub;

	(void)state;
	nt_pair_init(&a, &b, P, false);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, b_cfg, NULL);
	s = nt_sub_ready(&b, &c, SB_TETHERED, &rx, STREAM);

	t0 = dt_now_ns();
	pub = nt_publisher(&a, STREAM, 0, n);
	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	printf("clean: %llu records in %.2f s\n", (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9);
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.got, n);

	/* The sizes did what they are for: batching and fragmentation. */
	assert_true(nt_dir_stat(&a, "export", "batches") > 0);
	assert_true(nt_dir_stat(&a, "export", "fragments_tx") > 0);
	assert_true(nt_dir_stat(&b, "import", "fragments_rx") > 0);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), n);
	assert_int_equal(nt_dir_stat(&b, "import", "gaps_unrecovered"), 0);
	assert_int_equal(nt_port_stat(&b, "malformed"), 0);
	assert_int_equal(nt_port_stat(&a, "malformed"), 0);
	printf("clean: naks_tx %llu retransmits %llu zero_copy %llu tx_dropped A %llu B %llu\n",
	       (unsigned long long)nt_dir_stat(&b, "import", "naks_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"),
	       (unsigned long long)nt_dir_stat(&a, "export", "zero_copy"),
	       (unsigned long long)nt_port_stat(&a, "tx_dropped"), (unsigned long long)nt_port_stat(&b, "tx_dropped"));

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_link_delivers_every_record_once_in_order),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
