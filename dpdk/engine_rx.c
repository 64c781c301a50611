/*
 * engine_rx.c - the bridge's receiver: DATA frames -> the local ring of the
 * same topic, with the sender's sequence numbers (engine.h has the
 * contract; the wire positions are explained in engine_tx.c).
 *
 * Design notes
 *
 * State.  Synchronised, the receiver knows the sender's session, W (exp_seq:
 * the sender's seq of the next record it needs) and E (exp_pos: a position
 * in the sender's ring at or below where that record starts; exactly there
 * after every whole frame).  Acceptance is decided by sequence numbers, not
 * positions: a whole-record frame is taken iff first_seq <= W <= its last
 * seq (records below W are skipped: a partial overlap after a
 * retransmission with other frame boundaries), a first fragment iff its
 * seq == W, a continuation iff it continues the open record at exactly
 * the byte we have (or overlaps it: the part already had is skipped).
 * Positions between E and the frame's pos can then only hold PAD/ABORT
 * records, which the sender never sends.  E moves to next_pos (or to the
 * byte after a fragment) once a frame is fully taken; it is what NAK and
 * STATUS name: the sender can always resend from it.
 *
 * Out-of-order store.  A frame that is not next (first seq > W, a
 * continuation beyond our byte) is out_of_order.  Rather than drop it and
 * have the sender resend everything after the loss, the receiver keeps it
 * in a store of ooo_max preallocated slots (cfg; 0 or more than
 * SBB_OOO_MAX: SBB_OOO_MAX), sorted by position: the parsed frame and a
 * copy of its body (ooo_stored).  Only plausible frames are kept: beyond E
 * by at most two rings and a frame, whole records validated first
 * (garbage must neither hold a slot nor name a gap); one at a position
 * already stored is a duplicate.  Full: a frame below the highest stored
 * one evicts it (a lower frame is needed sooner), a higher one is dropped.
 * Whenever the stream may have moved (after every DATA, when back-pressure
 * ends) the store is drained: frames that now continue the stream are
 * replayed through the ordinary path (none is stored meanwhile), frames
 * wholly below it are dropped as duplicates; a pass stops at the first
 * frame beyond E.  The store is emptied on every SETUP adopted and every
 * unsync: positions from before a jump mean nothing after it.
 *
 * NAK.  A gap at E (a frame beyond it, a HEARTBEAT whose pos or next_seq
 * is beyond it: tail loss, stored frames left after a drain) is NAKed at
 * once, unless E has not moved since the last round or still lies inside
 * the gap that round named first (its repair is under way), and then
 * every nak_interval until E moves: NAKs and resends can be lost, and the
 * sender ignores the repeats that come before its resend could have
 * arrived.  A round names first [E, upto), upto = the position of the
 * lowest stored frame beyond E: the sender resends just that range.  With
 * none stored, upto = E: no hint, and the sender goes back N from E.  So a
 * store that is full or tiny costs efficiency, never data: what it could
 * not keep is named later, as a gap before the next frame kept, or by a
 * go-back-N NAK once nothing is kept beyond E.  After a hinted first gap,
 * one per sbb_receiver_next() call, up to SBB_NAK_GAPS - 1 = 15 further
 * gaps between stored frames, [end of the frames stored below, pos of the
 * next stored frame), in position order: a burst of losses is repaired in
 * one round trip.  Frames below W are duplicates.  A HEARTBEAT whose
 * oldest_pos is above our committed frontier says the sender's ring no
 * longer holds what we need: we ask for W with STATUS+RESYNC (in session)
 * and the sender answers with a SETUP at the oldest record it has.
 *
 * Records are validated with sbw_next_record() before anything is claimed
 * (a malformed frame is counted and dropped, like a lost one), then claimed
 * in the local ring in batches, copied, numbered with
 * sb_ring_pub_set_seq(sender seq + off) and committed.  Fragments are
 * copied straight into one claim opened at the first fragment; the claim is
 * aborted (an ABORT record, no sequence number used) if the stream breaks
 * (new session, SETUP jump, fini).
 *
 * Resync and exact loss.  Without a session (start, restart) the receiver
 * sends STATUS with SBW_S_RESYNC and want = its ring's next seq
 * (sb_ring_pub_next_seq), every status_interval, and adopts a SETUP only if
 * start_seq - lost == want (mod 2^64), i.e. a SETUP that accounts for
 * exactly the record it needs.  It then expects start_pos / start_seq;
 * local numbers are sender numbers + off, off = local next seq - want (0 in
 * the ordinary cases: a fresh ring, a restart in the same session).  The
 * records lost, start_seq - want, go into gaps_unrecovered, and the first
 * record committed gets local seq next + lost (set_seq jumps forward), so a
 * local subscriber reports exactly that many lost (sbi_sub_next: lost = seq
 * - expected).  lost >= 2^63 means we are ahead of the sender's ring
 * (another session's numbering): off is chosen so that numbering continues
 * and nothing is counted.  In session, a SETUP is adopted on the same rule
 * against W (start_seq > W: the records between are gone).  A frame of a
 * newer session (epochs only grow) means the sender's segment was
 * recreated: the open claim is aborted and the receiver resyncs with want =
 * 0 (everything of the new session), off = local next seq, so the old
 * numbering continues and the new session's missing head is counted
 * exactly.  Frames of an older session are ignored.
 *
 * Flow control.  STATUS carries acked_pos (E, or the start of a record
 * being received), the window (free bytes of the local ring, from a gating
 * scan, plus what the open record has reserved), want_seq = W and
 * SBW_S_TETHERED; it goes out every status_interval and after ack_every
 * accepted bytes.  While a gap is open the window is also capped where the
 * out-of-order store would run out (the highest stored frame's end plus
 * the free slots at the largest body stored), and a STATUS goes out at
 * once when a gap opens and when it closes: a frame the full store refuses
 * would have to be resent too, so the sender is held to what the store
 * can keep (measured over af_packet with 5% loss: resends went from ~11
 * per lost frame to ~1).  Local ring full (a tethered local subscriber lags): the
 * frame is dropped, counted as backpressure, and once the ring has room
 * again for what was refused the receiver drains its store and NAKs E:
 * nothing is lost.
 *
 * Nothing here allocates after init or makes a system call.
 */
