/*
 * engine_tx.c - the bridge's sender: one exported topic's ring -> DATA
 * frames; the ranges receivers NAK are resent from the ring (selective
 * repeat; engine.h has the contract).
 *
 * Design notes
 *
 * Positions.  Every position on the wire is a byte position of the sender's
 * ring.  A whole-record DATA frame covers [pos, next_pos): pos is the send
 * frontier, which may sit on PAD/ABORT records (and the 8-byte gap before
 * the wrap) that are skipped, not sent; then a run of DATA records that lie
 * contiguous in the ring (a run stops at the first non-DATA record, so it
 * never crosses the wrap), sent byte for byte as they lie in the ring (16-
 * byte header, payload, padding to rec_align); next_pos is the end of the
 * last record plus the PAD/ABORT records already committed after it.  A
 * record whose 16 + len bytes do not fit one frame's body goes out as
 * fragments: fragment k carries record bytes [frag_off, frag_off + n) with
 * pos = record start + frag_off (docs/wire.md: rec_pos = pos - frag_off),
 * frag_total = 16 + len, and next_pos = the end of the whole record in
 * every fragment (the last one's plus the skips committed after it: only
 * it moves the receiver there).  The receiver's expected position
 * after a non-last fragment is pos + n: the only positions a receiver ever
 * names are frame starts, ends of whole frames and those mid-record points.
 *
 * NAK: selective repeat.  A NAK names a gap [pos, upto) of one receiver's
 * stream (engine_rx.c).  upto > pos: the receiver holds the frames from
 * upto on (its out-of-order store), so only [pos, upto) is resent
 * (SBW_F_RETRANSMIT, counted in retransmits) and then the stream resumes
 * where it was: the send frontier is saved (sv_*), the f_* cursor walks the
 * range (a run of whole records stops at its end) and the frontier comes
 * back once the range is done.  A loss therefore costs its own bytes, not
 * everything sent after it.  upto == pos is no hint (the receiver keeps
 * nothing beyond the gap: its store is empty, or too full or too small to
 * have kept anything there): go-back-N, the send frontier moves back to
 * pos and everything from there is sent again; a range being resent and
 * the queue are dropped, they lie in what is resent anyway.  upto beyond
 * the frontier is clipped to it; a NAK at or beyond the frontier (not sent
 * yet: it will be), beyond tail or of another session changes nothing.  A NAK
 * from an unknown MAC is answered but creates no receiver (it would gate
 * the window with an unknown ack).
 *
 * Queue.  A selective NAK that arrives while a range is being resent waits
 * in rtq: at most SBB_RTQ ranges, sorted by pos, each merged with what it
 * overlaps or touches; when full, a newcomer merges into the last one
 * (some bytes resent twice, none missed).  A queued range is resolved when
 * its turn comes, against the frontier of that moment (dropped if at or
 * beyond it, upto clipped).  A queued range is always served, also when
 * the resend before it was given up on the way: the suppression below
 * ignores NAKs for queued ranges, so an orphaned one would stall its
 * receiver for good.
 *
 * Repeats.  A receiver repeats its NAKs every nak_interval until the gap is
 * filled, and a repeat often leaves before the resent frames arrive;
 * answering each would resend a range several times per round trip.  So
 * a NAK is ignored (naks_ignored) if its range is being resent, is queued,
 * or was resent less than a hold ago (the last SBB_RT_RECENT ranges are
 * remembered with the time their last frame went out, go-back-N rewinds
 * [pos, old frontier) with the time they began).  A selective NAK must lie
 * wholly inside such a range, a go-back-N NAK's pos inside it.  hold =
 * srtt x 1.25 (heartbeat_ns before the first sample), doubled per
 * ambiguous resend up to 8 times, at most receiver_timeout / 4, so a lost
 * resend is always asked for again and answered.  srtt
 * is smoothed 1/8 from STATUS acks: a STATUS whose acked_pos reaches past a
 * remembered range samples now - its send time (the newest such range
 * only) and resets the backoff.  Not from NAKs: only the first NAK of a
 * round names the receiver's position.  The sample includes up to a
 * status interval of receiver delay; holding a little longer costs no
 * data.  Karn: a range resent again before its previous resend was
 * sampled gives no sample from either, and doubles the hold (the round
 * trip is longer than we thought, or the resend was lost); go-back-N
 * rewinds give none either.
 *
 * Resolving a position.  A NAK into the middle of a fragmented record
 * resumes that record at that byte (frag_off = pos - record start), so a
 * long record is never restarted from its header after a loss.  To tell a
 * boundary from a mid-record point the sender looks the position up among
 * the last SBB_HIST frames it sent (their starts and ends, O(SBB_HIST)
 * compares); failing that it walks the record headers from the best
 * boundary it knows below the position (a recent frame's end, a
 * receiver's acknowledged position, a stripe mark, the oldest lap
 * boundary).  Marks: the ring is cut into SBB_MARKS stripes of cap / 4096
 * bytes, and every DATA frame sent leaves its start and end boundaries
 * (with their seqs) in their stripes, each stripe keeping its highest; so
 * a walk reads the headers of about two stripes (or two frames, whichever
 * is more) for anything the sender has sent, whatever the ring's size,
 * instead of up to a ring's worth, at 8-10 ns a header (an 8 MiB ring of
 * small records: 19-37 headers instead of 23400-36793, 5-9 us instead of
 * 0.2 ms; a 1 GiB ring could take 0.1 s, during which the worker served
 * nothing else).  The scan of the marks' stored values costs a few us.
 * Headers read are counted (walk_headers).  A NAK, or a queued range, for bytes
 * the ring no longer holds (untethered: overwritten) is answered with an
 * immediate HEARTBEAT whose oldest_pos is above the receiver's position
 * (any gap of a receiver lies above its own position); the receiver then
 * asks for its next seq with STATUS+RESYNC and gets a SETUP with the exact
 * loss (below).  A resend whose read fails on the way (overwritten
 * meanwhile) is given up the same way and the frontier resumes; one that
 * meets a corrupt header is given up and counted malformed.
 *
 * Window.  The sender sends only while the end of the next frame stays at
 * or below min over live receivers of (acked + min(cfg.window, advertised
 * window)); with nothing in flight (frontier == lowest ack) one frame may
 * go even if it is larger than the window, so a window smaller than a
 * frame cannot stall the stream; likewise a fragmented record whose start
 * is the lowest ack goes out to its end (the receiver claimed all of it at
 * the first fragment and acks only whole records).  Resending a range is
 * not held by the window (it repairs what is in flight already; a
 * receiver with a gap open advertises a window that ends at its store).
 * The window closing is
 * counted once per closing (backpressure).  No DATA goes out while no
 * receiver is known: a receiver always speaks first (STATUS+RESYNC), and a
 * RESYNC moves the frontier back (dropping any range) once per request,
 * not per repetition.
 *
 * Ring access.  The sender owns a subscriber slot but reads records at
 * positions of its own (frontier, NAKs, resync scans) with the ring's own
 * rules: ACQUIRE on the commit word (pair P2) before the header and bytes;
 * a read that is not protected by our cursor (untethered slot, below our
 * cursor, or below the join point safe_from) is a seqlock read: the bytes
 * are copied into a private buffer first and then checked against head
 * (acquire fence + head, pair P1) exactly like sbi_overwritten(); what may
 * have been overwritten while it was read is never sent.  Tethered: the
 * cursor is held at min(acked of the live tethered receivers, the lowest
 * zero-copy body still in the NIC); while no receiver was ever heard it
 * stays where attach put it (the oldest record); if receivers were heard
 * but none tethered is live, it follows tail (the publisher is free).  The
 * cursor only grows (sbi_sub_release_to).  Zero copy is used only for
 * bodies at or above both the cursor and safe_from of a tethered sender,
 * and a body registered in the FIFO holds the cursor below it until
 * sbb_sender_tx_done(): the publisher cannot reclaim a byte the NIC may
 * still read.  An untethered sender always copies (only a tethered cursor
 * keeps the publisher off the body).  A copied frame's body lives in the
 * sender until the next call into it.
 *
 * Resync.  STATUS with SBW_S_RESYNC, or from another session (0 included),
 * asks where the record with seq want_seq is.  locate() reads the seq at
 * the oldest intact lap boundary (every multiple of the capacity is a
 * record boundary whose header holds the seq of the next data record),
 * picks the best of the starting points whose seq it stored (frontier,
 * recent frames, stripe marks) without reading the ring, checks that one
 * and the receivers' acks against the ring, and walks the headers from the
 * highest whose seq is <= want_seq: about two stripes of headers, as for a
 * NAK (above).  The answer is a SETUP to that receiver's MAC: start_pos, the
 * start_seq found there and lost = start_seq - want_seq, modulo 2^64: a
 * value of 2^63 or more means the receiver is ahead of this ring (another
 * session's numbering) and nothing is counted lost.  A receiver adopts a
 * SETUP only if start_seq - lost equals the seq it needs, so an answer
 * meant for another receiver, or a stale one, is harmless.  If the ring
 * overran the frontier itself (untethered), the same SETUP goes to the
 * configured destination with lost = start_seq - (seq at the frontier):
 * exactly what every receiver that was up to date lost.  session = the
 * segment's creation epoch.
 *
 * Receivers are tracked by source MAC (SBB_MAX_RECEIVERS, for multicast
 * fan-out); one silent for receiver_timeout_ns stops gating and stops
 * limiting the window.  Idle: a HEARTBEAT (pos = frontier, next_seq,
 * oldest_pos) every heartbeat_ns without other traffic; while no receiver
 * is known, a SETUP announcing the frontier every setup_ns.
 *
 * Nothing here allocates after init or makes a system call.
 */
