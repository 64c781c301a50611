/*
 * netns.c - namespaces, switch, links and the loss rule of the crosshost
 * scenario, made with the ip(8) and nft(8) commands.
 *
 * Commands run in a namespace are forked children that setns() into
 * /run/netns/NAME (where `ip netns add` mounts it) and exec the program:
 * the same as `ip netns exec` without its remount of /sys, which nothing
 * here needs.  Teardown deletes the namespaces, which deletes the veth
 * pairs with them (a veth goes with either end), the bridge and the
 * nftables table in the switch namespace, and returns moved-in interfaces
 * to the root namespace.
 *
 * The loss rule sits on the egress of the switch port facing B: the bridge
 * forwards A's frame with dev_queue_xmit() on that port, the netdev egress
 * hook drops it there, and nothing tells either host.  On A's own veth the
 * same rule would return the frame to af_packet's TX ring, which sends it
 * again (operations §7.3): a delay, not a loss.
 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOSS_TABLE "sbbenchloss"
#define LOSS_CHAIN "egress"

int netns_enter(const char *ns)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int netns_run(const char *ns, const char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (ns && netns_enter(ns) < 0)
			_exit(126);
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool netns_have_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096], *save = NULL, *dir;

	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char file[4200];

		snprintf(file, sizeof(file), "%s/%s", dir, name);
		if (access(file, X_OK) == 0)
			return true;
	}
	return false;
}

static bool valid_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 6)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int read_mac(const char *ifname, char *mac, size_t len)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	f = fopen(path, "re");
	if (!f || !fgets(mac, (int)len, f)) {
		fprintf(stderr, "shmbus-bench: crosshost: interface %s: no MAC in %s\n", ifname, path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	mac[strcspn(mac, "\n")] = '\0';
	return 0;
}

int netns_pair_init(struct netns_pair *p, const char *prefix, const char *if_a, const char *if_b)
{
	memset(p, 0, sizeof(*p));
	if (!valid_prefix(prefix)) {
		fprintf(stderr, "shmbus-bench: crosshost: namespace prefix '%s' must be 1-6 of [a-z0-9]\n", prefix);
		return -1;
	}
	snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
	snprintf(p->ns[0], sizeof(p->ns[0]), "%sA", prefix);
	snprintf(p->ns[1], sizeof(p->ns[1]), "%sB", prefix);
	if (if_a && if_b) {
		/* no switch between two given interfaces: ns_sw stays empty */
		p->given_ifs = true;
		snprintf(p->ifname[0], sizeof(p->ifname[0]), "%s", if_a);
		snprintf(p->ifname[1], sizeof(p->ifname[1]), "%s", if_b);
	} else {
		snprintf(p->ifname[0], sizeof(p->ifname[0]), "%s-a", prefix);
		snprintf(p->ifname[1], sizeof(p->ifname[1]), "%s-b", prefix);
		snprintf(p->ns_sw, sizeof(p->ns_sw), "%sS", prefix);
		snprintf(p->swport[0], sizeof(p->swport[0]), "%s-sa", prefix);
		snprintf(p->swport[1], sizeof(p->swport[1]), "%s-sb", prefix);
		snprintf(p->mac[0], sizeof(p->mac[0]), "02:00:00:00:00:0a");
		snprintf(p->mac[1], sizeof(p->mac[1]), "02:00:00:00:00:0b");
	}
	return 0;
}

static bool ns_exists(const char *ns)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return stat(path, &st) == 0;
}

/* Run a command, printing it if it fails. */
static int must(const char *ns, const char *const argv[])
{
	int rc = netns_run(ns, argv, false);

	if (rc != 0) {
		fprintf(stderr, "shmbus-bench: crosshost: command failed (%d)%s%s:", rc, ns ? " in " : "",
			ns ? ns : "");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
		return -1;
	}
	return 0;
}

void netns_pair_down(struct netns_pair *p)
{
	const char *all[3] = { p->ns[0], p->ns[1], p->ns_sw };

	for (int i = 0; i < 3; i++) {
		if (all[i][0] && ns_exists(all[i])) {
			const char *del[] = { "ip", "netns", "del", all[i], NULL };

			netns_run(NULL, del, true);
		}
	}
	p->up = false;
	p->loss = false;
}

static int host_if(struct netns_pair *p, int i, const char *addr)
{
	const char *ns = p->ns[i], *ifc = p->ifname[i];
	char key[96], cidr[32];
	const char *ipv6[] = { "sysctl", "-q", "-w", key, NULL };
	const char *mac[] = { "ip", "link", "set", ifc, "address", p->mac[i], NULL };
	const char *ip4[] = { "ip", "addr", "add", cidr, "dev", ifc, NULL };
	const char *upc[] = { "ip", "link", "set", ifc, "up", NULL };
	const char *lo[] = { "ip", "link", "set", "lo", "up", NULL };

	snprintf(key, sizeof(key), "net.ipv6.conf.%s.disable_ipv6=1", ifc);
	snprintf(cidr, sizeof(cidr), "%s/24", addr);
	if (must(ns, ipv6) < 0 || (!p->given_ifs && must(ns, mac) < 0) || must(ns, ip4) < 0 || must(ns, upc) < 0 ||
	    must(ns, lo) < 0)
		return -1;
	return 0;
}

