/*
 * main.c - shmbusd: options, start-up and shutdown.
 *
 * Precedence: built-in defaults < --config FILE < command-line options, so
 * `shmbusd` with no argument runs with sane defaults.  The daemon stays in
 * the foreground (systemd, tests and containers supervise it) and logs
 * structured lines to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sbd.h"

/* Descriptors besides topics and clients: stdio, the loop's own, the
 * reserve, a DPDK bridge's. */
#define FD_SLACK 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmbusd [options]\n"
		"  -s, --socket PATH          control socket (default /run/shmbus/shmbusd.sock as root,\n"
		"                             $XDG_RUNTIME_DIR/shmbus/shmbusd.sock otherwise)\n"
		"  -d, --dir DIR              segment directory (default: <hugetlbfs>/shmbus, else\n"
		"                             /dev/shm/shmbus[-UID])\n"
		"  -c, --config FILE          INI configuration (see docs/protocol.md, docs/api.md;\n"
		"                             the DPDK bridge: docs/operations.md section 7)\n"
		"      --socket-mode MODE     octal, default 0660\n"
		"      --grace-ms MS          wait before repairing a dead publisher's claim (1000)\n"
		"      --hello-timeout-ms MS  close connections that send no HELLO (5000)\n"
		"      --orphan-grace-ms MS   after a restart, time for old clients to reconnect\n"
		"                             before slots of dead pids are reclaimed (5000)\n"
		"      --no-hugepages         segments in /dev/shm only\n"
		"  -v, --verbose              debug log lines\n"
		"  -h, --help, -V, --version\n");
}

