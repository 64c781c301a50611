/*
 * test_lease.c - a client's connection is its lease: SIGKILL a tethered
 * subscriber and the back-pressured publisher proceeds; SIGKILL a publisher
 * between claim and commit and, after the grace period, readers move past
 * the abandoned claim and receive the next publisher's records intact.
 */
#include "sb_lib.h" /* shm/ ring API, for a client that skips ATTACHED */

#include "dtest.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_MSG 512

static const char config[] =
	"[topic lease]\n"
	"ring_size = 65536\n"
	"max_msg = 512\n";
static const char *const args[] = { "--grace-ms", "200", NULL };

static sb_client_t *connect_as(const struct dt_daemon *d, const char *name)
{
	struct sb_client_opts co = { .socket_path = d->sock, .name = name };

	return sb_connect(&co);
}

/* Children die with the test process, whatever happens to it.  Every fork
 * happens while this process holds no client (see dt_fork_gated). */
static pid_t fork_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

static void test_lease_dead_tethered_subscriber_unblocks_publisher(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct dt_daemon d;
	sb_client_t *c;
	sb_pub_t *p;
	uint8_t buf[MAX_MSG];
	uint64_t i, t0;
	int ready[2], rc = 0;
	pid_t sub;

	(void)state;
	dt_daemon_start(&d, config, args);
	assert_int_equal(pipe(ready), 0);
	sub = fork_child();
	if (sub == 0) {
		sb_client_t *sc = connect_as(&d, "stuck-sub");

		if (!sc || !sb_sub_open(sc, "lease", &so))
			_exit(10);
		dt_signal(ready[1]);
		for (;;)
			pause(); /* never consumes */
	}
	assert_true(dt_wait_signal(ready[0]));
	c = connect_as(&d, "pub");
	assert_non_null(c);
	p = sb_pub_open(c, "lease", NULL);
	assert_non_null(p);
	/* Fill the ring: the stuck tethered subscriber gates us. */
	for (i = 0; i < 100000; i++) {
		uint32_t len = dt_fill(buf, sizeof(buf), 1, i);

		rc = sb_pub_send(p, buf, len);
		if (rc != 0)
			break;
	}
	assert_int_equal(rc, SB_EBACKPRESSURE);
	/* Top it up with the smallest records until even those are refused. */
	while ((rc = sb_pub_send(p, buf, 1)) == 0)
		;
	assert_int_equal(rc, SB_EBACKPRESSURE);
	assert_int_equal(sb_pub_send(p, buf, 64), SB_EBACKPRESSURE);

	kill(sub, SIGKILL);
	assert_int_equal(dt_wait_child(sub), 128 + SIGKILL);
	/* The daemon frees the slot; poll the claim (bound only). */
	t0 = dt_now_ns();
	while ((rc = sb_pub_send(p, buf, 64)) == SB_EBACKPRESSURE && dt_now_ns() - t0 < DT_BOUND_NS)
		sched_yield();
	assert_int_equal(rc, 0);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 1);
	/* And it keeps flowing with nobody left to gate it. */
	for (int k = 0; k < 5000; k++)
		assert_int_equal(sb_pub_send(p, buf, 256), 0);
	sb_disconnect(c);
	close(ready[0]);
	close(ready[1]);
	dt_daemon_stop(&d);
}

struct rx {
	uint64_t stream;
	uint64_t next;
	uint64_t bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct rx *rx = ctx;

	if (m->lost != 0 || !dt_check(m->data, m->len, rx->stream, rx->next))
		rx->bad++;
	rx->next++;
}

/* Receive exactly n records of stream into rx (bounded); fail on anything else. */
static void receive(sb_sub_t *s, struct rx *rx, uint64_t n)
{
	uint64_t t0 = dt_now_ns(), end = rx->next + n;

	while (rx->next < end) {
		int got = sb_sub_poll(s, on_msg, rx, (unsigned)(end - rx->next < 32 ? end - rx->next : 32));

		if (got < 0)
			fail_msg("poll returned %d (%s): %s", got, sb_strerror(got), sb_last_error());
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("received %llu of %llu records", (unsigned long long)(rx->next - (end - n)),
				 (unsigned long long)n);
	}
	assert_int_equal(rx->bad, 0);
}

