/*
 * engine_pvt.h - the protocol engines' private state (internal to
 * engine_tx.c and engine_rx.c; everyone else sees struct sbb_sender and
 * struct sbb_receiver as opaque and sizes them with sbb_*_size()).
 *
 * The design notes (positions, fragments, selective repeat: the receiver's
 * out-of-order store and NAK rounds, the sender's resend queue and repeat
 * suppression; window, resync and loss accounting) are at the top of
 * engine_tx.c and engine_rx.c.
 */
#ifndef SBB_ENGINE_PVT_H
#define SBB_ENGINE_PVT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "sb_ring.h"
#include "wire.h"

/* Single-writer counters: the owning worker adds with a relaxed store of
 * load + n, the daemon's control thread reads them with relaxed loads
 * (bridge.c read_counters): no RMW needed, no torn value on 64-bit. */
#define SBB_ENG_CTR(e, field, n) \
	__atomic_store_n(&(e)->ctr.field, (e)->ctr.field + (uint64_t)(n), __ATOMIC_RELAXED)

#define SBB_ZC_MAX 4096u    /* zero-copy bodies in flight per sender (then: copy) */
#define SBB_HIST 1024u      /* recent DATA frames remembered for NAK answers */
#define SBB_MARKS 4096u     /* sender: one record boundary remembered per 1/4096 of the ring */
#define SBB_NAK_GAPS 16u    /* receiver: gaps named per NAK round */
#define SBB_RTQ 16u         /* sender: NAKed ranges waiting to be resent */
#define SBB_RT_RECENT 16u   /* sender: ranges resent lately (repeat NAKs ignored) */

/* A receiver the sender has heard from (by source MAC). */
struct sbb_peer {
	uint8_t mac[6];
	bool used;
	bool tethered;       /* asked us to hold the ring (SBW_S_TETHERED) */
	bool synced;         /* its last STATUS was in our session, no RESYNC */
	uint64_t acked;      /* its committed frontier (our positions) */
	uint64_t window;     /* bytes it can take beyond acked */
	uint64_t want_seq;   /* its next seq, as of its last STATUS */
	bool answered;       /* its RESYNC for want_seq was answered (frontier moved) */
	uint64_t last_ns;    /* last STATUS or NAK */
};

/* A SETUP waiting to go out. */
struct sbb_setup_q {
	bool due;
	uint8_t dst[6];
	uint64_t pos, seq, lost;
};

/* One DATA frame sent recently: where it started and where it left the
 * receiver, so that a NAK at either point is answered without a walk. */
struct sbb_hist {
	uint64_t pos;        /* frame start (whole records: may precede skips) */
	uint64_t end;        /* the receiver's expected position after it */
	uint64_t seq;        /* seq of the next data record at pos / the fragment's record */
	uint64_t end_seq;    /* seq of the next data record at end (fragment: its record unless last) */
	uint64_t rec;        /* fragment: its record's start; UINT64_MAX for whole records */
	uint32_t total;      /* fragment: 16 + len */
	bool end_mid;        /* end lies inside rec (a fragment that was not the last) */
};

/* A record boundary the sender sent from or up to, and the seq of the
 * next data record there: where a resync or NAK walk may start.  The ring
 * is cut into SBB_MARKS stripes; each keeps the highest boundary sent in
 * it, so no walk reads more than about two stripes of headers. */
struct sbb_mark {
	uint64_t pos;
	uint64_t seq;
};

/* A range [pos, upto) of the sender's ring to resend (selective repeat). */
struct sbb_range {
	uint64_t pos, upto;
	uint64_t ns;         /* recent: when its last frame went out */
	bool sampled;        /* recent: an RTT sample was taken from it (or none may be) */
};

struct sbb_sender {
	struct sbb_sender_cfg cfg;
	struct sb_ring_sub sub;      /* our slot; we read at positions of our own */
	const struct sb_seg *seg;
	const uint8_t *data;
	uint64_t cap, mask, align;
	const struct sb_prod_ctl *prod;
	uint64_t session;
	uint32_t max_record;
	uint32_t max_body;           /* DATA body bytes per frame */
	char topic[SB_TOPIC_NAME_MAX];
	uint16_t name_len;
	bool tethered;
	bool ever_peer;              /* a receiver has spoken: stop holding the start */
	bool hb_now;                 /* a HEARTBEAT is due at once (NAK for data gone) */
	bool window_closed;
	uint64_t cursor;             /* what our slot says we consumed */
	uint64_t safe_from;          /* tethered: reads below this are validated */

