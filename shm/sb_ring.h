/*
 * sb_ring.h - the zero-copy ring: publisher and subscriber handles and the
 * inline data path (internal header, usable on its own with sb_segment.h).
 *
 * Model (details, invariants and every ordering pair: docs/ring.md)
 *  - head  (claim frontier) and tail (publish frontier) are 64-bit byte
 *    positions that only grow.  Records are [16-byte header][payload], 8-byte
 *    aligned, never straddling the end of the ring (a PAD record, or an
 *    implicit 8-byte gap, fills it).
 *  - Publish = claim (reserve space, get a pointer into the ring), write in
 *    place, commit (make it visible by advancing tail with RELEASE).
 *    Shared publishers claim with a CAS on head and commit in claim order;
 *    an exclusive publisher owns head and commits with two plain stores.
 *  - Subscribers read in place below tail (ACQUIRE) and advance their own
 *    cursor in their own slot.  Tethered cursors gate publishers (a full ring
 *    returns SB_EBACKPRESSURE, never blocks); untethered ones do not, and
 *    validate each read against head afterwards like a seqlock reader: a
 *    record that may have been overwritten while it was read is never
 *    delivered; the subscriber jumps to the newest record (tail) and learns
 *    the exact number of lost records from the sequence numbers.
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
#include "sb_error.h"
#include "sb_layout.h"
#include "sb_segment.h"

#define SB_RING_BATCH_MAX 256 /* records per batch claim */

enum sb_pub_mode {
	SB_PUB_SHARED = 0,    /* several publishers, CAS claim, in-order commit */
	SB_PUB_EXCLUSIVE = 1, /* the only publisher: no atomic RMW on the path */
};

enum sb_sub_kind {
	SB_SUB_TETHERED = 0,   /* publishers never overwrite what it has not read */
	SB_SUB_UNTETHERED = 1, /* never slows publishers; may be lapped */
};

enum sb_sub_start {
	SB_START_LATEST = 0, /* the next record committed after attach */
	SB_START_OLDEST = 1, /* the oldest lap boundary still intact */
};

enum sb_wait_strategy {
	SB_WAIT_SPIN = 0,  /* busy-poll (pinned, isolated cores) */
	SB_WAIT_YIELD = 1, /* spin a while, then sched_yield() */
	SB_WAIT_BLOCK = 2, /* spin a while, then sleep on the futex doorbell */
};

/* One record as seen by a subscriber.  data points into the ring. */
struct sb_ring_view {
	const void *data;
	uint32_t len;
	uint64_t seq;  /* publisher-assigned sequence number */
	uint64_t pos;  /* ring position of the record header */
	uint64_t lost; /* data records lost immediately before this one */
};

struct sb_ring_pub {
	uint8_t *data;
	uint64_t mask;            /* data_size - 1 */
	uint64_t cap;             /* data_size */
	struct sb_prod_ctl *prod;
	struct sb_sub_area *subs;
	struct sb_pub_slot *slot;
	uint32_t max_record;
	uint32_t max_subs;
	uint16_t slot_idx;
	bool exclusive;
	bool claim_open;
	uint32_t claim_n;         /* records in the open claim */
	uint64_t claim_start;     /* first byte of the open claim (maybe a pad) */
	uint64_t claim_end;
	uint64_t gate_limit;      /* claims may end at or below this without a rescan */
	uint64_t head;            /* exclusive: our head (we are its only writer) */
	uint64_t next_seq;        /* exclusive: sequence number of the next record */
	uint64_t records;         /* committed data records (mirrors slot->records) */
	uint64_t bytes;
	const struct sb_seg *seg;
};

