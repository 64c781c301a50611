/*
 * sb_layout.h - the bytes of a shmbus segment, shared by every process that
 * maps it (internal header; docs/ring.md walks through it byte by byte).
 *
 * A segment is two files (hugetlbfs, or /dev/shm as a fallback) holding one
 * topic, each region starting on a page boundary of the backing store (2 MiB
 * on hugetlbfs, 4 KiB on tmpfs):
 *
 *   DIR/TOPIC        the segment file
 *     [0, data_off)         header + producer control   RW publishers, RO subscribers
 *     [data_off, seg_size)  data ring, data_size bytes  RW publishers, RO subscribers
 *   DIR/TOPIC@subs   the subscriber file, subs_size bytes
 *     [0, subs_size)        subscriber area             RW everyone (cursors, doorbell)
 *
 * Subscribers need write access to their cursor slot only, so the area they
 * write lives in a file of its own: the daemon hands a subscriber the segment
 * file opened read-only, and the kernel, not the library's good manners,
 * keeps it from writing the stream (mmap PROT_WRITE and mprotect fail).
 * '@' cannot occur in a topic name, so the subscriber file can never be
 * mistaken for another topic's segment.
 *
 * Rules (STYLE habit 5/6): no pointers in shared memory, only offsets and
 * sizes; every struct's size and alignment is checked at compile time; words
 * written by different parties sit on separate 128-byte blocks.
 *
 * Positions are 64-bit byte counts since the segment was created and only
 * grow; a byte at position p lives at data[p & (data_size - 1)].
 */
#ifndef SB_LAYOUT_H
#define SB_LAYOUT_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "sb_atomic.h"

#define SB_SEG_MAGIC          UINT64_C(0x314753554248534d) /* "MSHBUSG1" little-endian */
#define SB_LAYOUT_VERSION     2u   /* 2: subscriber area in its own file */
#define SB_SUBS_SUFFIX        "@subs"
#define SB_TOPIC_NAME_MAX     64   /* including the terminating NUL */
#define SB_REC_ALIGN          8u    /* minimum record alignment */
#define SB_REC_ALIGN_MAX      128u
#define SB_REC_HDR_SIZE       16u
#define SB_MAX_SUBS_LIMIT     1024u
#define SB_MAX_PUBS_LIMIT     256u
#define SB_MIN_DATA_SIZE      4096u
#define SB_MAX_DATA_SIZE      (UINT64_C(1) << 40)

/* ---------------------------------------------------------------- header */

/* Immutable after creation; covered by the checksum.  Written once by the
 * creator, layout_version last (RELEASE), so a reader that sees a non-zero
 * version (ACQUIRE) sees every other field. */
struct sb_seg_hdr {
	uint64_t magic;
	_Atomic uint32_t layout_version; /* 0 while the creator is still writing */
	uint32_t hdr_size;               /* sizeof(struct sb_seg_hdr) */
	uint64_t seg_size;               /* segment file size in bytes */
	uint64_t page_size;              /* region alignment: 2 MiB or 4 KiB */
	uint64_t prod_off;               /* struct sb_prod_ctl */
	uint64_t subs_size;              /* subscriber file size (struct sb_sub_area) */
	uint64_t data_off;               /* data ring, in the segment file */
	uint64_t data_size;              /* ring capacity, a power of two */
	uint32_t max_record;             /* largest payload a record may carry */
	uint32_t max_subs;               /* subscriber slots in the sub area */
	uint32_t max_pubs;               /* publisher slots in the producer area */
	uint32_t flags;                  /* SB_SEG_F_* */
	uint64_t epoch_ns;               /* CLOCK_REALTIME at creation: the session id */
	char name[SB_TOPIC_NAME_MAX];
	uint32_t rec_align;              /* record alignment: 8 (dense) .. 128 (cache lines) */
	uint32_t reserved;
	uint64_t checksum;               /* FNV-1a 64 over [0, offsetof(checksum)) */
};
_Static_assert(sizeof(struct sb_seg_hdr) == 168, "segment header layout changed");
_Static_assert(offsetof(struct sb_seg_hdr, checksum) == 160, "checksum must be last");

#define SB_SEG_F_HUGETLB   0x1u  /* backed by hugetlbfs */

