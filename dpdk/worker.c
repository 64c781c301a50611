/*
 * worker.c - the bridge's poll-mode worker: an agent whose duty cycle is
 * "receive, dispatch, produce, send" for the ports it owns.
 *
 * Design notes:
 * - RX: each frame passes the RX fault injector (drop, duplicate, hold one
 *   frame back until the next one, corrupt), is linearised if a PMD
 *   scattered it, parsed by sbw_parse() (refusals counted per port and
 *   reason; other EtherTypes counted apart and ignored), and handed to the
 *   engine of its topic on this port: DATA, HEARTBEAT and SETUP to the
 *   receiver, NAK and STATUS to the sender.  The engines copy what they
 *   keep, so the mbuf is freed right after.
 * - TX: every sender is polled for up to a burst of frames, every receiver
 *   for a few, each frame becomes an mbuf (copy: header and body in one
 *   mbuf; zero copy: a header mbuf chained to a data-less mbuf attached to
 *   the body in the ring), passes the TX fault injector, and the lot goes
 *   out in one rte_eth_tx_burst().  What the queue does not take waits in
 *   the port's backlog and goes out first on the next cycle; until the
 *   backlog is empty no engine on that port is asked for more frames, so
 *   a full TX ring holds the senders back (their window and tethering do
 *   the rest) instead of throwing away frames that the protocol would
 *   then have to repair: a loss the bridge inflicts on itself costs a
 *   NAK round trip and a retransmission for nothing.
 * - Zero copy: the external buffer's free callback tells the sender the NIC
 *   is done with the body (sbb_sender_tx_done), so the ring space can be
 *   reused.  The callback runs wherever the mbuf is freed: inside
 *   rte_eth_tx_burst() on this worker (af_packet frees at once; real NICs
 *   on a later burst's clean-up, same queue, same worker), or on the control
 *   thread in port stop/close after this worker has stopped.  Never two at
 *   once, and never inside an engine call, so the callback may touch the
 *   sender and the worker's context free list without locks.  Every body
 *   handed out from the ring gets exactly one tx_done: from the callback,
 *   or at once when the frame was copied or dropped instead.
 * - Idle: an iteration with no work backs off by the configured strategy:
 *   spin (rte_pause, for isolated cores), yield (adaptive, sb_backoff.h:
 *   up to 64 empty spins between yields while the core is the worker's
 *   alone, a yield on every empty cycle while another thread waits for the
 *   core) or sleep (~50 us naps after a few empty spins) so that two
 *   daemons, two apps and the workers can share a two-core machine.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#include "sb_error.h"
#include "sb_log.h"
#include "worker.h"

#define SPINS_BEFORE_BACKOFF 64
#define SLEEP_NS 50000
#define RECEIVER_FRAMES_PER_CYCLE 4
#define TX_CAP SBB_TX_BACKLOG

uint64_t sbb_now_ns(void)
{
	struct timespec ts;

	/* vDSO: no system call on the hot path. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct sbb_worker *sbb_worker_create(unsigned lcore, enum sbb_idle idle, const atomic_bool *stop)
{
	struct sbb_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->zc_ctx = calloc(SBB_ZC_CTX, sizeof(*w->zc_ctx));
	if (!w->zc_ctx) {
		free(w);
		return NULL;
	}
	for (unsigned i = 0; i < SBB_ZC_CTX; i++) {
		w->zc_ctx[i].w = w;
		w->zc_ctx[i].next_free = w->zc_free;
		w->zc_free = &w->zc_ctx[i];
	}
	w->lcore = lcore;
	w->idle = idle;
	w->stop = stop;
	return w;
}

void sbb_worker_release_held(struct sbb_worker *w)
{
	for (unsigned i = 0; i < w->n_ports; i++) {
		rte_pktmbuf_free(w->rx_held[i]);
		rte_pktmbuf_free(w->tx_held[i]);
		w->rx_held[i] = w->tx_held[i] = NULL;
		for (unsigned k = 0; k < w->n_backlog[i]; k++)
			rte_pktmbuf_free(w->tx_backlog[i][k]);
		w->n_backlog[i] = 0;
	}
}

void sbb_worker_destroy(struct sbb_worker *w)
{
	if (!w)
		return;
	free(w->zc_ctx);
	free(w);
}

int sbb_import_try_init(struct sbb_import_rt *im)
{
	int rc = sbb_receiver_init(im->r, im->seg, im->topic, &im->rcfg);

	if (rc == SB_OK)
		/* RELEASE: publishes the initialised receiver to the control
		 * thread's acquire load in sbb_bridge_stats() and fini. */
		atomic_store_explicit(&im->ready, true, memory_order_release);
	return rc;
}

