/*
 * test_restart.c - the importing daemon dies mid-stream (SIGKILL) and is
 * started again on the same socket and segment directory.  The exporter
 * holds its ring for the silent receiver meanwhile (receiver_timeout_ms is
 * long), so the publisher on A only feels back-pressure; the new daemon on
 * B adopts the ring, reclaims the dead importer's publisher slot (orphan
 * clean-up) and any claim it left open (grace period), resynchronises with
 * the sender, and the tethered subscriber on B, which keeps its handle and
 * reconnects its client to the new daemon, gets every record exactly once:
 * no duplicate, no gap.  Done twice, the second time with B's ring full.
 */
#include "nettest.h"

#include <stdio.h>

#define P      nt_prefix("nt6")
#define STREAM 0x66ULL

static const char a_cfg[] =
	"receiver_timeout_ms = 120000\n"
	"[topic s]\n"
	"ring_size = 1048576\n"
	"max_msg = 4096\n"
	"[export s]\n"
	"port = 0\n"
	"dest = 02:00:00:00:00:0b\n";

static const char b_cfg[] =
	"[topic s]\n"
	"ring_size = 262144\n"
	"max_msg = 4096\n"
	"[import s]\n"
	"port = 0\n";

static const char *const b_args[] = { "--orphan-grace-ms", "200", "--grace-ms", "200", NULL };

static void restart_b(struct nt_host *b, sb_client_t *c, uint64_t at)
{
	uint64_t resyncs;
	sb_sub_t *probe;
	struct sb_sub_opts so = { SB_UNTETHERED, SB_FROM_LATEST, SB_SPIN };

	nt_host_kill(b);
	printf("restart: killed B at record %llu\n", (unsigned long long)at);
	nt_host_respawn(b);
	/* Any control call reconnects the client and re-registers its
	 * handles with the new daemon. */
	probe = sb_sub_open(c, NT_TOPIC, &so);
	if (!probe)
		fail_msg("reconnect to the restarted daemon: %s", sb_last_error());
	sb_sub_close(probe);
	resyncs = nt_wait_dir_stat(b, "import", "resyncs", 1);
	printf("restart: B resynchronised (resyncs %llu, gaps_unrecovered %llu)\n", (unsigned long long)resyncs,
	       (unsigned long long)nt_dir_stat(b, "import", "gaps_unrecovered"));
}

static void test_restart_receiver_sigkill_loses_and_duplicates_nothing(void **state)
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
	nt_host_start(&b, b_cfg, b_args);
	s = nt_sub_ready(&b, &c, SB_TETHERED, &rx, STREAM);

	t0 = dt_now_ns();
	pub = nt_publisher(&a, STREAM, 0, n);
	/* First kill while the subscriber keeps up. */
	nt_rx_until(s, &rx, n / 3);
	restart_b(&b, c, rx.next);
	/* Second kill while B's ring is full: the subscriber stops consuming
	 * until the importer is back-pressured by it. */
	nt_rx_until(s, &rx, 2 * n / 3);
	nt_wait_dir_stat(&b, "import", "backpressure", 1);
	restart_b(&b, c, rx.next);
	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	printf("restart: %llu records in %.2f s; A: resyncs %llu setups_tx %llu retransmits %llu; B: duplicates %llu\n",
	       (unsigned long long)n, (double)(dt_now_ns() - t0) / 1e9,
	       (unsigned long long)nt_dir_stat(&a, "export", "resyncs"),
	       (unsigned long long)nt_dir_stat(&a, "export", "setups_tx"),
	       (unsigned long long)nt_dir_stat(&a, "export", "retransmits"),
	       (unsigned long long)nt_dir_stat(&b, "import", "duplicates"));
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.got, n);
	assert_int_equal(rx.lost, 0);
	assert_int_equal(nt_dir_stat(&b, "import", "gaps_unrecovered"), 0);

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_receiver_sigkill_loses_and_duplicates_nothing),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
