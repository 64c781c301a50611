/*
 * crosshost_bridge.c - the DPDK side of crosshost: the raw DPDK ping-pong
 * baseline (shmbus-rawpp in each namespace), the two shmbusd with their
 * bridges, and the ping-pong and stream runs through them.
 *
 * Raw DPDK: two harness children move into namespace A and B and exec
 * shmbus-rawpp with the same EAL device arguments the daemons get (same
 * PMD, same options, so the same kernel path), one lcore each on --cores.
 * Ping writes its TSC samples to a file in the scenario's directory; they
 * go through latency_finish like every other scenario's.
 *
 * Daemons: shmbusd A runs in namespace A and exports XH_TOPIC_PING and
 * XH_TOPIC_STREAM to B's MAC and imports XH_TOPIC_PONG; B mirrors it.  Each
 * has its own socket, segment directory, log file and EAL --file-prefix
 * (with --in-memory), and the lcore order the user gave (--bridge-cores;
 * on 2 cores "-l 0,1" for A and "-l 1,0" for B, so that the two workers
 * sit on different cores).  They run in their own process group (a ^C to
 * the terminal reaches shmbus-bench only, which stops them in order) and
 * get SIGTERM if shmbus-bench dies (PR_SET_PDEATHSIG).
 *
 * Clients run in the root namespace: UNIX sockets and /dev/shm do not
 * belong to network namespaces.  The pinger is a client of A (publishes
 * ping, subscribes pong, tethered), the echoer a client of B (subscribes
 * ping, publishes pong).  With --idle yield or sleep they poll with the
 * same adaptive back-off as the bridge workers (sb_backoff.h: a yield on
 * every empty poll while the core is shared, up to 64 spins between yields
 * while it is not; a client never naps, which would only add latency), so
 * they run without the seccomp sandbox; with --idle spin they busy-poll.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmbus/shmbus.h>

#include "clock.h"
#include "crosshost.h"
#include "payload.h"
#include "sb_backoff.h"

#define XH_SPINS_BEFORE_YIELD 64 /* the back-off's ceiling, as the workers' */
#define XH_REPLY_TIMEOUT_S    5.0
#define XH_DAEMON_START_S     30.0
#define XH_DAEMON_STOP_S      5.0
#define XH_OPEN_RETRY_MS      5000
#define XH_STREAM_RING        (4u << 20)

/* ------------------------------------------------------------ helpers */

/* The EAL device argument of side i: the same for rawpp and the daemons.
 * qdisc_bypass=0 as in the netns tests (operations §7.3); the loss rule
 * itself sits on the switch, past both hosts. */
static void vdev_arg(const struct xh_env *e, int i, char *buf, size_t len)
{
	if (strcmp(e->x->pmd, "af_xdp") == 0)
		snprintf(buf, len, "--vdev=net_af_xdp0,iface=%s,start_queue=0,queue_count=1", e->net.ifname[i]);
	else
		snprintf(buf, len, "--vdev=net_af_packet0,iface=%s,qdisc_bypass=0", e->net.ifname[i]);
}

/* Print the last lines of a log file to stderr (after a failure). */
static void log_tail(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "--- last lines of %s ---\n%s%s--- end of %s ---\n", path, buf,
		n && buf[n - 1] != '\n' ? "\n" : "", path);
}

/* In a child: stdout and stderr to path (appended). */
static void redirect_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
}

/* ------------------------------------------------------- raw DPDK */

struct raw_run {
	const struct xh_env *e;
	const struct run_spec *spec;
	char out[BENCH_PATH_MAX];
	char log[2][BENCH_PATH_MAX];
};