/* ------------------------------------------------------------------- RX */

static void dispatch(struct sbb_worker *w, struct sbb_port *p, const struct sbw_msg *m, uint64_t now)
{
	uint32_t tid = m->h.topic_id;

	switch (m->h.type) {
	case SBW_DATA:
	case SBW_HEARTBEAT:
	case SBW_SETUP:
		for (unsigned i = 0; i < w->n_imports; i++) {
			struct sbb_import_rt *im = w->imports[i];

			if (im->port != p || im->topic_id != tid)
				continue;
			if (im->filter_sender && memcmp(m->src_mac, im->rcfg.sender_mac, 6) != 0)
				break;
			/* RELAXED: this worker is the only writer of ready. */
			if (atomic_load_explicit(&im->ready, memory_order_relaxed))
				sbb_receiver_input(im->r, m, now);
			return;
		}
		break;
	case SBW_NAK:
	case SBW_STATUS:
		for (unsigned i = 0; i < w->n_exports; i++) {
			struct sbb_export_rt *x = w->exports[i];

			if (x->port == p && x->topic_id == tid) {
				sbb_sender_input(x->s, m, now);
				return;
			}
		}
		break;
	default:
		break;
	}
	SBB_CTR_ADD(p->ctr.unknown_topic, 1);
}

static void deliver(struct sbb_worker *w, struct sbb_port *p, struct rte_mbuf *mb, uint64_t now)
{
	uint32_t len = rte_pktmbuf_pkt_len(mb);
	const uint8_t *frame;
	struct sbw_msg m;
	enum sbw_err e;

	if (len > SBW_MAX_FRAME) {
		e = SBW_E_LENGTH;
	} else {
		/* Contiguous: a pointer into the mbuf; scattered: copied. */
		frame = rte_pktmbuf_read(mb, 0, len, w->scratch);
		e = frame ? sbw_parse(frame, len, &m) : SBW_E_SHORT;
	}
	if (e == SBW_E_ETHERTYPE) {
		SBB_CTR_ADD(p->ctr.other_ethertype, 1);
		return;
	}
	if (e != SBW_OK) {
		SBB_CTR_ADD(p->ctr.malformed, 1);
		if ((unsigned)e < SBW_E_COUNT_)
			SBB_CTR_ADD(p->ctr.malformed_by[e], 1);
		return;
	}
	dispatch(w, p, &m, now);
}

static void corrupt_mbuf(struct sbb_fault *f, struct rte_mbuf *mb)
{
	/* First segment only: with zero copy that is the header mbuf, so the
	 * injector never writes into the local ring behind a body. */
	sbb_fault_corrupt(f, rte_pktmbuf_mtod(mb, uint8_t *), rte_pktmbuf_data_len(mb));
}