/* The switch namespace: br0, a plain learning bridge (no STP, so ports
 * forward as soon as they are up), IPv6 off before any port exists so that
 * nothing of its own ever crosses it, no multicast snooping (as up-mcast). */
static int switch_up(struct netns_pair *p)
{
	const char *ns = p->ns_sw;
	const char *v6all[] = { "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", NULL };
	const char *v6def[] = { "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1", NULL };
	const char *br[] = { "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0",
			     "mcast_snooping", "0", NULL };
	const char *brup[] = { "ip", "link", "set", "br0", "up", NULL };

	if (must(ns, v6all) < 0 || must(ns, v6def) < 0 || must(ns, br) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		const char *veth[] = { "ip", "link", "add", p->swport[i], "type", "veth", "peer", "name",
				       p->ifname[i], "netns", p->ns[i], NULL };
		const char *port[] = { "ip", "link", "set", p->swport[i], "master", "br0", "up", NULL };

		if (must(ns, veth) < 0 || must(ns, port) < 0)
			return -1;
	}
	return must(ns, brup);
}

int netns_pair_up(struct netns_pair *p)
{
	netns_pair_down(p);
	if (p->given_ifs && (read_mac(p->ifname[0], p->mac[0], sizeof(p->mac[0])) < 0 ||
			     read_mac(p->ifname[1], p->mac[1], sizeof(p->mac[1])) < 0))
		return -1;
	for (int i = 0; i < 3; i++) {
		const char *ns = i < 2 ? p->ns[i] : p->ns_sw;
		const char *add[] = { "ip", "netns", "add", ns, NULL };

		if (!ns[0])
			continue;
		if (must(NULL, add) < 0)
			return -1;
		p->up = true;
	}
	if (p->given_ifs) {
		for (int i = 0; i < 2; i++) {
			const char *mv[] = { "ip", "link", "set", p->ifname[i], "netns", p->ns[i], NULL };

			if (must(NULL, mv) < 0)
				return -1;
		}
	} else if (switch_up(p) < 0) {
		return -1;
	}
	if (host_if(p, 0, NETNS_IP_A) < 0 || host_if(p, 1, NETNS_IP_B) < 0)
		return -1;
	return 0;
}

int netns_set_loss(struct netns_pair *p, unsigned pct)
{
	const char *ns = p->ns_sw;
	char chain[128], pcts[16];
	const char *del[] = { "nft", "delete", "table", "netdev", LOSS_TABLE, NULL };
	const char *table[] = { "nft", "add", "table", "netdev", LOSS_TABLE, NULL };
	const char *ch[] = { "nft", "add", "chain", "netdev", LOSS_TABLE, LOSS_CHAIN, chain, NULL };
	const char *rule[] = { "nft", "add", "rule", "netdev", LOSS_TABLE, LOSS_CHAIN, "ether", "type", "0x88b5",
			       "numgen", "random", "mod", "100", "<", pcts, "counter", "drop", NULL };

	if (p->loss) {
		if (must(ns, del) < 0)
			return -1;
		p->loss = false;
	}
	if (pct == 0)
		return 0;
	if (!ns[0]) {
		fprintf(stderr, "shmbus-bench: crosshost: no switch between given interfaces, no place for a loss "
				"rule (--loss 0)\n");
		return -1;
	}
	snprintf(chain, sizeof(chain), "{ type filter hook egress device %s priority 0; }", p->swport[1]);
	snprintf(pcts, sizeof(pcts), "%u", pct);
	if (must(ns, table) < 0)
		return -1;
	p->loss = true;
	if (must(ns, ch) < 0 || must(ns, rule) < 0)
		return -1;
	return 0;
}

long long netns_loss_dropped(const struct netns_pair *p)
{
	const char *argv[] = { "nft", "list", "chain", "netdev", LOSS_TABLE, LOSS_CHAIN, NULL };
	char line[512];
	long long v = -1;
	int pfd[2];
	pid_t pid;
	FILE *f;

	if (!p->loss || pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		if (netns_enter(p->ns_sw) < 0)
			_exit(126);
		dup2(pfd[1], 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	if (!f)
		close(pfd[0]);
	/* "... numgen random mod 100 < 5 counter packets 812 bytes 871264 drop" */
	while (f && fgets(line, sizeof(line), f)) {
		const char *c = strstr(line, "counter packets ");

		if (c && strstr(line, "drop"))
			sscanf(c, "counter packets %lld", &v);
	}
	if (f)
		fclose(f);
	waitpid(pid, NULL, 0);
	return v;
}
