/*
 * test_control_hostile.c - malformed and abusive control traffic gets an
 * error reply or a closed connection, never takes the daemon down, and
 * never disturbs a well-behaved client of the same daemon.
 */
#include "sb_lib.h" /* shm/ ring API: attach without the library */

#include "dtest.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct dt_daemon d;
static sb_client_t *good;
static sb_pub_t *good_pub;
static sb_sub_t *good_sub;
static uint64_t good_seq;

static void count_msg(void *ctx, const struct sb_msg *m)
{
	uint64_t *got = ctx;

	if (dt_check(m->data, m->len, 7, good_seq))
		(*got)++;
}

/* The well-behaved client still publishes and receives. */
static void assert_good_client_works(void)
{
	uint8_t buf[256];
	uint32_t len = dt_fill(buf, sizeof(buf), 7, good_seq);
	uint64_t got = 0, t0 = dt_now_ns();
	int fd;

	assert_int_equal(sb_pub_send(good_pub, buf, len), 0);
	while (got == 0 && dt_now_ns() - t0 < DT_BOUND_NS)
		assert_true(sb_sub_poll(good_sub, count_msg, &got, 1) >= 0);
	assert_int_equal(got, 1);
	good_seq++;
	/* And a new client can still connect and say HELLO. */
	fd = dt_raw_connect(d.sock);
	assert_true(fd >= 0);
	assert_int_equal(dt_raw_hello(fd, "probe"), 0);
	close(fd);
}

static int setup(void **state)
{
	struct sb_client_opts co = { .name = "good" };
	const char *args[] = { "--hello-timeout-ms", "300", NULL };

	(void)state;
	dt_daemon_start(&d, NULL, args);
	co.socket_path = d.sock;
	good = sb_connect(&co);
	good_sub = good ? sb_sub_open(good, "good", NULL) : NULL;
	good_pub = good_sub ? sb_pub_open(good, "good", NULL) : NULL;
	return good_pub ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sb_disconnect(good);
	dt_daemon_stop(&d);
	return 0;
}

static void put_hdr(uint8_t *b, uint32_t magic, uint16_t ver, uint16_t type, uint32_t len)
{
	struct sbp_hdr h = { .magic = magic, .version = ver, .type = type, .body_len = len, .req_id = 42 };

	memcpy(b, &h, sizeof(h));
}

/* Read one reply (bounded); returns its status, or 1 on EOF, 2 on timeout. */
static int reply_status(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sbp_msg m;
	int32_t st;
	int rc;

	if (poll(&p, 1, (int)(DT_BOUND_NS / 1000000)) != 1)
		return 2;
	rc = sbp_recv(fd, &m, NULL);
	if (rc == SB_ECONN)
		return 1;
	assert_int_equal(rc, 0);
	assert_true(m.hdr.body_len >= 4);
	assert_true(m.hdr.type & SBP_REPLY);
	memcpy(&st, m.body, 4);
	if (st < 0) /* failures carry a NUL-terminated detail */
		assert_non_null(memchr(m.body + 4, '\0', m.hdr.body_len - 4));
	return st;
}

static void test_hostile_random_bytes_close_the_connection(void **state)
{
	uint8_t junk[4096];
	uint64_t x = 0x9e3779b97f4a7c15ull, before = dt_stat(&d, NULL, "malformed");
	int fd = dt_raw_connect(d.sock);

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_true(dt_wait_eof(fd));
	close(fd);
	assert_true(dt_stat(&d, NULL, "malformed") > before);
	assert_good_client_works();
}

static void test_hostile_truncated_header_is_dropped_at_eof(void **state)
{
	uint8_t b[16];
	int fd = dt_raw_connect(d.sock);

	(void)state;
	put_hdr(b, SBP_MAGIC, SBP_VERSION, SBP_HELLO, 4);
	assert_int_equal(write(fd, b, 8), 8);
	shutdown(fd, SHUT_WR);
	assert_true(dt_wait_eof(fd));
	close(fd);
	/* A header followed by half its body, then EOF. */
	fd = dt_raw_connect(d.sock);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(write(fd, "ab", 2), 2);
	shutdown(fd, SHUT_WR);
	assert_true(dt_wait_eof(fd));
	close(fd);
	assert_good_client_works();
}