static unsigned rx_port(struct sbb_worker *w, unsigned pi, uint64_t now)
{
	struct sbb_port *p = w->ports[pi];
	struct rte_mbuf *pkts[SBB_BURST];
	uint64_t bytes = 0;
	uint16_t n = rte_eth_rx_burst(p->id, 0, pkts, SBB_BURST);

	if (n == 0)
		return 0;
	for (uint16_t i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	SBB_CTR_ADD(p->ctr.frames_rx, n);
	SBB_CTR_ADD(p->ctr.bytes_rx, bytes);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i];
		unsigned a = sbb_fault_on(&p->rx_fault) ? sbb_fault_decide(&p->rx_fault) : SBB_FAULT_PASS;

		if (a & SBB_FAULT_DROP) {
			SBB_CTR_ADD(p->ctr.rx_fault_drops, 1);
			rte_pktmbuf_free(mb);
			continue;
		}
		if (a & SBB_FAULT_CORRUPT) {
			SBB_CTR_ADD(p->ctr.rx_fault_corruptions, 1);
			corrupt_mbuf(&p->rx_fault, mb);
		}
		if ((a & SBB_FAULT_HOLD) && !w->rx_held[pi]) {
			/* Delivered after the next frame: reordered by one. */
			SBB_CTR_ADD(p->ctr.rx_fault_holds, 1);
			w->rx_held[pi] = mb;
			continue;
		}
		deliver(w, p, mb, now);
		if (a & SBB_FAULT_DUP) {
			SBB_CTR_ADD(p->ctr.rx_fault_dups, 1);
			deliver(w, p, mb, now);
		}
		rte_pktmbuf_free(mb);
		if (w->rx_held[pi]) {
			deliver(w, p, w->rx_held[pi], now);
			rte_pktmbuf_free(w->rx_held[pi]);
			w->rx_held[pi] = NULL;
		}
	}
	return n;
}

/* ------------------------------------------------------------------- TX */

/* Free callback of a zero-copy body (see the design note for where it
 * runs).  addr is the body; the context says whose and where. */
static void zc_free(void *addr, void *opaque)
{
	struct sbb_zc_ctx *c = opaque;
	struct sbb_worker *w = c->w;

	(void)addr;
	sbb_sender_tx_done(c->x->s, c->body_pos);
	c->next_free = w->zc_free;
	w->zc_free = c;
}

static struct rte_mbuf *copy_frame(struct sbb_port *p, const struct sbb_txframe *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(p->pool);
	uint8_t *d;

	if (!m)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(f->hdr_len + f->body_len));
	if (!d || f->hdr_len > sizeof(f->hdr)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(d, f->hdr, f->hdr_len);
	if (f->body_len)
		memcpy(d + f->hdr_len, f->body, f->body_len);
	return m;
}

static struct rte_mbuf *zc_frame(struct sbb_worker *w, struct sbb_export_rt *x, const struct sbb_txframe *f)
{
	struct sbb_port *p = x->port;
	struct sbb_zc_ctx *c = w->zc_free;
	struct rte_mbuf *h, *b;
	uint8_t *d;

	if (!c || f->body_len > UINT16_MAX || f->hdr_len > sizeof(f->hdr))
		return NULL;
	h = rte_pktmbuf_alloc(p->pool);
	if (!h)
		return NULL;
	b = rte_pktmbuf_alloc(p->ext_pool);
	d = (uint8_t *)rte_pktmbuf_append(h, f->hdr_len);
	if (!b || !d) {
		rte_pktmbuf_free(b);
		rte_pktmbuf_free(h);
		return NULL;
	}
	memcpy(d, f->hdr, f->hdr_len);
	w->zc_free = c->next_free;
	c->x = x;
	c->body_pos = f->body_pos;
	c->shinfo.free_cb = zc_free;
	c->shinfo.fcb_opaque = c;
	rte_mbuf_ext_refcnt_set(&c->shinfo, 1);
	rte_pktmbuf_attach_extbuf(b, (void *)(uintptr_t)f->body, (rte_iova_t)((int64_t)(uintptr_t)f->body + x->iova_off),
				  (uint16_t)f->body_len, &c->shinfo);
	b->data_len = (uint16_t)f->body_len;
	b->pkt_len = f->body_len;
	if (rte_pktmbuf_chain(h, b) != 0) {
		rte_pktmbuf_free(b); /* runs zc_free: tx_done and the context back */
		rte_pktmbuf_free(h);
		return (struct rte_mbuf *)-1;
	}
	return h;
}

/* Turn an engine frame into an mbuf: zero copy where the body lies in
 * this export's ring and the port can, else one copied mbuf. */
