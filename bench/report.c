/*
 * report.c - human tables, JSON lines and CSV rows.
 *
 * Numbers are printed from the same bench_result in every format, so the
 * table, the JSON and the CSV of a run can never disagree.
 */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "affinity.h"
#include "clock.h"
#include "scenario.h"
#include "sb_segment.h"

static void cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += 2;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, len, "%s", colon);
			break;
		}
	}
	fclose(f);
}

void report_preamble(const struct bench_opts *o)
{
	FILE *out = bench_out(o);
	char model[128], allowed[128];
	bool huge = false;
	const char *dir = sb_seg_default_dir(&huge);

	cpu_model(model, sizeof(model));
	affinity_describe(allowed, sizeof(allowed));
	fprintf(out, "shmbus-bench %s\n", o->scenario);
	fprintf(out, "  host      %ld online CPUs (allowed %s), %s\n", sysconf(_SC_NPROCESSORS_ONLN), allowed,
		model);
	fprintf(out, "  clock     TSC %.4f GHz, calibrated against CLOCK_MONOTONIC over 100 ms; "
		     "timer overhead %.1f ns, included in every sample\n",
		clock_ticks_per_ns(), clock_ticks_to_ns(clock_overhead_ticks()));
	if (clock_step_ticks() > 1)
		fprintf(out, "  clock     resolution %.1f ns (the TSC advances %llu ticks at a time); percentiles %s\n",
			clock_ticks_to_ns(clock_step_ticks()), (unsigned long long)clock_step_ticks(),
			o->raw_percentiles ? "nearest-rank on the stepped samples (--raw-percentiles)"
					   : "interpolated within a step (docs/benchmarks.md §3.2.1)");
	fprintf(out, "  segments  %s (%s)\n", dir,
		huge ? "hugetlbfs" : "tmpfs, 4 KiB pages: no writable hugetlbfs mount");
	if (o->via_daemon) {
		char sock[256];

		fprintf(out, "  daemon    shmbusd at %s (--via-daemon: its topics live in the daemon's segment "
			     "directory)\n", daemon_socket(o, sock, sizeof(sock)));
#ifdef SB_BENCH_LTO
		fprintf(out, "  libshmbus static, whole-program LTO (shmbus-bench-lto): its data-path calls are "
			     "inlined\n");
#else
		fprintf(out, "  libshmbus shared library: every data-path call crosses it (shmbus-bench-lto "
			     "inlines them)\n");
#endif
	}
	if (o->claim_ahead)
		fprintf(out, "  pong      claims its reply before the request arrives (--claim-ahead, "
			     "docs/api.md): not how the verdicts are measured\n");
	fprintf(out, "  cores    ");
	for (unsigned i = 0; i < o->ncores; i++)
		fprintf(out, "%s%d", i ? "," : " ", o->cores[i]);
	fprintf(out, "; warm-up %llu; %s; %s\n", (unsigned long long)o->warmup,
		o->rt ? "SCHED_FIFO" : "SCHED_OTHER",
		o->seccomp ? "measured loops sandboxed by seccomp" : "seccomp sandbox OFF (--no-seccomp)");
	fprintf(out, "\n");
}

void report_latency_head(const struct bench_opts *o)
{
	FILE *out = bench_out(o);

	fprintf(out, "%-22s %6s %9s %8s %8s %8s %8s %8s %9s %11s %9s\n", "scenario", "size", "count", "p50",
		"p90", "p99", "p99.9", "p99.99", "max", "msgs/s", "GB/s");
	fprintf(out, "%-22s %6s %9s %8s %8s %8s %8s %8s %9s %11s %9s\n", "", "bytes", "", "ns", "ns", "ns",
		"ns", "ns", "ns", "", "payload");
}

void report_latency_row(const struct bench_opts *o, const struct bench_result *r)
{
	FILE *out = bench_out(o);

	fprintf(out, "%-22s %6u %9llu ", r->scenario, r->size, (unsigned long long)r->count);
	if (r->has_latency)
		fprintf(out, "%8.0f %8.0f %8.0f %8.0f %8.0f %9.0f ", r->lat.p50_ns, r->lat.p90_ns, r->lat.p99_ns,
			r->lat.p999_ns, r->lat.p9999_ns, r->lat.max_ns);
	else
		fprintf(out, "%8s %8s %8s %8s %8s %9s ", "-", "-", "-", "-", "-", "-");
	fprintf(out, "%11.4g %9.3f\n", r->msgs_per_s, r->bytes_per_s / 1e9);
}

