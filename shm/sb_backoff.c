/*
 * sb_backoff.c - the yield and the budget rule of sb_backoff.h.
 */
#include "sb_backoff.h"

#include <sched.h>
#include <sys/resource.h>

/* Involuntary context switches of the calling thread so far, or 0 if the
 * kernel will not say (then the budget only grows: the poller behaves as
 * if alone, spinning max_spins polls between yields, the old behaviour). */
static uint64_t thread_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_nivcsw;
}

void sb_backoff_init(struct sb_backoff *b, uint32_t max_spins)
{
	*b = (struct sb_backoff){ .max_spins = max_spins ? max_spins : 1 };
	b->budget = b->max_spins;
	b->switches = thread_switches();
}

/* At least half of the sample's yields went to another thread. */
static bool core_shared(uint32_t yields, uint64_t switched)
{
	return yields && switched * 2 >= yields;
}

uint32_t sb_backoff_next_budget(const struct sb_backoff *b, uint32_t yields, uint64_t switched)
{
	uint32_t next;

	if (core_shared(yields, switched))
		return 1;
	next = b->budget >= b->max_spins / 2 ? b->max_spins : b->budget * 2;
	return next ? next : 1;
}

void sbi_backoff_yield(struct sb_backoff *b)
{
	uint64_t now, switched;

	sched_yield();
	if (++b->yields < SB_BACKOFF_SAMPLE)
		return;
	now = thread_switches();
	/* Preemptions by the tick count too; they only ever make the core look
	 * more shared than it is, which costs a yield per empty poll. */
	switched = now >= b->switches ? now - b->switches : 0;
	b->budget = sb_backoff_next_budget(b, b->yields, switched);
	b->shared += core_shared(b->yields, switched);
	b->samples++;
	b->switches = now;
	b->yields = 0;
}
