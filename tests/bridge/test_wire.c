/*
 * test_wire.c - the bridge's frame format (dpdk/wire.c, docs/wire.md):
 * layout at the documented byte offsets, round trips of every type, the
 * CRC-32C convention, every refusal reason from a crafted frame, the record
 * walk, and a seeded fuzz loop.  No EAL: the wire code must not need it.
 *
 * Every frame handed to sbw_parse() in the negative cases lives in a heap
 * block of exactly its length, so a read past the end is an ASan error.
 */
#include "test_util.h"

#include <stdlib.h>

#include "sb_layout.h"
#include "wire.h"

/* Frame offsets (docs/wire.md §2, §3). */
enum {
	O_ETYPE = 12,
	O_MAGIC = 14,
	O_VERSION = 16,
	O_TYPE = 17,
	O_HDR_LEN = 18,
	O_BODY_LEN = 20,
	O_TOPIC = 22,
	O_CRC = 26,
	O_SESSION = 30,
	O_RESERVED = 38,
	O_FIXED = 46,
	/* DATA */
	O_D_POS = 46,
	O_D_NEXT = 54,
	O_D_SEQ = 62,
	O_D_COUNT = 70,
	O_D_ALIGN = 72,
	O_D_FOFF = 74,
	O_D_FTOTAL = 78,
	O_D_FLAGS = 82,
	O_D_BODY = 86,
	/* NAK */
	O_N_POS = 46,
	O_N_UPTO = 54,
	/* STATUS */
	O_S_ACKED = 46,
	O_S_WINDOW = 54,
	O_S_WANT = 62,
	O_S_FLAGS = 70,
	O_S_RESERVED = 74,
	/* HEARTBEAT */
	O_H_POS = 46,
	O_H_SEQ = 54,
	O_H_OLDEST = 62,
	/* SETUP */
	O_U_POS = 46,
	O_U_SEQ = 54,
	O_U_LOST = 62,
	O_U_MAXREC = 70,
	O_U_ALIGN = 74,
	O_U_NAMELEN = 76,
	O_U_BODY = 78,
};

#define SESSION UINT64_C(0x17a2b3c4d5e6f708)
#define TOPIC "md.eurusd"

static const uint8_t DST[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x42 };
static const uint8_t SRC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

/* ---------------------------------------------------------------- helpers */

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void set_le(uint8_t *p, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the CRC of a frame after a test changed a field, by the
 * documented convention (independently of wire.c's code path). */
static void resign(uint8_t *f)
{
	size_t n = get_le(f + O_HDR_LEN, 2) + get_le(f + O_BODY_LEN, 2);

	set_le(f + O_CRC, 4, 0);
	set_le(f + O_CRC, 4, sbw_crc32c(f + SBW_ETH_HLEN, n, 0));
}

/* Parse a copy of the frame's first len bytes in a block of exactly len. */
static enum sbw_err parse_exact(const uint8_t *f, size_t len, struct sbw_msg *m)
{
	uint8_t *c = malloc(len ? len : 1);
	enum sbw_err e;

	assert_non_null(c);
	memcpy(c, f, len);
	e = sbw_parse(c, len, m);
	free(c);
	return e;
}

/* Parse the frame in place (m->body then points into f). */
static enum sbw_err parse(const uint8_t *f, size_t len)
{
	struct sbw_msg m;

	return parse_exact(f, len, &m);
}

/* One ring record as the ring lays it; returns the bytes it occupies. */
static uint32_t put_rec(uint8_t *b, uint32_t len, uint16_t type, uint64_t seq, uint32_t align)
{
	uint64_t w = sb_rec_word(len, type, 3);
	uint32_t size = (uint32_t)sb_rec_size_al(len, align);

	memcpy(b, &w, 8);
	memcpy(b + 8, &seq, 8);
	for (uint32_t i = 0; i < len; i++)
		b[16 + i] = (uint8_t)(seq * 31 + i);
	memset(b + 16 + len, 0, size - 16 - len);
	return size;
}

static bool payload_ok(const uint8_t *p, uint32_t len, uint64_t seq)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq * 31 + i))
			return false;
	return true;
}

/* Build a whole frame of the type whose fixed part is in m->u. */
static size_t build(uint8_t *buf, enum sbw_type t, const struct sbw_msg *m, const void *body, uint32_t body_len)
{
	size_t off = sbw_begin(buf, DST, SRC, t, sbw_topic_id(TOPIC), SESSION);

	assert_int_equal(off, SBW_ETH_HLEN + 32);
	if (body_len)
		memcpy(buf + sbw_body_offset(t), body, body_len);
	return sbw_finish(buf, m, body_len);
}

/* A DATA frame of n records of lens[i] payload bytes at pos, first_seq. */
static size_t build_data(uint8_t *buf, uint64_t pos, uint64_t first_seq, uint32_t align, const uint32_t *lens,
			 unsigned n, struct sbw_msg *m)
{
	uint8_t body[SBW_MAX_FRAME];
	uint32_t bl = 0;

	for (unsigned i = 0; i < n; i++)
		bl += put_rec(body + bl, lens[i], SB_REC_DATA, first_seq + i, align);
	memset(m, 0, sizeof(*m));
	m->u.data.pos = pos;
	m->u.data.next_pos = pos + bl;
	m->u.data.first_seq = first_seq;
	m->u.data.rec_count = (uint16_t)n;
	m->u.data.rec_align = (uint16_t)align;
	return build(buf, SBW_DATA, m, body, bl);
}

static size_t small_data(uint8_t *buf)
{
	static const uint32_t lens[] = { 8, 20 };
	struct sbw_msg m;

	return build_data(buf, 4096, 77, 8, lens, 2, &m);
}

static size_t small_nak(uint8_t *buf)
{
	struct sbw_msg m = { .u.nak = { .pos = 640, .upto = 1280 } };

	return build(buf, SBW_NAK, &m, NULL, 0);
}

static size_t small_status(uint8_t *buf)
{
	struct sbw_msg m = { .u.status = { .acked_pos = 640, .window = 1 << 20, .want_seq = 9,
					   .flags = SBW_S_TETHERED } };

	return build(buf, SBW_STATUS, &m, NULL, 0);
}

static size_t small_hb(uint8_t *buf)
{
	struct sbw_msg m = { .u.hb = { .pos = 8192, .next_seq = 100, .oldest_pos = 1024 } };

	return build(buf, SBW_HEARTBEAT, &m, NULL, 0);
}

static size_t small_setup(uint8_t *buf)
{
	struct sbw_msg m = { .u.setup = { .start_pos = 1024, .start_seq = 50, .lost = 3, .max_record = 4096,
					  .rec_align = 64, .name_len = sizeof(TOPIC) - 1 } };

	return build(buf, SBW_SETUP, &m, TOPIC, sizeof(TOPIC) - 1);
}

static size_t (*const small_frames[])(uint8_t *) = { small_data, small_nak, small_status, small_hb, small_setup };
#define N_SMALL (sizeof(small_frames) / sizeof(small_frames[0]))

