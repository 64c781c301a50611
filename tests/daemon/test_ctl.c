/*
 * test_ctl.c - shmbusctl against a real daemon: create, list, stat, clients,
 * delete, in table and --json form.  The binary's path is argv[1].
 */
#include "dtest.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *ctl;
static struct dt_daemon d;

/* Run shmbusctl --socket S args...; returns its exit status, output in out. */
static int run_ctl(char *out, size_t cap, const char *a1, const char *a2, const char *a3, const char *a4,
		   const char *a5)
{
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(ctl, ctl, "--socket", d.sock, a1, a2, a3, a4, a5, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < cap && (n = read(p[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	st = dt_wait_child(pid);
	return st;
}

static void test_ctl_create_list_stat_clients_delete(void **state)
{
	char out[8192];
	struct sb_client_opts co = { .name = "watched" };
	static const char payload[32] = "per-slot byte counter";
	sb_client_t *c;
	sb_pub_t *p;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	assert_int_equal(run_ctl(out, sizeof(out), "create", "md.test", "--ring-size", "65536", NULL), 0);
	/* Exists now: a second create is refused with a clear message. */
	assert_int_not_equal(run_ctl(out, sizeof(out), "create", "md.test", NULL, NULL, NULL), 0);

	assert_int_equal(run_ctl(out, sizeof(out), "list", NULL, NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "md.test"));
	assert_int_equal(run_ctl(out, sizeof(out), "--json", "list", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "{\"topics\": [{\"name\": \"md.test\", \"ring_size\": 65536"));

	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	assert_non_null(sb_sub_open(c, "md.test", NULL));
	p = sb_pub_open(c, "md.test", NULL);
	assert_non_null(p);
	assert_int_equal(sb_pub_send(p, payload, 10), 0);
	assert_int_equal(sb_pub_send(p, payload, 20), 0);
	assert_int_equal(sb_pub_send(p, payload, 30), 0);
	assert_int_equal(run_ctl(out, sizeof(out), "--json", "stat", "md.test", NULL, NULL), 0);
	assert_non_null(strstr(out, "\"ring_size\": 65536"));
	assert_non_null(strstr(out, "\"sub.0.tethered\": 1"));
	/* Per publisher slot: what it committed, in messages and bytes. */
	assert_non_null(strstr(out, "\"pub.0.records\": 3"));
	assert_non_null(strstr(out, "\"pub.0.bytes\": 60"));
	assert_non_null(strstr(out, "\"sub.0.lag_bytes\": "));
	assert_int_equal(run_ctl(out, sizeof(out), "stat", NULL, NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "topics_created"));
	assert_int_equal(run_ctl(out, sizeof(out), "--json", "clients", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "\"name\": \"watched\""));

	assert_int_equal(run_ctl(out, sizeof(out), "delete", "md.test", NULL, NULL, NULL), 0);
	assert_int_equal(run_ctl(out, sizeof(out), "list", NULL, NULL, NULL, NULL), 0);
	assert_null(strstr(out, "md.test"));
	assert_int_not_equal(run_ctl(out, sizeof(out), "stat", "md.test", NULL, NULL, NULL), 0);
	sb_disconnect(c); /* its handle outlived the delete: closing it is fine */
	dt_daemon_stop(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl_create_list_stat_clients_delete),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: test_ctl PATH-TO-shmbusctl\n");
		return 2;
	}
	ctl = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
