/*
 * main.c - shmbus-bench: command line and scenario dispatch.
 *
 * Every scenario forks its measuring processes (see worker.h); this process
 * only parses options, calibrates the TSC, runs the scenarios one after the
 * other and prints.  Exit status: 0 success, 1 a run failed (including a
 * system call caught in a measured loop), 2 bad command line, 77 the
 * scenario cannot run on this host (crosshost: not root, no DPDK).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "bench.h"
#include "clock.h"
#include "report.h"
#include "segment.h"
#include "stats.h"
#include "scenario.h"
#include "sb_log.h"
#include "sb_ring.h"

struct scenario_def {
	const char *name;
	int (*fn)(const struct bench_opts *o);
	uint32_t default_sizes[BENCH_MAX_SIZES];
	unsigned n_default_sizes;
	const char *help;
};

static const struct scenario_def scenarios[] = {
	{ "baseline", scenario_baseline, { 0, 64, 1024 }, 3,
	  "physical limit: cache-line ping-pong between two processes (+ --size bytes each way)" },
	{ "pingpong", scenario_pingpong, { 64, 1024 }, 2,
	  "round-trip latency through two shmbus rings (one per direction)" },
	{ "throughput", scenario_throughput, { 64, 1024 }, 2,
	  "one-way msgs/s and GB/s, single-record and batch API, 1 -> --subs N" },
	{ "opcost", scenario_opcost, { 64, 1024 }, 2,
	  "the ring's calls on one core: ns per record published and consumed, no second core involved" },
	{ "compare", scenario_compare, { 64, 1024 }, 2,
	  "paired rounds: the limit vs pingpong (and --via-daemon, ZeroMQ, iceoryx when present)" },
	{ "interleave", scenario_interleave, { 64, 1024 }, 2,
	  "the limit and the ring ping-pong in alternating blocks of --block round trips, same two processes" },
	{ "crosshost", scenario_crosshost, { 64 }, 1,
	  "paired rounds across two network namespaces: the DPDK bridge vs raw DPDK and kernel UDP" },
	{ "recovery", scenario_recovery, { 64 }, 1,
	  "SIGKILLed tethered subscriber -> blocked publisher's next claim; ping-pong while shmbusd restarts" },
};
#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmbus-bench SCENARIO [options]\n"
		"\n"
		"scenarios:\n");
	for (size_t i = 0; i < N_SCENARIOS; i++)
		fprintf(f, "  %-11s %s\n", scenarios[i].name, scenarios[i].help);
	fprintf(f,
		"\n"
		"options:\n"
		"  --cores A,B[,C...]  cores to pin to: ping/publisher on A, pong/subscribers on B... (default 0,1)\n"
		"  --size N[,N...]     payload bytes (K/M suffixes: KiB/MiB); default: baseline 0,64,1024,\n"
		"                      others 64,1024\n"
		"  --count N           measured round trips (latency, default 1000000) or messages\n"
		"                      (throughput, default 20000000); compare: total per side, split over\n"
		"                      rounds (default 1000000 per round); k/M suffixes: 1e3/1e6\n"
		"  --warmup N          unmeasured round trips/messages before each run (default 100000)\n"
		"  --rounds N          compare: paired rounds (default 7, at least 5 recommended);\n"
		"                      throughput: rounds of the limit and the four ring kinds (default 3);\n"
		"                      recovery: subscriber kills (default 20)\n"
		"  --retries N         compare: re-run a pair disturbed by other load or steal (default 2)\n"
		"  --ring-size N       ring capacity of each segment, power of two (default 4M)\n"
		"  --align N           record alignment of the segments: 8 (dense, default) .. 128\n"
		"  --subs N            throughput: subscriber processes (default 1)\n"
		"  --batch N           throughput: records per batch claim/peek (default 32, max %u)\n"
		"  --block N           interleave: round trips per block (default 1000)\n"
		"  --runs N            interleave, and compare's interleaved check: N fresh pairs of\n"
		"                      processes and segments, median of the per-run ratios\n"
		"                      (default: interleave 1, compare 5)\n"
		"  --shared            publishers attach in shared (multi-producer) mode\n"
		"  --baseline LAYOUT   the limit's memory layout: split (flag on its own cache line,\n"
		"                      payload in a fixed buffer; default), stream (flag heads the\n"
		"                      payload, blocks advance through --ring-size bytes), inline\n"
		"                      (flag heads the payload, one fixed block) or split-stream\n"
		"                      (flag line, then payload lines; blocks advance like stream)\n"
		"  --json              one JSON object per result per line on stdout (tables go to stderr)\n"
		"  --csv FILE          append one row per result to FILE\n"
		"  --hist              print the latency histogram of all samples\n"
		"  --raw-percentiles   plain nearest-rank percentiles even where the TSC advances in\n"
		"                      coarse steps (default there: interpolated within the step)\n"
		"  --no-seccomp        do not sandbox the measured loops (for strace cross-checks)\n"
		"  --selftest-seccomp  make one system call where measuring starts: the run must fail\n"
		"  --rt                measuring processes run SCHED_FIFO (priority 50), like pinned\n"
		"                      trading threads; each needs a core of its own\n"
		"  --timeout SEC       time limit per run (default: derived from --count)\n"
		"  --via-daemon        pingpong, compare, interleave: open the topics by name\n"
		"                      through a running shmbusd and libshmbus instead of creating\n"
		"                      segments directly; compare pairs it with the raw-ring\n"
		"                      pingpong and the limit, interleave with the raw ring\n"
		"  --socket PATH       shmbusd's socket (default: $SHMBUS_SOCKET, else the library's\n"
		"                      default path)\n"
		"  --claim-ahead       pingpong, interleave (raw ring): the pong claims its reply\n"
		"                      before the request arrives (docs/api.md); never used for a verdict\n"
		"\n"
		"crosshost (root; --cores A,B: ping side on A, pong side on B; --count: round trips per\n"
		"subject over all rounds, default 100k; --warmup: per run, at most 10k):\n"
		"  --netns PREFIX      namespaces PREFIXA, PREFIXB, veth PREFIX-a/-b (default bx)\n"
		"  --if-a IF --if-b IF move these interfaces into the namespaces instead of a veth pair\n"
		"                      (e.g. two NIC ports cabled back to back)\n"
		"  --pmd af_packet|af_xdp  DPDK virtual device on the interfaces (default af_packet)\n"
		"  --bridge-cores AM,AW,BM,BW  EAL lcores of shmbusd A (main, worker) and B (default\n"
		"                      from --cores: A,B,B,A, i.e. -l 0,1 and -l 1,0)\n"
		"  --idle spin|yield|sleep  bridge workers' (and clients') idle strategy (default yield;\n"
		"                      spin with dedicated cores)\n"
		"  --loss PCT          the lossy stream drops PCT %% of A's bridge frames (default 5; 0: none)\n"
		"  --tp-count N        records per stream run (default 500k)\n"
		"  --no-bridge         the raw DPDK and kernel UDP baselines only\n"
		"  --shmbusd PATH, --rawpp PATH  the programs (default: found next to shmbus-bench)\n"
		"  --help              this text\n",
		SB_RING_BATCH_MAX);
}

/* Unsigned number with an optional suffix: binary (K=2^10) or decimal
 * (k=10^3).  Returns 0 or -1. */