#include <string.h>

#include "engine_pvt.h"
#include "sb_error.h"

enum { RD_DATA, RD_SKIP, RD_GAP, RD_EMPTY, RD_GONE, RD_BAD };

struct rd {
	uint64_t size; /* bytes to the next boundary */
	uint64_t seq;  /* DATA: its seq; others: the next data record's (not RD_GAP) */
	uint32_t len;
};

size_t sbb_sender_size(void)
{
	return sizeof(struct sbb_sender);
}

const struct sbb_counters *sbb_sender_counters(const struct sbb_sender *s)
{
	return &s->ctr;
}

/* ------------------------------------------------------------ ring reads */

/* Reads at pos are seqlock reads (validated after the fact). */
static bool unsafe_at(const struct sbb_sender *s, uint64_t pos)
{
	return !s->tethered || pos < s->cursor || pos < s->safe_from;
}

/* May bytes at positions >= pos have been overwritten by now? */
static bool gone_at(const struct sbb_sender *s, uint64_t pos)
{
	/* ACQUIRE fence (pair P1): pairs with the claimer's release fence after
	 * its head store; if any byte we read came from a later lap, we see the
	 * head that claimed it. */
	atomic_thread_fence(memory_order_acquire);
	/* RELAXED: ordered by the fence above. */
	return sb_load_relaxed(&s->prod->head) + SB_REC_HDR_SIZE > pos + s->cap;
}

/* Lowest position whose bytes are still intact (any kind), and the oldest
 * lap boundary at or above it (a record boundary we can start from). */
static uint64_t oldest_intact(const struct sbb_sender *s)
{
	/* RELAXED: a bound; reads based on it are validated. */
	uint64_t h = sb_load_relaxed(&s->prod->head) + SB_REC_HDR_SIZE;

	return h > s->cap ? h - s->cap : 0;
}

static uint64_t oldest_boundary(const struct sbb_sender *s)
{
	uint64_t lo = oldest_intact(s);
	uint64_t b = (lo + s->mask) & ~s->mask;
	/* ACQUIRE pairs with the committers' RELEASE of tail (P2'). */
	uint64_t t = sb_load_acquire(&s->prod->tail);

	return b < t ? b : t;
}

/* Read the record boundary at pos (never beyond what a committer
 * published: the commit word is 0 there). */
static int rd_at(const struct sbb_sender *s, uint64_t pos, struct rd *r)
{
	uint64_t off = pos & s->mask, room = s->cap - off, w;
	const struct sb_rec_hdr *h;
	uint16_t type;

	r->len = 0;
	if (room < SB_REC_HDR_SIZE) {
		r->size = room; /* 8-byte gap before the wrap: nothing to read */
		r->seq = UINT64_MAX;
		return RD_GAP;
	}
	h = (const struct sb_rec_hdr *)(s->data + off);
	/* ACQUIRE (pair P2): pairs with the committer's RELEASE of this word;
	 * the header and payload of the record are complete. */
	w = sb_load_acquire(&h->word);
	/* RELAXED: ordered by the ACQUIRE above. */
	r->seq = sb_load_relaxed(&h->seq);
	if (unsafe_at(s, pos) && gone_at(s, pos))
		return RD_GONE;
	if (w == 0) {
		r->size = 0;
		return RD_EMPTY;
	}
	r->len = sb_rec_word_len(w);
	type = sb_rec_word_type(w);
	if (type == SB_REC_DATA) {
		r->size = sb_rec_size_al(r->len, s->align);
		if (r->len > s->max_record || r->size > room)
			return RD_BAD;
		return RD_DATA;
	}
	if (type == SB_REC_PAD) {
		r->size = SB_REC_HDR_SIZE + (uint64_t)r->len;
		if (r->size != room)
			return RD_BAD;
	} else if (type == SB_REC_ABORT) {
		r->size = sb_rec_size_al(r->len, s->align);
		if (r->size > room)
			return RD_BAD;
	} else {
		return RD_BAD;
	}
	/* A skipped record never runs past the claim frontier (a forged chain
	 * of them cannot send us ahead of the stream). */
	/* ACQUIRE: a bound like sbi_sub_next's; pairs with nothing more than
	 * the claimers' release fence (P1). */
	if (pos + r->size > sb_load_acquire(&s->prod->head))
		return RD_BAD;
	return RD_SKIP;
}

/* Seq of the next data record at boundary pos (gaps stepped over). */
static int seq_at(const struct sbb_sender *s, uint64_t pos, uint64_t *seq)
{
	struct rd r;
	int k = rd_at(s, pos, &r);

	if (k == RD_GAP)
		k = rd_at(s, pos + r.size, &r);
	if (k == RD_GONE || k == RD_BAD || k == RD_GAP)
		return -1;
	*seq = r.seq;
	return 0;
}

/* ------------------------------------------------------------- receivers */

static bool live(const struct sbb_sender *s, const struct sbb_peer *p, uint64_t now)
{
	return p->used && now - p->last_ns < s->cfg.receiver_timeout_ns;
}

static struct sbb_peer *peer_of(struct sbb_sender *s, const uint8_t mac[6], uint64_t now)
{
	struct sbb_peer *free_p = NULL, *oldest = NULL;

	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++) {
		struct sbb_peer *p = &s->peer[i];

		if (p->used && memcmp(p->mac, mac, 6) == 0)
			return p;
		if (!live(s, p, now)) {
			if (!p->used && !free_p)
				free_p = p;
			if (!oldest || p->last_ns < oldest->last_ns)
				oldest = p;
		}
	}
	if (!free_p)
		free_p = oldest; /* reuse a dead one; all live: refuse */
	if (!free_p)
		return NULL;
	memset(free_p, 0, sizeof(*free_p));
	memcpy(free_p->mac, mac, 6);
	free_p->used = true;
	free_p->last_ns = now;
	s->ever_peer = true;
	return free_p;
}