static void assert_common(const struct sbw_msg *m, enum sbw_type t, uint32_t body_len)
{
	assert_int_equal(m->h.magic, SBW_MAGIC);
	assert_int_equal(m->h.version, SBW_VERSION);
	assert_int_equal(m->h.type, t);
	assert_int_equal(m->h.hdr_len, sbw_body_offset(t) - SBW_ETH_HLEN);
	assert_int_equal(m->h.body_len, body_len);
	assert_int_equal(m->body_len, body_len);
	assert_int_equal(m->h.topic_id, sbw_topic_id(TOPIC));
	assert_true(m->h.session == SESSION);
	assert_true(m->h.reserved == 0);
	assert_memory_equal(m->dst_mac, DST, 6);
	assert_memory_equal(m->src_mac, SRC, 6);
}

/* Walk; return the last rc and the number of records returned. */
static int walk(const struct sbw_msg *m, uint32_t max_record, unsigned *got)
{
	const uint8_t *p;
	uint32_t off = 0, len;
	uint64_t seq;
	int rc;

	*got = 0;
	while ((rc = sbw_next_record(m, &off, max_record, &seq, &p, &len)) == 1) {
		assert_true(p >= m->body && p + len <= m->body + m->body_len);
		(*got)++;
	}
	return rc;
}

/* ------------------------------------------------------------------ CRC */

static void test_wire_crc32c_known_answer(void **state)
{
	static const char kat[] = "123456789";
	uint8_t buf[200];
	uint64_t r = 5;
	uint32_t whole;

	(void)state;
	assert_int_equal(sbw_crc32c(kat, 9, 0), 0xE3069283u);
	assert_int_equal(sbw_crc32c(kat, 0, 0), 0);
	/* iSCSI test vector (RFC 3720 B.4): 32 bytes of zeros. */
	memset(buf, 0, 32);
	assert_int_equal(sbw_crc32c(buf, 32, 0), 0x8A9136AAu);
	/* Chaining: init is a previous result. */
	assert_int_equal(sbw_crc32c(kat + 4, 5, sbw_crc32c(kat, 4, 0)), 0xE3069283u);
	/* Any alignment, any split, same CRC. */
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)tu_rand(&r);
	whole = sbw_crc32c(buf + 16, 150, 0);
	for (unsigned a = 0; a < 16; a++) {
		uint8_t tmp[200];

		memcpy(tmp + a, buf + 16, 150);
		assert_int_equal(sbw_crc32c(tmp + a, 150, 0), whole);
		assert_int_equal(sbw_crc32c(buf + 16 + 3 * a, 150 - 3 * a, sbw_crc32c(buf + 16, 3 * a, 0)), whole);
	}
}

static void test_wire_topic_id_stable(void **state)
{
	(void)state;
	/* A wire constant: changing it splits old and new bridges apart. */
	assert_int_equal(sbw_topic_id("123456789"), 0xE3069283u);
	assert_int_equal(sbw_topic_id(TOPIC), sbw_crc32c(TOPIC, strlen(TOPIC), 0));
	assert_int_equal(sbw_topic_id(TOPIC), sbw_topic_id(TOPIC));
	assert_int_not_equal(sbw_topic_id("md.eurusd"), sbw_topic_id("md.eurusc"));
}

/* --------------------------------------------------------------- layout */

static void test_wire_layout_offsets(void **state)
{
	uint8_t f[256];
	size_t n;

	(void)state;
	assert_int_equal(sbw_body_offset(SBW_DATA), 86);
	assert_int_equal(sbw_body_offset(SBW_NAK), 62);
	assert_int_equal(sbw_body_offset(SBW_STATUS), 78);
	assert_int_equal(sbw_body_offset(SBW_HEARTBEAT), 70);
	assert_int_equal(sbw_body_offset(SBW_SETUP), 78);
	assert_int_equal(sbw_body_offset(0), 0);
	assert_int_equal(sbw_body_offset(SBW_TYPE_MAX + 1), 0);

	n = small_data(f);
	assert_int_equal(n, O_D_BODY + 16 + 8 + 16 + 24);
	assert_memory_equal(f, DST, 6);
	assert_memory_equal(f + 6, SRC, 6);
	assert_int_equal(f[12], 0x88); /* EtherType big-endian */
	assert_int_equal(f[13], 0xB5);
	assert_int_equal(f[O_MAGIC], 0x42); /* "SB" little-endian */
	assert_int_equal(f[O_MAGIC + 1], 0x53);
	assert_int_equal(f[O_VERSION], 1);
	assert_int_equal(f[O_TYPE], SBW_DATA);
	assert_int_equal(get_le(f + O_HDR_LEN, 2), 72);
	assert_int_equal(get_le(f + O_BODY_LEN, 2), 64);
	assert_int_equal(get_le(f + O_TOPIC, 4), sbw_topic_id(TOPIC));
	assert_true(get_le(f + O_SESSION, 8) == SESSION);
	assert_true(get_le(f + O_RESERVED, 8) == 0);
	assert_true(get_le(f + O_D_POS, 8) == 4096);
	assert_true(get_le(f + O_D_NEXT, 8) == 4096 + 64);
	assert_true(get_le(f + O_D_SEQ, 8) == 77);
	assert_int_equal(get_le(f + O_D_COUNT, 2), 2);
	assert_int_equal(get_le(f + O_D_ALIGN, 2), 8);
	assert_int_equal(get_le(f + O_D_FOFF, 4), 0);
	assert_int_equal(get_le(f + O_D_FTOTAL, 4), 0);
	assert_int_equal(get_le(f + O_D_FLAGS, 4), 0);
	/* The body is the ring's bytes: record header word, then seq. */
	assert_true(get_le(f + O_D_BODY, 8) == sb_rec_word(8, SB_REC_DATA, 3));
	assert_true(get_le(f + O_D_BODY + 8, 8) == 77);

	/* CRC: over [14, 14 + hdr_len + body_len) with its own field as 0. */
	{
		uint32_t crc = (uint32_t)get_le(f + O_CRC, 4);

		resign(f);
		assert_int_equal(get_le(f + O_CRC, 4), crc);
	}

	n = small_status(f);
	assert_int_equal(n, 78);
	assert_true(get_le(f + O_S_ACKED, 8) == 640);
	assert_true(get_le(f + O_S_WINDOW, 8) == 1 << 20);
	assert_true(get_le(f + O_S_WANT, 8) == 9);
	assert_int_equal(get_le(f + O_S_FLAGS, 4), SBW_S_TETHERED);
	assert_int_equal(get_le(f + O_S_RESERVED, 4), 0);
	n = small_setup(f);
	assert_int_equal(n, O_U_BODY + strlen(TOPIC));
	assert_int_equal(get_le(f + O_U_MAXREC, 4), 4096);
	assert_int_equal(get_le(f + O_U_ALIGN, 2), 64);
	assert_int_equal(get_le(f + O_U_NAMELEN, 2), strlen(TOPIC));
	assert_memory_equal(f + O_U_BODY, TOPIC, strlen(TOPIC));
	n = small_hb(f);
	assert_int_equal(n, 70);
	assert_true(get_le(f + O_H_OLDEST, 8) == 1024);
	n = small_nak(f);
	assert_int_equal(n, 62);
	assert_true(get_le(f + O_N_UPTO, 8) == 1280);
}

/* ----------------------------------------------------------- round trips */

