/*
 * shmbusctl.c - the operator's CLI: list, stat [topic], bridge, clients,
 * create, delete; a human table by default, --json for tools.
 *
 * Bridge counters (daemon/stats.c) come from STATS ".bridge", which lists
 * the topic directions by index, then one STATS per direction; `stat`
 * appends them to the daemon's counters, `bridge` prints them alone.
 *
 * It speaks the control protocol directly (lib/sb_proto.h); it links neither
 * liburcu nor DPDK.  Replies are parsed with the same bounds-checked reader
 * the daemon uses: a malformed reply is reported, never trusted.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_layout.h"
#include "sb_proto.h"

static bool json;
static int sock = -1;
static struct sbp_msg reply;

static int die(const char *what)
{
	fprintf(stderr, "shmbusctl: %s: %s\n", what, sb_last_error());
	return 1;
}

static int call(uint16_t type, const void *body, uint32_t len, struct sbp_rd *rd)
{
	static uint32_t req;
	int32_t status;
	int rc = sbp_send(sock, type, ++req, body, len, NULL, 0, 0);

	if (rc == SB_OK)
		rc = sbp_recv(sock, &reply, NULL);
	if (rc < 0)
		return rc;
	if (reply.hdr.type != (type | SBP_REPLY) || reply.hdr.req_id != req || reply.hdr.body_len < 4)
		return sbi_error(SB_ECORRUPT, "unexpected reply from shmbusd");
	sbp_rd_init(rd, reply.body, reply.hdr.body_len);
	status = sbp_get_i32(rd);
	if (status < 0) {
		uint32_t n = reply.hdr.body_len - 4;

		if (n && memchr(reply.body + 4, '\0', n))
			return sbi_error(status, "%s", (const char *)reply.body + 4);
		return sbi_error(status, "%s", sb_strerror(status));
	}
	return SB_OK;
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char def[sizeof(sa.sun_path)];
	uint8_t body[64];
	struct sbp_wr w;
	struct sbp_rd rd;

	if (!path) {
		path = getenv("SHMBUS_SOCKET");
		if (!path || !*path)
			path = sbp_default_socket_path(def, sizeof(def));
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return sbi_error(SB_ENOENT, "connect %s: %s", path, strerror(errno));
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "shmbusctl");
	return call(SBP_HELLO, body, w.len, &rd);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int cmd_list(void)
{
	struct sbp_rd rd;
	uint32_t n;
	uint8_t truncated;
	int rc = call(SBP_LIST, NULL, 0, &rd);

	if (rc < 0)
		return die("list");
	n = sbp_get_u32(&rd);
	truncated = sbp_get_u8(&rd);
	if (json)
		printf("{\"topics\": [");
	else
		printf("%-32s %12s %8s %5s %5s %5s %5s %12s\n", "TOPIC", "RING", "MAX_MSG", "ALIGN", "NUMA", "PUBS",
		       "SUBS", "PUBLISHED");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		char name[SB_TOPIC_NAME_MAX];
		uint64_t ring, published;
		uint32_t max_msg, align, pubs, subs;
		int32_t numa;
		uint8_t huge;

		sbp_get_str(&rd, name, sizeof(name));
		ring = sbp_get_u64(&rd);
		max_msg = sbp_get_u32(&rd);
		align = sbp_get_u32(&rd);
		numa = sbp_get_i32(&rd);
		huge = sbp_get_u8(&rd);
		pubs = sbp_get_u32(&rd);
		subs = sbp_get_u32(&rd);
		published = sbp_get_u64(&rd);
		if (rd.bad)
			break;
		if (json) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_str(name);
			printf(", \"ring_size\": %llu, \"max_msg\": %u, \"msg_align\": %u, \"numa_node\": %d, "
			       "\"hugetlb\": %s, \"publishers\": %u, \"subscribers\": %u, \"published\": %llu}",
			       (unsigned long long)ring, max_msg, align, numa, huge ? "true" : "false", pubs, subs,
			       (unsigned long long)published);
		} else {
			printf("%-32s %12llu %8u %5u %5d %5u %5u %12llu%s\n", name, (unsigned long long)ring, max_msg,
			       align, numa, pubs, subs, (unsigned long long)published, huge ? "" : "  (no hugepages)");
		}
	}
	if (!sbp_rd_done(&rd)) {
		sbi_error(SB_ECORRUPT, "malformed LIST reply");
		return die("list");
	}
	if (json)
		printf("], \"truncated\": %s}\n", truncated ? "true" : "false");
	else if (truncated)
		printf("(list truncated)\n");
	return 0;
}

/* One STATS request; each (key, value) goes to fn.  Returns 0 or the code. */
typedef void (*kv_fn)(void *ctx, const char *key, uint64_t v);