enum { OPT_SOCKET_MODE = 256, OPT_GRACE, OPT_HELLO, OPT_NOHUGE, OPT_ORPHAN };

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "dir", required_argument, NULL, 'd' },
	{ "config", required_argument, NULL, 'c' },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "grace-ms", required_argument, NULL, OPT_GRACE },
	{ "hello-timeout-ms", required_argument, NULL, OPT_HELLO },
	{ "no-hugepages", no_argument, NULL, OPT_NOHUGE },
	{ "orphan-grace-ms", required_argument, NULL, OPT_ORPHAN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static bool num_arg(const char *s, int base, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *s == '\0' || *end != '\0' || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Returns 0 to run, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct sbd_config *cfg)
{
	const char *config = NULL;
	int c, rc;

	/* Pass 1: the config file, so that options override it. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:d:c:vhV", long_opts, NULL)) != -1)
		if (c == 'c')
			config = optarg;
	if (config) {
		rc = sbd_config_load(cfg, config);
		if (rc < 0) {
			fprintf(stderr, "shmbusd: %s\n", sb_last_error());
			return -1;
		}
	}
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "s:d:c:vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (strlen(optarg) >= sizeof(cfg->socket_path))
				goto bad;
			snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", optarg);
			break;
		case 'd':
			if (strlen(optarg) >= sizeof(cfg->dir))
				goto bad;
			snprintf(cfg->dir, sizeof(cfg->dir), "%s", optarg);
			break;
		case 'c':
			break;
		case OPT_SOCKET_MODE:
			if (!num_arg(optarg, 8, 0777, &cfg->socket_mode))
				goto bad;
			break;
		case OPT_GRACE:
			if (!num_arg(optarg, 10, 3600000, &cfg->grace_ms))
				goto bad;
			break;
		case OPT_HELLO:
			if (!num_arg(optarg, 10, 3600000, &cfg->hello_timeout_ms) || cfg->hello_timeout_ms == 0)
				goto bad;
			break;
		case OPT_ORPHAN:
			if (!num_arg(optarg, 10, 3600000, &cfg->orphan_grace_ms))
				goto bad;
			break;
		case OPT_NOHUGE:
			cfg->no_hugepages = true;
			break;
		case 'v':
			sb_log_set_level(SB_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("%s (protocol %u, layout %u, bridge %s)\n", SBD_VERSION_STR, SBP_VERSION, SB_LAYOUT_VERSION,
#ifdef SB_HAVE_BRIDGE
			       "dpdk"
#else
			       "not built"
#endif
			);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shmbusd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "shmbusd: bad option value '%s'\n", optarg);
	return -1;
}

/* Every topic holds three fds (segment, subscriber file, read-only
 * segment) and every client one, so the usual soft limit of 1024 would end
 * a default daemon after some 330 topics.  Raise the soft limit to the hard
 * one (the daemon uses poll/epoll only, so large fd numbers are safe) and
 * warn when even that is below what the configured maxima can use; past it
 * creates fail with SB_EMFILE and connections are refused (loop.c). */
static void raise_fd_limit(const struct sbd_config *cfg)
{
	uint64_t want = 3ull * cfg->max_topics + cfg->max_clients + FD_SLACK;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		sbi_log(SB_LOG_WARN, "daemon", "msg=\"file descriptor limit below what max_topics and max_clients "
			"can use; raise it (ulimit -n, LimitNOFILE=)\" limit=%llu needed=%llu max_topics=%u "
			"max_clients=%u", (unsigned long long)rl.rlim_cur, (unsigned long long)want, cfg->max_topics,
			cfg->max_clients);
}

/* Segment directory: the configured one, else a per-daemon subdirectory of
 * the hugetlbfs mount (with /dev/shm as the fallback) or of /dev/shm. */
static int resolve_dir(struct sbd *d)
{
	bool huge = false;
	const char *base;
	char shm[64];

	if (geteuid() == 0)
		snprintf(shm, sizeof(shm), "/dev/shm/shmbus");
	else
		snprintf(shm, sizeof(shm), "/dev/shm/shmbus-%u", (unsigned)geteuid());
	if (d->cfg.dir[0]) {
		snprintf(d->dir, sizeof(d->dir), "%s", d->cfg.dir);
	} else {
		base = d->cfg.no_hugepages ? NULL : sb_seg_default_dir(&huge);
		if (huge) {
			snprintf(d->dir, sizeof(d->dir), "%s/shmbus", base);
			if (mkdir(d->dir, 0700) != 0 && errno != EEXIST)
				huge = false;
		}
		if (huge) {
			snprintf(d->fallback_dir, sizeof(d->fallback_dir), "%s", shm);
		} else {
			if (!d->cfg.no_hugepages)
				sbi_log(SB_LOG_WARN, "daemon", "msg=\"no usable hugetlbfs mount; segments in %s\"", shm);
			snprintf(d->dir, sizeof(d->dir), "%s", shm);
		}
	}
	if (mkdir(d->dir, 0700) != 0 && errno != EEXIST)
		return sbi_error(SB_EIO, "mkdir %s: %s", d->dir, strerror(errno));
	if (d->fallback_dir[0] && mkdir(d->fallback_dir, 0700) != 0 && errno != EEXIST)
		d->fallback_dir[0] = '\0';
	return SB_OK;
}

#ifdef SB_HAVE_BRIDGE
/* A bridged topic: found (configured or adopted) or created with its
 * [topic] settings or the defaults; held by a reference while the bridge
 * runs so that DELETE cannot unmap what a worker uses. */
static int bridge_topic(struct sbd *d, const char *name, const struct sb_seg **seg)
{
	struct sbd_topic *t = sbd_topic_find(d, name);
	int rc;

	if (!t) {
		rc = sbd_topic_create(d, name, NULL, geteuid(), getegid(), &t);
		if (rc < 0)
			return rc;
	}
	sbd_topic_get(t);
	d->bridge_topics[d->n_bridge_topics++] = t;
	*seg = &t->seg;
	return SB_OK;
}

int sbd_bridge_start(struct sbd *d)
{
	const struct sbb_config *bc = &d->cfg.bridge;
	const struct sb_seg *xs[SBB_MAX_TOPICS], *is[SBB_MAX_TOPICS];
	int rc = SB_OK;

	if (!bc->enabled)
		return SB_OK; /* shm-only: EAL is never initialised */
	for (unsigned i = 0; i < bc->n_exports && rc == SB_OK; i++)
		rc = bridge_topic(d, bc->exports[i].topic, &xs[i]);
	for (unsigned i = 0; i < bc->n_imports && rc == SB_OK; i++)
		rc = bridge_topic(d, bc->imports[i].topic, &is[i]);
	if (rc == SB_OK)
		rc = sbb_bridge_start(&d->bridge, bc, xs, is);
	if (rc < 0) {
		sbd_bridge_stop(d);
		return rc;
	}
	sbi_log(SB_LOG_INFO, "daemon", "msg=\"bridge running\" exports=%u imports=%u", bc->n_exports, bc->n_imports);
	return SB_OK;
}

void sbd_bridge_stop(struct sbd *d)
{
	sbb_bridge_stop(d->bridge);
	d->bridge = NULL;
	while (d->n_bridge_topics)
		sbd_topic_put(d, d->bridge_topics[--d->n_bridge_topics]);
}
#else
int sbd_bridge_start(struct sbd *d)
{
	(void)d;
	return SB_OK;
}

void sbd_bridge_stop(struct sbd *d)
{
	(void)d;
}
#endif

int main(int argc, char **argv)
{
	static struct sbd d; /* static: big, and zeroed */
	int rc;

	d.epfd = d.lfd = d.sigfd = d.timerfd = d.reserve_fd = -1;
	sbd_config_defaults(&d.cfg);
	rc = parse_args(argc, argv, &d.cfg);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	rc = sbd_signals_block();
	if (rc < 0) {
		sbi_log(SB_LOG_ERR, "daemon", "msg=\"start-up failed\" code=%d detail=\"%s\"", rc, sb_last_error());
		sbd_config_free(&d.cfg);
		return 1;
	}
	urcu_memb_register_thread();
	raise_fd_limit(&d.cfg);
	rc = resolve_dir(&d);
	if (rc == SB_OK)
		rc = sbd_registry_init(&d);
	if (rc == SB_OK)
		rc = sbd_registry_adopt_dir(&d, d.dir);
	if (rc == SB_OK)
		rc = sbd_topics_from_config(&d);
	if (rc == SB_OK)
		rc = sbd_loop_init(&d);
	/* SIGTERM/SIGINT were blocked first thing, so EAL's threads inherit
	 * the mask. */
	if (rc == SB_OK)
		rc = sbd_bridge_start(&d);
	if (rc < 0) {
		sbi_log(SB_LOG_ERR, "daemon", "msg=\"start-up failed\" code=%d detail=\"%s\"", rc, sb_last_error());
		sbd_loop_fini(&d);
		sbd_registry_fini(&d);
		sbd_config_free(&d.cfg);
		urcu_memb_unregister_thread();
		return 1;
	}
	sbd_timers_rearm(&d); /* adopted segments may have slots to watch */
	sbi_log(SB_LOG_INFO, "daemon", "msg=\"ready\" version=\"%s\" socket=%s dir=%s grace_ms=%u pid=%d",
		SBD_VERSION_STR, d.cfg.socket_path, d.dir, d.cfg.grace_ms, (int)getpid());
	while (!d.stop) {
		rc = sbd_agent_do_work(&d, -1);
		if (rc < 0) {
			sbi_log(SB_LOG_ERR, "daemon", "msg=\"control loop failed\" detail=\"%s\"", sb_last_error());
			break;
		}
	}
	sbd_bridge_stop(&d);
	sbd_loop_fini(&d);
	sbd_lease_fini(&d);
	sbd_registry_fini(&d);
	sbd_config_free(&d.cfg);
	urcu_memb_unregister_thread();
	sbi_log(SB_LOG_INFO, "daemon", "msg=\"stopped\"");
	return rc < 0 ? 1 : 0;
}
