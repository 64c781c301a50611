/*
 * scenario_compare.c - paired rounds: the physical limit against each
 * subject, on the same cores, with the same payload size.
 *
 * Why pairs: on a shared host the two vCPUs are moved between near and far
 * placements every few minutes and the round-trip floor moves with them
 * (roughly 110 ns vs 500 ns on the development VM).  A subject measured at
 * one time and the limit at another give meaningless ratios; runs measured
 * back to back almost always share a placement, but "seconds apart" is not
 * always enough: the placement has been seen to move within a round (a
 * peer's run takes seconds), and levels drift by 1.5x inside the near
 * placement.  So each subject is paired with a limit run of its own, right
 * before or right after it (alternating from round to round, so neither
 * side always runs first), with the same number of round trips; the
 * subjects' order rotates from round to round; the ratio of a round is
 * subject / its limit for p50 and p99.9, and the verdict is the median of
 * the per-round ratios.  Ratios between two subjects (daemon path / raw
 * ring, peer / shmbus) are left out of their median for rounds in which the
 * two subjects' limits differ by more than CMP_MOVED, as long as
 * CMP_MIN_KEPT rounds remain.
 *
 * Subjects (built for each invocation): the raw-ring ping-pong always;
 * with --via-daemon the ping-pong through topics opened by name via
 * shmbusd, and the median of its per-round ratio to the raw ring (the cost
 * of going through the daemon and the library); then the peers a user would
 * otherwise pick, where built and available here (ZeroMQ, iceoryx), with
 * the median per-round ratio of their p50 to shmbus's.  Peers make system
 * calls by design and run outside the seccomp sandbox, with at most
 * CMP_PEER_PER_ROUND round trips per round (they are 100x slower).  A peer
 * that fails (its daemon misbehaves, a run times out) is reported and left
 * out of the rest of the invocation; shmbus's own subjects failing ends it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "scenario.h"

#define CMP_DEFAULT_PER_ROUND UINT64_C(1000000)
#define CMP_PEER_PER_ROUND    UINT64_C(100000)
#define CMP_PEER_WARMUP       UINT64_C(10000)
#define CMP_MAX_ROUNDS        1000
#define CMP_MAX_SUBJECTS      4
#define CMP_TP_SHMBUS         UINT64_C(20000000)
#define CMP_TP_ICEORYX        UINT64_C(2000000)
#define CMP_CHECK_RUNS        5    /* interleaved check: fresh process pairs per size and kind */
#define CMP_MOVED             1.25 /* two limits this far apart: not the same placement */
#define CMP_MIN_KEPT          3    /* rounds needed to leave out the moved ones */

struct compare_subject {
	const char *name;   /* short name used in tables and JSON */
	const char *what;   /* one line for the report */
	latency_run_fn run;
	bool peer;          /* another system: fewer round trips, no sandbox */
	char tag;           /* one letter in the order column */
	bool failed;        /* a peer whose run failed: left out from then on */
};

/* Per subject, over the rounds of one size. */
struct subject_acc {
	const struct compare_subject *s;
	uint64_t per_round;
	uint64_t warmup;
	uint64_t *pooled;
	struct compare_round *rounds;
	double *r50, *r999;     /* vs the limit */
	double *x50, *x999;     /* vs the reference (raw ring or peer/shmbus) */
	double rate_sum;
	double open_us_sum;
};

void bench_ring_targets(uint32_t size, double *p50, double *p999)
{
	*p50 = size == 64 ? 1.10 : size == 1024 ? 1.30 : 0;
	*p999 = size == 64 ? 2.0 : 0;
}

static unsigned build_subjects(const struct bench_opts *o, struct compare_subject *out)
{
	unsigned n = 0;

	out[n++] = (struct compare_subject){ "shmbus", "shmbus ring ping-pong, segments created directly "
						       "(tethered busy-spin subscribers)", pingpong_run, false, 'S', false };
	if (o->via_daemon)
		out[n++] = (struct compare_subject){ "shmbus-daemon", "shmbus ping-pong, topics opened by name via "
								      "shmbusd + libshmbus", daemon_run, false, 'D', false };
#ifdef SB_HAVE_ZMQ
	if (zmq_available())
		out[n++] = (struct compare_subject){ "zeromq", "ZeroMQ 4 PAIR over ipc:// ping-pong (NOT sandboxed: "
							       "makes syscalls by design)", zmq_run, true, 'Z', false };
#endif
#ifdef SB_HAVE_ICEORYX
	if (iceoryx_available())
		out[n++] = (struct compare_subject){ "iceoryx", "iceoryx 2 publisher/subscriber ping-pong with RouDi "
								"(NOT sandboxed: makes syscalls by design)", iceoryx_run, true, 'I', false };
#endif
	return n;
}