static void test_wire_roundtrip_data(void **state)
{
	static const uint32_t lens[] = { 0, 1, 7, 8, 9, 100 };
	uint8_t f[SBW_MAX_FRAME];
	struct sbw_msg in, out;
	size_t n;

	(void)state;
	for (uint32_t align = 8; align <= 128; align *= 2) {
		n = build_data(f, UINT64_C(1) << 40, UINT64_C(0xfffffffffffffff0), align, lens, 6, &in);
		assert_int_not_equal(n, 0);
		assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
		assert_common(&out, SBW_DATA, (uint32_t)(n - O_D_BODY));
		assert_true(out.u.data.pos == in.u.data.pos);
		assert_true(out.u.data.next_pos == in.u.data.next_pos);
		assert_true(out.u.data.first_seq == in.u.data.first_seq);
		assert_int_equal(out.u.data.rec_count, 6);
		assert_int_equal(out.u.data.rec_align, align);
		assert_int_equal(out.u.data.frag_off, 0);
		assert_int_equal(out.u.data.frag_total, 0);
		assert_int_equal(out.u.data.flags, 0);
		assert_ptr_equal(out.body, f + O_D_BODY);
	}
	/* Retransmitted fragment with every field at a distinct value. */
	memset(&in, 0, sizeof(in));
	in.u.data = (struct sbw_data){ .pos = 65536 + 1000, .next_pos = 65536 + 8192, .first_seq = 12345,
				       .rec_count = 0, .rec_align = 64, .frag_off = 1000, .frag_total = 8000,
				       .flags = SBW_F_RETRANSMIT };
	{
		uint8_t body[1400];

		memset(body, 0xa5, sizeof(body));
		n = build(f, SBW_DATA, &in, body, sizeof(body));
	}
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_common(&out, SBW_DATA, 1400);
	assert_memory_equal(&out.u.data, &in.u.data, sizeof(in.u.data));
}

static void test_wire_roundtrip_nak(void **state)
{
	uint8_t f[128];
	struct sbw_msg in = { .u.nak = { .pos = UINT64_C(0x0102030405060708), .upto = UINT64_MAX } }, out;
	size_t n;

	(void)state;
	n = build(f, SBW_NAK, &in, NULL, 0);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_common(&out, SBW_NAK, 0);
	assert_null(out.body);
	assert_true(out.u.nak.pos == in.u.nak.pos && out.u.nak.upto == in.u.nak.upto);
	in.u.nak.upto = in.u.nak.pos; /* no better hint */
	n = build(f, SBW_NAK, &in, NULL, 0);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
}

static void test_wire_roundtrip_status(void **state)
{
	uint8_t f[128];
	struct sbw_msg in = { .u.status = { .acked_pos = UINT64_C(0x1122334455667788), .window = UINT64_MAX,
					    .want_seq = 42, .flags = SBW_S_TETHERED | SBW_S_RESYNC } },
		       out;
	size_t n;

	(void)state;
	n = build(f, SBW_STATUS, &in, NULL, 0);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_common(&out, SBW_STATUS, 0);
	assert_memory_equal(&out.u.status, &in.u.status, sizeof(in.u.status));
	/* session 0 is valid in STATUS only ("unsynchronised"). */
	sbw_begin(f, DST, SRC, SBW_STATUS, 7, 0);
	n = sbw_finish(f, &in, 0);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_true(out.h.session == 0);
}

static void test_wire_roundtrip_heartbeat(void **state)
{
	uint8_t f[128];
	struct sbw_msg in = { .u.hb = { .pos = 1 << 30, .next_seq = UINT64_MAX, .oldest_pos = 1 << 30 } }, out;
	size_t n;

	(void)state;
	n = build(f, SBW_HEARTBEAT, &in, NULL, 0);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_common(&out, SBW_HEARTBEAT, 0);
	assert_memory_equal(&out.u.hb, &in.u.hb, sizeof(in.u.hb));
}

static void test_wire_roundtrip_setup(void **state)
{
	char name[SBW_NAME_MAX + 1];
	uint8_t f[256];
	struct sbw_msg in, out;
	size_t n;

	(void)state;
	memset(name, 'x', SBW_NAME_MAX);
	name[SBW_NAME_MAX] = 0;
	memset(&in, 0, sizeof(in));
	in.u.setup = (struct sbw_setup){ .start_pos = UINT64_C(1) << 50, .start_seq = 99, .lost = UINT64_MAX,
					 .max_record = SBW_MAX_RECORD_BYTES - 16, .rec_align = 128,
					 .name_len = SBW_NAME_MAX };
	sbw_begin(f, DST, SRC, SBW_SETUP, sbw_topic_id(name), SESSION);
	memcpy(f + sbw_body_offset(SBW_SETUP), name, SBW_NAME_MAX);
	n = sbw_finish(f, &in, SBW_NAME_MAX);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_memory_equal(&out.u.setup, &in.u.setup, sizeof(in.u.setup));
	assert_int_equal(out.body_len, SBW_NAME_MAX);
	assert_memory_equal(out.body, name, SBW_NAME_MAX);

	/* name_len is written from body_len, whatever m says. */
	in.u.setup.name_len = 0;
	n = sbw_finish(f, &in, SBW_NAME_MAX);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_int_equal(out.u.setup.name_len, SBW_NAME_MAX);

	n = small_setup(f);
	assert_int_equal(sbw_parse(f, n, &out), SBW_OK);
	assert_common(&out, SBW_SETUP, strlen(TOPIC));
	assert_memory_equal(out.body, TOPIC, strlen(TOPIC));
}

static void test_wire_split_crc_equals_contiguous(void **state)
{
	static const uint32_t lens[] = { 30, 500, 64 };
	uint8_t a[SBW_MAX_FRAME], b[SBW_MAX_FRAME];
	struct sbw_msg m, out;
	size_t n, hl;

	(void)state;
	n = build_data(a, 8192, 5, 16, lens, 3, &m);
	sbw_begin(b, DST, SRC, SBW_DATA, sbw_topic_id(TOPIC), SESSION);
	memset(b + O_D_BODY, 0xee, 64); /* whatever lies after the header is not covered */
	hl = sbw_finish_split(b, &m, a + O_D_BODY, (uint32_t)(n - O_D_BODY));
	assert_int_equal(hl, O_D_BODY);
	assert_memory_equal(a, b, hl); /* same header bytes, CRC included */
	memcpy(b + hl, a + hl, n - hl);
	assert_int_equal(sbw_parse(b, n, &out), SBW_OK);
	/* SETUP split the same way. */
	n = small_setup(a);
	sbw_begin(b, DST, SRC, SBW_SETUP, sbw_topic_id(TOPIC), SESSION);
	assert_int_equal(sbw_parse(a, n, &m), SBW_OK);
	hl = sbw_finish_split(b, &m, (const uint8_t *)TOPIC, (uint32_t)strlen(TOPIC));
	assert_memory_equal(a, b, hl);
}

static void test_wire_padded_frames_parse(void **state)
{
	uint8_t f[SBW_MAX_FRAME + 64];
	struct sbw_msg m;
	uint64_t r = 11;

	(void)state;
	for (unsigned t = 0; t < N_SMALL; t++) {
		size_t n = small_frames[t](f);

		assert_true(n >= 60); /* every frame of ours is at least the Ethernet minimum */
		for (unsigned pad = 1; pad <= 64; pad++) {
			f[n + pad - 1] = (uint8_t)tu_rand(&r); /* NIC padding, FCS, garbage */
			assert_int_equal(parse_exact(f, n + pad, &m), SBW_OK);
			assert_int_equal(m.body_len, get_le(f + O_BODY_LEN, 2));
		}
	}
	/* A minimum-size (60-byte) frame that carries less: impossible for our
	 * types, but a NAK-sized header must not read past 62 of a 64. */
	{
		size_t n = small_nak(f);

		memset(f + n, 0, 2);
		assert_int_equal(parse_exact(f, 64, &m), SBW_OK);
	}
}

