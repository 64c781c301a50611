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
#include <sys/stat.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sbd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmbusd [options]\n"
		"  -s, --socket PATH          control socket (default /run/shmbus/shmbusd.sock as root,\n"
		"                             $XDG_RUNTIME_DIR/shmbus/shmbusd.sock otherwise)\n"
		"  -d, --dir DIR              segment directory (default: <hugetlbfs>/shmbus, else\n"
		"                             /dev/shm/shmbus[-UID])\n"
		"  -c, --config FILE          INI configuration (see docs/protocol.md, docs/api.md)\n"
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
			printf("%s (protocol %u, layout %u)\n", SBD_VERSION_STR, SBP_VERSION, SB_LAYOUT_VERSION);
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

int main(int argc, char **argv)
{
	static struct sbd d; /* static: big, and zeroed */
	int rc;

	d.epfd = d.lfd = d.sigfd = d.timerfd = -1;
	sbd_config_defaults(&d.cfg);
	rc = parse_args(argc, argv, &d.cfg);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	urcu_memb_register_thread();
	rc = resolve_dir(&d);
	if (rc == SB_OK)
		rc = sbd_registry_init(&d);
	if (rc == SB_OK)
		rc = sbd_registry_adopt_dir(&d, d.dir);
	if (rc == SB_OK)
		rc = sbd_topics_from_config(&d);
	if (rc == SB_OK)
		rc = sbd_loop_init(&d);
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
	sbd_loop_fini(&d);
	sbd_lease_fini(&d);
	sbd_registry_fini(&d);
	sbd_config_free(&d.cfg);
	urcu_memb_unregister_thread();
	sbi_log(SB_LOG_INFO, "daemon", "msg=\"stopped\"");
	return rc < 0 ? 1 : 0;
}
