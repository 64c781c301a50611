/*
 * wire.c - build and parse the bridge's frames (docs/wire.md is normative).
 *
 * Design note.  Frames are serialised field by field at fixed byte offsets
 * (the OFF_* constants below, checked against the documented sizes), never
 * by copying a host struct: the layout is then independent of the compiler's
 * padding and of the host's byte order.  Ethernet's EtherType is big-endian;
 * every field of ours is little-endian.
 *
 * sbw_parse() is the one gate between the network and the engines.  It reads
 * nothing before it has checked that the bytes exist, checks the cheap
 * framing facts first (length, EtherType, magic, version, type, lengths,
 * reserved), then the CRC-32C over header and body, then the range of every
 * field the engines will use, so an engine never sees a frame whose fields
 * contradict each other.  Whether the records inside a DATA body are well
 * formed is checked record by record by sbw_next_record(), which the
 * receiver calls as it copies them.
 *
 * The CRC is DPDK's rte_hash_crc() (CRC-32C; SSE4.2 or ARMv8 CRC
 * instructions, chosen by a constructor in the header, else software).  It
 * needs no EAL.  rte_hash_crc() reads 8 bytes at a time through a uint64_t
 * pointer, so sbw_crc32c() feeds the bytes before the first 8-byte boundary
 * one by one: every wider load it then does is aligned (defined behaviour,
 * and UBSan-clean), whatever the frame's alignment.
 */
#include <string.h>

#include <rte_hash_crc.h>

#include "sb_layout.h"
#include "wire.h"

/* ------------------------------------------------------------ the layout */

#define SBW_COMMON_LEN 32u

/* Ethernet header. */
#define OFF_ETH_DST 0
#define OFF_ETH_SRC 6
#define OFF_ETH_TYPE 12

/* Common header, relative to its start (frame offset SBW_ETH_HLEN). */
#define OFF_MAGIC 0
#define OFF_VERSION 2
#define OFF_TYPE 3
#define OFF_HDR_LEN 4
#define OFF_BODY_LEN 6
#define OFF_TOPIC 8
#define OFF_CRC 12
#define OFF_SESSION 16
#define OFF_RESERVED 24
_Static_assert(OFF_RESERVED + 8 == SBW_COMMON_LEN, "common header is 32 bytes");

/* Fixed parts, relative to their start (common header + 32). */
#define OFF_D_POS 0
#define OFF_D_NEXT_POS 8
#define OFF_D_FIRST_SEQ 16
#define OFF_D_REC_COUNT 24
#define OFF_D_REC_ALIGN 26
#define OFF_D_FRAG_OFF 28
#define OFF_D_FRAG_TOTAL 32
#define OFF_D_FLAGS 36
#define SBW_DATA_LEN 40u
_Static_assert(OFF_D_FLAGS + 4 == SBW_DATA_LEN, "DATA fixed part is 40 bytes");

#define OFF_N_POS 0
#define OFF_N_UPTO 8
#define SBW_NAK_LEN 16u
_Static_assert(OFF_N_UPTO + 8 == SBW_NAK_LEN, "NAK fixed part is 16 bytes");

#define OFF_S_ACKED 0
#define OFF_S_WINDOW 8
#define OFF_S_WANT_SEQ 16
#define OFF_S_FLAGS 24
#define OFF_S_RESERVED 28
#define SBW_STATUS_LEN 32u
_Static_assert(OFF_S_RESERVED + 4 == SBW_STATUS_LEN, "STATUS fixed part is 32 bytes");

#define OFF_H_POS 0
#define OFF_H_NEXT_SEQ 8
#define OFF_H_OLDEST 16
#define SBW_HEARTBEAT_LEN 24u
_Static_assert(OFF_H_OLDEST + 8 == SBW_HEARTBEAT_LEN, "HEARTBEAT fixed part is 24 bytes");

#define OFF_U_START_POS 0
#define OFF_U_START_SEQ 8
#define OFF_U_LOST 16
#define OFF_U_MAX_RECORD 24
#define OFF_U_REC_ALIGN 28
#define OFF_U_NAME_LEN 30
#define SBW_SETUP_LEN 32u
_Static_assert(OFF_U_NAME_LEN + 2 == SBW_SETUP_LEN, "SETUP fixed part is 32 bytes");

