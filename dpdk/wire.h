/*
 * wire.h - the bridge's frame format on raw Ethernet (internal; the
 * normative description, with diagrams, is docs/wire.md).
 *
 * Every frame: Ethernet header (dst, src, EtherType 0x88B5), then one
 * struct sbw_hdr, then a type-specific body.  All multi-byte fields are
 * little-endian (the hosts we bridge are x86-64 and arm64 LE; the data
 * records themselves are ring bytes, which are host order, so a BE field
 * order would buy nothing).  Nothing in a frame is trusted: sbw_parse()
 * checks the magic, version, type, every length against the frame length
 * and the CRC-32C over header and body before anything reads further.
 *
 * DATA body: a run of ring records exactly as they lie in the sender's ring
 * (16-byte struct sb_rec_hdr, payload, padding to the topic's rec_align), all
 * of type DATA; or, for a record larger than one frame can carry, one
 * fragment of one record (the first fragment starts with the record's
 * header).  Positions are the sender's ring byte positions, so a receiver
 * names what it misses by position and the sender retransmits from its ring
 * without any index.  PAD and ABORT records are never sent: next_pos covers
 * them.
 *
 * This file does not depend on DPDK: parsing and building frames are plain
 * byte operations, unit-tested without EAL.
 */
#ifndef SBW_WIRE_H
#define SBW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBW_ETHERTYPE   0x88B5
#define SBW_MAGIC       0x5342u  /* "SB" */
#define SBW_VERSION     1
#define SBW_ETH_HLEN    14
#define SBW_MAX_FRAME   9216     /* largest frame we build or accept (jumbo) */
#define SBW_MIN_MTU     576
#define SBW_REC_HDR_LEN 16       /* a ring record header (struct sb_rec_hdr) */
#define SBW_NAME_MAX    63       /* SETUP name bytes (SB_TOPIC_NAME_MAX - 1) */
#define SBW_MAX_RECORD_BYTES (1u << 30) /* largest frag_total (header + payload) */

enum sbw_type {
	SBW_DATA = 1,      /* sender -> receivers: records or one fragment */
	SBW_NAK = 2,       /* receiver -> sender: resend from pos */
	SBW_STATUS = 3,    /* receiver -> sender: ack, window, liveness, resync */
	SBW_HEARTBEAT = 4, /* sender -> receivers: idle; my send frontier is pos */
	SBW_SETUP = 5,     /* sender -> receivers: session parameters, start point */
	SBW_TYPE_MAX = 5,
};

/* Common header, 32 bytes on the wire (packed layout in wire.c). */
struct sbw_hdr {
	uint16_t magic;     /* SBW_MAGIC */
	uint8_t version;    /* SBW_VERSION */
	uint8_t type;       /* enum sbw_type */
	uint16_t hdr_len;   /* bytes of header + type-specific fixed part */
	uint16_t body_len;  /* bytes after that */
	uint32_t topic_id;  /* sbw_topic_id(name) */
	uint32_t crc;       /* CRC-32C of the frame from magic to body end, crc field as 0 */
	uint64_t session;   /* the sender's segment epoch; 0 in STATUS = "unsynchronised" */
	uint64_t reserved;  /* 0 */
};

/* DATA fixed part (after the common header). */
struct sbw_data {
	uint64_t pos;        /* sender ring position of the first byte carried */
	uint64_t next_pos;   /* position after this frame's records (PADs included) */
	uint64_t first_seq;  /* seq of the first record (fragment: of its record) */
	uint16_t rec_count;  /* whole records in the body; 0 for a fragment */
	uint16_t rec_align;  /* the sender ring's record alignment (8..128) */
	uint32_t frag_off;   /* fragment: offset of the body in the record (header included) */
	uint32_t frag_total; /* fragment: record bytes in all (16 + len); 0 if not a fragment */
	uint32_t flags;      /* SBW_F_RETRANSMIT */
};
#define SBW_F_RETRANSMIT 0x1u
#define SBW_F_KNOWN      SBW_F_RETRANSMIT  /* other bits: refused (SBW_E_FIELD) */

struct sbw_nak {
	uint64_t pos;        /* first missing position (the receiver's expected pos) */
	uint64_t upto;       /* highest position seen beyond the gap (hint) */
};

struct sbw_status {
	uint64_t acked_pos;  /* everything before this is committed at the receiver */
	uint64_t window;     /* bytes the receiver can take beyond acked_pos */
	uint64_t want_seq;   /* resync (session mismatch/0): next seq the receiver needs */
	uint32_t flags;      /* SBW_S_TETHERED: hold the ring for me; SBW_S_RESYNC */
	uint32_t reserved;
};
#define SBW_S_TETHERED 0x1u
#define SBW_S_RESYNC   0x2u
#define SBW_S_KNOWN    (SBW_S_TETHERED | SBW_S_RESYNC)

struct sbw_heartbeat {
	uint64_t pos;        /* sender's send frontier (what a receiver should have) */
	uint64_t next_seq;   /* seq of the record at pos */
	uint64_t oldest_pos; /* oldest position still retransmittable */
};

struct sbw_setup {
	uint64_t start_pos;  /* receivers expect data from here */
	uint64_t start_seq;  /* seq of the record at start_pos */
	uint64_t lost;       /* records between want_seq and start_seq that are gone */
	uint32_t max_record; /* sender topic's largest payload */
	uint16_t rec_align;
	uint16_t name_len;   /* the topic name follows as the body (no NUL) */
};