#include <string.h>

#include "engine_pvt.h"
#include "sb_error.h"

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint32_t cap_of(const struct sbb_receiver_cfg *cfg)
{
	return cfg->ooo_max && cfg->ooo_max < SBB_OOO_MAX ? cfg->ooo_max : SBB_OOO_MAX;
}

/* Store slot size: 8-byte multiples, so every slot stays aligned. */
static uint32_t body_of(const struct sbb_receiver_cfg *cfg)
{
	uint32_t b = cfg->ooo_body && cfg->ooo_body < SBW_MAX_FRAME ? cfg->ooo_body : SBW_MAX_FRAME;

	return (b + 7u) & ~7u;
}

size_t sbb_receiver_size(const struct sbb_receiver_cfg *cfg)
{
	return sizeof(struct sbb_receiver) + (size_t)cap_of(cfg) * body_of(cfg);
}

const struct sbb_counters *sbb_receiver_counters(const struct sbb_receiver *r)
{
	return &r->ctr;
}

static bool mac_zero(const uint8_t m[6])
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

static uint64_t acked(const struct sbb_receiver *r)
{
	return r->part ? r->part_rec : r->exp_pos;
}

/* Give up the record being received: its claim becomes an ABORT record
 * (no sequence number used) and E goes back to the record's start, a
 * boundary the sender can resend from. */
static void drop_partial(struct sbb_receiver *r)
{
	if (!r->part)
		return;
	sb_ring_abort(&r->pub);
	r->part = false;
	r->exp_pos = r->part_rec;
}

static void ooo_clear(struct sbb_receiver *r);

static void unsync(struct sbb_receiver *r, uint64_t want)
{
	drop_partial(r);
	if (r->synced)
		r->last_session = r->session;
	r->synced = false;
	r->session = 0;
	r->want = want;
	r->gap = false;
	r->resync_req = false;
	r->bp_wait = false;
	r->status_now = true;
	ooo_clear(r);
}

/* Bytes the local ring can take now (a gating scan). */
static uint64_t ring_room(struct sbb_receiver *r)
{
	struct sb_ring_pub *p = &r->pub;

	/* end = head never exceeds the limit: only refreshes gate_limit. */
	(void)sbi_pub_regate(p, p->head);
	return p->gate_limit > p->head + SB_REC_HDR_SIZE ? p->gate_limit - p->head - SB_REC_HDR_SIZE : 0;
}