/* The largest header must fit the engines' struct sbb_txframe.hdr[128]. */
_Static_assert(SBW_ETH_HLEN + SBW_COMMON_LEN + SBW_DATA_LEN <= 128, "headers fit 128 bytes");
_Static_assert(SB_REC_HDR_SIZE == SBW_REC_HDR_LEN, "a record header on the wire is the ring's");
_Static_assert(SB_TOPIC_NAME_MAX - 1 == SBW_NAME_MAX, "topic names as the ring has them");
_Static_assert(SBW_MAX_FRAME <= UINT16_MAX, "body_len is 16 bits");

static const uint8_t fixed_len[SBW_TYPE_MAX + 1] = {
	[SBW_DATA] = SBW_DATA_LEN,
	[SBW_NAK] = SBW_NAK_LEN,
	[SBW_STATUS] = SBW_STATUS_LEN,
	[SBW_HEARTBEAT] = SBW_HEARTBEAT_LEN,
	[SBW_SETUP] = SBW_SETUP_LEN,
};

/* ------------------------------------------------------ byte order helpers */

static inline uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void st32(uint8_t *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16(p + 2, (uint16_t)(v >> 16));
}
static inline void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32(p + 4, (uint32_t)(v >> 32));
}

static inline bool is_pow2(uint32_t x) { return x && !(x & (x - 1)); }
static inline bool align_ok(uint32_t a) { return is_pow2(a) && a >= SB_REC_ALIGN && a <= SB_REC_ALIGN_MAX; }

/* ------------------------------------------------------------------- CRC */

uint32_t sbw_crc32c(const void *p, size_t len, uint32_t init)
{
	const uint8_t *b = p;
	uint32_t c = ~init;

	/* Bytes up to the first 8-byte boundary one at a time, so that the
	 * 8/4/2-byte loads inside rte_hash_crc() are all aligned. */
	while (len && ((uintptr_t)b & 7u)) {
		c = rte_hash_crc_1byte(*b++, c);
		len--;
	}
	/* rte_hash_crc() takes a 32-bit length: feed huge inputs in slices. */
	while (len) {
		uint32_t n = len > 0x40000000u ? 0x40000000u : (uint32_t)len;

		c = rte_hash_crc(b, n, c);
		b += n;
		len -= n;
	}
	return ~c;
}

uint32_t sbw_topic_id(const char *name)
{
	return sbw_crc32c(name, strlen(name), 0);
}

/* CRC of the common header + fixed part (crc field taken as 0) then body. */
static uint32_t frame_crc(const uint8_t *h, size_t hdr_len, const uint8_t *body, size_t body_len)
{
	static const uint8_t zero[4];
	uint32_t c;

	c = sbw_crc32c(h, OFF_CRC, 0);
	c = sbw_crc32c(zero, sizeof(zero), c);
	c = sbw_crc32c(h + OFF_CRC + 4, hdr_len - (OFF_CRC + 4), c);
	return body_len ? sbw_crc32c(body, body_len, c) : c;
}

/* ------------------------------------------------------------------ build */

static size_t type_fixed(unsigned type)
{
	return type >= 1 && type <= SBW_TYPE_MAX ? fixed_len[type] : 0;
}

size_t sbw_body_offset(enum sbw_type type)
{
	size_t f = type_fixed((unsigned)type);

	return f ? SBW_ETH_HLEN + SBW_COMMON_LEN + f : 0;
}