static void test_hostile_bad_lengths_versions_and_magic(void **state)
{
	uint8_t b[16];
	int fd;

	(void)state;
	/* body_len 0 on a HELLO: the body is malformed, the stream is fine. */
	fd = dt_raw_connect(d.sock);
	put_hdr(b, SBP_MAGIC, SBP_VERSION, SBP_HELLO, 0);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(reply_status(fd), SB_EINVAL);
	assert_int_equal(dt_raw_hello(fd, "recovered"), 0);
	close(fd);

	/* body_len 2^32-1: error reply, then closed. */
	fd = dt_raw_connect(d.sock);
	put_hdr(b, SBP_MAGIC, SBP_VERSION, SBP_HELLO, 0xffffffffu);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(reply_status(fd), SB_ECORRUPT);
	assert_true(dt_wait_eof(fd));
	close(fd);

	/* body_len just over the maximum. */
	fd = dt_raw_connect(d.sock);
	put_hdr(b, SBP_MAGIC, SBP_VERSION, SBP_OPEN, SBP_BODY_MAX + 1);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(reply_status(fd), SB_ECORRUPT);
	assert_true(dt_wait_eof(fd));
	close(fd);

	/* Wrong version. */
	fd = dt_raw_connect(d.sock);
	put_hdr(b, SBP_MAGIC, SBP_VERSION + 1, SBP_HELLO, 0);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(reply_status(fd), SB_EVERSION);
	assert_true(dt_wait_eof(fd));
	close(fd);

	/* Wrong magic. */
	fd = dt_raw_connect(d.sock);
	put_hdr(b, 0xdeadbeef, SBP_VERSION, SBP_HELLO, 0);
	assert_int_equal(write(fd, b, 16), 16);
	assert_int_equal(reply_status(fd), SB_ECORRUPT);
	assert_true(dt_wait_eof(fd));
	close(fd);
	assert_good_client_works();
}

static void test_hostile_bad_requests_get_error_replies(void **state)
{
	struct sbp_msg m;
	uint8_t body[256];
	struct sbp_wr w;
	int fd;

	(void)state;
	/* Anything before HELLO. */
	fd = dt_raw_connect(d.sock);
	assert_int_equal(dt_raw_call(fd, SBP_LIST, NULL, 0, &m), SB_ESTATE);
	assert_int_equal(dt_raw_hello(fd, "late"), 0);
	/* A second HELLO. */
	assert_int_equal(dt_raw_hello(fd, "again"), SB_ESTATE);
	/* Unknown types, and a "reply" sent to the daemon. */
	assert_int_equal(dt_raw_call(fd, 0x7777, NULL, 0, &m), SB_EINVAL);
	assert_int_equal(dt_raw_call(fd, 0, NULL, 0, &m), SB_EINVAL);
	assert_int_equal(dt_raw_call(fd, SBP_HELLO | SBP_REPLY, NULL, 0, &m), SB_EINVAL);
	/* OPEN with trailing bytes. */
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "good");
	sbp_put_u8(&w, SBP_ROLE_SUB);
	sbp_put_u8(&w, 0);
	sbp_put_u16(&w, 0);
	sbp_put_params(&w, &(struct sbp_topic_params){ .numa_node = -1 });
	sbp_put_u32(&w, 0xabcdef);
	assert_int_equal(dt_raw_call(fd, SBP_OPEN, body, w.len, &m), SB_EINVAL);
	/* OPEN whose string runs past the body. */
	assert_int_equal(dt_raw_call(fd, SBP_OPEN, "\xff\x0f" "abc", 5, &m), SB_EINVAL);
	/* OPEN with a name holding a NUL, a bad role, bad flags. */
	assert_int_equal(dt_raw_call(fd, SBP_OPEN, "\x03\x00" "a\0b" "\x02\x00\x00\x00", 9, &m), SB_EINVAL);
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "good");
	sbp_put_u8(&w, 9);
	sbp_put_u8(&w, 0);
	sbp_put_u16(&w, 0x80);
	sbp_put_params(&w, &(struct sbp_topic_params){ .numa_node = -1 });
	assert_int_equal(dt_raw_call(fd, SBP_OPEN, body, w.len, &m), SB_EINVAL);
	/* ATTACHED / DETACHED / CLOSE for handles that do not exist. */
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_u32(&w, 12345);
	sbp_put_u32(&w, 0);
	sbp_put_u8(&w, 0);
	sbp_put_u8(&w, 0);
	assert_int_equal(dt_raw_call(fd, SBP_ATTACHED, body, w.len, &m), SB_ENOENT);
	assert_int_equal(dt_raw_call(fd, SBP_DETACHED, body, 4, &m), SB_ENOENT);
	assert_int_equal(dt_raw_call(fd, SBP_CLOSE, body, 4, &m), SB_ENOENT);
	assert_int_equal(dt_raw_call(fd, SBP_CLOSE, body, 3, &m), SB_EINVAL);
	/* STATS of a topic that does not exist; DELETE likewise. */
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "nope");
	assert_int_equal(dt_raw_call(fd, SBP_STATS, body, w.len, &m), SB_ENOENT);
	assert_int_equal(dt_raw_call(fd, SBP_DELETE, body, w.len, &m), SB_ENOENT);
	/* The connection survived all of it. */
	assert_int_equal(dt_raw_call(fd, SBP_LIST, NULL, 0, &m), 0);
	close(fd);
	assert_good_client_works();
}

