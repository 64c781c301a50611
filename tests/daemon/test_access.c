/*
 * test_access.c - per-topic permissions against the peer's credentials
 * (SO_PEERCRED): a topic that allows only uid 0 refuses uid 65534 with a
 * clear permission error, while a world-usable topic on the same daemon
 * serves it.  Needs root to drop privileges in a child (skips otherwise).
 */
#include "dtest.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char config[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[topic secret]\n"
	"uid = 0\n"
	"gid = 0\n"
	"mode = 0600\n"
	"allow_uids = 0\n"
	"[topic public]\n"
	"mode = 0666\n";

static int as_nobody(const char *sock)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "nobody" };
	sb_client_t *c;
	sb_pub_t *p;

	if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
		return 10;
	if (getuid() != 65534)
		return 11;
	c = sb_connect(&co);
	if (!c)
		return 12;
	errno = 0;
	if (sb_pub_open(c, "secret", NULL) || errno != EACCES)
		return 13;
	if (!strstr(sb_last_error(), "not in the topic's allowed list"))
		return 14;
	errno = 0;
	if (sb_sub_open(c, "secret", NULL) || errno != EACCES)
		return 15;
	p = sb_pub_open(c, "public", NULL);
	if (!p || sb_pub_send(p, "x", 1) != 0)
		return 16;
	sb_disconnect(c);
	return 0;
}

static void test_access_uid_not_allowed_is_refused(void **state)
{
	struct sb_client_opts co = { .name = "root" };
	struct dt_daemon d;
	sb_client_t *c;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	dt_daemon_start(&d, config, NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(as_nobody(d.sock));
	assert_int_equal(dt_wait_child(pid), 0);
	assert_int_equal(dt_stat(&d, NULL, "opens_denied"), 2);
	assert_int_equal(dt_stat(&d, "public", "published"), 1);
	/* Root is allowed (positive control: the refusal is about the uid). */
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	assert_non_null(sb_pub_open(c, "secret", NULL));
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_uid_not_allowed_is_refused),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_access: needs root to drop privileges; skipped\n");
		return DT_EXIT_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
