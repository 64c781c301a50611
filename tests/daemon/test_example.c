/*
 * test_example.c - builds nothing itself: runs the example program of
 * docs/api.md (lib/examples/hello.c, path in argv[1]) against a real daemon.
 */
#include "dtest.h"

#include <stdio.h>
#include <unistd.h>

static const char *hello_path;

static void test_example_hello_runs_against_a_daemon(void **state)
{
	struct dt_daemon d;
	pid_t pid;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(hello_path, hello_path, d.sock, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(dt_wait_child(pid), 0);
	assert_int_equal(dt_stat(&d, "example.hello", "published"), 10);
	dt_daemon_stop(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_hello_runs_against_a_daemon),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: test_example PATH-TO-shmbus-hello\n");
		return 2;
	}
	hello_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