/* A gap at E.  NAK at once unless E has not moved since the last round or
 * still lies inside the gap that round named first (its repair is under
 * way: the repeat comes after nak_interval). */
static void saw_gap(struct sbb_receiver *r, uint64_t now)
{
	bool inside = r->exp_pos == r->nak_pos || (r->exp_pos > r->nak_pos && r->exp_pos < r->nak_upto);

	if (!inside && !r->bp_wait && !r->resync_req)
		r->nak_due = now;
	r->gap = true;
}

/* ------------------------------------------------- out-of-order store */

static void ooo_clear(struct sbb_receiver *r)
{
	r->ooo_n = 0;
	r->ooo_nfree = r->ooo_cap;
	for (unsigned i = 0; i < r->ooo_cap; i++)
		r->ooo_free[i] = (uint16_t)(r->ooo_cap - 1 - i);
}

static void ooo_remove(struct sbb_receiver *r, unsigned i)
{
	r->ooo_free[r->ooo_nfree++] = r->ooo_idx[i];
	memmove(&r->ooo_idx[i], &r->ooo_idx[i + 1], (r->ooo_n - i - 1) * sizeof(r->ooo_idx[0]));
	r->ooo_n--;
}

static const struct sbb_ooo *ooo_at(const struct sbb_receiver *r, unsigned i)
{
	return &r->ooo[r->ooo_idx[i]];
}

/* Where the expected position is after this frame (docs/wire.md §3). */
static uint64_t frame_end(const struct sbw_msg *m)
{
	const struct sbw_data *d = &m->u.data;

	if (d->frag_total == 0 || d->frag_off + (uint64_t)m->body_len >= d->frag_total)
		return d->next_pos;
	return d->pos + m->body_len;
}

/* Keep a frame of our session that lies beyond E, if it is plausible and
 * there is room (else it is dropped: the NAK names its range later). */
static void ooo_keep(struct sbb_receiver *r, const struct sbw_msg *m)
{
	const struct sbw_data *d = &m->u.data;
	uint64_t span = 2 * r->seg->data_size + SBW_MAX_FRAME;
	unsigned i;
	struct sbb_ooo *e;

	if (r->draining || d->pos <= r->exp_pos || d->pos - r->exp_pos > span || m->body_len > r->ooo_body ||
	    frame_end(m) <= d->pos)
		return;
	if (d->frag_total == 0) {
		uint32_t off = 0, len;
		uint64_t seq = 0;
		const uint8_t *pl;
		unsigned n = 0;
		int rc;

		/* Validated now: garbage must not hold a slot or name a gap. */
		while ((rc = sbw_next_record(m, &off, r->max_record, &seq, &pl, &len)) == 1)
			n++;
		if (rc < 0 || n != d->rec_count || n == 0) {
			SBB_ENG_CTR(r, malformed, 1);
			return;
		}
	}
	for (i = 0; i < r->ooo_n && ooo_at(r, i)->m.u.data.pos < d->pos; i++)
		;
	if (i < r->ooo_n && ooo_at(r, i)->m.u.data.pos == d->pos) {
		SBB_ENG_CTR(r, duplicates, 1);
		return;
	}
	if (r->ooo_nfree == 0) {
		/* Full: a lower frame is worth more (it is needed sooner). */
		if (i == r->ooo_n)
			return;
		ooo_remove(r, r->ooo_n - 1);
	}
	memmove(&r->ooo_idx[i + 1], &r->ooo_idx[i], (r->ooo_n - i) * sizeof(r->ooo_idx[0]));
	r->ooo_idx[i] = r->ooo_free[--r->ooo_nfree];
	if (r->ooo_n++ == 0)
		r->status_now = true; /* a gap opened: the window shrinks to the store (emit_status) */
	if (m->body_len > r->ooo_body_max)
		r->ooo_body_max = m->body_len;
	e = &r->ooo[r->ooo_idx[i]];
	e->m = *m;
	memcpy(e->body, m->body, m->body_len);
	e->m.body = NULL;
	e->end = frame_end(m);
	SBB_ENG_CTR(r, ooo_stored, 1);
}

/* A frame beyond E: counted, kept if possible, and the gap NAKed. */
static void beyond(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	SBB_ENG_CTR(r, out_of_order, 1);
	ooo_keep(r, m);
	saw_gap(r, now);
}

