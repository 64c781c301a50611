/*
 * engine.h - the bridge's reliable-stream protocol engines, one sender per
 * exported topic and one receiver per imported topic (internal).
 *
 * The engines know rings and frames, not DPDK: the worker (worker.c) feeds
 * them parsed frames (wire.h) and sends what they produce.  So the whole
 * protocol (batching, fragmentation, selective-repeat retransmission from
 * the ring, NAKs, heartbeats, flow control, resynchronisation) is tested
 * in-process over a lossy in-memory link (tests/bridge/), under ASan and
 * TSan, and the same code runs over af_packet and real NICs.  The design
 * notes are at the top of engine_tx.c and engine_rx.c.
 *
 * Sender (export): a subscriber on the local ring.  It sends records from
 * its send frontier, at most `window` bytes beyond the lowest position its
 * receivers acknowledged; the ring between the ack frontier and the send
 * frontier is the retransmit window.  A NAK [pos, upto) with upto > pos
 * has just that range resent, then the stream resumes at the frontier
 * (selective repeat; ranges NAKed meanwhile wait, sorted and merged, at
 * most 16); upto == pos (no hint) moves the send frontier back to pos
 * (go-back-N).  A NAK for a range being resent, queued, or resent less
 * than a hold ago (about a round trip, measured from STATUS acks) is a
 * repeat and ignored.  Tethered: the sender's ring cursor is held at the
 * lowest acknowledged position of the live receivers that asked to be
 * tethered, so the local publisher feels remote back-pressure and nothing
 * a receiver still needs is overwritten.  Untethered: the cursor follows
 * the send frontier; a NAK for a position the ring has already overwritten
 * is answered with a HEARTBEAT whose oldest_pos sends the receiver into
 * RESYNC, and its SETUP starts at the oldest intact record with `lost` =
 * the exact count of records gone.
 *
 * Receiver (import): the only (exclusive) publisher of the local ring of the
 * same topic.  It commits records in order only (expected position), each
 * with the sender's sequence number (fragments go straight into the claimed
 * record), drops duplicates, keeps up to `ooo_max` frames beyond a gap in a
 * preallocated store and replays them once the gap is filled, NAKs each gap
 * as [pos, upto) (upto: the lowest frame kept beyond it; pos when none is,
 * meaning go-back-N), repeated every nak_interval until filled, and sends
 * STATUS (ack, window, want_seq) every status_interval and after every
 * `ack_every` bytes.  A receiver without a session (just started, or
 * restarted) sends STATUS with SBW_S_RESYNC and want_seq = its ring's next
 * sequence number; the sender answers SETUP.
 *
 * Threading: each engine belongs to one worker thread.  Counters are plain
 * uint64_t written by that thread and read relaxed by the daemon for STATS
 * (stats.c copies them with __atomic loads: torn reads impossible on 64-bit).
 * Neither engine allocates after init nor makes a system call.
 */
#ifndef SBB_ENGINE_H
#define SBB_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "sb_ring.h"
#include "wire.h"

#define SBB_MAX_RECEIVERS 8      /* per sender (multicast fan-out) */
#define SBB_OOO_MAX 256u         /* receiver: most DATA frames kept beyond a gap */

/* A frame to transmit: dst MAC, the header bytes (Ethernet + sbw_hdr + fixed
 * part, CRC done) and an optional body that points into the sender's ring
 * (zero-copy) or into body_copy. */
struct sbb_txframe {
	uint8_t hdr[128];
	uint16_t hdr_len;
	const uint8_t *body;     /* NULL if none */
	uint32_t body_len;
	uint64_t body_pos;       /* DATA: ring position of body (for tx_done) */
};

struct sbb_counters {
	uint64_t frames_tx, frames_rx, bytes_tx, bytes_rx;
	uint64_t records_tx, records_rx;   /* data records sent / committed locally */
	uint64_t batches;                  /* DATA frames with more than one record */
	uint64_t fragments_tx, fragments_rx;
	uint64_t naks_tx, naks_rx;
	uint64_t retransmits;              /* DATA frames resent after a NAK */
	uint64_t duplicates;               /* DATA frames (or parts) already had */
	uint64_t out_of_order;             /* DATA frames beyond the expected position */
	uint64_t gaps_unrecovered;         /* records reported lost (gone from the sender) */
	uint64_t malformed;                /* records/frames refused by validation */
	uint64_t heartbeats_tx, heartbeats_rx;
	uint64_t status_tx, status_rx;
	uint64_t setups_tx, setups_rx;
	uint64_t resyncs;                  /* sessions (re)established */
	uint64_t backpressure;             /* receiver: local ring full; sender: window closed */
	uint64_t zero_copy_frames;         /* DATA frames whose body pointed into the ring */
	uint64_t copied_frames;
	uint64_t ooo_stored;               /* receiver: DATA frames kept beyond a gap */
	uint64_t naks_ignored;             /* sender: NAKs repeating a range being answered */
	uint64_t foreign_rx;               /* sender: STATUS/NAK from a MAC not among its receivers */
	uint64_t walk_headers;             /* sender: ring headers read to find a resync or NAK position */
};

