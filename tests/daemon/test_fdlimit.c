/*
 * test_fdlimit.c - running out of file descriptors (RLIMIT_NOFILE), on
 * either side of the control socket, is a clear error and nothing else:
 *
 *  - shmbusd (its limit lowered with prlimit while it runs): a topic it
 *    cannot create is refused with SB_EMFILE and leaves no file behind; a
 *    connection it cannot accept is closed at once (the client's sb_connect
 *    fails with ECONNRESET, not after its HELLO timeout), counted in
 *    clients_refused; connected clients and their streams keep working, and
 *    once a topic is deleted new clients and topics are served again.
 *  - a client: an open whose reply's fds the kernel cannot install fails
 *    with EMFILE, the handle the daemon opened for it is closed, the
 *    connection stays, and the same open works once descriptors are free.
 */
#include "dtest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_TRIES 64

/* Open descriptors of pid, and the highest one. */
static unsigned count_fds(pid_t pid, int *highest)
{
	char path[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	*highest = -1;
	while ((e = readdir(dir))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd != dirfd(dir)) {
			n++;
			if (fd > *highest)
				*highest = fd;
		}
	}
	closedir(dir);
	return n;
}

/* CREATE over a raw connection (64 KiB ring); returns the status, with the
 * reply (and its detail) in *m. */
static int raw_create(int fd, const char *name, struct sbp_msg *m)
{
	uint8_t body[128];
	struct sbp_wr w;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, name);
	sbp_put_params(&w, &(struct sbp_topic_params){ .ring_size = 65536, .numa_node = -1 });
	return dt_raw_call(fd, SBP_CREATE, body, w.len, m);
}

/* A daemon counter over an existing connection: dt_stat connects anew,
 * which a daemon out of descriptors refuses. */
static uint64_t raw_stat(int fd, const char *key)
{
	struct sbp_msg m;
	uint8_t body[8];
	struct sbp_wr w;
	uint64_t v = UINT64_MAX;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "");
	assert_int_equal(dt_raw_call(fd, SBP_STATS, body, w.len, &m), 0);
	assert_int_equal(sbp_stats_get(&m, key, &v), 0);
	return v;
}

/* Either file of the topic's segment (the segment, NAME@subs). */
static bool segment_exists(const struct dt_daemon *d, const char *name)
{
	char path[160], subs[170];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	snprintf(subs, sizeof(subs), "%s@subs", path);
	return access(path, F_OK) == 0 || access(subs, F_OK) == 0;
}

static sb_client_t *connect_named(const struct dt_daemon *d, const char *name)
{
	/* A timeout far above any refusal: ETIMEDOUT would mean the daemon
	 * left the connection hanging. */
	struct sb_client_opts co = { .socket_path = d->sock, .name = name, .timeout_ms = 20000,
				     .flags = SB_CLIENT_NO_WATCHER };

	return sb_connect(&co);
}

/* Connect clients until one is refused; returns how many connected. */
static unsigned connect_until_refused(const struct dt_daemon *d, sb_client_t **extra, unsigned n)
{
	unsigned first = n;
	char name[32];

	for (; n < MAX_TRIES; n++) {
		snprintf(name, sizeof(name), "extra%u", n);
		extra[n] = connect_named(d, name);
		if (!extra[n])
			break;
	}
	assert_true(n < MAX_TRIES);
	/* At once, with the connection closed: not left to time out. */
	assert_int_equal(errno, ECONNRESET);
	return n - first;
}

/* A create that must fail for want of descriptors and leave no file. */
static void create_fails(const struct dt_daemon *d, int probe, const char *name)
{
	struct sbp_msg m;

	assert_int_equal(raw_create(probe, name, &m), SB_EMFILE);
	assert_non_null(strstr((const char *)m.body + 4, "Too many open files"));
	assert_false(segment_exists(d, name));
}

