/*
 * test_timeout.c - a daemon that stops answering (SIGSTOP) makes control
 * calls fail with SB_ETIMEDOUT after the client's timeout instead of
 * hanging; the connection, and with it the lease, survives: once the
 * daemon runs again the late reply is discarded, the handle it opened is
 * closed, the next call works, and no slot was released meanwhile.
 */
#include "dtest.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_timeout_stopped_daemon_keeps_the_lease(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct sb_client_opts co = { .name = "patient", .timeout_ms = 300 };
	struct dt_daemon d;
	sb_client_t *c;
	sb_sub_t *s;
	sb_pub_t *p;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	s = sb_sub_open(c, "held", &so);
	assert_non_null(s);
	assert_int_equal(dt_handles_of(&d, "patient"), 1);

	dt_daemon_freeze(&d);
	p = sb_pub_open(c, "late", NULL);
	assert_null(p);
	assert_int_equal(errno, ETIMEDOUT);
	assert_non_null(strstr(sb_last_error(), "did not answer open within 300 ms"));

	assert_int_equal(kill(d.pid, SIGCONT), 0);
	/* The late OPEN reply is dropped and its handle closed; this open
	 * gets its own reply. */
	p = sb_pub_open(c, "next", NULL);
	assert_non_null(p);
	assert_int_equal(sb_pub_send(p, "x", 1), 0);
	/* The lease held throughout: nothing was released, and the daemon
	 * holds the subscriber and the new publisher only (the late handle's
	 * CLOSE is answered by the time the next call's reply is read). */
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 0);
	sb_pub_close(p); /* its DETACHED and CLOSE follow the late CLOSE */
	assert_int_equal(dt_handles_of(&d, "patient"), 1);
	sb_sub_close(s);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* A daemon that accepts but never answers HELLO: sb_connect returns
 * ETIMEDOUT instead of blocking. */
static void test_timeout_connect_to_stopped_daemon(void **state)
{
	struct sb_client_opts co = { .name = "early", .timeout_ms = 200 };
	struct dt_daemon d;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	co.socket_path = d.sock;
	dt_daemon_freeze(&d);
	assert_null(sb_connect(&co));
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(kill(d.pid, SIGCONT), 0);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeout_stopped_daemon_keeps_the_lease),
		cmocka_unit_test(test_timeout_connect_to_stopped_daemon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
