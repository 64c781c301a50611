/*
 * report.h - everything shmbus-bench prints or writes (internal header).
 *
 * Human tables go to bench_out() (stdout, or stderr under --json); JSON goes
 * to stdout, one object per scenario result per line, with the keys
 * scenario, size, count, p50_ns, p90_ns, p99_ns, p999_ns, p9999_ns, max_ns,
 * msgs_per_s (latency keys are null for throughput results); compare objects
 * add ratio_p50, ratio_p999 and rounds.  CSV rows (same columns) are
 * appended to the --csv file, with a header line when the file is empty.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "bench.h"

/* One paired round of compare. */
struct compare_round {
	unsigned round;
	bool subject_first;
	struct lat_stats base;
	struct lat_stats subj;
	double ratio_p50;
	double ratio_p999;
	bool disturbed;      /* either run saw other load or steal */
	bool moved;          /* its limit and its reference's differ by more than CMP_MOVED */
	unsigned retried;    /* disturbed pairs discarded before this one */
	double foreign_ms;   /* both runs together */
	double steal_ms;
};

/* The preamble: host, time base, segment directory, settings. */
void report_preamble(const struct bench_opts *o);

/* Column headings and one row of a latency or throughput table. */
void report_latency_head(const struct bench_opts *o);
void report_latency_row(const struct bench_opts *o, const struct bench_result *r);
void report_hist(const struct bench_opts *o, const struct bench_result *r);

/* A warning line under a result whose run was disturbed (see
 * harness_disturbed); nothing otherwise. */
void report_disturbance(const struct bench_opts *o, const struct bench_result *r);

/* The closing verdict line on system calls in the measured loops. */
void report_syscalls(const struct bench_opts *o);

/* JSON line for one result; extra (may be NULL) is inserted verbatim before
 * the closing brace, e.g. compare's ratios and rounds. */
void report_json(const struct bench_result *r, const char *extra);

/* Append a CSV row.  Returns 0 or -1 (message printed). */
int report_csv(const struct bench_opts *o, const struct bench_result *r);

/* Both of the above as the options ask. */
int report_machine(const struct bench_opts *o, const struct bench_result *r);

#endif /* BENCH_REPORT_H */
