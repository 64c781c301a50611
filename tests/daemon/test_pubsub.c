/*
 * test_pubsub.c - topics opened by name through a real shmbusd, with real
 * publisher and subscriber processes.
 */
#include "dtest.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_MSG 1024
#define STREAM  0x5eedULL

static uint64_t records = 20000;

static const char config[] =
	"[defaults]\n"
	"ring_size = 65536\n"
	"[topic pubsub]\n"
	"ring_size = 65536\n"
	"max_msg = 1024\n";

struct rx {
	uint64_t next;
	uint64_t bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct rx *rx = ctx;

	if (m->lost != 0 || m->seq != rx->next || !dt_check(m->data, m->len, STREAM, rx->next))
		rx->bad++;
	rx->next++;
}

static int run_sub(const char *sock, int ready_fd, enum sb_wait wait)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "sub" };
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, wait };
	struct rx rx = { 0, 0 };
	uint64_t t0 = dt_now_ns();
	sb_client_t *c = sb_connect(&co);
	sb_sub_t *s = c ? sb_sub_open(c, "pubsub", &so) : NULL;

	if (!s) {
		fprintf(stderr, "sub: %s\n", sb_last_error());
		return 10;
	}
	dt_signal(ready_fd);
	while (rx.next < records && rx.bad == 0) {
		int n = sb_sub_poll(s, on_msg, &rx, 32);

		if (n < 0) {
			fprintf(stderr, "sub: poll %s (%s)\n", sb_strerror(n), sb_last_error());
			return 11;
		}
		if (n == 0 && sb_sub_wait(s, 1000000000ull) == SB_ETIMEDOUT && dt_now_ns() - t0 > DT_BOUND_NS * 4)
			return 12;
	}
	sb_disconnect(c);
	if (rx.bad) {
		fprintf(stderr, "sub: %llu bad records (first at %llu)\n", (unsigned long long)rx.bad,
			(unsigned long long)rx.next);
		return 13;
	}
	return 0;
}

static int run_pub(const char *sock)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "pub" };
	struct sb_pub_opts po = { SB_PUBLISH_EXCLUSIVE, NULL };
	sb_client_t *c = sb_connect(&co);
	sb_pub_t *p = c ? sb_pub_open(c, "pubsub", &po) : NULL;
	struct sb_pub_stats st;

	if (!p) {
		fprintf(stderr, "pub: %s\n", sb_last_error());
		return 20;
	}
	for (uint64_t i = 0; i < records; i++) {
		uint8_t tmp[MAX_MSG];
		uint32_t len = dt_fill(tmp, MAX_MSG, STREAM, i);
		void *buf;
		int rc;

		while ((rc = sb_pub_claim(p, len, &buf)) == SB_EBACKPRESSURE)
			sched_yield();
		if (rc < 0)
			return 21;
		memcpy(buf, tmp, len);
		if (sb_pub_commit(p) != 0)
			return 22;
	}
	sb_pub_stats(p, &st);
	sb_disconnect(c);
	return st.published == records ? 0 : 23;
}

static void records_arrive_intact(enum sb_wait wait)
{
	struct dt_daemon d;
	int ready[2];
	pid_t sub, pub;

	dt_daemon_start(&d, config, NULL);
	assert_int_equal(pipe(ready), 0);
	sub = fork();
	assert_true(sub >= 0);
	if (sub == 0)
		_exit(run_sub(d.sock, ready[1], wait));
	assert_true(dt_wait_signal(ready[0]));
	pub = fork();
	assert_true(pub >= 0);
	if (pub == 0)
		_exit(run_pub(d.sock));
	assert_int_equal(dt_wait_child(pub), 0);
	assert_int_equal(dt_wait_child(sub), 0);
	assert_int_equal(dt_stat(&d, "pubsub", "published"), records);
	/* Both closed cleanly: nothing for the lease clean-up to do. */
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 0);
	assert_int_equal(dt_stat(&d, NULL, "pub_slots_released"), 0);
	close(ready[0]);
	close(ready[1]);
	dt_daemon_stop(&d);
}

static void test_pubsub_records_arrive_intact_across_processes(void **state)
{
	(void)state;
	records_arrive_intact(SB_SPIN_YIELD);
}

/* The same stream to a subscriber that waits with SB_SPIN_STREAM (looks
 * at the ring only every slip once caught up): nothing lost, nothing late
 * past its bound. */
static void test_pubsub_stream_wait_receives_every_record(void **state)
{
	(void)state;
	records_arrive_intact(SB_SPIN_STREAM);
}