static void test_wire_builders_refuse_bad_input(void **state)
{
	uint8_t f[SBW_MAX_FRAME + 16];
	struct sbw_msg m;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(sbw_begin(f, DST, SRC, 0, 1, 1), 0);
	assert_int_equal(sbw_begin(f, DST, SRC, SBW_TYPE_MAX + 1, 1, 1), 0);
	sbw_begin(f, DST, SRC, SBW_DATA, 1, 1);
	assert_int_equal(sbw_finish(f, &m, SBW_MAX_FRAME - O_D_BODY + 1), 0);
	assert_int_equal(sbw_finish_split(f, &m, f, SBW_MAX_FRAME - O_D_BODY + 1), 0);
	assert_int_equal(sbw_finish(f, &m, SBW_MAX_FRAME - O_D_BODY), SBW_MAX_FRAME);
	f[O_TYPE] = 9; /* finish trusts only a type begin() could write */
	assert_int_equal(sbw_finish(f, &m, 0), 0);
	for (int e = 0; e <= SBW_E_COUNT_; e++) {
		assert_non_null(sbw_strerr(e));
		assert_true(strlen(sbw_strerr(e)) > 5);
	}
	assert_string_equal(sbw_strerr(SBW_E_COUNT_), "unknown refusal reason");
}

/* ------------------------------------------------ negative: refusals */

static void test_wire_refuses_short(void **state)
{
	uint8_t f[256];
	struct sbw_msg m;
	size_t n = small_hb(f);

	(void)state;
	assert_int_equal(sbw_parse(NULL, n, &m), SBW_E_SHORT);
	for (size_t len = 0; len < SBW_ETH_HLEN + 32; len++)
		assert_int_equal(parse_exact(f, len, &m), SBW_E_SHORT);
}

static void test_wire_refuses_other_ethertype(void **state)
{
	static const uint16_t others[] = { 0x0800, 0x86DD, 0x0806, 0x8100, 0xB588, 0x88B4, 0x88B6, 0x0000 };
	uint8_t f[256];
	size_t n = small_hb(f);

	(void)state;
	for (unsigned i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		f[12] = (uint8_t)(others[i] >> 8);
		f[13] = (uint8_t)others[i];
		assert_int_equal(parse(f, n), SBW_E_ETHERTYPE);
	}
}

static void test_wire_refuses_magic_version_type(void **state)
{
	uint8_t f[256], g[256];
	size_t n = small_hb(f);

	(void)state;
	memcpy(g, f, n);
	set_le(g + O_MAGIC, 2, 0x4253); /* byte-swapped */
	assert_int_equal(parse(g, n), SBW_E_MAGIC);
	set_le(g + O_MAGIC, 2, 0);
	assert_int_equal(parse(g, n), SBW_E_MAGIC);
	for (unsigned v = 0; v < 256; v++) {
		memcpy(g, f, n);
		g[O_VERSION] = (uint8_t)v;
		resign(g);
		assert_int_equal(parse(g, n), v == SBW_VERSION ? SBW_OK : SBW_E_VERSION);
	}
	for (unsigned t = 0; t < 256; t++) {
		if (t >= 1 && t <= SBW_TYPE_MAX)
			continue;
		memcpy(g, f, n);
		g[O_TYPE] = (uint8_t)t;
		resign(g);
		assert_int_equal(parse(g, n), SBW_E_TYPE);
	}
}

static void test_wire_refuses_length_lies(void **state)
{
	static const uint16_t hdr_lies[] = { 0, 1, 31, 32, 55, 57, 71, 73, 0x7fff, 0xffff };
	uint8_t f[SBW_MAX_FRAME + 64], g[SBW_MAX_FRAME + 64];
	size_t n;

	(void)state;
	/* hdr_len must be exactly 32 + the type's fixed part. */
	n = small_hb(f); /* hdr_len 56 */
	for (unsigned i = 0; i < sizeof(hdr_lies) / sizeof(hdr_lies[0]); i++) {
		memcpy(g, f, n);
		set_le(g + O_HDR_LEN, 2, hdr_lies[i]); /* refused before the CRC */
		assert_int_equal(parse(g, n), SBW_E_LENGTH);
	}
	/* A DATA frame claiming another type's header (STATUS: 64). */
	n = small_data(f);
	memcpy(g, f, n);
	set_le(g + O_HDR_LEN, 2, 64);
	assert_int_equal(parse(g, n), SBW_E_LENGTH);
	/* body_len beyond the frame, by one and by a lot; 0 for DATA. */
	for (unsigned bl = 0; bl <= 0xffff; bl += (bl < 200 ? 1 : 997)) {
		memcpy(g, f, n);
		set_le(g + O_BODY_LEN, 2, bl);
		if (bl <= n - O_D_BODY)
			resign(g); /* beyond: refused before the CRC is read */
		if (bl == n - O_D_BODY)
			assert_int_equal(parse(g, n), SBW_OK);
		else if (bl == 0 || bl > n - O_D_BODY)
			assert_int_equal(parse(g, n), SBW_E_LENGTH);
		else {
			/* Shorter: parse cannot always tell (the cut bytes look
			 * like NIC padding), the record walk always does. */
			struct sbw_msg m;
			unsigned got;

			if (sbw_parse(g, n, &m) == SBW_OK)
				assert_int_equal(walk(&m, 1000, &got), -1);
		}
	}
	memcpy(g, f, n);
	set_le(g + O_BODY_LEN, 2, 0xffff);
	assert_int_equal(parse(g, n), SBW_E_LENGTH);
	/* Control messages carry no body, even with spare bytes in the frame. */
	for (unsigned t = 1; t < N_SMALL - 1; t++) {
		n = small_frames[t](f);
		memset(f + n, 0, 8);
		set_le(f + O_BODY_LEN, 2, 8);
		resign(f);
		assert_int_equal(parse(f, n + 8), SBW_E_LENGTH);
	}
	/* SETUP: body_len == name_len, 1..63. */
	n = small_setup(f);
	memcpy(g, f, n);
	set_le(g + O_U_NAMELEN, 2, strlen(TOPIC) - 1);
	resign(g);
	assert_int_equal(parse(g, n), SBW_E_LENGTH);
	memcpy(g, f, n);
	set_le(g + O_BODY_LEN, 2, 0);
	set_le(g + O_U_NAMELEN, 2, 0);
	resign(g);
	assert_int_equal(parse(g, O_U_BODY), SBW_E_LENGTH);
	memset(g + O_U_BODY, 'a', 64);
	set_le(g + O_BODY_LEN, 2, 64);
	set_le(g + O_U_NAMELEN, 2, 64);
	resign(g);
	assert_int_equal(parse(g, O_U_BODY + 64), SBW_E_LENGTH);
	/* Header + body larger than SBW_MAX_FRAME, frame long enough. */
	{
		struct sbw_msg m = { .u.data = { .pos = 0, .next_pos = 1 << 20, .rec_align = 8, .frag_total = 1 << 20 } };

		sbw_begin(g, DST, SRC, SBW_DATA, 1, SESSION);
		memset(g + O_D_BODY, 0, SBW_MAX_FRAME - O_D_BODY + 8);
		assert_int_equal(sbw_finish(g, &m, SBW_MAX_FRAME - O_D_BODY), SBW_MAX_FRAME);
		assert_int_equal(parse(g, SBW_MAX_FRAME), SBW_OK);
		set_le(g + O_BODY_LEN, 2, SBW_MAX_FRAME - O_D_BODY + 8);
		resign(g);
		assert_int_equal(parse(g, SBW_MAX_FRAME + 8), SBW_E_LENGTH);
	}
}

