/*
 * sb_ring.c - control path of the ring: attach/detach, the publishers'
 * gating scan, lapping and corruption recovery, waiting, abort and repair.
 * The data path is inline in sb_ring.h; nothing here runs per record in
 * steady state except, rarely, sbi_pub_regate (once per lap at most when
 * subscribers keep up).
 *
 * Design note: the two store-then-load handshakes.
 *  1. Subscriber join vs. gating scan.  A joining tethered subscriber stores
 *     its cursor and state, issues a SEQ_CST fence and re-reads tail; a
 *     publisher's scan loads tail, issues a SEQ_CST fence and reads the
 *     slots.  Either the scan sees the new slot, or the joiner's re-read of
 *     tail is at least the tail the scan started from; the scan's limit is
 *     min(that tail, tethered cursors) + capacity, so in both cases the
 *     publisher cannot overrun the cursor the joiner ends up with.
 *  2. Sleeper vs. doorbell.  A sleeper increments sleepers, reads bell, issues
 *     a SEQ_CST fence and re-checks tail before futex_wait(bell); a publisher
 *     that saw blocking != 0 stores tail, issues a SEQ_CST fence and reads
 *     sleepers.  Either the sleeper sees the new tail, or the publisher sees
 *     the sleeper and bumps bell (futex_wait then returns at once).
 */
#include "sb_ring.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sb_clock.h"
#include "sb_log.h"

#define SPIN_BEFORE_YIELD 1024
#define SLEEP_SLICE_NS    1000000u /* re-check at least every 1 ms while asleep */

static void update_hwm(_Atomic uint32_t *hwm, uint32_t v)
{
	uint32_t cur = sb_load_relaxed(hwm);

	/* SEQ_CST: part of handshake 1; a scan that reads hwm after its fence
	 * covers every slot whose state store preceded ours. */
	while (cur < v && !atomic_compare_exchange_weak(hwm, &cur, v))
		;
}

/* ------------------------------------------------------------ publishers */

static int take_mode(struct sb_prod_ctl *prod, enum sb_ring_pub_mode mode)
{
	uint32_t cur = sb_load_relaxed(&prod->publishers);

	/* ACQ_REL: a publisher that takes the ring sees everything the previous
	 * holder did before releasing it (head, tail, next_seq). */
	for (;;) {
		uint32_t want;

		if (mode == SB_PUB_EXCLUSIVE) {
			if (cur != 0)
				return sbi_error(SB_EBUSY, "exclusive publisher refused: %s attached",
						 (cur & SB_PUBS_EXCLUSIVE_BIT) ? "an exclusive publisher is"
									   : "shared publishers are");
			want = SB_PUBS_EXCLUSIVE_BIT;
		} else {
			if (cur & SB_PUBS_EXCLUSIVE_BIT)
				return sbi_error(SB_EBUSY, "shared publisher refused: an exclusive publisher is attached");
			want = cur + 1;
		}
		if (atomic_compare_exchange_weak_explicit(&prod->publishers, &cur, want, memory_order_acq_rel,
							  memory_order_relaxed))
			return SB_OK;
	}
}

static void drop_mode(struct sb_prod_ctl *prod, bool exclusive)
{
	/* RELEASE: pairs with the ACQ_REL CAS in take_mode. */
	if (exclusive)
		atomic_fetch_and_explicit(&prod->publishers, ~SB_PUBS_EXCLUSIVE_BIT, memory_order_release);
	else
		atomic_fetch_sub_explicit(&prod->publishers, 1, memory_order_release);
}

