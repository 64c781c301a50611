/*
 * test_hotpath_lib.c - libshmbus's data path, on topics opened by name
 * through a real shmbusd and with the client's lease watcher thread alive,
 * makes no system call (tests/shm/test_hotpath proves the same of the ring
 * itself, allocations included).
 *
 * A forked child connects, opens an exclusive publisher and a tethered
 * subscriber on one topic, warms up, then installs the benchmark's seccomp
 * filter (bench/nosyscall.c: any call but exit/exit_group kills the whole
 * process with SIGSYS; it applies to the calling thread, so the watcher,
 * asleep in poll(), is not under it) and runs single claims and commits,
 * batch claims, sends, reads, releases and polls.  It reports through a
 * MAP_SHARED page and leaves with exit_group.
 *
 * Sanitizer runtimes make system calls of their own: skipped there.
 */
#include "dtest.h"

#include <stdio.h>

#ifdef SB_TEST_SANITIZED

int main(void)
{
	printf("hot-path proof is meaningless under sanitizers: skipped\n");
	return DT_EXIT_SKIP;
}

#else

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nosyscall.h"

#define ITERATIONS 20000u
#define WARMUP     1000u
#define PER_IT     6u    /* 1 claim/commit + 4 batch + 1 send */

struct report {
	int stage;           /* 1 set up, 2 warmed up, 3 filtered, 4 done */
	uint64_t received;   /* messages read back in order */
	uint64_t bad;        /* a message out of order, or a failed call */
	int last_rc;
};

struct poll_ctx {
	uint64_t *next;
	uint64_t *bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct poll_ctx *p = ctx;
	uint64_t v = 0;

	if (m->len >= 8)
		memcpy(&v, m->data, 8);
	if (m->len != 16 || v != *p->next)
		(*p->bad)++;
	(*p->next)++;
}

/* One iteration: publish PER_IT messages numbered from *next_pub, read
 * them back (read/release for four, poll for two). */
static void iteration(sb_pub_t *p, sb_sub_t *s, uint64_t *next_pub, uint64_t *next_sub, struct report *r)
{
	static const uint32_t lens[4] = { 16, 16, 16, 16 };
	void *buf, *bufs[4];
	struct sb_msg m[4];
	struct poll_ctx pc = { next_sub, &r->bad };
	int rc;

	if ((rc = sb_pub_claim(p, 16, &buf)) != 0 || (memcpy(buf, next_pub, 8), (*next_pub)++, sb_pub_commit(p)) != 0)
		goto fail;
	if ((rc = sb_pub_claim_batch(p, lens, 4, bufs)) != 0)
		goto fail;
	for (unsigned i = 0; i < 4; i++) {
		memcpy(bufs[i], next_pub, 8);
		(*next_pub)++;
	}
	if ((rc = sb_pub_commit(p)) != 0)
		goto fail;
	memset(m, 0, sizeof(m));
	if ((rc = sb_sub_read(s, m, 1)) != 1 || (on_msg(&pc, &m[0]), sb_sub_release(s)) != 0)
		goto fail;
	if ((rc = sb_sub_read(s, m, 4)) != 4)
		goto fail;
	for (unsigned i = 0; i < 4; i++)
		on_msg(&pc, &m[i]);
	if ((rc = sb_sub_release(s)) != 0)
		goto fail;
	{
		uint8_t msg[16] = { 0 };

		memcpy(msg, next_pub, 8);
		(*next_pub)++;
		if ((rc = sb_pub_send(p, msg, sizeof(msg))) != 0)
			goto fail;
	}
	if ((rc = sb_sub_poll(s, on_msg, &pc, 32)) != 1)
		goto fail;
	r->received += PER_IT;
	return;
fail:
	r->bad++;
	r->last_rc = rc;
}

static void child(const char *sock, struct report *r)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "hotpath" };
	struct sb_pub_opts po = { .mode = SB_PUBLISH_EXCLUSIVE };
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	uint64_t next_pub = 0, next_sub = 0;
	sb_client_t *c = sb_connect(&co);
	sb_sub_t *s = c ? sb_sub_open(c, "hot", &so) : NULL;
	sb_pub_t *p = s ? sb_pub_open(c, "hot", &po) : NULL;

	if (!p)
		_exit(10);
	r->stage = 1;
	for (unsigned i = 0; i < WARMUP && !r->bad; i++)
		iteration(p, s, &next_pub, &next_sub, r);
	if (r->bad)
		_exit(11);
	r->stage = 2;
	r->received = 0;
	if (nosyscall_enter() != 0)
		_exit(12);
	r->stage = 3;
	for (unsigned i = 0; i < ITERATIONS && !r->bad; i++)
		iteration(p, s, &next_pub, &next_sub, r);
	r->stage = 4;
	nosyscall_exit(0);
}

static void test_hotpath_lib_through_the_daemon_no_syscalls(void **state)
{
	struct report *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct dt_daemon d;
	pid_t pid;
	int st;

	(void)state;
	assert_true(r != MAP_FAILED);
	memset(r, 0, sizeof(*r));
	dt_daemon_start(&d, NULL, NULL);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(d.sock, r);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		fail_msg("system call in libshmbus's data path (stage %d, %llu messages in)", r->stage,
			 (unsigned long long)r->received);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child ended with status 0x%x at stage %d (last rc %d)", st, r->stage, r->last_rc);
	assert_int_equal(r->stage, 4);
	assert_int_equal(r->bad, 0);
	assert_true(r->received == (uint64_t)ITERATIONS * PER_IT);
	dt_daemon_stop(&d);
	munmap(r, sizeof(*r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotpath_lib_through_the_daemon_no_syscalls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
