/*
 * test_restart.c - the daemon is not on the data path: SIGKILL it in the
 * middle of a stream and the publisher and tethered subscriber carry on with
 * nothing lost; a restarted daemon adopts the valid segments in its
 * directory (counters and data intact), quarantines a corrupt one (also a
 * segment whose subscriber file is missing or is another segment's), and
 * serves new clients.
 */
#include "dtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_MSG 512

static const char config[] =
	"[topic stream]\n"
	"ring_size = 65536\n"
	"max_msg = 512\n";

struct rx {
	uint64_t next;
	uint64_t bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct rx *rx = ctx;

	if (m->lost != 0 || !dt_check(m->data, m->len, 3, rx->next))
		rx->bad++;
	rx->next++;
}

/* Publish n records of stream 3 from index first, draining the
 * subscribers whenever the ring is full (one thread plays every part). */
static void pump(sb_pub_t *p, sb_sub_t *s, struct rx *rx, sb_sub_t *s2, struct rx *rx2, uint64_t first,
		 uint64_t n)
{
	uint8_t buf[MAX_MSG];
	uint64_t t0 = dt_now_ns();

	for (uint64_t i = first; i < first + n; i++) {
		uint32_t len = dt_fill(buf, sizeof(buf), 3, i);
		int rc;

		while ((rc = sb_pub_send(p, buf, len)) == SB_EBACKPRESSURE) {
			assert_true(sb_sub_poll(s, on_msg, rx, 32) >= 0);
			if (s2)
				assert_true(sb_sub_poll(s2, on_msg, rx2, 32) >= 0);
			assert_true(dt_now_ns() - t0 < DT_BOUND_NS);
		}
		assert_int_equal(rc, 0);
	}
}

static bool quarantined(const char *dir, const char *name)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t n = strlen(name);
	bool found = false;

	assert_non_null(dp);
	while ((e = readdir(dp)) != NULL)
		if (strncmp(e->d_name, name, n) == 0 && strncmp(e->d_name + n, ".quarantine-", 12) == 0)
			found = true;
	closedir(dp);
	return found;
}