size_t sbw_begin(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], enum sbw_type type,
		 uint32_t topic_id, uint64_t session)
{
	size_t f = type_fixed((unsigned)type);
	uint8_t *h = buf + SBW_ETH_HLEN;

	if (!f)
		return 0;
	memcpy(buf + OFF_ETH_DST, dst, 6);
	memcpy(buf + OFF_ETH_SRC, src, 6);
	buf[OFF_ETH_TYPE] = SBW_ETHERTYPE >> 8; /* Ethernet: big-endian */
	buf[OFF_ETH_TYPE + 1] = SBW_ETHERTYPE & 0xff;
	st16(h + OFF_MAGIC, SBW_MAGIC);
	h[OFF_VERSION] = SBW_VERSION;
	h[OFF_TYPE] = (uint8_t)type;
	st16(h + OFF_HDR_LEN, (uint16_t)(SBW_COMMON_LEN + f));
	st16(h + OFF_BODY_LEN, 0);
	st32(h + OFF_TOPIC, topic_id);
	st32(h + OFF_CRC, 0);
	st64(h + OFF_SESSION, session);
	st64(h + OFF_RESERVED, 0);
	return SBW_ETH_HLEN + SBW_COMMON_LEN;
}

/* Write the fixed part and body_len of the frame sbw_begin() started in buf;
 * returns the header length (where the body starts), 0 if the type byte is
 * not a valid type or the frame would exceed SBW_MAX_FRAME. */
static size_t put_fixed(uint8_t *buf, const struct sbw_msg *m, uint32_t body_len)
{
	uint8_t *h = buf + SBW_ETH_HLEN;
	uint8_t *x = h + SBW_COMMON_LEN;
	unsigned type = h[OFF_TYPE];
	size_t f = type_fixed(type);
	size_t hl = SBW_ETH_HLEN + SBW_COMMON_LEN + f;

	if (!f || body_len > SBW_MAX_FRAME - hl)
		return 0;
	switch (type) {
	case SBW_DATA:
		st64(x + OFF_D_POS, m->u.data.pos);
		st64(x + OFF_D_NEXT_POS, m->u.data.next_pos);
		st64(x + OFF_D_FIRST_SEQ, m->u.data.first_seq);
		st16(x + OFF_D_REC_COUNT, m->u.data.rec_count);
		st16(x + OFF_D_REC_ALIGN, m->u.data.rec_align);
		st32(x + OFF_D_FRAG_OFF, m->u.data.frag_off);
		st32(x + OFF_D_FRAG_TOTAL, m->u.data.frag_total);
		st32(x + OFF_D_FLAGS, m->u.data.flags);
		break;
	case SBW_NAK:
		st64(x + OFF_N_POS, m->u.nak.pos);
		st64(x + OFF_N_UPTO, m->u.nak.upto);
		break;
	case SBW_STATUS:
		st64(x + OFF_S_ACKED, m->u.status.acked_pos);
		st64(x + OFF_S_WINDOW, m->u.status.window);
		st64(x + OFF_S_WANT_SEQ, m->u.status.want_seq);
		st32(x + OFF_S_FLAGS, m->u.status.flags);
		st32(x + OFF_S_RESERVED, 0);
		break;
	case SBW_HEARTBEAT:
		st64(x + OFF_H_POS, m->u.hb.pos);
		st64(x + OFF_H_NEXT_SEQ, m->u.hb.next_seq);
		st64(x + OFF_H_OLDEST, m->u.hb.oldest_pos);
		break;
	case SBW_SETUP:
		st64(x + OFF_U_START_POS, m->u.setup.start_pos);
		st64(x + OFF_U_START_SEQ, m->u.setup.start_seq);
		st64(x + OFF_U_LOST, m->u.setup.lost);
		st32(x + OFF_U_MAX_RECORD, m->u.setup.max_record);
		st16(x + OFF_U_REC_ALIGN, m->u.setup.rec_align);
		st16(x + OFF_U_NAME_LEN, (uint16_t)body_len); /* the name is the body */
		break;
	default:
		return 0;
	}
	st16(h + OFF_BODY_LEN, (uint16_t)body_len);
	return hl;
}

size_t sbw_finish(uint8_t *buf, const struct sbw_msg *m, uint32_t body_len)
{
	size_t hl = put_fixed(buf, m, body_len);
	uint8_t *h = buf + SBW_ETH_HLEN;

	if (!hl)
		return 0;
	st32(h + OFF_CRC, frame_crc(h, hl - SBW_ETH_HLEN, buf + hl, body_len));
	return hl + body_len;
}