/* ------------------------------------------------------------------ sender */

struct sbb_sender_cfg {
	uint32_t topic_id;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];          /* unicast peer or multicast group */
	/* Who may speak for this export (STATUS, NAK): a unicast dst_mac only;
	 * a multicast group the n_receivers listed, or anyone if none is.
	 * Frames from anyone else are counted (foreign_rx) and dropped. */
	uint8_t receivers[SBB_MAX_RECEIVERS][6];
	unsigned n_receivers;
	uint32_t mtu;                /* Ethernet payload bytes (1500: standard) */
	uint64_t window;             /* max bytes in flight beyond the lowest ack */
	bool tethered;               /* hold the local ring for tethered receivers */
	uint64_t heartbeat_ns;       /* idle heartbeat period */
	uint64_t receiver_timeout_ns;/* a receiver silent this long stops gating */
	uint64_t setup_ns;           /* SETUP repeat period while no receiver is known */
};

struct sbb_sender; /* opaque outside engine_tx.c; sized by sbb_sender_size() */

size_t sbb_sender_size(void);
/* Attach to the local ring (admin mapping) as a subscriber: tethered senders
 * start at the oldest record still in the ring and hold it until a receiver
 * says where it stands; untethered ones start at the latest.
 * Returns 0 or a negative SB_E* code. */
int sbb_sender_init(struct sbb_sender *s, const struct sb_seg *seg, const char *topic,
		    const struct sbb_sender_cfg *cfg);
void sbb_sender_fini(struct sbb_sender *s);
/* A NAK or STATUS for this topic (already parsed and validated). */
void sbb_sender_input(struct sbb_sender *s, const struct sbw_msg *m, uint64_t now_ns);
/* Next frame to send, if any (DATA, retransmission, HEARTBEAT or SETUP).
 * Returns 1 with *f filled, 0 if nothing is due.  A frame whose body points
 * into the ring stays valid until sbb_sender_tx_done(body_pos). */
int sbb_sender_next(struct sbb_sender *s, struct sbb_txframe *f, bool zero_copy, uint64_t now_ns);
/* The NIC no longer references the body of a zero-copy frame. */
void sbb_sender_tx_done(struct sbb_sender *s, uint64_t body_pos);
const struct sbb_counters *sbb_sender_counters(const struct sbb_sender *s);

/* ---------------------------------------------------------------- receiver */

struct sbb_receiver_cfg {
	uint32_t topic_id;
	uint8_t src_mac[6];          /* ours */
	uint8_t sender_mac[6];       /* where NAK/STATUS go (learnt from DATA if zero) */
	bool tethered;               /* ask the sender to hold its ring for us */
	uint64_t nak_interval_ns;
	uint64_t status_interval_ns;
	uint64_t ack_every;          /* bytes accepted between unsolicited STATUS */
	uint32_t ooo_max;            /* frames kept beyond a gap (0 or more: SBB_OOO_MAX) */
	/* Largest DATA body the store keeps (the link's MTU bounds what can
	 * arrive); 0 or more than SBW_MAX_FRAME: SBW_MAX_FRAME.  Larger frames
	 * beyond a gap are not kept: the NAK names them later. */
	uint32_t ooo_body;
};

struct sbb_receiver;

/* Bytes a receiver with this configuration needs: the out-of-order store
 * is ooo_max slots of ooo_body bytes (2.3 MiB at the jumbo defaults, 0.4
 * MiB for ooo_body 1500). */
size_t sbb_receiver_size(const struct sbb_receiver_cfg *cfg);
/* Attach to the local ring as its exclusive publisher.  SB_EBUSY while
 * another publisher (e.g. a previous daemon's importer not yet cleaned up)
 * holds it: retry later.  Returns 0 or a negative SB_E* code. */
int sbb_receiver_init(struct sbb_receiver *r, const struct sb_seg *seg, const char *topic,
		      const struct sbb_receiver_cfg *cfg);
void sbb_receiver_fini(struct sbb_receiver *r);
/* DATA, HEARTBEAT or SETUP for this topic. */
void sbb_receiver_input(struct sbb_receiver *r, const struct sbw_msg *m, uint64_t now_ns);
/* Next NAK or STATUS to send, if due.  Returns 1 with *f filled, or 0. */
int sbb_receiver_next(struct sbb_receiver *r, struct sbb_txframe *f, uint64_t now_ns);
const struct sbb_counters *sbb_receiver_counters(const struct sbb_receiver *r);

#endif /* SBB_ENGINE_H */