/* Copy file from over file to (both in dir). */
static void copy_file(const char *dir, const char *from, const char *to)
{
	char a[256], b[256], buf[4096];
	int in, out;
	ssize_t n;

	snprintf(a, sizeof(a), "%s/%s", dir, from);
	snprintf(b, sizeof(b), "%s/%s", dir, to);
	in = open(a, O_RDONLY | O_CLOEXEC);
	out = open(b, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* The two files of a segment travel together: a restarted daemon adopts a
 * segment only with its own subscriber file; without it, or with another
 * segment's, both are moved aside and the topic starts afresh. */
static void test_restart_quarantines_segment_without_its_subscriber_file(void **state)
{
	struct sb_client_opts co = { .name = "pair" };
	static const char *const topics[] = { "stream", "lonely", "swapped" };
	struct dt_daemon d;
	char path[256];
	sb_client_t *c;
	sb_pub_t *p;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	for (unsigned i = 0; i < 3; i++) {
		p = sb_pub_open(c, topics[i], NULL);
		assert_non_null(p);
		assert_int_equal(sb_pub_send(p, "kept", 4), 0);
		sb_pub_close(p);
	}
	sb_disconnect(c);
	dt_daemon_kill(&d);

	snprintf(path, sizeof(path), "%s/lonely@subs", d.dir);
	assert_int_equal(unlink(path), 0);
	copy_file(d.dir, "stream@subs", "swapped@subs"); /* same size, another segment's */
	dt_daemon_spawn(&d, config, NULL);
	assert_true(quarantined(d.dir, "lonely"));
	assert_true(quarantined(d.dir, "swapped"));
	assert_true(quarantined(d.dir, "swapped@subs"));
	assert_false(quarantined(d.dir, "stream"));
	assert_int_equal(dt_stat(&d, "stream", "published"), 1);
	/* The names are free again: opening creates new, empty topics. */
	c = sb_connect(&co);
	assert_non_null(c);
	p = sb_pub_open(c, "lonely", NULL);
	assert_non_null(p);
	assert_int_equal(dt_stat(&d, "lonely", "published"), 0);
	sb_pub_close(p);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

static void test_restart_stream_survives_daemon_sigkill_and_adoption(void **state)
{
	struct sb_client_opts co = { .name = "streamer" };
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct dt_daemon d;
	struct rx rx = { 0, 0 }, rx2 = { 6000, 0 };
	char path[256];
	sb_client_t *c, *c2;
	sb_pub_t *p;
	sb_sub_t *s, *s2;
	uint64_t t0;
	int fd;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	s = sb_sub_open(c, "stream", &so);
	p = sb_pub_open(c, "stream", NULL);
	assert_non_null(s);
	assert_non_null(p);
	pump(p, s, &rx, NULL, NULL, 0, 3000);

	/* Kill the daemon mid-stream: the data path does not notice. */
	dt_daemon_kill(&d);
	pump(p, s, &rx, NULL, NULL, 3000, 3000);

	/* A corrupt file appears in the directory while the daemon is down. */
	snprintf(path, sizeof(path), "%s/bogus.topic", d.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a segment, definitely not", 29), 29);
	close(fd);

	dt_daemon_spawn(&d, config, NULL);
	assert_true(quarantined(d.dir, "bogus.topic"));
	/* Adopted with its counters: everything published so far. */
	assert_int_equal(dt_stat(&d, "stream", "published"), 6000);

	/* The old handles still work; a new client of the new daemon sees
	 * the same stream. */
	c2 = sb_connect(&co);
	assert_non_null(c2);
	s2 = sb_sub_open(c2, "stream", &so);
	assert_non_null(s2);
	pump(p, s, &rx, s2, &rx2, 6000, 1000);
	t0 = dt_now_ns();
	while (rx.next < 7000 && dt_now_ns() - t0 < DT_BOUND_NS)
		assert_true(sb_sub_poll(s, on_msg, &rx, 32) >= 0);
	assert_int_equal(rx.next, 7000);
	assert_int_equal(rx.bad, 0);
	{
		t0 = dt_now_ns();
		while (rx2.next < 7000 && dt_now_ns() - t0 < DT_BOUND_NS)
			assert_true(sb_sub_poll(s2, on_msg, &rx2, 32) >= 0);
		assert_int_equal(rx2.next, 7000);
		assert_int_equal(rx2.bad, 0);
	}
	sb_disconnect(c2);
	sb_disconnect(c); /* reconnects to the new daemon to say goodbye */
	dt_daemon_stop(&d);
}

/* Without a lease watcher, the next control call of an old client
 * reconnects after a restart and re-registers its handles: the lease is
 * renewed, so when that client is SIGKILLed the new daemon frees its
 * tethered slot. */
static void test_restart_client_reconnects_and_renews_its_lease(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct dt_daemon d;
	int ready[2], go[2];
	pid_t child;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
		struct sb_client_opts co = { .socket_path = d.sock, .name = "survivor", .flags = SB_CLIENT_NO_WATCHER };
		sb_client_t *c = sb_connect(&co);

		if (!c || !sb_sub_open(c, "stream", &so))
			_exit(10);
		dt_signal(ready[1]);
		if (!dt_wait_signal(go[0])) /* the daemon has been restarted */
			_exit(11);
		/* Any control call reconnects; this one also opens a topic. */
		if (!sb_pub_open(c, "other", NULL))
			_exit(12);
		dt_signal(ready[1]);
		for (;;)
			pause();
	}
	assert_true(dt_wait_signal(ready[0]));
	dt_daemon_kill(&d);
	dt_daemon_spawn(&d, config, NULL);
	dt_signal(go[1]);
	assert_true(dt_wait_signal(ready[0]));
	/* The new daemon knows the old subscriber: its slot is reported. */
	assert_int_equal(dt_stat(&d, NULL, "attaches"), 2);
	assert_int_equal(dt_stat(&d, "stream", "sub.0.tethered"), 1);
	kill(child, SIGKILL);
	assert_int_equal(dt_wait_child(child), 128 + SIGKILL);
	assert_int_equal(dt_wait_stat(&d, NULL, "sub_slots_released", 1), 1);
	assert_int_equal(dt_stat(&d, "stream", "sub.0.tethered"), UINT64_MAX); /* slot free */
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	dt_daemon_stop(&d);
}

/* A child that connects as name, opens a tethered subscriber on "stream"
 * (default client options: with a lease watcher) and then makes no further
 * call.  Returns once the subscriber is open; the child dies with the test. */
static pid_t fork_idle_subscriber(const struct dt_daemon *d, const char *name)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	int ready[2];
	pid_t child;

	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
		struct sb_client_opts co = { .socket_path = d->sock, .name = name };
		sb_client_t *c = sb_connect(&co);

		if (!c || !sb_sub_open(c, "stream", &so))
			_exit(10);
		dt_signal(ready[1]);
		for (;;)
			pause();
	}
	assert_true(dt_wait_signal(ready[0]));
	close(ready[0]);
	close(ready[1]);
	return child;
}

/* With the lease watcher (the default), a client that makes no control
 * call at all re-registers with the restarted daemon by itself: the new
 * daemon accepts its ATTACHED, and when the client is SIGKILLed it frees the
 * tethered slot at once.  The orphan grace is an hour, so nothing but the
 * renewed lease can free the slot within the test's bound. */
static void test_restart_watcher_renews_lease_of_idle_client(void **state)
{
	static const char *const args[] = { "--orphan-grace-ms", "3600000", NULL };
	struct dt_daemon d;
	pid_t child;

	(void)state;
	dt_daemon_start(&d, config, args);
	child = fork_idle_subscriber(&d, "idle");
	dt_daemon_kill(&d);
	dt_daemon_spawn(&d, config, args);
	assert_int_equal(dt_wait_stat(&d, NULL, "attaches", 1), 1);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 0);
	kill(child, SIGKILL);
	assert_int_equal(dt_wait_child(child), 128 + SIGKILL);
	assert_int_equal(dt_wait_stat(&d, NULL, "sub_slots_released", 1), 1);
	assert_int_equal(dt_stat(&d, "stream", "sub.0.tethered"), UINT64_MAX); /* slot free */
	dt_daemon_stop(&d);
}

