/*
 * sb_ring.h - the zero-copy ring: publisher and subscriber handles and the
 * inline data path (internal header, usable on its own with sb_segment.h).
 *
 * Model (details, invariants and every ordering pair: docs/ring.md)
 *  - head (claim frontier) and tail (publish frontier) are 64-bit byte
 *    positions that only grow.  Records are [16-byte header][payload], 8-byte
 *    aligned, never straddling the end of the ring (a PAD record, or an
 *    implicit 8-byte gap, fills it).
 *  - Publish = claim (reserve space, get a pointer into the ring), write in
 *    place, commit: write the headers and RELEASE the first header's commit
 *    word, after zeroing the word where the next record will start.
 *    Shared publishers claim with a CAS on head and commit in claim order;
 *    an exclusive publisher owns head and commits with plain stores.
 *  - Subscribers poll the commit word at their cursor (ACQUIRE), read in
 *    place and advance their own cursor in their own slot: the record's own
 *    cache lines are all that moves between cores.  Tethered cursors gate
 *    publishers (a full ring returns SB_EBACKPRESSURE, never blocks);
 *    untethered ones do not, and validate each read against head afterwards
 *    like a seqlock reader: a record that may have been overwritten while it
 *    was read is never delivered; the subscriber jumps to the newest record
 *    (tail) and learns the exact number of lost records from the sequence
 *    numbers.
 *
 * Concurrency contract
 *  - A handle (struct sb_ring_pub / sb_ring_sub) belongs to one thread at a
 *    time; different handles on the same segment may be used concurrently
 *    from any threads or processes.
 *  - Between claim and commit the caller may write the claimed bytes and
 *    nothing else; it must commit or abort before the next claim.  If the
 *    process dies in between, readers stop at that record until a repairer
 *    (the daemon, after a grace period: sb_ring_repair()) turns it into an
 *    ABORT record; shared publishers waiting to commit behind it wait too.
 *  - Claim/commit/peek/consume never allocate, never lock, never make a
 *    system call, except that commit rings the futex doorbell when (and only
 *    when) a blocking subscriber is asleep.
 *  - sb_ring_commit on a shared publisher waits (spinning) for earlier claims
 *    to be committed: commits are published in claim order.
 */
#ifndef SB_RING_H
#define SB_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sb_atomic.h"
#include "sb_backoff.h"
#include "sb_error.h"
#include "sb_layout.h"
#include "sb_segment.h"

#define SB_RING_BATCH_MAX 256 /* records per batch claim */

enum sb_ring_pub_mode {
	SB_PUB_SHARED = 0,    /* several publishers, CAS claim, in-order commit */
	SB_PUB_EXCLUSIVE = 1, /* the only publisher: no atomic RMW on the path */
};

enum sb_ring_sub_kind {
	SB_SUB_TETHERED = 0,   /* publishers never overwrite what it has not read */
	SB_SUB_UNTETHERED = 1, /* never slows publishers; may be lapped */
};

enum sb_ring_sub_start {
	SB_START_LATEST = 0, /* the next record committed after attach */
	SB_START_OLDEST = 1, /* the oldest lap boundary still intact */
};

enum sb_ring_wait_strategy {
	SB_WAIT_SPIN = 0,  /* busy-poll (pinned, isolated cores) */
	SB_WAIT_YIELD = 1, /* spin a while, then sched_yield() */
	SB_WAIT_BLOCK = 2, /* spin a while, then sleep on the futex doorbell */
	SB_WAIT_STREAM = 3, /* busy-poll at a distance: SB_STREAM_SLIP_PAUSES spin hints between looks */
};

/*
 * SB_WAIT_STREAM, for subscribers that want throughput more than the
 * first record's latency: a subscriber that has caught up looks at tail
 * only every SB_STREAM_SLIP_PAUSES spin hints (about 1 us on the machines
 * measured, docs/benchmarks.md 4.0.7), and neither sb_ring_wait nor an
 * empty peek prefetches the lines of the record it waits for
 * (sbi_prefetch_wait_line is for latency: it fetches the line the
 * publisher is about to fill).  A busy-spinning reader keeps taking the
 * line the publisher is filling, and every store of the publisher then
 * waits for the line to come back: on a 2-vCPU VM whose cores are far
 * apart, single-record streams ran at a fraction of what the same cores
 * stream otherwise.  The price is up to one slip of latency on the record
 * that ends an idle spell.
 */
#define SB_STREAM_SLIP_PAUSES 64u

/* One record as seen by a subscriber.  data points into the ring. */
struct sb_ring_view {
	const void *data;
	uint32_t len;
	uint64_t seq;  /* publisher-assigned sequence number */
	uint64_t pos;  /* ring position of the record header */
	uint64_t lost; /* data records lost immediately before this one */
};

struct sb_ring_pub {
	/* The short claim and commit (sb_ring_claim, sb_ring_commit) touch
	 * only the first SB_RING_HOT_BYTES of this struct: two cache lines
	 * when it is 64-byte aligned, so that a publisher whose handle went
	 * cold (other work between messages) takes two misses on it, not five.
	 * The static assertions below keep it so. */
	uint8_t *data;
	uint64_t mask;            /* data_size - 1 */
	uint64_t align;           /* record alignment */
	struct sb_prod_ctl *prod;
	struct sb_sub_area *subs;
	struct sb_pub_slot *slot;
	uint64_t fast_end;        /* exclusive: a claim ending at or below this takes the short path (0: none) */
	uint64_t head;            /* exclusive: our head (we are its only writer) */
	uint64_t next_seq;        /* exclusive: sequence number of the next record */
	uint64_t records;         /* committed data records (mirrors slot->records) */
	uint64_t bytes;
	uint64_t claim_start;     /* first byte of the open claim (maybe a pad) */
	uint32_t max_record;
	uint16_t slot_idx;
	bool claim_open;
	bool claim_fast;          /* open claim came through sb_ring_claim's short path (sbi_claim_expand) */
	bool claim_simple;        /* open claim: one record, no pad before it */
	bool exclusive;
	uint32_t claim_n;         /* records in the open claim */
	uint32_t claim_lens[SB_RING_BATCH_MAX]; /* payload lengths of the open claim; [0] is hot */
	/* Cold: the general paths only. */
	uint64_t cap;             /* data_size */
	uint64_t claim_end;
	uint64_t claim_bytes;     /* payload bytes of the open claim */
	uint64_t gate_limit;      /* claims may end at or below this without a rescan */
	uint32_t max_subs;
	const struct sb_seg *seg;
};

