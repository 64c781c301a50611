/*
 * nettest.c - see nettest.h.
 *
 * Clean-up design: the process that called nt_init() owns everything (its
 * pid is remembered, because forked children inherit atexit handlers and
 * must never tear down the namespaces of their parent).  One routine kills
 * the publishers and daemons, removes the topology and the directories; it
 * runs from atexit and from the handler of the termination signals, so it
 * uses only fork/exec/kill/waitpid there (no stdio, no malloc).
 */
#include "nettest.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sb_proto.h"

#define MAX_HOSTS 8
#define MAX_KIDS  16

static pid_t owner;
static uint64_t records;
static bool use_huge;
static bool verbose;
static bool trace;      /* NT_TRACE=1: every delivery on stderr */
static volatile sig_atomic_t cleaned;
static bool passed;

static char topo_script[256];
static char topo_prefix[8];
static bool topo_is_up;

static struct nt_host *hosts[MAX_HOSTS];
static unsigned n_hosts;
static pid_t kids[MAX_KIDS];

/* ------------------------------------------------------------ clean-up */

/* fork + execv + waitpid: async-signal-safe. */
static int run_argv(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void kill_reap(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		*pid = 0;
	}
}

static void rm_dir(char *dir)
{
	char *argv[] = { (char *)"/bin/rm", (char *)"-rf", dir, NULL };

	if (dir[0])
		run_argv(argv, true);
}

static void teardown(void)
{
	if (getpid() != owner || cleaned)
		return;
	cleaned = 1;
	for (unsigned i = 0; i < MAX_KIDS; i++)
		kill_reap(&kids[i]);
	for (unsigned i = 0; i < n_hosts; i++)
		kill_reap(&hosts[i]->d.pid);
	if (topo_is_up) {
		char *argv[] = { (char *)"/bin/bash", topo_script, (char *)"-p", topo_prefix, (char *)"down", NULL };

		run_argv(argv, true);
		topo_is_up = false;
	}
	for (unsigned i = 0; i < n_hosts; i++) {
		rm_dir(hosts[i]->d.tmp);
		rm_dir(hosts[i]->d.dir);
		rm_dir(hosts[i]->eal_run); /* EAL's runtime directory */
	}
}

static void at_exit(void)
{
	if (getpid() != owner || cleaned)
		return;
	if (!passed || verbose)
		for (unsigned i = 0; i < n_hosts; i++)
			nt_dump(hosts[i]);
	teardown();
}

static void on_signal(int sig)
{
	static const char msg[] = "nettest: terminated by a signal; tearing down\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	teardown();
	_exit(128 + sig);
}

static pid_t *kid_slot(void)
{
	for (unsigned i = 0; i < MAX_KIDS; i++)
		if (kids[i] == 0)
			return &kids[i];
	fail_msg("too many child processes");
	return NULL;
}

/* -------------------------------------------------------------- set-up */


void nt_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "SKIP: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	passed = true; /* nothing to dump */
	exit(DT_EXIT_SKIP);
}

void nt_init(int argc, char **argv, uint64_t fallback_records)
{
	struct sigaction sa;
	const char *bin = getenv("SHMBUSD"), *topo = getenv("NT_TOPOLOGY"), *e;
	char cmd[512], line[256] = "";
	FILE *p;

	owner = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	records = dt_records(argc, argv, fallback_records);
	verbose = (e = getenv("NT_VERBOSE")) && *e == '1';
	use_huge = (e = getenv("NT_HUGE")) && *e == '1';
	trace = (e = getenv("NT_TRACE")) && *e == '1';
	if (!bin || !topo) {
		fprintf(stderr, "$SHMBUSD and $NT_TOPOLOGY must be set (meson sets them)\n");
		exit(1);
	}
	snprintf(topo_script, sizeof(topo_script), "%s", topo);
	if (geteuid() != 0)
		nt_skip("needs root (network namespaces, AF_PACKET)");
	snprintf(cmd, sizeof(cmd), "'%s' -V 2>&1", bin);
	p = popen(cmd, "r");
	if (!p || !fgets(line, sizeof(line), p))
		line[0] = '\0';
	if (p)
		pclose(p);
	if (!strstr(line, "bridge dpdk"))
		nt_skip("%s has no DPDK bridge (-V: %s)", bin, line[0] ? line : "nothing");
	if (use_huge) {
		long free_pages = 0;
		FILE *m = fopen("/proc/meminfo", "r");
		char l[128];

		while (m && fgets(l, sizeof(l), m))
			sscanf(l, "HugePages_Free: %ld", &free_pages);
		if (m)
			fclose(m);
		if (free_pages < 3 * 32 + 16)
			nt_skip("NT_HUGE=1 but only %ld hugepages are free", free_pages);
	}
	atexit(at_exit);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A publisher that exits early must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	printf("nettest: %llu records, EAL on %s\n", (unsigned long long)records,
	       use_huge ? "hugepages" : "--no-huge memory");
}

