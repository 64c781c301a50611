/*
 * clock.h - the benchmark's time base: the TSC, read with fences so that a
 * reading cannot drift into or out of the code it brackets (internal header).
 *
 * clock_calibrate() measures the TSC rate once against CLOCK_MONOTONIC over
 * about 100 ms, before any measuring process is forked; the children inherit
 * the result.  Reading the TSC needs no system call (not even the vDSO), so
 * it is allowed inside the seccomp sandbox of the measured loops.
 *
 * Requires x86-64 with an invariant TSC (constant_tsc, nonstop_tsc) that is
 * synchronised across cores: the latency scenarios only subtract readings
 * taken on one core; throughput compares readings across cores only at the
 * millisecond scale.
 */
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

#include <stdint.h>

#if !defined(__x86_64__)
#error "shmbus-bench needs x86-64 (rdtsc/rdtscp, AUDIT_ARCH_X86_64 seccomp filter)"
#endif

/* Start of a timed region: LFENCE waits for earlier instructions to finish,
 * the trailing LFENCE keeps later ones from starting before the read. */
static inline uint64_t clock_start(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* End of a timed region: RDTSCP waits for earlier instructions (loads
 * included) to complete; the LFENCE keeps later ones from starting first. */
static inline uint64_t clock_end(void)
{
	uint32_t lo, hi, aux;

	__asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	(void)aux;
	return ((uint64_t)hi << 32) | lo;
}

/* Measure the TSC rate against CLOCK_MONOTONIC (~100 ms).  Returns 0, or -1
 * with a message on stderr if the rate is implausible. */
int clock_calibrate(void);

/* TSC ticks per nanosecond (valid after clock_calibrate). */
double clock_ticks_per_ns(void);

/* The TSC's resolution in ticks (valid after clock_calibrate): the step by
 * which readings advance.  1 on most Intel parts; some AMD parts and
 * hypervisors advance the counter in coarse steps (26 ticks = 10 ns on the
 * EPYC VMs here), which quantises every sample to that step. */
uint64_t clock_step_ticks(void);

/* Convert a tick count to nanoseconds. */
double clock_ticks_to_ns(uint64_t ticks);

/* Median cost of an empty clock_start()/clock_end() pair, in ticks: it is
 * included in every sample, for the limit and the subject alike. */
uint64_t clock_overhead_ticks(void);

/* Set-up and supervision only, never inside a measured loop: sleep (a
 * signal may end it early) and CLOCK_MONOTONIC in seconds. */
void clock_sleep_us(long us);
static inline void clock_sleep_ms(long ms)
{
	clock_sleep_us(ms * 1000);
}
double clock_mono_s(void);

#endif /* BENCH_CLOCK_H */