/* A stored frame that holds nothing we still need. */
static bool ooo_stale(const struct sbb_receiver *r, const struct sbb_ooo *e)
{
	const struct sbw_data *d = &e->m.u.data;

	if (e->end <= r->exp_pos)
		return true;
	if (d->frag_total == 0)
		return d->first_seq + d->rec_count - 1 < r->exp_seq;
	return d->first_seq < r->exp_seq;
}

/* A stored frame the in-order path takes now. */
static bool ooo_next(const struct sbb_receiver *r, const struct sbb_ooo *e)
{
	const struct sbw_data *d = &e->m.u.data;

	if (d->frag_total == 0)
		return d->first_seq <= r->exp_seq && r->exp_seq <= d->first_seq + d->rec_count - 1;
	if (!r->part)
		return d->first_seq == r->exp_seq && d->frag_off == 0;
	return d->first_seq == r->part_seq && d->pos - d->frag_off == r->part_rec && d->frag_total == r->part_total &&
	       d->frag_off <= r->part_got;
}

static void advanced(struct sbb_receiver *r, uint64_t bytes)
{
	r->gap = false;
	r->since_status += bytes;
	if (r->since_status >= r->cfg.ack_every)
		r->status_now = true;
}

static void adopt(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t want)
{
	const struct sbw_setup *su = &m->u.setup;
	uint64_t lost = su->start_seq - want, next;

	drop_partial(r); /* an ABORT record: uses no sequence number */
	next = sb_ring_pub_next_seq(&r->pub);
	if (lost < (UINT64_C(1) << 63)) {
		/* In session W already maps to W + off (the jump is applied by
		 * set_seq at the next commit); unsynced, want maps to next. */
		if (!r->synced)
			r->off = next - want;
		if (lost)
			SBB_ENG_CTR(r, gaps_unrecovered, lost);
	} else {
		r->off = next - su->start_seq; /* ahead of the sender: continue */
	}
	r->session = m->h.session;
	r->synced = true;
	r->exp_pos = su->start_pos;
	r->exp_seq = su->start_seq;
	r->gap = false;
	ooo_clear(r); /* positions before the jump mean nothing now */
	r->resync_req = false;
	r->bp_wait = false;
	r->status_now = true;
	if (mac_zero(r->cfg.sender_mac))
		memcpy(r->sender_mac, m->src_mac, 6);
	SBB_ENG_CTR(r, resyncs, 1);
}

static void on_setup(struct sbb_receiver *r, const struct sbw_msg *m)
{
	const struct sbw_setup *su = &m->u.setup;

	SBB_ENG_CTR(r, setups_rx, 1);
	if (m->body_len != r->name_len || memcmp(m->body, r->topic, r->name_len) != 0 ||
	    su->max_record > r->max_record) {
		SBB_ENG_CTR(r, malformed, 1); /* another topic, or records we cannot hold */
		return;
	}
	if (r->synced && m->h.session != r->session) {
		if (m->h.session < r->session)
			return; /* an older session's */
		unsync(r, 0);
	}
	if (!r->synced) {
		if (m->h.session < r->last_session)
			return;
		if (su->start_seq - su->lost == r->want)
			adopt(r, m, r->want);
		return;
	}
	/* In session: only a SETUP that accounts exactly for W moves us. */
	if (su->start_seq - su->lost == r->exp_seq && su->start_seq >= r->exp_seq &&
	    (su->start_seq > r->exp_seq || su->start_pos > acked(r)))
		adopt(r, m, r->exp_seq);
}

/* Is this frame's session ours?  Handles a newer one. */
static bool in_session(struct sbb_receiver *r, const struct sbw_msg *m)
{
	if (!r->synced)
		return false;
	if (m->h.session == r->session)
		return true;
	if (m->h.session > r->session)
		unsync(r, 0);
	return false;
}

static void on_heartbeat(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	const struct sbw_heartbeat *hb = &m->u.hb;

	SBB_ENG_CTR(r, heartbeats_rx, 1);
	if (!in_session(r, m))
		return;
	if (hb->oldest_pos > acked(r)) {
		/* What we need is gone from the sender's ring. */
		if (!r->resync_req) {
			r->resync_req = true;
			r->status_now = true;
		}
		return;
	}
	if (hb->pos > r->exp_pos || hb->next_seq > r->exp_seq)
		saw_gap(r, now); /* tail loss */
}

