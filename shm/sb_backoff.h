/*
 * sb_backoff.h - adaptive idle back-off for pollers that may share a core
 * (internal).
 *
 * A poller that found no work calls sb_backoff_idle(); one that did work
 * calls sb_backoff_work().  After `budget` empty polls in a row it gives
 * the core away with sched_yield().  The budget adapts to what the yields
 * do:
 *
 *   - the core is shared (most yields let another thread run): budget 1,
 *     so a waiting poller hands the core to whoever has work at once.
 *     Measured on a 2-vCPU VM with four pollers (docs/benchmarks.md §5.3):
 *     every empty spin before the yield adds latency, 64 spins cost 1.7x
 *     the round trip of 1;
 *   - the core is ours (yields come straight back): the budget doubles up
 *     to max_spins, so a poller alone on its core spins (cheap, reacts in
 *     nanoseconds) and makes a system call only every max_spins polls.
 *
 * "Let another thread run" is read from the kernel, not guessed from
 * timings: a sched_yield() that switches to another thread counts as an
 * involuntary context switch of ours (getrusage RUSAGE_THREAD ru_nivcsw).
 * The count is sampled once every SB_BACKOFF_SAMPLE yields, so the cost is
 * one extra system call per SB_BACKOFF_SAMPLE yields.
 *
 * Only for idle pollers: a poller with work never calls into here, so
 * nothing here is on the hot path.  Not thread-safe: one per thread.
 */
#ifndef SB_BACKOFF_H
#define SB_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "sb_atomic.h"

#define SB_BACKOFF_SAMPLE 32u /* yields between two looks at the switch count */

struct sb_backoff {
	uint32_t max_spins;  /* budget ceiling: empty polls between yields, >= 1 */
	uint32_t budget;     /* empty polls before the next yield */
	uint32_t empty;      /* empty polls since the last work or yield */
	uint32_t yields;     /* yields since the last sample */
	uint64_t switches;   /* involuntary context switches at the last sample */
	uint64_t shared;     /* samples that found the core shared (statistics) */
	uint64_t samples;
};

/* Start with the full budget: a poller is assumed alone until its yields
 * show otherwise.  max_spins 0 is taken as 1. */
void sb_backoff_init(struct sb_backoff *b, uint32_t max_spins);

/* The slow half of sb_backoff_idle: yield, and every SB_BACKOFF_SAMPLE
 * yields adapt the budget. */
void sbi_backoff_yield(struct sb_backoff *b);

/*
 * The budget rule, apart so that it can be tested without a scheduler:
 * given the yields since the last sample and how many of them switched to
 * another thread, return the next budget.  Shared (at least half of the
 * yields switched): 1.  Otherwise twice the current budget, at most
 * max_spins.
 */
uint32_t sb_backoff_next_budget(const struct sb_backoff *b, uint32_t yields, uint64_t switched);

static inline void sb_backoff_work(struct sb_backoff *b)
{
	b->empty = 0;
}

static inline void sb_backoff_idle(struct sb_backoff *b)
{
	if (++b->empty < b->budget) {
		sb_cpu_relax();
		return;
	}
	b->empty = 0;
	sbi_backoff_yield(b);
}

#endif /* SB_BACKOFF_H */