size_t sbw_finish_split(uint8_t *buf, const struct sbw_msg *m, const uint8_t *body, uint32_t body_len)
{
	size_t hl = put_fixed(buf, m, body_len);
	uint8_t *h = buf + SBW_ETH_HLEN;

	if (!hl)
		return 0;
	st32(h + OFF_CRC, frame_crc(h, hl - SBW_ETH_HLEN, body, body_len));
	return hl;
}

/* ------------------------------------------------------------------ parse */

/* The characters a topic name may have (shm/sb_segment.c, daemon/registry.c). */
static bool name_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > SBW_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static enum sbw_err check_data(const struct sbw_data *d, uint32_t body_len)
{
	uint32_t a = d->rec_align;
	uint64_t rec_pos;

	if (!align_ok(a) || (d->flags & ~SBW_F_KNOWN) || d->next_pos <= d->pos ||
	    d->next_pos - d->pos < body_len || d->pos < d->frag_off)
		return SBW_E_FIELD;
	/* Records start on rec_align boundaries of the sender's ring (which
	 * starts at position 0); a fragment's body starts frag_off into its
	 * record. */
	rec_pos = d->pos - d->frag_off;
	if (rec_pos & (a - 1))
		return SBW_E_FIELD;
	if (d->frag_total == 0) {
		/* Whole records: each padded to rec_align, each at least a header. */
		uint32_t min_rec = (uint32_t)sb_rec_size_al(0, a);

		if (d->rec_count == 0 || d->frag_off != 0 || (body_len & (a - 1)) ||
		    (uint64_t)d->rec_count * min_rec > body_len || (d->next_pos & (a - 1)))
			return SBW_E_FIELD;
		return SBW_OK;
	}
	/* One fragment of one record of frag_total bytes (header + payload;
	 * the alignment padding is never carried). */
	if (d->rec_count != 0 || d->frag_total < SBW_REC_HDR_LEN || d->frag_total > SBW_MAX_RECORD_BYTES ||
	    d->frag_off >= d->frag_total || body_len > d->frag_total - d->frag_off)
		return SBW_E_FIELD;
	/* The first fragment carries the whole record header. */
	if (d->frag_off == 0 && body_len < SBW_REC_HDR_LEN)
		return SBW_E_FIELD;
	/* next_pos is past the whole record, in every fragment of it. */
	if (d->next_pos - rec_pos < sb_rec_size_al(d->frag_total - SBW_REC_HDR_LEN, a))
		return SBW_E_FIELD;
	return SBW_OK;
}

static enum sbw_err check_fields(struct sbw_msg *m)
{
	switch (m->h.type) {
	case SBW_DATA:
		if (m->h.session == 0)
			return SBW_E_FIELD;
		return check_data(&m->u.data, m->body_len);
	case SBW_NAK:
		if (m->h.session == 0 || m->u.nak.upto < m->u.nak.pos)
			return SBW_E_FIELD;
		return SBW_OK;
	case SBW_STATUS:
		if ((m->u.status.flags & ~SBW_S_KNOWN) || m->u.status.reserved != 0)
			return SBW_E_FIELD;
		return SBW_OK;
	case SBW_HEARTBEAT:
		if (m->h.session == 0 || m->u.hb.oldest_pos > m->u.hb.pos)
			return SBW_E_FIELD;
		return SBW_OK;
	case SBW_SETUP: {
		const struct sbw_setup *s = &m->u.setup;

		if (m->h.session == 0 || !align_ok(s->rec_align) || s->max_record == 0 ||
		    s->max_record > SBW_MAX_RECORD_BYTES - SBW_REC_HDR_LEN || (s->start_pos & (s->rec_align - 1u)) ||
		    !name_ok(m->body, m->body_len) || sbw_crc32c(m->body, m->body_len, 0) != m->h.topic_id)
			return SBW_E_FIELD;
		return SBW_OK;
	}
	default:
		return SBW_E_TYPE;
	}
}