int sb_ring_pub_attach(struct sb_ring_pub *pub, const struct sb_seg *seg, enum sb_ring_pub_mode mode)
{
	struct sb_prod_ctl *prod;
	uint32_t i;
	int rc;

	if (!pub || !seg || !seg->base || (mode != SB_PUB_SHARED && mode != SB_PUB_EXCLUSIVE))
		return sbi_error(SB_EINVAL, "publisher attach: bad arguments");
	memset(pub, 0, sizeof(*pub));
	if (seg->access == SB_SEG_SUBSCRIBER)
		return sbi_error(SB_EACCES, "topic %s: segment mapped for subscribing cannot publish", seg->hdr->name);
	prod = seg->prod;
	rc = take_mode(prod, mode);
	if (rc < 0)
		return rc;
	if (mode == SB_PUB_EXCLUSIVE &&
	    sb_load_relaxed(&prod->head) != sb_load_relaxed(&prod->tail)) {
		drop_mode(prod, true);
		return sbi_error(SB_ESTATE, "topic %s: claim [%llu, %llu) left open by a dead publisher; repair first",
				 seg->hdr->name, (unsigned long long)sb_load_relaxed(&prod->tail),
				 (unsigned long long)sb_load_relaxed(&prod->head));
	}
	for (i = 0; i < seg->max_pubs; i++) {
		uint32_t expect = SB_SLOT_FREE;

		/* ACQ_REL: the slot's previous owner's writes are complete. */
		if (atomic_compare_exchange_strong_explicit(&prod->pub[i].state, &expect, SB_SLOT_PUBLISHER,
							    memory_order_acq_rel, memory_order_relaxed))
			break;
	}
	if (i == seg->max_pubs) {
		drop_mode(prod, mode == SB_PUB_EXCLUSIVE);
		return sbi_error(SB_ENOSPC, "topic %s: all %u publisher slots in use", seg->hdr->name,
				 seg->max_pubs);
	}
	update_hwm(&prod->pub_slots_hwm, i + 1);
	pub->slot = &prod->pub[i];
	pub->slot->pid = (uint32_t)getpid();
	/* RELAXED: statistics and intent are read only by monitors/repairers. */
	sb_store_relaxed(&pub->slot->intent_pos, UINT64_MAX);
	sb_store_relaxed(&pub->slot->intent_len, 0);
	pub->slot_idx = (uint16_t)i;
	pub->data = seg->data;
	pub->cap = seg->data_size;
	pub->mask = seg->data_size - 1;
	pub->align = seg->rec_align;
	pub->prod = prod;
	pub->subs = seg->subs;
	pub->max_record = seg->max_record;
	pub->max_subs = seg->max_subs;
	pub->exclusive = mode == SB_PUB_EXCLUSIVE;
	pub->gate_limit = 0; /* first claim scans the subscribers */
	pub->head = sb_load_relaxed(&prod->head);
	pub->next_seq = sb_load_relaxed(&prod->next_seq);
	pub->records = sb_load_relaxed(&pub->slot->records);
	pub->seg = seg;
	return SB_OK;
}

void sb_ring_pub_detach(struct sb_ring_pub *pub)
{
	if (!pub || !pub->slot)
		return;
	if (pub->claim_open)
		sb_ring_abort(pub);
	sb_store_relaxed(&pub->slot->intent_pos, UINT64_MAX);
	/* RELEASE: pairs with the ACQ_REL slot CAS of the next owner. */
	sb_store_release(&pub->slot->state, SB_SLOT_FREE);
	drop_mode(pub->prod, pub->exclusive);
	pub->slot = NULL;
}

int sbi_pub_regate(struct sb_ring_pub *pub, uint64_t end)
{
	const struct sb_sub_area *subs = pub->subs;
	/* ACQUIRE: pairs with the committers' RELEASE of tail; it is the bound
	 * for subscribers joining concurrently (handshake 1). */
	uint64_t min = sb_load_acquire(&pub->prod->tail);
	uint32_t hwm;

	atomic_thread_fence(memory_order_seq_cst); /* handshake 1 */
	hwm = sb_load_acquire(&subs->sub_slots_hwm);
	if (hwm > pub->max_subs)
		hwm = pub->max_subs;
	for (uint32_t i = 0; i < hwm; i++) {
		const struct sb_sub_slot *s = &subs->sub[i];

		/* ACQUIRE on state and cursor: pairs with the subscriber's RELEASE
		 * of its cursor after reading (consume) and with its state store
		 * at join, which follows the store of its initial cursor. */
		if (sb_load_acquire(&s->state) == SB_SLOT_TETHERED) {
			uint64_t c = sb_load_acquire(&s->cursor);
			if (c < min)
				min = c;
		}
	}
	pub->gate_limit = min + pub->cap;
	if (end > pub->gate_limit) {
		/* RELAXED: statistics; single writer. */
		sb_store_relaxed(&pub->slot->backpressure, sb_load_relaxed(&pub->slot->backpressure) + 1);
		return SB_EBACKPRESSURE;
	}
	return SB_OK;
}

