/*
 * crosshost.h - what the parts of the crosshost scenario share: its
 * options, the environment it sets up (namespaces, daemons, files), and one
 * measuring function per subject (internal header).
 *
 * scenario_crosshost.c owns the options, the set-up/teardown and the
 * rounds; crosshost_udp.c the kernel UDP baselines; crosshost_bridge.c the
 * raw DPDK baseline (it spawns shmbus-rawpp) and the runs through two
 * shmbusd with the DPDK bridge.  Every run function measures one thing
 * once, in forked children (worker.h), and fills a bench_result: latency
 * runs through latency_finish (TSC tick samples, the same statistics as
 * every scenario), stream runs with has_latency false and msgs_per_s at
 * the receiver.  They return 0 or -1 (message printed).
 */
#ifndef BENCH_CROSSHOST_H
#define BENCH_CROSSHOST_H

#include <limits.h>
#include <sys/types.h>

#include "netns.h"
#include "scenario.h"
#include "segment.h"

/* What bridge workers and clients do when a poll found nothing. */
enum xh_idle {
	XH_IDLE_SPIN = 0,  /* busy-poll: dedicated cores */
	XH_IDLE_YIELD = 1, /* sched_yield() after 64 empty polls */
	XH_IDLE_SLEEP = 2, /* workers nap ~50 us after 64 empty polls; clients yield */
};

struct crosshost_opts {
	const char *prefix;      /* --netns: namespace prefix ("bx") */
	const char *if_a, *if_b; /* --if-a/--if-b: interfaces to move in instead of a veth pair */
	const char *pmd;         /* --pmd: af_packet | af_xdp */
	int bcores[4];           /* --bridge-cores: A main, A worker, B main, B worker */
	bool bcores_given;
	enum xh_idle idle;       /* --idle */
	unsigned loss_pct;       /* --loss */
	uint64_t tp_count;       /* --tp-count: records per stream run */
	bool no_bridge;          /* --no-bridge: the two baselines only */
	const char *shmbusd;     /* --shmbusd */
	const char *rawpp;       /* --rawpp */
};

/* The bridge's topics: ping A->B, pong B->A, stream A->B. */
#define XH_TOPIC_PING   "xh.ping"
#define XH_TOPIC_PONG   "xh.pong"
#define XH_TOPIC_STREAM "xh.stream"

struct xh_env {
	const struct bench_opts *o;
	const struct crosshost_opts *x;
	struct netns_pair net;
	char tmp[64];                    /* our directory: configs, sockets, segments, logs, samples */
	char shmbusd[PATH_MAX];
	char rawpp[PATH_MAX];
	char eal_mem[64];                /* EAL memory options (hugepages or --no-huge) */
	pid_t daemon[2];                 /* shmbusd of A and B (0: not running) */
	char sock[2][BENCH_PATH_MAX];
	int core[2];                     /* ping side, pong side (--cores) */
	int bcore[4];                    /* A main, A worker, B main, B worker */
};

/* What a stream run saw besides its rate. */
struct xh_stream_info {
	uint64_t sent;
	uint64_t received;
	uint64_t gaps;        /* records reported lost (bridge) or missing (UDP) */
};

/* Kernel UDP, 169.254.77.1 <-> .2, blocking send/recv (crosshost_udp.c). */
/* Fork the two sides of a pair (roles[1] on core 1 first, then roles[0] on
 * core 0), wait for both within timeout_s, note the disturbance in res and
 * tear the harness down.  Returns 0 or -1. */
int xh_run_pair(const struct xh_env *e, const char *roles[2], worker_fn fns[2], void *arg, double timeout_s,
		struct bench_result *res);

int xh_udp_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res);
int xh_udp_stream(const struct xh_env *e, uint32_t size, uint64_t count, struct bench_result *res,
		  struct xh_stream_info *info);

/* Raw DPDK ping-pong: shmbus-rawpp in each namespace (crosshost_bridge.c). */
int xh_raw_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res);

/* The two daemons: start (configs written, bridge up, sockets answering)
 * and stop (SIGTERM, then SIGKILL; safe to call twice). */
int xh_daemons_start(struct xh_env *e);
void xh_daemons_stop(struct xh_env *e);

/* Through the bridge: ping-pong via XH_TOPIC_PING/PONG, and a tethered
 * one-way stream on XH_TOPIC_STREAM. */
int xh_bridge_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res);
int xh_bridge_stream(const struct xh_env *e, uint32_t size, uint64_t count, struct bench_result *res,
		     struct xh_stream_info *info);

/* The bridge's counters of one daemon (0: A, 1: B) as `shmbusctl bridge`
 * prints them, appended to the report when a run needed recovery. */
void xh_print_bridge_counters(const struct xh_env *e, int side, FILE *out);

/* True once SIGINT/SIGTERM asked the scenario to stop. */
bool xh_stop_requested(void);

#endif /* BENCH_CROSSHOST_H */