static void queue_setup(struct sbb_sender *s, const uint8_t dst[6], uint64_t pos, uint64_t seq, uint64_t lost)
{
	struct sbb_setup_q *q = NULL;

	for (unsigned i = 0; i <= SBB_MAX_RECEIVERS; i++) {
		if (s->setup[i].due && memcmp(s->setup[i].dst, dst, 6) == 0) {
			q = &s->setup[i];
			break;
		}
		if (!s->setup[i].due && !q)
			q = &s->setup[i];
	}
	if (!q)
		q = &s->setup[0];
	q->due = true;
	memcpy(q->dst, dst, 6);
	q->pos = pos;
	q->seq = seq;
	q->lost = lost;
}

/* ------------------------------------------------------------- frontier */

static void set_frontier(struct sbb_sender *s, uint64_t pos, uint64_t seq)
{
	s->f_pos = pos;
	s->f_seq = seq;
	s->f_mid = false;
}

/* The send frontier proper (while a range is resent, the saved one). */
struct front {
	uint64_t pos, seq, rec;
	uint32_t total;
	bool mid;
};

static struct front front_of(const struct sbb_sender *s)
{
	struct front fr;

	if (s->rt) {
		fr.pos = s->sv_pos;
		fr.seq = s->sv_seq;
		fr.rec = s->sv_rec;
		fr.total = s->sv_total;
		fr.mid = s->sv_mid;
	} else {
		fr.pos = s->f_pos;
		fr.seq = s->f_seq;
		fr.rec = s->f_rec;
		fr.total = s->f_total;
		fr.mid = s->f_mid;
	}
	return fr;
}

/* Stop resending: back to the saved frontier (queued ranges stay). */
static void rt_restore(struct sbb_sender *s)
{
	if (!s->rt)
		return;
	s->f_pos = s->sv_pos;
	s->f_seq = s->sv_seq;
	s->f_rec = s->sv_rec;
	s->f_total = s->sv_total;
	s->f_mid = s->sv_mid;
	s->rt = false;
}

/* Forget every range (the frontier itself is about to move back). */
static void rt_cancel(struct sbb_sender *s)
{
	rt_restore(s);
	s->rtq_n = 0;
}

/* Remember boundary pos (seq: the next data record's there) in its
 * stripe, unless the stripe already holds a higher one. */
static void mark_add(struct sbb_sender *s, uint64_t pos, uint64_t seq)
{
	struct sbb_mark *m = &s->mark[(pos >> s->mark_shift) & (SBB_MARKS - 1)];

	if (pos >= m->pos) {
		m->pos = pos;
		m->seq = seq;
	}
}

/* The highest remembered boundary in [lo, hi] whose seq is <= want, from
 * the stored values alone (the caller validates it against the ring).  A
 * pair stored at pos stays exact while pos >= lo: positions only grow, and
 * nothing rewrites a committed record in place. */
static bool mark_best(const struct sbb_sender *s, uint64_t lo, uint64_t hi, uint64_t want, uint64_t *pos)
{
	uint64_t best = 0;
	bool have = false;

	for (unsigned i = 0; i < SBB_MARKS; i++) {
		const struct sbb_mark *m = &s->mark[i];

		if (m->pos >= lo && m->pos <= hi && m->seq <= want && (!have || m->pos > best)) {
			best = m->pos;
			have = true;
		}
	}
	*pos = best;
	return have;
}

/* Boundary b, whose bytes are intact, is a better start for seq want
 * than *start: read its seq from the ring. */
static void consider(const struct sbb_sender *s, uint64_t b, uint64_t want, uint64_t lo, uint64_t *start,
		     bool *have)
{
	uint64_t q;

	if (b < lo || (*have && b <= *start))
		return;
	if (seq_at(s, b, &q) == 0 && q <= want) {
		*start = b;
		*have = true;
	}
}

/* A boundary whose seq we stored: keep the highest at or above lo whose
 * seq is <= want (validated against the ring once, by consider()). */
static void stored(uint64_t b, uint64_t q, uint64_t want, uint64_t lo, uint64_t *best, bool *have)
{
	if (b >= lo && q <= want && (!*have || b > *best)) {
		*best = b;
		*have = true;
	}
}

/* Where is the record with seq want?  Sets pos and seq: the boundary to
 * start at and the seq of the next data record there (== want unless it is
 * gone, or the receiver is ahead of us).  Starts from the highest boundary
 * we know (the oldest lap boundary, the frontier, receivers' acks, recent
 * frames, the stripe marks) whose seq is <= want, and walks the headers
 * from there: about two stripes (cap / 2048 bytes) at most, whatever the
 * ring's size, unless want lies beyond everything sent. */
static void locate(struct sbb_sender *s, uint64_t want, uint64_t *pos, uint64_t *seq)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t bo = oldest_boundary(s), lo = oldest_intact(s), sbo, start = 0, best = 0, p;
		bool have = false, have_best = false, retry = false;
		struct rd r;

		if (seq_at(s, bo, &sbo) < 0)
			continue; /* overrun while we looked: again */
		*pos = bo;
		*seq = sbo;
		consider(s, bo, want, lo, &start, &have);
		/* The frontier, recent frames and the stripe marks carry their
		 * seq: choose among them without reading the ring. */
		if (!s->f_mid)
			stored(s->f_pos, s->f_seq, want, lo, &best, &have_best);
		for (unsigned i = 0; i < SBB_HIST; i++) {
			const struct sbb_hist *h = &s->hist[i];

			if (h->end == 0)
				continue;
			if (h->rec == UINT64_MAX || h->pos == h->rec)
				stored(h->pos, h->seq, want, lo, &best, &have_best);
			if (!h->end_mid)
				stored(h->end, h->end_seq, want, lo, &best, &have_best);
		}
		if (mark_best(s, lo, UINT64_MAX, want, &p) && (!have_best || p > best)) {
			best = p;
			have_best = true;
		}
		if (have_best)
			consider(s, best, want, lo, &start, &have);
		for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++)
			if (s->peer[i].used)
				consider(s, s->peer[i].acked, want, lo, &start, &have);
		if (!have)
			return; /* gone: start at the oldest boundary */
		p = start;
		while (p - start <= s->cap) {
			int k = rd_at(s, p, &r);

			SBB_ENG_CTR(s, walk_headers, 1);
			if (k == RD_GAP) {
				p += r.size;
				continue;
			}
			if (k == RD_GONE) {
				retry = true;
				break;
			}
			if (k == RD_BAD)
				return; /* a corrupt header: start at the oldest boundary */
			if (k == RD_EMPTY) {
				/* Our tail: there if want is next, else the receiver
				 * is ahead of us (start at the oldest). */
				if (r.seq == want) {
					*pos = p;
					*seq = r.seq;
				}
				return;
			}
			if (r.seq >= want) {
				*pos = p; /* DATA with that seq, or skips before it */
				*seq = r.seq;
				return;
			}
			p += r.size;
		}
		if (!retry)
			return;
	}
}

/* The publisher overran the frontier (untethered): restart at the oldest
 * intact record and tell every receiver that was up to date what it lost. */
static void frontier_lapped(struct sbb_sender *s)
{
	uint64_t pos, seq, was = s->f_seq;

	locate(s, was, &pos, &seq);
	set_frontier(s, pos, seq);
	queue_setup(s, s->cfg.dst_mac, pos, seq, seq - was);
}

/* A record header that fails validation (a hostile or broken publisher):
 * resume at the newest record, counting what is skipped as lost. */
static void frontier_corrupt(struct sbb_sender *s)
{
	/* ACQUIRE pairs with the committers' RELEASE of tail (P2'). */
	uint64_t t = sb_load_acquire(&s->prod->tail), seq;

	SBB_ENG_CTR(s, malformed, 1);
	if (seq_at(s, t, &seq) < 0 || seq < s->f_seq)
		seq = s->f_seq;
	queue_setup(s, s->cfg.dst_mac, t, seq, seq - s->f_seq);
	set_frontier(s, t, seq);
}

