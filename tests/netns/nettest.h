/*
 * nettest.h - helpers for the cross-host suite 'netns' (test-only header).
 *
 * Each test builds its own topology with scripts/netns-topology.sh under a
 * prefix of its own (network namespaces ${P}A, ${P}B[, ${P}C, ${P}S]), runs
 * one shmbusd per host namespace with a DPDK bridge on net_af_packet over
 * the host's veth, and drives them from the root namespace: UNIX sockets
 * and /dev/shm are not network-namespaced, so publishers and subscribers
 * need no setns, only the daemons (and raw-frame injectors) do.
 *
 * Everything a test starts is torn down when the test process exits,
 * whatever the reason: normal return, a failed assertion (cmocka longjmps
 * past the test's own clean-up), exit(77), or SIGTERM/SIGINT/SIGHUP from the
 * test runner's timeout.  Daemons and children also die with the test
 * process (PR_SET_PDEATHSIG), so a SIGKILLed test leaves at worst its
 * namespaces, which the next `up` with the same prefix removes.
 *
 * Synchronisation is by polling observable state (bridge counters, daemon
 * log lines, consumed records) with generous bounds that only turn a hang
 * into a failure; nothing sleeps to wait for something.
 *
 * Skips (exit 77): not root, shmbusd built without the bridge, no network
 * namespaces, no AF_PACKET, DPDK without the af_packet PMD, hugepages
 * required (NT_HUGE=1) but not free.  By default EAL runs with --no-huge:
 * the af_packet PMD does not need hugepages, and the tests then do not
 * depend on (or compete with a benchmark for) the machine's reservation.
 *
 * Environment: SHMBUSD and NT_TOPOLOGY (set by meson); NT_HUGE=1 (EAL on
 * hugepages); NT_SEED (fault-injector seeds); NT_VERBOSE=1 (counters and
 * daemon logs even when the test passes).
 */
#ifndef NETTEST_H
#define NETTEST_H

#include "dtest.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NT_STALL_NS   (30ull * 1000000000ull)  /* no progress this long: failure */
#define NT_START_NS   (60ull * 1000000000ull)  /* daemon start-up bound (EAL, ASan) */
#define NT_MAX_MSG    4096                     /* topics' max_msg: > 2 x mtu 1500 */
#define NT_TOPIC      "s"

struct nt_host {
	char ns[16];       /* network namespace, e.g. nt1B */
	char ifc[16];      /* its veth, e.g. nt1-b */
	char mac[18];      /* 02:00:00:00:00:0b */
	char eal_prefix[24];
	char eal_run[64];  /* /var/run/dpdk/<eal_prefix>, removed at exit */
	int main_lcore;    /* the worker gets the other of lcores 0,1 */
	struct dt_daemon d;
	char log[128];     /* the daemon's stdout+stderr (appended across restarts) */
	char *config;      /* full INI text, kept for restarts */
	const char *const *extra;
	unsigned starts;
};

/* Parse argv (records), check the prerequisites that need no topology
 * (root, a bridge in $SHMBUSD); exit 77 with a reason if one is missing.
 * Installs the exit and signal clean-up. */
void nt_init(int argc, char **argv, uint64_t fallback_records);
uint64_t nt_records(void);
/* Report the test skipped (exit 77) with a reason; tears everything down. */
void nt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Seed for the fault injector: $NT_SEED or fallback (printed). */
uint64_t nt_seed(uint64_t fallback);

/* The prefix of this run: base (at most 3 characters) followed by three
 * base-36 digits of the process id, so that two runs of the suite (two
 * checkouts, CI beside a developer) never share a namespace. */
const char *nt_prefix(const char *base); /* the first call fixes it */
/* Build the topology (mcast: three hosts on a switch).  Exits 77 if the
 * script says so; removed at exit. */
void nt_topo_up(const char *prefix, bool mcast);

/* host: 'a', 'b' or 'c'. */
void nt_host_init(struct nt_host *h, const char *prefix, char host, int main_lcore);
/* The topology and hosts a (main lcore 0) and b (main lcore 1): how every
 * test begins. */
void nt_pair_init(struct nt_host *a, struct nt_host *b, const char *prefix, bool mcast);
/* Start the host's shmbusd in its namespace with [bridge] eal/idle set
 * up and `sections` appended (topics, [export]/[import], more [bridge]
 * keys).  Returns when the bridge runs (its ports answer STATS). */