static void print_row(FILE *out, const char *name, const struct compare_round *c, const char *order)
{
	fprintf(out, "%5u  %-11s %-13s %9.0f %11.0f %10.0f %12.0f %10.3f %12.3f", c->round, order, name, c->base.p50_ns,
		c->base.p999_ns, c->subj.p50_ns, c->subj.p999_ns, c->ratio_p50, c->ratio_p999);
	if (c->moved)
		fprintf(out, "  ~ limit moved since its reference's");
	if (c->disturbed)
		fprintf(out, "  ! other load %.0f ms, steal %.0f ms", c->foreign_ms, c->steal_ms);
	if (c->retried)
		fprintf(out, "  (run %u times: earlier rounds disturbed)", c->retried + 1);
	fputc('\n', out);
}

/* The JSON tail of a compare object: ratios and the per-round array. */
static char *json_extra(const struct subject_acc *a, unsigned n, double med50, double med999, const char *xname,
			double x50, double x999)
{
	size_t cap = 256 + (size_t)n * 256, used = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	used += (size_t)snprintf(s + used, cap - used, ",\"subject\":\"%s\",\"ratio_p50\":%.4f,\"ratio_p999\":%.4f",
				 a->s->name, med50, med999);
	if (xname)
		used += (size_t)snprintf(s + used, cap - used, ",\"%s_p50\":%.4f,\"%s_p999\":%.4f", xname, x50, xname,
					 x999);
	if (a->open_us_sum > 0)
		used += (size_t)snprintf(s + used, cap - used, ",\"open_us\":%.1f", a->open_us_sum / n);
	used += (size_t)snprintf(s + used, cap - used, ",\"rounds\":[");
	for (unsigned i = 0; i < n; i++) {
		const struct compare_round *c = &a->rounds[i];

		used += (size_t)snprintf(s + used, cap - used,
					 "%s{\"round\":%u,\"baseline_p50_ns\":%.1f,\"baseline_p999_ns\":%.1f,"
					 "\"subject_p50_ns\":%.1f,\"subject_p999_ns\":%.1f,"
					 "\"ratio_p50\":%.4f,\"ratio_p999\":%.4f,\"disturbed\":%s,\"moved\":%s}",
					 i ? "," : "", c->round, c->base.p50_ns, c->base.p999_ns, c->subj.p50_ns,
					 c->subj.p999_ns, c->ratio_p50, c->ratio_p999, c->disturbed ? "true" : "false",
					 c->moved ? "true" : "false");
	}
	snprintf(s + used, cap - used, "]");
	return s;
}

/* One round: every subject beside a limit run of its own (bres[j]), the
 * subjects in an order rotated by round, the limit before the subject in
 * every other pair; repeated while disturbed, up to --retries times.
 * Returns the number of repeats, or -1. */
