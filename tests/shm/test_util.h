/*
 * test_util.h - helpers shared by the shm/ test suites (test-only header).
 *
 * Every segment a test creates lives in a private directory made with
 * mkdtemp under /dev/shm (removed at exit), or, for the few tests that must
 * exercise the default directories, under a name unique to the process, so
 * that suites running in parallel never collide.  Payloads are filled from a
 * seed and checked against it, so a test can tell a record's bytes apart
 * from any other record's.
 */
#ifndef SB_TEST_UTIL_H
#define SB_TEST_UTIL_H

/* cmocka needs these before its own header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sb_ring.h"
#include "sb_segment.h"

/* meson's convention for "skipped" */
#define TU_EXIT_SKIP 77

/* Fail the current test unless expr returns want; names both codes and the
 * error detail, which assert_int_equal cannot do for negative codes. */
#define tu_assert_rc(expr, want)                                                         \
	do {                                                                             \
		int tu_rc_ = (expr);                                                     \
		int tu_want_ = (want);                                                   \
		if (tu_rc_ != tu_want_)                                                  \
			fail_msg("%s returned %d (%s), expected %d (%s); detail: \"%s\"", \
				 #expr, tu_rc_, sb_strerror(tu_rc_), tu_want_,           \
				 sb_strerror(tu_want_), sb_last_error());                \
	} while (0)

/* Fail unless the last error detail contains needle. */
#define tu_assert_detail(needle)                                                          \
	do {                                                                              \
		if (strstr(sb_last_error(), (needle)) == NULL)                            \
			fail_msg("error detail \"%s\" does not mention \"%s\"",           \
				 sb_last_error(), (needle));                              \
	} while (0)

/* Per-process directory under /dev/shm ("sbtest-<pid>-XXXXXX"), created on
 * first use and removed (with whatever it holds) when the process that made
 * it exits.  First use also sweeps what test processes that died left in
 * /dev/shm and the default segment directory. */
const char *tu_dir(void);

/* A topic name unique to this process and call: "sbt-<tag>-<pid>-<n>". */
void tu_name(char *buf, size_t len, const char *tag);

/* Parameters for a segment in tu_dir() with a fresh unique name (kept in
 * name_buf, which must outlive the params).  max_subs = max_pubs = 8. */
void tu_params(struct sb_seg_params *p, char *name_buf, size_t name_len, uint64_t data_size,
	       uint32_t max_record);

/* Create a segment in tu_dir(); fails the test if that does not work. */
void tu_seg_new(struct sb_seg *seg, uint64_t data_size, uint32_t max_record);
void tu_seg_new_ex(struct sb_seg *seg, uint64_t data_size, uint32_t max_record, uint32_t max_subs,
		   uint32_t max_pubs, uint32_t rec_align);

/* Unlink and close. */
void tu_seg_free(struct sb_seg *seg);

/* Route shmbus log lines into a counter instead of stderr. */
void tu_capture_logs(void);
unsigned tu_log_count(enum sb_log_level level);
const char *tu_log_last(void);

/* xorshift64*: deterministic, never returns the same value twice in a row. */
static inline uint64_t tu_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : UINT64_C(0x9e3779b97f4a7c15);

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Fill len bytes from seed / check that they are exactly that fill. */
void tu_fill(void *buf, uint32_t len, uint64_t seed);
bool tu_check(const void *buf, uint32_t len, uint64_t seed);

/* Publish one record of len bytes filled from seed (claim, fill, commit);
 * read one back and check length, sequence number, loss and fill. */
void tu_send_rec(struct sb_ring_pub *pub, uint32_t len, uint64_t seed);
void tu_expect_rec(struct sb_ring_sub *sub, uint32_t len, uint64_t seq, uint64_t lost, uint64_t seed);

/* 64-bit hash of len bytes, 8 at a time (fast enough for sanitizer builds). */
uint64_t tu_hash(const void *buf, size_t len, uint64_t h);

/* Records per publisher for the stress tests: argv[1] if given, else
 * $SB_STRESS_RECORDS, else dflt. */
uint64_t tu_stress_records(int argc, char **argv, uint64_t dflt);

#endif /* SB_TEST_UTIL_H */