/* Commit whole records [skip, count) of a validated frame.  Returns the
 * number committed. */
static unsigned commit_run(struct sbb_receiver *r, const struct sbw_msg *m, unsigned skip, bool *bp)
{
	uint32_t lens[SB_RING_BATCH_MAX];
	const uint8_t *src[SB_RING_BATCH_MAX];
	void *dst[SB_RING_BATCH_MAX];
	uint32_t off = 0, len;
	uint64_t seq = 0;
	const uint8_t *pl;
	unsigned idx = 0, done = 0;

	*bp = false;
	for (;;) {
		unsigned n = 0;
		uint64_t first = 0, bytes = 0;
		int rc;

		while (n < SB_RING_BATCH_MAX && sbw_next_record(m, &off, r->max_record, &seq, &pl, &len) == 1) {
			if (idx++ < skip)
				continue;
			if (n == 0)
				first = seq;
			lens[n] = len;
			src[n] = pl;
			bytes += len;
			n++;
		}
		if (n == 0)
			return done;
		if (sb_ring_pub_set_seq(&r->pub, first + r->off) < 0)
			return done; /* numbers would go back: refused before */
		rc = sb_ring_claim_batch(&r->pub, lens, n, dst);
		if (rc < 0) {
			if (rc == SB_EBACKPRESSURE) {
				*bp = true;
				r->bp_need = bytes + (uint64_t)n * SB_REC_HDR_SIZE;
			}
			return done;
		}
		for (unsigned i = 0; i < n; i++)
			if (lens[i])
				memcpy(dst[i], src[i], lens[i]);
		sb_ring_commit(&r->pub);
		done += n;
		r->exp_seq = first + n;
		SBB_ENG_CTR(r, records_rx, n);
	}
}

static void on_whole(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	const struct sbw_data *d = &m->u.data;
	uint64_t last = d->first_seq + d->rec_count - 1, skip;
	uint32_t off = 0, len;
	uint64_t seq = 0;
	const uint8_t *pl;
	unsigned n = 0;
	int rc;
	bool bp;

	if (r->part && (d->first_seq > r->part_seq || last < r->part_seq)) {
		if (d->first_seq > r->part_seq)
			beyond(r, m, now);
		else {
			SBB_ENG_CTR(r, duplicates, 1);
		}
		return;
	}
	if (last < r->exp_seq) {
		/* All had.  (E is not moved by what we do not take: a frame
		 * whose records were not validated names no position we trust.) */
		SBB_ENG_CTR(r, duplicates, 1);
		return;
	}
	if (d->first_seq > r->exp_seq) {
		beyond(r, m, now);
		return;
	}
	/* Validate every record before claiming anything. */
	while ((rc = sbw_next_record(m, &off, r->max_record, &seq, &pl, &len)) == 1)
		n++;
	if (rc < 0 || n != d->rec_count) {
		SBB_ENG_CTR(r, malformed, 1);
		saw_gap(r, now);
		return;
	}
	/* The record we are receiving in fragments, sent whole this time
	 * (the sender was restarted with a larger MTU): take it whole. */
	drop_partial(r);
	skip = r->exp_seq - d->first_seq;
	if (skip)
		SBB_ENG_CTR(r, duplicates, 1);
	n = commit_run(r, m, (unsigned)skip, &bp);
	if (skip + n == d->rec_count) {
		uint64_t was = r->exp_pos;

		r->exp_pos = d->next_pos > r->exp_pos ? d->next_pos : r->exp_pos;
		advanced(r, r->exp_pos - was);
		return;
	}
	/* Part of it (or none) went in: E stays at the frame, a lower bound
	 * of where W starts; the rest comes again after a NAK. */
	if (n)
		advanced(r, 0);
	if (bp) {
		SBB_ENG_CTR(r, backpressure, 1);
		r->bp_wait = true;
		r->gap = true;
		r->nak_due = now + r->cfg.nak_interval_ns;
	}
}

static void part_copy(struct sbb_receiver *r, const struct sbw_msg *m)
{
	const struct sbw_data *d = &m->u.data;
	/* Record bytes [frag_off, frag_off + body_len); we have [0, got). */
	uint32_t from = r->part_got - d->frag_off, n = m->body_len - from;

	memcpy(r->part_payload + (r->part_got - SB_REC_HDR_SIZE), m->body + from, n);
	r->part_got += n;
}

