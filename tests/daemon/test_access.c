/*
 * test_access.c - per-topic permissions against the peer's credentials
 * (SO_PEERCRED): a topic that allows only uid 0 refuses uid 65534 with a
 * clear permission error, while a world-usable topic on the same daemon
 * serves it; a uid allowed only to subscribe gets the stream read-only from
 * the kernel, not just from the library.  Needs root to drop privileges in
 * a child (skips otherwise).
 */
#include "dtest.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sb_segment.h"

static const char config[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[topic secret]\n"
	"uid = 0\n"
	"gid = 0\n"
	"mode = 0600\n"
	"allow_uids = 0\n"
	"[topic public]\n"
	"mode = 0666\n"
	"[topic readonly]\n"
	"uid = 0\n"
	"gid = 0\n"
	"mode = 0644\n";

static int drop_to_nobody(void)
{
	if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
		return -1;
	return getuid() == 65534 ? 0 : -1;
}

static int as_nobody(const char *sock)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "nobody" };
	sb_client_t *c;
	sb_pub_t *p;

	if (drop_to_nobody() != 0)
		return 10;
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
	/* Nor may it delete a topic that is not its own. */
	if (sb_topic_delete(c, "secret") != SB_EACCES || !strstr(sb_last_error(), "belongs to uid"))
		return 17;
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

/* Mode 0644: others may subscribe, not publish.  The subscriber reads the
 * stream, but the segment fd it was given is read-only, so neither a
 * writable mapping nor a write through the fd is possible. */
static int as_reader(const char *sock)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "reader" };
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_OLDEST, SB_SPIN };
	struct sb_seg seg;
	struct sb_msg m;
	sb_client_t *c;
	sb_sub_t *s;
	uint32_t handle;
	int fd, fds[SBP_MAX_FDS], rc;
	void *w;

	if (drop_to_nobody() != 0)
		return 10;
	c = sb_connect(&co);
	if (!c)
		return 11;
	errno = 0;
	if (sb_pub_open(c, "readonly", NULL) || errno != EACCES || !strstr(sb_last_error(), "denies publishing"))
		return 12;
	s = sb_sub_open(c, "readonly", &so);
	if (!s)
		return 13;
	for (uint64_t t0 = dt_now_ns(); (rc = sb_sub_read(s, &m, 1)) == SB_EEMPTY && dt_now_ns() - t0 < DT_BOUND_NS;)
		dt_relax();
	if (rc != 1 || m.len != 5 || memcmp(m.data, "hello", 5) != 0 || sb_sub_release(s) != 0)
		return 14;
	/* What a hostile subscriber would try with the fds it holds. */
	fd = dt_raw_connect(sock);
	if (fd < 0 || dt_raw_hello(fd, "hostile-reader") != 0 || dt_raw_open(fd, "readonly", SBP_ROLE_SUB, &handle, fds) != 0)
		return 15;
	if ((fcntl(fds[0], F_GETFL) & O_ACCMODE) != O_RDONLY)
		return 16;
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (w != MAP_FAILED || errno != EACCES)
		return 17;
	if (pwrite(fds[0], "x", 1, 0) != -1 || errno != EBADF)
		return 18;
	if (sb_seg_open_fd(fds[0], fds[1], SB_SEG_PUBLISHER, &seg) != SB_EACCES)
		return 19;
	if (sb_seg_open_fd(fds[0], fds[1], SB_SEG_SUBSCRIBER, &seg) != SB_OK)
		return 20; /* positive control: the fds are the topic's */
	sb_seg_close(&seg);
	sbp_close_fds(fds);
	close(fd);
	sb_sub_close(s);
	sb_disconnect(c);
	return 0;
}

static void test_access_subscriber_gets_the_stream_read_only(void **state)
{
	struct sb_client_opts co = { .name = "root" };
	struct sb_pub_stats st;
	struct dt_gate go;
	struct dt_daemon d;
	sb_client_t *c;
	sb_pub_t *p;
	pid_t pid;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	/* Forked before this process connects (dtest.h: dt_fork_gated); it
	 * reads once the record is published. */
	pid = dt_fork_gated(&go);
	if (pid == 0)
		_exit(as_reader(d.sock));
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	p = sb_pub_open(c, "readonly", NULL);
	assert_non_null(p);
	assert_int_equal(sb_pub_send(p, "hello", 5), 0);
	dt_gate_open(&go);
	assert_int_equal(dt_wait_child(pid), 0);
	/* The stream is as the publisher left it, and it still publishes. */
	assert_int_equal(sb_pub_send(p, "again", 5), 0);
	sb_pub_stats(p, &st);
	assert_int_equal(st.published, 2);
	assert_int_equal(dt_stat(&d, NULL, "opens_denied"), 1);
	sb_pub_close(p);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_uid_not_allowed_is_refused),
		cmocka_unit_test(test_access_subscriber_gets_the_stream_read_only),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_access: needs root to drop privileges; skipped\n");
		return DT_EXIT_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