/* ------------------------------------------------------ producer control */

/* One per publisher handle, claimed at attach.  Single writer (its owner);
 * read by monitors and by the repair path.  The intent words let a repairer
 * find the extent of a claim whose owner died before writing its header. */
struct sb_pub_slot {
	alignas(SB_CACHE_LINE) _Atomic uint32_t state;   /* SB_SLOT_* */
	uint32_t pid;
	_Atomic uint64_t intent_pos;   /* claim start being attempted, or UINT64_MAX */
	_Atomic uint64_t intent_len;   /* its total length */
	_Atomic uint64_t records;      /* committed data records */
	_Atomic uint64_t bytes;        /* committed payload bytes */
	_Atomic uint64_t backpressure; /* claims refused with SB_EBACKPRESSURE */
	_Atomic uint64_t aborted;      /* claims aborted */
};
_Static_assert(sizeof(struct sb_pub_slot) == SB_CACHE_LINE, "pub slot must be one block");

/* Publisher-side frontier words.  head and tail live on separate blocks:
 * tethered subscribers poll tail and never read head, so a claim's store to
 * head stays in the publisher's cache and each publish moves exactly one
 * control line (tail + next_seq) to the readers. */
struct sb_prod_ctl {
	/* Claim frontier: every byte below head has been handed to a claimer.
	 * Untethered readers compare it against a record's position to learn
	 * whether the record could have been overwritten while they read it. */
	alignas(SB_CACHE_LINE) _Atomic uint64_t head;
	/* Publish frontier: every record below tail is complete.  Readers never
	 * look at or beyond tail.  RELEASE by the committer, ACQUIRE by readers. */
	alignas(SB_CACHE_LINE) _Atomic uint64_t tail;
	/* Sequence number the next committed data record will carry; written by
	 * the committer before its RELEASE of tail. */
	_Atomic uint64_t next_seq;
	/* Bit 31: an exclusive publisher holds the ring; bits 0-30: the number of
	 * shared (multi-producer) publishers attached. */
	alignas(SB_CACHE_LINE) _Atomic uint32_t publishers;
	_Atomic uint32_t pub_slots_hwm; /* highest slot index ever used + 1 */
	/* Repairs done on claims abandoned by dead publishers. */
	_Atomic uint64_t repairs;
	/* struct sb_pub_slot pub[max_pubs] follows, 128-byte aligned. */
	alignas(SB_CACHE_LINE) struct sb_pub_slot pub[];
};
_Static_assert(offsetof(struct sb_prod_ctl, tail) == SB_CACHE_LINE, "tail apart from head");
_Static_assert(offsetof(struct sb_prod_ctl, next_seq) == SB_CACHE_LINE + 8, "next_seq beside tail");
_Static_assert(offsetof(struct sb_prod_ctl, publishers) == 2 * SB_CACHE_LINE, "layout");
_Static_assert(offsetof(struct sb_prod_ctl, pub) == 3 * SB_CACHE_LINE, "layout");

#define SB_PUBS_EXCLUSIVE_BIT 0x80000000u

/* ----------------------------------------------------- subscriber area */

enum sb_slot_state {
	SB_SLOT_FREE = 0,
	SB_SLOT_JOINING = 1,    /* being set up; not yet gating */
	SB_SLOT_TETHERED = 2,   /* cursor gates publishers */
	SB_SLOT_UNTETHERED = 3, /* cursor is informational only */
	SB_SLOT_PUBLISHER = 4,  /* (pub slots) attached publisher */
};

/* One per subscriber.  Written only by its owner (and by the daemon's
 * clean-up after the owner died); cursor read by publishers' gating scans. */
struct sb_sub_slot {
	alignas(SB_CACHE_LINE) _Atomic uint32_t state; /* enum sb_slot_state */
	uint32_t pid;
	/* Everything below cursor has been consumed.  RELEASE by the owner after
	 * it finished reading; ACQUIRE in the publisher's gating scan, so the
	 * owner's reads of data happen before the publisher reuses the space. */
	_Atomic uint64_t cursor;
	_Atomic uint64_t consumed;   /* data records delivered */
	_Atomic uint64_t lost;       /* data records lost to lapping */
	_Atomic uint64_t laps;       /* times overrun */
	_Atomic uint64_t heartbeat;  /* owner-defined liveness tick */
	/* SB_SUB_F_*: what the owner holds in the shared doorbell counters, so
	 * that whoever cleans up after a dead owner can give it back. */
	_Atomic uint32_t flags;
	uint32_t reserved0;
	uint64_t reserved1;
};
_Static_assert(sizeof(struct sb_sub_slot) == SB_CACHE_LINE, "sub slot must be one block");