static int run_round(const struct bench_opts *o, uint32_t size, unsigned i, struct subject_acc *acc,
		     struct compare_subject *subj, unsigned ns, struct bench_result *bres, struct bench_result *sres,
		     char *order, size_t order_len)
{
	for (unsigned attempt = 0;; attempt++) {
		bool disturbed = false;
		size_t used = 0;

		order[0] = '\0';
		for (unsigned k = 0; k < ns; k++) {
			unsigned j = (k + i) % ns;
			struct subject_acc *a = &acc[j];
			bool limit_first = (i + k) % 2 == 0;

			if (subj[j].failed)
				continue;
			for (unsigned half = 0; half < 2; half++) {
				if ((half == 0) == limit_first) {
					struct run_spec bspec = { .size = size, .count = a->per_round, .warmup = a->warmup };

					memset(&bres[j], 0, sizeof(bres[j]));
					if (baseline_run(o, &bspec, &bres[j]) < 0)
						return -1;
					disturbed |= harness_disturbed(&bres[j].dist);
					continue;
				}
				struct run_spec sspec = { .size = size, .count = a->per_round, .warmup = a->warmup,
							  .samples_out = a->pooled + (uint64_t)i * a->per_round };

				memset(&sres[j], 0, sizeof(sres[j]));
				if (a->s->run(o, &sspec, &sres[j]) < 0) {
					if (!a->s->peer)
						return -1;
					subj[j].failed = true;
					fprintf(bench_out(o), "shmbus-bench: compare: %s failed in round %u (above); "
							      "left out of the rest of this run\n", a->s->name, i + 1);
					break;
				}
				disturbed |= harness_disturbed(&sres[j].dist);
			}
			if (subj[j].failed)
				continue;
			used += (size_t)snprintf(order + used, order_len - used, "%s%c%c", used ? "," : "",
						 limit_first ? 'L' : a->s->tag, limit_first ? a->s->tag : 'L');
			if (used >= order_len)
				used = order_len - 1;
		}
		if (attempt >= o->retries || !disturbed)
			return (int)attempt;
	}
}

/* Median of v over the rounds kept: all, or those whose limits agree. */
static double kept_median(const double *v, const struct compare_round *r, unsigned n, bool keep_all)
{
	double tmp[CMP_MAX_ROUNDS];
	size_t k = 0;

	for (unsigned i = 0; i < n; i++)
		if (keep_all || !r[i].moved)
			tmp[k++] = v[i];
	return stats_median(tmp, k);
}