static void on_fragment(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	const struct sbw_data *d = &m->u.data;
	uint64_t rec = d->pos - d->frag_off;

	if (!r->part) {
		uint32_t off = 0, len;
		uint64_t seq = 0;
		const uint8_t *pl;
		void *dst;
		int rc;

		if (d->first_seq < r->exp_seq) {
			SBB_ENG_CTR(r, duplicates, 1);
			return;
		}
		if (d->first_seq > r->exp_seq || d->frag_off != 0) {
			beyond(r, m, now);
			return;
		}
		if (sbw_next_record(m, &off, r->max_record, &seq, &pl, &len) != 1) {
			SBB_ENG_CTR(r, malformed, 1);
			saw_gap(r, now);
			return;
		}
		if (sb_ring_pub_set_seq(&r->pub, seq + r->off) < 0) {
			SBB_ENG_CTR(r, malformed, 1);
			return;
		}
		rc = sb_ring_claim(&r->pub, len, &dst);
		if (rc < 0) {
			if (rc == SB_EBACKPRESSURE) {
				SBB_ENG_CTR(r, backpressure, 1);
				r->bp_wait = true;
				r->bp_need = sb_rec_size(len);
				r->gap = true;
				r->nak_due = now + r->cfg.nak_interval_ns;
			} else {
				SBB_ENG_CTR(r, malformed, 1);
			}
			return;
		}
		r->part = true;
		r->part_rec = rec;
		r->part_total = d->frag_total;
		r->part_seq = seq;
		r->part_payload = dst;
		r->part_got = SB_REC_HDR_SIZE;
		r->exp_pos = rec > r->exp_pos ? rec : r->exp_pos;
		part_copy(r, m);
		SBB_ENG_CTR(r, fragments_rx, 1);
	} else {
		if (d->first_seq < r->part_seq) {
			SBB_ENG_CTR(r, duplicates, 1);
			return;
		}
		if (d->first_seq > r->part_seq ||
		    (rec == r->part_rec && d->frag_total == r->part_total && d->frag_off > r->part_got)) {
			beyond(r, m, now);
			return;
		}
		if (rec != r->part_rec || d->frag_total != r->part_total) {
			SBB_ENG_CTR(r, out_of_order, 1); /* inconsistent with the open record */
			saw_gap(r, now);
			return;
		}
		if (d->frag_off + m->body_len <= r->part_got) {
			SBB_ENG_CTR(r, duplicates, 1);
			return;
		}
		if (d->frag_off < r->part_got)
			SBB_ENG_CTR(r, duplicates, 1); /* partly had */
		part_copy(r, m);
		SBB_ENG_CTR(r, fragments_rx, 1);
	}
	if (r->part_got < r->part_total) {
		r->exp_pos = r->part_rec + r->part_got;
		advanced(r, m->body_len);
		return;
	}
	/* The last fragment: the record is complete. */
	sb_ring_commit(&r->pub);
	r->part = false;
	SBB_ENG_CTR(r, records_rx, 1);
	r->exp_seq = r->part_seq + 1;
	r->exp_pos = d->next_pos;
	advanced(r, m->body_len);
}

static void dispatch(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	if (m->u.data.frag_total == 0)
		on_whole(r, m, now);
	else
		on_fragment(r, m, now);
}

/* The stream moved: stored frames that now continue it go through the
 * ordinary path, those wholly below it are dropped as duplicates.  Each
 * pass is O(stored); a pass ends at the first frame beyond E (sorted). */
static void drain(struct sbb_receiver *r, uint64_t now)
{
	unsigned i = 0;

	if (r->draining || r->ooo_n == 0)
		return;
	r->draining = true;
	while (i < r->ooo_n && r->synced && !r->bp_wait) {
		struct sbb_ooo *e = &r->ooo[r->ooo_idx[i]];

		if (ooo_stale(r, e)) {
			SBB_ENG_CTR(r, duplicates, 1);
			ooo_remove(r, i);
			continue;
		}
		if (!ooo_next(r, e)) {
			if (e->m.u.data.pos > r->exp_pos)
				break;
			i++;
			continue;
		}
		/* The slot is free now but not reused while draining. */
		ooo_remove(r, i);
		e->m.body = e->body;
		dispatch(r, &e->m, now);
		i = 0;
	}
	r->draining = false;
	if (r->ooo_n == 0)
		r->status_now = true; /* the gap closed: the window opens again */
	if (r->ooo_n && r->synced)
		saw_gap(r, now);
}

