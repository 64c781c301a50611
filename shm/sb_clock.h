/*
 * sb_clock.h - the monotonic clock that timeouts and deadlines are measured
 * on, in nanoseconds (internal header).  For control paths and waits only:
 * clock_gettime goes through the vDSO, but nothing on the data path reads
 * a clock.
 */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* SB_CLOCK_H */
