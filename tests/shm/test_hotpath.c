/*
 * test_hotpath.c - proof that the steady-state data path makes no system
 * call and no allocation (DESIGN.md 1 and 3).
 *
 * A forked child sets up a publisher and two subscribers, warms up, notes
 * the allocator's state, then installs a seccomp filter that kills it on any
 * system call but exit/exit_group and runs claim/commit/peek/consume, batch
 * claims and peeks, send and poll.  It reports through a MAP_SHARED page and
 * leaves with syscall(SYS_exit).  Allocations are caught twice: by
 * mallinfo2() and by counting calls into malloc and friends, which this
 * executable interposes (a malloc/free pair leaves mallinfo2 unchanged).
 *
 * Sanitizer runtimes make system calls and allocations of their own, so
 * those builds compile this test as "skipped".
 */
#include "test_util.h"

#include <stdio.h>

#ifdef SB_TEST_SANITIZED

int main(void)
{
	printf("hot-path proof is meaningless under sanitizers: skipped\n");
	return TU_EXIT_SKIP;
}

#else

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define HP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define HP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define HP_AUDIT_ARCH 0u /* unknown: main() reports the test skipped */
#endif

#define ITERATIONS   100000u
#define WARMUP       3000u
#define RECS_PER_IT  7u        /* 1 single + 4 batch + 1 send + 1 send (wait) */
#define CAP          65536u
#define MAXREC       1024u

/* ------------------------------------------------- allocation counter */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);

static _Atomic unsigned long alloc_calls;