int sb_ring_abort(struct sb_ring_pub *pub)
{
	if (!pub || !pub->claim_open)
		return SB_ESTATE;
	sbi_claim_expand(pub);
	/* RELAXED: statistics; single writer. */
	sb_store_relaxed(&pub->slot->aborted, sb_load_relaxed(&pub->slot->aborted) + pub->claim_n);
	return sbi_commit_as(pub, SB_REC_ABORT);
}

int sbi_claim_slow(struct sb_ring_pub *pub, uint32_t len, void **payload)
{
	return sb_ring_claim_batch(pub, &len, 1, payload);
}

int sbi_commit_slow(struct sb_ring_pub *pub)
{
	return sbi_commit_as(pub, SB_REC_DATA);
}

/* ------------------------------------------------------------ subscribers */

/* The seq stored at record boundary pos: the number of the next data record
 * at or after it (sb_layout.h).  Fails if pos may have been reclaimed. */
static int seq_at(const struct sb_ring_sub *sub, uint64_t pos, uint64_t *seq)
{
	const struct sb_rec_hdr *rh;

	if (sub->cap - (pos & sub->mask) < SB_REC_HDR_SIZE)
		pos += sub->cap - (pos & sub->mask);
	rh = (const struct sb_rec_hdr *)(sub->data + (pos & sub->mask));
	/* RELAXED: the caller's ACQUIRE of tail (pair P2') ordered the write,
	 * which precedes the RELEASE of any tail at or above pos. */
	*seq = sb_load_relaxed(&rh->seq);
	return sbi_overwritten(sub, pos) ? -1 : 0;
}

/* Jump to the newest record boundary (tail).  The loss is reported with the
 * next record, as its seq minus the seq expected.  After corruption the
 * expected seq may itself come from a forged record: it is then capped at
 * the publishers' next_seq, so genuine records do not look like they went
 * backwards. */
static void resync_to_tail(struct sb_ring_sub *sub, bool after_corruption)
{
	uint64_t t = 0, s = 0;
	int tries;

	for (tries = 0; tries < 64; tries++) {
		/* ACQUIRE pairs with the committers' RELEASE of tail. */
		t = sb_load_acquire(&sub->prod->tail);
		if (seq_at(sub, t, &s) == 0)
			break;
	}
	sub->cursor = t;
	sub->peek_end = t;
	sub->peek_n = 0;
	if (!sub->seq_known && tries < 64) {
		sub->expected_seq = s;
		sub->seq_known = true;
	}
	if (after_corruption) {
		/* RELAXED: a bound, not a synchronisation. */
		uint64_t ns = sb_load_relaxed(&sub->prod->next_seq);

		if (sub->expected_seq > ns)
			sub->expected_seq = ns;
	}
	/* RELEASE (pair P4): pairs with the gating scan's ACQUIRE of cursor. */
	sb_store_release(&sub->slot->cursor, t);
}

int sb_ring_sub_attach(struct sb_ring_sub *sub, const struct sb_seg *seg, enum sb_ring_sub_kind kind,
		       enum sb_ring_sub_start start, enum sb_ring_wait_strategy wait)
{
	struct sb_sub_area *subs;
	struct sb_sub_slot *slot;
	uint64_t t, cursor;
	uint32_t i;

