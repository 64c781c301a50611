/*
 * scenario_latency.c - what baseline and pingpong have in common: one run
 * per size, the table, the histogram, the machine-readable output.
 */
#include <string.h>

#include "clock.h"
#include "report.h"
#include "scenario.h"

void latency_finish(const struct bench_opts *o, const struct run_spec *spec, uint64_t *samples,
		    uint64_t span_ticks, struct bench_result *res)
{
	stats_compute(samples, spec->count, &res->lat);
	res->has_latency = true;
	res->size = spec->size;
	res->count = spec->count;
	res->msgs_per_s = span_ticks ? (double)spec->count / (clock_ticks_to_ns(span_ticks) * 1e-9) : 0.0;
	res->bytes_per_s = res->msgs_per_s * 2.0 * spec->size;
	res->has_hist = o->hist;
	if (o->hist)
		stats_histogram(samples, spec->count, &res->hist);
	if (spec->samples_out)
		memcpy(spec->samples_out, samples, spec->count * sizeof(*samples));
}

int latency_scenario(const struct bench_opts *o, latency_run_fn fn)
{
	FILE *out = bench_out(o);

	fprintf(out, "round-trip latency in ns (all samples after warm-up; msgs/s = round trips per second)\n");
	report_latency_head(o);
	for (unsigned i = 0; i < o->nsizes; i++) {
		struct run_spec spec = {
			.size = o->sizes[i],
			.count = o->count,
			.warmup = o->warmup,
		};
		struct bench_result res;

		memset(&res, 0, sizeof(res));
		if (fn(o, &spec, &res) < 0)
			return -1;
		report_latency_row(o, &res);
		report_disturbance(o, &res);
		if (res.open_us > 0)
			fprintf(out, "  connect + open of both topics (slower process): %.0f us\n", res.open_us);
		report_hist(o, &res);
		if (report_machine(o, &res) < 0)
			return -1;
	}
	report_syscalls(o);
	return 0;
}