static void test_wire_refuses_truncation_at_every_offset(void **state)
{
	uint8_t f[SBW_MAX_FRAME];
	struct sbw_msg m;

	(void)state;
	for (unsigned t = 0; t < N_SMALL; t++) {
		size_t n = small_frames[t](f);

		assert_int_equal(parse_exact(f, n, &m), SBW_OK);
		for (size_t len = 0; len < n; len++)
			assert_int_not_equal(parse_exact(f, len, &m), SBW_OK);
	}
	/* And a long DATA frame (every offset of 1400 bytes). */
	{
		static const uint32_t lens[] = { 1300 };
		size_t n = build_data(f, 0, 1, 8, lens, 1, &m);

		for (size_t len = 0; len < n; len++)
			assert_int_not_equal(parse_exact(f, len, &m), SBW_OK);
	}
}

static void test_wire_refuses_every_single_bit_flip(void **state)
{
	uint8_t f[256];

	(void)state;
	for (unsigned t = 0; t < N_SMALL; t++) {
		size_t n = small_frames[t](f);

		/* The MACs are Ethernet's (its FCS covers them); from the
		 * EtherType on, every flip is refused. */
		for (size_t bit = 12 * 8; bit < n * 8; bit++) {
			enum sbw_err e;

			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			e = parse(f, n);
			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_not_equal(e, SBW_OK);
			/* Past the lengths, where the structure stays intact, the
			 * CRC is what catches it (reserved and SETUP's name_len
			 * are checked before it). */
			if (bit / 8 >= O_TOPIC && !(bit / 8 >= O_RESERVED && bit / 8 < O_RESERVED + 8) &&
			    !(f[O_TYPE] == SBW_SETUP && bit / 8 >= O_U_NAMELEN && bit / 8 < O_U_NAMELEN + 2))
				assert_int_equal(e, SBW_E_CRC);
		}
		assert_int_equal(parse(f, n), SBW_OK);
	}
}

/* Change a field of a valid frame, re-sign it, expect SBW_E_FIELD. */
static void expect_field(const uint8_t *f, size_t n, unsigned off, unsigned size, uint64_t v)
{
	uint8_t g[SBW_MAX_FRAME];

	memcpy(g, f, n);
	set_le(g + off, size, v);
	resign(g);
	if (parse(g, n) != SBW_E_FIELD)
		fail_msg("field at %u = %#llx: got %s, expected SBW_E_FIELD", off, (unsigned long long)v,
			 sbw_strerr(parse(g, n)));
}

static void expect_ok(const uint8_t *f, size_t n, unsigned off, unsigned size, uint64_t v)
{
	uint8_t g[SBW_MAX_FRAME];

	memcpy(g, f, n);
	set_le(g + off, size, v);
	resign(g);
	if (parse(g, n) != SBW_OK)
		fail_msg("field at %u = %#llx: refused (%s)", off, (unsigned long long)v, sbw_strerr(parse(g, n)));
}

static void test_wire_refuses_reserved_and_session(void **state)
{
	uint8_t f[256];
	size_t n;

	(void)state;
	for (unsigned t = 0; t < N_SMALL; t++) {
		n = small_frames[t](f);
		expect_field(f, n, O_RESERVED, 8, 1);
		expect_field(f, n, O_RESERVED + 7, 1, 0x80);
		if (f[O_TYPE] == SBW_STATUS)
			expect_ok(f, n, O_SESSION, 8, 0);
		else
			expect_field(f, n, O_SESSION, 8, 0);
	}
}

static void test_wire_refuses_data_field_ranges(void **state)
{
	static const uint32_t lens[] = { 8, 20 }; /* body 64 at align 8 */
	static const uint64_t bad_align[] = { 0, 1, 4, 12, 24, 129, 256, 0xffff };
	uint8_t f[SBW_MAX_FRAME];
	struct sbw_msg m;
	size_t n = build_data(f, 4096, 77, 8, lens, 2, &m);

	(void)state;
	for (unsigned i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++)
		expect_field(f, n, O_D_ALIGN, 2, bad_align[i]);
	expect_ok(f, n, O_D_ALIGN, 2, 16);             /* 64 bytes is a multiple of 16... */
	expect_field(f, n, O_D_ALIGN, 2, 128);         /* ...not of 128 */
	expect_field(f, n, O_D_FLAGS, 4, 2);
	expect_field(f, n, O_D_FLAGS, 4, 0x80000000u);
	expect_ok(f, n, O_D_FLAGS, 4, SBW_F_RETRANSMIT);
	expect_field(f, n, O_D_NEXT, 8, 4096);         /* next_pos == pos */
	expect_field(f, n, O_D_NEXT, 8, 4000);         /* next_pos < pos */
	expect_field(f, n, O_D_NEXT, 8, 4096 + 56);    /* less than the body */
	expect_field(f, n, O_D_NEXT, 8, 4096 + 68);    /* not a record boundary */
	expect_ok(f, n, O_D_NEXT, 8, 4096 + 64 + 800); /* PAD/ABORT records skipped */
	expect_field(f, n, O_D_POS, 8, 4100);          /* not a record boundary */
	expect_field(f, n, O_D_COUNT, 2, 0);           /* not a fragment: >= 1 record */
	expect_field(f, n, O_D_COUNT, 2, 5);           /* 5 records need 80 bytes */
	expect_ok(f, n, O_D_COUNT, 2, 4);              /* possible as far as parse can tell */
	expect_field(f, n, O_D_FOFF, 4, 8);            /* frag_off without frag_total */

	/* Body not a multiple of rec_align (the last record's padding cut). */
	{
		uint8_t g[SBW_MAX_FRAME];
		struct sbw_msg x = m;

		sbw_begin(g, DST, SRC, SBW_DATA, 1, SESSION);
		memcpy(g + O_D_BODY, f + O_D_BODY, 60);
		assert_int_not_equal(sbw_finish(g, &x, 60), 0);
		assert_int_equal(parse(g, O_D_BODY + 60), SBW_E_FIELD);
	}
}

