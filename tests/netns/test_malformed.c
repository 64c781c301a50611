/*
 * test_malformed.c - hostile frames on the wire.  While a stream runs from
 * A to B, a raw AF_PACKET socket in A's namespace sends B frames of the
 * bridge's EtherType that are garbage, truncated, of another version or
 * type, with a bad CRC, a non-zero reserved field or out-of-range fields:
 * B's port counts each in bridge.port0.malformed under its reason (exact
 * counts).  Then well-formed frames that are not B's business (another
 * EtherType, an unknown topic) are counted apart, and well-formed frames
 * for B's topic from an impostor with a session of its own are ignored.
 * Through all of it the tethered subscriber on B gets every record exactly
 * once, in order.
 */
#include "nettest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define P      nt_prefix("nt5")
#define STREAM 0x55ULL
#define MAXF   128

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

static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_x[6] = { 2, 0, 0, 0, 0, 0x99 }; /* nobody's */

/* A batch of frames to send. */
struct batch {
	uint8_t buf[MAXF][1600];
	const uint8_t *ptr[MAXF];
	uint32_t len[MAXF];
	unsigned n;
};

static uint8_t *add(struct batch *b, uint32_t len)
{
	assert_true(b->n < MAXF && len <= sizeof(b->buf[0]));
	b->ptr[b->n] = b->buf[b->n];
	b->len[b->n] = len;
	return b->buf[b->n++]; /* filled before or after, in place */
}

/* A valid HEARTBEAT (70 bytes) of topic for session into f; its length. */
static uint32_t heartbeat(uint8_t *f, uint32_t topic_id, uint64_t session, uint64_t pos, uint64_t oldest)
{
	struct sbw_msg m;
	size_t len;

	memset(&m, 0, sizeof(m));
	assert_true(sbw_begin(f, mac_b, mac_x, SBW_HEARTBEAT, topic_id, session) > 0);
	m.u.hb.pos = pos;
	m.u.hb.next_seq = pos / 8;
	m.u.hb.oldest_pos = oldest;
	len = sbw_finish(f, &m, 0);
	assert_true(len > 0);
	return (uint32_t)len;
}

static uint64_t reason(const struct nt_host *h, const char *r)
{
	char k[48];
	uint64_t v;

	snprintf(k, sizeof(k), "malformed.%s", r);
	v = nt_port_stat(h, k);
	return v == UINT64_MAX ? 0 : v; /* listed only when non-zero */
}

static uint64_t port(const struct nt_host *h, const char *k)
{
	uint64_t v = nt_port_stat(h, k);

	return v == UINT64_MAX ? 0 : v;
}

static void wait_port(const struct nt_host *h, const char *k, uint64_t want)
{
	uint64_t t0 = dt_now_ns();

	while (port(h, k) < want) {
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("%s: bridge.port0.%s stayed at %llu, expected %llu", h->ns, k,
				 (unsigned long long)port(h, k), (unsigned long long)want);
		dt_relax();
	}
}

static void send_batch(const struct nt_host *from, struct batch *b)
{
	assert_int_equal(nt_raw_send(from->ns, from->ifc, b->ptr, b->len, b->n), (int)b->n);
	b->n = 0;
}