static void on_data(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now)
{
	if (!in_session(r, m))
		return;
	if (m->u.data.rec_align < SB_REC_ALIGN) {
		SBB_ENG_CTR(r, malformed, 1);
		return;
	}
	if (mac_zero(r->sender_mac))
		memcpy(r->sender_mac, m->src_mac, 6);
	dispatch(r, m, now);
	drain(r, now);
}

void sbb_receiver_input(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now_ns)
{
	SBB_ENG_CTR(r, frames_rx, 1);
	SBB_ENG_CTR(r, bytes_rx, SBW_ETH_HLEN + (uint64_t)m->h.hdr_len + m->h.body_len);
	if (m->h.topic_id != r->cfg.topic_id)
		return;
	switch (m->h.type) {
	case SBW_DATA:
		on_data(r, m, now_ns);
		break;
	case SBW_HEARTBEAT:
		on_heartbeat(r, m, now_ns);
		break;
	case SBW_SETUP:
		on_setup(r, m);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------- frames */

static const uint8_t *dest(const struct sbb_receiver *r)
{
	return mac_zero(r->sender_mac) ? bcast : r->sender_mac;
}

static int emit_status(struct sbb_receiver *r, struct sbb_txframe *f, uint64_t now)
{
	struct sbw_msg m;
	uint64_t room = ring_room(r);

	memset(&m, 0, sizeof(m));
	sbw_begin(f->hdr, dest(r), r->cfg.src_mac, SBW_STATUS, r->cfg.topic_id, r->synced ? r->session : 0);
	if (r->synced) {
		m.u.status.acked_pos = acked(r);
		m.u.status.want_seq = r->exp_seq;
		/* An open record has its bytes reserved already. */
		m.u.status.window = room + (r->part ? sb_rec_size(r->part_total - SB_REC_HDR_SIZE) : 0);
		/* While a gap is open nothing beyond it is acknowledged, and
		 * what arrives beyond it must fit the out-of-order store: a
		 * frame the full store refuses has to be resent as well.  So
		 * the window ends where the free slots (at the largest body
		 * stored) would run out beyond the highest stored frame, and
		 * opens again with the gap.  Resends are not held by it (the
		 * sender's window limits new data only). */
		if (r->ooo_n) {
			const struct sbb_ooo *last = ooo_at(r, r->ooo_n - 1);
			uint64_t ack = acked(r);
			uint64_t store = (last->end > ack ? last->end - ack : 0) + (uint64_t)r->ooo_nfree * r->ooo_body_max;

			if (store < m.u.status.window)
				m.u.status.window = store;
		}
		m.u.status.flags = r->resync_req ? SBW_S_RESYNC : 0;
	} else {
		m.u.status.want_seq = r->want;
		m.u.status.window = room;
		m.u.status.flags = SBW_S_RESYNC;
	}
	if (r->cfg.tethered)
		m.u.status.flags |= SBW_S_TETHERED;
	f->hdr_len = (uint16_t)sbw_finish(f->hdr, &m, 0);
	f->body = NULL;
	f->body_len = 0;
	f->body_pos = 0;
	r->status_now = false;
	r->status_due = now + r->cfg.status_interval_ns;
	r->since_status = 0;
	SBB_ENG_CTR(r, status_tx, 1);
	SBB_ENG_CTR(r, frames_tx, 1);
	SBB_ENG_CTR(r, bytes_tx, f->hdr_len);
	return 1;
}

/* The first gap between stored frames that starts at or after from. */
static bool next_gap(const struct sbb_receiver *r, uint64_t from, uint64_t *a, uint64_t *b)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < r->ooo_n; i++) {
		const struct sbb_ooo *e = ooo_at(r, i);

		if (i > 0 && e->m.u.data.pos > end && end >= from) {
			*a = end;
			*b = e->m.u.data.pos;
			return true;
		}
		if (i == 0 || e->end > end)
			end = e->end;
	}
	return false;
}

