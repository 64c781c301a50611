/*
 * netns.h - the two "hosts" of the crosshost scenario: a pair of network
 * namespaces joined through a switch namespace (or by two given
 * interfaces), commands run inside them, and the nftables loss rule
 * (internal header).
 *
 * The layout is that of scripts/netns-topology.sh up-mcast with two hosts,
 * under a prefix of the caller's choosing so that concurrent users never
 * share a namespace:
 *
 *     ${P}A [${P}-a]--veth--[${P}-sa]\
 *                                     br0 in ${P}S (a learning switch)
 *     ${P}B [${P}-b]--veth--[${P}-sb]/
 *
 * with MACs 02:00:00:00:00:0a / 0b and IPv4 169.254.77.1 / .2 (IPv6 off
 * everywhere, multicast snooping off).  The switch is there for the loss
 * rule: a frame dropped on a switch port is lost, whereas one dropped on
 * the sending host's own veth is handed back to af_packet's TX ring and
 * sent again (docs/operations.md §7.3).  Every subject crosses the same
 * switch, so the paired ratios compare like with like.
 *
 * With given interfaces (if_a, if_b: e.g. two NIC ports cabled back to
 * back) those are moved into the namespaces instead and keep their MACs;
 * the kernel moves them back when the namespaces are deleted.  There is no
 * switch then, and so no loss rule.
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
	char ns_sw[16];      /* ${P}S, the switch (empty with given interfaces) */
	char swport[2][16];  /* ${P}-sa, ${P}-sb: the switch's ports facing A, B */
	bool given_ifs;      /* moved-in interfaces, not veth pairs we made */
	bool up;             /* namespaces exist (down() has work to do) */
	bool loss;           /* the loss table is installed in ns_sw */
};

/* Name everything after prefix (1-6 of [a-z0-9]); if_a/if_b NULL: a veth
 * pair.  Returns 0 or -1 (message printed). */
int netns_pair_init(struct netns_pair *p, const char *prefix, const char *if_a, const char *if_b);

/* Create both namespaces and their link (removing leftovers of an earlier
 * run with the same prefix first).  Returns 0 or -1 (message printed; what
 * was made is left for netns_pair_down). */
int netns_pair_up(struct netns_pair *p);

/* Remove the namespaces (and with them the veth pairs, the switch and the
 * loss rule).  Safe to call at any time, also twice. */
void netns_pair_down(struct netns_pair *p);

/* Drop pct percent of the bridge's frames (EtherType 0x88B5) from A to B
 * with a counting nftables netdev egress rule on the switch's port facing
 * B (pct 0: remove it).  Only A -> B is lossy: B's NAKs and STATUS reach
 * A.  Needs the switch (not given interfaces).  Returns 0 or -1 (message
 * printed). */
int netns_set_loss(struct netns_pair *p, unsigned pct);

/* Frames the installed loss rule has dropped so far (its counter), or -1
 * if there is no rule or it cannot be read. */
long long netns_loss_dropped(const struct netns_pair *p);

/* Move the calling process into namespace ns.  Returns 0 or -errno. */
int netns_enter(const char *ns);

/* Run argv (searched in PATH) inside ns (NULL: here) and wait for it.
 * Its stdout and stderr go to /dev/null when quiet.  Returns its exit
 * status, or -1 if it could not be run or died by a signal. */
int netns_run(const char *ns, const char *const argv[], bool quiet);

/* True if the program can be found in PATH. */
bool netns_have_program(const char *name);

#endif /* BENCH_NETNS_H */