uint64_t nt_records(void)
{
	return records;
}

uint64_t nt_seed(uint64_t fallback)
{
	const char *e = getenv("NT_SEED");
	uint64_t s = e && *e ? strtoull(e, NULL, 0) : fallback;

	printf("nettest: fault seed %llu (NT_SEED=%llu reproduces)\n", (unsigned long long)s,
	       (unsigned long long)s);
	return s;
}

void nt_pass(void)
{
	passed = true;
}

const char *nt_prefix(const char *base)
{
	static char buf[8];
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned v = (unsigned)getpid() % (36u * 36u * 36u);

	if (!buf[0])
		snprintf(buf, sizeof(buf), "%.3s%c%c%c", base, digits[v / 1296], digits[v / 36 % 36], digits[v % 36]);
	return buf;
}

void nt_topo_up(const char *prefix, bool mcast)
{
	char *argv[] = { (char *)"/bin/bash", topo_script, (char *)"-p", (char *)prefix,
			 (char *)(mcast ? "up-mcast" : "up"), NULL };
	int rc;

	snprintf(topo_prefix, sizeof(topo_prefix), "%s", prefix);
	topo_is_up = true; /* even a half-made topology is removed at exit */
	rc = run_argv(argv, false);
	if (rc == DT_EXIT_SKIP)
		nt_skip("netns-topology.sh could not build the topology");
	if (rc != 0)
		fail_msg("netns-topology.sh -p %s %s failed: %d", prefix, argv[4], rc);
}

/* -------------------------------------------------------------- daemons */

void nt_host_init(struct nt_host *h, const char *prefix, char host, int main_lcore)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->ns, sizeof(h->ns), "%s%c", prefix, host - 'a' + 'A');
	snprintf(h->ifc, sizeof(h->ifc), "%s-%c", prefix, host);
	snprintf(h->mac, sizeof(h->mac), "02:00:00:00:00:0%c", host);
	snprintf(h->eal_prefix, sizeof(h->eal_prefix), "%s%c%d", prefix, host, (int)getpid());
	snprintf(h->eal_run, sizeof(h->eal_run), "/var/run/dpdk/%s", h->eal_prefix);
	h->main_lcore = main_lcore;
}

void nt_pair_init(struct nt_host *a, struct nt_host *b, const char *prefix, bool mcast)
{
	nt_topo_up(prefix, mcast);
	nt_host_init(a, prefix, 'a', 0);
	nt_host_init(b, prefix, 'b', 1);
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Does the log, from offset on, contain needle? */
static bool log_has(const char *path, size_t from, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;

	if (!f)
		return false;
	fseek(f, (long)from, SEEK_SET);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The last lines of a daemon's log, without the connections of our own
 * counter polls (they would drown everything else). */
static void print_log_tail(const char *path, unsigned max_lines)
{
	static char ring[64][512];
	unsigned n = 0;
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (max_lines > 64)
		max_lines = 64;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "name=\"dtest-stats\"") || strstr(line, "name=\"nettest-dump\""))
			continue;
		snprintf(ring[n++ % max_lines], sizeof(ring[0]), "%s", line);
	}
	fclose(f);
	fprintf(stderr, "---- %s (last %u lines)\n", path, n < max_lines ? n : max_lines);
	for (unsigned i = n > max_lines ? n - max_lines : 0; i < n; i++)
		fputs(ring[i % max_lines], stderr);
	fprintf(stderr, "----\n");
}

/* Between polls of a daemon's counters: each poll is a connection the
 * daemon serves on a core it shares with the workers. */
static void poll_pause(void)
{
	struct timespec ts = { 0, 10000000 };

	nanosleep(&ts, NULL);
}