static void test_malformed_frames_are_counted_and_the_stream_goes_on(void **state)
{
	static struct nt_host a, b;
	static struct batch bt;
	static const char *const reasons[] = { "short", "magic", "version", "type", "length", "field", "crc" };
	static const uint64_t want[] = { 10, 20, 10, 10, 10, 15, 10 };
	uint64_t n = nt_records(), before[7], mal0, other0, unknown0, total = 0;
	uint32_t tid = sbw_topic_id(NT_TOPIC), len;
	struct nt_rx rx;
	sb_client_t *c;
	sb_sub_t *s;
	uint8_t *f;
	pid_t pub;

	(void)state;
	srand(5);
	nt_pair_init(&a, &b, P, false);
	nt_host_start(&a, a_cfg, NULL);
	nt_host_start(&b, b_cfg, NULL);
	s = nt_sub_ready(&b, &c, SB_TETHERED, &rx, STREAM);
	pub = nt_publisher(&a, STREAM, 0, n);
	nt_rx_until(s, &rx, n / 4);

	/* 1. Refused by validation, one reason each. */
	mal0 = port(&b, "malformed");
	for (unsigned r = 0; r < 7; r++)
		before[r] = reason(&b, reasons[r]);
	for (unsigned i = 0; i < 10; i++) { /* short: EtherType and 5 bytes */
		f = add(&bt, 19);
		memcpy(f, mac_b, 6);
		memcpy(f + 6, mac_x, 6);
		f[12] = 0x88;
		f[13] = 0xb5;
	}
	for (unsigned i = 0; i < 20; i++) { /* garbage, not our magic */
		len = 46 + (uint32_t)rand() % 1400;
		f = add(&bt, len);
		for (uint32_t k = 14; k < len; k++)
			f[k] = (uint8_t)rand();
		memcpy(f, mac_b, 6);
		memcpy(f + 6, mac_x, 6);
		f[12] = 0x88;
		f[13] = 0xb5;
		if (f[14] == (SBW_MAGIC & 0xff) && f[15] == SBW_MAGIC >> 8)
			f[14] ^= 1;
	}
	for (unsigned i = 0; i < 10; i++) { /* version 2 */
		f = add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0));
		f[SBW_ETH_HLEN + 2] = 2;
	}
	for (unsigned i = 0; i < 10; i++) { /* type 9 */
		f = add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0));
		f[SBW_ETH_HLEN + 3] = 9;
	}
	for (unsigned i = 0; i < 10; i++) /* truncated: shorter than its lengths say */
		add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0) - 1 - i);
	for (unsigned i = 0; i < 5; i++) { /* reserved != 0 */
		f = add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0));
		f[SBW_ETH_HLEN + 24 + i] = 1;
	}
	for (unsigned i = 0; i < 10; i++) /* CRC right, oldest_pos > pos */
		add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 8192));
	for (unsigned i = 0; i < 10; i++) { /* one bit off in the CRC */
		f = add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0));
		f[SBW_ETH_HLEN + 12 + i % 4] ^= (uint8_t)(1u << (i % 8));
	}
	total = bt.n;
	send_batch(&a, &bt);
	wait_port(&b, "malformed", mal0 + total);
	for (unsigned r = 0; r < 7; r++)
		if (reason(&b, reasons[r]) - before[r] != want[r])
			fail_msg("malformed.%s went up by %llu, expected %llu", reasons[r],
				 (unsigned long long)(reason(&b, reasons[r]) - before[r]), (unsigned long long)want[r]);
	nt_rx_until(s, &rx, n / 2);

	/* 2. Well-formed but not for B: another EtherType, an unknown topic. */
	other0 = port(&b, "other_ethertype");
	unknown0 = port(&b, "unknown_topic");
	for (unsigned i = 0; i < 10; i++) {
		f = add(&bt, heartbeat(bt.buf[bt.n], tid, 77, 4096, 0));
		f[13] = 0xb6;
	}
	for (unsigned i = 0; i < 10; i++)
		add(&bt, heartbeat(bt.buf[bt.n], sbw_topic_id("no.such.topic"), 77, 4096, 0));
	send_batch(&a, &bt);
	wait_port(&b, "other_ethertype", other0 + 10);
	wait_port(&b, "unknown_topic", unknown0 + 10);
	nt_rx_until(s, &rx, 3 * n / 4);

	/* 3. Well-formed, B's topic, from an impostor with its own session:
	 * heartbeats claiming a far frontier and a DATA record far ahead. */
	for (unsigned i = 0; i < 10; i++)
		add(&bt, heartbeat(bt.buf[bt.n], tid, 0x1badc0de, (uint64_t)1 << 40, 0));
	for (unsigned i = 0; i < 10; i++) {
		struct sbw_msg m;
		size_t off;
		uint64_t word = ((uint64_t)8 << 32) | ((uint64_t)0x4144 << 16), seq = ((uint64_t)1 << 37) + i;

		f = bt.buf[bt.n];
		memset(&m, 0, sizeof(m));
		off = sbw_begin(f, mac_b, mac_x, SBW_DATA, tid, 0x1badc0de);
		assert_true(off > 0);
		off = sbw_body_offset(SBW_DATA);
		memcpy(f + off, &word, 8);
		memcpy(f + off + 8, &seq, 8);
		memset(f + off + 16, 0xee, 8);
		m.u.data.pos = (uint64_t)1 << 40;
		m.u.data.next_pos = m.u.data.pos + 24;
		m.u.data.first_seq = seq;
		m.u.data.rec_count = 1;
		m.u.data.rec_align = 8;
		add(&bt, (uint32_t)sbw_finish(f, &m, 24));
	}
	send_batch(&a, &bt);

	nt_rx_until(s, &rx, n);
	nt_publisher_wait(pub);
	printf("malformed: %llu records, %llu malformed frames counted; B: other_ethertype +%llu unknown_topic +%llu "
	       "out_of_order %llu duplicates %llu resyncs %llu\n",
	       (unsigned long long)n, (unsigned long long)total,
	       (unsigned long long)(port(&b, "other_ethertype") - other0),
	       (unsigned long long)(port(&b, "unknown_topic") - unknown0),
	       (unsigned long long)nt_dir_stat(&b, "import", "out_of_order"),
	       (unsigned long long)nt_dir_stat(&b, "import", "duplicates"),
	       (unsigned long long)nt_dir_stat(&b, "import", "resyncs"));
	nt_rx_assert_clean(&rx);
	assert_int_equal(rx.got, n);
	assert_int_equal(nt_dir_stat(&b, "import", "records_rx"), n);
	assert_int_equal(port(&b, "malformed"), mal0 + total);

	nt_pair_stop(c, &a, &b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_frames_are_counted_and_the_stream_goes_on),
	};

	nt_init(argc, argv, 20000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
