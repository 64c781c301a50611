/*
 * test_loss_nft.c - 5% of the bridge's frames from A dropped at random by
 * nftables (this kernel has no netem): the tethered subscriber on B still
 * gets every record exactly once, in order, and the recovery shows in the
 * counters (B sent NAKs, A retransmitted).  Skipped where nft or the netdev
 * hooks are missing.
 *
 * Where the frames are dropped matters.  A netdev *egress* rule on A's own
 * veth (docs/operations.md §7.3) does not lose them: af_packet transmits
 * from a PACKET_TX_RING, and when the egress hook drops a frame the kernel
 * (tpacket_snd) hands it back to the ring as "send request" and sends it
 * again on the PMD's next kick, so the bridge never sees a loss (measured:
 * ~740 frames dropped by the rule, 0 NAKs, 0 retransmits).  And an ingress
 * rule on B's veth comes too late, AF_PACKET taps frames before it.  So the
 * hosts sit on the switch topology (up-mcast; C idles) and the rule drops
 * on the switch's port facing A, in the switch's namespace: a real loss on
 * the path, invisible to both ends.  NT_NFT_AT=egress puts the rule on A's
 * egress instead, to show the above.
 */
#include "nettest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P      nt_prefix("nt2")
#define STREAM 0x22ULL

static const char a_cfg[] =
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[export s]\n"
	"port = 0\n"
	"dest = 02:00:00:00:00:0b\n";

static const char b_cfg[] =
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[import s]\n"
	"port = 0\n";

/* Packets the drop rule matched (its counter), or -1. */
static long long nft_dropped(const char *ns)
{
	char cmd[256], line[512];
	long long v = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s nft list chain netdev T C 2>/dev/null", ns);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		const char *c = strstr(line, "counter packets ");

		if (c && strstr(line, "drop"))
			sscanf(c, "counter packets %lld", &v);
	}
	pclose(p);
	return v;
}

static void test_loss_nft_five_percent_drop_on_the_path_is_repaired(void **state)
{
	static struct nt_host a, b;
	uint64_t n = nt_records(), t0;
	struct nt_rx rx;
	sb_client_t *c;
	sb_sub_t *s;
	pid_t pub;
	long long dropped;
	char rule_ns[16], hook[64];
	const char *e;
	bool at_egress;

	(void)state;
	nt_pair_init(&a, &b, P, true);
	at_egress = (e = getenv("NT_NFT_AT")) && !strcmp(e, "egress");
	if (at_egress) {
		snprintf(rule_ns, sizeof(rule_ns), "%s", a.ns);
		snprintf(hook, sizeof(hook), "egress device %s", a.ifc);
	} else {
		snprintf(rule_ns, sizeof(rule_ns), "%sS", P);
		snprintf(hook, sizeof(hook), "ingress device %s-sa", P);
	}
	if (nt_ns_system(rule_ns, "nft add table netdev T") != 0 ||
	    nt_ns_system(rule_ns, "nft add chain netdev T C '{ type filter hook %s priority 0; }'", hook) != 0 ||
	    nt_ns_system(rule_ns, "nft add rule netdev T C ether type 0x88b5 numgen random mod 100 '<' 5 counter drop") != 0)
		nt_skip("nft or its netdev %s hook is not available", at_egress ? "egress" : "ingress");
	printf("nft loss: dropping 5%% of A's frames at %s in %s\n", hook, rule_ns);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, b_cfg, NULL);
	s = nt_sub_ready(&b, &c, SB_TETHERED, &rx, STREAM);

	t0 = dt_now_ns();
	pub = nt_publisher(&a, STREAM, 0, n);
	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	dropped = nft_dropped(rule_ns);
	printf("nft loss: %llu records in %.2f s, nft dropped %lld frames, naks_tx %llu, retransmits %llu\n",
	       (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9, dropped,
	       (unsigned long long)nt_dir_stat(&b, "import", "naks_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"));
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.got, n);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), n);
	assert_int_equal(nt_dir_stat(&b, "import", "gaps_unrecovered"), 0);
	/* The rule did drop, and the protocol repaired it. */
	assert_true(dropped > 0);
	assert_true(nt_dir_stat(&b, "import", "naks_tx") > 0);
	assert_true(nt_dir_stat(&a, "export", "naks_rx") > 0);
	assert_true(nt_dir_stat(&a, "export", "retransmits") > 0);

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loss_nft_five_percent_drop_on_the_path_is_repaired),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