static int stats_call(const char *what, kv_fn fn, void *ctx)
{
	uint8_t body[80];
	struct sbp_wr w;
	struct sbp_rd rd;
	uint32_t n;
	int rc;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, what);
	rc = call(SBP_STATS, body, w.len, &rd);
	if (rc < 0)
		return rc;
	n = sbp_get_u32(&rd);
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		char key[160]; /* bridge keys carry a topic name */
		uint64_t v;

		sbp_get_str(&rd, key, sizeof(key));
		v = sbp_get_u64(&rd);
		if (rd.bad)
			break;
		fn(ctx, key, v);
	}
	if (!sbp_rd_done(&rd))
		return sbi_error(SB_ECORRUPT, "malformed STATS reply");
	return SB_OK;
}

static unsigned printed;

static void print_kv(void *ctx, const char *key, uint64_t v)
{
	(void)ctx;
	/* numa_node travels as a u64 holding an int (-1: not bound). */
	if (json) {
		printf("%s", printed++ ? ", " : "");
		json_str(key);
		if (!strcmp(key, "numa_node"))
			printf(": %lld", (long long)(int64_t)v);
		else
			printf(": %llu", (unsigned long long)v);
	} else if (!strcmp(key, "numa_node")) {
		printf("%-36s %lld\n", key, (long long)(int64_t)v);
	} else {
		printf("%-36s %llu\n", key, (unsigned long long)v);
	}
}

/* The bridge's reply to ".bridge": port counters are printed; the
 * directory entries ("bridge.export.T" = index) say what to ask next. */
struct bridge_dir {
	unsigned n;
	char what[2 * 64][24];
};

static void bridge_kv(void *ctx, const char *key, uint64_t v)
{
	struct bridge_dir *dir = ctx;
	const char *kinds[] = { "bridge.export.", "bridge.import." };

	for (int k = 0; k < 2; k++) {
		if (strncmp(key, kinds[k], 14) != 0)
			continue;
		if (dir->n < sizeof(dir->what) / sizeof(dir->what[0]))
			snprintf(dir->what[dir->n++], sizeof(dir->what[0]), ".bridge.%s.%llu", k ? "import" : "export",
				 (unsigned long long)v);
		return;
	}
	print_kv(NULL, key, v);
}

/* Print the bridge's counters.  Returns 0, 1 if no bridge runs, or the
 * error code. */
static int print_bridge(void)
{
	static struct bridge_dir dir;
	int rc = stats_call(".bridge", bridge_kv, &dir);

	if (rc == SB_ENOENT)
		return 1;
	for (unsigned i = 0; i < dir.n && rc == SB_OK; i++)
		rc = stats_call(dir.what[i], print_kv, NULL);
	return rc;
}

static int cmd_stat(const char *topic)
{
	int rc;

	if (json) {
		printf("{\"topic\": ");
		if (topic)
			json_str(topic);
		else
			printf("null");
		printf(", \"counters\": {");
	}
	rc = stats_call(topic ? topic : "", print_kv, NULL);
	/* The daemon's counters include the bridge's, when one runs. */
	if (rc == SB_OK && !topic) {
		rc = print_bridge();
		if (rc > 0)
			rc = SB_OK; /* no bridge runs */
	}
	if (rc < 0) {
		if (json)
			printf("}}\n");
		return die("stat");
	}
	if (json)
		printf("}}\n");
	return 0;
}