static int parse_u64(const char *s, bool binary, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = binary ? 1024u : 1000u;
		end++;
		break;
	case 'm':
	case 'M':
		mul = binary ? 1024u * 1024u : 1000000u;
		end++;
		break;
	case 'g':
	case 'G':
		mul = binary ? UINT64_C(1) << 30 : 1000000000u;
		end++;
		break;
	default:
		return -1;
	}
	if (binary && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

static int bad_value(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "shmbus-bench: %s '%s': %s\n", opt, val, what);
	return -1;
}

static int parse_cores(struct bench_opts *o, const char *arg)
{
	char buf[512], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", arg);
	o->ncores = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t c;
		int ok;

		if (o->ncores == WORKER_MAX)
			return bad_value("--cores", arg, "too many cores");
		if (parse_u64(tok, false, &c) < 0 || c > 65535)
			return bad_value("--cores", arg, "expected a comma-separated list of core numbers");
		ok = affinity_allowed((int)c);
		if (ok <= 0) {
			char allowed[128];

			affinity_describe(allowed, sizeof(allowed));
			fprintf(stderr, "shmbus-bench: --cores: core %llu is not available (allowed: %s)\n",
				(unsigned long long)c, allowed);
			return -1;
		}
		o->cores[o->ncores++] = (int)c;
	}
	if (o->ncores < 2)
		return bad_value("--cores", arg, "need at least two cores");
	return 0;
}