/* The watcher stops when told, even while no daemon answers: sb_disconnect
 * with the daemon gone returns (it joins the watcher) and closes the handles
 * without a daemon.  And it keeps trying until a daemon answers: a daemon
 * spawned after the kill (its start takes far longer than the watcher's
 * first retries, which meet a socket nobody listens on) still gets the
 * client's ATTACHED, however many attempts that took. */
static void test_restart_watcher_retries_until_a_daemon_answers(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct sb_client_opts co = { .name = "patient" };
	struct dt_daemon d;
	sb_client_t *c;
	sb_sub_t *s;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	assert_non_null(sb_sub_open(c, "stream", &so));
	dt_daemon_kill(&d);
	sb_disconnect(c); /* the watcher may be mid-retry: it must stop */

	c = sb_connect(&co);
	assert_null(c); /* no daemon */
	dt_daemon_spawn(&d, config, NULL);
	c = sb_connect(&co);
	assert_non_null(c);
	s = sb_sub_open(c, "stream", &so);
	assert_non_null(s);
	dt_daemon_kill(&d);
	dt_daemon_spawn(&d, config, NULL);
	assert_true(dt_wait_stat(&d, NULL, "attaches", 1) >= 1);
	sb_sub_close(s);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* The watcher's CPU (SB_CLIENT_WATCHER_CPU): the one thread named
 * "sb-lease" may run there and nowhere else; a CPU outside the process's
 * set is refused. */
static void test_restart_watcher_runs_on_the_requested_cpu(void **state)
{
	struct sb_client_opts co = { .name = "pinned", .flags = SB_CLIENT_WATCHER_CPU };
	char path[320], line[256], want[32], got[64] = "";
	struct dt_daemon d;
	struct dirent *e;
	cpu_set_t mine;
	sb_client_t *c;
	unsigned found = 0;
	DIR *dir;
	FILE *f;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	co.watcher_cpu = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &mine))
			co.watcher_cpu = i; /* the highest we may use */
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	dir = opendir("/proc/self/task");
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		char comm[32] = "";

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strcmp(comm, "sb-lease\n") != 0)
			continue;
		found++;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Cpus_allowed_list: %63s", got) == 1)
				break;
		fclose(f);
	}
	closedir(dir);
	assert_int_equal(found, 1);
	snprintf(want, sizeof(want), "%d", co.watcher_cpu);
	assert_string_equal(got, want);
	sb_disconnect(c);

	co.watcher_cpu = CPU_SETSIZE - 1; /* not ours (unless 1024 CPUs are) */
	if (!CPU_ISSET(CPU_SETSIZE - 1, &mine)) {
		assert_null(sb_connect(&co));
		assert_int_equal(errno, EINVAL);
	}
	dt_daemon_stop(&d);
}

/* A handle the restarted daemon cannot take back (its topic's files were
 * removed while no daemon ran) keeps working on its mapping, and its stats
 * say it has no lease; the client's other handle is taken back. */