static int cmd_bridge(void)
{
	int rc;

	if (json)
		printf("{\"bridge\": {");
	rc = print_bridge();
	if (json)
		printf("}}\n");
	if (rc == 1) {
		sbi_error(SB_ENOENT, "no bridge runs in this shmbusd");
		return die("bridge");
	}
	return rc < 0 ? die("bridge") : 0;
}

static int cmd_clients(void)
{
	struct sbp_rd rd;
	uint32_t n;
	uint8_t truncated;
	int rc = call(SBP_CLIENTS, NULL, 0, &rd);

	if (rc < 0)
		return die("clients");
	n = sbp_get_u32(&rd);
	truncated = sbp_get_u8(&rd);
	if (json)
		printf("{\"clients\": [");
	else
		printf("%6s %8s %6s %6s %8s  %s\n", "ID", "PID", "UID", "GID", "HANDLES", "NAME");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		char name[SBP_NAME_MAX];
		uint32_t id, uid, gid, handles;
		int32_t pid;

		id = sbp_get_u32(&rd);
		pid = sbp_get_i32(&rd);
		uid = sbp_get_u32(&rd);
		gid = sbp_get_u32(&rd);
		sbp_get_str(&rd, name, sizeof(name));
		handles = sbp_get_u32(&rd);
		if (rd.bad)
			break;
		if (json) {
			printf("%s{\"id\": %u, \"pid\": %d, \"uid\": %u, \"gid\": %u, \"handles\": %u, \"name\": ",
			       i ? ", " : "", id, pid, uid, gid, handles);
			json_str(name);
			printf("}");
		} else {
			printf("%6u %8d %6u %6u %8u  %s\n", id, pid, uid, gid, handles, name);
		}
	}
	if (!sbp_rd_done(&rd)) {
		sbi_error(SB_ECORRUPT, "malformed CLIENTS reply");
		return die("clients");
	}
	if (json)
		printf("], \"truncated\": %s}\n", truncated ? "true" : "false");
	return 0;
}

static int cmd_create(const char *topic, const struct sbp_topic_params *tp)
{
	uint8_t body[128];
	struct sbp_wr w;
	struct sbp_rd rd;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic);
	sbp_put_params(&w, tp);
	if (call(SBP_CREATE, body, w.len, &rd) < 0)
		return die("create");
	if (json)
		printf("{\"created\": true}\n");
	return 0;
}

static int cmd_delete(const char *topic)
{
	uint8_t body[80];
	struct sbp_wr w;
	struct sbp_rd rd;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic);
	if (call(SBP_DELETE, body, w.len, &rd) < 0)
		return die("delete");
	if (json)
		printf("{\"deleted\": true}\n");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shmbusctl [--socket PATH] [--json] COMMAND\n"
		   "  list                       topics\n"
		   "  stat [TOPIC]               daemon counters (and the bridge's), or a topic's\n"
		   "                             (per publisher/subscriber)\n"
		   "  bridge                     the DPDK bridge's counters (per port, per topic direction)\n"
		   "  clients                    connected clients\n"
		   "  create TOPIC [--ring-size N] [--max-msg N] [--align N] [--numa N]\n"
		   "  delete TOPIC\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "ring-size", required_argument, NULL, 'r' },
		{ "max-msg", required_argument, NULL, 'm' },
		{ "align", required_argument, NULL, 'a' },
		{ "numa", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sbp_topic_params tp = { .numa_node = -1 };
	const char *path = NULL, *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = true; break;
		case 'r': tp.ring_size = strtoull(optarg, NULL, 0); break;
		case 'm': tp.max_msg = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'a': tp.msg_align = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': tp.numa_node = (int32_t)strtol(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (connect_daemon(path) < 0)
		return die("connect");
	if (!strcmp(cmd, "list"))
		return cmd_list();
	if (!strcmp(cmd, "stat"))
		return cmd_stat(optind < argc ? argv[optind] : NULL);
	if (!strcmp(cmd, "clients"))
		return cmd_clients();
	if (!strcmp(cmd, "bridge"))
		return cmd_bridge();
	if (!strcmp(cmd, "create") && optind < argc)
		return cmd_create(argv[optind], &tp);
	if (!strcmp(cmd, "delete") && optind < argc)
		return cmd_delete(argv[optind]);
	usage(stderr);
	return 2;
}