static int parse_sizes(struct bench_opts *o, const char *arg)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", arg);
	o->nsizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->nsizes == BENCH_MAX_SIZES)
			return bad_value("--size", arg, "at most 4 sizes");
		if (parse_u64(tok, true, &v) < 0 || v > BENCH_MAX_SIZE)
			return bad_value("--size", arg, "expected bytes, 0..1MiB");
		o->sizes[o->nsizes++] = (uint32_t)v;
	}
	if (o->nsizes == 0)
		return bad_value("--size", arg, "expected bytes, 0..1MiB");
	o->size_given = true;
	return 0;
}

enum {
	OPT_CORES = 256, OPT_SIZE, OPT_COUNT, OPT_WARMUP, OPT_ROUNDS, OPT_RETRIES, OPT_RING,
	OPT_ALIGN, OPT_SUBS, OPT_BATCH, OPT_BLOCK, OPT_RUNS,
	OPT_SHARED, OPT_BASELINE, OPT_JSON, OPT_CSV, OPT_HIST, OPT_RAWPCT, OPT_NOSECCOMP, OPT_SELFTEST, OPT_RT, OPT_TIMEOUT, OPT_HELP,
	OPT_VIA_DAEMON, OPT_SOCKET, OPT_CROSSHOST, OPT_CLAIM_AHEAD,
};

static const struct option long_opts[] = {
	{ "cores", required_argument, NULL, OPT_CORES },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "ring-size", required_argument, NULL, OPT_RING },
	{ "align", required_argument, NULL, OPT_ALIGN },
	{ "subs", required_argument, NULL, OPT_SUBS },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "block", required_argument, NULL, OPT_BLOCK },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "baseline", required_argument, NULL, OPT_BASELINE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "hist", no_argument, NULL, OPT_HIST },
	{ "raw-percentiles", no_argument, NULL, OPT_RAWPCT },
	{ "no-seccomp", no_argument, NULL, OPT_NOSECCOMP },
	{ "selftest-seccomp", no_argument, NULL, OPT_SELFTEST },
	{ "rt", no_argument, NULL, OPT_RT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "via-daemon", no_argument, NULL, OPT_VIA_DAEMON },
	{ "claim-ahead", no_argument, NULL, OPT_CLAIM_AHEAD },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	/* crosshost's own (crosshost_parse_option), all OPT_CROSSHOST */
	{ "netns", required_argument, NULL, OPT_CROSSHOST },
	{ "if-a", required_argument, NULL, OPT_CROSSHOST },
	{ "if-b", required_argument, NULL, OPT_CROSSHOST },
	{ "pmd", required_argument, NULL, OPT_CROSSHOST },
	{ "bridge-cores", required_argument, NULL, OPT_CROSSHOST },
	{ "idle", required_argument, NULL, OPT_CROSSHOST },
	{ "loss", required_argument, NULL, OPT_CROSSHOST },
	{ "tp-count", required_argument, NULL, OPT_CROSSHOST },
	{ "no-bridge", no_argument, NULL, OPT_CROSSHOST },
	{ "shmbusd", required_argument, NULL, OPT_CROSSHOST },
	{ "rawpp", required_argument, NULL, OPT_CROSSHOST },
	{ NULL, 0, NULL, 0 },
};