struct sb_ring_sub {
	const uint8_t *data;
	uint64_t mask;
	uint64_t cap;
	const struct sb_prod_ctl *prod;
	struct sb_sub_area *subs;
	struct sb_sub_slot *slot;
	uint32_t max_record;
	uint16_t slot_idx;
	uint8_t kind;             /* enum sb_sub_kind */
	uint8_t wait;             /* enum sb_wait_strategy */
	bool seq_known;           /* expected_seq is meaningful */
	uint64_t cursor;          /* consumed frontier (mirrors slot->cursor) */
	uint64_t cached_tail;     /* last tail seen; refreshed only when reached */
	uint64_t safe_from;       /* tethered: reads at or after this need no validation */
	uint64_t expected_seq;    /* sequence number of the next data record */
	uint64_t peek_end;        /* end of the records handed out by peek */
	uint32_t peek_n;          /* data records handed out by peek */
	uint64_t peek_lost;       /* loss reported with them */
	uint64_t peek_last_seq;
	uint64_t consumed;
	uint64_t lost;
	uint64_t laps;
	uint8_t *copy_buf;        /* untethered poll: private copy, max_record bytes */
	const struct sb_seg *seg;
};

/* ------------------------------------------------------- control path */

/* Attach a publisher: takes a publisher slot and the mode.  Exclusive fails
 * with SB_EBUSY while any other publisher is attached (and vice versa), and
 * with SB_ESTATE if a claim left open by a dead publisher needs repair.
 * Returns 0, SB_EINVAL, SB_EACCES (subscriber mapping), SB_EBUSY, SB_ENOSPC,
 * SB_ESTATE. */
int sb_ring_pub_attach(struct sb_ring_pub *pub, const struct sb_seg *seg, enum sb_pub_mode mode);
/* Abort an open claim, release the slot and the mode.  Idempotent. */
void sb_ring_pub_detach(struct sb_ring_pub *pub);

/* Attach a subscriber in a free slot.  Untethered subscribers allocate a
 * private max_record buffer for sb_ring_poll.  Returns 0, SB_EINVAL,
 * SB_ENOSPC, SB_ENOMEM. */
int sb_ring_sub_attach(struct sb_ring_sub *sub, const struct sb_seg *seg, enum sb_sub_kind kind,
		       enum sb_sub_start start, enum sb_wait_strategy wait);
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
int sbi_pub_regate(struct sb_ring_pub *pub, uint64_t end);
void sbi_doorbell_ring(struct sb_sub_area *subs);
int sbi_sub_bad_record(struct sb_ring_sub *sub, uint64_t pos, const struct sb_rec_hdr *h);
int sbi_sub_lapped(struct sb_ring_sub *sub);

/* ------------------------------------------------------ publisher path */

/* Space and position for n records of lens[i] starting at head h: pads at
 * the end of the ring where a record would straddle it.  Returns the end. */
static inline uint64_t sbi_layout_batch(const struct sb_ring_pub *pub, uint64_t h,
					const uint32_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t size = sb_rec_size(lens[i]);
		uint64_t room = pub->cap - (h & pub->mask);

		if (room < size)
			h += room; /* pad to the end of the ring */
		h += size;
	}
	return h;
}

/* Write headers for the claim [h, end) and return payload pointers. */
static inline void sbi_write_claim(struct sb_ring_pub *pub, uint64_t h, const uint32_t *lens,
				   unsigned n, void **payloads, uint64_t seq)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t size = sb_rec_size(lens[i]);
		uint64_t room = pub->cap - (h & pub->mask);
		struct sb_rec_hdr *rh;

		if (room < size) {
			if (room >= SB_REC_HDR_SIZE) {
				rh = (struct sb_rec_hdr *)(pub->data + (h & pub->mask));
				rh->seq = seq;
				rh->len = (uint32_t)(room - SB_REC_HDR_SIZE);
				rh->type = SB_REC_PAD;
				rh->pub = pub->slot_idx;
			} /* else: an 8-byte gap, skipped implicitly by readers */
			h += room;
		}
		rh = (struct sb_rec_hdr *)(pub->data + (h & pub->mask));
		/* Shared publishers learn their sequence numbers at commit; until
		 * then the header carries its own position as a stamp so that a
		 * repairer can trust len (see sb_ring_repair). */
		rh->seq = pub->exclusive ? seq++ : h;
		rh->len = lens[i];
		rh->type = pub->exclusive ? SB_REC_DATA : SB_REC_CLAIMED;
		rh->pub = pub->slot_idx;
		payloads[i] = rh + 1;
		h += size;
	}
}