/* A read on the way failed.  Resending a range: give the range up (its
 * receiver, told by the HEARTBEAT's oldest_pos, resyncs if it is gone) and
 * resume the frontier; else the frontier's own remedies. */
static void tx_lapped(struct sbb_sender *s)
{
	if (s->rt) {
		rt_restore(s);
		s->hb_now = true;
		return;
	}
	frontier_lapped(s);
}

static void tx_corrupt(struct sbb_sender *s)
{
	if (s->rt) {
		SBB_ENG_CTR(s, malformed, 1);
		rt_restore(s);
		return;
	}
	frontier_corrupt(s);
}

/* ------------------------------------------------------------ tethering */

static void update_cursor(struct sbb_sender *s, uint64_t now)
{
	uint64_t target = UINT64_MAX;
	bool any = false;

	if (!s->tethered) {
		sbi_sub_release_to(&s->sub, s->f_mid ? s->f_rec : s->f_pos);
		s->cursor = s->sub.cursor;
		return;
	}
	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++) {
		const struct sbb_peer *p = &s->peer[i];

		if (live(s, p, now) && p->tethered) {
			any = true;
			if (p->acked < target)
				target = p->acked;
		}
	}
	if (!any) {
		if (!s->ever_peer)
			return; /* hold the start until a receiver says where it is */
		/* ACQUIRE pairs with the committers' RELEASE of tail. */
		target = sb_load_acquire(&s->prod->tail);
	}
	if (s->zc_n && s->zc_min < target)
		target = s->zc_min;
	sbi_sub_release_to(&s->sub, target);
	s->cursor = s->sub.cursor;
}

/* ------------------------------------------------------------ history */

static void hist_add(struct sbb_sender *s, const struct sbb_hist *h)
{
	s->hist[s->hist_next] = *h;
	s->hist_next = (s->hist_next + 1) % SBB_HIST;
	if (h->rec == UINT64_MAX || h->pos == h->rec)
		mark_add(s, h->pos, h->seq);
	if (!h->end_mid)
		mark_add(s, h->end, h->end_seq);
}

/* ------------------------------------------------------------- NAKs */

struct point {
	uint64_t pos, seq, rec;
	uint32_t total;
	bool mid;
	bool seq_known;
};

/* Walk headers from boundary b (seq at b known) to pos. */
static int walk_to(struct sbb_sender *s, uint64_t b, uint64_t pos, struct point *pt)
{
	struct rd r;

	while (b <= pos) {
		int k = rd_at(s, b, &r);

		SBB_ENG_CTR(s, walk_headers, 1);
		if (k == RD_GONE || k == RD_BAD || k == RD_EMPTY)
			return k == RD_GONE ? -2 : -1;
		if (b == pos) {
			if (k == RD_GAP && seq_at(s, b, &pt->seq) < 0)
				return -2;
			if (k != RD_GAP)
				pt->seq = r.seq;
			pt->pos = pos;
			pt->mid = false;
			pt->seq_known = true;
			return 0;
		}
		if (pos < b + r.size) {
			if (k != RD_DATA)
				return -1;
			pt->pos = pos;
			pt->rec = b;
			pt->total = SB_REC_HDR_SIZE + r.len;
			pt->seq = r.seq;
			pt->seq_known = true;
			/* Inside the padding, or a record that was never
			 * fragmented: resend the record from its start. */
			pt->mid = pos < b + pt->total && pt->total > s->max_body;
			if (!pt->mid)
				pt->pos = b;
			return 0;
		}
		b += r.size;
	}
	return -1;
}

/* Resolve a NAKed position: boundary or mid-record, and its seq.
 * Returns 0, -1 (not a position we can resend from), -2 (gone). */
static int resolve(struct sbb_sender *s, uint64_t pos, struct point *pt)
{
	uint64_t best = 0;
	bool have_best = false;
	struct rd r;

	struct front fr = front_of(s);

	memset(pt, 0, sizeof(*pt));
	if (pos < oldest_intact(s))
		return -2;
	if (fr.mid && pos > fr.rec && pos < fr.rec + fr.total) {
		pt->pos = pos;
		pt->mid = true;
		pt->rec = fr.rec;
		pt->total = fr.total;
		pt->seq = fr.seq;
		pt->seq_known = true;
	} else if (s->rt && s->f_mid && pos > s->f_rec && pos < s->f_rec + s->f_total) {
		pt->pos = pos;
		pt->mid = true;
		pt->rec = s->f_rec;
		pt->total = s->f_total;
		pt->seq = s->f_seq;
		pt->seq_known = true;
	} else {
		for (unsigned i = 0; i < SBB_HIST && !pt->seq_known; i++) {
			const struct sbb_hist *h = &s->hist[i];

			if (h->end == 0 && h->pos == 0)
				continue;
			if (h->pos == pos) {
				pt->pos = pos;
				pt->seq = h->seq;
				pt->mid = h->rec != UINT64_MAX && pos != h->rec;
				pt->rec = h->rec;
				pt->total = h->total;
				pt->seq_known = true;
			} else if (h->end == pos) {
				pt->pos = pos;
				pt->seq = h->end_seq;
				pt->mid = h->end_mid;
				pt->rec = h->rec;
				pt->total = h->total;
				pt->seq_known = true;
			} else if (!h->end_mid && h->end < pos && (!have_best || h->end > best)) {
				best = h->end;
				have_best = true;
			}
		}
	}
	if (!pt->seq_known) {
		/* Walk from the highest boundary we know at or below pos whose
		 * bytes are intact: the oldest lap boundary, a recent frame's
		 * end, a receiver's ack.  A full tethered ring has its oldest
		 * lap boundary above the lowest ack, so the ack must count even
		 * when it is below that boundary. */
		uint64_t lo = oldest_intact(s), lap = oldest_boundary(s), b = 0, m;
		bool have = false;
		int rc;

		if (lap <= pos) {
			b = lap;
			have = true;
		}
		if (have_best && best >= lo && (!have || best > b)) {
			b = best;
			have = true;
		}
		if (mark_best(s, lo, pos, UINT64_MAX, &m) && (!have || m > b)) {
			b = m;
			have = true;
		}
		for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++) {
			const struct sbb_peer *p = &s->peer[i];

			if (p->used && p->synced && p->acked <= pos && p->acked >= lo && (!have || p->acked > b)) {
				b = p->acked;
				have = true;
			}
		}
		if (!have)
			return -2;
		rc = walk_to(s, b, pos, pt);
		if (rc < 0)
			return rc;
	}
	/* Still there?  Re-read the header we will resend from. */
	if (pt->mid) {
		int k = rd_at(s, pt->rec, &r);

		if (k == RD_GONE)
			return -2;
		if (k != RD_DATA || r.seq != pt->seq || SB_REC_HDR_SIZE + r.len != pt->total)
			return -1;
	} else {
		uint64_t q;

		if (seq_at(s, pt->pos, &q) < 0)
			return -2;
		if (q != pt->seq)
			return -1;
	}
	return 0;
}

static struct sbb_peer *known_peer(struct sbb_sender *s, const uint8_t mac[6])
{
	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++)
		if (s->peer[i].used && memcmp(s->peer[i].mac, mac, 6) == 0)
			return &s->peer[i];
	return NULL;
}

static void goto_point(struct sbb_sender *s, const struct point *pt)
{
	if (pt->mid) {
		s->f_pos = pt->pos;
		s->f_mid = true;
		s->f_rec = pt->rec;
		s->f_total = pt->total;
		s->f_seq = pt->seq;
	} else {
		set_frontier(s, pt->pos, pt->seq);
	}
}