void report_hist(const struct bench_opts *o, const struct bench_result *r)
{
	FILE *out = bench_out(o);
	const struct lat_hist *h = &r->hist;
	uint64_t cum = 0;

	if (!r->has_hist || h->total == 0)
		return;
	fprintf(out, "  histogram of all %llu samples (%s, %u B):\n", (unsigned long long)h->total,
		r->scenario, r->size);
	for (unsigned b = 0; b < h->n; b++) {
		double share = (double)h->count[b] / (double)h->total;
		int bar = (int)(share * 50.0 + 0.5);

		cum += h->count[b];
		if (h->count[b] == 0)
			continue;
		if (h->hi_ns[b] > 1e300)
			fprintf(out, "  %8.0f -      inf ns %10llu %7.3f%% %8.4f%% ", h->lo_ns[b],
				(unsigned long long)h->count[b], share * 100.0, (double)cum * 100.0 / (double)h->total);
		else
			fprintf(out, "  %8.0f - %8.0f ns %10llu %7.3f%% %8.4f%% ", h->lo_ns[b], h->hi_ns[b],
				(unsigned long long)h->count[b], share * 100.0, (double)cum * 100.0 / (double)h->total);
		for (int i = 0; i < bar; i++)
			fputc('#', out);
		fputc('\n', out);
	}
}

void report_disturbance(const struct bench_opts *o, const struct bench_result *r)
{
	const struct harness_disturbance *d = &r->dist;

	if (!harness_disturbed(d))
		return;
	fprintf(bench_out(o), "  ! disturbed run: %.0f ms of CPU by other processes and %.0f ms of hypervisor steal "
			      "on the measuring cores during %.0f ms; tail percentiles are not trustworthy\n",
		d->foreign_ms, d->steal_ms, d->wall_ms);
}

void report_syscalls(const struct bench_opts *o)
{
	FILE *out = bench_out(o);

	if (o->seccomp)
		fprintf(out, "syscalls in measured loop: 0 (seccomp-enforced)\n");
	else
		fprintf(out, "syscalls in measured loop: not enforced (--no-seccomp; cross-check with scripts/syscall-count.sh)\n");
}

static void json_num(double v)
{
	if (v != v)
		fputs("null", stdout);
	else
		printf("%.1f", v);
}

void report_json(const struct bench_result *r, const char *extra)
{
	const struct lat_stats *l = &r->lat;
	double nan = __builtin_nan("");

	printf("{\"scenario\":\"%s\",\"size\":%u,\"count\":%llu", r->scenario, r->size,
	       (unsigned long long)r->count);
	printf(",\"p50_ns\":");
	json_num(r->has_latency ? l->p50_ns : nan);
	printf(",\"p90_ns\":");
	json_num(r->has_latency ? l->p90_ns : nan);
	printf(",\"p99_ns\":");
	json_num(r->has_latency ? l->p99_ns : nan);
	printf(",\"p999_ns\":");
	json_num(r->has_latency ? l->p999_ns : nan);
	printf(",\"p9999_ns\":");
	json_num(r->has_latency ? l->p9999_ns : nan);
	printf(",\"max_ns\":");
	json_num(r->has_latency ? l->max_ns : nan);
	printf(",\"msgs_per_s\":");
	json_num(r->msgs_per_s);
	if (extra)
		fputs(extra, stdout);
	printf("}\n");
	fflush(stdout);
}

int report_csv(const struct bench_opts *o, const struct bench_result *r)
{
	const struct lat_stats *l = &r->lat;
	struct stat st;
	FILE *f;

	if (!o->csv)
		return 0;
	f = fopen(o->csv, "ae");
	if (!f) {
		fprintf(stderr, "shmbus-bench: --csv %s: %s\n", o->csv, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
		fprintf(f, "scenario,size,count,p50_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns,msgs_per_s\n");
	if (r->has_latency)
		fprintf(f, "%s,%u,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", r->scenario, r->size,
			(unsigned long long)r->count, l->p50_ns, l->p90_ns, l->p99_ns, l->p999_ns, l->p9999_ns,
			l->max_ns, r->msgs_per_s);
	else
		fprintf(f, "%s,%u,%llu,,,,,,,%.1f\n", r->scenario, r->size, (unsigned long long)r->count,
			r->msgs_per_s);
	if (fclose(f) != 0) {
		fprintf(stderr, "shmbus-bench: --csv %s: %s\n", o->csv, strerror(errno));
		return -1;
	}
	return 0;
}

int report_machine(const struct bench_opts *o, const struct bench_result *r)
{
	if (o->json)
		report_json(r, NULL);
	return report_csv(o, r);
}