struct sb_ring_sub {
	/* The short peek and consume (sbi_peek_fast, sb_ring_consume) touch
	 * only the first SB_RING_HOT_BYTES, as in struct sb_ring_pub. */
	const uint8_t *data;
	uint64_t mask;
	uint64_t align;           /* record alignment */
	struct sb_sub_slot *slot;
	uint64_t cursor;          /* consumed frontier (mirrors slot->cursor) */
	uint64_t fast_end;        /* a record at the cursor ending at or below this takes the short path */
	uint64_t validate_below;  /* reads below this are validated: safe_from, or all (untethered) */
	uint64_t expected_seq;    /* sequence number of the next data record */
	uint64_t peek_end;        /* end of the records handed out by peek */
	uint64_t peek_lost;       /* loss reported with them */
	uint64_t peek_last_seq;
	uint64_t consumed;
	uint64_t lost;
	uint32_t peek_n;          /* data records handed out by peek */
	uint32_t max_record;
	bool seq_known;           /* expected_seq is meaningful */
	uint8_t kind;             /* enum sb_ring_sub_kind */
	uint8_t wait;             /* enum sb_ring_wait_strategy */
	uint16_t slot_idx;
	uint32_t run;             /* records found since the last empty peek (sbi_prefetch_ahead); wraps harmlessly */
	/* Cold: the general paths only. */
	uint64_t cap;
	const struct sb_prod_ctl *prod;
	struct sb_sub_area *subs;
	uint64_t safe_from;       /* tethered: reads at or after this need no validation */
	uint64_t laps;
	uint8_t *copy_buf;        /* untethered poll: private copy, max_record bytes */
	struct sb_backoff backoff; /* SB_WAIT_YIELD: spins between yields, kept across waits */
	const struct sb_seg *seg;
};

/* The hot prefix of both handles (see struct sb_ring_pub). */
#define SB_RING_HOT_BYTES 128
_Static_assert(offsetof(struct sb_ring_pub, claim_lens) + sizeof(uint32_t) <= SB_RING_HOT_BYTES,
	       "sb_ring_pub: the short paths' fields must stay in the hot prefix");
_Static_assert(offsetof(struct sb_ring_sub, run) + sizeof(uint32_t) <= SB_RING_HOT_BYTES,
	       "sb_ring_sub: the short paths' fields must stay in the hot prefix");

/* ------------------------------------------------------- control path */

/* Attach a publisher: takes a publisher slot and the mode.  Exclusive fails
 * with SB_EBUSY while any other publisher is attached (and vice versa), and
 * with SB_ESTATE if a claim left open by a dead publisher needs repair.
 * Returns 0, SB_EINVAL, SB_EACCES (subscriber mapping), SB_EBUSY, SB_ENOSPC,
 * SB_ESTATE. */
int sb_ring_pub_attach(struct sb_ring_pub *pub, const struct sb_seg *seg, enum sb_ring_pub_mode mode);
/* Abort an open claim, release the slot and the mode.  Idempotent. */
void sb_ring_pub_detach(struct sb_ring_pub *pub);

/* Attach a subscriber in a free slot.  Untethered subscribers allocate a
 * private max_record buffer for sb_ring_poll.  Returns 0, SB_EINVAL,
 * SB_ENOSPC, SB_ENOMEM. */
int sb_ring_sub_attach(struct sb_ring_sub *sub, const struct sb_seg *seg, enum sb_ring_sub_kind kind,
		       enum sb_ring_sub_start start, enum sb_ring_wait_strategy wait);
/* Release the slot (stops gating publishers).  Idempotent. */
void sb_ring_sub_detach(struct sb_ring_sub *sub);

/* Wait until a record may be available or timeout_ns passes (0: forever).
 * Returns 0 when tail moved past the cursor, SB_ETIMEDOUT otherwise.  SPIN
 * never makes a system call; YIELD and BLOCK do, by definition. */
int sb_ring_wait(struct sb_ring_sub *sub, uint64_t timeout_ns);

/* Abort the open claim: its records become ABORT records that readers skip
 * and that consume no sequence numbers.  Returns 0 or SB_ESTATE. */
int sb_ring_abort(struct sb_ring_pub *pub);

/* Repair a claim abandoned by a dead publisher: if tail has not moved since
 * stuck_tail (the caller observed it for a grace period) and the claim there
 * is still open, turn it into an ABORT record and advance tail past it.
 * Admin mapping only.  Returns 1 if repaired, 0 if nothing to do,
 * SB_ECORRUPT if the claim's extent cannot be established. */
int sb_ring_repair(const struct sb_seg *seg, uint64_t stuck_tail);

/* Slow paths of the inline functions below (not for direct use). */
#define SBI_SLOW 1 /* sbi_peek_fast: the general path must decide */
int sbi_pub_regate(struct sb_ring_pub *pub, uint64_t end);
void sbi_doorbell_ring(struct sb_sub_area *subs);
/* The general paths behind the single-record fast paths, out of line so
 * that the fast paths need no saved registers and no stack frame. */
int sbi_claim_slow(struct sb_ring_pub *pub, uint32_t len, void **payload);
int sbi_commit_slow(struct sb_ring_pub *pub);
int sbi_peek_slow(struct sb_ring_sub *sub, struct sb_ring_view *v);
int sbi_sub_bad_record(struct sb_ring_sub *sub, uint64_t pos, const struct sb_rec_hdr *h);
int sbi_sub_lapped(struct sb_ring_sub *sub);

/* ------------------------------------------------------ publisher path */