static void test_restart_handle_not_taken_back_is_reported_unleased(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct sb_client_opts co = { .name = "halfway" };
	struct sb_sub_stats st;
	struct dt_daemon d;
	char path[256];
	sb_sub_t *gone, *kept;
	sb_client_t *c;
	uint64_t t0;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	gone = sb_sub_open(c, "gone", &so);
	kept = sb_sub_open(c, "stream", &so);
	assert_non_null(gone);
	assert_non_null(kept);
	sb_sub_stats(gone, &st);
	assert_int_equal(st.leased, 1);

	dt_daemon_kill(&d);
	snprintf(path, sizeof(path), "%s/gone", d.dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/gone@subs", d.dir);
	assert_int_equal(unlink(path), 0);
	dt_daemon_spawn(&d, config, NULL);
	assert_int_equal(dt_wait_stat(&d, NULL, "attaches", 1), 1); /* "stream" */
	t0 = dt_now_ns();
	for (;;) {
		sb_sub_stats(gone, &st);
		if (!st.leased)
			break;
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("the handle of the removed topic is still reported leased");
		dt_relax();
	}
	sb_sub_stats(kept, &st);
	assert_int_equal(st.leased, 1);
	assert_int_equal(sb_sub_read(gone, &(struct sb_msg){ 0 }, 1), SB_EEMPTY); /* still usable */
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* A fork()ed child inherits the client but not its watcher thread: its
 * sb_disconnect must not wait for a thread that does not exist in it, nor
 * disturb the parent's watcher, which still renews the parent's lease
 * after a restart. */
static void test_restart_forked_child_disconnects_without_the_watcher(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct sb_client_opts co = { .name = "parent" };
	struct dt_daemon d;
	sb_client_t *c, *idle;
	pid_t child;

	(void)state;
	dt_daemon_start(&d, config, NULL);
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	assert_non_null(sb_sub_open(c, "stream", &so));
	idle = sb_connect(&co); /* no handles: the child may close it */
	assert_non_null(idle);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sb_disconnect(idle);
		_exit(0);
	}
	assert_int_equal(dt_wait_child(child), 0);
	dt_daemon_kill(&d);
	dt_daemon_spawn(&d, config, NULL);
	assert_int_equal(dt_wait_stat(&d, NULL, "attaches", 1), 1);
	sb_disconnect(idle);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* A tethered subscriber that dies while no daemon runs has no lease to
 * end; the restarted daemon reclaims its slot (nobody re-registered it, its
 * pid is gone) and the back-pressured publisher proceeds. */
static void test_restart_slot_of_client_dead_during_downtime_is_reclaimed(void **state)
{
	static const char *const args[] = { "--orphan-grace-ms", "200", NULL };
	struct sb_client_opts co = { .name = "pub" };
	uint8_t buf[MAX_MSG];
	struct dt_daemon d;
	sb_client_t *c;
	sb_pub_t *p;
	uint64_t t0;
	int rc = 0;
	pid_t child;

	(void)state;
	dt_daemon_start(&d, config, args);
	child = fork_idle_subscriber(&d, "doomed");
	co.socket_path = d.sock;
	c = sb_connect(&co);
	assert_non_null(c);
	p = sb_pub_open(c, "stream", NULL);
	assert_non_null(p);

	dt_daemon_kill(&d);
	kill(child, SIGKILL);
	assert_int_equal(dt_wait_child(child), 128 + SIGKILL);
	for (int k = 0; k < 100000 && (rc = sb_pub_send(p, buf, 200)) == 0; k++)
		;
	assert_int_equal(rc, SB_EBACKPRESSURE);

	dt_daemon_spawn(&d, config, args);
	t0 = dt_now_ns();
	while ((rc = sb_pub_send(p, buf, 200)) == SB_EBACKPRESSURE && dt_now_ns() - t0 < DT_BOUND_NS)
		sched_yield();
	assert_int_equal(rc, 0);
	assert_int_equal(dt_stat(&d, NULL, "sub_slots_released"), 1);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_stream_survives_daemon_sigkill_and_adoption),
		cmocka_unit_test(test_restart_client_reconnects_and_renews_its_lease),
		cmocka_unit_test(test_restart_watcher_renews_lease_of_idle_client),
		cmocka_unit_test(test_restart_watcher_retries_until_a_daemon_answers),
		cmocka_unit_test(test_restart_forked_child_disconnects_without_the_watcher),
		cmocka_unit_test(test_restart_handle_not_taken_back_is_reported_unleased),
		cmocka_unit_test(test_restart_watcher_runs_on_the_requested_cpu),
		cmocka_unit_test(test_restart_slot_of_client_dead_during_downtime_is_reclaimed),
		cmocka_unit_test(test_restart_quarantines_segment_without_its_subscriber_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