static void count_alloc(void)
{
	/* RELAXED: read back by the same thread. */
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
	count_alloc();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	count_alloc();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	count_alloc();
	return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
	count_alloc();
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	count_alloc();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	count_alloc();
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* ------------------------------------------------------------ the child */

enum stage { ST_SETUP = 1, ST_WARMUP, ST_FILTER, ST_SINGLE, ST_BATCH, ST_SEND, ST_WAIT, ST_STATS, ST_DONE };

/* Written by the child, read by the parent after waitpid. */
struct report {
	int stage;           /* last stage entered: where a SIGSYS happened */
	int error_stage;
	int error_rc;
	uint64_t error_iteration;
	uint64_t errors;
	uint64_t iterations;
	uint64_t sent, teth_read, unt_read;
	size_t uord_before, uord_after;
	unsigned long allocs_before, allocs_after;
	int filter_errno;
};

struct child_ctx {
	struct sb_ring_pub pub;
	struct sb_ring_sub teth, unt;
	struct report *rep;
	uint64_t seq;        /* next sequence number */
	uint64_t got;        /* records delivered to the handler */
	uint64_t want_seq;   /* handler: expected sequence number */
	bool handler_bad;
	uint8_t buf[MAXREC];
};

static void note_error(struct child_ctx *c, uint64_t it, int rc)
{
	if (c->rep->errors++ == 0) {
		c->rep->error_stage = c->rep->stage;
		c->rep->error_rc = rc;
		c->rep->error_iteration = it;
	}
}

static uint32_t len_of(uint64_t seq)
{
	return (uint32_t)(seq * 131 % (MAXREC + 1));
}

static bool view_ok(const struct sb_ring_view *v, uint64_t seq)
{
	return v->seq == seq && v->len == len_of(seq) && v->lost == 0 && tu_check(v->data, v->len, seq);
}

static void handler(void *arg, const struct sb_ring_view *v)
{
	struct child_ctx *c = arg;

	if (!view_ok(v, c->want_seq))
		c->handler_bad = true;
	c->want_seq++;
	c->got++;
}

/* Read one record the way each subscriber kind is used in production. */
static int read_one(struct sb_ring_sub *sub, uint64_t seq)
{
	struct sb_ring_view v;
	int rc = sb_ring_peek(sub, &v);

	if (rc < 0)
		return rc;
	if (!view_ok(&v, seq))
		return SB_ECORRUPT;
	return sb_ring_consume(sub);
}

static int poll_n(struct child_ctx *c, struct sb_ring_sub *sub, uint64_t first, unsigned n)
{
	c->want_seq = first;
	c->got = 0;
	c->handler_bad = false;
	while (c->got < n) {
		int rc = sb_ring_poll(sub, handler, c, 32);

		if (rc <= 0)
			return rc < 0 ? rc : SB_EEMPTY;
	}
	return c->handler_bad || c->got != n ? SB_ECORRUPT : SB_OK;
}

static void run(struct child_ctx *c, uint64_t n, bool count)
{
	struct report *r = c->rep;

	for (uint64_t it = 0; it < n; it++) {
		uint32_t lens[4];
		void *p[4];
		struct sb_ring_view v[8];
		int rc;

		/* claim, write in place, commit; peek/consume on both */
		r->stage = ST_SINGLE;
		rc = sb_ring_claim(&c->pub, len_of(c->seq), &p[0]);
		if (rc == SB_OK) {
			tu_fill(p[0], len_of(c->seq), c->seq);
			rc = sb_ring_commit(&c->pub);
		}
		if (rc == SB_OK)
			rc = read_one(&c->teth, c->seq);
		if (rc == SB_OK)
			rc = read_one(&c->unt, c->seq);
		if (rc != SB_OK)
			note_error(c, it, rc);
		c->seq++;

		/* batch claim of 4; batch peek (tethered), poll (untethered copy) */
		r->stage = ST_BATCH;
		for (unsigned i = 0; i < 4; i++)
			lens[i] = len_of(c->seq + i);
		rc = sb_ring_claim_batch(&c->pub, lens, 4, p);
		if (rc == SB_OK) {
			for (unsigned i = 0; i < 4; i++)
				tu_fill(p[i], lens[i], c->seq + i);
			rc = sb_ring_commit(&c->pub);
		}
		if (rc == SB_OK) {
			rc = sb_ring_peek_batch(&c->teth, v, 8);
			if (rc == 4) {
				for (unsigned i = 0; i < 4; i++)
					if (!view_ok(&v[i], c->seq + i))
						rc = SB_ECORRUPT;
			} else if (rc >= 0) {
				rc = SB_ECORRUPT;
			}
			if (rc == 4)
				rc = sb_ring_consume(&c->teth);
		}
		if (rc == SB_OK)
			rc = poll_n(c, &c->unt, c->seq, 4);
		if (rc != SB_OK)
			note_error(c, it, rc);
		c->seq += 4;

		/* copying send; poll on both */
		r->stage = ST_SEND;
		tu_fill(c->buf, len_of(c->seq), c->seq);
		rc = sb_ring_send(&c->pub, c->buf, len_of(c->seq));
		if (rc == SB_OK)
			rc = poll_n(c, &c->teth, c->seq, 1);
		if (rc == SB_OK)
			rc = poll_n(c, &c->unt, c->seq, 1);
		if (rc != SB_OK)
			note_error(c, it, rc);
		c->seq++;

		/* waiting with data present returns at once, without a call */
		r->stage = ST_WAIT;
		tu_fill(c->buf, len_of(c->seq), c->seq);
		rc = sb_ring_send(&c->pub, c->buf, len_of(c->seq));
		if (rc == SB_OK)
			rc = sb_ring_wait(&c->teth, 0);
		if (rc == SB_OK)
			rc = sb_ring_wait(&c->unt, 0);
		if (rc == SB_OK)
			rc = read_one(&c->teth, c->seq);
		if (rc == SB_OK)
			rc = read_one(&c->unt, c->seq);
		if (rc != SB_OK)
			note_error(c, it, rc);
		c->seq++;

		if (count) {
			r->iterations++;
			r->sent += RECS_PER_IT;
		}
	}
}

/* Kill the process on any system call except exit and exit_group. */
static int install_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HP_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return errno;
	return 0;
}

static void child(const struct sb_seg *seg, enum sb_ring_pub_mode mode, bool blocking_sub,
		  struct report *rep)
{
	static struct child_ctx c;
	struct sb_seg rd;
	struct sb_ring_sub sleeper_candidate;
	struct mallinfo2 mi;

	rep->stage = ST_SETUP;
	c.rep = rep;
	if (sb_seg_open_fd(seg->fd, seg->subs_fd, SB_SEG_SUBSCRIBER, &rd) != SB_OK ||
	    sb_ring_pub_attach(&c.pub, seg, mode) != SB_OK ||
	    sb_ring_sub_attach(&c.teth, &rd, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN) != SB_OK ||
	    sb_ring_sub_attach(&c.unt, &rd, SB_SUB_UNTETHERED, SB_START_LATEST, SB_WAIT_SPIN) != SB_OK)
		_exit(2);
	/* A subscriber that uses the blocking strategy but is not asleep: the
	 * publisher must still make no call (it only rings for sleepers). */
	if (blocking_sub &&
	    sb_ring_sub_attach(&sleeper_candidate, &rd, SB_SUB_UNTETHERED, SB_START_LATEST, SB_WAIT_BLOCK) != SB_OK)
		_exit(2);