static int publish(sb_pub_t *p, uint64_t stream, uint64_t n)
{
	uint8_t buf[MAX_MSG];

	for (uint64_t i = 0; i < n; i++) {
		uint32_t len = dt_fill(buf, sizeof(buf), stream, i);
		int rc;

		while ((rc = sb_pub_send(p, buf, len)) == SB_EBACKPRESSURE)
			sched_yield();
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void dead_publisher_case(enum sb_pub_mode mode)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN_YIELD };
	struct sb_pub_opts po = { mode, NULL };
	struct dt_gate go1, go2;
	struct dt_daemon d;
	struct rx rx = { 1, 0, 0 };
	sb_client_t *c;
	sb_sub_t *s;
	int ready[2], rc;
	pid_t pub1, pub2;

	dt_daemon_start(&d, config, args);
	assert_int_equal(pipe(ready), 0);
	/* Both publishers are forked before the reader connects (dtest.h:
	 * dt_fork_gated) and start when their gates open. */
	pub1 = dt_fork_gated(&go1);
	if (pub1 == 0) {
		sb_client_t *pc = connect_as(&d, "dying-pub");
		sb_pub_t *p = pc ? sb_pub_open(pc, "lease", &po) : NULL;
		void *buf;

		if (!p || publish(p, 1, 100) != 0)
			_exit(10);
		if (sb_pub_claim(p, 300, &buf) != 0)
			_exit(11);
		memset(buf, 0xee, 150); /* half written */
		dt_signal(ready[1]);
		for (;;)
			pause();
	}
	pub2 = dt_fork_gated(&go2);
	if (pub2 == 0) {
		sb_client_t *pc = connect_as(&d, "next-pub");
		sb_pub_t *p = NULL;
		uint64_t t0 = dt_now_ns();

		/* An exclusive open is refused until the daemon has repaired
		 * the claim and released the dead holder (poll; bound only). */
		while (pc && !(p = sb_pub_open(pc, "lease", &po)) && (errno == EBUSY || errno == EALREADY) &&
		       dt_now_ns() - t0 < DT_BOUND_NS)
			dt_relax();
		if (!p)
			_exit(20);
		_exit(publish(p, 2, 100) == 0 ? 0 : 21);
	}
	c = connect_as(&d, "reader");
	assert_non_null(c);
	s = sb_sub_open(c, "lease", &so);
	assert_non_null(s);

	dt_gate_open(&go1);
	assert_true(dt_wait_signal(ready[0]));
	receive(s, &rx, 100);
	kill(pub1, SIGKILL);
	assert_int_equal(dt_wait_child(pub1), 128 + SIGKILL);

	dt_gate_open(&go2);
	/* Nothing corrupt, nothing lost, nothing extra: exactly the next
	 * publisher's 100 records, in order. */
	rx.stream = 2;
	rx.next = 0;
	receive(s, &rx, 100);
	assert_int_equal(dt_wait_child(pub2), 0);
	rc = sb_sub_poll(s, on_msg, &rx, 32);
	assert_int_equal(rc, 0);
	assert_int_equal(dt_stat(&d, NULL, "claims_repaired"), 1);
	assert_int_equal(dt_stat(&d, "lease", "repairs"), 1);
	assert_int_equal(dt_stat(&d, "lease", "published"), 200);
	assert_true(dt_stat(&d, NULL, "pub_slots_released") >= 1);
	sb_disconnect(c);
	close(ready[0]);
	close(ready[1]);
	dt_daemon_stop(&d);
}

static void test_lease_dead_shared_publisher_claim_is_repaired(void **state)
{
	(void)state;
	dead_publisher_case(SB_PUBLISH_SHARED);
}

static void test_lease_dead_exclusive_publisher_claim_is_repaired(void **state)
{
	(void)state;
	dead_publisher_case(SB_PUBLISH_EXCLUSIVE);
}

/* A process that dies after taking a tethered slot but before reporting it
 * (ATTACHED): the daemon sweeps slots carrying its pid when its connection
 * ends, so the slot does not gate publishers forever. */