	if (!sub || !seg || !seg->base || kind > SB_SUB_UNTETHERED || start > SB_START_OLDEST ||
	    wait > SB_WAIT_STREAM)
		return sbi_error(SB_EINVAL, "subscriber attach: bad arguments");
	memset(sub, 0, sizeof(*sub));
	subs = seg->subs;
	for (i = 0; i < seg->max_subs; i++) {
		uint32_t expect = SB_SLOT_FREE;

		/* ACQ_REL: the previous owner's writes to the slot are complete. */
		if (atomic_compare_exchange_strong_explicit(&subs->sub[i].state, &expect, SB_SLOT_JOINING,
							    memory_order_acq_rel, memory_order_relaxed))
			break;
	}
	if (i == seg->max_subs)
		return sbi_error(SB_ENOSPC, "topic %s: all %u subscriber slots in use", seg->hdr->name,
				 seg->max_subs);
	slot = &subs->sub[i];
	if (kind == SB_SUB_UNTETHERED) {
		sub->copy_buf = malloc(seg->max_record ? seg->max_record : 1);
		if (!sub->copy_buf) {
			sb_store_release(&slot->state, SB_SLOT_FREE);
			return sbi_error(SB_ENOMEM, "subscriber copy buffer of %u bytes", seg->max_record);
		}
	}
	slot->pid = (uint32_t)getpid();
	/* RELAXED: published by the state store below. */
	sb_store_relaxed(&slot->consumed, 0);
	sb_store_relaxed(&slot->lost, 0);
	sb_store_relaxed(&slot->laps, 0);
	sb_store_relaxed(&slot->flags, 0);

	sub->data = seg->data;
	sub->cap = seg->data_size;
	sub->mask = seg->data_size - 1;
	sub->align = seg->rec_align;
	sub->prod = seg->prod;
	sub->subs = subs;
	sub->slot = slot;
	sub->slot_idx = (uint16_t)i;
	sub->max_record = seg->max_record;
	sub->kind = (uint8_t)kind;
	sub->wait = (uint8_t)wait;
	sub->seg = seg;

	/* ACQUIRE pairs with the committers' RELEASE of tail. */
	t = sb_load_acquire(&seg->prod->tail);
	cursor = t;
	if (start == SB_START_OLDEST) {
		/* Lap boundaries are always record boundaries (records never
		 * straddle the end), so the oldest intact one is the first
		 * multiple of the capacity whose bytes, including the header of
		 * headroom zeroed past each claim, have not been reclaimed. */
		uint64_t h = sb_load_relaxed(&seg->prod->head) + SB_REC_HDR_SIZE;
		uint64_t b = h > sub->cap ? (h - sub->cap + sub->mask) & ~sub->mask : 0;

		cursor = b < t ? b : t;
	}
	sb_store_relaxed(&slot->cursor, cursor);
	update_hwm(&subs->sub_slots_hwm, i + 1);
	/* SEQ_CST store then fence: handshake 1 (the store also RELEASEs the
	 * cursor written above to the gating scans' ACQUIRE of state). */
	atomic_store(&slot->state, kind == SB_SUB_TETHERED ? SB_SLOT_TETHERED : SB_SLOT_UNTETHERED);
	atomic_thread_fence(memory_order_seq_cst);
	t = sb_load_acquire(&seg->prod->tail);
	if (start == SB_START_LATEST) {
		cursor = t;
		/* RELEASE: pairs with the gating scan's ACQUIRE of cursor. */
		sb_store_release(&slot->cursor, cursor);
	}
	/* Until the cursor reaches t a concurrent publisher may not have seen
	 * this slot yet, so reads before t are validated like untethered ones. */
	sub->safe_from = t;
	sub->validate_below = kind == SB_SUB_TETHERED ? t : UINT64_MAX;
	sub->fast_end = 0; /* sbi_peek_slow sets it once the short path applies */
	sub->cursor = cursor;
	sub->peek_end = cursor;
	/* The seq at the start boundary numbers the next data record, so loss
	 * is exact even if the subscriber is overrun before reading anything. */
	if (seq_at(sub, cursor, &sub->expected_seq) == 0)
		sub->seq_known = true;
	else
		resync_to_tail(sub, false);
	sb_backoff_init(&sub->backoff, SPIN_BEFORE_YIELD);
	if (wait == SB_WAIT_BLOCK) {
		/* Count, then flag (and the reverse on the way out): dying in
		 * between leaks one count, which only costs publishers a fence;
		 * the other order could make a cleaner underflow it. */
		atomic_fetch_add(&subs->blocking, 1); /* SEQ_CST: see handshake 2 */
		atomic_fetch_or_explicit(&slot->flags, SB_SUB_F_BLOCKING, memory_order_relaxed);
	}
	return SB_OK;
}

