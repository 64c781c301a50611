/*
 * affinity.h - pinning measuring processes to cores (internal header).
 */
#ifndef BENCH_AFFINITY_H
#define BENCH_AFFINITY_H

#include <stddef.h>

/* Pin the calling thread to one core.  Returns 0 or a negative errno. */
int affinity_pin(int core);

/* Is core in the calling process's allowed set?  Returns 1, 0, or a negative
 * errno if the set cannot be read. */
int affinity_allowed(int core);

/* The allowed set as a list ("0-1", "0,2-5") in buf. */
void affinity_describe(char *buf, size_t len);

#endif /* BENCH_AFFINITY_H */