static uint64_t nak_hold(const struct sbb_sender *s)
{
	uint64_t h = (s->srtt_ns ? s->srtt_ns + s->srtt_ns / 4 : s->cfg.heartbeat_ns) << s->rt_backoff;

	return h < s->cfg.receiver_timeout_ns / 4 ? h : s->cfg.receiver_timeout_ns / 4;
}

static bool covers(const struct sbb_range *q, uint64_t pos, uint64_t upto, bool sel)
{
	return q->pos <= pos && (sel ? upto <= q->upto : pos < q->upto);
}

/* Is this NAK a repeat of one being answered?  Its range is being resent
 * or waits to be, or was resent less than about a round trip ago (the
 * NAK left the receiver before the resent frames reached it). */
static bool nak_repeat(const struct sbb_sender *s, uint64_t pos, uint64_t upto, bool sel, uint64_t now)
{
	uint64_t hold = nak_hold(s);

	if (s->rt && covers(&s->rt_cur, pos, upto, sel))
		return true;
	for (unsigned i = 0; i < s->rtq_n; i++)
		if (covers(&s->rtq[i], pos, upto, sel))
			return true;
	for (unsigned i = 0; i < SBB_RT_RECENT; i++) {
		const struct sbb_range *q = &s->recent[i];

		if (q->ns && now - q->ns < hold && covers(q, pos, upto, sel))
			return true;
	}
	return false;
}

/* A range resent again before its last resend was acknowledged: no sample
 * from either (ambiguous, Karn), and the hold doubles until the next clean
 * sample (the round trip is longer than we thought, or the resend was
 * lost). */
static void rt_remember(struct sbb_sender *s, uint64_t pos, uint64_t upto, bool sample, uint64_t now)
{
	struct sbb_range *q = &s->recent[s->recent_next];

	for (unsigned i = 0; i < SBB_RT_RECENT && sample; i++) {
		struct sbb_range *o = &s->recent[i];

		if (o->ns && !o->sampled && o->pos < upto && pos < o->upto) {
			o->sampled = true;
			sample = false;
			if (s->rt_backoff < 8)
				s->rt_backoff++;
		}
	}

	q->pos = pos;
	q->upto = upto;
	q->ns = now ? now : 1;
	q->sampled = !sample;
	s->recent_next = (s->recent_next + 1) % SBB_RT_RECENT;
}

/* A receiver's STATUS acknowledges q: a range it now has past gives a
 * round-trip sample (the newest such range only: Karn), smoothed 1/8.
 * Not NAKs: only the first of a round names the receiver's position, the
 * others name later gaps.  The sample includes up to a status interval of
 * the receiver's delay: holding repeats a little longer costs no data. */
static void rtt_sample(struct sbb_sender *s, uint64_t q, uint64_t now)
{
	struct sbb_range *best = NULL;

	for (unsigned i = 0; i < SBB_RT_RECENT; i++) {
		struct sbb_range *r = &s->recent[i];

		if (r->ns == 0 || r->sampled || q < r->upto || q - r->upto > s->cap)
			continue;
		r->sampled = true;
		if (!best || r->ns > best->ns)
			best = r;
	}
	if (best && now >= best->ns) {
		uint64_t x = now - best->ns;

		if (x > s->cfg.receiver_timeout_ns)
			x = s->cfg.receiver_timeout_ns;
		s->srtt_ns = s->srtt_ns ? s->srtt_ns - s->srtt_ns / 8 + x / 8 : x;
		s->rt_backoff = 0;
	}
}

/* Queue [pos, upto) to be resent, merged with what overlaps or touches it;
 * full: it joins the last one (some bytes resent twice, none missed). */
static void rtq_add(struct sbb_sender *s, uint64_t pos, uint64_t upto)
{
	unsigned i = 0;

	while (i < s->rtq_n) {
		struct sbb_range *q = &s->rtq[i];

		if (pos <= q->upto && q->pos <= upto) {
			pos = pos < q->pos ? pos : q->pos;
			upto = upto > q->upto ? upto : q->upto;
			memmove(q, q + 1, (s->rtq_n - i - 1) * sizeof(*q));
			s->rtq_n--;
			continue;
		}
		i++;
	}
	if (s->rtq_n == SBB_RTQ) {
		struct sbb_range *q = &s->rtq[SBB_RTQ - 1];

		pos = pos < q->pos ? pos : q->pos;
		upto = upto > q->upto ? upto : q->upto;
		s->rtq_n--;
		rtq_add(s, pos, upto); /* may merge more: at most SBB_RTQ deep */
		return;
	}
	for (i = 0; i < s->rtq_n && s->rtq[i].pos < pos; i++)
		;
	memmove(&s->rtq[i + 1], &s->rtq[i], (s->rtq_n - i) * sizeof(s->rtq[0]));
	s->rtq[i].pos = pos;
	s->rtq[i].upto = upto;
	s->rtq[i].ns = 0;
	s->rtq[i].sampled = false;
	s->rtq_n++;
}

/* Start resending [pt->pos, upto), saving the frontier if not yet saved. */
static void rt_begin(struct sbb_sender *s, const struct point *pt, uint64_t upto)
{
	if (!s->rt) {
		s->sv_pos = s->f_pos;
		s->sv_seq = s->f_seq;
		s->sv_rec = s->f_rec;
		s->sv_total = s->f_total;
		s->sv_mid = s->f_mid;
		s->rt = true;
	}
	s->rt_cur.pos = pt->pos;
	s->rt_cur.upto = upto;
	goto_point(s, pt);
}

/* Start the next queued range that is still below the frontier and still
 * in the ring.  Returns true if one was started. */
static bool rt_next_queued(struct sbb_sender *s)
{
	while (s->rtq_n) {
		struct sbb_range q = s->rtq[0];
		uint64_t front = front_of(s).pos;
		struct point pt;
		int rc;

		memmove(&s->rtq[0], &s->rtq[1], (s->rtq_n - 1) * sizeof(s->rtq[0]));
		s->rtq_n--;
		if (q.pos >= front)
			continue;
		rc = resolve(s, q.pos, &pt);
		if (rc == -2) {
			s->hb_now = true;
		} else if (rc < 0) {
			SBB_ENG_CTR(s, malformed, 1);
		} else {
			rt_begin(s, &pt, q.upto < front ? q.upto : front);
			return true;
		}
	}
	return false;
}

/* The range being resent is done: the next queued one, else the frontier.
 * Also starts queued ranges that a resend given up on the way (tx_lapped,
 * tx_corrupt, an empty read) left behind: a queued range is always served,
 * so nak_repeat() may ignore NAKs for it without stalling the stream. */
static void rt_step(struct sbb_sender *s, uint64_t now)
{
	while (s->rt && s->f_pos >= s->rt_cur.upto) {
		rt_remember(s, s->rt_cur.pos, s->rt_cur.upto, true, now);
		if (!rt_next_queued(s))
			rt_restore(s);
	}
	if (!s->rt && s->rtq_n)
		rt_next_queued(s);
}

/* NAK [pos, upto): upto > pos names the gap's end (the receiver holds what
 * follows): resend that range, then resume at the frontier (selective
 * repeat).  upto == pos (no hint): go-back-N from pos.  Repeats of a NAK
 * being answered are ignored (nak_repeat). */
