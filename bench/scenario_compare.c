/*
 * scenario_compare.c - paired rounds: the physical limit against each
 * subject, on the same cores, with the same payload size.
 *
 * Why pairs: on a shared host the two vCPUs are moved between near and far
 * placements every few minutes and the round-trip floor moves with them
 * (roughly 110 ns vs 500 ns on the development VM).  A subject measured at
 * one time and the limit at another give meaningless ratios; a baseline and
 * a subject measured back to back, seconds apart, almost always share a
 * placement.  Each round runs the baseline and every subject once (the
 * order alternates from round to round, so neither side always runs first),
 * each with its own warm-up; the ratio of a round is subject / baseline for
 * p50 and p99.9; the verdict is the median of the per-round ratios.
 *
 * Peers: compare_subjects[] is the hook for the systems a user would
 * otherwise pick.  An iceoryx or ZeroMQ ping-pong is a latency_run_fn like
 * pingpong_run (fork two pinned processes, same payload_write/payload_read,
 * fill a bench_result) added to the table; rounds, ratios and reports pick
 * it up unchanged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "scenario.h"

#define CMP_DEFAULT_PER_ROUND UINT64_C(1000000)
#define CMP_MAX_ROUNDS        1000

struct compare_subject {
	const char *name;   /* short name used in tables and JSON */
	const char *what;   /* one line for the report */
	latency_run_fn run;
};

static const struct compare_subject compare_subjects[] = {
	{ "shmbus", "shmbus ring ping-pong (tethered busy-spin subscribers)", pingpong_run },
	/* { "iceoryx", "iceoryx publisher/subscriber ping-pong", iceoryx_run }, */
	/* { "zeromq",  "ZeroMQ PAIR over ipc:// ping-pong",      zeromq_run },  */
};
#define N_SUBJECTS (sizeof(compare_subjects) / sizeof(compare_subjects[0]))

/* Targets of issue 2, by size: 0 where there is none. */
static void targets(uint32_t size, double *p50, double *p999)
{
	*p50 = size == 64 ? 1.10 : size == 1024 ? 1.30 : 0;
	*p999 = size == 64 ? 2.0 : 0;
}

static void print_round(FILE *out, const struct compare_round *c)
{
	fprintf(out, "%5u  %-5s %9.0f %11.0f %10.0f %12.0f %10.3f %12.3f", c->round, c->subject_first ? "S,L" : "L,S",
		c->base.p50_ns, c->base.p999_ns, c->subj.p50_ns, c->subj.p999_ns, c->ratio_p50, c->ratio_p999);
	if (c->disturbed)
		fprintf(out, "  ! other load %.0f ms, steal %.0f ms", c->foreign_ms, c->steal_ms);
	if (c->retried)
		fprintf(out, "  (run %u times: earlier pairs disturbed)", c->retried + 1);
	fputc('\n', out);
}

/* The JSON tail of a compare object: ratios and the per-round array. */
static char *json_extra(const struct compare_round *rounds, unsigned n, double med50, double med999)
{
	size_t cap = 128 + (size_t)n * 256, used = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	used += (size_t)snprintf(s + used, cap - used, ",\"ratio_p50\":%.4f,\"ratio_p999\":%.4f,\"rounds\":[", med50,
				 med999);
	for (unsigned i = 0; i < n; i++) {
		const struct compare_round *c = &rounds[i];

		used += (size_t)snprintf(s + used, cap - used,
					 "%s{\"round\":%u,\"baseline_p50_ns\":%.1f,\"baseline_p999_ns\":%.1f,"
					 "\"subject_p50_ns\":%.1f,\"subject_p999_ns\":%.1f,"
					 "\"ratio_p50\":%.4f,\"ratio_p999\":%.4f,\"disturbed\":%s}",
					 i ? "," : "", c->round, c->base.p50_ns, c->base.p999_ns, c->subj.p50_ns,
					 c->subj.p999_ns, c->ratio_p50, c->ratio_p999, c->disturbed ? "true" : "false");
	}
	snprintf(s + used, cap - used, "]");
	return s;
}