static void test_wire_refuses_fragment_field_ranges(void **state)
{
	uint8_t f[SBW_MAX_FRAME], body[1024];
	struct sbw_msg m;
	size_t n;

	(void)state;
	/* Middle fragment of a 5000-byte record at 65536 (align 64). */
	memset(body, 0x5a, sizeof(body));
	memset(&m, 0, sizeof(m));
	m.u.data = (struct sbw_data){ .pos = 65536 + 2048, .next_pos = 65536 + 5056, .first_seq = 9,
				      .rec_align = 64, .frag_off = 2048, .frag_total = 5000 };
	n = build(f, SBW_DATA, &m, body, sizeof(body));
	assert_int_equal(parse(f, n), SBW_OK);
	expect_field(f, n, O_D_COUNT, 2, 1);               /* a fragment holds no whole record */
	expect_field(f, n, O_D_FTOTAL, 4, 15);             /* less than a record header */
	expect_field(f, n, O_D_FTOTAL, 4, SBW_MAX_RECORD_BYTES + 1);
	expect_field(f, n, O_D_FTOTAL, 4, 2048 + 1023);    /* body past the record */
	expect_ok(f, n, O_D_FTOTAL, 4, 2048 + 1024);       /* the last fragment */
	expect_field(f, n, O_D_FOFF, 4, 5000);             /* offset at the end */
	expect_field(f, n, O_D_FOFF, 4, 4000);             /* offset + body past the end */
	expect_field(f, n, O_D_POS, 8, 65536 + 2049);      /* pos - frag_off not aligned */
	expect_field(f, n, O_D_POS, 8, 2047);              /* pos < frag_off */
	expect_field(f, n, O_D_NEXT, 8, 65536 + 5000);     /* not past the whole record */
	expect_field(f, n, O_D_NEXT, 8, 65536 + 2048 + 1023); /* less than the body */
	expect_ok(f, n, O_D_NEXT, 8, 65536 + 9000);        /* PADs after the record */
	expect_field(f, n, O_D_FLAGS, 4, 4);
	/* First fragment: must hold the whole record header. */
	memset(&m, 0, sizeof(m));
	m.u.data = (struct sbw_data){ .pos = 65536, .next_pos = 65536 + 5056, .first_seq = 9, .rec_align = 64,
				      .frag_off = 0, .frag_total = 5000 };
	n = build(f, SBW_DATA, &m, body, 15);
	assert_int_equal(parse(f, n), SBW_E_FIELD);
	n = build(f, SBW_DATA, &m, body, 16);
	assert_int_equal(parse(f, n), SBW_OK);
	/* Largest fragmented record accepted. */
	m.u.data.frag_total = SBW_MAX_RECORD_BYTES;
	m.u.data.next_pos = 65536 + SBW_MAX_RECORD_BYTES;
	n = build(f, SBW_DATA, &m, body, 16);
	assert_int_equal(parse(f, n), SBW_OK);
}

static void test_wire_refuses_control_field_ranges(void **state)
{
	uint8_t f[256];
	size_t n;

	(void)state;
	n = small_nak(f); /* pos 640 upto 1280 */
	expect_field(f, n, O_N_UPTO, 8, 639);
	expect_field(f, n, O_N_UPTO, 8, 0);
	expect_ok(f, n, O_N_UPTO, 8, 640);

	n = small_status(f);
	expect_field(f, n, O_S_FLAGS, 4, 4);
	expect_field(f, n, O_S_FLAGS, 4, 0xffffffffu);
	expect_ok(f, n, O_S_FLAGS, 4, SBW_S_RESYNC);
	expect_ok(f, n, O_S_FLAGS, 4, 0);
	expect_field(f, n, O_S_RESERVED, 4, 1);
	expect_ok(f, n, O_S_WINDOW, 8, 0); /* a closed window is valid */

	n = small_hb(f); /* pos 8192 oldest 1024 */
	expect_field(f, n, O_H_OLDEST, 8, 8193);
	expect_ok(f, n, O_H_OLDEST, 8, 8192);
	expect_ok(f, n, O_H_OLDEST, 8, 0);

	n = small_setup(f); /* align 64, start_pos 1024 */
	expect_field(f, n, O_U_ALIGN, 2, 0);
	expect_field(f, n, O_U_ALIGN, 2, 48);
	expect_field(f, n, O_U_ALIGN, 2, 256);
	expect_field(f, n, O_U_MAXREC, 4, 0);
	expect_field(f, n, O_U_MAXREC, 4, SBW_MAX_RECORD_BYTES - 15);
	expect_ok(f, n, O_U_MAXREC, 4, 1);
	expect_field(f, n, O_U_POS, 8, 1024 + 32); /* not a record boundary at align 64 */
	expect_field(f, n, O_TOPIC, 4, sbw_topic_id(TOPIC) ^ 1); /* name and id disagree */
	/* Name characters: as the daemon allows them. */
	{
		static const char bad[] = { 0, '/', ' ', '\n', (char)0xc3, '*' };

		for (unsigned i = 0; i < sizeof(bad); i++)
			expect_field(f, n, O_U_BODY + 2, 1, (uint8_t)bad[i]);
		expect_field(f, n, O_U_BODY, 1, '.'); /* leading dot */
	}
}

/* ----------------------------------------------------------- record walk */

static void test_wire_next_record_walks_batch(void **state)
{
	static const uint32_t lens[] = { 0, 1, 15, 16, 17, 64, 200, 3 };
	uint8_t f[SBW_MAX_FRAME];
	struct sbw_msg in, m;

	(void)state;
	for (uint32_t align = 8; align <= 128; align *= 2) {
		size_t n = build_data(f, 1 << 20, 1000, align, lens, 8, &in);
		uint32_t off = 0, len = 0, expect_off = 0;
		const uint8_t *p;
		uint64_t seq = 0xdead;
		unsigned i = 0;
		int rc;

		assert_int_equal(sbw_parse(f, n, &m), SBW_OK);
		while ((rc = sbw_next_record(&m, &off, 200, &seq, &p, &len)) == 1) {
			assert_true(i < 8);
			assert_true(seq == 1000 + i);
			assert_int_equal(len, lens[i]);
			assert_ptr_equal(p, m.body + expect_off + 16);
			assert_true(payload_ok(p, len, seq));
			expect_off += (uint32_t)sb_rec_size_al(lens[i], align);
			assert_int_equal(off, expect_off);
			i++;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(i, 8);
		assert_int_equal(off, m.body_len);
		/* At the end it stays at the end. */
		assert_int_equal(sbw_next_record(&m, &off, 200, &seq, &p, &len), 0);
	}
}

static void test_wire_next_record_fragments(void **state)
{
	uint8_t f[SBW_MAX_FRAME], rec[3000];
	struct sbw_msg in, m;
	const uint8_t *p;
	uint32_t off = 0, len = 0;
	uint64_t seq = 0;
	size_t n;

	(void)state;
	put_rec(rec, 2900, SB_REC_DATA, 555, 8); /* frag_total 2916 */
	memset(&in, 0, sizeof(in));
	in.u.data = (struct sbw_data){ .pos = 8192, .next_pos = 8192 + 2920, .first_seq = 555, .rec_align = 8,
				       .frag_off = 0, .frag_total = 2916 };
	n = build(f, SBW_DATA, &in, rec, 1400);
	assert_int_equal(sbw_parse(f, n, &m), SBW_OK);
	assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), 1);
	assert_true(seq == 555);
	assert_int_equal(len, 2900);                    /* the whole record's length */
	assert_ptr_equal(p, m.body + 16);               /* 1384 of its bytes are here */
	assert_true(payload_ok(p, 1400 - 16, 555));
	assert_int_equal(off, 1400);
	assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), 0);
	/* Too large for this receiver, wrong total, wrong seq, wrong type. */
	off = 0;
	assert_int_equal(sbw_next_record(&m, &off, 2899, &seq, &p, &len), -1);
	{
		uint8_t g[SBW_MAX_FRAME];
		struct sbw_msg x = in;

		x.u.data.first_seq = 556;
		n = build(g, SBW_DATA, &x, rec, 1400);
		assert_int_equal(sbw_parse(g, n, &m), SBW_OK);
		off = 0;
		assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), -1);
		x = in;
		x.u.data.frag_total = 2917;
		x.u.data.next_pos = 8192 + 2928;
		n = build(g, SBW_DATA, &x, rec, 1400);
		assert_int_equal(sbw_parse(g, n, &m), SBW_OK);
		off = 0;
		assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), -1);
		put_rec(rec, 2900, SB_REC_PAD, 555, 8);
		n = build(g, SBW_DATA, &in, rec, 1400);
		assert_int_equal(sbw_parse(g, n, &m), SBW_OK);
		off = 0;
		assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), -1);
	}
	/* A continuation fragment yields no record. */
	in.u.data.pos = 8192 + 1400;
	in.u.data.frag_off = 1400;
	n = build(f, SBW_DATA, &in, rec + 1400, 1400);
	assert_int_equal(sbw_parse(f, n, &m), SBW_OK);
	off = 0;
	assert_int_equal(sbw_next_record(&m, &off, 4096, &seq, &p, &len), 0);
}