static void on_nak(struct sbb_sender *s, const struct sbw_msg *m, uint64_t now)
{
	/* Receivers join with STATUS; a NAK from a stranger creates nothing
	 * (it would gate the window with an unknown ack). */
	struct sbb_peer *p = known_peer(s, m->src_mac);
	uint64_t pos = m->u.nak.pos, upto = m->u.nak.upto;
	/* ACQUIRE pairs with the committers' RELEASE of tail. */
	uint64_t t = sb_load_acquire(&s->prod->tail);
	struct front fr = front_of(s);
	struct point pt;
	bool sel;
	int rc;

	SBB_ENG_CTR(s, naks_rx, 1);
	if (p)
		p->last_ns = now;
	if (m->h.session != s->session || pos > t)
		return;
	if (pos >= fr.pos)
		return; /* not sent yet: it will be */
	sel = upto > pos;
	if (upto > fr.pos)
		upto = fr.pos; /* beyond what we sent: everything up to the frontier */
	if (nak_repeat(s, pos, upto, sel, now)) {
		SBB_ENG_CTR(s, naks_ignored, 1);
		return;
	}
	if (sel && s->rt) {
		rtq_add(s, pos, upto); /* resolved when its turn comes */
		return;
	}
	rc = resolve(s, pos, &pt);
	if (rc == -2) {
		s->hb_now = true; /* its oldest_pos tells the receiver to resync */
		return;
	}
	if (rc < 0) {
		SBB_ENG_CTR(s, malformed, 1);
		return;
	}
	if (sel) {
		rt_begin(s, &pt, upto);
		return;
	}
	/* Go-back-N: the frontier itself moves back; every range is in it. */
	rt_cancel(s);
	goto_point(s, &pt);
	rt_remember(s, pt.pos, fr.pos, false, now);
}

static void on_status(struct sbb_sender *s, const struct sbw_msg *m, uint64_t now)
{
	const struct sbw_status *st = &m->u.status;
	struct sbb_peer *p = peer_of(s, m->src_mac, now);
	/* ACQUIRE pairs with the committers' RELEASE of tail. */
	uint64_t t = sb_load_acquire(&s->prod->tail);

	SBB_ENG_CTR(s, status_rx, 1);
	if (!p)
		return; /* SBB_MAX_RECEIVERS live already */
	p->last_ns = now;
	p->tethered = (st->flags & SBW_S_TETHERED) != 0;
	p->window = st->window;
	if ((st->flags & SBW_S_RESYNC) || m->h.session != s->session) {
		uint64_t pos, seq, want = (st->flags & SBW_S_RESYNC) ? st->want_seq : 0;
		bool again = !p->synced && p->answered && p->want_seq == want;

		locate(s, want, &pos, &seq);
		queue_setup(s, m->src_mac, pos, seq, seq - want);
		p->want_seq = want;
		/* Provisional: gate and count the window from where it resumes. */
		p->acked = pos;
		p->synced = false;
		p->answered = true;
		/* Rewind once per request: a receiver that keeps asking (its
		 * answers are lost, or it refuses them) must not make everyone
		 * else's stream restart every status interval. */
		if (!again) {
			struct front fr = front_of(s);

			if (!fr.mid ? pos < fr.pos : pos <= fr.rec) {
				rt_cancel(s);
				set_frontier(s, pos, seq);
			}
		}
		return;
	}
	p->want_seq = st->want_seq;
	p->answered = false;
	if (st->acked_pos > t)
		return; /* acknowledges what we never had: ignore the ack */
	rtt_sample(s, st->acked_pos, now);
	if (!p->synced) {
		p->synced = true;
		p->acked = st->acked_pos;
		SBB_ENG_CTR(s, resyncs, 1);
	} else if (st->acked_pos > p->acked) {
		p->acked = st->acked_pos;
	}
}

/* May this MAC speak for the export (cfg.receivers in engine.h)?  A
 * forged STATUS would otherwise make a receiver that gates a tethered ring
 * until receiver_timeout, and a forged NAK would make us resend. */
static bool may_speak(const struct sbb_sender *s, const uint8_t mac[6])
{
	if (!(s->cfg.dst_mac[0] & 1))
		return memcmp(mac, s->cfg.dst_mac, 6) == 0;
	if (s->cfg.n_receivers == 0)
		return true;
	for (unsigned i = 0; i < s->cfg.n_receivers && i < SBB_MAX_RECEIVERS; i++)
		if (memcmp(mac, s->cfg.receivers[i], 6) == 0)
			return true;
	return false;
}

void sbb_sender_input(struct sbb_sender *s, const struct sbw_msg *m, uint64_t now_ns)
{
	SBB_ENG_CTR(s, frames_rx, 1);
	SBB_ENG_CTR(s, bytes_rx, SBW_ETH_HLEN + (uint64_t)m->h.hdr_len + m->h.body_len);
	if (m->h.topic_id != s->cfg.topic_id)
		return;
	if ((m->h.type == SBW_NAK || m->h.type == SBW_STATUS) && !may_speak(s, m->src_mac)) {
		SBB_ENG_CTR(s, foreign_rx, 1);
		return;
	}
	if (m->h.type == SBW_NAK)
		on_nak(s, m, now_ns);
	else if (m->h.type == SBW_STATUS)
		on_status(s, m, now_ns);
}

/* ------------------------------------------------------------- frames */

static void frame_done(struct sbb_sender *s, struct sbb_txframe *f, uint64_t now)
{
	s->last_tx_ns = now;
	SBB_ENG_CTR(s, frames_tx, 1);
	SBB_ENG_CTR(s, bytes_tx, (uint64_t)f->hdr_len + f->body_len);
}

static int emit_setup(struct sbb_sender *s, struct sbb_txframe *f, const uint8_t dst[6], uint64_t pos,
		      uint64_t seq, uint64_t lost, uint64_t now)
{
	struct sbw_msg m;

	memset(&m, 0, sizeof(m));
	sbw_begin(f->hdr, dst, s->cfg.src_mac, SBW_SETUP, s->cfg.topic_id, s->session);
	m.u.setup.start_pos = pos;
	m.u.setup.start_seq = seq;
	m.u.setup.lost = lost;
	m.u.setup.max_record = s->max_record;
	m.u.setup.rec_align = (uint16_t)s->align;
	m.u.setup.name_len = s->name_len;
	f->hdr_len = (uint16_t)sbw_finish_split(f->hdr, &m, (const uint8_t *)s->topic, s->name_len);
	f->body = (const uint8_t *)s->topic;
	f->body_len = s->name_len;
	f->body_pos = 0;
	s->last_setup_ns = now;
	SBB_ENG_CTR(s, setups_tx, 1);
	frame_done(s, f, now);
	return 1;
}

static int emit_heartbeat(struct sbb_sender *s, struct sbb_txframe *f, uint64_t now)
{
	struct sbw_msg m;
	uint64_t lo = oldest_intact(s);
	struct front fr = front_of(s);

	memset(&m, 0, sizeof(m));
	sbw_begin(f->hdr, s->cfg.dst_mac, s->cfg.src_mac, SBW_HEARTBEAT, s->cfg.topic_id, s->session);
	m.u.hb.pos = fr.pos;
	m.u.hb.next_seq = fr.seq;
	m.u.hb.oldest_pos = lo < fr.pos ? lo : fr.pos;
	f->hdr_len = (uint16_t)sbw_finish(f->hdr, &m, 0);
	f->body = NULL;
	f->body_len = 0;
	f->body_pos = 0;
	s->hb_now = false;
	SBB_ENG_CTR(s, heartbeats_tx, 1);
	frame_done(s, f, now);
	return 1;
}

/* Where may the next frame end?  0: nowhere (window closed). */
static uint64_t window_limit(struct sbb_sender *s, uint64_t now, uint64_t *low)
{
	uint64_t lim = UINT64_MAX, lo = UINT64_MAX, minwin = UINT64_MAX;

	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++) {
		const struct sbb_peer *p = &s->peer[i];
		uint64_t w, e;

		if (!live(s, p, now))
			continue;
		w = p->window < s->cfg.window ? p->window : s->cfg.window;
		e = p->acked + w;
		if (e < lim)
			lim = e;
		if (p->acked < lo)
			lo = p->acked;
		if (p->window < minwin)
			minwin = p->window;
	}
	*low = lo;
	if (lo == UINT64_MAX)
		return 0;
	if (lo + s->cfg.window < lim)
		lim = lo + s->cfg.window;
	/* Nothing in flight: one frame may go whatever its size, so that a
	 * window smaller than a frame cannot stall the stream; and a record
	 * being fragmented whose start is the lowest ack goes out whole (the
	 * receiver has claimed all of it at the first fragment, and acks only
	 * whole records). */
	if (minwin > 0 && (s->f_mid ? s->f_rec : s->f_pos) <= lo) {
		uint64_t one = s->f_mid ? s->f_rec + s->f_total : s->f_pos + s->max_body + SB_REC_ALIGN_MAX;

		if (lim < one)
			lim = one;
	}
	return lim;
}