static int raw_side(struct worker *w, const struct raw_run *r, int i)
{
	const struct xh_env *e = r->e;
	char prefix[40], vdev[96], lcore[16], size[16], count[24], warmup[24];
	const char *argv[32];
	int n = 0, rc = netns_enter(e->net.ns[i]);
	char mem[sizeof(e->eal_mem)], *save = NULL, *tok;

	if (rc < 0)
		return worker_fail(w, "enter namespace %s: %s", e->net.ns[i], strerror(-rc));
	snprintf(prefix, sizeof(prefix), "--file-prefix=%sraw%c", e->net.prefix, i ? 'B' : 'A');
	vdev_arg(e, i, vdev, sizeof(vdev));
	snprintf(lcore, sizeof(lcore), "%d", e->core[i]);
	snprintf(size, sizeof(size), "%u", r->spec->size);
	snprintf(count, sizeof(count), "%llu", (unsigned long long)r->spec->count);
	snprintf(warmup, sizeof(warmup), "%llu", (unsigned long long)r->spec->warmup);
	snprintf(mem, sizeof(mem), "%s", e->eal_mem);
	argv[n++] = "shmbus-rawpp";
	argv[n++] = "--no-pci";
	argv[n++] = prefix;
	for (tok = strtok_r(mem, " ", &save); tok && n < 12; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n++] = vdev;
	argv[n++] = "-l";
	argv[n++] = lcore;
	argv[n++] = "--";
	argv[n++] = i ? "pong" : "ping";
	argv[n++] = "--size";
	argv[n++] = size;
	if (i == 0) {
		argv[n++] = "--count";
		argv[n++] = count;
		argv[n++] = "--warmup";
		argv[n++] = warmup;
		argv[n++] = "--dest";
		argv[n++] = e->net.mac[1];
		argv[n++] = "--out";
		argv[n++] = r->out;
	}
	argv[n] = NULL;
	redirect_to(r->log[i]);
	execv(e->rawpp, (char *const *)argv);
	return worker_fail(w, "exec %s: %s", e->rawpp, strerror(errno));
}

static int raw_ping(struct worker *w, void *arg)
{
	return raw_side(w, arg, 0);
}

static int raw_pong(struct worker *w, void *arg)
{
	return raw_side(w, arg, 1);
}

static int read_samples(const char *path, uint64_t *s, uint64_t n)
{
	FILE *f = fopen(path, "re");
	size_t got = f ? fread(s, sizeof(*s), n, f) : 0;

	if (f)
		fclose(f);
	if (got != n) {
		fprintf(stderr, "shmbus-bench: raw dpdk: %s holds %zu of %llu samples\n", path, got,
			(unsigned long long)n);
		return -1;
	}
	return 0;
}

int xh_raw_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res)
{
	size_t sbytes = spec->count * sizeof(uint64_t);
	uint64_t *samples = malloc(sbytes);
	struct raw_run r = { .e = e, .spec = spec };
	struct harness h;
	int rc = -1;

	if (!samples) {
		fprintf(stderr, "shmbus-bench: out of memory for %llu samples\n", (unsigned long long)spec->count);
		return -1;
	}
	snprintf(r.out, sizeof(r.out), "%s/rawpp.samples", e->tmp);
	snprintf(r.log[0], sizeof(r.log[0]), "%s/rawpp-ping.log", e->tmp);
	snprintf(r.log[1], sizeof(r.log[1]), "%s/rawpp-pong.log", e->tmp);
	unlink(r.out);
	unlink(r.log[0]);
	unlink(r.log[1]);
	if (harness_init(&h, 2, false) < 0)
		goto out;
	if (harness_spawn(&h, "rawpp-pong", e->core[1], raw_pong, &r) == 0 &&
	    harness_spawn(&h, "rawpp-ping", e->core[0], raw_ping, &r) == 0)
		rc = harness_wait(&h, bench_timeout(e->o, spec->count + spec->warmup, 100000.0));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc < 0) {
		log_tail(r.log[0]);
		log_tail(r.log[1]);
		goto out;
	}
	rc = read_samples(r.out, samples, spec->count);
	if (rc == 0) {
		uint64_t span = 0;

		/* rawpp's own span is not reported: msgs/s from the summed samples */
		for (uint64_t k = 0; k < spec->count; k++)
			span += samples[k];
		snprintf(res->scenario, sizeof(res->scenario), "crosshost-raw-dpdk");
		latency_finish(e->o, spec, samples, span, res);
	}
out:
	free(samples);
	return rc;
}

/* -------------------------------------------------------- daemons */

