/*
 * test_shutdown.c - SIGTERM and SIGINT shut shmbusd down cleanly (exit 0)
 * at any moment after its socket accepts, also the first instant.  The
 * daemon reads both from a signalfd, so every thread it has must block
 * them: a thread that does not (a library's worker started before the mask
 * was set, still running its start-up) would take the signal's default
 * action and kill the daemon without its shutdown.
 */
#include "dtest.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The blocked-signal mask of one task, from its status file. */
static unsigned long long task_sigblk(pid_t pid, const char *tid)
{
	char path[320], line[256];
	unsigned long long mask = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1) {
			found = true;
			break;
		}
	fclose(f);
	assert_true(found);
	return mask;
}

/* Frozen the instant its socket accepts, every thread of the daemon
 * already blocks SIGTERM and SIGINT. */
static void test_shutdown_every_thread_blocks_the_signals(void **state)
{
	const unsigned long long want = (1ull << (SIGTERM - 1)) | (1ull << (SIGINT - 1));
	struct dt_daemon d;
	char path[64];
	struct dirent *e;
	unsigned tasks = 0;
	DIR *dir;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	dt_daemon_freeze(&d);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)d.pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL) {
		unsigned long long blk;

		if (e->d_name[0] == '.')
			continue;
		blk = task_sigblk(d.pid, e->d_name);
		if ((blk & want) != want)
			fail_msg("shmbusd thread %s does not block SIGTERM and SIGINT (SigBlk %016llx)", e->d_name, blk);
		tasks++;
	}
	closedir(dir);
	assert_true(tasks >= 1);
	assert_int_equal(kill(d.pid, SIGCONT), 0);
	dt_daemon_stop(&d); /* asserts exit status 0 */
}

/* A signal sent the moment the socket accepts: a clean exit, every time. */
static void test_shutdown_signal_at_start(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++) {
		struct dt_daemon d;

		dt_daemon_start(&d, NULL, NULL);
		dt_daemon_stop(&d); /* SIGTERM; asserts exit status 0 */

		dt_daemon_start(&d, NULL, NULL);
		assert_int_equal(kill(d.pid, SIGINT), 0);
		assert_int_equal(dt_wait_child(d.pid), 0);
		d.pid = 0;
		dt_daemon_stop(&d); /* removes the directories */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shutdown_every_thread_blocks_the_signals),
		cmocka_unit_test(test_shutdown_signal_at_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