void sb_ring_sub_detach(struct sb_ring_sub *sub)
{
	if (!sub || !sub->slot)
		return;
	if (sub->wait == SB_WAIT_BLOCK) {
		atomic_fetch_and_explicit(&sub->slot->flags, ~SB_SUB_F_BLOCKING, memory_order_relaxed);
		atomic_fetch_sub(&sub->subs->blocking, 1);
	}
	/* RELEASE: the slot stops gating; pairs with the next owner's CAS. */
	sb_store_release(&sub->slot->state, SB_SLOT_FREE);
	free(sub->copy_buf);
	sub->copy_buf = NULL;
	sub->slot = NULL;
}

int sbi_sub_lapped(struct sb_ring_sub *sub)
{
	uint64_t at = sub->cursor;

	resync_to_tail(sub, false);
	sub->laps++;
	/* RELAXED: statistics; single writer. */
	sb_store_relaxed(&sub->slot->laps, sub->laps);
	return sbi_error(SB_ELAPPED, "topic %s: subscriber %u overrun at position %llu, resumed at %llu",
			 sub->seg->hdr->name, sub->slot_idx, (unsigned long long)at,
			 (unsigned long long)sub->cursor);
}

int sbi_sub_bad_record(struct sb_ring_sub *sub, uint64_t pos, const struct sb_rec_hdr *h)
{
	uint64_t w = sb_load_relaxed(&((struct sb_rec_hdr *)h)->word);
	uint32_t len = sb_rec_word_len(w);
	uint16_t type = sb_rec_word_type(w);
	uint64_t room = sub->cap - (pos & sub->mask);
	const char *what;

	if (type != SB_REC_DATA && type != SB_REC_PAD && type != SB_REC_ABORT)
		what = "unknown record type";
	else if (type == SB_REC_DATA && len > sub->max_record)
		what = "length exceeds the topic's max record";
	else if (type == SB_REC_PAD && SB_REC_HDR_SIZE + (uint64_t)len != room)
		what = "padding does not end at the end of the ring";
	else if (sb_rec_size_al(len, sub->align) > room)
		what = "record runs past the end of the ring";
	else
		what = "sequence number went backwards";
	sbi_error(SB_ECORRUPT,
		  "topic %s: corrupt record at position %llu: %s (type 0x%04x len %u seq %llu); skipped to %llu",
		  sub->seg->hdr->name, (unsigned long long)pos, what, type, len,
		  (unsigned long long)sb_load_relaxed(&((struct sb_rec_hdr *)h)->seq),
		  (unsigned long long)sb_load_relaxed(&sub->prod->tail));
	resync_to_tail(sub, true);
	return SB_ECORRUPT;
}

int sbi_peek_slow(struct sb_ring_sub *sub, struct sb_ring_view *v)
{
	int rc = sb_ring_peek_batch(sub, v, 1);

	sbi_sub_refast(sub);
	return rc < 0 ? rc : SB_OK;
}

/* --------------------------------------------------------------- waiting */

static bool has_data(const struct sb_ring_sub *sub)
{
	/* ACQUIRE pairs with the committers' RELEASE of tail. */
	return sb_load_acquire(&sub->prod->tail) != sub->cursor;
}

/* While spinning on tail, keep the next record's first two lines coming
 * too (docs/ring.md section 3.2), so that the peek after the wait does not
 * fetch them one after the other once tail has moved. */
static void prefetch_cursor_lines(const struct sb_ring_sub *sub)
{
	uint64_t off = sub->cursor & sub->mask;

	__builtin_prefetch(sub->data + off, 0, 3);
	sbi_prefetch_wait_line(sub->data, off, sub->mask);
}