/*
 * Claim space for n records (n <= SB_RING_BATCH_MAX) of lens[i] payload bytes
 * and return a pointer to each payload.  Returns 0, SB_EMSGSIZE (a len over
 * the maximum), SB_EBACKPRESSURE (a tethered subscriber lags; nothing was
 * claimed), SB_EINVAL (n out of range) or SB_ESTATE (a claim is open).
 */
static inline int sb_ring_claim_batch(struct sb_ring_pub *pub, const uint32_t *lens, unsigned n,
				      void **payloads)
{
	uint64_t h, end;

	if (sb_unlikely(pub->claim_open))
		return SB_ESTATE;
	if (sb_unlikely(n == 0 || n > SB_RING_BATCH_MAX))
		return SB_EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (sb_unlikely(lens[i] > pub->max_record))
			return SB_EMSGSIZE;

	if (pub->exclusive) {
		h = pub->head;
		end = sbi_layout_batch(pub, h, lens, n);
		if (sb_unlikely(end > pub->gate_limit)) {
			int rc = sbi_pub_regate(pub, end);
			if (rc < 0)
				return rc;
		}
		pub->head = end;
		/* RELAXED + release fence: we are head's only writer; the fence
		 * orders this store before our writes into the claimed bytes, and
		 * pairs with the acquire fence an untethered reader issues after
		 * reading those bytes and before loading head (seqlock pattern). */
		sb_store_relaxed(&pub->prod->head, end);
		atomic_thread_fence(memory_order_release);
		sbi_write_claim(pub, h, lens, n, payloads, pub->next_seq);
	} else {
		/* RELAXED: the CAS below validates the value. */
		h = sb_load_relaxed(&pub->prod->head);
		for (;;) {
			end = sbi_layout_batch(pub, h, lens, n);
			if (sb_unlikely(end > pub->gate_limit)) {
				int rc = sbi_pub_regate(pub, end);
				if (rc < 0)
					return rc;
			}
			/* Intent first, so a repairer can size our claim even if
			 * we die right after the CAS (RELAXED: only read after
			 * the claimant is known dead, via the daemon's socket). */
			sb_store_relaxed(&pub->slot->intent_pos, h);
			sb_store_relaxed(&pub->slot->intent_len, end - h);
			/* RELAXED on success: nothing is published by the claim
			 * itself; the release fence below orders it before our
			 * writes into the claimed bytes (pairs as above). */
			if (atomic_compare_exchange_weak_explicit(&pub->prod->head, &h, end,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		}
		atomic_thread_fence(memory_order_release);
		sbi_write_claim(pub, h, lens, n, payloads, 0);
	}
	pub->claim_open = true;
	pub->claim_start = h;
	pub->claim_end = end;
	pub->claim_n = n;
	return SB_OK;
}

/* Claim one record of len bytes; *payload points at where to write it. */
static inline int sb_ring_claim(struct sb_ring_pub *pub, uint32_t len, void **payload)
{
	return sb_ring_claim_batch(pub, &len, 1, payload);
}

/* Shared publishers: wait for earlier claims, then stamp sequence numbers. */
static inline uint64_t sbi_commit_shared_order(struct sb_ring_pub *pub)
{
	uint64_t seq;
	uint64_t h = pub->claim_start;

	/* ACQUIRE pairs with the RELEASE of tail by the committer of the claim
	 * just before ours: makes its next_seq store visible. */
	while (sb_load_acquire(&pub->prod->tail) != pub->claim_start)
		sb_cpu_relax();
	/* RELAXED: written by that committer before its RELEASE of tail. */
	seq = sb_load_relaxed(&pub->prod->next_seq);
	while (h < pub->claim_end) {
		uint64_t room = pub->cap - (h & pub->mask);
		struct sb_rec_hdr *rh;

		if (room < SB_REC_HDR_SIZE) {
			h += room;
			continue;
		}
		rh = (struct sb_rec_hdr *)(pub->data + (h & pub->mask));
		if (rh->type == SB_REC_CLAIMED) {
			rh->seq = seq++;
			rh->type = SB_REC_DATA;
			h += sb_rec_size(rh->len);
		} else if (rh->type == SB_REC_ABORT) {
			rh->seq = seq;
			h += sb_rec_size(rh->len);
		} else { /* PAD */
			rh->seq = seq;
			h += SB_REC_HDR_SIZE + rh->len;
		}
	}
	return seq;
}

/* Make the open claim visible to subscribers.  Returns 0 or SB_ESTATE. */
static inline int sb_ring_commit(struct sb_ring_pub *pub)
{
	uint64_t seq;

	if (sb_unlikely(!pub->claim_open))
		return SB_ESTATE;
	if (pub->exclusive) {
		seq = pub->next_seq + pub->claim_n;
		pub->next_seq = seq;
	} else {
		seq = sbi_commit_shared_order(pub);
	}
	/* RELAXED: published by the RELEASE of tail just below. */
	sb_store_relaxed(&pub->prod->next_seq, seq);
	/* RELEASE pairs with the subscribers' ACQUIRE of tail (and with the
	 * next shared committer's ACQUIRE in sbi_commit_shared_order): every
	 * header and payload byte of the claim is visible before tail moves. */
	sb_store_release(&pub->prod->tail, pub->claim_end);
	pub->claim_open = false;
	pub->records += pub->claim_n;
	/* RELAXED: statistics for monitors; single writer. */
	sb_store_relaxed(&pub->slot->records, pub->records);
	/* RELAXED: 'blocking' changes only when a blocking subscriber attaches;
	 * see sbi_doorbell_ring for the handshake with sleepers. */
	if (sb_unlikely(sb_load_relaxed(&pub->subs->blocking) != 0))
		sbi_doorbell_ring(pub->subs);
	return SB_OK;
}

/* Copying convenience: claim, memcpy, commit. */
static inline int sb_ring_send(struct sb_ring_pub *pub, const void *buf, uint32_t len)
{
	void *p;
	int rc = sb_ring_claim(pub, len, &p);

	if (rc < 0)
		return rc;
	memcpy(p, buf, len);
	return sb_ring_commit(pub);
}

/* ----------------------------------------------------- subscriber path */

/* Does this read need the seqlock validation against head? */
static inline bool sbi_sub_validates(const struct sb_ring_sub *sub, uint64_t pos)
{
	return sub->kind == SB_SUB_UNTETHERED || pos < sub->safe_from;
}

/* True if bytes at positions >= pos may have been overwritten by now. */
static inline bool sbi_overwritten(const struct sb_ring_sub *sub, uint64_t pos)
{
	/* ACQUIRE fence pairs with the publisher's release fence after its head
	 * store: if any byte we read came from a later lap, we see its head. */
	atomic_thread_fence(memory_order_acquire);
	return sb_load_relaxed(&sub->prod->head) > pos + sub->cap;
}

/* Move the consumed frontier past records nobody is given (PAD, ABORT, the
 * 8-byte gap) so that a reader that meets only those still frees space. */
static inline void sbi_sub_skip(struct sb_ring_sub *sub, uint64_t from, uint64_t to)
{
	if (from != sub->cursor)
		return; /* behind a record already handed out by this peek */
	sub->cursor = to;
	/* RELEASE: pairs with the gating scan's ACQUIRE, as in consume. */
	sb_store_release(&sub->slot->cursor, to);
}

/*
 * Find the next data record at or after pos without consuming it.  Skips
 * PAD and ABORT records.  Returns 0 with *v filled and *next set to the
 * position after it, or SB_EEMPTY, SB_ELAPPED (pos may have been
 * overwritten), SB_ECORRUPT (*bad holds the offending header).  Has no side
 * effect on the cursor except skipping records nobody is given.
 */
static inline int sbi_sub_next(struct sb_ring_sub *sub, uint64_t pos, struct sb_ring_view *v,
			       uint64_t *next, struct sb_rec_hdr *bad)
{
	for (;;) {
		struct sb_rec_hdr h;
		uint64_t off, room, size;

		if (pos == sub->cached_tail) {
			/* ACQUIRE pairs with the RELEASE of tail in sb_ring_commit:
			 * headers and payloads below it are complete. */
			sub->cached_tail = sb_load_acquire(&sub->prod->tail);
			if (pos == sub->cached_tail)
				return SB_EEMPTY;
		}
		off = pos & sub->mask;
		room = sub->cap - off;
		if (sb_unlikely(room < SB_REC_HDR_SIZE)) {
			sbi_sub_skip(sub, pos, pos + room); /* implicit gap before the wrap */
			pos += room;
			continue;
		}
		memcpy(&h, sub->data + off, sizeof(h));
		if (sb_unlikely(sbi_sub_validates(sub, pos)) && sbi_overwritten(sub, pos))
			return SB_ELAPPED;
		*bad = h;
		if (sb_likely(h.type == SB_REC_DATA)) {
			size = sb_rec_size(h.len);
			if (sb_unlikely(h.len > sub->max_record || size > room ||
					pos + size > sub->cached_tail ||
					(sub->seq_known && h.seq < sub->expected_seq)))
				return SB_ECORRUPT;
			v->data = sub->data + off + SB_REC_HDR_SIZE;
			v->len = h.len;
			v->seq = h.seq;
			v->pos = pos;
			v->lost = sub->seq_known ? h.seq - sub->expected_seq : 0;
			*next = pos + size;
			return SB_OK;
		}
		if (h.type == SB_REC_PAD)
			size = SB_REC_HDR_SIZE + (uint64_t)h.len;
		else if (h.type == SB_REC_ABORT)
			size = sb_rec_size(h.len);
		else
			return SB_ECORRUPT;
		if (sb_unlikely(h.len > sub->cap || size > room || pos + size > sub->cached_tail ||
				(h.type == SB_REC_PAD && size != room)))
			return SB_ECORRUPT;
		sbi_sub_skip(sub, pos, pos + size);
		pos += size;
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
	uint64_t expected = sub->expected_seq;
	bool known = sub->seq_known;
	struct sb_rec_hdr bad;
	unsigned n = 0;
	int rc = SB_OK;

	sub->peek_n = 0;
	while (n < max) {
		rc = sbi_sub_next(sub, pos, &v[n], &next, &bad);
		if (rc < 0)
			break;
		/* Later records in the batch are reported relative to the one
		 * before them, not to the consumed frontier. */
		sub->expected_seq = v[n].seq + 1;
		sub->seq_known = true;
		pos = next;
		n++;
	}
	sub->expected_seq = expected;
	sub->seq_known = known;
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
	sub->peek_lost = 0;
	for (unsigned i = 0; i < n; i++)
		sub->peek_lost += v[i].lost;
	return (int)n;
}

/* Look at the next data record in place.  Returns 0, SB_EEMPTY,
 * SB_ELAPPED or SB_ECORRUPT (see sb_ring_peek_batch). */
static inline int sb_ring_peek(struct sb_ring_sub *sub, struct sb_ring_view *v)
{
	int rc = sb_ring_peek_batch(sub, v, 1);

	return rc < 0 ? rc : SB_OK;
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
	sub->cursor = sub->peek_end;
	sub->consumed += sub->peek_n;
	sub->lost += sub->peek_lost;
	sub->expected_seq = sub->peek_last_seq + 1;
	sub->seq_known = true;
	sub->peek_n = 0;
	/* RELEASE pairs with the ACQUIRE of cursor in the publishers' gating
	 * scan (sbi_pub_regate): our reads of the records happen before any
	 * publisher reuses their space. */
	sb_store_release(&sub->slot->cursor, sub->cursor);
	/* RELAXED: statistics; single writer. */
	sb_store_relaxed(&sub->slot->consumed, sub->consumed);
	if (sb_unlikely(sub->peek_lost != 0))
		sb_store_relaxed(&sub->slot->lost, sub->lost);
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
		struct sb_ring_view c;

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
	n = sb_ring_peek_batch(sub, v, max);
	if (n < 0)
		return n == SB_EEMPTY ? 0 : n;
	for (int i = 0; i < n; i++)
		fn(ctx, &v[i]);
	rc = sb_ring_consume(sub);
	return rc < 0 ? rc : n;
}

/* Counters of this handle. */
static inline uint64_t sb_ring_sub_lost(const struct sb_ring_sub *sub) { return sub->lost; }
static inline uint64_t sb_ring_sub_consumed(const struct sb_ring_sub *sub) { return sub->consumed; }
static inline uint64_t sb_ring_sub_laps(const struct sb_ring_sub *sub) { return sub->laps; }

#endif /* SB_RING_H */