static int compare_size(const struct bench_opts *o, struct compare_subject *subj, unsigned ns, uint32_t size,
			uint64_t per_round)
{
	FILE *out = bench_out(o);
	struct subject_acc acc[CMP_MAX_SUBJECTS];
	struct bench_result sres[CMP_MAX_SUBJECTS];
	unsigned ref = o->via_daemon && ns > 1 ? 1 : 0; /* shmbus as peers see it */
	double floor_ns = 0, t50, t999;
	double *base_p50 = calloc(o->rounds, sizeof(double));
	int rc = -1;

	memset(acc, 0, sizeof(acc));
	if (!base_p50)
		goto out;
	for (unsigned j = 0; j < ns; j++) {
		struct subject_acc *a = &acc[j];

		a->s = &subj[j];
		a->per_round = subj[j].peer && per_round > CMP_PEER_PER_ROUND ? CMP_PEER_PER_ROUND : per_round;
		a->warmup = subj[j].peer && o->warmup > CMP_PEER_WARMUP ? CMP_PEER_WARMUP : o->warmup;
		a->pooled = malloc(a->per_round * o->rounds * sizeof(uint64_t));
		a->rounds = calloc(o->rounds, sizeof(*a->rounds));
		a->r50 = calloc(o->rounds, sizeof(double));
		a->r999 = calloc(o->rounds, sizeof(double));
		a->x50 = calloc(o->rounds, sizeof(double));
		a->x999 = calloc(o->rounds, sizeof(double));
		if (!a->pooled || !a->rounds || !a->r50 || !a->r999 || !a->x50 || !a->x999) {
			fprintf(stderr, "shmbus-bench: compare: cannot allocate samples: %s\n", strerror(errno));
			goto out;
		}
	}
	fprintf(out, "compare at %u-byte payload each way: %u rounds; per round and side %llu round trips "
		     "(peers %llu)\n", size, o->rounds, (unsigned long long)per_round,
		(unsigned long long)(per_round > CMP_PEER_PER_ROUND ? CMP_PEER_PER_ROUND : per_round));
	fprintf(out, "  L limit: %s (%s layout: same payload bytes, no ring)\n", baseline_name(o->baseline),
		baseline_layout_name(o->baseline));
	for (unsigned j = 0; j < ns; j++)
		fprintf(out, "  %c %s: %s\n", subj[j].tag, subj[j].name, subj[j].what);
	fprintf(out, "%5s  %-11s %-13s %9s %11s %10s %12s %10s %12s\n", "round", "order", "subject", "limit p50",
		"limit p99.9", "subj p50", "subj p99.9", "ratio p50", "ratio p99.9");
	for (unsigned i = 0; i < o->rounds; i++) {
		struct bench_result bres[CMP_MAX_SUBJECTS];
		char order[32];
		int retried = run_round(o, size, i, acc, subj, ns, bres, sres, order, sizeof(order));

		if (retried < 0)
			goto out;
		base_p50[i] = bres[0].lat.p50_ns;
		for (unsigned j = 0; j < ns; j++) {
			struct subject_acc *a = &acc[j];
			struct compare_round *c = &a->rounds[i];
			/* shmbus-daemon against the raw ring; peers against shmbus */
			unsigned x = a->s->peer ? ref : 0;

			if (subj[j].failed)
				continue;
			snprintf(bres[j].scenario, sizeof(bres[j].scenario), "compare-r%u-baseline-%s", i + 1,
				 a->s->name);
			if (report_csv(o, &bres[j]) < 0)
				goto out;
			c->round = i + 1;
			c->base = bres[j].lat;
			c->subj = sres[j].lat;
			c->ratio_p50 = c->subj.p50_ns / c->base.p50_ns;
			c->ratio_p999 = c->subj.p999_ns / c->base.p999_ns;
			c->disturbed = harness_disturbed(&bres[j].dist) || harness_disturbed(&sres[j].dist);
			c->moved = j != x && (bres[j].lat.p50_ns > CMP_MOVED * bres[x].lat.p50_ns ||
					      bres[x].lat.p50_ns > CMP_MOVED * bres[j].lat.p50_ns);
			c->foreign_ms = bres[j].dist.foreign_ms + sres[j].dist.foreign_ms;
			c->steal_ms = bres[j].dist.steal_ms + sres[j].dist.steal_ms;
			c->retried = (unsigned)retried;
			a->r50[i] = c->ratio_p50;
			a->r999[i] = c->ratio_p999;
			a->rate_sum += sres[j].msgs_per_s;
			a->open_us_sum += sres[j].open_us;
			snprintf(sres[j].scenario, sizeof(sres[j].scenario), "compare-r%u-%s", i + 1, a->s->name);
			if (report_csv(o, &sres[j]) < 0)
				goto out;
			print_row(out, a->s->name, c, order);
		}
		for (unsigned j = 0; j < ns; j++) {
			/* shmbus-daemon against the raw ring; peers against shmbus */
			const struct lat_stats *x = &sres[acc[j].s->peer ? ref : 0].lat;

			if (subj[j].failed)
				continue;
			acc[j].x50[i] = sres[j].lat.p50_ns / x->p50_ns;
			acc[j].x999[i] = sres[j].lat.p999_ns / x->p999_ns;
		}
		fflush(out);
		if (floor_ns == 0 || bres[0].lat.p50_ns < floor_ns)
			floor_ns = bres[0].lat.p50_ns;
	}
	bench_ring_targets(size, &t50, &t999);
	fprintf(out, "medians of per-round ratios at %u B:\n", size);
	for (unsigned j = 0; j < ns; j++) {
		struct subject_acc *a = &acc[j];
		double med50 = stats_median(a->r50, o->rounds), med999 = stats_median(a->r999, o->rounds);
		unsigned kept = 0;
		bool keep_all;
		double x50, x999;

		for (unsigned i = 0; i < o->rounds; i++)
			kept += !a->rounds[i].moved;
		keep_all = kept < CMP_MIN_KEPT;
		x50 = kept_median(a->x50, a->rounds, o->rounds, keep_all);
		x999 = kept_median(a->x999, a->rounds, o->rounds, keep_all);
		char kept_note[96] = "";

		if (kept < o->rounds)
			snprintf(kept_note, sizeof(kept_note),
				 keep_all ? " [all rounds, though in %u the limits disagree: suspect]"
					  : " [over the %u rounds whose limits agree (~ above)]",
				 keep_all ? o->rounds - kept : kept);
		const char *xname = NULL;
		struct bench_result pooled_res;
		char *extra;

		if (subj[j].failed) {
			fprintf(out, "  %-13s failed (above): no result\n", a->s->name);
			continue;
		}
		fprintf(out, "  %-13s / limit: p50 %.3fx", a->s->name, med50);
		if (j == 0 && t50 > 0)
			fprintf(out, " (target <= %.2fx: %s)", t50, med50 <= t50 ? "met" : "MISSED");
		fprintf(out, ", p99.9 %.3fx", med999);
		if (j == 0 && t999 > 0)
			fprintf(out, " (target <= %.2fx: %s)", t999, med999 <= t999 ? "met" : "MISSED");
		fprintf(out, "\n");
		if (a->s->run == daemon_run) {
			xname = "ratio_raw";
			fprintf(out, "  %-13s / shmbus (raw ring): p50 %.3fx, p99.9 %.3fx (target: within 5%%: %s)%s\n",
				a->s->name, x50, x999,
				x50 <= BENCH_DAEMON_TARGET && x999 <= BENCH_DAEMON_TARGET ? "met" : "MISSED", kept_note);
			fprintf(out, "  %-13s connect + open of both topics: %.0f us (mean of rounds, slower process)\n",
				a->s->name, a->open_us_sum / o->rounds);
		} else if (a->s->peer) {
			xname = "ratio_to_shmbus";
			fprintf(out, "  %s / %s: p50 %.4fx (%s's p50 is %.1fx %s's; p99.9 %.1fx)%s\n", subj[ref].name,
				a->s->name, 1.0 / x50, a->s->name, x50, subj[ref].name, x999, kept_note);
			/* Issue 3's ">= 10x lower p50" is a 64 B target (its reference,
			 * iceoryx at 12.6x the limit, is a 64 B figure); at 1 KiB a
			 * tenth of iceoryx's round trip lies below the limit itself. */
			if (strcmp(a->s->name, "iceoryx") == 0 && size == 64)
				fprintf(out, "  %-13s target >= 10x lower p50 for shmbus at 64 B: %s\n", "",
					x50 >= 10.0 ? "met" : "MISSED");
			else if (strcmp(a->s->name, "iceoryx") == 0)
				fprintf(out, "  %-13s (the >= 10x target is for 64 B: here iceoryx's p50 is only "
					     "%.1fx the limit's own)\n", "", med50);
		}
		memset(&pooled_res, 0, sizeof(pooled_res));
		snprintf(pooled_res.scenario, sizeof(pooled_res.scenario), j == 0 ? "compare" : "compare-%s",
			 a->s->name);
		stats_compute(a->pooled, a->per_round * o->rounds, &pooled_res.lat);
		pooled_res.has_latency = true;
		pooled_res.size = size;
		pooled_res.count = a->per_round * o->rounds;
		pooled_res.msgs_per_s = a->rate_sum / o->rounds;
		fprintf(out, "  %-13s pooled: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  p99.99 %.0f  max %.0f ns\n",
			a->s->name, pooled_res.lat.p50_ns, pooled_res.lat.p90_ns, pooled_res.lat.p99_ns,
			pooled_res.lat.p999_ns, pooled_res.lat.p9999_ns, pooled_res.lat.max_ns);
		if (o->json) {
			extra = json_extra(a, o->rounds, med50, med999, xname, x50, x999);
			if (!extra) {
				fprintf(stderr, "shmbus-bench: compare: out of memory\n");
				goto out;
			}
			report_json(&pooled_res, extra);
			free(extra);
		}
		if (report_csv(o, &pooled_res) < 0)
			goto out;
	}
	{
		unsigned n_disturbed = 0;

		for (unsigned i = 0; i < o->rounds; i++)
			for (unsigned j = 0; j < ns; j++)
				if (!subj[j].failed && acc[j].rounds[i].disturbed) {
					n_disturbed++;
					break;
				}
		if (n_disturbed)
			fprintf(out, "! %u of %u rounds ran with other load or hypervisor steal on the measuring cores\n",
				n_disturbed, o->rounds);
	}
	fprintf(out, "baseline level per round (p50; near = within 1.5x of the lowest):");
	for (unsigned i = 0; i < o->rounds; i++)
		fprintf(out, " %u:%s/%.0f", i + 1, base_p50[i] < 1.5 * floor_ns ? "near" : "far", base_p50[i]);
	fprintf(out, "\n\n");
	rc = 0;
out:
	for (unsigned j = 0; j < ns; j++) {
		free(acc[j].pooled);
		free(acc[j].rounds);
		free(acc[j].r50);
		free(acc[j].r999);
		free(acc[j].x50);
		free(acc[j].x999);
	}
	free(base_p50);
	return rc;
}

