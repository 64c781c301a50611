/*
 * test_fault.c - the bridge's own seeded injector on both sides: A's TX
 * drops 5%, duplicates 3% and reorders 3% of its frames, A's RX loses 3% of
 * the NAKs and STATUS coming back, B's RX drops, duplicates, reorders and
 * corrupts some more.  The tethered subscriber on B still gets every record
 * exactly once, in order; every kind of fault happened and was handled
 * (NAKs, retransmits, duplicates dropped, corrupt frames refused by CRC).
 * NT_SEED=N reruns with other seeds.
 */
#include "nettest.h"

#include <stdio.h>

#define P      nt_prefix("nt3")
#define STREAM 0x33ULL

static void test_fault_loss_reorder_duplication_corruption_are_repaired(void **state)
{
	static struct nt_host a, b;
	uint64_t n = nt_records(), t0, seed = nt_seed(42);
	char a_cfg[1024], b_cfg[1024];
	struct nt_rx rx;
	sb_client_t *c;
	sb_sub_t *s;
	pid_t pub;

	(void)state;
	snprintf(a_cfg, sizeof(a_cfg),
		 "tx_fault = drop=500,dup=300,reorder=300,seed=%llu\n"
		 "rx_fault = drop=300,seed=%llu\n"
		 "[topic s]\n"
		 "ring_size = 1048576\n"
		 "max_msg = 4096\n"
		 "[export s]\n"
		 "port = 0\n"
		 "dest = 02:00:00:00:00:0b\n",
		 (unsigned long long)seed, (unsigned long long)seed + 1);
	snprintf(b_cfg, sizeof(b_cfg),
		 "rx_fault = drop=200,dup=100,reorder=100,corrupt=50,seed=%llu\n"
		 "[topic s]\n"
		 "ring_size = 1048576\n"
		 "max_msg = 4096\n"
		 "[import s]\n"
		 "port = 0\n",
		 (unsigned long long)seed + 2);
	nt_pair_init(&a, &b, P, false);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, b_cfg, NULL);
	s = nt_sub_ready(&b, &c, SB_TETHERED, &rx, STREAM);

	t0 = dt_now_ns();
	pub = nt_publisher(&a, STREAM, 0, n);
	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	printf("faults: %llu records in %.2f s; A tx drops %llu dups %llu holds %llu, B rx corruptions %llu, "
	       "naks_tx %llu retransmits %llu duplicates %llu out_of_order %llu malformed %llu\n",
	       (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9,
	       (unsigned long long)nt_port_stat(&a, "tx_fault_drops"),
	       (unsigned long long)nt_port_stat(&a, "tx_fault_dups"),
	       (unsigned long long)nt_port_stat(&a, "tx_fault_holds"),
	       (unsigned long long)nt_port_stat(&b, "rx_fault_corruptions"),
	       (unsigned long long)nt_dir_stat(&b, "import", "naks_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"),
	       (unsigned long long)nt_dir_stat(&b, "import", "duplicates"),
	       (unsigned long long)nt_dir_stat(&b, "import", "out_of_order"),
	       (unsigned long long)nt_port_stat(&b, "malformed"));
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.got, n);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), n);
	assert_int_equal(nt_dir_stat(&b, "import", "gaps_unrecovered"), 0);
	/* Every fault happened ... */
	assert_true(nt_port_stat(&a, "tx_fault_drops") > 0);
	assert_true(nt_port_stat(&a, "tx_fault_dups") > 0);
	assert_true(nt_port_stat(&a, "tx_fault_holds") > 0);
	assert_true(nt_port_stat(&a, "rx_fault_drops") > 0);
	assert_true(nt_port_stat(&b, "rx_fault_corruptions") > 0);
	/* ... and was dealt with. */
	assert_true(nt_dir_stat(&b, "import", "naks_tx") > 0);
	assert_true(nt_dir_stat(&a, "export", "retransmits") > 0);
	assert_true(nt_dir_stat(&b, "import", "duplicates") > 0);
	assert_true(nt_port_stat(&b, "malformed") > 0);

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_loss_reorder_duplication_corruption_are_repaired),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