/*
 * Keeping the stream ahead on its way.  A reader that is behind the
 * publisher, and the publisher itself, touch the ring line after line; for
 * the record [pos, next) each prefetches the lines that start in
 * [pos, next) + SB_READ_AHEAD_BYTES (sbi_ahead_line), so consecutive
 * records cover the stream ahead line by line, each line once, whatever
 * their sizes.  The hardware prefetchers do not do this here: the lines a
 * reader wants are modified in the publisher's cache, those the publisher
 * wants were last read by a subscriber, and the streamers stop at every
 * 4 KiB page.  Measured on a 2-vCPU VM (docs/benchmarks.md 4.0.8): the
 * reader's half took a 1 KiB batch walk from 0.55x to 1.1x of a raw stream
 * without it, the publisher's took 64 B single-record publishing from 67-79
 * to 136-144 M records/s.  Hints: they never fault (the offset wraps with
 * the ring) and never change what is read or written.
 *
 * The reader prefetches only once it has found more than
 * SB_READ_AHEAD_AFTER records since its last empty peek (sub->run): a
 * reader that keeps catching up would fetch lines the publisher is about to
 * write, and each of the publisher's stores would then wait for them to
 * come back (64 B single-record streams lost a quarter of their rate that
 * way).  The publisher prefetches for writing only for claims of at most
 * SB_WRITE_AHEAD_BYTES (a 64 B record takes 80): longer claims are runs of
 * whole-line stores that the hardware's own prefetch follows, and at 1 KiB
 * the hint cost the ping-pong 6% of its round trip and single-record
 * streams a tenth of their rate.  And only below its gate: lines no
 * tethered subscriber may still be reading (taking one would make that
 * reader fetch it again).  Without -march support for PREFETCHW (the
 * default build) the write hint compiles to a read prefetch; both measured
 * the same.
 */
#define SB_READ_AHEAD_BYTES  4096u
#define SB_READ_AHEAD_AFTER  32u
#define SB_WRITE_AHEAD_BYTES 128u

/* The first line that starts at or after pos + SB_READ_AHEAD_BYTES: the
 * record [pos, next) prefetches the lines from sbi_ahead_line(pos) up to
 * sbi_ahead_line(next), so consecutive records' ranges meet exactly. */
static inline uint64_t sbi_ahead_line(uint64_t pos)
{
	return (pos + SB_READ_AHEAD_BYTES + SB_HW_LINE - 1) & ~(uint64_t)(SB_HW_LINE - 1);
}

static inline void sbi_prefetch_ahead(const uint8_t *data, uint64_t mask, uint64_t pos, uint64_t next)
{
	for (uint64_t line = sbi_ahead_line(pos), end = sbi_ahead_line(next); line < end; line += SB_HW_LINE)
		__builtin_prefetch(data + (line & mask), 0, 3);
}

/* The publisher's half, for writing: the lines [*from, *to) (none if
 * *to <= *from) for the claim [pos, next), gated by gate: claims of at most
 * SB_WRITE_AHEAD_BYTES only, and only lines that end at or below gate. */
static inline void sbi_write_ahead_lines(uint64_t pos, uint64_t next, uint64_t gate, uint64_t *from,
					 uint64_t *to)
{
	uint64_t end = sbi_ahead_line(next), lim = gate & ~(uint64_t)(SB_HW_LINE - 1);

	*from = sbi_ahead_line(pos);
	*to = next - pos > SB_WRITE_AHEAD_BYTES ? 0 : end < lim ? end : lim;
}

static inline void sbi_prefetch_write_ahead(uint8_t *data, uint64_t mask, uint64_t pos, uint64_t next,
					    uint64_t gate)
{
	uint64_t line, end;

	sbi_write_ahead_lines(pos, next, gate, &line, &end);
	for (; line < end; line += SB_HW_LINE)
		__builtin_prefetch(data + (line & mask), 1, 3);
}

static inline struct sb_rec_hdr *sbi_hdr(uint8_t *data, uint64_t mask, uint64_t pos)
{
	return (struct sb_rec_hdr *)(data + (pos & mask));
}

/* End of n records of lens[i] starting at h, with a pad wherever a record
 * would straddle the end of the ring. */
static inline uint64_t sbi_layout_batch(const struct sb_ring_pub *pub, uint64_t h,
					const uint32_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t size = sb_rec_size_al(lens[i], pub->align);
		uint64_t room = pub->cap - (h & pub->mask);

		if (room < size)
			h += room;
		h += size;
	}
	return h;
}

/*
 * Where an exclusive publisher's short paths may go: claims ending at or
 * below fast_end = min(gate_limit, end of head's lap) - one header.  Such a
 * claim needs no rescan, does not straddle the end of the ring, and leaves
 * a whole header before it, so the record after it starts exactly at its
 * end (no wrap to compute at commit).  Recomputed by every general claim;
 * between two, head only grows within the lap and gate_limit only grows,
 * so a stale value is never too large, only too small (the claim then takes
 * the general path, which recomputes it).  Shared publishers keep 0.
 */
static inline void sbi_pub_refast(struct sb_ring_pub *pub)
{
	uint64_t lap_end = (pub->head | pub->mask) + 1, lim = pub->gate_limit;

	if (lap_end < lim)
		lim = lap_end;
	pub->fast_end = pub->exclusive && lim > SB_REC_HDR_SIZE ? lim - SB_REC_HDR_SIZE : 0;
}

/* The open claim came through sb_ring_claim's short path, which writes only
 * what sb_ring_commit's short path reads: complete it for the general ones. */
static inline void sbi_claim_expand(struct sb_ring_pub *pub)
{
	if (pub->claim_fast) {
		pub->claim_fast = false;
		pub->claim_simple = true;
		pub->claim_end = pub->head;
		pub->claim_n = 1;
		pub->claim_bytes = pub->claim_lens[0];
	}
}

/*
 * Claim space for n records (1 <= n <= SB_RING_BATCH_MAX) of lens[i] payload
 * bytes and return a pointer to each payload.  Nothing is visible to
 * subscribers until sb_ring_commit().  Returns 0, SB_EMSGSIZE (a len over the
 * topic maximum), SB_EBACKPRESSURE (a tethered subscriber lags; nothing was
 * claimed; retry later), SB_EINVAL (n out of range), SB_ESTATE (a claim is
 * already open).
 */