static struct rte_mbuf *build(struct sbb_worker *w, struct sbb_port *p, struct sbb_export_rt *x,
			      const struct sbb_txframe *f)
{
	bool in_ring = x && x->zero_copy && f->body && f->body >= x->ring_lo && f->body + f->body_len <= x->ring_hi;
	struct rte_mbuf *m;

	if (in_ring) {
		m = zc_frame(w, x, f);
		if (m == (struct rte_mbuf *)-1)
			return NULL; /* tx_done already given by the free callback */
		if (m) {
			SBB_CTR_ADD(x->zc_frames, 1);
			return m;
		}
	}
	m = copy_frame(p, f);
	if (in_ring)
		sbb_sender_tx_done(x->s, f->body_pos); /* copied (or dropped): the ring is free */
	/* DATA only (SETUP carries the name as a body): the type byte follows
	 * magic and version in the common header (docs/wire.md). */
	if (m && x && f->body && f->hdr_len > SBW_ETH_HLEN + 3 && f->hdr[SBW_ETH_HLEN + 3] == SBW_DATA)
		SBB_CTR_ADD(x->copied_frames, 1);
	return m;
}

/* Queue one frame for the burst through the TX fault injector. */
static void queue(struct sbb_worker *w, unsigned pi, struct rte_mbuf *m, struct rte_mbuf **out, unsigned *n)
{
	struct sbb_port *p = w->ports[pi];
	unsigned a = sbb_fault_on(&p->tx_fault) ? sbb_fault_decide(&p->tx_fault) : SBB_FAULT_PASS;

	if (a & SBB_FAULT_DROP) {
		SBB_CTR_ADD(p->ctr.tx_fault_drops, 1);
		rte_pktmbuf_free(m); /* lost "on the wire" */
		return;
	}
	if (a & SBB_FAULT_CORRUPT) {
		SBB_CTR_ADD(p->ctr.tx_fault_corruptions, 1);
		corrupt_mbuf(&p->tx_fault, m);
	}
	if ((a & SBB_FAULT_HOLD) && !w->tx_held[pi]) {
		SBB_CTR_ADD(p->ctr.tx_fault_holds, 1);
		w->tx_held[pi] = m;
		return;
	}
	out[(*n)++] = m;
	if (a & SBB_FAULT_DUP) {
		/* The same mbuf twice: one more reference on every segment. */
		SBB_CTR_ADD(p->ctr.tx_fault_dups, 1);
		rte_pktmbuf_refcnt_update(m, 1);
		out[(*n)++] = m;
	}
	if (w->tx_held[pi]) {
		out[(*n)++] = w->tx_held[pi];
		w->tx_held[pi] = NULL;
	}
}

/* Hand out[0..n) to the TX queue; what it refuses goes to the backlog (in
 * order).  Returns the number sent. */
static unsigned burst(struct sbb_worker *w, unsigned pi, struct rte_mbuf **out, unsigned n)
{
	struct sbb_port *p = w->ports[pi];
	uint32_t lens[TX_CAP];
	uint64_t bytes = 0;
	uint16_t sent;

	for (unsigned i = 0; i < n; i++)
		lens[i] = rte_pktmbuf_pkt_len(out[i]); /* sent mbufs may be freed by the burst */
	sent = rte_eth_tx_burst(p->id, 0, out, (uint16_t)n);
	for (unsigned i = 0; i < sent; i++)
		bytes += lens[i];
	SBB_CTR_ADD(p->ctr.frames_tx, sent);
	SBB_CTR_ADD(p->ctr.bytes_tx, bytes);
	if (sent < n) {
		/* out may be the backlog itself: memmove. */
		memmove(w->tx_backlog[pi], out + sent, (n - sent) * sizeof(*out));
		SBB_CTR_ADD(p->ctr.tx_deferred, n - sent);
	}
	w->n_backlog[pi] = (uint16_t)(n - sent);
	return sent;
}

