/*
 * scenario_crosshost.c - crosshost: one topic across two "hosts" through
 * the DPDK bridge, against the raw DPDK and kernel UDP baselines on the
 * same pair, in paired rounds (docs/benchmarks.md §5).
 *
 * Set-up: two network namespaces joined through a switch namespace (or by
 * two given interfaces), see netns.h, and a private directory under /dev/shm for
 * configs, sockets, segments, logs and samples.  Each round runs three
 * slots, in an order rotated from round to round so that none always runs
 * first:
 *
 *   R  raw DPDK ping-pong (shmbus-rawpp in each namespace);
 *   U  kernel UDP ping-pong, then the kernel UDP one-way datagram rate;
 *   B  start shmbusd A and B with their bridges, ping-pong through them,
 *      a tethered one-way stream, the same stream with --loss percent of
 *      A's bridge frames dropped by nftables on the switch port facing B
 *      (the rule's counter is printed: the loss is real), stop them.
 *
 * The daemons run only in their slot: their AF_PACKET sockets would
 * otherwise take a copy of every baseline frame and their polling workers
 * would share the baselines' cores, which is not what a baseline is.
 * Starting them every round also gives every round a fresh session.
 *
 * Ratios are per round (all runs of a round are seconds apart, so they
 * share the host's vCPU placement) and the verdict is the median of the
 * per-round ratios; the percentile rows are pooled over all samples of all
 * rounds.  Teardown (daemons, loss rule, namespaces, directory) runs on
 * every exit path, ^C and SIGTERM included; a SIGKILLed bench leaves its
 * daemons to PR_SET_PDEATHSIG and its namespaces to the next run with the
 * same prefix, which removes them first.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crosshost.h"
#include "report.h"

/* One pair of measuring processes (crosshost.h). */
int xh_run_pair(const struct xh_env *e, const char *roles[2], worker_fn fns[2], void *arg, double timeout_s,
		struct bench_result *res)
{
	struct harness h;
	int rc = -1;

	if (harness_init(&h, 2, false) < 0)
		return -1;
	if (harness_spawn(&h, roles[1], e->core[1], fns[1], arg) == 0 &&
	    harness_spawn(&h, roles[0], e->core[0], fns[0], arg) == 0)
		rc = harness_wait(&h, timeout_s);
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	return rc;
}

#define XH_DEFAULT_COUNT   UINT64_C(100000)  /* round trips per subject, all rounds */
#define XH_DEFAULT_TP      UINT64_C(500000)  /* records per stream run */
#define XH_MAX_WARMUP      UINT64_C(10000)
#define XH_EAL_MEM_MB      64
#define XH_NSUBJ           3                 /* raw, udp, bridge */

enum { SUBJ_RAW = 0, SUBJ_UDP = 1, SUBJ_BRIDGE = 2 };
enum { TP_UDP = 0, TP_CLEAN = 1, TP_LOSSY = 2, XH_NTP = 3 };

static const char *const subj_name[XH_NSUBJ] = { "raw-dpdk", "udp", "bridge" };
static const char *const tp_name[XH_NTP] = { "udp-stream", "bridge-stream", "bridge-stream-lossy" };

/* The reference points and targets (issue 4). */
#define REF_RAW_P50_US    3.67
#define REF_UDP_P50_US    21.0
#define TARGET_VS_UDP     0.5   /* bridge / udp p50, shared cores */
#define TARGET_VS_RAW     1.3   /* bridge / raw p50, dedicated cores */
#define TARGET_TP_VS_UDP  10.0  /* bridge / udp msgs/s */
#define TARGET_LOSSY      0.5   /* lossy / clean msgs/s */

static struct crosshost_opts crosshost_opts = {
	.prefix = "bx",
	.pmd = "af_packet",
	.idle = XH_IDLE_YIELD,
	.loss_pct = 5,
};

static volatile sig_atomic_t stop_flag;