static void test_lease_unreported_slot_of_dead_client_is_swept(void **state)
{
	struct dt_daemon d;
	sb_client_t *c;
	sb_pub_t *p;
	uint8_t buf[MAX_MSG];
	uint64_t t0;
	int ready[2], rc;
	pid_t sub;

	(void)state;
	dt_daemon_start(&d, config, args);
	assert_int_equal(pipe(ready), 0);
	sub = fork_child(); /* before the publisher connects: dt_fork_gated */
	if (sub == 0) {
		static struct sb_seg seg;
		static struct sb_ring_sub rs;
		uint32_t handle;
		int fd = dt_raw_connect(d.sock), fds[SBP_MAX_FDS];

		if (fd < 0 || dt_raw_hello(fd, "half-attached") != 0)
			_exit(10);
		if (dt_raw_open(fd, "lease", SBP_ROLE_SUB, &handle, fds) != 0)
			_exit(11);
		if (sb_seg_open_fd(fds[0], fds[1], SB_SEG_SUBSCRIBER, &seg) != 0 ||
		    sb_ring_sub_attach(&rs, &seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN) != 0)
			_exit(12);
		dt_signal(ready[1]); /* slot taken, never reported */
		for (;;)
			pause();
	}
	assert_true(dt_wait_signal(ready[0]));
	c = connect_as(&d, "pub");
	assert_non_null(c);
	p = sb_pub_open(c, "lease", NULL);
	assert_non_null(p);
	memset(buf, 0x5a, sizeof(buf));
	for (int k = 0; k < 100000 && (rc = sb_pub_send(p, buf, 200)) == 0; k++)
		;
	assert_int_equal(rc, SB_EBACKPRESSURE);
	kill(sub, SIGKILL);
	assert_int_equal(dt_wait_child(sub), 128 + SIGKILL);
	t0 = dt_now_ns();
	while ((rc = sb_pub_send(p, buf, 200)) == SB_EBACKPRESSURE && dt_now_ns() - t0 < DT_BOUND_NS)
		sched_yield();
	assert_int_equal(rc, 0);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 1);
	sb_disconnect(c);
	close(ready[0]);
	close(ready[1]);
	dt_daemon_stop(&d);
}

/* A blocking subscriber SIGKILLed inside its futex wait: the clean-up gives
 * back its place in the doorbell counters, so publishers stop paying for a
 * sleeper that will never wake (a FUTEX_WAKE system call on every commit). */
static void test_lease_dead_sleeping_subscriber_leaves_no_sleeper(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_BLOCKING };
	struct dt_daemon d;
	struct sb_sub_area *subs;
	sb_client_t *c;
	sb_pub_t *p;
	uint64_t t0;
	int ready[2];
	pid_t sub;

	(void)state;
	dt_daemon_start(&d, config, args);
	assert_int_equal(pipe(ready), 0);
	sub = fork_child(); /* before the publisher connects: dt_fork_gated */
	if (sub == 0) {
		sb_client_t *cc = connect_as(&d, "sleeper");
		sb_sub_t *s = cc ? sb_sub_open(cc, "lease", &so) : NULL;

		if (!s)
			_exit(1);
		dt_signal(ready[1]);
		for (;;) /* nobody publishes: sleeps on the doorbell until killed */
			sb_sub_wait(s, 0);
	}
	assert_true(dt_wait_signal(ready[0]));
	c = connect_as(&d, "pub");
	assert_non_null(c);
	p = sb_pub_open(c, "lease", NULL);
	assert_non_null(p);
	subs = p->seg.subs;
	t0 = dt_now_ns();
	while (atomic_load(&subs->sleepers) == 0 && dt_now_ns() - t0 < DT_BOUND_NS)
		sched_yield();
	assert_int_equal(atomic_load(&subs->sleepers), 1);
	assert_int_equal(atomic_load(&subs->blocking), 1);
	kill(sub, SIGKILL);
	assert_int_equal(dt_wait_child(sub), 128 + SIGKILL);
	t0 = dt_now_ns();
	while ((atomic_load(&subs->sleepers) != 0 || atomic_load(&subs->blocking) != 0) &&
	       dt_now_ns() - t0 < DT_BOUND_NS)
		sched_yield();
	assert_int_equal(atomic_load(&subs->sleepers), 0);
	assert_int_equal(atomic_load(&subs->blocking), 0);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 1);
	sb_pub_close(p);
	sb_disconnect(c);
	close(ready[0]);
	close(ready[1]);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_dead_tethered_subscriber_unblocks_publisher),
		cmocka_unit_test(test_lease_dead_shared_publisher_claim_is_repaired),
		cmocka_unit_test(test_lease_dead_exclusive_publisher_claim_is_repaired),
		cmocka_unit_test(test_lease_unreported_slot_of_dead_client_is_swept),
		cmocka_unit_test(test_lease_dead_sleeping_subscriber_leaves_no_sleeper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