static void get_fixed(struct sbw_msg *m, const uint8_t *x)
{
	switch (m->h.type) {
	case SBW_DATA:
		m->u.data.pos = ld64(x + OFF_D_POS);
		m->u.data.next_pos = ld64(x + OFF_D_NEXT_POS);
		m->u.data.first_seq = ld64(x + OFF_D_FIRST_SEQ);
		m->u.data.rec_count = ld16(x + OFF_D_REC_COUNT);
		m->u.data.rec_align = ld16(x + OFF_D_REC_ALIGN);
		m->u.data.frag_off = ld32(x + OFF_D_FRAG_OFF);
		m->u.data.frag_total = ld32(x + OFF_D_FRAG_TOTAL);
		m->u.data.flags = ld32(x + OFF_D_FLAGS);
		break;
	case SBW_NAK:
		m->u.nak.pos = ld64(x + OFF_N_POS);
		m->u.nak.upto = ld64(x + OFF_N_UPTO);
		break;
	case SBW_STATUS:
		m->u.status.acked_pos = ld64(x + OFF_S_ACKED);
		m->u.status.window = ld64(x + OFF_S_WINDOW);
		m->u.status.want_seq = ld64(x + OFF_S_WANT_SEQ);
		m->u.status.flags = ld32(x + OFF_S_FLAGS);
		m->u.status.reserved = ld32(x + OFF_S_RESERVED);
		break;
	case SBW_HEARTBEAT:
		m->u.hb.pos = ld64(x + OFF_H_POS);
		m->u.hb.next_seq = ld64(x + OFF_H_NEXT_SEQ);
		m->u.hb.oldest_pos = ld64(x + OFF_H_OLDEST);
		break;
	case SBW_SETUP:
		m->u.setup.start_pos = ld64(x + OFF_U_START_POS);
		m->u.setup.start_seq = ld64(x + OFF_U_START_SEQ);
		m->u.setup.lost = ld64(x + OFF_U_LOST);
		m->u.setup.max_record = ld32(x + OFF_U_MAX_RECORD);
		m->u.setup.rec_align = ld16(x + OFF_U_REC_ALIGN);
		m->u.setup.name_len = ld16(x + OFF_U_NAME_LEN);
		break;
	default:
		break;
	}
}

enum sbw_err sbw_parse(const uint8_t *frame, size_t len, struct sbw_msg *m)
{
	const uint8_t *h;
	size_t f, need;

	if (!frame || len < SBW_ETH_HLEN + SBW_COMMON_LEN)
		return SBW_E_SHORT;
	h = frame + SBW_ETH_HLEN;
	if (frame[OFF_ETH_TYPE] != (SBW_ETHERTYPE >> 8) || frame[OFF_ETH_TYPE + 1] != (SBW_ETHERTYPE & 0xff))
		return SBW_E_ETHERTYPE;

	memset(m, 0, sizeof(*m));
	m->h.magic = ld16(h + OFF_MAGIC);
	m->h.version = h[OFF_VERSION];
	m->h.type = h[OFF_TYPE];
	m->h.hdr_len = ld16(h + OFF_HDR_LEN);
	m->h.body_len = ld16(h + OFF_BODY_LEN);
	m->h.topic_id = ld32(h + OFF_TOPIC);
	m->h.crc = ld32(h + OFF_CRC);
	m->h.session = ld64(h + OFF_SESSION);
	m->h.reserved = ld64(h + OFF_RESERVED);
	memcpy(m->dst_mac, frame + OFF_ETH_DST, 6);
	memcpy(m->src_mac, frame + OFF_ETH_SRC, 6);

	if (m->h.magic != SBW_MAGIC)
		return SBW_E_MAGIC;
	if (m->h.version != SBW_VERSION)
		return SBW_E_VERSION;
	f = type_fixed(m->h.type);
	if (!f)
		return SBW_E_TYPE;