	rep->stage = ST_WARMUP;
	run(&c, WARMUP, false);
	if (rep->errors)
		_exit(3);

	mi = mallinfo2();
	rep->uord_before = mi.uordblks;
	rep->allocs_before = atomic_load(&alloc_calls);
	rep->stage = ST_FILTER;
	rep->filter_errno = install_filter();
	if (rep->filter_errno)
		_exit(4);

	run(&c, ITERATIONS, true);

	rep->stage = ST_STATS;
	rep->teth_read = sb_ring_sub_consumed(&c.teth);
	rep->unt_read = sb_ring_sub_consumed(&c.unt);
	rep->allocs_after = atomic_load(&alloc_calls);
	mi = mallinfo2();
	rep->uord_after = mi.uordblks;
	rep->stage = ST_DONE;
	syscall(SYS_exit, 0);
}

static void hotpath(enum sb_ring_pub_mode mode, bool blocking_sub)
{
	struct sb_seg seg;
	struct report *rep;
	pid_t pid;
	int status;
	uint64_t total_warm = (uint64_t)WARMUP * RECS_PER_IT;

	tu_seg_new(&seg, CAP, MAXREC);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(rep != MAP_FAILED);
	memset(rep, 0, sizeof(*rep));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(&seg, mode, blocking_sub, rep);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		fail_msg("the data path made a system call (killed by seccomp in stage %d, iteration %llu)",
			 rep->stage, (unsigned long long)rep->iterations);
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d in stage %d", WTERMSIG(status), rep->stage);
	if (WEXITSTATUS(status) == 4)
		fail_msg("installing the seccomp filter failed: %s", strerror(rep->filter_errno));
	if (rep->errors)
		fail_msg("%llu data-path errors; first in stage %d, iteration %llu: %d (%s)",
			 (unsigned long long)rep->errors, rep->error_stage,
			 (unsigned long long)rep->error_iteration, rep->error_rc, sb_strerror(rep->error_rc));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(rep->stage, ST_DONE);
	assert_int_equal(rep->iterations, ITERATIONS);
	assert_int_equal(rep->sent, (uint64_t)ITERATIONS * RECS_PER_IT);
	assert_int_equal(rep->teth_read, rep->sent + total_warm);
	assert_int_equal(rep->unt_read, rep->sent + total_warm);
	if (rep->allocs_after != rep->allocs_before)
		fail_msg("the data path called the allocator %lu times", rep->allocs_after - rep->allocs_before);
	if (rep->uord_after != rep->uord_before)
		fail_msg("allocated heap bytes changed from %zu to %zu", rep->uord_before, rep->uord_after);
	/* Everything went through the ring, many laps of it. */
	assert_true(atomic_load(&seg.prod->tail) > 100 * (uint64_t)CAP);
	assert_int_equal(atomic_load(&seg.prod->next_seq), rep->sent + total_warm);
	munmap(rep, sizeof(*rep));
	tu_seg_free(&seg);
}

static void test_hotpath_exclusive_no_syscalls_no_allocs(void **state)
{
	(void)state;
	hotpath(SB_PUB_EXCLUSIVE, false);
}

static void test_hotpath_shared_no_syscalls_no_allocs(void **state)
{
	(void)state;
	hotpath(SB_PUB_SHARED, false);
}

static void test_hotpath_blocking_subscriber_awake_no_syscalls(void **state)
{
	(void)state;
	hotpath(SB_PUB_EXCLUSIVE, true);
}

/* Can this process install a seccomp filter at all (containers may not)? */
static bool seccomp_available(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (pid == 0) {
		struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
		struct sock_fprog prog = { .len = 1, .filter = f };

		_exit(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
		      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotpath_exclusive_no_syscalls_no_allocs),
		cmocka_unit_test(test_hotpath_shared_no_syscalls_no_allocs),
		cmocka_unit_test(test_hotpath_blocking_subscriber_awake_no_syscalls),
	};

	if (HP_AUDIT_ARCH == 0) {
		printf("no seccomp audit arch known for this CPU: skipped\n");
		return TU_EXIT_SKIP;
	}
	if (!seccomp_available()) {
		printf("seccomp filters are not available here: skipped\n");
		return TU_EXIT_SKIP;
	}
	tu_capture_logs();
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif /* SB_TEST_SANITIZED */