static void test_pubsub_open_errors_are_named(void **state)
{
	struct dt_daemon d;
	struct sb_client_opts co = { .socket_path = NULL, .name = "errors" };
	struct sb_pub_opts ex = { SB_PUBLISH_EXCLUSIVE, NULL };
	sb_client_t *c;
	sb_pub_t *p1, *p2;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = "/nonexistent/shmbusd.sock";
	errno = 0;
	assert_null(sb_connect(&co));
	assert_int_equal(errno, ENOENT);

	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	errno = 0;
	assert_null(sb_pub_open(c, "../etc/passwd", NULL));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(sb_last_error(), "topic name"));

	{
		struct sb_sub_opts bad = { SB_TETHERED, SB_FROM_LATEST, (enum sb_wait)4 };

		errno = 0;
		assert_null(sb_sub_open(c, "pubsub", &bad));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(sb_last_error(), "subscriber options out of range"));
	}

	p1 = sb_pub_open(c, "pubsub", &ex);
	assert_non_null(p1);
	errno = 0;
	p2 = sb_pub_open(c, "pubsub", &ex);
	assert_null(p2);
	assert_int_equal(errno, EBUSY);
	sb_pub_close(p1);
	/* Released by close: an exclusive open works again. */
	p2 = sb_pub_open(c, "pubsub", &ex);
	assert_non_null(p2);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* sb_topic_delete: the daemon forgets the topic and unlinks its files;
 * a handle still open keeps working; errors are named. */
static void test_pubsub_topic_delete(void **state)
{
	struct dt_daemon d;
	struct sb_client_opts co = { .socket_path = NULL, .name = "delete" };
	char path[192];
	sb_client_t *c;
	sb_pub_t *p;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	p = sb_pub_open(c, "doomed", NULL);
	assert_non_null(p);
	assert_int_equal(sb_pub_send(p, "x", 1), 0);
	snprintf(path, sizeof(path), "%s/doomed", d.dir);
	assert_int_equal(access(path, F_OK), 0);

	assert_int_equal(sb_topic_delete(c, "doomed"), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(dt_stat(&d, NULL, "topics_deleted"), 1);
	assert_int_equal(sb_pub_send(p, "y", 1), 0); /* still mapped: still works */
	sb_pub_close(p);

	assert_int_equal(sb_topic_delete(c, "doomed"), SB_ENOENT);
	assert_non_null(strstr(sb_last_error(), "no topic doomed"));
	assert_int_equal(sb_topic_delete(c, ""), SB_EINVAL);
	assert_int_equal(sb_topic_delete(c, NULL), SB_EINVAL);
	assert_int_equal(sb_topic_delete(NULL, "doomed"), SB_EINVAL);
	/* Deleted means gone: a new open creates a fresh topic. */
	p = sb_pub_open(c, "doomed", NULL);
	assert_non_null(p);
	assert_int_equal(access(path, F_OK), 0);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* A topic configured for NUMA node 0 reports it, its pages live there,
 * and the thread helpers agree with the kernel. */
static void test_pubsub_numa_binding_and_thread_helpers(void **state)
{
	static const char numa_config[] =
		"[topic numa0]\n"
		"ring_size = 65536\n"
		"max_msg = 512\n"
		"numa_node = 0\n";
	struct sb_topic_opts bad = { .ring_size = 65536, .max_msg = 512, .numa_node = 1000 };
	struct sb_pub_opts po = { SB_PUBLISH_SHARED, &bad };
	struct sb_client_opts co = { .name = "numa" };
	struct dt_daemon d;
	sb_client_t *c;
	sb_pub_t *p;
	void *buf;
	int node = -1;

	(void)state;
	if (numa_available() < 0)
		skip();
	dt_daemon_start(&d, numa_config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	p = sb_pub_open(c, "numa0", NULL);
	assert_non_null(p);
	assert_int_equal(sb_pub_numa_node(p), 0);
	assert_int_equal(sb_pub_claim(p, 64, &buf), 0);
	assert_int_equal(get_mempolicy(&node, NULL, 0, buf, MPOL_F_NODE | MPOL_F_ADDR), 0);
	assert_int_equal(node, 0);
	assert_int_equal(sb_pub_commit(p), 0);
	/* A node that does not exist is refused when the topic is created. */
	errno = 0;
	assert_null(sb_pub_open(c, "numa.bad", &po));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(sb_last_error(), "NUMA node"));
	/* Helpers. */
	assert_int_equal(sb_cpu_numa_node(0), numa_node_of_cpu(0));
	assert_int_equal(sb_cpu_numa_node(-1), SB_EINVAL);
	assert_int_equal(sb_pin_thread(0), 0);
	assert_int_equal(sched_getcpu(), 0);
	assert_int_equal(sb_pin_thread(1 << 20), SB_EINVAL);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pubsub_records_arrive_intact_across_processes),
		cmocka_unit_test(test_pubsub_stream_wait_receives_every_record),
		cmocka_unit_test(test_pubsub_open_errors_are_named),
		cmocka_unit_test(test_pubsub_topic_delete),
		cmocka_unit_test(test_pubsub_numa_binding_and_thread_helpers),
	};

	records = dt_records(argc, argv, records);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
