/*
 * worker.h - the bridge's poll-mode workers (internal to dpdk/).
 *
 * A worker is an agent pinned to one EAL lcore: sbb_worker_do_work() does
 * one duty cycle (receive a burst on each of its ports and dispatch it to
 * the engines, then let every engine on those ports produce frames and send
 * them) and returns how much it did; sbb_worker_main() loops over it with
 * the configured idle strategy until the bridge's stop flag is set.
 *
 * Ownership: a port is served by exactly one worker, and the engines of
 * the topics on that port belong to that worker alone (engine.h: an engine
 * is single-threaded).  bridge.c builds the worker, launches it with
 * rte_eal_remote_launch(), and touches the engines again only after
 * rte_eal_wait_lcore() returned (which orders everything the worker did
 * before the control thread's fini calls).  While it runs, the control
 * thread reads only counters: the ports' (SBB_CTR_ADD), the engines'
 * (relaxed loads), the runtime structs' zc/copied counts, and an import's
 * `ready` flag (acquire, paired with the worker's release store).
 */
#ifndef SBB_WORKER_H
#define SBB_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "bridge.h"
#include "sb_backoff.h"
#include "engine.h"
#include "port.h"

/* An exported topic at run time. */
struct sbb_export_rt {
	char topic[64];
	uint32_t topic_id;
	struct sbb_port *port;
	struct sbb_sender *s;
	bool zero_copy;              /* bodies go out from the ring (extmem registered) */
	const uint8_t *ring_lo, *ring_hi; /* the ring's data bytes: a body in here is zero-copy */
	int64_t iova_off;            /* iova = va + iova_off (IOVA-as-VA: 0) */
	bool extmem, dma_mapped;     /* what bridge.c must undo */
	struct rte_device *dev;      /* the port's device (DMA unmap after close) */
	void *reg_base;
	size_t reg_len;
	uint64_t zc_frames, copied_frames; /* SBB_CTR_ADD by the worker */
};

/* An imported topic at run time. */
struct sbb_import_rt {
	char topic[64];
	uint32_t topic_id;
	struct sbb_port *port;
	struct sbb_receiver *r;
	const struct sb_seg *seg;
	struct sbb_receiver_cfg rcfg;
	bool filter_sender;          /* only frames from rcfg.sender_mac */
	atomic_bool ready;           /* receiver initialised: release by its initialiser */
	uint64_t retry_ns;           /* next init attempt while not ready */
	int last_rc;
};

/* Zero-copy TX context: the shared info of one external-buffer mbuf. */
struct sbb_zc_ctx {
	struct rte_mbuf_ext_shared_info shinfo;
	struct sbb_export_rt *x;
	uint64_t body_pos;
	struct sbb_worker *w;
	struct sbb_zc_ctx *next_free;
};

#define SBB_TX_BACKLOG (SBB_BURST * 3 + 8) /* one cycle's frames (worker.c TX_CAP) */
#define SBB_ZC_CTX 4096              /* in flight per worker; beyond it frames are copied */
#define SBB_RETRY_BUSY_NS 100000000u /* receiver init retry while SB_EBUSY */

struct sbb_worker {
	unsigned lcore;
	enum sbb_idle idle;
	const atomic_bool *stop;     /* the bridge's stop flag */
	unsigned n_ports, n_exports, n_imports;
	struct sbb_port *ports[SBB_MAX_PORTS];
	struct rte_mbuf *rx_held[SBB_MAX_PORTS]; /* fault injector: reordered frames */
	struct rte_mbuf *tx_held[SBB_MAX_PORTS];
	/* Frames the TX queue did not take, sent first on the next cycle (in
	 * order); while any wait, no engine on that port produces more. */
	struct rte_mbuf *tx_backlog[SBB_MAX_PORTS][SBB_TX_BACKLOG];
	uint16_t n_backlog[SBB_MAX_PORTS];
	struct sbb_export_rt *exports[SBB_MAX_TOPICS];
	struct sbb_import_rt *imports[SBB_MAX_TOPICS];
	unsigned empty_cycles;       /* idle = sleep: empty cycles before a nap */
	struct sb_backoff backoff;   /* idle = yield: adaptive (sb_backoff.h) */
	struct sbb_zc_ctx *zc_free;  /* free list (worker only; see worker.c) */
	struct sbb_zc_ctx *zc_ctx;   /* SBB_ZC_CTX entries */
	uint8_t scratch[SBW_MAX_FRAME]; /* linearised multi-segment frames */
};

/* Allocate a worker for lcore; NULL with errno on failure. */
struct sbb_worker *sbb_worker_create(unsigned lcore, enum sbb_idle idle, const atomic_bool *stop);
/* After the worker stopped: free the mbufs it still holds (held frames
 * give their zero-copy bodies back to the senders). */
void sbb_worker_release_held(struct sbb_worker *w);
void sbb_worker_destroy(struct sbb_worker *w);

/* One duty cycle; returns the number of frames handled plus engines set up. */
unsigned sbb_worker_do_work(struct sbb_worker *w, uint64_t now_ns);
/* lcore_function_t for rte_eal_remote_launch(): loops until *stop. */
int sbb_worker_main(void *arg);
/* Try to initialise an import's receiver now; 0, SB_EBUSY or another code. */
int sbb_import_try_init(struct sbb_import_rt *im);

uint64_t sbb_now_ns(void);

#endif /* SBB_WORKER_H */