/* A parsed frame: header fields in host order, body pointing into the frame. */
struct sbw_msg {
	struct sbw_hdr h;
	union {
		struct sbw_data data;
		struct sbw_nak nak;
		struct sbw_status status;
		struct sbw_heartbeat hb;
		struct sbw_setup setup;
	} u;
	const uint8_t *body;  /* DATA records/fragment, SETUP name */
	uint32_t body_len;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
};

/* Why a frame was refused: every reason has a counter and a message. */
enum sbw_err {
	SBW_OK = 0,
	SBW_E_SHORT,      /* shorter than Ethernet + common header */
	SBW_E_ETHERTYPE,  /* not ours (not counted as malformed) */
	SBW_E_MAGIC,
	SBW_E_VERSION,
	SBW_E_TYPE,
	SBW_E_LENGTH,     /* hdr_len/body_len disagree with the type or the frame */
	SBW_E_CRC,
	SBW_E_FIELD,      /* a field out of its range (align, fragment bounds, ...) */
	SBW_E_COUNT_
};

/* Parse and validate a whole Ethernet frame.  Returns SBW_OK with *m filled,
 * or the reason.  Validates framing and field ranges only; whether the
 * records in a DATA body are well formed is for the receiver to check
 * (sbw_next_record).  Never reads frame[len] or beyond; bytes after the
 * body (NIC padding to 60 bytes) are ignored.  The rules, in the order they
 * are applied, are listed in docs/wire.md §4.  On a refusal *m is
 * unspecified.  Thread-safe (no state). */
enum sbw_err sbw_parse(const uint8_t *frame, size_t len, struct sbw_msg *m);
const char *sbw_strerr(enum sbw_err e);

/* Build the Ethernet header and common header for type into buf and return
 * the offset where the type-specific part goes.  sbw_finish() writes the
 * fixed part, body_len and the CRC (the body must already be in place right
 * after the fixed part) and returns the frame length.  sbw_finish() takes the
 * type from the frame sbw_begin() wrote and the fixed part from m->u (m->h is
 * not read; STATUS reserved is written as 0, SETUP name_len as body_len).
 * Both return 0 for an invalid type, and sbw_finish*() also when header +
 * body would exceed SBW_MAX_FRAME.  The CRC never covers bytes past the
 * body, so a caller may pad the frame afterwards. */
size_t sbw_begin(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], enum sbw_type type,
		 uint32_t topic_id, uint64_t session);
size_t sbw_finish(uint8_t *buf, const struct sbw_msg *m, uint32_t body_len);
/* Bytes of Ethernet + common + fixed part for a type (where the body starts). */
size_t sbw_body_offset(enum sbw_type type);

/* CRC over a frame whose body is not contiguous with its header (zero-copy
 * DATA): sbw_finish_split() takes the body separately, computes the CRC over
 * both, and returns the header length (the caller chains the body). */
size_t sbw_finish_split(uint8_t *buf, const struct sbw_msg *m, const uint8_t *body, uint32_t body_len);

/* Walk the records of a DATA body: *off is the offset of the next record.
 * Returns 1 with the header fields and payload pointer, 0 at the end, or -1
 * if the record is malformed (len beyond the body or max_record, type not
 * DATA, seq not consecutive with prev_seq + 1 when have_prev).
 *
 * Contract (docs/wire.md §5):
 *   - start with *off = 0; *seq need not be set.  Between calls leave *off
 *     and *seq as the previous call left them (*seq then holds the previous
 *     record's seq: the walk keeps no other state).
 *   - on 1: *seq = the record's seq, *payload and *len its payload (inside the
 *     body), *off advanced past the record and its padding to rec_align.
 *     The first record's seq must equal m->u.data.first_seq, each next one
 *     the previous + 1.
 *   - 0: the body ends exactly after rec_count records.  -1: malformed (the
 *     above, a record or its padding beyond the body, fewer or more records
 *     than rec_count, m not DATA); the caller drops the rest of the frame.
 *   - a fragment (frag_total != 0): the first one (frag_off == 0) yields its
 *     record once: *len = the whole record's payload length (frag_total must
 *     be 16 + len), *payload = the first body_len - 16 payload bytes, which
 *     are the ones in this frame; a continuation fragment yields 0 at once
 *     (its body is raw record bytes at frag_off).
 * Never returns a payload outside m->body .. m->body + m->body_len. */
int sbw_next_record(const struct sbw_msg *m, uint32_t *off, uint32_t max_record, uint64_t *seq,
		    const uint8_t **payload, uint32_t *len);

/* Topic id on the wire: CRC-32C of the topic name (SETUP carries the name,
 * so a collision is detected, not silently merged). */
uint32_t sbw_topic_id(const char *name);
/* CRC-32C (Castagnoli, reflected, as iSCSI/ext4): register preset to ~0 and
 * the result inverted, so sbw_crc32c("123456789", 9, 0) == 0xE3069283.
 * init is a previous result (0 to start): sbw_crc32c(b, nb, sbw_crc32c(a,
 * na, 0)) is the CRC of a then b.  No alignment needed, no EAL needed. */
uint32_t sbw_crc32c(const void *p, size_t len, uint32_t init);

#endif /* SBW_WIRE_H */