static void test_hostile_unsolicited_fd_is_closed_and_refused(void **state)
{
	uint64_t before = dt_stat(&d, NULL, "fds_refused");
	int p[2], fd;
	char c;
	struct pollfd pf;
	uint8_t body[16];
	struct sbp_wr w;

	(void)state;
	assert_int_equal(pipe(p), 0);
	fd = dt_raw_connect(d.sock);
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "fdpass");
	assert_int_equal(sbp_send(fd, SBP_HELLO, 1, body, w.len, &p[1], 1, 0), 0);
	assert_int_equal(reply_status(fd), SB_EINVAL);
	/* The daemon kept no copy: with ours closed, the pipe reads EOF. */
	close(p[1]);
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, (int)(DT_BOUND_NS / 1000000)), 1);
	assert_int_equal(read(p[0], &c, 1), 0);
	close(p[0]);
	assert_int_equal(dt_stat(&d, NULL, "fds_refused"), before + 1);
	/* The connection is still usable. */
	assert_int_equal(dt_raw_hello(fd, "fdpass"), 0);
	close(fd);
	assert_good_client_works();
}

static void test_hostile_silent_client_is_closed_after_hello_timeout(void **state)
{
	uint64_t before = dt_stat(&d, NULL, "hello_timeouts");
	int fd = dt_raw_connect(d.sock), fd2 = dt_raw_connect(d.sock);
	uint8_t b[16];

	(void)state;
	assert_true(fd >= 0 && fd2 >= 0);
	/* One says nothing, the other half a header. */
	put_hdr(b, SBP_MAGIC, SBP_VERSION, SBP_HELLO, 8);
	assert_int_equal(write(fd2, b, 10), 10);
	assert_true(dt_wait_eof(fd));
	assert_true(dt_wait_eof(fd2));
	close(fd);
	close(fd2);
	assert_true(dt_stat(&d, NULL, "hello_timeouts") >= before + 2);
	assert_good_client_works();
}

/* A client in another process reports the good subscriber's slot as its
 * own and disconnects: the daemon must refuse and release nothing. */
static void test_hostile_foreign_slot_report_is_refused(void **state)
{
	uint64_t before = dt_stat(&d, NULL, "sub_slots_released");
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sbp_msg m;
		uint8_t body[128];
		struct sbp_wr w;
		uint32_t handle;
		int fd = dt_raw_connect(d.sock), fds[SBP_MAX_FDS], rc;

		if (fd < 0 || dt_raw_hello(fd, "thief") != 0)
			_exit(10);
		if (dt_raw_open(fd, "good", SBP_ROLE_SUB, &handle, fds) != 0)
			_exit(11);
		sbp_close_fds(fds);
		for (uint32_t slot = 0; slot < 4; slot++) {
			sbp_wr_init(&w, body, sizeof(body));
			sbp_put_u32(&w, handle);
			sbp_put_u32(&w, slot);
			sbp_put_u8(&w, 0);
			sbp_put_u8(&w, 0);
			rc = dt_raw_call(fd, SBP_ATTACHED, body, w.len, &m);
			if (rc == 0)
				_exit(13); /* accepted someone else's (or a free) slot */
		}
		_exit(0);
	}
	assert_int_equal(dt_wait_child(pid), 0);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), before);
	assert_good_client_works();
}

/* A publisher that reports the wrong mode would make the clean-up give back
 * the wrong part of the publishers word: refused; the right mode works. */
static void test_hostile_wrong_publisher_mode_is_refused(void **state)
{
	static struct sb_seg seg;
	static struct sb_ring_pub rp;
	struct sbp_msg m;
	uint8_t body[128];
	struct sbp_wr w;
	uint32_t handle;
	int fd = dt_raw_connect(d.sock), fds[SBP_MAX_FDS];

	(void)state;
	assert_int_equal(dt_raw_hello(fd, "liar"), 0);
	assert_int_equal(dt_raw_open(fd, "good", SBP_ROLE_PUB, &handle, fds), 0);
	assert_int_equal(sb_seg_open_fd(fds[0], fds[1], SB_SEG_PUBLISHER, &seg), 0);
	sbp_close_fds(fds);
	assert_int_equal(sb_ring_pub_attach(&rp, &seg, SB_PUB_SHARED), 0);
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_u32(&w, handle);
	sbp_put_u32(&w, rp.slot_idx);
	sbp_put_u8(&w, 1); /* claims to be exclusive */
	sbp_put_u8(&w, 0);
	assert_int_equal(dt_raw_call(fd, SBP_ATTACHED, body, w.len, &m), SB_ESTATE);
	body[8] = 0; /* the truth */
	assert_int_equal(dt_raw_call(fd, SBP_ATTACHED, body, w.len, &m), 0);
	sb_ring_pub_detach(&rp);
	assert_int_equal(dt_raw_call(fd, SBP_DETACHED, body, 4, &m), 0);
	close(fd);
	sb_seg_close(&seg);
	assert_good_client_works();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_random_bytes_close_the_connection),
		cmocka_unit_test(test_hostile_truncated_header_is_dropped_at_eof),
		cmocka_unit_test(test_hostile_bad_lengths_versions_and_magic),
		cmocka_unit_test(test_hostile_bad_requests_get_error_replies),
		cmocka_unit_test(test_hostile_unsolicited_fd_is_closed_and_refused),
		cmocka_unit_test(test_hostile_silent_client_is_closed_after_hello_timeout),
		cmocka_unit_test(test_hostile_foreign_slot_report_is_refused),
		cmocka_unit_test(test_hostile_wrong_publisher_mode_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