/* Committed PAD/ABORT records (and the gap) after end: next_pos covers
 * them.  Only what is already committed; later ones lead the next frame. */
static uint64_t trailing_skips(const struct sbb_sender *s, uint64_t end)
{
	struct rd r;

	for (unsigned n = 0; n < 4; n++) {
		int k = rd_at(s, end, &r);

		if (k != RD_SKIP && k != RD_GAP)
			break;
		end += r.size;
	}
	return end;
}

/* Hand out body bytes [pos, pos + len) of the ring: zero copy where that
 * is safe and wanted, else a pointer into the ring (copy done by the
 * caller before our next call) when our cursor protects them, else a
 * validated copy.  Returns false if they may have been overwritten. */
static bool body_out(struct sbb_sender *s, struct sbb_txframe *f, uint64_t first, uint64_t pos, uint32_t len,
		     bool zero_copy)
{
	const uint8_t *src = s->data + (pos & s->mask);

	f->body_len = len;
	f->body_pos = pos;
	if (!unsafe_at(s, first)) {
		if (zero_copy) {
			if (s->zc_n == SBB_ZC_MAX)
				goto copy;
			s->zc_pos[(s->zc_head + s->zc_n) % SBB_ZC_MAX] = pos;
			s->zc_n++;
			if (s->zc_n == 1 || pos < s->zc_min)
				s->zc_min = pos;
			SBB_ENG_CTR(s, zero_copy_frames, 1);
		} else {
			SBB_ENG_CTR(s, copied_frames, 1);
		}
		f->body = src;
		return true;
	}
copy:
	memcpy(s->copy, src, len);
	if (unsafe_at(s, first) && gone_at(s, first))
		return false;
	f->body = s->copy;
	SBB_ENG_CTR(s, copied_frames, 1);
	return true;
}

static void data_hdr(struct sbb_sender *s, struct sbb_txframe *f, uint64_t pos, uint64_t next_pos, uint64_t seq,
		     uint16_t count, uint32_t frag_off, uint32_t frag_total)
{
	struct sbw_msg m;

	memset(&m, 0, sizeof(m));
	sbw_begin(f->hdr, s->cfg.dst_mac, s->cfg.src_mac, SBW_DATA, s->cfg.topic_id, s->session);
	m.u.data.pos = pos;
	m.u.data.next_pos = next_pos;
	m.u.data.first_seq = seq;
	m.u.data.rec_count = count;
	m.u.data.rec_align = (uint16_t)s->align;
	m.u.data.frag_off = frag_off;
	m.u.data.frag_total = frag_total;
	m.u.data.flags = pos < s->high ? SBW_F_RETRANSMIT : 0;
	f->hdr_len = (uint16_t)sbw_finish_split(f->hdr, &m, f->body, f->body_len);
	if (pos < s->high)
		SBB_ENG_CTR(s, retransmits, 1);
}

/* The next fragment of the record at f_rec, from f_pos. */
static int next_fragment(struct sbb_sender *s, struct sbb_txframe *f, uint64_t lim, bool zero_copy, uint64_t now)
{
	uint64_t rec = s->f_rec, foff = s->f_pos - rec, end, next;
	uint32_t n;
	struct rd r;
	struct sbb_hist h;
	int k = rd_at(s, rec, &r);

	if (k == RD_GONE) {
		tx_lapped(s);
		return 0;
	}
	if (k != RD_DATA || r.seq != s->f_seq || SB_REC_HDR_SIZE + r.len != s->f_total) {
		tx_corrupt(s); /* cannot happen with an intact ring */
		return 0;
	}
	n = s->f_total - (uint32_t)foff;
	if (n > s->max_body)
		n = s->max_body;
	if (s->f_pos + n > lim && s->f_pos > rec)
		return -1; /* window */
	end = rec + r.size;
	if (!body_out(s, f, rec, s->f_pos, n, zero_copy)) {
		tx_lapped(s);
		return 0;
	}
	next = foff + n == s->f_total ? trailing_skips(s, end) : end;
	data_hdr(s, f, s->f_pos, next, r.seq, 0, (uint32_t)foff, s->f_total);
	h.pos = s->f_pos;
	h.seq = r.seq;
	h.rec = rec;
	h.total = s->f_total;
	if (foff == 0)
		SBB_ENG_CTR(s, records_tx, 1);
	SBB_ENG_CTR(s, fragments_tx, 1);
	if (foff + n == s->f_total) {
		set_frontier(s, next, r.seq + 1);
		h.end = next;
		h.end_seq = r.seq + 1;
		h.end_mid = false;
	} else {
		s->f_pos += n;
		h.end = s->f_pos;
		h.end_seq = r.seq;
		h.end_mid = true;
	}
	hist_add(s, &h);
	if (h.end > s->high)
		s->high = h.end;
	frame_done(s, f, now);
	return 1;
}

/* A DATA frame from the frontier: 1 built, 0 nothing (or a SETUP queued),
 * -1 window closed. */
static int next_data(struct sbb_sender *s, struct sbb_txframe *f, bool zero_copy, uint64_t now)
{
	uint64_t low, lim = window_limit(s, now, &low), p, first, end, seq0 = 0, last_seq = 0;
	uint32_t body = 0;
	unsigned count = 0;
	struct rd r;
	struct sbb_hist h;

	if (lim == 0)
		return 0;
	/* A resend fills a gap below what is in flight already: the window
	 * limits new data, not the repair of old. */
	if (s->rt && lim < s->rt_cur.upto)
		lim = s->rt_cur.upto;
	if (s->f_pos >= lim)
		return -1;
	if (s->f_mid)
		return next_fragment(s, f, lim, zero_copy, now);
	/* Leading skips. */
	p = s->f_pos;
	for (;;) {
		int k = rd_at(s, p, &r);

		if (k == RD_SKIP || k == RD_GAP) {
			p += r.size;
			if (p - s->f_pos > s->cap) {
				rt_restore(s); /* resending: cannot happen below the frontier */
				return 0;
			}
			continue;
		}
		if (k == RD_EMPTY) {
			rt_restore(s);
			return 0;
		}
		if (k == RD_GONE) {
			tx_lapped(s);
			return 0;
		}
		if (k == RD_BAD) {
			tx_corrupt(s);
			return 0;
		}
		break;
	}
	if (r.seq != s->f_seq) {
		/* Not the record we expected where we expected it: overrun
		 * while we looked, or a corrupt ring. */
		if (unsafe_at(s, p) && gone_at(s, p))
			tx_lapped(s);
		else
			tx_corrupt(s);
		return 0;
	}
	first = p;
	if (SB_REC_HDR_SIZE + (uint64_t)r.len > s->max_body) {
		/* Fragment: the first one starts at the record (wire.md). */
		s->f_mid = true;
		s->f_rec = p;
		s->f_total = SB_REC_HDR_SIZE + r.len;
		s->f_seq = r.seq;
		s->f_pos = p;
		return next_fragment(s, f, lim, zero_copy, now);
	}
	/* A run of whole records. */
	seq0 = r.seq;
	end = p;
	for (;;) {
		if (count > 0) {
			int k = rd_at(s, end, &r);

			if (k != RD_DATA || r.seq != last_seq + 1)
				break;
		}
		if (SB_REC_HDR_SIZE + (uint64_t)r.len > s->max_body || body + r.size > s->max_body ||
		    count == UINT16_MAX || (count > 0 && (end + r.size > lim || (s->rt && end >= s->rt_cur.upto))))
			break;
		body += (uint32_t)r.size;
		end += r.size;
		last_seq = r.seq;
		count++;
		if ((end & s->mask) == 0)
			break; /* the wrap: the run ends here */
	}
	end = trailing_skips(s, end);
	if (!body_out(s, f, first, first, body, zero_copy)) {
		tx_lapped(s);
		return 0;
	}
	data_hdr(s, f, s->f_pos, end, seq0, (uint16_t)count, 0, 0);
	SBB_ENG_CTR(s, records_tx, count);
	if (count > 1)
		SBB_ENG_CTR(s, batches, 1);
	h.pos = s->f_pos;
	h.seq = seq0;
	h.end = end;
	h.end_seq = last_seq + 1;
	h.rec = UINT64_MAX;
	h.total = 0;
	h.end_mid = false;
	hist_add(s, &h);
	set_frontier(s, end, last_seq + 1);
	if (end > s->high)
		s->high = end;
	frame_done(s, f, now);
	return 1;
}