bool xh_stop_requested(void)
{
	return stop_flag || harness_interrupted();
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---------------------------------------------------------- options */

static int parse_cores4(const char *arg, int out[4])
{
	char buf[128], *save = NULL, *tok, *end;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v = strtol(tok, &end, 10);

		if (n == 4 || *end || end == tok || v < 0 || v > 65535)
			return -1;
		out[n++] = (int)v;
	}
	return n == 4 && out[0] != out[1] && out[2] != out[3] ? 0 : -1;
}

int crosshost_parse_option(const char *name, const char *arg)
{
	struct crosshost_opts *x = &crosshost_opts;
	char *end;

	if (!strcmp(name, "netns")) {
		x->prefix = arg;
	} else if (!strcmp(name, "if-a")) {
		x->if_a = arg;
	} else if (!strcmp(name, "if-b")) {
		x->if_b = arg;
	} else if (!strcmp(name, "pmd")) {
		if (strcmp(arg, "af_packet") != 0 && strcmp(arg, "af_xdp") != 0)
			goto bad;
		x->pmd = arg;
	} else if (!strcmp(name, "bridge-cores")) {
		if (parse_cores4(arg, x->bcores) < 0)
			goto bad;
		x->bcores_given = true;
	} else if (!strcmp(name, "idle")) {
		if (!strcmp(arg, "spin"))
			x->idle = XH_IDLE_SPIN;
		else if (!strcmp(arg, "yield"))
			x->idle = XH_IDLE_YIELD;
		else if (!strcmp(arg, "sleep"))
			x->idle = XH_IDLE_SLEEP;
		else
			goto bad;
	} else if (!strcmp(name, "loss")) {
		unsigned long v = strtoul(arg, &end, 10);

		if (*end || end == arg || v > 50)
			goto bad;
		x->loss_pct = (unsigned)v;
	} else if (!strcmp(name, "tp-count")) {
		unsigned long long v = strtoull(arg, &end, 10);

		if (*end == 'k' || *end == 'M')
			v *= *end++ == 'k' ? 1000u : 1000000u;
		if (*end || end == arg || v < 1000 || v > (UINT64_C(1) << 32))
			goto bad;
		x->tp_count = v;
	} else if (!strcmp(name, "no-bridge")) {
		x->no_bridge = true;
	} else if (!strcmp(name, "shmbusd")) {
		x->shmbusd = arg;
	} else if (!strcmp(name, "rawpp")) {
		x->rawpp = arg;
	} else {
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "shmbus-bench: --%s '%s': see --help\n", name, arg ? arg : "");
	return -1;
}

/* ---------------------------------------------------------- set-up */

static int skip(const char *why)
{
	fprintf(stderr, "shmbus-bench: crosshost skipped: %s\n", why);
	return BENCH_SKIP;
}

/* The directory of this executable. */
static void self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (strrchr(buf, '/'))
		*strrchr(buf, '/') = '\0';
	else
		snprintf(buf, len, ".");
}