/* A DATA frame around a hand-made body, parsed (must pass sbw_parse). */
static void data_around(uint8_t *f, const uint8_t *body, uint32_t bl, uint16_t count, uint64_t first_seq,
			struct sbw_msg *m)
{
	struct sbw_msg in;
	size_t n;

	memset(&in, 0, sizeof(in));
	in.u.data = (struct sbw_data){ .pos = 0, .next_pos = bl, .first_seq = first_seq, .rec_count = count,
				       .rec_align = 8 };
	n = build(f, SBW_DATA, &in, body, bl);
	assert_int_equal(sbw_parse(f, n, m), SBW_OK);
}

static void test_wire_next_record_refuses_malformed(void **state)
{
	uint8_t f[SBW_MAX_FRAME], b[512];
	struct sbw_msg m;
	unsigned got;
	uint32_t bl;
	uint64_t w;

	(void)state;
	/* Reference: three records of 40, 8, 24 bytes (seq 10..12). */
#define REF()                                                           \
	do {                                                            \
		bl = put_rec(b, 40, SB_REC_DATA, 10, 8);                \
		bl += put_rec(b + bl, 8, SB_REC_DATA, 11, 8);           \
		bl += put_rec(b + bl, 24, SB_REC_DATA, 12, 8);          \
	} while (0)
	REF();
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, 100, &got), 0);
	assert_int_equal(got, 3);

	/* len beyond the body (last record says 200). */
	REF();
	w = sb_rec_word(200, SB_REC_DATA, 0);
	memcpy(b + 56 + 24, &w, 8);
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, 1000, &got), -1);
	assert_int_equal(got, 2);
	/* len would overflow 32-bit arithmetic. */
	w = sb_rec_word(UINT32_MAX, SB_REC_DATA, 0);
	memcpy(b + 56 + 24, &w, 8);
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, UINT32_MAX, &got), -1);
	assert_int_equal(got, 2);
	/* len > max_record. */
	REF();
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, 39, &got), -1);
	assert_int_equal(got, 0);
	assert_int_equal(walk(&m, 40, &got), 0);
	/* Wrong types: PAD, ABORT, zero, garbage. */
	{
		static const uint16_t types[] = { SB_REC_PAD, SB_REC_ABORT, 0, 0xffff };

		for (unsigned i = 0; i < 4; i++) {
			REF();
			w = sb_rec_word(8, types[i], 0);
			memcpy(b + 56, &w, 8);
			data_around(f, b, bl, 3, 10, &m);
			assert_int_equal(walk(&m, 100, &got), -1);
			assert_int_equal(got, 1);
		}
	}
	/* Seq jump, seq repeat, first seq not first_seq. */
	REF();
	put_rec(b + 56, 8, SB_REC_DATA, 13, 8);
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	assert_int_equal(got, 1);
	REF();
	put_rec(b + 56, 8, SB_REC_DATA, 10, 8);
	data_around(f, b, bl, 3, 10, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	REF();
	data_around(f, b, bl, 3, 9, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	assert_int_equal(got, 0);
	/* Seq wraps from UINT64_MAX to 0: consecutive. */
	bl = put_rec(b, 8, SB_REC_DATA, UINT64_MAX, 8);
	bl += put_rec(b + bl, 8, SB_REC_DATA, 0, 8);
	data_around(f, b, bl, 2, UINT64_MAX, &m);
	assert_int_equal(walk(&m, 100, &got), 0);
	assert_int_equal(got, 2);
	/* Count mismatch: rec_count 2 of 3, and 4 of 3 (room for 4 headers). */
	REF();
	data_around(f, b, bl, 2, 10, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	assert_int_equal(got, 2);
	data_around(f, b, bl, 4, 10, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	assert_int_equal(got, 3);
	/* Trailing bytes shorter than a record header. */
	REF();
	memset(b + bl, 0, 8);
	data_around(f, b, bl + 8, 3, 10, &m);
	assert_int_equal(walk(&m, 100, &got), -1);
	assert_int_equal(got, 3);
	/* Misuse: *off past the body; not DATA. */
	{
		const uint8_t *p;
		uint32_t off = m.body_len + 8, len;
		uint64_t seq = 0;
		struct sbw_msg hb;
		uint8_t g[128];
		size_t n = small_hb(g);

		assert_int_equal(sbw_next_record(&m, &off, 100, &seq, &p, &len), -1);
		assert_int_equal(sbw_parse(g, n, &hb), SBW_OK);
		off = 0;
		assert_int_equal(sbw_next_record(&hb, &off, 100, &seq, &p, &len), -1);
	}
#undef REF
}

/* ---------------------------------------------------------------- fuzz */

/* Random frames with a valid header and CRC and random everything else:
 * parse must never crash or read out of bounds (ASan: each frame is a heap
 * block of exactly its length), and a walk never yields a byte outside the
 * body.  Half the DATA bodies are valid records then mutated, so the walk is
 * exercised deep, not just refused at the first header. */
static void test_wire_fuzz_valid_crc_random_fields(void **state)
{
	uint64_t r = 0x5eed;
	unsigned iters = 200000, ok = 0, walked_records = 0, full_walks = 0;
	uint8_t body[SBW_MAX_FRAME];

	(void)state;
	for (unsigned it = 0; it < iters; it++) {
		enum sbw_type t = (enum sbw_type)(1 + tu_rand(&r) % SBW_TYPE_MAX);
		uint64_t x = tu_rand(&r);
		struct sbw_msg in, m;
		uint32_t bl = 0;
		uint8_t *f;
		size_t n, cap;

		memset(&in, 0, sizeof(in));
		if (t == SBW_DATA) {
			uint32_t align = 8u << (tu_rand(&r) % 5);

			if (x & 1) {
				/* Valid records, then a few random byte mutations. */
				unsigned cnt = 1 + (unsigned)(tu_rand(&r) % 6);
				uint64_t s0 = tu_rand(&r);

				for (unsigned i = 0; i < cnt; i++)
					bl += put_rec(body + bl, (uint32_t)(tu_rand(&r) % 120), SB_REC_DATA, s0 + i,
						      align);
				/* Each departure from valid has a 1 in 4 chance. */
				for (unsigned k = (unsigned)(tu_rand(&r) % 4 ? 0 : 1 + tu_rand(&r) % 3); k; k--)
					body[tu_rand(&r) % bl] ^= (uint8_t)tu_rand(&r);
				in.u.data.rec_count = (uint16_t)((x >> 1 & 3) ? cnt : tu_rand(&r) % 8);
				in.u.data.first_seq = (x >> 3 & 3) ? s0 : s0 + tu_rand(&r) % 3;
				in.u.data.rec_align = (uint16_t)((x >> 5 & 3) ? align : 8u << (tu_rand(&r) % 5));
				in.u.data.pos = (tu_rand(&r) % 1000) * 128;
				in.u.data.next_pos = in.u.data.pos + bl + ((x >> 7 & 3) ? 0 : (tu_rand(&r) % 4) * 8);
				if (!(x >> 9 & 3)) {
					in.u.data.frag_total = (uint32_t)(tu_rand(&r) % 4000);
					in.u.data.frag_off = (uint32_t)(tu_rand(&r) % 2 ? 0 : tu_rand(&r) % 2000);
				}
			} else {
				bl = (uint32_t)(tu_rand(&r) % 1500);
				for (uint32_t i = 0; i < bl; i++)
					body[i] = (uint8_t)tu_rand(&r);
				in.u.data.pos = tu_rand(&r) % 4 ? (tu_rand(&r) % 1000) * 64 : tu_rand(&r);
				in.u.data.next_pos = in.u.data.pos + (tu_rand(&r) % 4 ? bl : tu_rand(&r));
				in.u.data.first_seq = tu_rand(&r);
				in.u.data.rec_count = (uint16_t)tu_rand(&r);
				in.u.data.rec_align = (uint16_t)(tu_rand(&r) % 2 ? 8u << (tu_rand(&r) % 5) : tu_rand(&r));
				in.u.data.frag_off = (uint32_t)(tu_rand(&r) % 2 ? 0 : tu_rand(&r) % 4096);
				in.u.data.frag_total = (uint32_t)(tu_rand(&r) % 2 ? 0 : tu_rand(&r) % 8192);
				in.u.data.flags = (uint32_t)(tu_rand(&r) % 8 ? 0 : tu_rand(&r));
			}
		} else if (t == SBW_SETUP) {
			bl = (uint32_t)(1 + tu_rand(&r) % 63);
			for (uint32_t i = 0; i < bl; i++)
				body[i] = (uint8_t)("abcxyz.-_09"[tu_rand(&r) % 11]);
			in.u.setup = (struct sbw_setup){ .start_pos = tu_rand(&r), .start_seq = tu_rand(&r),
							 .lost = tu_rand(&r), .max_record = (uint32_t)tu_rand(&r),
							 .rec_align = (uint16_t)(8u << (tu_rand(&r) % 6)),
							 .name_len = (uint16_t)bl };
		} else {
			/* Control messages: all random fixed fields. */
			uint64_t v[3] = { tu_rand(&r), tu_rand(&r), tu_rand(&r) };

			in.u.status = (struct sbw_status){ .acked_pos = v[0], .window = v[1], .want_seq = v[2],
							   .flags = (uint32_t)(tu_rand(&r) % 4) };
			if (t == SBW_NAK)
				in.u.nak = (struct sbw_nak){ .pos = v[0], .upto = x & 1 ? v[0] + v[1] % 999 : v[1] };
			if (t == SBW_HEARTBEAT)
				in.u.hb = (struct sbw_heartbeat){ .pos = v[0], .next_seq = v[1],
								  .oldest_pos = x & 1 ? v[0] - v[2] % 4096 : v[2] };
		}
		cap = sbw_body_offset(t) + bl + (tu_rand(&r) % 4 == 0 ? tu_rand(&r) % 8 : 0);
		f = malloc(cap);
		assert_non_null(f);
		memset(f, 0, cap);
		sbw_begin(f, DST, SRC, t, (uint32_t)tu_rand(&r), tu_rand(&r) | 1);
		if (bl)
			memcpy(f + sbw_body_offset(t), body, bl);
		n = sbw_finish(f, &in, bl);
		assert_int_equal(n, sbw_body_offset(t) + bl);
		if (sbw_parse(f, cap, &m) == SBW_OK) {
			ok++;
			if (t == SBW_DATA) {
				unsigned got;
				uint32_t maxr = (uint32_t)(tu_rand(&r) % 2 ? UINT32_MAX : tu_rand(&r) % 200);
				int rc = walk(&m, maxr, &got);

				walked_records += got;
				full_walks += rc == 0;
				assert_true(got <= m.u.data.rec_count || (m.u.data.frag_total && got == 1));
			}
		}
		free(f);
	}
	print_message("fuzz: %u of %u parsed, %u records walked, %u whole walks\n", ok, iters, walked_records,
		      full_walks);
	/* Not vacuous: many frames got past parse, many records were walked. */
	assert_true(ok > iters / 4);
	assert_true(walked_records > iters / 20);
	assert_true(full_walks > iters / 100);
}

/* Arbitrary bytes after a valid EtherType/magic/version/type. */
static void test_wire_fuzz_random_bytes(void **state)
{
	uint64_t r = 77;

	(void)state;
	for (unsigned it = 0; it < 50000; it++) {
		size_t len = (size_t)(tu_rand(&r) % 200);
		uint8_t *f = malloc(len ? len : 1);
		struct sbw_msg m;

		assert_non_null(f);
		for (size_t i = 0; i < len; i++)
			f[i] = (uint8_t)tu_rand(&r);
		if (len >= 18) {
			f[12] = 0x88;
			f[13] = 0xB5;
			f[14] = 0x42;
			f[15] = 0x53;
			f[16] = SBW_VERSION;
			f[17] = (uint8_t)(1 + it % SBW_TYPE_MAX);
		}
		(void)sbw_parse(f, len, &m);
		free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_crc32c_known_answer),
		cmocka_unit_test(test_wire_topic_id_stable),
		cmocka_unit_test(test_wire_layout_offsets),
		cmocka_unit_test(test_wire_roundtrip_data),
		cmocka_unit_test(test_wire_roundtrip_nak),
		cmocka_unit_test(test_wire_roundtrip_status),
		cmocka_unit_test(test_wire_roundtrip_heartbeat),
		cmocka_unit_test(test_wire_roundtrip_setup),
		cmocka_unit_test(test_wire_split_crc_equals_contiguous),
		cmocka_unit_test(test_wire_padded_frames_parse),
		cmocka_unit_test(test_wire_next_record_walks_batch),
		cmocka_unit_test(test_wire_next_record_fragments),
		/* negative input */
		cmocka_unit_test(test_wire_builders_refuse_bad_input),
		cmocka_unit_test(test_wire_refuses_short),
		cmocka_unit_test(test_wire_refuses_other_ethertype),
		cmocka_unit_test(test_wire_refuses_magic_version_type),
		cmocka_unit_test(test_wire_refuses_length_lies),
		cmocka_unit_test(test_wire_refuses_truncation_at_every_offset),
		cmocka_unit_test(test_wire_refuses_every_single_bit_flip),
		cmocka_unit_test(test_wire_refuses_reserved_and_session),
		cmocka_unit_test(test_wire_refuses_data_field_ranges),
		cmocka_unit_test(test_wire_refuses_fragment_field_ranges),
		cmocka_unit_test(test_wire_refuses_control_field_ranges),
		cmocka_unit_test(test_wire_next_record_refuses_malformed),
		cmocka_unit_test(test_wire_fuzz_valid_crc_random_fields),
		cmocka_unit_test(test_wire_fuzz_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