static void test_fdlimit_daemon_out_of_fds_refuses_cleanly(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_OLDEST, SB_SPIN };
	sb_client_t *extra[MAX_TRIES] = { NULL };
	unsigned n_extra = 0, created = 0;
	struct dt_daemon d;
	struct sbp_msg m;
	struct sb_msg msg;
	struct rlimit rl;
	char name[32];
	sb_client_t *c, *late;
	sb_pub_t *p;
	sb_sub_t *s;
	int probe, highest, rc = 0;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	c = connect_named(&d, "holder");
	assert_non_null(c);
	p = sb_pub_open(c, "live", NULL);
	s = sb_sub_open(c, "live", &so);
	assert_non_null(p);
	assert_non_null(s);
	probe = dt_raw_connect(d.sock);
	assert_true(probe >= 0);
	assert_int_equal(dt_raw_hello(probe, "probe"), 0);

	/* Room for at least two more topics (more if there are holes). */
	(void)count_fds(d.pid, &highest);
	rl.rlim_cur = rl.rlim_max = (rlim_t)highest + 1 + 7;
	assert_int_equal(prlimit(d.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (unsigned i = 0; i < MAX_TRIES; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		rc = raw_create(probe, name, &m);
		if (rc != 0)
			break;
		created++;
	}
	assert_int_equal(rc, SB_EMFILE);
	assert_true(created >= 2 && created < MAX_TRIES);
	assert_false(segment_exists(&d, name));

	/* Use up what the failed create left (0-2 fds), until a connection is
	 * refused; the daemon keeps answering, and counts each refusal. */
	n_extra += connect_until_refused(&d, extra, n_extra);
	assert_true(n_extra < 3);
	assert_int_equal(raw_stat(probe, "clients_refused"), 1);
	assert_null(connect_named(&d, "again"));
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(raw_stat(probe, "clients_refused"), 2);

	/* What was connected keeps working: control calls and the stream. */
	assert_int_equal(sb_pub_send(p, "before", 6), 0);
	assert_int_equal(sb_sub_read(s, &msg, 1), 1);
	assert_int_equal(msg.len, 6);
	assert_memory_equal(msg.data, "before", 6);
	assert_int_equal(sb_sub_release(s), 0);
	assert_null(sb_pub_open(c, "another", NULL));
	assert_int_equal(errno, EMFILE);
	assert_non_null(strstr(sb_last_error(), "shmbusd:"));

	/* A create fails at each of its three files in turn (3 fds are free
	 * after a delete; each connection takes one), and none leaves a file
	 * that the next start would adopt as a topic. */
	assert_int_equal(sb_topic_delete(c, "t0"), 0);
	extra[n_extra] = connect_named(&d, "two-left");
	assert_non_null(extra[n_extra++]);
	create_fails(&d, probe, "fails-at-readonly");
	extra[n_extra] = connect_named(&d, "one-left");
	assert_non_null(extra[n_extra++]);
	create_fails(&d, probe, "fails-at-subs");
	n_extra += connect_until_refused(&d, extra, n_extra);
	create_fails(&d, probe, "fails-at-segment");
	assert_int_equal(raw_stat(probe, "clients_refused"), 3);

	/* Deleting a topic frees its descriptors: creates and clients are
	 * served again. */
	assert_int_equal(sb_topic_delete(c, "t1"), 0);
	sb_disconnect(extra[--n_extra]);
	assert_int_equal(raw_create(probe, "fails-at-readonly", &m), 0);
	assert_true(segment_exists(&d, "fails-at-readonly"));
	late = connect_named(&d, "late");
	assert_non_null(late);
	assert_int_equal(raw_stat(probe, "clients_refused"), 3);

	sb_disconnect(late);
	while (n_extra > 0)
		sb_disconnect(extra[--n_extra]);
	close(probe);
	sb_sub_close(s);
	sb_pub_close(p);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* Fill every free descriptor of this process but keep_free (the soft limit
 * lowered first so that this stays small); returns how many were taken. */
static unsigned exhaust_fds(int *taken, unsigned cap, unsigned keep_free, struct rlimit *saved)
{
	struct rlimit rl;
	unsigned n = 0;
	int highest;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
	(void)count_fds(getpid(), &highest);
	rl = *saved;
	rl.rlim_cur = (rlim_t)highest + 1 + 32;
	assert_true(rl.rlim_cur <= saved->rlim_max);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n < cap) {
		int fd = dup(0);

		if (fd < 0) {
			assert_int_equal(errno, EMFILE);
			break;
		}
		taken[n++] = fd;
	}
	assert_true(n < cap);
	assert_true(n >= keep_free);
	while (keep_free-- > 0)
		close(taken[--n]);
	return n;
}

static void release_fds(int *taken, unsigned n, const struct rlimit *saved)
{
	while (n > 0)
		close(taken[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, saved), 0);
}

static void test_fdlimit_client_out_of_fds_fails_the_open_only(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_OLDEST, SB_SPIN };
	static int taken[4096];
	struct dt_daemon d;
	struct rlimit saved;
	sb_client_t *c;
	sb_pub_t *p;
	sb_sub_t *s = NULL;
	unsigned n, keep, failures = 0;
	struct sb_msg msg;

	(void)state;
	dt_daemon_start(&d, NULL, NULL);
	c = connect_named(&d, "thirsty");
	assert_non_null(c);
	p = sb_pub_open(c, "stream", NULL);
	assert_non_null(p);

	/* With no descriptor free the kernel drops both fds of the reply;
	 * with one or two it passes some and the library runs out mapping
	 * them.  Each attempt fails alone, and hands its handle back. */
	for (keep = 0; keep < 8 && !s; keep++) {
		n = exhaust_fds(taken, sizeof(taken) / sizeof(taken[0]), keep, &saved);
		s = sb_sub_open(c, "stream", &so);
		if (!s) {
			int err = errno;
			char detail[256];

			snprintf(detail, sizeof(detail), "%s", sb_last_error());
			release_fds(taken, n, &saved);
			assert_int_equal(err, EMFILE);
			assert_true(strstr(detail, "file descriptor") || strstr(detail, "Too many open files"));
			assert_int_equal(dt_handles_of(&d, "thirsty"), 1); /* the publisher only */
			failures++;
		} else {
			release_fds(taken, n, &saved);
		}
	}
	assert_true(failures >= 1); /* keep = 0 cannot succeed */
	assert_non_null(s);
	assert_int_equal(dt_handles_of(&d, "thirsty"), 2);
	/* Nor can a new connection without a descriptor, and it says why. */
	n = exhaust_fds(taken, sizeof(taken) / sizeof(taken[0]), 0, &saved);
	assert_null(connect_named(&d, "none"));
	{
		int err = errno;

		release_fds(taken, n, &saved);
		assert_int_equal(err, EMFILE);
	}

	assert_int_equal(sb_pub_send(p, "after", 5), 0);
	assert_int_equal(sb_sub_read(s, &msg, 1), 1);
	assert_int_equal(msg.len, 5);
	assert_memory_equal(msg.data, "after", 5);
	assert_int_equal(msg.lost, 0);
	assert_int_equal(sb_sub_release(s), 0);
	sb_sub_close(s);
	sb_pub_close(p);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* The soft limit of pid's open files, from /proc/PID/limits. */
static unsigned long long soft_nofile(pid_t pid, unsigned long long *hard)
{
	char path[64], line[256];
	unsigned long long soft = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Max open files %llu %llu", &soft, hard) == 2)
			break;
	fclose(f);
	return soft;
}

/* A daemon started under a low soft limit raises it to the hard one, and
 * says so when even that is below what its maxima can use (3 fds a topic,
 * 1 a client). */
static void test_fdlimit_daemon_raises_its_soft_limit_and_warns(void **state)
{
	const char *config = "[daemon]\nmax_topics = 1000000\n";
	struct rlimit saved, low;
	unsigned long long soft, hard = 0;
	char log[] = "/tmp/sbdt-fdlog.XXXXXX", text[8192];
	struct dt_daemon d;
	int logfd, err;
	ssize_t n;
	FILE *f;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max < 128 || saved.rlim_max >= 3000000)
		skip(); /* nothing to raise to, or no limit to warn about */
	low = saved;
	low.rlim_cur = 64;
	logfd = mkstemp(log);
	assert_true(logfd >= 0);
	/* The daemon inherits the low limit and, for its log, this stderr. */
	err = dup(2);
	assert_true(err >= 0);
	assert_int_equal(dup2(logfd, 2), 2);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	dt_daemon_start(&d, config, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(dup2(err, 2), 2);
	close(err);

	soft = soft_nofile(d.pid, &hard);
	assert_int_equal(hard, saved.rlim_max);
	assert_int_equal(soft, saved.rlim_max);
	dt_daemon_stop(&d);
	f = fdopen(logfd, "r");
	assert_non_null(f);
	rewind(f);
	n = (ssize_t)fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	unlink(log);
	text[n > 0 ? n : 0] = '\0';
	assert_non_null(strstr(text, "file descriptor limit below what max_topics and max_clients can use"));
	assert_non_null(strstr(text, "needed=3001088"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdlimit_daemon_raises_its_soft_limit_and_warns),
		cmocka_unit_test(test_fdlimit_daemon_out_of_fds_refuses_cleanly),
		cmocka_unit_test(test_fdlimit_client_out_of_fds_fails_the_open_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
