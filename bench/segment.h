/*
 * segment.h - the benchmark's topic segments: unique names, creation in the
 * directory sb_seg_create picks (hugetlbfs, else /dev/shm), removal
 * (internal header).
 *
 * The parent creates each segment before forking and unmaps it again; the
 * measuring processes open it by path with the access of their role
 * (publisher read-write, subscriber read-only data), exactly as clients do.
 */
#ifndef BENCH_SEGMENT_H
#define BENCH_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_PATH_MAX 256

struct bench_seg {
	char path[BENCH_PATH_MAX];
	bool hugetlb;
	uint64_t data_size;
};

/* Create "sbbench-<pid>-<n>-<tag>" with the given ring capacity and maximum
 * record.  Returns 0 or -1 (message printed). */
/* Record alignment of the segments created from now on (0: default). */
void bench_seg_set_align(uint32_t align);
/* The alignment set by bench_seg_set_align (0: the segment default). */
uint32_t bench_seg_align(void);

int bench_seg_create(struct bench_seg *s, const char *tag, uint64_t ring_size, uint32_t max_record,
		     uint32_t max_subs);

/* Remove the file (no-op if it was never created). */
void bench_seg_remove(struct bench_seg *s);

#endif /* BENCH_SEGMENT_H */