static bool find_exe(char *out, size_t len, const char *given, const char *const candidates[], const char *dir)
{
	if (given) {
		snprintf(out, len, "%s", given);
		return access(out, X_OK) == 0;
	}
	for (int i = 0; candidates[i]; i++) {
		if ((size_t)snprintf(out, len, "%s/%s", dir, candidates[i]) >= len)
			continue;
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* Does `shmbusd -V` say "bridge dpdk"? */
static bool shmbusd_has_bridge(const char *path)
{
	char buf[512];
	int pfd[2];
	ssize_t n = 0;
	pid_t pid;

	if (pipe(pfd) != 0)
		return false;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl(path, "shmbusd", "-V", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid > 0) {
		for (ssize_t r; (r = read(pfd[0], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0 &&
				(size_t)(n + r) < sizeof(buf) - 1;)
			n += r;
		waitpid(pid, NULL, 0);
	}
	close(pfd[0]);
	buf[n] = '\0';
	return strstr(buf, "bridge dpdk") != NULL;
}

/* EAL memory: hugepages when enough are free, else malloc'd memory (the
 * af_packet and af_xdp PMDs do not DMA, so --no-huge costs them nothing). */
static void eal_mem(char *buf, size_t len)
{
	unsigned long free_pages = 0, size_kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "Hugepagesize: %lu kB", &size_kb);
	}
	if (f)
		fclose(f);
	if (free_pages * size_kb >= 3ul * XH_EAL_MEM_MB * 1024)
		snprintf(buf, len, "--in-memory -m %d", XH_EAL_MEM_MB);
	else
		snprintf(buf, len, "--in-memory --no-huge -m %d", XH_EAL_MEM_MB);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void teardown(struct xh_env *e)
{
	xh_daemons_stop(e);
	netns_pair_down(&e->net);
	if (e->tmp[0])
		nftw(e->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	e->tmp[0] = '\0';
}

static int preflight(const struct bench_opts *o, struct xh_env *e)
{
	static const char *const rawpp_c[] = { "shmbus-rawpp", NULL };
	static const char *const shmbusd_c[] = { "../daemon/shmbusd", "shmbusd", "../sbin/shmbusd", NULL };
	const struct crosshost_opts *x = &crosshost_opts;
	char dir[PATH_MAX];

	if (o->ncores < 2 || o->cores[0] == o->cores[1]) {
		fprintf(stderr, "shmbus-bench: crosshost needs two different cores (--cores A,B)\n");
		return -1;
	}
	if (!!x->if_a != !!x->if_b) {
		fprintf(stderr, "shmbus-bench: crosshost: give both --if-a and --if-b, or neither\n");
		return -1;
	}
	if (geteuid() != 0)
		return skip("needs root (network namespaces, AF_PACKET, nftables)");
	if (!netns_have_program("ip"))
		return skip("no ip(8) command (iproute2)");
	self_dir(dir, sizeof(dir));
	if (!find_exe(e->rawpp, sizeof(e->rawpp), x->rawpp, rawpp_c, dir))
		return skip("shmbus-rawpp not found next to shmbus-bench (built only with DPDK; or give --rawpp PATH)");
	if (!x->no_bridge) {
		if (!find_exe(e->shmbusd, sizeof(e->shmbusd), x->shmbusd, shmbusd_c, dir))
			return skip("shmbusd not found (give --shmbusd PATH, or --no-bridge for the baselines only)");
		if (!shmbusd_has_bridge(e->shmbusd))
			return skip("this shmbusd is built without the DPDK bridge (`shmbusd -V`; "
				    "--no-bridge runs the baselines only)");
		if (x->loss_pct && !netns_have_program("nft"))
			return skip("no nft(8) command for the loss run (or --loss 0)");
	}
	e->core[0] = o->cores[0];
	e->core[1] = o->cores[1];
	if (x->bcores_given) {
		memcpy(e->bcore, x->bcores, sizeof(e->bcore));
	} else {
		e->bcore[0] = o->cores[0];
		e->bcore[1] = o->cores[1];
		e->bcore[2] = o->cores[1];
		e->bcore[3] = o->cores[0];
	}
	eal_mem(e->eal_mem, sizeof(e->eal_mem));
	return 0;
}

/* ------------------------------------------------------ accumulation */

struct subj_acc {
	uint64_t *pooled;
	struct lat_stats *per_round;
	double rate_sum;
};

struct xh_acc {
	unsigned rounds;
	uint64_t per_round;
	struct subj_acc s[XH_NSUBJ];
	double *tp[XH_NTP];              /* msgs/s per round */
	uint64_t tp_recv[XH_NTP];
	uint64_t tp_gaps[XH_NTP];
	uint64_t nft_dropped;            /* frames the loss rule dropped, all rounds */
	uint64_t nft_runs;               /* lossy runs whose counter could be read */
	double *r_raw50, *r_raw999, *r_udp50, *r_udp999, *r_tp, *r_lossy;
};

static void acc_free(struct xh_acc *a)
{
	for (int j = 0; j < XH_NSUBJ; j++) {
		free(a->s[j].pooled);
		free(a->s[j].per_round);
	}
	for (int j = 0; j < XH_NTP; j++)
		free(a->tp[j]);
	free(a->r_raw50);
	free(a->r_raw999);
	free(a->r_udp50);
	free(a->r_udp999);
	free(a->r_tp);
	free(a->r_lossy);
}

static int acc_init(struct xh_acc *a, unsigned rounds, uint64_t per_round)
{
	bool ok = true;

	memset(a, 0, sizeof(*a));
	a->rounds = rounds;
	a->per_round = per_round;
	for (int j = 0; j < XH_NSUBJ; j++) {
		a->s[j].pooled = malloc(per_round * rounds * sizeof(uint64_t));
		a->s[j].per_round = calloc(rounds, sizeof(struct lat_stats));
		ok = ok && a->s[j].pooled && a->s[j].per_round;
	}
	for (int j = 0; j < XH_NTP; j++) {
		a->tp[j] = calloc(rounds, sizeof(double));
		ok = ok && a->tp[j];
	}
	a->r_raw50 = calloc(rounds, sizeof(double));
	a->r_raw999 = calloc(rounds, sizeof(double));
	a->r_udp50 = calloc(rounds, sizeof(double));
	a->r_udp999 = calloc(rounds, sizeof(double));
	a->r_tp = calloc(rounds, sizeof(double));
	a->r_lossy = calloc(rounds, sizeof(double));
	ok = ok && a->r_raw50 && a->r_raw999 && a->r_udp50 && a->r_udp999 && a->r_tp && a->r_lossy;
	if (!ok) {
		fprintf(stderr, "shmbus-bench: crosshost: cannot allocate samples: %s\n", strerror(errno));
		acc_free(a);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- a round */

/* Report one run of round i under the name "crosshost-r<i>-<what>". */
static int round_row(const struct bench_opts *o, struct bench_result *res, unsigned i, const char *what)
{
	snprintf(res->scenario, sizeof(res->scenario), "crosshost-r%u-%s", i + 1, what);
	report_latency_row(o, res);
	if (harness_disturbed(&res->dist) && strncmp(what, "bridge", 6) != 0)
		report_disturbance(o, res);
	return report_csv(o, res);
}

static int latency_slot(struct xh_env *e, struct xh_acc *a, unsigned i, int j, uint32_t size, uint64_t warmup)
{
	struct run_spec spec = { .size = size, .count = a->per_round, .warmup = warmup,
				 .samples_out = a->s[j].pooled + (uint64_t)i * a->per_round };
	struct bench_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = j == SUBJ_RAW ? xh_raw_pingpong(e, &spec, &res)
	   : j == SUBJ_UDP ? xh_udp_pingpong(e, &spec, &res)
			   : xh_bridge_pingpong(e, &spec, &res);
	if (rc < 0)
		return -1;
	a->s[j].per_round[i] = res.lat;
	a->s[j].rate_sum += res.msgs_per_s;
	return round_row(e->o, &res, i, subj_name[j]);
}

static int stream_slot(struct xh_env *e, struct xh_acc *a, unsigned i, int t, uint32_t size, uint64_t count)
{
	struct xh_stream_info info = { 0 };
	struct bench_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = t == TP_UDP ? xh_udp_stream(e, size, count, &res, &info) : xh_bridge_stream(e, size, count, &res, &info);
	if (rc < 0)
		return -1;
	a->tp[t][i] = res.msgs_per_s;
	a->tp_recv[t] += info.received;
	a->tp_gaps[t] += info.gaps;
	rc = round_row(e->o, &res, i, tp_name[t]);
	if (info.gaps)
		fprintf(bench_out(e->o), "  %s %llu of %llu records %s\n", t == TP_UDP ? "!" : "! LOSS SEEN BY A TETHERED "
										       "SUBSCRIBER:",
			(unsigned long long)info.gaps, (unsigned long long)info.sent,
			t == TP_UDP ? "lost (socket buffer or device queue full)" : "reported lost");
	return rc;
}

static int bridge_slot(struct xh_env *e, struct xh_acc *a, unsigned i, uint32_t size, uint64_t warmup,
		       uint64_t tp_count)
{
	const struct crosshost_opts *x = e->x;
	int rc = xh_daemons_start(e);

	if (rc == 0)
		rc = latency_slot(e, a, i, SUBJ_BRIDGE, size, warmup);
	if (rc == 0)
		rc = stream_slot(e, a, i, TP_CLEAN, size, tp_count);
	if (rc == 0 && x->loss_pct) {
		rc = netns_set_loss(&e->net, x->loss_pct);
		if (rc == 0)
			rc = stream_slot(e, a, i, TP_LOSSY, size, tp_count);
		if (e->net.loss) { /* also after a failed run: was the loss real? */
			long long d = netns_loss_dropped(&e->net);

			if (d >= 0) {
				a->nft_dropped += (uint64_t)d;
				a->nft_runs++;
				fprintf(bench_out(e->o), "  nft dropped %lld of A's bridge frames at %s egress in %s\n", d,
					e->net.swport[1], e->net.ns_sw);
			} else {
				fprintf(bench_out(e->o), "  nft drop counter unreadable\n");
			}
		}
		if (i + 1 == a->rounds || rc < 0) {
			fprintf(bench_out(e->o), "  bridge counters after the lossy run of round %u:\n", i + 1);
			xh_print_bridge_counters(e, 0, bench_out(e->o));
			xh_print_bridge_counters(e, 1, bench_out(e->o));
		}
		if (netns_set_loss(&e->net, 0) < 0)
			rc = -1;
	}
	xh_daemons_stop(e);
	return rc;
}

static int run_round(struct xh_env *e, struct xh_acc *a, unsigned i, uint32_t size, uint64_t warmup,
		     uint64_t tp_count)
{
	int nslots = e->x->no_bridge ? 2 : 3;

	for (int k = 0; k < nslots; k++) {
		int j = (k + (int)i) % nslots, rc;

		if (xh_stop_requested())
			return -1;
		if (j == SUBJ_RAW)
			rc = latency_slot(e, a, i, SUBJ_RAW, size, warmup);
		else if (j == SUBJ_UDP) {
			rc = latency_slot(e, a, i, SUBJ_UDP, size, warmup);
			if (rc == 0)
				rc = stream_slot(e, a, i, TP_UDP, size, tp_count);
		} else
			rc = bridge_slot(e, a, i, size, warmup, tp_count);
		if (rc < 0)
			return -1;
	}
	if (!e->x->no_bridge) {
		const struct lat_stats *raw = &a->s[SUBJ_RAW].per_round[i], *udp = &a->s[SUBJ_UDP].per_round[i];
		const struct lat_stats *br = &a->s[SUBJ_BRIDGE].per_round[i];

		a->r_raw50[i] = br->p50_ns / raw->p50_ns;
		a->r_raw999[i] = br->p999_ns / raw->p999_ns;
		a->r_udp50[i] = br->p50_ns / udp->p50_ns;
		a->r_udp999[i] = br->p999_ns / udp->p999_ns;
		a->r_tp[i] = a->tp[TP_UDP][i] > 0 ? a->tp[TP_CLEAN][i] / a->tp[TP_UDP][i] : 0;
		a->r_lossy[i] = a->tp[TP_CLEAN][i] > 0 ? a->tp[TP_LOSSY][i] / a->tp[TP_CLEAN][i] : 0;
		fprintf(bench_out(e->o), "  round %u ratios: bridge/raw p50 %.2fx p99.9 %.2fx; bridge/udp p50 %.3fx "
					 "p99.9 %.3fx; msgs/s bridge/udp %.2fx",
			i + 1, a->r_raw50[i], a->r_raw999[i], a->r_udp50[i], a->r_udp999[i], a->r_tp[i]);
		if (e->x->loss_pct)
			fprintf(bench_out(e->o), ", lossy/clean %.2fx", a->r_lossy[i]);
		fprintf(bench_out(e->o), "\n");
	}
	fflush(bench_out(e->o));
	return 0;
}

/* ---------------------------------------------------------- summary */

static double median_of(const double *v, unsigned n)
{
	double tmp[1000];

	memcpy(tmp, v, n * sizeof(double));
	return stats_median(tmp, n);
}

static const char *verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static int summary(struct xh_env *e, struct xh_acc *a, uint32_t size)
{
	const struct bench_opts *o = e->o;
	const struct crosshost_opts *x = e->x;
	FILE *out = bench_out(o);
	struct bench_result pooled[XH_NSUBJ];
	int nsubj = x->no_bridge ? 2 : 3;
	unsigned n = a->rounds;
	bool dedicated = x->idle == XH_IDLE_SPIN && e->bcore[1] != e->core[0] && e->bcore[1] != e->core[1] &&
			 e->bcore[3] != e->core[0] && e->bcore[3] != e->core[1] && e->bcore[1] != e->bcore[3];

	fprintf(out, "\ncrosshost pooled over %u rounds (%llu round trips per subject):\n", n,
		(unsigned long long)(a->per_round * n));
	report_latency_head(o);
	for (int j = 0; j < nsubj; j++) {
		struct bench_result *r = &pooled[j];

		memset(r, 0, sizeof(*r));
		snprintf(r->scenario, sizeof(r->scenario), "crosshost-%s", subj_name[j]);
		stats_compute(a->s[j].pooled, a->per_round * n, &r->lat);
		r->has_latency = true;
		r->size = size;
		r->count = a->per_round * n;
		r->msgs_per_s = a->s[j].rate_sum / n;
		r->bytes_per_s = r->msgs_per_s * 2.0 * size;
		report_latency_row(o, r);
	}
	for (int j = 0; j < nsubj; j++) {
		char extra[256];

		snprintf(extra, sizeof(extra), ",\"rounds\":%u", n);
		if (j == SUBJ_BRIDGE)
			snprintf(extra, sizeof(extra),
				 ",\"ratio_raw_p50\":%.4f,\"ratio_raw_p999\":%.4f,\"ratio_udp_p50\":%.4f,"
				 "\"ratio_udp_p999\":%.4f,\"idle\":\"%s\",\"rounds\":%u",
				 median_of(a->r_raw50, n), median_of(a->r_raw999, n), median_of(a->r_udp50, n),
				 median_of(a->r_udp999, n), x->idle == XH_IDLE_SPIN ? "spin"
							    : x->idle == XH_IDLE_YIELD ? "yield" : "sleep", n);
		if (o->json)
			report_json(&pooled[j], extra);
		if (report_csv(o, &pooled[j]) < 0)
			return -1;
	}
	for (int t = 0; t < XH_NTP; t++) {
		struct bench_result r;
		char extra[256] = "";

		if ((x->no_bridge && t != TP_UDP) || (t == TP_LOSSY && !x->loss_pct))
			continue;
		memset(&r, 0, sizeof(r));
		snprintf(r.scenario, sizeof(r.scenario), "crosshost-%s", tp_name[t]);
		r.size = size;
		r.count = a->tp_recv[t];
		r.msgs_per_s = median_of(a->tp[t], n);
		r.bytes_per_s = r.msgs_per_s * size;
		report_latency_row(o, &r);
		if (t == TP_CLEAN)
			snprintf(extra, sizeof(extra), ",\"ratio_udp\":%.4f,\"gaps\":%llu", median_of(a->r_tp, n),
				 (unsigned long long)a->tp_gaps[t]);
		else if (t == TP_LOSSY)
			snprintf(extra, sizeof(extra),
				 ",\"ratio_clean\":%.4f,\"loss_pct\":%u,\"gaps\":%llu,\"nft_dropped\":%llu",
				 median_of(a->r_lossy, n), x->loss_pct, (unsigned long long)a->tp_gaps[t],
				 (unsigned long long)a->nft_dropped);
		else
			snprintf(extra, sizeof(extra), ",\"lost\":%llu", (unsigned long long)a->tp_gaps[t]);
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",\"rounds\":%u", n);
		if (o->json)
			report_json(&r, extra);
		if (report_csv(o, &r) < 0)
			return -1;
	}
	fprintf(out, "  (stream rows: msgs/s is the median over rounds of the rate at the receiver; count = records "
		     "received in all rounds)\n");
	fprintf(out, "\nreference points of issue 4: raw DPDK af_packet p50 %.2f us (measured here %.2f us), kernel "
		     "UDP p50 %.0f us (measured here %.1f us)\n",
		REF_RAW_P50_US, pooled[SUBJ_RAW].lat.p50_ns / 1000.0, REF_UDP_P50_US,
		pooled[SUBJ_UDP].lat.p50_ns / 1000.0);
	if (x->no_bridge)
		return 0;
	{
		double raw50 = median_of(a->r_raw50, n), raw999 = median_of(a->r_raw999, n);
		double udp50 = median_of(a->r_udp50, n), udp999 = median_of(a->r_udp999, n);
		double tp = median_of(a->r_tp, n), lossy = median_of(a->r_lossy, n);

		fprintf(out, "medians of per-round ratios at %u B (%u rounds):\n", size, n);
		fprintf(out, "  bridge / raw DPDK   p50 %.3fx, p99.9 %.3fx", raw50, raw999);
		if (dedicated)
			fprintf(out, " (target <= %.1fx with dedicated cores: %s)\n", TARGET_VS_RAW,
				verdict(raw50 <= TARGET_VS_RAW));
		else
			fprintf(out, " (target <= %.1fx applies to dedicated cores, --idle spin: not measured "
				     "here)\n", TARGET_VS_RAW);
		fprintf(out, "  bridge / kernel UDP p50 %.3fx, p99.9 %.3fx (target p50 <= %.1fx: %s)\n", udp50, udp999,
			TARGET_VS_UDP, verdict(udp50 <= TARGET_VS_UDP));
		fprintf(out, "  msgs/s bridge / kernel UDP %.2fx (target >= %.0fx: %s)\n", tp, TARGET_TP_VS_UDP,
			verdict(tp >= TARGET_TP_VS_UDP));
		if (x->loss_pct)
			fprintf(out, "  msgs/s with %u%% loss / clean %.3fx (target >= %.1fx: %s)%s\n"
				     "    (the switch dropped %llu of A's bridge frames in %llu lossy runs)\n",
				x->loss_pct, lossy, TARGET_LOSSY, verdict(lossy >= TARGET_LOSSY),
				a->tp_gaps[TP_LOSSY] ? "; records were LOST to the tethered subscriber" : "",
				(unsigned long long)a->nft_dropped, (unsigned long long)a->nft_runs);
	}
	return 0;
}

/* ---------------------------------------------------------- the scenario */

static void describe(const struct xh_env *e, uint32_t size, uint64_t warmup, uint64_t tp_count)
{
	const struct crosshost_opts *x = e->x;
	FILE *out = bench_out(e->o);

	fprintf(out, "crosshost at %u-byte payload: %u rounds, %llu round trips per subject and round (warm-up "
		     "%llu), streams of %llu records\n", size, e->o->rounds,
		(unsigned long long)(e->o->count_given ? e->o->count / e->o->rounds : XH_DEFAULT_COUNT / e->o->rounds),
		(unsigned long long)warmup, (unsigned long long)tp_count);
	if (e->net.given_ifs)
		fprintf(out, "  hosts   namespaces %s [%s %s] <-> %s [%s %s] (given interfaces), %s, EAL %s\n",
			e->net.ns[0], e->net.ifname[0], e->net.mac[0], e->net.ns[1], e->net.ifname[1], e->net.mac[1],
			x->pmd, e->eal_mem);
	else
		fprintf(out, "  hosts   namespaces %s [%s %s] <-> [%s] br0 in %s [%s] <-> %s [%s %s] (veths through "
			     "a learning switch), %s, EAL %s\n",
			e->net.ns[0], e->net.ifname[0], e->net.mac[0], e->net.swport[0], e->net.ns_sw,
			e->net.swport[1], e->net.ns[1], e->net.ifname[1], e->net.mac[1], x->pmd, e->eal_mem);
	fprintf(out, "  R raw-dpdk: shmbus-rawpp ping on core %d, pong on core %d, busy-polling, EtherType 0x88B6\n",
		e->core[0], e->core[1]);
	fprintf(out, "  U udp: %s <-> %s, blocking send/recv, same cores; then a one-way datagram stream A -> B\n",
		NETNS_IP_A, NETNS_IP_B);
	if (!x->no_bridge)
		fprintf(out, "  B bridge: shmbusd A -l %d,%d, B -l %d,%d, idle = %s; pinger (client of A) on core %d, "
			     "echoer (client of B) on core %d; then a tethered stream A -> B, clean and with %u%% "
			     "of A's bridge frames dropped at the switch\n",
			e->bcore[0], e->bcore[1], e->bcore[2], e->bcore[3],
			x->idle == XH_IDLE_SPIN ? "spin" : x->idle == XH_IDLE_YIELD ? "yield" : "sleep", e->core[0],
			e->core[1], x->loss_pct);
	fprintf(out, "  none of these loops is sandboxed: sockets, AF_PACKET and yields make system calls by design\n\n");
	report_latency_head(e->o);
}

int scenario_crosshost(const struct bench_opts *o)
{
	struct crosshost_opts *x = &crosshost_opts;
	struct xh_env e;
	struct xh_acc a;
	struct sigaction sa, old_int, old_term;
	uint64_t total = o->count_given ? o->count : XH_DEFAULT_COUNT;
	uint64_t warmup = o->warmup < XH_MAX_WARMUP ? o->warmup : XH_MAX_WARMUP;
	uint64_t tp_count = x->tp_count ? x->tp_count : XH_DEFAULT_TP;
	uint32_t size = o->sizes[0];
	int rc;

	if (o->nsizes != 1 || size < 8 || size > 1024) {
		fprintf(stderr, "shmbus-bench: crosshost takes one --size, 8..1024 bytes\n");
		return -1;
	}
	if (o->rounds > 1000 || total / o->rounds == 0) {
		fprintf(stderr, "shmbus-bench: crosshost: --count must be at least --rounds\n");
		return -1;
	}
	memset(&e, 0, sizeof(e));
	e.o = o;
	e.x = x;
	if (x->if_a && x->if_b && x->loss_pct) {
		fprintf(stderr, "shmbus-bench: crosshost: given interfaces have no switch between them for the "
				"loss rule: no lossy run (--loss 0)\n");
		x->loss_pct = 0;
	}
	rc = preflight(o, &e);
	if (rc)
		return rc;
	if (netns_pair_init(&e.net, x->prefix, x->if_a, x->if_b) < 0)
		return -1;
	if (acc_init(&a, o->rounds, total / o->rounds) < 0)
		return -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: sleeps and waits return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	snprintf(e.tmp, sizeof(e.tmp), "/dev/shm/shmbus-crosshost.XXXXXX");
	if (!mkdtemp(e.tmp)) {
		fprintf(stderr, "shmbus-bench: crosshost: mkdtemp %s: %s\n", e.tmp, strerror(errno));
		e.tmp[0] = '\0';
		rc = -1;
		goto out;
	}
	rc = netns_pair_up(&e.net);
	if (rc == 0) {
		describe(&e, size, warmup, tp_count);
		for (unsigned i = 0; i < o->rounds && rc == 0; i++)
			rc = run_round(&e, &a, i, size, warmup, tp_count);
	}
	if (rc == 0)
		rc = summary(&e, &a, size);
out:
	teardown(&e);
	if (xh_stop_requested())
		fprintf(stderr, "shmbus-bench: crosshost interrupted; daemons, namespaces and files removed\n");
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	acc_free(&a);
	return rc;
}