static inline int sb_ring_claim_batch(struct sb_ring_pub *pub, const uint32_t *lens, unsigned n,
				      void **payloads)
{
	uint64_t h, end, bytes = 0;

	if (sb_unlikely(pub->claim_open))
		return SB_ESTATE;
	if (sb_unlikely(n == 0 || n > SB_RING_BATCH_MAX))
		return SB_EINVAL;

	if (pub->exclusive) {
		/* We are head's only writer, so the layout is final: one pass
		 * checks the lengths, lays out the records and hands out the
		 * payload pointers. */
		h = pub->head;
		end = h;
		for (unsigned i = 0; i < n; i++) {
			uint64_t size = sb_rec_size_al(lens[i], pub->align);
			uint64_t room = pub->cap - (end & pub->mask);

			if (sb_unlikely(lens[i] > pub->max_record))
				return SB_EMSGSIZE;
			if (room < size)
				end += room; /* pad to the end of the ring */
			payloads[i] = sbi_hdr(pub->data, pub->mask, end) + 1;
			pub->claim_lens[i] = lens[i];
			bytes += lens[i];
			end += size;
		}
		if (sb_unlikely(end - h + SB_REC_HDR_SIZE > pub->cap))
			return SB_EMSGSIZE; /* could never fit, whatever subscribers do */
		/* + one header: commit zeroes the next record's commit word. */
		if (sb_unlikely(end + SB_REC_HDR_SIZE > pub->gate_limit)) {
			int rc = sbi_pub_regate(pub, end + SB_REC_HDR_SIZE);
			if (rc < 0)
				return rc;
		}
		pub->head = end;
		sbi_pub_refast(pub);
		/* RELAXED + release fence (pair P1): we are head's only writer; the
		 * fence orders this store before the caller's writes into the
		 * claimed bytes, for untethered readers that load head after
		 * reading. */
		sb_store_relaxed(&pub->prod->head, end);
		atomic_thread_fence(memory_order_release);
	} else {
		for (unsigned i = 0; i < n; i++)
			if (sb_unlikely(lens[i] > pub->max_record))
				return SB_EMSGSIZE;
		/* RELAXED: the CAS below validates the value. */
		h = sb_load_relaxed(&pub->prod->head);
		for (;;) {
			end = sbi_layout_batch(pub, h, lens, n);
			if (sb_unlikely(end - h + SB_REC_HDR_SIZE > pub->cap))
				return SB_EMSGSIZE;
			if (sb_unlikely(end + SB_REC_HDR_SIZE > pub->gate_limit)) {
				int rc = sbi_pub_regate(pub, end + SB_REC_HDR_SIZE);
				if (rc < 0) {
					/* No stale intent may name a position we do not own. */
					sb_store_relaxed(&pub->slot->intent_pos, UINT64_MAX);
					return rc;
				}
			}
			/* Intent first, so a repairer can size our claim even if
			 * we die right after the CAS (RELAXED: read only once the
			 * claimant is known dead). */
			sb_store_relaxed(&pub->slot->intent_pos, h);
			sb_store_relaxed(&pub->slot->intent_len, end - h);
			/* RELAXED: the claim publishes nothing by itself; the fence
			 * below orders it before our writes (pair P1). */
			if (atomic_compare_exchange_weak_explicit(&pub->prod->head, &h, end,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		}
		atomic_thread_fence(memory_order_release); /* pair P1 */
		end = h;
		for (unsigned i = 0; i < n; i++) {
			uint64_t size = sb_rec_size_al(lens[i], pub->align);
			uint64_t room = pub->cap - (end & pub->mask);

			if (room < size)
				end += room;
			payloads[i] = sbi_hdr(pub->data, pub->mask, end) + 1;
			pub->claim_lens[i] = lens[i];
			bytes += lens[i];
			end += size;
		}
	}
	sbi_prefetch_write_ahead(pub->data, pub->mask, h, end, pub->gate_limit);
	pub->claim_open = true;
	pub->claim_simple = n == 1 && end - h == sb_rec_size_al(lens[0], pub->align);
	pub->claim_start = h;
	pub->claim_end = end;
	pub->claim_n = n;
	pub->claim_bytes = bytes;
	return SB_OK;
}

/*
 * Claim one record of len bytes; *payload points at where to write it.
 * Same contract as sb_ring_claim_batch with n = 1.  An exclusive publisher
 * whose claim ends at or below fast_end (sbi_pub_refast: every claim but
 * about one per lap) takes the short path, which writes only what
 * sb_ring_commit's short path needs (claim_fast; the general paths complete
 * it with sbi_claim_expand); the rest, and shared publishers, go through
 * sb_ring_claim_batch.  The hot paths copy the handle's fields into locals
 * first: shared-memory stores may alias the handle as far as the compiler
 * knows (-fno-strict-aliasing), and it would reload each field after every
 * store.
 */
static inline int sb_ring_claim(struct sb_ring_pub *pub, uint32_t len, void **payload)
{
	uint64_t h = pub->head, end = h + sb_rec_size_al(len, pub->align);

	if (sb_likely(!pub->claim_open && len <= pub->max_record && end <= pub->fast_end)) {
		struct sb_prod_ctl *prod = pub->prod;

		*payload = sbi_hdr(pub->data, pub->mask, h) + 1;
		/* fast_end: below the gate (and the end of head's lap), and hot. */
		sbi_prefetch_write_ahead(pub->data, pub->mask, h, end, pub->fast_end);
		pub->head = end;
		pub->claim_start = h;
		pub->claim_lens[0] = len;
		pub->claim_open = true;
		pub->claim_fast = true;
		/* RELAXED + release fence (pair P1), as in sb_ring_claim_batch:
		 * ordered before the caller's writes into the claimed bytes. */
		sb_store_relaxed(&prod->head, end);
		atomic_thread_fence(memory_order_release);
		return SB_OK;
	}
	return sbi_claim_slow(pub, len, payload);
}

/* Where the record after a claim ending at end starts: end, or the start
 * of the ring if less than a header is left before its end. */
static inline uint64_t sbi_next_start(uint64_t cap, uint64_t mask, uint64_t end)
{
	if (sb_unlikely(cap - (end & mask) < SB_REC_HDR_SIZE))
		end += cap - (end & mask);
	return end;
}

/*
 * The headers of one record at h, no padding before it, the next record
 * starting at z (sbi_next_start): zero the commit word at z (with seq next,
 * the next record's number, for subscribers that join at tail), write this
 * record's seq, then RELEASE its word (pair P2).  RELAXED stores: published
 * by that RELEASE; gating kept one header of headroom past the claim, so no
 * unread record owns the bytes at z.  Shared by sbi_publish_claim and the
 * exclusive fast path of sb_ring_commit.
 */
static inline void sbi_publish_one(uint8_t *data, uint64_t mask, uint64_t h, uint64_t z, uint64_t seq,
				   uint64_t next, uint64_t word)
{
	struct sb_rec_hdr *rh;

	rh = sbi_hdr(data, mask, z);
	sb_store_relaxed(&rh->word, 0);
	sb_store_relaxed(&rh->seq, next);
	rh = sbi_hdr(data, mask, h);
	sb_store_relaxed(&rh->seq, seq);
	/* RELEASE (pair P2): pairs with the subscribers' ACQUIRE. */
	sb_store_release(&rh->word, word);
}

/*
 * Write the headers of the open claim, sequence numbers from seq on (type is
 * DATA or ABORT), and make them visible.  Order: zero the commit word where
 * the record after the claim will start; write every header but the first;
 * then RELEASE the first header's word (pair P2).  A reader can only reach
 * the later headers through the first, so it sees all of them complete.
 * Returns the next sequence number.
 */
static inline uint64_t sbi_publish_claim(struct sb_ring_pub *pub, uint64_t seq, uint16_t type)
{
	uint64_t h = pub->claim_start, z = pub->claim_end;
	uint64_t next = type == SB_REC_DATA ? seq + pub->claim_n : seq;
	uint64_t first_word = 0;
	struct sb_rec_hdr *first = NULL, *rh;

	z = sbi_next_start(pub->cap, pub->mask, z);
	if (sb_likely(pub->claim_simple)) {
		/* One record, no padding before it. */
		sbi_publish_one(pub->data, pub->mask, h, z, seq, next,
				sb_rec_word(pub->claim_lens[0], type, pub->slot_idx));
		return next;
	}
	/* RELAXED: published by the RELEASE below.  Gating kept one header of
	 * headroom past the claim, so no unread record owns these bytes.  The
	 * seq there is the next record's, for subscribers that join at tail. */
	rh = sbi_hdr(pub->data, pub->mask, z);
	sb_store_relaxed(&rh->word, 0);
	sb_store_relaxed(&rh->seq, next);
	for (unsigned i = 0; i < pub->claim_n; i++) {
		uint32_t len = pub->claim_lens[i];
		uint64_t size = sb_rec_size_al(len, pub->align);
		uint64_t room = pub->cap - (h & pub->mask);
		uint64_t w;

		if (room < size) {
			if (room >= SB_REC_HDR_SIZE) {
				rh = sbi_hdr(pub->data, pub->mask, h);
				sb_store_relaxed(&rh->seq, seq);
				w = sb_rec_word((uint32_t)(room - SB_REC_HDR_SIZE), SB_REC_PAD, pub->slot_idx);
				if (!first) {
					first = rh;
					first_word = w;
				} else {
					sb_store_relaxed(&rh->word, w);
				}
			} /* else an 8-byte gap that readers skip by position */
			h += room;
		}
		rh = sbi_hdr(pub->data, pub->mask, h);
		sb_store_relaxed(&rh->seq, seq);
		if (type == SB_REC_DATA)
			seq++;
		w = sb_rec_word(len, type, pub->slot_idx);
		if (!first) {
			first = rh;
			first_word = w;
		} else {
			/* RELAXED: published by the RELEASE of the first word. */
			sb_store_relaxed(&rh->word, w);
		}
		h += size;
	}
	/* RELEASE (pair P2): pairs with the subscribers' ACQUIRE of the word. */
	sb_store_release(&first->word, first_word);
	return seq;
}

/* Commit the open claim as records of the given type (internal). */
static inline int sbi_commit_as(struct sb_ring_pub *pub, uint16_t type)
{
	uint64_t seq;

	if (sb_unlikely(!pub->claim_open))
		return SB_ESTATE;
	sbi_claim_expand(pub);
	if (pub->exclusive) {
		seq = sbi_publish_claim(pub, pub->next_seq, type);
		pub->next_seq = seq;
	} else {
		/* Commits are published in claim order.  ACQUIRE (pair P3) pairs
		 * with the RELEASE of tail by the committer of the claim before
		 * ours: its next_seq and its zeroing of our first word are
		 * visible. */
		while (sb_load_acquire(&pub->prod->tail) != pub->claim_start)
			sb_cpu_relax();
		/* RELAXED: written by that committer before its RELEASE of tail. */
		seq = sbi_publish_claim(pub, sb_load_relaxed(&pub->prod->next_seq), type);
		/* RELAXED: the claim is closed; a repairer must not size a later
		 * stuck claim from it. */
		sb_store_relaxed(&pub->slot->intent_pos, UINT64_MAX);
	}
	/* RELAXED: published by the RELEASE of tail just below. */
	sb_store_relaxed(&pub->prod->next_seq, seq);
	/* RELEASE (pairs P3 and P2'): the next shared committer, joiners and
	 * waiters read tail; readers themselves poll the commit words. */
	sb_store_release(&pub->prod->tail, pub->claim_end);
	pub->claim_open = false;
	pub->claim_simple = false;
	if (type == SB_REC_DATA) {
		pub->records += pub->claim_n;
		pub->bytes += pub->claim_bytes;
		/* RELAXED: statistics for monitors; single writer. */
		sb_store_relaxed(&pub->slot->records, pub->records);
		sb_store_relaxed(&pub->slot->bytes, pub->bytes);
	}
	/* RELAXED: 'blocking' changes only when a blocking subscriber attaches
	 * or leaves; see sbi_doorbell_ring for the handshake with sleepers. */
	if (sb_unlikely(sb_load_relaxed(&pub->subs->blocking) != 0))
		sbi_doorbell_ring(pub->subs);
	return SB_OK;
}

/* Make the open claim visible to subscribers.  Returns 0 or SB_ESTATE.
 * A shared publisher first waits for earlier claims to be committed. */
static inline int sb_ring_commit(struct sb_ring_pub *pub)
{
	if (sb_likely(pub->claim_fast)) {
		/* sbi_commit_as for a claim of sb_ring_claim's short path, with
		 * the fields in locals (see sb_ring_claim); same stores, same
		 * order.  The claim ends at head and a header before the end of
		 * the ring, so the next record starts at its end. */
		uint8_t *data = pub->data;
		uint64_t mask = pub->mask, h = pub->claim_start, end = pub->head, seq = pub->next_seq;
		uint32_t len = pub->claim_lens[0];
		struct sb_prod_ctl *prod = pub->prod;

		sbi_publish_one(data, mask, h, end, seq, seq + 1, sb_rec_word(len, SB_REC_DATA, pub->slot_idx));
		/* RELAXED: published by the RELEASE of tail just below. */
		sb_store_relaxed(&prod->next_seq, seq + 1);
		/* RELEASE (pairs P3 and P2'): joiners and waiters read tail. */
		sb_store_release(&prod->tail, end);
		/* The handle's own bookkeeping after the stores readers wait for. */
		struct sb_pub_slot *slot = pub->slot;
		const struct sb_sub_area *subs = pub->subs;
		uint64_t records = pub->records + 1, bytes = pub->bytes + len;

		pub->claim_open = false;
		pub->claim_fast = false;
		pub->next_seq = seq + 1;
		pub->records = records;
		pub->bytes = bytes;
		/* RELAXED: statistics for monitors; single writer. */
		sb_store_relaxed(&slot->records, records);
		sb_store_relaxed(&slot->bytes, bytes);
		/* RELAXED: see sbi_commit_as. */
		if (sb_unlikely(sb_load_relaxed(&subs->blocking) != 0))
			sbi_doorbell_ring(pub->subs);
		return SB_OK;
	}
	return sbi_commit_slow(pub);
}

/*
 * Exclusive publishers only: number the next committed record seq instead of
 * the next in line.  For a relay (the bridge's importer) that keeps another
 * ring's sequence numbers: a jump forward is what subscribers then report
 * as lost records, exactly.  Returns 0, or SB_EINVAL (shared publisher, or
 * seq below the next number: sequence numbers never go back), SB_ESTATE (a
 * claim is open).
 */
static inline int sb_ring_pub_set_seq(struct sb_ring_pub *pub, uint64_t seq)
{
	if (!pub->exclusive || seq < pub->next_seq)
		return SB_EINVAL;
	if (pub->claim_open)
		return SB_ESTATE;
	pub->next_seq = seq;
	return SB_OK;
}

/* Sequence number the next committed record will get (exclusive publishers). */
static inline uint64_t sb_ring_pub_next_seq(const struct sb_ring_pub *pub)
{
	return pub->next_seq;
}

/* Copying convenience: claim, memcpy, commit. */
static inline int sb_ring_send(struct sb_ring_pub *pub, const void *buf, uint32_t len)
{
	void *p;
	int rc = sb_ring_claim(pub, len, &p);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(p, buf, len);
	return sb_ring_commit(pub);
}

/* ----------------------------------------------------- subscriber path */

/*
 * A subscriber that finds its ring empty fetches, besides the cache line of
 * the commit word it polls, the line after it: where the rest of the next
 * record's header and payload go.  Without it the two lines arrive one after
 * the other (the word's, then, once the loop has seen the word, the
 * payload's); with it they travel together, and a 64-byte record costs one
 * line transfer of latency instead of two.  The hint never faults and never
 * changes what is read: the payload is still loaded after the ACQUIRE of the
 * word, and a copy fetched before the publisher wrote the line is
 * invalidated by the publisher's store before that store can become visible.
 * off is the word's offset in the ring; the line wraps with the ring.
 */
static inline uint64_t sbi_wait_line_off(uint64_t off, uint64_t mask)
{
	return ((off | (SB_HW_LINE - 1)) + 1) & mask;
}

static inline void sbi_prefetch_wait_line(const uint8_t *data, uint64_t off, uint64_t mask)
{
	__builtin_prefetch(data + sbi_wait_line_off(off, mask), 0, 3);
}

/* Does this read need the seqlock validation against head?  Untethered:
 * always; tethered: below the join point (validate_below, set at attach). */
static inline bool sbi_sub_validates(const struct sb_ring_sub *sub, uint64_t pos)
{
	return pos < sub->validate_below;
}

/*
 * Where sb_ring_peek's short path may read: records ending at or below
 * fast_end = the end of the cursor's lap, once the subscriber is tethered,
 * past its join window and knows the next sequence number (all three stay
 * true once true).  A record there needs no validation, does not wrap, and
 * its loss count is its seq minus the one expected.  Recomputed by the
 * general path (sbi_peek_slow); the cursor only grows, so a stale value is
 * never too large, only too small.  0 keeps everything on the general path.
 */
static inline void sbi_sub_refast(struct sb_ring_sub *sub)
{
	bool ok = sub->kind == SB_SUB_TETHERED && sub->cursor >= sub->safe_from && sub->seq_known;

	sub->fast_end = ok ? (sub->cursor | sub->mask) + 1 : 0;
}

/* True if bytes at positions >= pos may have been overwritten by now.  The
 * header of headroom accounts for the commit word zeroed past each claim. */
static inline bool sbi_overwritten(const struct sb_ring_sub *sub, uint64_t pos)
{
	/* ACQUIRE fence (pair P1) pairs with the publisher's release fence after
	 * its head store: if any byte we read came from a later lap, we see the
	 * head that claimed it. */
	atomic_thread_fence(memory_order_acquire);
	return sb_load_relaxed(&sub->prod->head) + SB_REC_HDR_SIZE > pos + sub->cap;
}

/* Move the consumed frontier past records nobody is given (PAD, ABORT, the
 * 8-byte gap) so that a reader that meets only those still frees space. */
static inline void sbi_sub_skip(struct sb_ring_sub *sub, uint64_t from, uint64_t to)
{
	if (from != sub->cursor)
		return; /* behind a record already handed out by this peek */
	sub->cursor = to;
	/* RELEASE (pair P4): pairs with the gating scan's ACQUIRE of cursor. */
	sb_store_release(&sub->slot->cursor, to);
}

/*
 * Find the next data record at or after pos without consuming it.  Skips
 * PAD and ABORT records.  Returns 0 with *v filled and *next set to the
 * position after it, or SB_EEMPTY, SB_ELAPPED (pos may have been
 * overwritten), SB_ECORRUPT (*bad holds the offending header).  No side
 * effect except skipping records nobody is given.
 */
static inline int sbi_sub_next(struct sb_ring_sub *sub, uint64_t pos, bool known, uint64_t expected,
			       struct sb_ring_view *v, uint64_t *next, struct sb_rec_hdr *bad)
{
	uint64_t skipped = 0;

	for (;;) {
		const struct sb_rec_hdr *rh;
		uint64_t off, room, size, w, seq;
		uint32_t len;
		uint16_t type;

		off = pos & sub->mask;
		room = sub->cap - off;
		if (sb_unlikely(room < SB_REC_HDR_SIZE)) {
			sbi_sub_skip(sub, pos, pos + room); /* 8-byte gap before the wrap */
			pos += room;
			continue;
		}
		rh = (const struct sb_rec_hdr *)(sub->data + off);
		/* ACQUIRE (pair P2) pairs with the committer's RELEASE of this
		 * word: the header and payload of this record and of every record
		 * committed with it are complete. */
		w = sb_load_acquire(&rh->word);
		if (w == 0) {
			if (sb_unlikely(sbi_sub_validates(sub, pos)) && sbi_overwritten(sub, pos))
				return SB_ELAPPED; /* zeroed by a later lap */
			if (sub->wait != SB_WAIT_STREAM) /* see SB_STREAM_SLIP_PAUSES */
				sbi_prefetch_wait_line(sub->data, off, sub->mask);
			sub->run = 0;
			return SB_EEMPTY;
		}
		seq = sb_load_relaxed(&rh->seq); /* ordered by the ACQUIRE above */
		if (sb_unlikely(sbi_sub_validates(sub, pos)) && sbi_overwritten(sub, pos))
			return SB_ELAPPED;
		len = sb_rec_word_len(w);
		type = sb_rec_word_type(w);
		if (sb_likely(type == SB_REC_DATA)) {
			size = sb_rec_size_al(len, sub->align);
			if (sb_unlikely(len > sub->max_record || size > room || (known && seq < expected)))
				goto corrupt;
			v->data = sub->data + off + SB_REC_HDR_SIZE;
			v->len = len;
			v->seq = seq;
			v->pos = pos;
			v->lost = known ? seq - expected : 0;
			*next = pos + size;
			/* The next header is found from this one's length; start
			 * fetching it now so a batch walk does not stall on each. */
			__builtin_prefetch(sub->data + ((pos + size) & sub->mask), 0, 3);
			return SB_OK;
		}
		if (type == SB_REC_PAD)
			size = SB_REC_HDR_SIZE + (uint64_t)len;
		else if (type == SB_REC_ABORT)
			size = sb_rec_size_al(len, sub->align);
		else
			goto corrupt;
		if (sb_unlikely(size > room || (type == SB_REC_PAD && size != room)))
			goto corrupt;
		/* Records nobody is given never run past the claim frontier, and
		 * one call skips at most one ring's worth: a forged chain of them
		 * can neither send the cursor ahead of the stream nor spin here. */
		if (sb_unlikely(pos + size > sb_load_acquire(&sub->prod->head)))
			goto corrupt;
		sbi_sub_skip(sub, pos, pos + size);
		pos += size;
		if (sb_unlikely((skipped += size) >= sub->cap))
			return SB_EEMPTY;
		continue;
corrupt:
		atomic_init(&bad->word, w);
		atomic_init(&bad->seq, seq);
		return SB_ECORRUPT;
	}
}

/*
 * Look at up to max data records in place, without consuming them.
 * Returns how many (>= 1), or SB_EEMPTY, SB_ELAPPED, SB_ECORRUPT.  The views
 * stay valid until sb_ring_consume(); for untethered subscribers what they
 * point at is only known to be intact once sb_ring_consume() returns 0.
 * Peeking again before consuming starts over from the cursor.
 *
 * SB_ELAPPED: the subscriber was overrun; it now stands at the newest
 * record and the next record's view.lost says exactly how many were lost.
 * SB_ECORRUPT: a record failed validation (detail in sb_last_error()); the
 * subscriber skipped to the newest record, loss again reported by view.lost.
 */
static inline int sb_ring_peek_batch(struct sb_ring_sub *sub, struct sb_ring_view *v, unsigned max)
{
	uint64_t pos = sub->cursor, next = pos;
	uint64_t expected = sub->expected_seq, lost = 0;
	bool known = sub->seq_known;
	struct sb_rec_hdr bad;
	unsigned n = 0;
	int rc = SB_OK;

	sub->peek_n = 0;
	while (n < max) {
		rc = sbi_sub_next(sub, pos, known, expected, &v[n], &next, &bad);
		if (rc < 0)
			break;
		/* Later records in the batch are reported relative to the one
		 * before them, not to the consumed frontier. */
		expected = v[n].seq + 1;
		known = true;
		lost += v[n].lost;
		if (++sub->run > SB_READ_AHEAD_AFTER)
			sbi_prefetch_ahead(sub->data, sub->mask, pos, next);
		pos = next;
		n++;
	}
	if (n == 0) {
		/* Errors are acted on only at the cursor: past records already
		 * handed out, the next peek meets them again. */
		if (rc == SB_ELAPPED)
			return sbi_sub_lapped(sub);
		if (rc == SB_ECORRUPT)
			return sbi_sub_bad_record(sub, pos, &bad);
		return rc;
	}
	sub->peek_end = next;
	sub->peek_n = n;
	sub->peek_last_seq = v[n - 1].seq;
	sub->peek_lost = lost;
	return (int)n;
}

/*
 * Look at the next data record in place.  Returns 0, SB_EEMPTY,
 * SB_ELAPPED or SB_ECORRUPT (see sb_ring_peek_batch).  A data record (or an
 * empty ring) inside fast_end (sbi_sub_refast) takes a short path
 * (sbi_peek_fast), with the same loads in the same order and the same
 * checks as sbi_sub_next; anything else (padding, aborted records, a bad
 * header, the wrap, untethered reads) takes the general one.  sbi_peek_fast
 * alone returns SBI_SLOW for "take the general path", for callers that want
 * to reach it by a tail call of their own.
 */
static inline int sbi_peek_fast(struct sb_ring_sub *sub, struct sb_ring_view *v)
{
	uint64_t pos = sub->cursor, fast_end = sub->fast_end;
	const uint8_t *data = sub->data;

	if (sb_likely(pos + SB_REC_HDR_SIZE <= fast_end)) {
		uint64_t mask = sub->mask, off = pos & mask;
		const struct sb_rec_hdr *rh = (const struct sb_rec_hdr *)(data + off);
		/* ACQUIRE (pair P2): as in sbi_sub_next. */
		uint64_t w = sb_load_acquire(&rh->word);

		if (w == 0) {
			sub->peek_n = 0;
			sub->run = 0;
			if (sub->wait != SB_WAIT_STREAM) /* see SB_STREAM_SLIP_PAUSES */
				sbi_prefetch_wait_line(data, off, mask);
			return SB_EEMPTY;
		}
		if (sb_likely(sb_rec_word_type(w) == SB_REC_DATA)) {
			uint64_t seq = sb_load_relaxed(&rh->seq); /* ordered by the ACQUIRE */
			uint64_t expected = sub->expected_seq;
			uint32_t len = sb_rec_word_len(w);
			uint64_t next = pos + sb_rec_size_al(len, sub->align);

			if (sb_likely(len <= sub->max_record && next <= fast_end && seq >= expected)) {
				uint64_t lost = seq - expected;
				uint32_t run = sub->run + 1;

				v->data = data + off + SB_REC_HDR_SIZE;
				v->len = len;
				v->seq = seq;
				v->pos = pos;
				v->lost = lost;
				sub->peek_end = next;
				sub->peek_n = 1;
				sub->peek_last_seq = seq;
				sub->peek_lost = lost;
				sub->run = run;
				__builtin_prefetch(data + (next & mask), 0, 3);
				if (run > SB_READ_AHEAD_AFTER)
					sbi_prefetch_ahead(data, mask, pos, next);
				return SB_OK;
			}
		}
	}
	return SBI_SLOW;
}

static inline int sb_ring_peek(struct sb_ring_sub *sub, struct sb_ring_view *v)
{
	int rc = sbi_peek_fast(sub, v);

	return sb_likely(rc != SBI_SLOW) ? rc : sbi_peek_slow(sub, v);
}

/*
 * Consume what the last peek handed out.  Returns 0, or SB_ELAPPED for an
 * untethered subscriber whose records may have been overwritten while it
 * read them (discard what was read: those records count as lost), or
 * SB_ESTATE if nothing was peeked.
 */
static inline int sb_ring_consume(struct sb_ring_sub *sub)
{
	if (sb_unlikely(sub->peek_n == 0))
		return SB_ESTATE;
	if (sb_unlikely(sbi_sub_validates(sub, sub->cursor)) && sbi_overwritten(sub, sub->cursor)) {
		sub->peek_n = 0;
		return sbi_sub_lapped(sub);
	}
	/* Fields into locals before the shared stores (see sb_ring_claim). */
	struct sb_sub_slot *slot = sub->slot;
	uint64_t cursor = sub->peek_end, consumed = sub->consumed + sub->peek_n;
	uint64_t peek_lost = sub->peek_lost;

	/* RELEASE pairs with the ACQUIRE of cursor in the publishers' gating
	 * scan (sbi_pub_regate): our reads of the records happen before any
	 * publisher reuses their space. */
	sb_store_release(&slot->cursor, cursor);
	/* RELAXED: statistics; single writer. */
	sb_store_relaxed(&slot->consumed, consumed);
	sub->cursor = cursor;
	sub->consumed = consumed;
	sub->expected_seq = sub->peek_last_seq + 1;
	sub->seq_known = true;
	sub->peek_n = 0;
	if (sb_unlikely(peek_lost != 0)) {
		sub->lost += peek_lost;
		sb_store_relaxed(&slot->lost, sub->lost);
	}
	return SB_OK;
}

typedef void (*sb_ring_handler_fn)(void *ctx, const struct sb_ring_view *v);

/*
 * Deliver up to max records to fn and consume them.  Tethered subscribers
 * get pointers into the ring; untethered ones get a validated private copy,
 * so no torn record is ever delivered.  Returns the number delivered (0 if
 * none was available), or SB_ELAPPED / SB_ECORRUPT (after delivering none).
 */
static inline int sb_ring_poll(struct sb_ring_sub *sub, sb_ring_handler_fn fn, void *ctx, unsigned max)
{
	struct sb_ring_view v[32];
	int n, rc;

	if (max > 32)
		max = 32;
	if (sub->kind == SB_SUB_UNTETHERED) {
		struct sb_ring_view c = { 0 };

		rc = sb_ring_peek(sub, &c);
		if (rc < 0)
			return rc == SB_EEMPTY ? 0 : rc;
		memcpy(sub->copy_buf, c.data, c.len);
		rc = sb_ring_consume(sub);
		if (rc < 0)
			return rc;
		c.data = sub->copy_buf;
		fn(ctx, &c);
		return 1;
	}
	if (max == 1) {
		rc = sb_ring_peek(sub, &v[0]); /* the single-record path */
		n = rc < 0 ? rc : 1;
	} else {
		n = sb_ring_peek_batch(sub, v, max);
	}
	if (n < 0)
		return n == SB_EEMPTY ? 0 : n;
	for (int i = 0; i < n; i++)
		fn(ctx, &v[i]);
	rc = sb_ring_consume(sub);
	return rc < 0 ? rc : n;
}

/*
 * Relays only (the bridge's sender): move the consumed frontier forward to
 * pos without reading through the records, for a reader that reads at
 * positions of its own choosing and releases bytes once they are no longer
 * needed (acknowledged by its remote receivers, freed by the NIC).  A
 * position at or below the cursor changes nothing: cursors never go back.
 * The caller must be done reading every byte below pos.
 */
static inline void sbi_sub_release_to(struct sb_ring_sub *sub, uint64_t pos)
{
	if (pos <= sub->cursor)
		return;
	sub->cursor = pos;
	sub->peek_end = pos;
	sub->peek_n = 0;
	/* RELEASE (pair P4): pairs with the gating scan's ACQUIRE of cursor;
	 * our reads of the bytes below pos happen before their reuse. */
	sb_store_release(&sub->slot->cursor, pos);
}

/* Counters of this handle. */
static inline uint64_t sb_ring_sub_lost(const struct sb_ring_sub *sub) { return sub->lost; }
static inline uint64_t sb_ring_sub_consumed(const struct sb_ring_sub *sub) { return sub->consumed; }
static inline uint64_t sb_ring_sub_laps(const struct sb_ring_sub *sub) { return sub->laps; }

#endif /* SB_RING_H */