	/* Lengths: the header is exactly ours for the type; header and body
	 * lie inside the frame (which a NIC may have padded: the excess is
	 * ignored) and inside the largest frame we accept. */
	need = SBW_ETH_HLEN + (size_t)m->h.hdr_len + m->h.body_len;
	if (m->h.hdr_len != SBW_COMMON_LEN + f || need > len || need > SBW_MAX_FRAME)
		return SBW_E_LENGTH;
	switch (m->h.type) {
	case SBW_DATA:
		if (m->h.body_len == 0)
			return SBW_E_LENGTH;
		break;
	case SBW_SETUP:
		if (m->h.body_len == 0 || m->h.body_len > SBW_NAME_MAX ||
		    ld16(h + SBW_COMMON_LEN + OFF_U_NAME_LEN) != m->h.body_len)
			return SBW_E_LENGTH;
		break;
	default:
		if (m->h.body_len != 0)
			return SBW_E_LENGTH;
		break;
	}
	if (m->h.reserved != 0)
		return SBW_E_FIELD;
	if (frame_crc(h, m->h.hdr_len, h + m->h.hdr_len, m->h.body_len) != m->h.crc)
		return SBW_E_CRC;

	get_fixed(m, h + SBW_COMMON_LEN);
	m->body_len = m->h.body_len;
	m->body = m->body_len ? h + m->h.hdr_len : NULL;
	return check_fields(m);
}

const char *sbw_strerr(enum sbw_err e)
{
	switch (e) {
	case SBW_OK:
		return "valid frame";
	case SBW_E_SHORT:
		return "frame shorter than the Ethernet and common headers";
	case SBW_E_ETHERTYPE:
		return "not the bridge's EtherType (0x88B5)";
	case SBW_E_MAGIC:
		return "bad magic in the common header";
	case SBW_E_VERSION:
		return "unsupported wire format version";
	case SBW_E_TYPE:
		return "unknown message type";
	case SBW_E_LENGTH:
		return "header or body length disagrees with the message type or the frame length";
	case SBW_E_CRC:
		return "CRC-32C mismatch";
	case SBW_E_FIELD:
		return "a field is out of its valid range";
	default:
		return "unknown refusal reason";
	}
}

/* --------------------------------------------------------------- records */

int sbw_next_record(const struct sbw_msg *m, uint32_t *off, uint32_t max_record, uint64_t *seq,
		    const uint8_t **payload, uint32_t *len)
{
	const struct sbw_data *d = &m->u.data;
	uint32_t a = d->rec_align;
	uint32_t left, rlen;
	uint64_t word, rseq, size, walked;

	if (m->h.type != SBW_DATA || !m->body || !align_ok(a) || *off > m->body_len)
		return -1;

	if (d->frag_total != 0) {
		/* A fragment: only the first one holds a record header; it
		 * yields that record (payload: the part of it in this frame),
		 * continuation fragments yield nothing. */
		if (d->frag_off != 0 || *off == m->body_len)
			return 0;
		if (*off != 0 || m->body_len < SBW_REC_HDR_LEN)
			return -1;
		memcpy(&word, m->body, 8);
		memcpy(&rseq, m->body + 8, 8);
		rlen = sb_rec_word_len(word);
		if (sb_rec_word_type(word) != SB_REC_DATA || rlen > max_record ||
		    (uint64_t)rlen + SBW_REC_HDR_LEN != d->frag_total || rseq != d->first_seq)
			return -1;
		*seq = rseq;
		*payload = m->body + SBW_REC_HDR_LEN;
		*len = rlen;
		*off = m->body_len;
		return 1;
	}

	/* Records walked so far: the seqs are consecutive from first_seq. */
	walked = *off == 0 ? 0 : *seq - d->first_seq + 1;
	if (*off == m->body_len)
		return walked == d->rec_count ? 0 : -1;
	if (walked >= d->rec_count)
		return -1; /* more records in the body than rec_count says */
	left = m->body_len - *off;
	if (left < SBW_REC_HDR_LEN)
		return -1;
	/* The body is at any alignment inside the frame: memcpy, not a load. */
	memcpy(&word, m->body + *off, 8);
	memcpy(&rseq, m->body + *off + 8, 8);
	rlen = sb_rec_word_len(word);
	if (sb_rec_word_type(word) != SB_REC_DATA || rlen > max_record)
		return -1;
	size = sb_rec_size_al(rlen, a);
	if (size > left)
		return -1;
	if (rseq != (*off == 0 ? d->first_seq : *seq + 1))
		return -1;
	*seq = rseq;
	*payload = m->body + *off + SBW_REC_HDR_LEN;
	*len = rlen;
	*off += (uint32_t)size;
	return 1;
}