static void spawn(struct nt_host *h)
{
	const char *bin = getenv("SHMBUSD");
	const char *argv[32];
	char cfg_path[128], nspath[64];
	size_t from = file_size(h->log);
	uint64_t t0;
	int n = 0;
	pid_t pid;

	snprintf(cfg_path, sizeof(cfg_path), "%s/shmbusd.ini", h->d.tmp);
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = h->d.sock;
	argv[n++] = "--dir";
	argv[n++] = h->d.dir;
	argv[n++] = "--config";
	argv[n++] = cfg_path;
	for (int i = 0; h->extra && h->extra[i] && n < 30; i++)
		argv[n++] = h->extra[i];
	argv[n] = NULL;
	snprintf(nspath, sizeof(nspath), "/run/netns/%s", h->ns);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd, lf;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		lf = open(h->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (lf >= 0) {
			dup2(lf, 1);
			dup2(lf, 2);
		}
		fd = open(nspath, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
			fprintf(stderr, "nettest: setns %s: %s\n", nspath, strerror(errno));
			_exit(126);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	h->d.pid = pid;
	h->starts++;
	/* Ready when the control loop runs, i.e. after the bridge started. */
	t0 = dt_now_ns();
	for (;;) {
		int st;

		if (log_has(h->log, from, "msg=\"ready\""))
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			h->d.pid = 0;
			print_log_tail(h->log, 60);
			if (log_has(h->log, from, "Cannot get hugepage information") ||
			    log_has(h->log, from, "No free 2048 kB hugepages") ||
			    log_has(h->log, from, "Cannot init memory"))
				nt_skip("EAL could not get hugepages (see the log above)");
			if (log_has(h->log, from, "net_af_packet") &&
			    (log_has(h->log, from, "failed to parse device") ||
			     log_has(h->log, from, "Driver cannot attach")))
				nt_skip("DPDK has no usable net_af_packet PMD (see the log above)");
			fail_msg("shmbusd in %s exited during start-up (status 0x%x)", h->ns, st);
		}
		if (dt_now_ns() - t0 > NT_START_NS)
			fail_msg("shmbusd in %s did not become ready", h->ns);
		poll_pause();
	}
	if (dt_stat(&h->d, ".bridge", "bridge.ports") == UINT64_MAX)
		fail_msg("shmbusd in %s runs without a bridge", h->ns);
}

void nt_host_start(struct nt_host *h, const char *sections, const char *const *extra)
{
	char eal[512];
	size_t len;
	FILE *f;
	char cfg_path[128];

	snprintf(h->d.tmp, sizeof(h->d.tmp), "/tmp/sbnt.XXXXXX");
	snprintf(h->d.dir, sizeof(h->d.dir), "/dev/shm/sbnt.XXXXXX");
	if (!mkdtemp(h->d.tmp) || !mkdtemp(h->d.dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	if (n_hosts < MAX_HOSTS)
		hosts[n_hosts++] = h;
	snprintf(h->d.sock, sizeof(h->d.sock), "%s/shmbusd.sock", h->d.tmp);
	snprintf(h->log, sizeof(h->log), "%s/shmbusd.log", h->d.tmp);
	/* --no-huge implies legacy memory, which --in-memory refuses: then
	 * --no-shconf keeps EAL's shared files away instead. */
	snprintf(eal, sizeof(eal),
		 "--no-pci %s --no-telemetry --file-prefix=%s -m 64 "
		 "--vdev=net_af_packet0,iface=%s,qdisc_bypass=0 -l 0,1 --main-lcore %d",
		 use_huge ? "--in-memory" : "--no-huge --no-shconf", h->eal_prefix, h->ifc, h->main_lcore);
	len = strlen(eal) + strlen(sections) + 128;
	h->config = malloc(len);
	assert_non_null(h->config);
	snprintf(h->config, len, "[bridge]\neal = %s\nidle = sleep\n%s", eal, sections);
	h->extra = extra;
	snprintf(cfg_path, sizeof(cfg_path), "%s/shmbusd.ini", h->d.tmp);
	f = fopen(cfg_path, "w");
	assert_non_null(f);
	fputs(h->config, f);
	fclose(f);
	spawn(h);
}

void nt_host_kill(struct nt_host *h)
{
	if (h->d.pid > 0) {
		kill(h->d.pid, SIGKILL);
		assert_int_equal(dt_wait_child(h->d.pid), 128 + SIGKILL);
		h->d.pid = 0;
	}
}

void nt_host_respawn(struct nt_host *h)
{
	spawn(h);
}

void nt_host_stop(struct nt_host *h)
{
	int st;

	if (h->d.pid > 0) {
		kill(h->d.pid, SIGTERM);
		st = dt_wait_child(h->d.pid);
		h->d.pid = 0;
		if (st != 0) {
			print_log_tail(h->log, 60);
			fail_msg("shmbusd in %s did not shut down cleanly: exit status %d", h->ns, st);
		}
	}
}

/* ------------------------------------------------------------- counters */

uint64_t nt_port_stat(const struct nt_host *h, const char *key)
{
	char k[64];

	snprintf(k, sizeof(k), "bridge.port0.%s", key);
	return dt_stat(&h->d, ".bridge", k);
}

uint64_t nt_dir_stat(const struct nt_host *h, const char *kind, const char *key)
{
	char what[32], k[64];

	snprintf(what, sizeof(what), ".bridge.%s.0", kind);
	snprintf(k, sizeof(k), "bridge.%s.%s.%s", kind, NT_TOPIC, key);
	return dt_stat(&h->d, what, k);
}

uint64_t nt_wait_dir_stat(const struct nt_host *h, const char *kind, const char *key, uint64_t want)
{
	uint64_t t0 = dt_now_ns(), v;

	while ((v = nt_dir_stat(h, kind, key)) == UINT64_MAX || v < want) {
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("%s: bridge.%s.%s.%s stayed at %llu, expected >= %llu", h->ns, kind, NT_TOPIC, key,
				 (unsigned long long)v, (unsigned long long)want);
		poll_pause();
	}
	return v;
}

/* Every counter of one STATS reply, on one line. */
static void dump_stats(const struct nt_host *h, const char *what)
{
	uint8_t body[80];
	struct sbp_wr w;
	struct sbp_rd r;
	struct sbp_msg m;
	uint32_t n;
	int fd = dt_raw_connect(h->d.sock);

	if (fd < 0)
		return;
	if (dt_raw_hello(fd, "nettest-dump") != 0) {
		close(fd);
		return;
	}
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, what);
	if (dt_raw_call(fd, SBP_STATS, body, w.len, &m) != 0) {
		close(fd);
		return;
	}
	close(fd);
	sbp_rd_init(&r, m.body + 4, m.hdr.body_len - 4);
	n = sbp_get_u32(&r);
	fprintf(stderr, "  %s:", what);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		char k[64];
		uint64_t x;

		sbp_get_str(&r, k, sizeof(k));
		x = sbp_get_u64(&r);
		if (!r.bad && x != 0)
			fprintf(stderr, " %s=%llu", k, (unsigned long long)x);
	}
	fputc('\n', stderr);
}

void nt_dump(const struct nt_host *h)
{
	fprintf(stderr, "==== host %s (pid %d, %u start%s)\n", h->ns, (int)h->d.pid, h->starts,
		h->starts == 1 ? "" : "s");
	if (h->d.pid > 0) {
		dump_stats(h, ".bridge");
		dump_stats(h, ".bridge.export.0");
		dump_stats(h, ".bridge.import.0");
	}
	print_log_tail(h->log, 40);
}

/* ------------------------------------------------------------- payloads */

uint32_t nt_len(uint64_t stream, uint64_t i)
{
	uint64_t r = dt_mix(i * 0x9e3779b97f4a7c15u ^ stream);
	uint32_t pick = (uint32_t)(r % 100), x = (uint32_t)(r >> 32);

	if (i % 101 == 7)
		return NT_MAX_MSG;                 /* the largest record the topic takes */
	if (pick < 70)
		return 24 + x % 177;               /* small: many per frame */
	if (pick < 85)
		return 1400 + x % 201;             /* around one frame's payload */
	if (pick < 95)
		return 200 + x % 1200;             /* medium */
	return 1600 + x % (NT_MAX_MSG - 1600); /* fragmented */
}

uint32_t nt_fill(void *buf, uint64_t stream, uint64_t i)
{
	return dt_fill_len(buf, nt_len(stream, i), stream, i);
}

/* ------------------------------------------------------------ publisher */

static void nap(void)
{
	struct timespec ts = { 0, 20000 }; /* back-off while back-pressured */

	nanosleep(&ts, NULL);
}

pid_t nt_publisher(const struct nt_host *h, uint64_t stream, uint64_t first, uint64_t n)
{
	pid_t *slot = kid_slot();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sb_client_opts co = { .socket_path = h->d.sock, .name = "nt-publisher" };
		static uint8_t buf[NT_MAX_MSG];
		sb_client_t *c;
		sb_pub_t *p;
		uint64_t last = dt_now_ns();

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		c = sb_connect(&co);
		p = c ? sb_pub_open(c, NT_TOPIC, NULL) : NULL;
		if (!p) {
			fprintf(stderr, "publisher: %s\n", sb_last_error());
			_exit(10);
		}
		for (uint64_t i = first; i < first + n; i++) {
			uint32_t len = nt_fill(buf, stream, i);
			unsigned spins = 0;
			int rc;

			while ((rc = sb_pub_send(p, buf, len)) == SB_EBACKPRESSURE) {
				if (dt_now_ns() - last > NT_STALL_NS) {
					fprintf(stderr, "publisher: back-pressured for %llu s at record %llu\n",
						(unsigned long long)(NT_STALL_NS / 1000000000u), (unsigned long long)i);
					_exit(11);
				}
				if (++spins > 64)
					nap();
				else
					sched_yield();
			}
			if (rc != 0) {
				fprintf(stderr, "publisher: record %llu: %s\n", (unsigned long long)i, sb_strerror(rc));
				_exit(12);
			}
			last = dt_now_ns();
		}
		/* The topic stays; the records stay in the ring for the bridge. */
		_exit(0);
	}
	*slot = pid;
	return pid;
}