	/* Send frontier: the next byte to send, a record boundary unless mid. */
	uint64_t f_pos;
	uint64_t f_seq;              /* seq of the next data record at f_pos (mid: of f_rec) */
	bool f_mid;
	uint64_t f_rec;              /* mid: the record being fragmented */
	uint32_t f_total;
	uint64_t high;               /* highest end ever sent (retransmits are below) */

	/* Selective repeat: while rt, the f_* fields above are the cursor of
	 * the range being resent, rt_cur, and the sv_* fields the send
	 * frontier to resume at once it is done. */
	bool rt;
	struct sbb_range rt_cur;
	uint64_t sv_pos, sv_seq, sv_rec;
	uint32_t sv_total;
	bool sv_mid;
	struct sbb_range rtq[SBB_RTQ];       /* waiting: sorted by pos, disjoint */
	uint32_t rtq_n;
	struct sbb_range recent[SBB_RT_RECENT];
	uint32_t recent_next;
	uint64_t srtt_ns;                    /* smoothed NAK-answer round trip (0: none yet) */
	uint32_t rt_backoff;                 /* hold doublings since the last clean sample */

	struct sbb_peer peer[SBB_MAX_RECEIVERS];
	struct sbb_setup_q setup[SBB_MAX_RECEIVERS + 1];
	uint64_t last_tx_ns, last_setup_ns;

	/* Zero-copy bodies the NIC still holds: a FIFO of their positions
	 * (UINT64_MAX once done) and the lowest one outstanding. */
	uint64_t zc_pos[SBB_ZC_MAX];
	uint32_t zc_head, zc_n;
	uint64_t zc_min;

	struct sbb_hist hist[SBB_HIST];
	uint32_t hist_next;
	struct sbb_mark mark[SBB_MARKS];
	unsigned mark_shift;         /* log2(cap / SBB_MARKS): stripe of pos = pos >> mark_shift */

	struct sbb_counters ctr;
	uint8_t copy[SBW_MAX_FRAME]; /* body of a copied frame (validated snapshot) */
};

/* A DATA frame beyond the expected position, kept until the stream
 * reaches it: the parsed frame (body pointer set when it is replayed) and
 * a copy of its body. */
struct sbb_ooo {
	struct sbw_msg m;
	uint64_t end;                /* the expected position after it */
	uint8_t *body;               /* ooo_body bytes in the arena after the receiver */
};

struct sbb_receiver {
	struct sbb_receiver_cfg cfg;
	struct sb_ring_pub pub;      /* exclusive publisher of the local ring */
	const struct sb_seg *seg;
	uint32_t max_record;
	char topic[SB_TOPIC_NAME_MAX];
	size_t name_len;
	uint8_t sender_mac[6];

	bool synced;
	uint64_t session, last_session;
	uint64_t want;               /* unsynced: the seq asked for in RESYNC */
	uint64_t exp_pos;            /* E: expected position (a lower bound of record W's) */
	uint64_t exp_seq;            /* W: the sender's seq of the next record we need */
	uint64_t off;                /* local seq = sender seq + off */
	bool resync_req;             /* synced, but our data is gone: ask for W again */

	/* A fragmented record being received straight into an open claim. */
	bool part;
	uint64_t part_rec;           /* its start (sender positions) */
	uint32_t part_total, part_got;
	uint64_t part_seq;
	uint8_t *part_payload;

	bool gap;                    /* something beyond E was seen */
	uint64_t nak_pos, nak_upto;  /* the first gap of the last NAK round */
	uint64_t nak_due;
	uint64_t nak_next;           /* this round: next gap to name starts at or after */
	uint32_t nak_more;           /* this round: gaps still to name */
	bool bp_wait;                /* local ring full: NAK once it has room */
	uint64_t bp_need;

	bool status_now;
	uint64_t status_due;
	uint64_t since_status;       /* bytes accepted since the last STATUS */

	/* Out-of-order store: ooo_idx[0 .. ooo_n) are the used slots sorted
	 * by frame position, ooo_free[0 .. ooo_nfree) the free ones. */
	uint16_t ooo_idx[SBB_OOO_MAX];
	uint16_t ooo_free[SBB_OOO_MAX];
	uint32_t ooo_n, ooo_nfree;
	uint32_t ooo_cap;            /* cfg.ooo_max, at most SBB_OOO_MAX */
	uint32_t ooo_body;           /* bytes per store slot (cfg.ooo_body, at most SBW_MAX_FRAME) */
	uint32_t ooo_body_max;       /* largest DATA body stored: sizes the window while a gap is open */
	bool draining;               /* replaying stored frames (none is kept meanwhile) */

	struct sbb_counters ctr;
	struct sbb_ooo ooo[SBB_OOO_MAX];
};

#endif /* SBB_ENGINE_PVT_H */