/* The rounds above pair runs seconds apart; the same ratios measured in
 * alternating millisecond blocks of the same two processes
 * (scenario_interleave.c), which no placement move can split. */
static int interleaved_check(const struct bench_opts *o)
{
	FILE *out = bench_out(o);
	uint64_t n = o->count_given ? o->count : CMP_DEFAULT_PER_ROUND;

	fprintf(out, "interleaved check: the same ratios from alternating blocks of %u round trips in one pair of "
		     "processes (%llu of each kind), in %u fresh pairs\n", o->block, (unsigned long long)n,
		o->runs ? o->runs : CMP_CHECK_RUNS);
	for (unsigned i = 0; i < o->nsizes; i++) {
		if (interleave_runs(o, o->sizes[i], false, n, false, CMP_CHECK_RUNS) < 0)
			return -1;
		if (o->via_daemon && interleave_runs(o, o->sizes[i], true, n, false, CMP_CHECK_RUNS) < 0)
			return -1;
	}
	return 0;
}

/* 64 B one-way throughput, shmbus against iceoryx (issue 3: >= 20x). */
static int compare_throughput(const struct bench_opts *o, const struct compare_subject *subj, unsigned ns)
{
#ifdef SB_HAVE_ICEORYX
	FILE *out = bench_out(o);
	double sb = 0, iox = 0;

	for (unsigned j = 0; j < ns; j++)
		if (subj[j].failed && strcmp(subj[j].name, "iceoryx") == 0)
			return 0;
	if (!iceoryx_available())
		return 0;
	fprintf(out, "one-way throughput at 64 B, 1 publisher -> 1 subscriber, lossless (shmbus: raw ring, "
		     "exclusive publisher, tethered subscriber, single-record API; iceoryx: blocking producer)\n");
	if (throughput_single(o, 64, CMP_TP_SHMBUS, &sb) < 0)
		return -1;
	if (iceoryx_stream(o, 64, CMP_TP_ICEORYX, &iox) < 0) {
		fprintf(out, "shmbus-bench: compare: the iceoryx stream failed (above): no throughput ratio\n\n");
		return 0;
	}
	fprintf(out, "  shmbus %.2f M msgs/s (%llu records), iceoryx %.2f M msgs/s (%llu records): shmbus / iceoryx "
		     "%.1fx (target >= 20x: %s)\n\n", sb / 1e6, (unsigned long long)CMP_TP_SHMBUS, iox / 1e6,
		(unsigned long long)CMP_TP_ICEORYX, iox > 0 ? sb / iox : 0, iox > 0 && sb / iox >= 20 ? "met" : "MISSED");
#else
	(void)o;
	(void)subj;
	(void)ns;
#endif
	return 0;
}

