/*
 * pair.h - the two ping-pongs of shmbus-bench as building blocks: the limit
 * (scenario_baseline.c) and the ring (scenario_pingpong.c), each split into
 * what is set up before the fork and a loop of n round trips that a worker
 * can run in blocks (internal header).
 *
 * A block of round trips numbered first .. first+n-1 on the ping side must
 * meet the same block on the pong side: the two sides never exchange
 * anything but the round trips themselves, so a scenario that interleaves
 * blocks of both kinds (scenario_interleave.c) runs the same schedule on
 * both sides.  Loops time each round trip into samples[k] when samples is
 * not NULL and add the payload they read to *acc.
 */
#ifndef BENCH_PAIR_H
#define BENCH_PAIR_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include <shmbus/shmbus.h>

#include "bench.h"
#include "sb_ring.h"
#include "segment.h"
#include "worker.h"

/* ---- the limit: flags and payload in plain shared memory (--baseline) */

struct limit_pair;

/* Map the limit's memory for size bytes each way.  NULL on failure
 * (message printed). */
struct limit_pair *limit_pair_new(const struct bench_opts *o, uint32_t size);
void limit_pair_free(struct limit_pair *lp);
/* Return 0, or the counter of a round trip whose echo carried a wrong
 * sequence number. */
uint64_t limit_ping(const struct limit_pair *lp, uint64_t first, uint64_t n, uint64_t *samples, uint64_t *acc);
uint64_t limit_pong(const struct limit_pair *lp, uint64_t first, uint64_t n, uint64_t *acc);

/* ---- the ring: segment AB carries ping -> pong, BA the replies */

struct ring_pair {
	struct bench_seg ab, ba;
	uint32_t size;
	enum sb_ring_pub_mode mode;
	bool claim_ahead;          /* --claim-ahead (see ring_pong) */
};

/* One process's ends: publisher on one segment, tethered subscriber on the
 * other. */
struct ring_side {
	struct sb_seg pub_seg, sub_seg;
	alignas(64) struct sb_ring_pub pub; /* hot prefixes on their own lines, as libshmbus has them */
	alignas(64) struct sb_ring_sub sub;
	bool claim_ahead;          /* from the ring_pair */
};

/* Create both segments (before the fork).  Returns 0 or -1 (printed). */
int ring_pair_create(const struct bench_opts *o, uint32_t size, struct ring_pair *rp);
void ring_pair_remove(struct ring_pair *rp);
/* In a worker: ping publishes on AB, pong on BA.  Returns 0 or the
 * worker's failure. */
int ring_side_open(struct worker *w, const struct ring_pair *rp, bool ping, struct ring_side *s);
void ring_side_close(struct ring_side *s);
/* Return 0 or the worker's failure (a wrong record, a ring error). */
int ring_ping(struct worker *w, struct ring_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *samples,
	      uint64_t *acc);
int ring_pong(struct worker *w, struct ring_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *acc);

/* ---- through shmbusd and libshmbus: topics by name (--via-daemon) */

struct daemon_pair {
	char socket[BENCH_PATH_MAX];
	char ab[SB_TOPIC_MAX + 1], ba[SB_TOPIC_MAX + 1];
	uint32_t size;
	int watcher_cpu;           /* the clients' lease watchers: --cores' third CPU, or -1 */
};

struct daemon_side {
	sb_client_t *client;
	sb_pub_t *pub;
	sb_sub_t *sub;
};

/* Name both topics and create them in the running shmbusd with the run's
 * parameters (before the fork).  Returns 0 or -1 (printed). */
int daemon_pair_create(const struct bench_opts *o, uint32_t size, struct daemon_pair *dp);
/* Delete both topics (after the workers are gone), so that repeated runs
 * against a long-lived daemon leave none of their huge pages behind.
 * Failures are printed, not fatal. */
void daemon_pair_remove(const struct daemon_pair *dp);
/* In a worker: connect and open (ping publishes on AB); *open_ticks gets
 * the time connect + opens took.  The handles are never closed: the
 * worker's exit ends its lease. */
int daemon_side_open(struct worker *w, const struct daemon_pair *dp, bool ping, struct daemon_side *s,
		     uint64_t *open_ticks);
int daemon_ping(struct worker *w, struct daemon_side *s, uint32_t size, uint64_t first, uint64_t n,
		uint64_t *samples, uint64_t *acc);
int daemon_pong(struct worker *w, struct daemon_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *acc);

#endif /* BENCH_PAIR_H */