static unsigned tx_port(struct sbb_worker *w, unsigned pi, uint64_t now)
{
	struct sbb_port *p = w->ports[pi];
	struct rte_mbuf *out[TX_CAP];
	struct sbb_txframe f;
	unsigned n = 0, produced = 0;

	if (w->n_backlog[pi]) {
		unsigned sent = burst(w, pi, w->tx_backlog[pi], w->n_backlog[pi]);

		if (w->n_backlog[pi])
			return sent; /* the queue is still full: produce nothing */
		produced += sent;
	}

	for (unsigned i = 0; i < w->n_exports; i++) {
		struct sbb_export_rt *x = w->exports[i];

		if (x->port != p)
			continue;
		for (unsigned k = 0; k < SBB_BURST && n + 3 <= TX_CAP; k++) {
			struct rte_mbuf *m;

			if (!sbb_sender_next(x->s, &f, x->zero_copy, now))
				break;
			produced++;
			m = build(w, p, x, &f);
			if (!m) {
				SBB_CTR_ADD(p->ctr.tx_dropped, 1);
				continue;
			}
			queue(w, pi, m, out, &n);
		}
	}
	for (unsigned i = 0; i < w->n_imports; i++) {
		struct sbb_import_rt *im = w->imports[i];

		/* RELAXED: this worker is the only writer of ready. */
		if (im->port != p || !atomic_load_explicit(&im->ready, memory_order_relaxed))
			continue;
		for (unsigned k = 0; k < RECEIVER_FRAMES_PER_CYCLE && n + 3 <= TX_CAP; k++) {
			struct rte_mbuf *m;

			if (!sbb_receiver_next(im->r, &f, now))
				break;
			produced++;
			m = build(w, p, NULL, &f);
			if (!m) {
				SBB_CTR_ADD(p->ctr.tx_dropped, 1);
				continue;
			}
			queue(w, pi, m, out, &n);
		}
	}
	if (n == 0)
		return produced;
	burst(w, pi, out, n);
	return produced;
}

/* --------------------------------------------------------------- agent */

unsigned sbb_worker_do_work(struct sbb_worker *w, uint64_t now)
{
	unsigned work = 0;

	for (unsigned i = 0; i < w->n_imports; i++) {
		struct sbb_import_rt *im = w->imports[i];
		int rc;

		/* RELAXED: this worker is the only writer of ready. */
		if (atomic_load_explicit(&im->ready, memory_order_relaxed) || now < im->retry_ns)
			continue;
		rc = sbb_import_try_init(im);
		if (rc == SB_OK) {
			sbi_log(SB_LOG_INFO, "bridge", "msg=\"import ready\" topic=%s port=%u", im->topic, im->port->id);
			work++;
			continue;
		}
		if (rc != im->last_rc && rc != SB_EBUSY)
			sbi_log(SB_LOG_WARN, "bridge", "msg=\"import cannot start; retrying\" topic=%s code=%d detail=\"%s\"",
				im->topic, rc, sb_last_error());
		im->last_rc = rc;
		im->retry_ns = now + (rc == SB_EBUSY ? SBB_RETRY_BUSY_NS : 10u * SBB_RETRY_BUSY_NS);
	}
	for (unsigned i = 0; i < w->n_ports; i++) {
		work += rx_port(w, i, now);
		work += tx_port(w, i, now);
	}
	return work;
}

static void idle(struct sbb_worker *w, unsigned work)
{
	if (work) {
		w->empty_cycles = 0;
		sb_backoff_work(&w->backoff);
		return;
	}
	if (w->idle == SBB_IDLE_YIELD) {
		sb_backoff_idle(&w->backoff);
		return;
	}
	if (w->idle == SBB_IDLE_SPIN || ++w->empty_cycles < SPINS_BEFORE_BACKOFF) {
		rte_pause();
		return;
	}
	struct timespec ts = { 0, SLEEP_NS };

	nanosleep(&ts, NULL);
}

int sbb_worker_main(void *arg)
{
	struct sbb_worker *w = arg;

	/* Here, not at create: the back-off samples this thread's switches. */
	sb_backoff_init(&w->backoff, SPINS_BEFORE_BACKOFF);
	sbi_log(SB_LOG_INFO, "bridge", "msg=\"worker running\" lcore=%u ports=%u exports=%u imports=%u idle=%d",
		w->lcore, w->n_ports, w->n_exports, w->n_imports, (int)w->idle);
	/* ACQUIRE: pairs with the release store in sbb_bridge_stop(); nothing
	 * rides on it but the request itself (rte_eal_wait_lcore() orders the
	 * hand-back of the engines). */
	while (!atomic_load_explicit(w->stop, memory_order_acquire))
		idle(w, sbb_worker_do_work(w, sbb_now_ns()));
	return 0;
}