void nt_host_start(struct nt_host *h, const char *sections, const char *const *extra);
/* SIGKILL it and reap (directories stay). */
void nt_host_kill(struct nt_host *h);
/* Start it again with the same configuration, socket and directories. */
void nt_host_respawn(struct nt_host *h);
/* SIGTERM, and assert a clean exit (status 0).  Directories go at exit. */
void nt_host_stop(struct nt_host *h);

/* Bridge counters: a port's ("bridge.port0.<key>") and a topic direction's
 * ("bridge.<kind>.<topic>.<key>", kind "export"/"import", the host's first
 * of that kind).  UINT64_MAX if absent. */
uint64_t nt_port_stat(const struct nt_host *h, const char *key);
uint64_t nt_dir_stat(const struct nt_host *h, const char *kind, const char *key);
/* Poll a direction counter until >= want (bounded); returns it. */
uint64_t nt_wait_dir_stat(const struct nt_host *h, const char *kind, const char *key, uint64_t want);
/* Print every bridge counter and the tail of the daemon's log to stderr. */
void nt_dump(const struct nt_host *h);
/* Dump every started host at exit unless nt_pass() was called. */
void nt_pass(void);

/* Payload of record i of a stream: exact length nt_len(i) (mixed: small
 * batched records, sizes around the MTU, fragmented ones up to
 * NT_MAX_MSG), dt_check() layout (stream, index, bytes, FNV-1a). */
uint32_t nt_len(uint64_t stream, uint64_t i);
uint32_t nt_fill(void *buf, uint64_t stream, uint64_t i);

/* A child process that publishes records [first, first + n) of stream on
 * topic NT_TOPIC of h, waiting out back-pressure (a stall of NT_STALL_NS
 * fails it).  Exit 0 when all were published. */
pid_t nt_publisher(const struct nt_host *h, uint64_t stream, uint64_t first, uint64_t n);
/* Reap a publisher and assert it exited 0. */
void nt_publisher_wait(pid_t pid);

/* A tethered checker: every record exactly once, in order, with the
 * publisher's sequence numbers (seq == index) and intact payload. */
struct nt_rx {
	uint64_t stream;
	uint64_t next;       /* index (and seq) expected next */
	uint64_t got;        /* messages delivered */
	uint64_t lost;       /* sum of msg.lost */
	uint64_t laps;       /* SB_ELAPPED results */
	uint64_t errors;
	char first_error[200];
	bool exact;          /* tethered: lost != 0 or a jump is an error */
	uint64_t last_progress_ns;
};
void nt_rx_init(struct nt_rx *rx, uint64_t stream, bool exact);
/* Open a subscriber of NT_TOPIC on h. */
sb_sub_t *nt_sub_open(const struct nt_host *h, sb_client_t **client, enum sb_sub_mode mode);
/* nt_sub_open, its checker rx for stream (exact when tethered), and wait
 * until h's import has synchronised with the sender, so that a publisher
 * started next is received from its first record. */
sb_sub_t *nt_sub_ready(const struct nt_host *h, sb_client_t **client, enum sb_sub_mode mode, struct nt_rx *rx,
		       uint64_t stream);
/* The end of a passing pair test: disconnect, stop b then a (each must
 * exit cleanly), nt_pass(). */
void nt_pair_stop(sb_client_t *client, struct nt_host *a, struct nt_host *b);
/* Consume until rx->next reaches upto; fails on a stall (dumping hosts). */
void nt_rx_until(sb_sub_t *s, struct nt_rx *rx, uint64_t upto);
/* Fail with the first error if rx saw any. */
void nt_rx_assert_clean(const struct nt_rx *rx);
/* Consume what is there now (bounded wait of at most timeout_ns for the
 * first message); returns messages delivered. */
int nt_rx_some(sb_sub_t *s, struct nt_rx *rx, uint64_t timeout_ns);

/* Run a shell command inside namespace ns; returns its exit status. */
int nt_ns_system(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send raw Ethernet frames out of ifc in ns (AF_PACKET).  Returns the
 * number sent, or -1 (and the reason on stderr). */
int nt_raw_send(const char *ns, const char *ifc, const uint8_t *const *frames, const uint32_t *lens,
		unsigned n);

#endif /* NETTEST_H */