void nt_publisher_wait(pid_t pid)
{
	int st = dt_wait_child(pid);

	for (unsigned i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	if (st != 0)
		fail_msg("publisher exited with status %d", st);
}

/* ------------------------------------------------------------- checkers */

void nt_rx_init(struct nt_rx *rx, uint64_t stream, bool exact)
{
	memset(rx, 0, sizeof(*rx));
	rx->stream = stream;
	rx->exact = exact;
	rx->last_progress_ns = dt_now_ns();
}

sb_sub_t *nt_sub_open(const struct nt_host *h, sb_client_t **client, enum sb_sub_mode mode)
{
	struct sb_client_opts co = { .socket_path = h->d.sock, .name = "nt-subscriber" };
	struct sb_sub_opts so = { mode, SB_FROM_LATEST, SB_BLOCKING };
	sb_sub_t *s;

	*client = sb_connect(&co);
	if (!*client)
		fail_msg("connect %s: %s", h->d.sock, sb_last_error());
	s = sb_sub_open(*client, NT_TOPIC, &so);
	if (!s)
		fail_msg("subscribe on %s: %s", h->ns, sb_last_error());
	return s;
}

sb_sub_t *nt_sub_ready(const struct nt_host *h, sb_client_t **client, enum sb_sub_mode mode, struct nt_rx *rx,
		       uint64_t stream)
{
	sb_sub_t *s = nt_sub_open(h, client, mode);

	nt_rx_init(rx, stream, mode == SB_TETHERED);
	nt_wait_dir_stat(h, "import", "resyncs", 1);
	return s;
}

void nt_pair_stop(sb_client_t *client, struct nt_host *a, struct nt_host *b)
{
	sb_disconnect(client);
	nt_host_stop(b);
	nt_host_stop(a);
	nt_pass();
}

static void rx_error(struct nt_rx *rx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rx_error(struct nt_rx *rx, const char *fmt, ...)
{
	va_list ap;

	if (rx->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(rx->first_error, sizeof(rx->first_error), fmt, ap);
		va_end(ap);
	}
}

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct nt_rx *rx = ctx;
	uint64_t idx = UINT64_MAX;

	rx->got++;
	rx->lost += m->lost;
	if (m->len >= 16)
		memcpy(&idx, (const uint8_t *)m->data + 8, 8);
	if (trace)
		fprintf(stderr, "rx %p: seq %llu lost %llu len %u index %llu (next %llu)\n", (void *)rx,
			(unsigned long long)m->seq, (unsigned long long)m->lost, m->len, (unsigned long long)idx,
			(unsigned long long)rx->next);
	if (m->seq < rx->next) {
		rx_error(rx, "duplicate or reordered: seq %llu after %llu", (unsigned long long)m->seq,
			 (unsigned long long)rx->next - 1);
		return;
	}
	if (rx->exact && (m->seq != rx->next || m->lost != 0))
		rx_error(rx, "gap: expected seq %llu, got %llu (lost %llu)", (unsigned long long)rx->next,
			 (unsigned long long)m->seq, (unsigned long long)m->lost);
	else if (!rx->exact && m->seq - rx->next != m->lost)
		rx_error(rx, "loss report: seq %llu after %llu but lost = %llu", (unsigned long long)m->seq,
			 (unsigned long long)rx->next, (unsigned long long)m->lost);
	if (idx != m->seq || m->len != nt_len(rx->stream, m->seq) || !dt_check(m->data, m->len, rx->stream, m->seq))
		rx_error(rx, "record seq %llu: bad payload (len %u, expected %u, index %llu)",
			 (unsigned long long)m->seq, m->len, nt_len(rx->stream, m->seq), (unsigned long long)idx);
	rx->next = m->seq + 1;
	rx->last_progress_ns = dt_now_ns();
}

int nt_rx_some(sb_sub_t *s, struct nt_rx *rx, uint64_t timeout_ns)
{
	int n = sb_sub_poll(s, on_msg, rx, 32), total = 0;

	if (n == 0) {
		sb_sub_wait(s, timeout_ns);
		n = sb_sub_poll(s, on_msg, rx, 32);
	}
	while (n > 0) {
		total += n;
		n = sb_sub_poll(s, on_msg, rx, 32);
	}
	if (n == SB_ELAPPED) {
		rx->laps++;
		if (rx->exact)
			rx_error(rx, "lapped (SB_ELAPPED) at seq %llu", (unsigned long long)rx->next);
	} else if (n < 0) {
		fail_msg("poll: %s", sb_strerror(n));
	}
	return total;
}

void nt_rx_until(sb_sub_t *s, struct nt_rx *rx, uint64_t upto)
{
	rx->last_progress_ns = dt_now_ns();
	while (rx->next < upto) {
		nt_rx_some(s, rx, 100000000);
		if (dt_now_ns() - rx->last_progress_ns > NT_STALL_NS)
			fail_msg("stream stalled at seq %llu of %llu (%llu delivered, %llu errors: %s)",
				 (unsigned long long)rx->next, (unsigned long long)upto, (unsigned long long)rx->got,
				 (unsigned long long)rx->errors, rx->first_error);
	}
}

void nt_rx_assert_clean(const struct nt_rx *rx)
{
	if (rx->errors)
		fail_msg("%llu bad deliveries; first: %s", (unsigned long long)rx->errors, rx->first_error);
}

/* ----------------------------------------------------------- namespaces */

int nt_ns_system(const char *ns, const char *fmt, ...)
{
	char cmd[1024], full[1200];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "ip netns exec %s %s", ns, cmd);
	fflush(NULL);
	st = system(full);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int nt_raw_send(const char *ns, const char *ifc, const uint8_t *const *frames, const uint32_t *lens, unsigned n)
{
	int pipefd[2], sent = -1;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_ll sa;
		char nspath[64];
		int fd, s, count = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pipefd[0]);
		snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
		fd = open(nspath, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
			fprintf(stderr, "raw: setns %s: %s\n", nspath, strerror(errno));
			_exit(1);
		}
		s = socket(AF_PACKET, SOCK_RAW, 0);
		if (s < 0) {
			fprintf(stderr, "raw: AF_PACKET socket: %s\n", strerror(errno));
			_exit(DT_EXIT_SKIP);
		}
		memset(&sa, 0, sizeof(sa));
		sa.sll_family = AF_PACKET;
		sa.sll_ifindex = (int)if_nametoindex(ifc);
		sa.sll_halen = 6;
		if (sa.sll_ifindex == 0) {
			fprintf(stderr, "raw: no interface %s in %s\n", ifc, ns);
			_exit(1);
		}
		for (unsigned i = 0; i < n; i++) {
			memcpy(sa.sll_addr, frames[i], 6);
			if (sendto(s, frames[i], lens[i], 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)lens[i])
				count++;
			else
				fprintf(stderr, "raw: frame %u (%u bytes): %s\n", i, lens[i], strerror(errno));
		}
		if (write(pipefd[1], &count, sizeof(count)) != sizeof(count))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &sent, sizeof(sent)) != sizeof(sent))
		sent = -1;
	close(pipefd[0]);
	if (dt_wait_child(pid) == DT_EXIT_SKIP)
		nt_skip("no AF_PACKET sockets in namespace %s", ns);
	return sent;
}