static void futex_sleep(struct sb_ring_sub *sub, uint64_t max_ns)
{
	struct sb_sub_area *subs = sub->subs;
	struct timespec ts;
	uint32_t bell;

	atomic_fetch_add(&subs->sleepers, 1); /* SEQ_CST: handshake 2 */
	/* RELAXED: read only by clean-up after our death (sb_layout.h). */
	atomic_fetch_or_explicit(&sub->slot->flags, SB_SUB_F_SLEEPING, memory_order_relaxed);
	bell = atomic_load(&subs->bell);
	atomic_thread_fence(memory_order_seq_cst);
	if (!has_data(sub)) {
		if (max_ns > SLEEP_SLICE_NS)
			max_ns = SLEEP_SLICE_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)max_ns;
		/* Shared (not PRIVATE) futex: the word lives in a segment that
		 * other processes map. */
		syscall(SYS_futex, &subs->bell, FUTEX_WAIT, bell, &ts, NULL, 0);
	}
	atomic_fetch_and_explicit(&sub->slot->flags, ~SB_SUB_F_SLEEPING, memory_order_relaxed);
	atomic_fetch_sub(&subs->sleepers, 1);
}

int sb_ring_wait(struct sb_ring_sub *sub, uint64_t timeout_ns)
{
	uint64_t deadline = 0, spins = 0;

	if (has_data(sub))
		return SB_OK;
	if (timeout_ns)
		deadline = sb_mono_ns() + timeout_ns;
	if (sub->wait == SB_WAIT_STREAM) {
		/* Nothing of the cursor's lines is fetched: they are the lines
		 * the publisher is filling (SB_STREAM_SLIP_PAUSES). */
		for (;;) {
			for (unsigned q = 0; q < SB_STREAM_SLIP_PAUSES; q++)
				sb_cpu_relax();
			if (has_data(sub))
				return SB_OK;
			if (deadline && (++spins & 15) == 0 && sb_mono_ns() >= deadline)
				return SB_ETIMEDOUT;
		}
	}
	for (;;) {
		if (has_data(sub))
			return SB_OK;
		++spins;
		prefetch_cursor_lines(sub);
		if (sub->wait == SB_WAIT_YIELD) {
			/* Adaptive: spins while the core is ours, yields at once
			 * while another thread waits for it (sb_backoff.h). */
			sb_backoff_idle(&sub->backoff);
			if (deadline && (sub->backoff.empty == 0 || (spins & 1023) == 0) && sb_mono_ns() >= deadline)
				return SB_ETIMEDOUT;
			continue;
		}
		if (spins < SPIN_BEFORE_YIELD || sub->wait == SB_WAIT_SPIN) {
			sb_cpu_relax();
			if (deadline && (spins & 1023) == 0 && sb_mono_ns() >= deadline)
				return SB_ETIMEDOUT;
			continue;
		}
		if (deadline && sb_mono_ns() >= deadline)
			return SB_ETIMEDOUT;
		futex_sleep(sub, deadline ? deadline - sb_mono_ns() : SLEEP_SLICE_NS);
	}
}