#define SB_SUBS_MAGIC UINT64_C(0x3153425553534253) /* "SBSSUBS1" little-endian */

#define SB_SUB_F_BLOCKING 0x1u /* counted in sb_sub_area.blocking */
#define SB_SUB_F_SLEEPING 0x2u /* counted in sb_sub_area.sleepers */

struct sb_sub_area {
	/* Futex doorbell for blocking subscribers.  bell counts wake-ups; sleepers
	 * counts subscribers inside (or about to enter) futex_wait; blocking counts
	 * subscribers using the blocking strategy at all, so publishers skip the
	 * doorbell entirely (one relaxed load) when nobody can sleep. */
	alignas(SB_CACHE_LINE) _Atomic uint32_t bell;
	_Atomic uint32_t sleepers;
	_Atomic uint32_t blocking;
	_Atomic uint32_t sub_slots_hwm;  /* highest slot index ever used + 1 */
	/* Which segment this subscriber file belongs to: SB_SUBS_MAGIC and the
	 * segment header's checksum (which covers its name, sizes and epoch),
	 * written by the creator before it publishes the header and checked by
	 * every open, so a file left from an earlier topic of the same name, or
	 * swapped in, is refused. */
	uint64_t magic;
	uint64_t seg_checksum;
	alignas(SB_CACHE_LINE) struct sb_sub_slot sub[];
};
_Static_assert(offsetof(struct sb_sub_area, sub) == SB_CACHE_LINE, "layout");

/* --------------------------------------------------------------- records */

enum sb_rec_type {
	SB_REC_DATA  = 0x4144, /* "DA": committed data */
	SB_REC_PAD   = 0x4150, /* "PA": padding up to the end of the ring */
	SB_REC_ABORT = 0x4241, /* "AB": claim abandoned (by its owner or by repair) */
};

/* Precedes every record; 16 bytes, 8-byte aligned, never straddles the end
 * of the ring.  word is the commit word readers poll: 0 means "not committed
 * yet", anything else is len << 32 | type << 16 | pub.  Its committer stores
 * it last, with RELEASE; before that it zeroes the word where the next record
 * will start, so a reader that follows a committed record never meets a stale
 * word from an earlier lap (docs/ring.md, section 2.2). */
struct sb_rec_hdr {
	_Atomic uint64_t word;
	/* DATA: its sequence number; PAD/ABORT and the zeroed header past a
	 * claim: the next one.  So the seq at any record boundary is the number
	 * of the next data record at or after it, which lets a subscriber that
	 * joins or resynchronises there count its loss exactly.  Atomic only so
	 * that the benign same-value race between a joiner's read and the next
	 * commit is defined; always accessed RELAXED. */
	_Atomic uint64_t seq;
};
_Static_assert(sizeof(struct sb_rec_hdr) == SB_REC_HDR_SIZE, "record header size");

static inline uint64_t sb_rec_word(uint32_t len, uint16_t type, uint16_t pub)
{
	return (uint64_t)len << 32 | (uint64_t)type << 16 | pub;
}
static inline uint32_t sb_rec_word_len(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint16_t sb_rec_word_type(uint64_t w) { return (uint16_t)(w >> 16); }
static inline uint16_t sb_rec_word_pub(uint64_t w) { return (uint16_t)w; }

/* Bytes a record of len payload bytes occupies in a ring whose records are
 * aligned to align bytes (a power of two, 8 .. 128). */
static inline uint64_t sb_rec_size_al(uint64_t len, uint64_t align)
{
	return (SB_REC_HDR_SIZE + len + align - 1) & ~(align - 1);
}

/* The same with the minimum (default) alignment. */
static inline uint64_t sb_rec_size(uint64_t len)
{
	return sb_rec_size_al(len, SB_REC_ALIGN);
}

#endif /* SB_LAYOUT_H */