static int compare_size(const struct bench_opts *o, const struct compare_subject *subj, uint32_t size,
			uint64_t per_round)
{
	FILE *out = bench_out(o);
	struct compare_round *rounds = calloc(o->rounds, sizeof(*rounds));
	double *r50 = calloc(o->rounds, sizeof(double)), *r999 = calloc(o->rounds, sizeof(double));
	uint64_t pooled_n = per_round * o->rounds;
	uint64_t *pooled = malloc(pooled_n * sizeof(uint64_t));
	double med50, med999, floor_ns = 0, t50, t999, rate_sum = 0;
	struct bench_result pooled_res;
	char *extra = NULL;
	unsigned n_disturbed = 0;
	int rc = -1;

	if (!rounds || !r50 || !r999 || !pooled) {
		fprintf(stderr, "shmbus-bench: compare: cannot allocate %llu samples: %s\n",
			(unsigned long long)pooled_n, strerror(errno));
		goto out;
	}
	fprintf(out, "compare %s vs the physical limit, %u-byte payload each way, %u rounds x %llu round trips per side\n",
		subj->name, size, o->rounds, (unsigned long long)per_round);
	fprintf(out, "  limit: %s (%s layout: same payload bytes, no ring); subject: %s\n", baseline_name(o->baseline),
		o->baseline == BASELINE_SPLIT ? "split" : o->baseline == BASELINE_INLINE ? "inline" : "stream", subj->what);
	fprintf(out, "%5s  %-5s %9s %11s %10s %12s %10s %12s\n", "round", "order", "limit p50", "limit p99.9",
		"subj p50", "subj p99.9", "ratio p50", "ratio p99.9");
	for (unsigned i = 0; i < o->rounds; i++) {
		struct compare_round *c = &rounds[i];
		struct run_spec bspec = { .size = size, .count = per_round, .warmup = o->warmup };
		struct run_spec sspec = bspec;
		struct bench_result bres, sres;

		c->round = i + 1;
		c->subject_first = i % 2 == 1;
		/* A pair disturbed by other load (or steal) is run again, up to
		 * --retries times; the last attempt counts either way. */
		for (unsigned attempt = 0;; attempt++) {
			memset(&bres, 0, sizeof(bres));
			memset(&sres, 0, sizeof(sres));
			sspec.samples_out = pooled + (uint64_t)i * per_round;
			if (c->subject_first) {
				if (subj->run(o, &sspec, &sres) < 0 || baseline_run(o, &bspec, &bres) < 0)
					goto out;
			} else {
				if (baseline_run(o, &bspec, &bres) < 0 || subj->run(o, &sspec, &sres) < 0)
					goto out;
			}
			if (attempt >= o->retries ||
			    (!harness_disturbed(&bres.dist) && !harness_disturbed(&sres.dist)))
				break;
			c->retried++;
		}
		c->base = bres.lat;
		c->subj = sres.lat;
		snprintf(bres.scenario, sizeof(bres.scenario), "compare-r%u-baseline", i + 1);
		snprintf(sres.scenario, sizeof(sres.scenario), "compare-r%u-%s", i + 1, subj->name);
		if (report_csv(o, &bres) < 0 || report_csv(o, &sres) < 0)
			goto out;
		c->ratio_p50 = sres.lat.p50_ns / bres.lat.p50_ns;
		c->ratio_p999 = sres.lat.p999_ns / bres.lat.p999_ns;
		c->disturbed = harness_disturbed(&bres.dist) || harness_disturbed(&sres.dist);
		c->foreign_ms = bres.dist.foreign_ms + sres.dist.foreign_ms;
		c->steal_ms = bres.dist.steal_ms + sres.dist.steal_ms;
		n_disturbed += c->disturbed;
		r50[i] = c->ratio_p50;
		r999[i] = c->ratio_p999;
		rate_sum += sres.msgs_per_s;
		print_round(out, c);
		fflush(out);
		if (floor_ns == 0 || bres.lat.p50_ns < floor_ns)
			floor_ns = bres.lat.p50_ns;
	}
	med50 = stats_median(r50, o->rounds);
	med999 = stats_median(r999, o->rounds);
	targets(size, &t50, &t999);
	fprintf(out, "median of per-round ratios: p50 %.3fx", med50);
	if (t50 > 0)
		fprintf(out, " (target <= %.2fx: %s)", t50, med50 <= t50 ? "met" : "MISSED");
	fprintf(out, ", p99.9 %.3fx", med999);
	if (t999 > 0)
		fprintf(out, " (target <= %.2fx: %s)", t999, med999 <= t999 ? "met" : "MISSED");
	fprintf(out, "\n");
	if (n_disturbed)
		fprintf(out, "! %u of %u rounds ran with other load or hypervisor steal on the measuring cores\n",
			n_disturbed, o->rounds);
	fprintf(out, "baseline level per round (p50; near = within 1.5x of the lowest):");
	for (unsigned i = 0; i < o->rounds; i++)
		fprintf(out, " %u:%s/%.0f", i + 1, rounds[i].base.p50_ns < 1.5 * floor_ns ? "near" : "far",
			rounds[i].base.p50_ns);
	fprintf(out, "\n");

	/* Pooled subject samples of every round (machine output's p* keys). */
	memset(&pooled_res, 0, sizeof(pooled_res));
	snprintf(pooled_res.scenario, sizeof(pooled_res.scenario), "compare");
	stats_compute(pooled, pooled_n, &pooled_res.lat);
	pooled_res.has_latency = true;
	pooled_res.size = size;
	pooled_res.count = pooled_n;
	pooled_res.msgs_per_s = rate_sum / o->rounds;
	fprintf(out, "%s pooled over all rounds: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  p99.99 %.0f  max %.0f ns\n\n",
		subj->name, pooled_res.lat.p50_ns, pooled_res.lat.p90_ns, pooled_res.lat.p99_ns, pooled_res.lat.p999_ns,
		pooled_res.lat.p9999_ns, pooled_res.lat.max_ns);
	if (o->json) {
		extra = json_extra(rounds, o->rounds, med50, med999);
		if (!extra) {
			fprintf(stderr, "shmbus-bench: compare: out of memory\n");
			goto out;
		}
		report_json(&pooled_res, extra);
	}
	rc = report_csv(o, &pooled_res);
out:
	free(extra);
	free(pooled);
	free(r999);
	free(r50);
	free(rounds);
	return rc;
}

int scenario_compare(const struct bench_opts *o)
{
	uint64_t per_round = o->count_given ? o->count / o->rounds : CMP_DEFAULT_PER_ROUND;

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
	for (size_t s = 0; s < N_SUBJECTS; s++)
		for (unsigned i = 0; i < o->nsizes; i++)
			if (compare_size(o, &compare_subjects[s], o->sizes[i], per_round) < 0)
				return -1;
	report_syscalls(o);
	return 0;
}