static int parse_option(struct bench_opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case OPT_CORES:
		return parse_cores(o, arg);
	case OPT_SIZE:
		return parse_sizes(o, arg);
	case OPT_COUNT:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > UINT64_C(1) << 32)
			return bad_value("--count", arg, "expected 1..4G");
		o->count = v;
		o->count_given = true;
		return 0;
	case OPT_WARMUP:
		if (parse_u64(arg, false, &v) < 0 || v > UINT64_C(1) << 32)
			return bad_value("--warmup", arg, "expected 0..4G");
		o->warmup = v;
		return 0;
	case OPT_ROUNDS:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > 1000)
			return bad_value("--rounds", arg, "expected 1..1000");
		o->rounds = (unsigned)v;
		o->rounds_given = true;
		return 0;
	case OPT_RETRIES:
		if (parse_u64(arg, false, &v) < 0 || v > 100)
			return bad_value("--retries", arg, "expected 0..100");
		o->retries = (unsigned)v;
		return 0;
	case OPT_RING:
		if (parse_u64(arg, true, &v) < 0 || v < 4096 || v > (UINT64_C(1) << 34) || (v & (v - 1)))
			return bad_value("--ring-size", arg, "expected a power of two, 4K..16G");
		o->ring_size = v;
		return 0;
	case OPT_ALIGN:
		if (parse_u64(arg, false, &v) < 0 || v < 8 || v > 128 || (v & (v - 1)))
			return bad_value("--align", arg, "expected a power of two, 8..128");
		bench_seg_set_align((uint32_t)v);
		return 0;
	case OPT_SUBS:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > 64)
			return bad_value("--subs", arg, "expected 1..64");
		o->subs = (unsigned)v;
		return 0;
	case OPT_BATCH:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > SB_RING_BATCH_MAX)
			return bad_value("--batch", arg, "expected 1..256");
		o->batch = (unsigned)v;
		return 0;
	case OPT_BLOCK:
		if (parse_u64(arg, true, &v) < 0 || v == 0 || v > 1000000)
			return bad_value("--block", arg, "expected 1..1M round trips");
		o->block = (unsigned)v;
		return 0;
	case OPT_RUNS:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > 1000)
			return bad_value("--runs", arg, "expected 1..1000");
		o->runs = (unsigned)v;
		return 0;
	case OPT_SHARED:
		o->shared_pub = true;
		return 0;
	case OPT_BASELINE:
		for (int l = 0; l < BASELINE_LAYOUTS; l++) {
			if (strcmp(arg, baseline_layout_name((enum baseline_layout)l)) == 0) {
				o->baseline = (enum baseline_layout)l;
				return 0;
			}
		}
		return bad_value("--baseline", arg, "expected split, stream, inline or split-stream");
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_CSV:
		o->csv = arg;
		return 0;
	case OPT_HIST:
		o->hist = true;
		return 0;
	case OPT_RAWPCT:
		o->raw_percentiles = true;
		return 0;
	case OPT_NOSECCOMP:
		o->seccomp = false;
		return 0;
	case OPT_RT:
		o->rt = true;
		return 0;
	case OPT_VIA_DAEMON:
		o->via_daemon = true;
		return 0;
	case OPT_CLAIM_AHEAD:
		o->claim_ahead = true;
		return 0;
	case OPT_SOCKET:
		if (!*arg || strlen(arg) >= 108)
			return bad_value("--socket", arg, "expected a UNIX socket path");
		o->socket = arg;
		return 0;
	case OPT_SELFTEST:
		o->selftest = true;
		return 0;
	case OPT_TIMEOUT:
		if (parse_u64(arg, false, &v) < 0 || v == 0 || v > 86400)
			return bad_value("--timeout", arg, "expected seconds, 1..86400");
		o->timeout_s = (double)v;
		return 0;
	default:
		return -1;
	}
}