static int emit_nak(struct sbb_receiver *r, struct sbb_txframe *f, uint64_t pos, uint64_t upto)
{
	struct sbw_msg m;

	memset(&m, 0, sizeof(m));
	sbw_begin(f->hdr, dest(r), r->cfg.src_mac, SBW_NAK, r->cfg.topic_id, r->session);
	m.u.nak.pos = pos;
	m.u.nak.upto = upto;
	f->hdr_len = (uint16_t)sbw_finish(f->hdr, &m, 0);
	f->body = NULL;
	f->body_len = 0;
	f->body_pos = 0;
	SBB_ENG_CTR(r, naks_tx, 1);
	SBB_ENG_CTR(r, frames_tx, 1);
	SBB_ENG_CTR(r, bytes_tx, f->hdr_len);
	return 1;
}

int sbb_receiver_next(struct sbb_receiver *r, struct sbb_txframe *f, uint64_t now_ns)
{
	if (r->synced && r->bp_wait && now_ns >= r->nak_due) {
		if (ring_room(r) >= r->bp_need) {
			r->bp_wait = false;
			r->status_now = true; /* the window opened */
			r->nak_due = now_ns;
			drain(r, now_ns);
		} else {
			r->nak_due = now_ns + r->cfg.nak_interval_ns;
		}
	}
	if (r->synced && r->gap && !r->bp_wait && !r->resync_req && now_ns >= r->nak_due) {
		/* A round: first the gap at E, [E, the lowest frame kept beyond
		 * it) or [E, E) with none kept (no hint: resend from E), then
		 * the gaps between kept frames. */
		uint64_t upto = r->exp_pos;

		for (unsigned i = 0; i < r->ooo_n; i++)
			if (ooo_at(r, i)->m.u.data.pos > r->exp_pos) {
				upto = ooo_at(r, i)->m.u.data.pos;
				break;
			}
		r->nak_pos = r->exp_pos;
		r->nak_upto = upto;
		r->nak_next = upto;
		r->nak_more = upto > r->exp_pos ? SBB_NAK_GAPS - 1 : 0;
		r->nak_due = now_ns + r->cfg.nak_interval_ns;
		return emit_nak(r, f, r->exp_pos, upto);
	}
	if (r->synced && r->gap && r->nak_more) {
		uint64_t a, b;

		if (next_gap(r, r->nak_next, &a, &b)) {
			r->nak_more--;
			r->nak_next = b;
			return emit_nak(r, f, a, b);
		}
		r->nak_more = 0;
	}
	if (r->status_now || now_ns >= r->status_due)
		return emit_status(r, f, now_ns);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

int sbb_receiver_init(struct sbb_receiver *r, const struct sb_seg *seg, const char *topic,
		      const struct sbb_receiver_cfg *cfg)
{
	size_t n;
	int rc;

	if (!r || !seg || !seg->base || !topic || !cfg)
		return sbi_error(SB_EINVAL, "bridge receiver: bad arguments");
	n = strlen(topic);
	if (n == 0 || n > SBW_NAME_MAX)
		return sbi_error(SB_EINVAL, "bridge receiver: bad topic name");
	memset(r, 0, sizeof(*r));
	rc = sb_ring_pub_attach(&r->pub, seg, SB_PUB_EXCLUSIVE);
	if (rc < 0)
		return rc;
	r->cfg = *cfg;
	if (r->cfg.nak_interval_ns == 0)
		r->cfg.nak_interval_ns = 500000u;
	if (r->cfg.status_interval_ns == 0)
		r->cfg.status_interval_ns = 1000000u;
	if (r->cfg.ack_every == 0)
		r->cfg.ack_every = seg->data_size / 8;
	r->seg = seg;
	r->max_record = seg->max_record;
	memcpy(r->topic, topic, n);
	r->name_len = n;
	memcpy(r->sender_mac, cfg->sender_mac, 6);
	r->want = sb_ring_pub_next_seq(&r->pub);
	r->status_now = true;
	r->ooo_cap = cap_of(cfg);
	r->ooo_body = body_of(cfg);
	/* The arena sbb_receiver_size() counted: slot i of the store. */
	for (unsigned i = 0; i < r->ooo_cap; i++)
		r->ooo[i].body = (uint8_t *)(r + 1) + (size_t)i * r->ooo_body;
	ooo_clear(r);
	return SB_OK;
}

void sbb_receiver_fini(struct sbb_receiver *r)
{
	if (!r)
		return;
	/* Detach aborts an open fragment claim: an ABORT record, no seq. */
	sb_ring_pub_detach(&r->pub);
	r->part = false;
}