int scenario_compare(const struct bench_opts *o)
{
	uint64_t per_round = o->count_given ? o->count / o->rounds : CMP_DEFAULT_PER_ROUND;
	struct compare_subject subj[CMP_MAX_SUBJECTS];
	unsigned ns;

	if (o->rounds < 1 || o->rounds > CMP_MAX_ROUNDS) {
		fprintf(stderr, "shmbus-bench: --rounds must be 1..%d\n", CMP_MAX_ROUNDS);
		return -1;
	}
	if (o->rounds < 5)
		fprintf(stderr, "shmbus-bench: warning: %u rounds; use at least 5 for a trustworthy median\n", o->rounds);
	if (per_round == 0) {
		fprintf(stderr, "shmbus-bench: --count %llu is smaller than --rounds %u\n",
			(unsigned long long)o->count, o->rounds);
		return -1;
	}
	ns = build_subjects(o, subj);
	for (unsigned i = 0; i < o->nsizes; i++)
		if (compare_size(o, subj, ns, o->sizes[i], per_round) < 0)
			return -1;
	for (unsigned i = 0; i < o->nsizes; i++)
		if (o->sizes[i] == 64 && compare_throughput(o, subj, ns) < 0)
			return -1;
#ifdef SB_HAVE_ICEORYX
	iceoryx_done(); /* the interleaved check measures shmbus alone */
#endif
	if (interleaved_check(o) < 0)
		return -1;
	report_syscalls(o);
	for (unsigned j = 0; j < ns; j++)
		if (subj[j].peer && !subj[j].failed)
			fprintf(bench_out(o), "  (except %s, not sandboxed: it makes system calls by design)\n",
				subj[j].name);
	return 0;
}