/* Sizes the rings must hold: a record may take at most half the ring. */
static int check_sizes(const struct bench_opts *o, const struct scenario_def *s)
{
	if (s->fn == scenario_baseline)
		return 0;
	for (unsigned i = 0; i < o->nsizes; i++) {
		if (sb_rec_size_al(o->sizes[i], SB_REC_ALIGN_MAX) > o->ring_size / 2) {
			fprintf(stderr, "shmbus-bench: --size %u does not fit a %llu-byte ring twice (raise --ring-size)\n",
				o->sizes[i], (unsigned long long)o->ring_size);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct scenario_def *s = NULL;
	struct bench_opts o;
	int c, idx, rc;

	memset(&o, 0, sizeof(o));
	o.cores[0] = 0;
	o.cores[1] = 1;
	o.ncores = 2;
	o.count = 1000000;
	o.warmup = 100000;
	o.rounds = 7;
	o.retries = 2;
	o.ring_size = BENCH_DEFAULT_RING;
	o.subs = 1;
	o.batch = 32;
	o.block = 1000;
	o.seccomp = true;
#ifdef SB_BENCH_SANITIZED
	/* Inside the sandbox the first system call of the sanitizer runtime
	 * would kill the run with SIGSYS. */
	fprintf(stderr, "shmbus-bench: sanitizer build: measured loops are not sandboxed and the "
			"figures are not representative (benchmark a release build)\n");
	o.seccomp = false;
#endif

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "shmbus-bench: missing scenario\n\n");
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < N_SCENARIOS; i++)
		if (strcmp(argv[1], scenarios[i].name) == 0)
			s = &scenarios[i];
	if (!s) {
		fprintf(stderr, "shmbus-bench: unknown scenario '%s' (try --help)\n", argv[1]);
		return 2;
	}
	o.scenario = s->name;
	if (s->fn == scenario_recovery)
		o.rounds = 20;
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (c == '?' || c == ':') {
			if (optopt)
				fprintf(stderr, "shmbus-bench: option '%s' needs a value\n", argv[optind - 1]);
			else
				fprintf(stderr, "shmbus-bench: unknown option '%s' (try --help)\n", argv[optind - 1]);
			return 2;
		}
		if (c == OPT_CROSSHOST) {
			if (s->fn != scenario_crosshost) {
				fprintf(stderr, "shmbus-bench: --%s applies to crosshost only\n", long_opts[idx].name);
				return 2;
			}
			if (crosshost_parse_option(long_opts[idx].name, optarg) < 0)
				return 2;
			continue;
		}
		if (parse_option(&o, c, optarg) < 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "shmbus-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o.size_given) {
		memcpy(o.sizes, s->default_sizes, sizeof(o.sizes));
		o.nsizes = s->n_default_sizes;
	}
	if (o.via_daemon && s->fn != scenario_pingpong && s->fn != scenario_compare && s->fn != scenario_interleave) {
		fprintf(stderr, "shmbus-bench: --via-daemon applies to pingpong, compare and interleave only\n");
		return 2;
	}
	if (o.claim_ahead && (o.via_daemon || (s->fn != scenario_pingpong && s->fn != scenario_interleave))) {
		fprintf(stderr, "shmbus-bench: --claim-ahead applies to the raw ring's pingpong and interleave only\n");
		return 2;
	}
	if (check_sizes(&o, s) < 0)
		return 2;
	if (o.rt && s->fn == scenario_throughput && o.ncores < o.subs + 1) {
		fprintf(stderr, "shmbus-bench: --rt with %u subscribers needs %u cores: SCHED_FIFO spinners "
				"sharing a core would starve each other\n", o.subs, o.subs + 1);
		return 2;
	}

	/* The preamble names the segment directory once; sb_seg_create's
	 * per-segment fallback warning would only repeat it. */
	sb_log_set_level(SB_LOG_ERR);
	if (clock_calibrate() < 0)
		return 1;
	stats_set_step(o.raw_percentiles ? 1 : clock_step_ticks());
	report_preamble(&o);
	rc = s->fn(&o);
	return rc == 0 ? 0 : rc == BENCH_SKIP ? BENCH_SKIP : 1;
}
