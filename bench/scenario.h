/*
 * scenario.h - the scenarios of shmbus-bench and their single-run entry
 * points (internal header).
 *
 * scenario_*() run a whole command line (every size, reporting included)
 * and return 0 or -1.  The *_run() functions measure one configuration once
 * and fill a bench_result; compare pairs them round by round.  A run
 * function that gets samples_out also copies its sorted samples (count
 * ticks) there, so compare can pool every sample of every round.
 */
#ifndef BENCH_SCENARIO_H
#define BENCH_SCENARIO_H

#include <shmbus/shmbus.h>

#include "bench.h"

/* One latency measurement: size bytes each way, count round trips after
 * warmup round trips. */
struct run_spec {
	uint32_t size;
	uint64_t count;
	uint64_t warmup;
	uint64_t *samples_out; /* optional: receives count sorted tick samples */
};

typedef int (*latency_run_fn)(const struct bench_opts *o, const struct run_spec *spec,
			      struct bench_result *res);

int baseline_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res);
int pingpong_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res);
/* Ping-pong through topics opened by name via shmbusd (scenario_daemon.c). */
int daemon_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res);
/* The socket --via-daemon connects to: --socket, else the library default. */
const char *daemon_socket(const struct bench_opts *o, char *buf, size_t len);
/* sb_pub_open, retried for up to 5 s while the topic's publisher slot is
 * still held (EBUSY/EALREADY: a predecessor not yet cleaned up); NULL with
 * errno otherwise. */
sb_pub_t *daemon_pub_open_retry(sb_client_t *c, const char *topic, const struct sb_pub_opts *po);
/* Peers (peer_*.c): available() tells whether the peer can run here. */
bool zmq_available(void);
int zmq_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res);
bool iceoryx_available(void);
/* Stop RouDi now rather than at exit: no iceoryx run follows, and what is
 * measured next should not share the cores with its threads. */
void iceoryx_done(void);
int iceoryx_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res);
/* One-way lossless stream of count records, 1 publisher -> 1 subscriber:
 * *msgs_per_s at the subscriber.  shmbus (single-record API; prints its
 * throughput table row) and iceoryx.  Return 0 or -1. */
int throughput_single(const struct bench_opts *o, uint32_t size, uint64_t count, double *msgs_per_s);
/* The physical limit of one-way throughput (stream_limit.c): a raw stream
 * of count records of size payload bytes between o->cores[0] and [1], no
 * ring protocol; res gets the reader's rate.  Returns 0 or -1. */
int stream_limit_run(const struct bench_opts *o, uint32_t size, uint64_t count, struct bench_result *res);
int iceoryx_stream(const struct bench_opts *o, uint32_t size, uint64_t count, double *msgs_per_s);

int scenario_baseline(const struct bench_opts *o);
int scenario_pingpong(const struct bench_opts *o);
int scenario_throughput(const struct bench_opts *o);
int scenario_compare(const struct bench_opts *o);
/* The limit and the ring ping-pong in alternating blocks, same processes
 * (scenario_interleave.c). */
int scenario_interleave(const struct bench_opts *o);
/* One interleaved measurement of count round trips of each kind (A: the
 * limit, B: the ring; via_daemon: A the raw ring, B the daemon path), in a
 * fresh pair of processes with fresh segments, reported with its median
 * per-window ratios B / A (and the per-window table if windows; brief:
 * the ratio line alone), which it also returns in *r50, *r999.
 * interleave_runs makes runs of them (o->runs if given) and, for more than
 * one, reports the median of their ratios with the verdict: each run's
 * ratio also depends on where its processes and segments landed, which no
 * interleaving within the run can average out.  Return 0 or -1. */
int interleave_measure(const struct bench_opts *o, uint32_t size, bool via_daemon, uint64_t count, bool windows,
		       bool brief, double *r50, double *r999);
int interleave_runs(const struct bench_opts *o, uint32_t size, bool via_daemon, uint64_t count, bool windows,
		    unsigned runs);

/* Issue 2's targets for the ring against the limit at this size (0: none):
 * p50 <= 1.10x at 64 B, 1.30x at 1 KiB; p99.9 <= 2x at 64 B. */
void bench_ring_targets(uint32_t size, double *p50, double *p999);
/* Issue 3's target for the daemon path against the raw ring, p50 and p99.9. */
#define BENCH_DAEMON_TARGET 1.05
/* The ring's calls on one core, publisher and subscriber in one process
 * (scenario_opcost.c). */
int scenario_opcost(const struct bench_opts *o);
/* Across two network namespaces through the DPDK bridge, with the raw DPDK
 * and kernel UDP baselines (scenario_crosshost.c).  Returns 0, -1, or
 * BENCH_SKIP when this host cannot run it (not root, no DPDK, no bridge). */
int scenario_crosshost(const struct bench_opts *o);
/* Its own options (--netns, --pmd, --idle...), by long name without the
 * dashes; arg NULL for flags.  Returns 0 or -1 (message printed). */
int crosshost_parse_option(const char *name, const char *arg);

/* Issue 3's recovery times: a SIGKILLed tethered subscriber vs the blocked
 * publisher's next claim, and a ping-pong through shmbusd while it is
 * SIGKILLed and restarted (scenario_recovery.c).  Starts its own shmbusd
 * ($SHMBUSD, else next to shmbus-bench); BENCH_SKIP if there is none. */
int scenario_recovery(const struct bench_opts *o);

/* A scenario's "cannot run here" result: shmbus-bench exits with it (the
 * test suites' "skipped"). */
#define BENCH_SKIP 77

/* Shared by the latency scenarios: run fn once per size and report. */
int latency_scenario(const struct bench_opts *o, latency_run_fn fn);

/* Shared by the latency run functions: turn the samples of a finished run
 * (sorted in place) and its measured span into res. */
void latency_finish(const struct bench_opts *o, const struct run_spec *spec, uint64_t *samples,
		    uint64_t span_ticks, struct bench_result *res);

#endif /* BENCH_SCENARIO_H */
