/*
 * bridge.h - what shmbusd sees of the DPDK bridge (internal).
 *
 * Configuration comes from shmbusd's INI file (daemon/config.c parses the
 * [bridge], [export NAME] and [import NAME] sections into struct
 * sbb_config; docs/operations.md §7 documents them).  With no such sections
 * the daemon never calls into this file and EAL is never initialised.
 *
 * sbb_bridge_start() initialises EAL with the configured arguments, sets up
 * every port used (one RX and one TX queue, a mempool on the port's NUMA
 * node, allmulticast on), creates one sender per export and one receiver
 * per import over the topics' admin mappings, and launches one worker per
 * configured lcore; each port is served by exactly one worker.  Workers
 * busy-poll (idle = spin) or back off when idle (yield, sleep) so that a
 * test host with two cores is not starved.
 *
 * The control thread reads counters with sbb_bridge_stats(); it never
 * touches the engines otherwise.  sbb_bridge_stop() stops the workers, waits
 * for them and detaches from the rings (subscriber slot and publisher slot
 * released), then calls rte_eal_cleanup().
 */
#ifndef SBB_BRIDGE_H
#define SBB_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "fault.h"
#include "sb_segment.h"

#define SBB_MAX_TOPICS 64
#define SBB_MAX_PORTS  8
#define SBB_MAX_WORKERS 8

enum sbb_idle { SBB_IDLE_SPIN = 0, SBB_IDLE_YIELD = 1, SBB_IDLE_SLEEP = 2 };

struct sbb_export_cfg {
	char topic[64];
	uint16_t port;
	uint8_t dst_mac[6];        /* unicast peer or multicast group (01:...) */
	/* Multicast: the receivers allowed to speak for this export (STATUS,
	 * NAK); none listed: any.  A unicast export's only receiver is dest. */
	uint8_t receivers[SBB_MAX_RECEIVERS][6];
	unsigned n_receivers;
	bool tethered;
	int zero_copy;             /* -1 auto (if the PMD has multi-seg TX), 0 off, 1 required */
};

struct sbb_import_cfg {
	char topic[64];
	uint16_t port;
	bool tethered;
	uint8_t sender_mac[6];     /* optional; learnt from the first DATA otherwise */
};

struct sbb_config {
	bool enabled;              /* any [bridge]/[export]/[import] section seen */
	char eal_args[1024];       /* split on whitespace; argv[0] is added */
	uint16_t worker_lcores[SBB_MAX_WORKERS];
	unsigned n_workers;        /* 0: every EAL worker lcore */
	uint32_t mtu;              /* default 1500 */
	uint32_t ooo_max;          /* imports: frames kept beyond a gap, 1..SBB_OOO_MAX (default) */
	uint64_t window;           /* default: a quarter of the ring */
	uint64_t heartbeat_ns, nak_interval_ns, status_interval_ns, receiver_timeout_ns;
	enum sbb_idle idle;
	struct sbb_fault_cfg tx_fault, rx_fault;
	struct sbb_export_cfg exports[SBB_MAX_TOPICS];
	unsigned n_exports;
	struct sbb_import_cfg imports[SBB_MAX_TOPICS];
	unsigned n_imports;
};

void sbb_config_defaults(struct sbb_config *c);
/* Parse one key of a [bridge], [export T] or [import T] section.  section is
 * the whole section name.  Returns 0, or -1 with a message in err. */
int sbb_config_key(struct sbb_config *c, const char *section, const char *key, const char *value,
		   char *err, size_t errlen);

/* Checks across sections, after the whole file was read: every export has
 * a dest, no topic is both exported and imported, at most SBB_MAX_PORTS
 * ports.  Returns 0, or -1 with a message in err. */
int sbb_config_check(const struct sbb_config *c, char *err, size_t errlen);

struct sbb_bridge;

/* segs: the admin mapping of each export's and import's topic, in config
 * order (the daemon creates missing topics first).  Returns 0 or a negative
 * SB_E* code with the detail logged; on failure nothing is left running. */
int sbb_bridge_start(struct sbb_bridge **out, const struct sbb_config *cfg,
		     const struct sb_seg *const *export_segs, const struct sb_seg *const *import_segs);
void sbb_bridge_stop(struct sbb_bridge *b);

/* Counters, for STATS.  fn is called once per topic direction ("export" /
 * "import", topic name) with a counters snapshot; zero_copy says whether
 * that export sends DATA bodies straight from the ring.  Safe to call from
 * the control thread while the workers run (relaxed 64-bit loads). */
typedef void (*sbb_stats_fn)(void *ctx, const char *kind, const char *name,
			     const struct sbb_counters *c, bool zero_copy);
void sbb_bridge_stats(const struct sbb_bridge *b, sbb_stats_fn fn, void *ctx);

/* Per-port counters (a snapshot; written by the port's worker). */
struct sbb_port_counters {
	uint64_t frames_rx, bytes_rx, frames_tx, bytes_tx;
	uint64_t malformed;                 /* refused by sbw_parse, all reasons */
	uint64_t malformed_by[SBW_E_COUNT_];/* per enum sbw_err (SBW_E_ETHERTYPE: not ours, not malformed) */
	uint64_t other_ethertype;           /* frames that were not ours, ignored */
	uint64_t unknown_topic;             /* valid frames for no export/import on this port */
	uint64_t tx_dropped;                /* frames that could not be built (no mbuf), freed */
	uint64_t tx_deferred;               /* frames the TX queue refused at first, sent on a later cycle */
	uint64_t rx_fault_drops, rx_fault_dups, rx_fault_holds, rx_fault_corruptions;
	uint64_t tx_fault_drops, tx_fault_dups, tx_fault_holds, tx_fault_corruptions;
};
/* fn is called once per port used, in port order. */
typedef void (*sbb_port_stats_fn)(void *ctx, uint16_t port, const struct sbb_port_counters *c);
void sbb_bridge_port_stats(const struct sbb_bridge *b, sbb_port_stats_fn fn, void *ctx);

#endif /* SBB_BRIDGE_H */
