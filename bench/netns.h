/*
 * netns.h - the two "hosts" of the crosshost scenario: a pair of network
 * namespaces joined by a veth pair (or by two given interfaces), commands
 * run inside them, and the nftables loss rule (internal header).
 *
 * The layout is that of scripts/netns-topology.sh, under a prefix of the
 * caller's choosing so that concurrent users never share a namespace:
 *
 *     ${P}A [${P}-a] <---- veth ----> [${P}-b] ${P}B
 *
 * with MACs 02:00:00:00:00:0a / 0b and IPv4 169.254.77.1 / .2 (IPv6 off).
 * With given interfaces (if_a, if_b: e.g. two NIC ports cabled back to
 * back) those are moved into the namespaces instead and keep their MACs;
 * the kernel moves them back when the namespaces are deleted.
 *
 * Nothing here is for the measured loops: every call forks, execs or
 * sleeps.  Not thread-safe (one pair per process).
 */
#ifndef BENCH_NETNS_H
#define BENCH_NETNS_H

#include <stdbool.h>
#include <sys/types.h>

#define NETNS_IP_A "169.254.77.1"
#define NETNS_IP_B "169.254.77.2"
#define NETNS_UDP_PORT 7781

struct netns_pair {
	char prefix[8];
	char ns[2][16];      /* ${P}A, ${P}B */
	char ifname[2][16];  /* the interface inside each */
	char mac[2][18];     /* its MAC, "02:00:00:00:00:0a" */
	bool given_ifs;      /* moved-in interfaces, not a veth pair we made */
	bool up;             /* namespaces exist (down() has work to do) */
	bool loss;           /* the loss table is installed in ns[0] */
};

/* Name everything after prefix (1-6 of [a-z0-9]); if_a/if_b NULL: a veth
 * pair.  Returns 0 or -1 (message printed). */
int netns_pair_init(struct netns_pair *p, const char *prefix, const char *if_a, const char *if_b);

/* Create both namespaces and their link (removing leftovers of an earlier
 * run with the same prefix first).  Returns 0 or -1 (message printed; what
 * was made is left for netns_pair_down). */
int netns_pair_up(struct netns_pair *p);

/* Remove the namespaces (and with them the veth pair and the loss rule).
 * Safe to call at any time, also twice. */
void netns_pair_down(struct netns_pair *p);

/* Drop pct percent of the bridge's frames (EtherType 0x88B5) leaving A's
 * interface, with an nftables netdev egress rule (pct 0: remove it).
 * Returns 0 or -1 (message printed). */
int netns_set_loss(struct netns_pair *p, unsigned pct);

/* Move the calling process into namespace ns.  Returns 0 or -errno. */
int netns_enter(const char *ns);

/* Run argv (searched in PATH) inside ns (NULL: here) and wait for it.
 * Its stdout and stderr go to /dev/null when quiet.  Returns its exit
 * status, or -1 if it could not be run or died by a signal. */
int netns_run(const char *ns, const char *const argv[], bool quiet);

/* True if the program can be found in PATH. */
bool netns_have_program(const char *name);

#endif /* BENCH_NETNS_H */
