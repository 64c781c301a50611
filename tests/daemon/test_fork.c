/*
 * test_fork.c - fork() while another thread holds a client's lock: the
 * child still gets a usable client.  libshmbus takes every client's lock
 * before fork() and releases it on both sides (lib/sb_fork.c), so a child
 * never inherits a lock held by a thread it does not have (the lease
 * watcher, or a control call in flight in its parent).
 *
 * Deterministic: the test itself holds the client's lock, another thread
 * calls fork(), and the test releases the lock only once that thread is
 * seen blocked in a futex wait (/proc/self/task/TID/syscall), i.e. inside
 * fork's prepare handler.  Without the handler fork() returns at once and
 * the child's first control call waits forever on the copied lock.
 */
#include "sb_lib.h" /* struct sb_client: the test takes its lock */

#include "dtest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct forker {
	sb_client_t *c;
	atomic_int tid;      /* the forking thread's tid, 0 until known */
	atomic_int done;     /* fork() returned in the parent */
	pid_t child;
	int status;          /* dt_wait_child's verdict on the child */
};

static void *fork_thread(void *arg)
{
	struct forker *f = arg;

	/* RELEASE/ACQUIRE pairs: the test reads tid and done from its own
	 * thread; child and status are read after pthread_join. */
	atomic_store_explicit(&f->tid, (int)syscall(SYS_gettid), memory_order_release);
	f->child = fork();
	if (f->child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* A control call, under the client's lock.  It returns: the
		 * daemon refuses the child's ATTACHED (slots are tied to the
		 * connection's pid, the parent's), which is the expected
		 * answer; a deadlocked child would never exit. */
		sb_pub_t *p = sb_pub_open(f->c, "forked", NULL);

		_exit(p ? 11 : errno == EACCES ? 0 : 12);
	}
	atomic_store_explicit(&f->done, 1, memory_order_release);
	/* Reaped here: PDEATHSIG fires when the forking *thread* ends. */
	f->status = f->child > 0 ? dt_wait_child(f->child) : -1;
	return NULL;
}

/* True once thread tid sits in futex(2) (the first field of its syscall
 * file is the number of the call it is blocked in). */
static bool in_futex(int tid)
{
	char path[64];
	long nr = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	if (fscanf(fp, "%ld", &nr) != 1)
		nr = -1;
	fclose(fp);
	return nr == SYS_futex;
}

static void test_fork_while_the_client_lock_is_held(void **state)
{
	struct sb_client_opts co = { .name = "forker" };
	struct forker f = { 0 };
	struct dt_daemon d;
	pthread_t t;
	uint64_t t0;
	int tid;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	co.socket_path = d.sock;
	f.c = sb_connect(&co);
	assert_non_null(f.c);

	pthread_mutex_lock(&f.c->lock); /* as a control call in flight would */
	assert_int_equal(pthread_create(&t, NULL, fork_thread, &f), 0);
	t0 = dt_now_ns();
	while ((tid = atomic_load_explicit(&f.tid, memory_order_acquire)) == 0 || !in_futex(tid)) {
		if (atomic_load_explicit(&f.done, memory_order_acquire))
			break; /* fork() did not wait for the lock: the child will hang */
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("the forking thread never blocked");
		dt_relax();
	}
	pthread_mutex_unlock(&f.c->lock);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(f.child > 0);
	assert_int_equal(f.status, 0);

	sb_disconnect(f.c);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_while_the_client_lock_is_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