static int write_config(const struct xh_env *e, int i, const char *path)
{
	const char *exports[2][2] = { { XH_TOPIC_PING, XH_TOPIC_STREAM }, { XH_TOPIC_PONG, NULL } };
	const char *imports[2][2] = { { XH_TOPIC_PONG, NULL }, { XH_TOPIC_PING, XH_TOPIC_STREAM } };
	static const char *idle[] = { "spin", "yield", "sleep" };
	char vdev[96];
	FILE *f = fopen(path, "we");

	if (!f) {
		fprintf(stderr, "shmbus-bench: crosshost: %s: %s\n", path, strerror(errno));
		return -1;
	}
	vdev_arg(e, i, vdev, sizeof(vdev));
	fprintf(f, "; written by shmbus-bench crosshost for host %c\n", i ? 'B' : 'A');
	fprintf(f, "[daemon]\ndir = %s/seg%c\nhugepages = no\n\n", e->tmp, i ? 'B' : 'A');
	fprintf(f, "[defaults]\nring_size = %u\nmax_msg = 2048\n\n", XH_STREAM_RING);
	fprintf(f, "[bridge]\neal = --no-pci --file-prefix=%sd%c %s %s -l %d,%d --main-lcore %d\nidle = %s\n\n",
		e->net.prefix, i ? 'B' : 'A', e->eal_mem, vdev, e->bcore[2 * i], e->bcore[2 * i + 1],
		e->bcore[2 * i], idle[e->x->idle]);
	for (int k = 0; k < 2; k++)
		if (exports[i][k])
			fprintf(f, "[export %s]\nport = 0\ndest = %s\n\n", exports[i][k], e->net.mac[1 - i]);
	for (int k = 0; k < 2; k++)
		if (imports[i][k])
			fprintf(f, "[import %s]\nport = 0\nsender = %s\n\n", imports[i][k], e->net.mac[1 - i]);
	if (fclose(f) != 0) {
		fprintf(stderr, "shmbus-bench: crosshost: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static pid_t daemon_spawn(const struct xh_env *e, int i, const char *cfg, const char *log)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	redirect_to(log);
	if (netns_enter(e->net.ns[i]) < 0) {
		fprintf(stderr, "shmbus-bench: cannot enter namespace %s\n", e->net.ns[i]);
		_exit(126);
	}
	execl(e->shmbusd, "shmbusd", "-c", cfg, "-s", e->sock[i], (char *)NULL);
	fprintf(stderr, "shmbus-bench: exec %s: %s\n", e->shmbusd, strerror(errno));
	_exit(127);
}

/* Wait until side i's socket answers a HELLO.  Returns 0 or -1. */
static int daemon_ready(struct xh_env *e, int i, const char *log)
{
	struct sb_client_opts co = { .socket_path = e->sock[i], .name = "shmbus-bench" };
	double start = clock_mono_s();

	while (clock_mono_s() - start < XH_DAEMON_START_S && !xh_stop_requested()) {
		sb_client_t *c;
		int st;

		if (waitpid(e->daemon[i], &st, WNOHANG) == e->daemon[i]) {
			e->daemon[i] = 0;
			fprintf(stderr, "shmbus-bench: crosshost: shmbusd of host %c exited during start-up\n",
				i ? 'B' : 'A');
			log_tail(log);
			return -1;
		}
		c = sb_connect(&co);
		if (c) {
			sb_disconnect(c);
			return 0;
		}
		clock_sleep_ms(50);
	}
	fprintf(stderr, "shmbus-bench: crosshost: shmbusd of host %c did not answer at %s\n", i ? 'B' : 'A',
		e->sock[i]);
	log_tail(log);
	return -1;
}

int xh_daemons_start(struct xh_env *e)
{
	for (int i = 0; i < 2; i++) {
		char cfg[BENCH_PATH_MAX], log[BENCH_PATH_MAX];

		snprintf(cfg, sizeof(cfg), "%s/shmbusd-%c.ini", e->tmp, i ? 'B' : 'A');
		snprintf(log, sizeof(log), "%s/shmbusd-%c.log", e->tmp, i ? 'B' : 'A');
		snprintf(e->sock[i], sizeof(e->sock[i]), "%s/shmbusd-%c.sock", e->tmp, i ? 'B' : 'A');
		if (write_config(e, i, cfg) < 0)
			return -1;
		e->daemon[i] = daemon_spawn(e, i, cfg, log);
		if (e->daemon[i] < 0) {
			e->daemon[i] = 0;
			fprintf(stderr, "shmbus-bench: crosshost: fork: %s\n", strerror(errno));
			return -1;
		}
		if (daemon_ready(e, i, log) < 0)
			return -1;
	}
	return 0;
}

void xh_daemons_stop(struct xh_env *e)
{
	for (int i = 0; i < 2; i++)
		if (e->daemon[i] > 0)
			kill(e->daemon[i], SIGTERM);
	for (int i = 0; i < 2; i++) {
		double start = clock_mono_s();
		int st;

		if (e->daemon[i] <= 0)
			continue;
		while (waitpid(e->daemon[i], &st, WNOHANG) == 0) {
			if (clock_mono_s() - start > XH_DAEMON_STOP_S) {
				kill(e->daemon[i], SIGKILL);
				waitpid(e->daemon[i], &st, 0);
				break;
			}
			clock_sleep_ms(20);
		}
		e->daemon[i] = 0;
	}
}

void xh_print_bridge_counters(const struct xh_env *e, int side, FILE *out)
{
	char ctl[PATH_MAX + 16], dir[PATH_MAX], line[512];
	int pfd[2];
	pid_t pid;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", e->shmbusd);
	snprintf(ctl, sizeof(ctl), "%s/shmbusctl", dirname(dir));
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl(ctl, "shmbusctl", "-s", e->sock[side], "bridge", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = pid > 0 ? fdopen(pfd[0], "r") : NULL;
	if (!f) {
		close(pfd[0]);
	} else {
		/* the non-zero counters that say whether and how the link recovered */
		while (fgets(line, sizeof(line), f)) {
			const char *v = line + strcspn(line, " \t");

			v += strspn(v, " \t");
			if ((strstr(line, "naks") || strstr(line, "retransmits") || strstr(line, "gaps_unrecovered") ||
			     strstr(line, "tx_dropped") || strstr(line, "tx_deferred") || strstr(line, "backpressure") ||
			     strstr(line, "duplicates")) &&
			    strtoull(v, NULL, 10) != 0)
				fprintf(out, "    host %c: %s", side ? 'B' : 'A', line);
		}
		fclose(f);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* -------------------------------------------- clients of the daemons */

struct br_shared {
	alignas(64) uint64_t acc[2];
	uint64_t t_begin, t_end;
	uint64_t received, gaps;
	uint64_t timed;           /* stream: records that arrived after t_begin */
};

struct br_run {
	const struct xh_env *e;
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	uint64_t *samples;        /* ping-pong: count entries, MAP_SHARED */
	struct br_shared *out;    /* MAP_SHARED */
};

struct br_side {
	sb_client_t *client;
	sb_pub_t *pub;
	sb_sub_t *sub;
	enum xh_idle idle;
	struct sb_backoff backoff; /* idle != spin */
};

/* The poll strategy of the clients, that of the bridge workers. */
static inline void idle_step(struct br_side *s)
{
	if (s->idle == XH_IDLE_SPIN)
		payload_spin_hint();
	else
		sb_backoff_idle(&s->backoff);
}

static sb_pub_t *pub_open_retry(sb_client_t *c, const char *topic)
{
	struct sb_pub_opts po = { .mode = SB_PUBLISH_EXCLUSIVE, .create = NULL };

	for (long waited = 0;; waited++) {
		sb_pub_t *p = sb_pub_open(c, topic, &po);

		if (p || (errno != EBUSY && errno != EALREADY) || waited >= XH_OPEN_RETRY_MS)
			return p;
		clock_sleep_ms(1);
	}
}

/* Connect to side i's daemon, publish pub_topic (NULL: none) and
 * subscribe sub_topic (NULL: none). */
static int side_open(struct worker *w, const struct br_run *r, int i, struct br_side *s, const char *pub_topic,
		     const char *sub_topic)
{
	struct sb_client_opts co = { .socket_path = r->e->sock[i], .name = "shmbus-bench" };
	struct sb_sub_opts so = { .mode = SB_TETHERED, .start = SB_FROM_LATEST,
				  .wait = r->e->x->idle == XH_IDLE_SPIN ? SB_SPIN : SB_SPIN_YIELD };
	const char *what = "connect";

	memset(s, 0, sizeof(*s));
	s->idle = r->e->x->idle;
	sb_backoff_init(&s->backoff, XH_SPINS_BEFORE_YIELD);
	s->client = sb_connect(&co);
	if (s->client && sub_topic) {
		what = sub_topic;
		s->sub = sb_sub_open(s->client, sub_topic, &so);
	}
	if (s->client && (!sub_topic || s->sub) && pub_topic) {
		what = pub_topic;
		s->pub = pub_open_retry(s->client, pub_topic);
	}
	if (!s->client || (sub_topic && !s->sub) || (pub_topic && !s->pub))
		return worker_fail(w, "host %c daemon %s: %s: %s: %s", i ? 'B' : 'A', r->e->sock[i], what,
				   strerror(errno), sb_last_error());
	return 0;
}

static inline int send_one(struct br_side *s, uint32_t size, uint64_t c)
{
	void *p;
	int rc;

	while ((rc = sb_pub_claim(s->pub, size, &p)) == SB_EBACKPRESSURE)
		idle_step(s);
	if (rc < 0)
		return rc;
	payload_write(p, size, c);
	return sb_pub_commit(s->pub);
}

/* Wait for up to max records (read in place; release after use).  Returns
 * the count, a negative code, or SB_ETIMEDOUT after limit ticks. */
static inline int wait_read(struct br_side *s, struct sb_msg *m, unsigned max, uint64_t limit)
{
	uint64_t start = 0;

	for (uint32_t k = 0;; k++) {
		int rc = sb_sub_read(s->sub, m, max);

		if (rc != SB_EEMPTY && rc != 0)
			return rc;
		if ((k & 1023) == 1023) {
			uint64_t now = clock_end();

			if (!start)
				start = now;
			else if (now - start > limit)
				return SB_ETIMEDOUT;
		}
		idle_step(s);
	}
}

static uint64_t reply_limit(void)
{
	return (uint64_t)(XH_REPLY_TIMEOUT_S * 1e9 * clock_ticks_per_ns());
}

static int trip_fail(struct worker *w, const char *what, uint64_t c, int rc, const struct sb_msg *m, uint64_t seq,
		     uint32_t size)
{
	if (rc == SB_ETIMEDOUT)
		return worker_fail(w, "%s %llu: nothing arrived through the bridge within %.0f s", what,
				   (unsigned long long)c, XH_REPLY_TIMEOUT_S);
	if (rc < 0)
		return worker_fail(w, "%s %llu: %s", what, (unsigned long long)c, sb_strerror(rc));
	return worker_fail(w, "%s %llu: got len %u payload %llu lost %llu, expected len %u payload %llu", what,
			   (unsigned long long)c, m->len, (unsigned long long)seq, (unsigned long long)m->lost, size,
			   (unsigned long long)c);
}

static int pp_loop(struct worker *w, struct br_side *s, const struct br_run *r, bool ping, uint64_t first,
		   uint64_t n, uint64_t *samples, uint64_t *acc)
{
	uint64_t limit = reply_limit();

	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0, t0 = 0, t1;
		struct sb_msg m = { 0 };
		int rc = 0;

		if (ping) {
			t0 = clock_start();
			rc = send_one(s, r->size, c);
		}
		if (rc == 0)
			rc = wait_read(s, &m, 1, limit);
		if (rc > 0) {
			*acc += payload_read(m.data, m.len, &seq);
			rc = sb_sub_release(s->sub);
		}
		if (ping) {
			t1 = clock_end();
			if (samples)
				samples[k] = t1 - t0;
		} else if (rc == 0) {
			rc = send_one(s, r->size, c);
		}
		if (__builtin_expect(rc < 0 || m.len != r->size || m.lost || (r->size >= 8 && seq != c), 0))
			return trip_fail(w, ping ? "round trip" : "echo", c, rc, &m, seq, r->size);
	}
	return 0;
}

static int pp_side(struct worker *w, const struct br_run *r, bool ping)
{
	struct br_side s;
	uint64_t acc = 0, t0, t1;
	int rc = ping ? side_open(w, r, 0, &s, XH_TOPIC_PING, XH_TOPIC_PONG)
		      : side_open(w, r, 1, &s, XH_TOPIC_PONG, XH_TOPIC_PING);

	if (rc)
		return rc;
	worker_barrier(w, 0); /* both subscribed before the first ping */
	rc = pp_loop(w, &s, r, ping, 1, r->warmup, NULL, &acc);
	if (rc == 0)
		rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	rc = pp_loop(w, &s, r, ping, r->warmup + 1, r->count, ping ? r->samples : NULL, &acc);
	t1 = clock_end();
	if (rc)
		return rc;
	if (ping) {
		r->out->t_begin = t0;
		r->out->t_end = t1;
	}
	r->out->acc[ping ? 0 : 1] = acc;
	sb_disconnect(s.client);
	return 0;
}

static int br_ping(struct worker *w, void *arg)
{
	return pp_side(w, arg, true);
}

static int br_echo(struct worker *w, void *arg)
{
	return pp_side(w, arg, false);
}

int xh_bridge_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res)
{
	size_t sbytes = spec->count * sizeof(uint64_t);
	const char *roles[2] = { "bridge-ping", "bridge-echo" };
	worker_fn fns[2] = { br_ping, br_echo };
	struct br_run r = { .e = e, .size = spec->size, .warmup = spec->warmup, .count = spec->count };
	int rc = -1;

	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	rc = xh_run_pair(e, roles, fns, &r, bench_timeout(e->o, spec->count + spec->warmup, 200000.0), res);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), "crosshost-bridge");
		latency_finish(e->o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

static int stream_pub(struct worker *w, void *arg)
{
	const struct br_run *r = arg;
	struct br_side s;
	int rc = side_open(w, r, 0, &s, XH_TOPIC_STREAM, NULL);

	if (rc)
		return rc;
	worker_barrier(w, 0); /* the subscriber is attached */
	for (uint64_t c = 0; c < r->count; c++) {
		rc = send_one(&s, r->size, c);
		if (rc < 0)
			return worker_fail(w, "stream record %llu: %s", (unsigned long long)c, sb_strerror(rc));
	}
	sb_disconnect(s.client);
	return 0;
}

static int stream_sub(struct worker *w, void *arg)
{
	const struct br_run *r = arg;
	uint64_t n = 0, n_first = 0, gaps = 0, next = 0, acc = 0, t_first = 0, t_last = 0, limit = reply_limit();
	struct sb_msg m[64];
	struct br_side s;
	int rc = side_open(w, r, 1, &s, NULL, XH_TOPIC_STREAM);

	if (rc)
		return rc;
	worker_barrier(w, 0);
	while (n < r->count) {
		int got = wait_read(&s, m, 64, limit);

		if (got < 0)
			return trip_fail(w, "stream record", n, got, &m[0], 0, r->size);
		t_last = clock_end();
		if (n == 0) {
			t_first = t_last;
			n_first = (uint64_t)got;
			next = m[0].seq;
		}
		for (int k = 0; k < got; k++) {
			uint64_t pseq;

			if (m[k].len != r->size)
				return trip_fail(w, "stream record", n + (uint64_t)k, 0, &m[k], 0, r->size);
			acc += payload_read(m[k].data, m[k].len, &pseq);
			gaps += m[k].lost + (m[k].seq > next ? m[k].seq - next : 0);
			next = m[k].seq + 1;
		}
		n += (uint64_t)got;
		rc = sb_sub_release(s.sub);
		if (rc < 0)
			return worker_fail(w, "stream release: %s", sb_strerror(rc));
	}
	r->out->t_begin = t_first;
	r->out->t_end = t_last;
	r->out->received = n;
	r->out->timed = n - n_first;
	r->out->gaps = gaps;
	r->out->acc[1] = acc;
	sb_disconnect(s.client);
	return 0;
}

int xh_bridge_stream(const struct xh_env *e, uint32_t size, uint64_t count, struct bench_result *res,
		     struct xh_stream_info *info)
{
	const char *roles[2] = { "bridge-pub", "bridge-sub" };
	worker_fn fns[2] = { stream_pub, stream_sub };
	struct br_run r = { .e = e, .size = size, .count = count };
	int rc;

	r.out = shared_alloc(sizeof(*r.out));
	if (!r.out) {
		fprintf(stderr, "shmbus-bench: cannot map shared memory: %s\n", strerror(errno));
		return -1;
	}
	rc = xh_run_pair(e, roles, fns, &r, bench_timeout(e->o, count, 20000.0), res);
	if (rc == 0) {
		double s = clock_ticks_to_ns(r.out->t_end - r.out->t_begin) * 1e-9;

		snprintf(res->scenario, sizeof(res->scenario), "crosshost-bridge-stream");
		res->size = size;
		res->count = r.out->received;
		res->has_latency = false;
		res->msgs_per_s = s > 0 ? (double)r.out->timed / s : 0;
		res->bytes_per_s = res->msgs_per_s * size;
		info->sent = count;
		info->received = r.out->received;
		info->gaps = r.out->gaps;
	}
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