void sbi_doorbell_ring(struct sb_sub_area *subs)
{
	atomic_thread_fence(memory_order_seq_cst); /* handshake 2 */
	if (atomic_load_explicit(&subs->sleepers, memory_order_relaxed) != 0) {
		atomic_fetch_add_explicit(&subs->bell, 1, memory_order_release);
		syscall(SYS_futex, &subs->bell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

/* ---------------------------------------------------------------- repair */

/* Publish records covering [pos, end) that readers skip (ABORT, or PAD where
 * the range reaches the end of the ring), in commit order: zero the word
 * past the range, write all but the first, RELEASE the first (pair P2). */
static void fill_aborted(const struct sb_seg *seg, uint64_t pos, uint64_t end, uint64_t seq)
{
	uint64_t cap = seg->data_size, mask = cap - 1, z = end;
	struct sb_rec_hdr *first = NULL, *zh;
	uint64_t first_word = 0;

	if (cap - (z & mask) < SB_REC_HDR_SIZE)
		z += cap - (z & mask);
	zh = (struct sb_rec_hdr *)(seg->data + (z & mask));
	sb_store_relaxed(&zh->word, 0);
	sb_store_relaxed(&zh->seq, seq);
	while (pos < end) {
		uint64_t room = cap - (pos & mask);
		uint64_t piece = end - pos < room ? end - pos : room;
		struct sb_rec_hdr *rh = (struct sb_rec_hdr *)(seg->data + (pos & mask));

		if (piece >= SB_REC_HDR_SIZE) {
			uint64_t w = sb_rec_word((uint32_t)(piece - SB_REC_HDR_SIZE),
						 piece == room ? SB_REC_PAD : SB_REC_ABORT, UINT16_MAX);
			sb_store_relaxed(&rh->seq, seq);
			if (!first) {
				first = rh;
				first_word = w;
			} else {
				sb_store_relaxed(&rh->word, w);
			}
		}
		pos += piece;
	}
	if (first)
		sb_store_release(&first->word, first_word);
}

/* Does a publisher other than slot `self` intend a claim starting at pos?
 * (RELAXED: the intents of the dead; a live one's is at worst stale, and
 * then it names a boundary head had.) */
static bool claim_starts_at(const struct sb_prod_ctl *prod, uint32_t hwm, uint32_t self, uint64_t pos)
{
	for (uint32_t j = 0; j < hwm; j++)
		if (j != self && sb_load_relaxed(&prod->pub[j].intent_pos) == pos)
			return true;
	return false;
}

int sb_ring_repair(const struct sb_seg *seg, uint64_t stuck_tail)
{
	struct sb_prod_ctl *prod;
	uint64_t t, h, end = 0;
	uint32_t hwm;

	if (!seg || !seg->base || seg->access != SB_SEG_ADMIN)
		return sbi_error(SB_EINVAL, "repair needs an admin mapping");
	prod = seg->prod;
	t = sb_load_acquire(&prod->tail);
	h = sb_load_relaxed(&prod->head);
	if (t != stuck_tail || h == t)
		return 0;
	hwm = sb_load_acquire(&prod->pub_slots_hwm);
	if (hwm > seg->max_pubs)
		hwm = seg->max_pubs;
	/* The owner of the claim at t left intent (t, len).  So may a publisher
	 * that died after writing its intent but before its CAS (which would
	 * have failed): its len is what it meant to claim.  The real extent
	 * ends where the next claim begins: at head, or at the intent of the
	 * publisher that claimed next (it waits in commit, intent still set).
	 * An intent is always a value head had, and head never stood inside
	 * the owner's claim, so the shortest candidate that ends on such a
	 * boundary is the owner's. */
	for (uint32_t i = 0; i < hwm; i++) {
		uint64_t ip = sb_load_relaxed(&prod->pub[i].intent_pos);
		uint64_t il = sb_load_relaxed(&prod->pub[i].intent_len);

		if (ip != t || il == 0 || il > h - t || (end != 0 && t + il >= end))
			continue;
		if (t + il != h && !claim_starts_at(prod, hwm, i, t + il))
			continue;
		end = t + il;
	}
	if (end == 0 && (sb_load_relaxed(&prod->publishers) & SB_PUBS_EXCLUSIVE_BIT))
		end = h; /* one claimer only: the open claim is all of [tail, head) */
	if (end == 0)
		return sbi_error(SB_ECORRUPT, "topic %s: cannot establish the extent of the claim at %llu",
				 seg->hdr->name, (unsigned long long)t);
	fill_aborted(seg, t, end, sb_load_relaxed(&prod->next_seq));
	/* RELEASE (CAS): pairs with the subscribers' ACQUIRE of tail, like a
	 * commit; fails harmlessly if the owner committed after all. */
	if (!atomic_compare_exchange_strong_explicit(&prod->tail, &t, end, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	atomic_fetch_add_explicit(&prod->repairs, 1, memory_order_relaxed);
	sbi_log(SB_LOG_WARN, "ring", "msg=\"repaired abandoned claim\" topic=%s from=%llu to=%llu",
		seg->hdr->name, (unsigned long long)t, (unsigned long long)end);
	return 1;
}