/* If every live receiver already has more than our frontier (we were
 * restarted), skip ahead to the lowest of them. */
static void catch_up(struct sbb_sender *s, uint64_t now)
{
	uint64_t lo = UINT64_MAX, q;
	bool any = false;

	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++) {
		const struct sbb_peer *p = &s->peer[i];

		if (!live(s, p, now))
			continue;
		if (!p->synced)
			return;
		any = true;
		if (p->acked < lo)
			lo = p->acked;
	}
	if (!any || s->rt || s->f_mid || lo <= s->f_pos)
		return;
	if (seq_at(s, lo, &q) == 0)
		set_frontier(s, lo, q);
}

int sbb_sender_next(struct sbb_sender *s, struct sbb_txframe *f, bool zero_copy, uint64_t now_ns)
{
	bool any_live = false;
	int rc;

	for (unsigned i = 0; i < SBB_MAX_RECEIVERS; i++)
		any_live |= live(s, &s->peer[i], now_ns);
	rt_step(s, now_ns);
	catch_up(s, now_ns);
	update_cursor(s, now_ns);
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i <= SBB_MAX_RECEIVERS; i++) {
			struct sbb_setup_q *q = &s->setup[i];

			if (q->due) {
				q->due = false;
				return emit_setup(s, f, q->dst, q->pos, q->seq, q->lost, now_ns);
			}
		}
		if (s->hb_now)
			return emit_heartbeat(s, f, now_ns);
		if (!any_live || pass == 1)
			break;
		rc = next_data(s, f, zero_copy, now_ns);
		if (rc == 1) {
			s->window_closed = false;
			rt_step(s, now_ns);
			return 1;
		}
		if (rc < 0) {
			if (!s->window_closed)
				SBB_ENG_CTR(s, backpressure, 1);
			s->window_closed = true;
			break;
		}
		/* rc == 0: nothing to send, or a SETUP was queued: look again */
	}
	if (!any_live && !s->rt && !s->f_mid && now_ns - s->last_setup_ns >= s->cfg.setup_ns)
		return emit_setup(s, f, s->cfg.dst_mac, s->f_pos, s->f_seq, 0, now_ns);
	if (now_ns - s->last_tx_ns >= s->cfg.heartbeat_ns)
		return emit_heartbeat(s, f, now_ns);
	return 0;
}

void sbb_sender_tx_done(struct sbb_sender *s, uint64_t body_pos)
{
	uint32_t i;
	bool was_min;

	for (i = 0; i < s->zc_n; i++)
		if (s->zc_pos[(s->zc_head + i) % SBB_ZC_MAX] == body_pos)
			break;
	if (i == s->zc_n)
		return; /* not ours (or already given back) */
	was_min = body_pos == s->zc_min;
	s->zc_pos[(s->zc_head + i) % SBB_ZC_MAX] = UINT64_MAX;
	while (s->zc_n && s->zc_pos[s->zc_head] == UINT64_MAX) {
		s->zc_head = (s->zc_head + 1) % SBB_ZC_MAX;
		s->zc_n--;
	}
	if (was_min) {
		s->zc_min = UINT64_MAX;
		for (i = 0; i < s->zc_n; i++) {
			uint64_t p = s->zc_pos[(s->zc_head + i) % SBB_ZC_MAX];

			if (p < s->zc_min)
				s->zc_min = p;
		}
	}
}

/* ------------------------------------------------------------ lifecycle */

int sbb_sender_init(struct sbb_sender *s, const struct sb_seg *seg, const char *topic,
		    const struct sbb_sender_cfg *cfg)
{
	size_t n, body_room;
	int rc;

	if (!s || !seg || !seg->base || !topic || !cfg)
		return sbi_error(SB_EINVAL, "bridge sender: bad arguments");
	n = strlen(topic);
	if (n == 0 || n > SBW_NAME_MAX)
		return sbi_error(SB_EINVAL, "bridge sender: bad topic name");
	if (cfg->mtu < SBW_MIN_MTU || cfg->mtu + SBW_ETH_HLEN > SBW_MAX_FRAME)
		return sbi_error(SB_EINVAL, "bridge sender %s: mtu %u outside %u..%u", topic, cfg->mtu, SBW_MIN_MTU,
				 SBW_MAX_FRAME - SBW_ETH_HLEN);
	memset(s, 0, sizeof(*s));
	rc = sb_ring_sub_attach(&s->sub, seg, cfg->tethered ? SB_SUB_TETHERED : SB_SUB_UNTETHERED,
				cfg->tethered ? SB_START_OLDEST : SB_START_LATEST, SB_WAIT_SPIN);
	if (rc < 0)
		return rc;
	s->cfg = *cfg;
	if (s->cfg.receiver_timeout_ns == 0)
		s->cfg.receiver_timeout_ns = 2000000000u;
	if (s->cfg.window == 0)
		s->cfg.window = seg->data_size / 4;
	if (s->cfg.heartbeat_ns == 0)
		s->cfg.heartbeat_ns = 1000000u;
	if (s->cfg.setup_ns == 0)
		s->cfg.setup_ns = 10 * s->cfg.heartbeat_ns;
	s->seg = seg;
	s->data = seg->data;
	s->cap = seg->data_size;
	s->mask = seg->data_size - 1;
	s->align = seg->rec_align;
	s->prod = seg->prod;
	s->session = seg->hdr->epoch_ns ? seg->hdr->epoch_ns : 1;
	s->max_record = seg->max_record;
	memcpy(s->topic, topic, n);
	s->name_len = (uint16_t)n;
	s->tethered = cfg->tethered;
	body_room = cfg->mtu - (sbw_body_offset(SBW_DATA) - SBW_ETH_HLEN);
	/* Whole-record bodies are multiples of rec_align. */
	s->max_body = (uint32_t)(body_room & ~(s->align - 1));
	s->cursor = s->sub.cursor;
	s->safe_from = s->sub.safe_from;
	s->f_pos = s->sub.cursor;
	s->f_seq = s->sub.expected_seq;
	s->zc_min = UINT64_MAX;
	/* data_size is a power of two of at least 4 KiB (sb_seg_validate). */
	s->mark_shift = (unsigned)__builtin_ctzll(s->cap / SBB_MARKS ? s->cap / SBB_MARKS : 1);
	s->last_setup_ns = 0;
	s->last_tx_ns = 0;
	return SB_OK;
}

void sbb_sender_fini(struct sbb_sender *s)
{
	if (!s)
		return;
	sb_ring_sub_detach(&s->sub);
}
