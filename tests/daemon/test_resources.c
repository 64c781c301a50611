/*
 * test_resources.c - long use leaks nothing: neither a client process nor
 * shmbusd gains file descriptors, memory mappings or threads, and no file
 * stays behind in the segment directory, over many cycles of connect, open,
 * publish, read, close, delete and disconnect, nor over clients SIGKILLed
 * with handles open (and claims half done).
 *
 * Each cycle the test process connects, opens a subscriber and a publisher
 * on a reused topic and on a new one, moves a few records through both,
 * tries opens that must fail, closes (by hand or through sb_disconnect),
 * deletes the new topic (with its handles still open or after) and
 * disconnects; then a forked child connects, opens a subscriber and a
 * publisher (on a reused or a new topic, sometimes leaving a claim open) and
 * is SIGKILLed once the daemon has counted its attaches, and the test waits
 * for the clean-up counters.  After warm-up cycles (stack caches, the kept
 * topics) it records the baselines of both processes; at the end both must
 * be back there.  Failure messages give every count as now/baseline, with
 * the files on hugetlbfs and in /dev/shm, unlinked ones, sockets and
 * anonymous inodes apart.
 *
 * The daemon is measured while a probe connection is open whose STATS
 * reply says clients_now == 1 (the probe) and repairs_pending == 0: every
 * other session, and the topic references it held, is gone by then, and
 * nothing else can happen in the daemon meanwhile.  Until that holds and
 * the counts match the probe is retried, with a bound.
 *
 * Run twice: with the segments in /dev/shm (like the other suites) and on
 * hugetlbfs where one is writable with enough free pages (else skipped);
 * there a mapping left behind is a whole huge page, which is how the header
 * mapping leak fixed in shm/sb_segment.c showed, and /dev/shm does not show
 * it.  A third test keeps one client, with a publisher and a subscriber,
 * across daemon restarts (its watcher reconnects and re-registers both
 * handles each time) and checks the client alone.  $SB_RESOURCE_CYCLES
 * overrides the number of cycles (default 50; restarts: a fifth of it).
 */
#include "dtest.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#define RES_CYCLES     50   /* default; $SB_RESOURCE_CYCLES overrides */
#define RES_WARMUP     6    /* cycles before the baselines: caches, stacks, topics */
#define RES_KEPT       3    /* reused topics, created in the warm-up */
#define RES_MSGS       8    /* records per topic per cycle */
#define RES_MAX_MSG    256
#define RES_SETTLE_NS  (5ull * 1000000000ull) /* bound for the daemon's counts to settle */
#define RES_HUGE_PAGES 32   /* free huge pages the hugetlbfs run needs (it uses ~18) */

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* 64 KiB rings: small in /dev/shm; a huge page each on hugetlbfs. */
static const char config[] =
	"[defaults]\n"
	"ring_size = 65536\n"
	"max_msg = 1024\n";
/* A dead publisher's open claim is repaired after 10 ms, not 1 s. */
static const char *const shm_args[] = { "--grace-ms", "10", NULL };

/* ------------------------------------------------------------ counting */

/* Where a file lives, for the failure message. */
struct res_count {
	unsigned total;
	unsigned named;     /* of a file (a path), not anonymous memory */
	unsigned huge;      /* on a hugetlbfs mount */
	unsigned shm;       /* under /dev/shm */
	unsigned deleted;   /* unlinked but still held */
	unsigned sockets;   /* fds only */
	unsigned anon;      /* fds only: eventfd, epoll, signalfd, timerfd */
};

/* A process's resources; files: entries of its segment directory (the
 * daemon's: a file left there holds its memory, mapped or not). */
struct res_snap {
	struct res_count fds, maps;
	unsigned threads, files;
};

static char huge_mounts[8][256];
static unsigned n_huge_mounts;

/* The hugetlbfs mount points (for classifying paths). */
static void find_huge_mounts(void)
{
	char line[512], mnt[256], type[64];
	FILE *f = fopen("/proc/mounts", "re");

	n_huge_mounts = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n_huge_mounts < 8)
		if (sscanf(line, "%*s %255s %63s", mnt, type) == 2 && strcmp(type, "hugetlbfs") == 0)
			snprintf(huge_mounts[n_huge_mounts++], sizeof(huge_mounts[0]), "%s", mnt);
	fclose(f);
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void classify(struct res_count *c, const char *path)
{
	size_t n = strlen(path);

	c->total++;
	if (path[0] == '/')
		c->named++;
	for (unsigned i = 0; i < n_huge_mounts; i++)
		if (under(path, huge_mounts[i]))
			c->huge++;
	if (under(path, "/dev/shm"))
		c->shm++;
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		c->deleted++;
	if (strncmp(path, "socket:", 7) == 0)
		c->sockets++;
	if (strncmp(path, "anon_inode:", 11) == 0)
		c->anon++;
}

/* Open fds of pid ("self" included), by what they refer to. */
static struct res_count count_fds(const char *pid)
{
	struct res_count c = { 0 };
	char dir[64], link[320], target[512];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	dp = opendir(dir);
	if (!dp)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(dp)) != NULL) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		/* Our own listing's fd is not a resource of the process. */
		if (strcmp(pid, "self") == 0 && atoi(e->d_name) == dirfd(dp))
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		classify(&c, target);
	}
	closedir(dp);
	return c;
}

/* Mappings of pid, by the file mapped (the path column; anonymous: ""). */
static struct res_count count_maps(const char *pid)
{
	struct res_count c = { 0 };
	char path[64], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n'), *p = line;

		if (nl)
			*nl = '\0';
		/* Five columns before the path: address perms offset dev inode. */
		for (int col = 0; col < 5 && p; col++) {
			p = strchr(p, ' ');
			while (p && *p == ' ')
				p++;
		}
		classify(&c, p ? p : "");
	}
	fclose(f);
	return c;
}

static unsigned count_threads(const char *pid)
{
	char path[64], line[256];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "re");
	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

static unsigned count_files(const char *dir)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

/* seg_dir: NULL for the test process (its files are the daemon's). */
static struct res_snap snap_of(const char *pid, const char *seg_dir)
{
	struct res_snap s;

	s.fds = count_fds(pid);
	s.maps = count_maps(pid);
	s.threads = count_threads(pid);
	s.files = seg_dir ? count_files(seg_dir) : 0;
	return s;
}

/* The mappings compared.  Under the sanitizers only those of files: their
 * allocators keep mapping anonymous memory for a while (the quarantine of
 * freed blocks, new size-class regions), and LeakSanitizer watches the heap
 * there instead. */
static unsigned maps_compared(const struct res_snap *s)
{
#ifdef SB_TEST_SANITIZED
	return s->maps.named;
#else
	return s->maps.total;
#endif
}

static bool same_snap(const struct res_snap *a, const struct res_snap *b)
{
	return a->fds.total == b->fds.total && maps_compared(a) == maps_compared(b) && a->threads == b->threads &&
	       a->files == b->files;
}

/* Every count as now/baseline, the totals first. */
static void describe(char *buf, size_t len, const struct res_snap *now, const struct res_snap *base)
{
	snprintf(buf, len,
		 "%u fds (baseline %u; hugetlbfs %u/%u, /dev/shm %u/%u, deleted %u/%u, sockets %u/%u, anon %u/%u), "
		 "%u mappings (baseline %u; of files %u/%u, hugetlbfs %u/%u, /dev/shm %u/%u, deleted %u/%u), "
		 "%u threads (baseline %u), %u files in the segment directory (baseline %u)",
		 now->fds.total, base->fds.total, now->fds.huge, base->fds.huge, now->fds.shm, base->fds.shm,
		 now->fds.deleted, base->fds.deleted, now->fds.sockets, base->fds.sockets, now->fds.anon,
		 base->fds.anon, now->maps.total, base->maps.total, now->maps.named, base->maps.named,
		 now->maps.huge, base->maps.huge, now->maps.shm, base->maps.shm, now->maps.deleted,
		 base->maps.deleted, now->threads, base->threads, now->files, base->files);
}

/* The daemon's counts, read while a probe connection is open whose STATS
 * reply says that no other session is left (clients_now counts down as a
 * session is closed, with its topic references) and no repair is pending
 * (a repair holds its topic).  Returns false, with no snapshot, otherwise. */
static bool probe_daemon(const struct dt_daemon *d, const char *seg_dir, struct res_snap *out)
{
	uint8_t body[8];
	struct sbp_wr w;
	struct sbp_msg m;
	uint64_t clients = UINT64_MAX, repairs = UINT64_MAX;
	char pid[16];
	int fd = dt_raw_connect(d->sock);

	if (fd < 0)
		fail_msg("probe: connect %s: %s", d->sock, strerror(errno));
	if (dt_raw_hello(fd, "res-probe") != 0)
		fail_msg("probe: HELLO refused");
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "");
	if (dt_raw_call(fd, SBP_STATS, body, w.len, &m) != 0)
		fail_msg("probe: STATS refused");
	(void)sbp_stats_get(&m, "clients_now", &clients);
	(void)sbp_stats_get(&m, "repairs_pending", &repairs);
	if (clients == 1 && repairs == 0) {
		snprintf(pid, sizeof(pid), "%d", (int)d->pid);
		*out = snap_of(pid, seg_dir);
	}
	close(fd);
	return clients == 1 && repairs == 0;
}

/* Poll the daemon (bounded) until its counts equal base; fail naming them. */
static void assert_daemon_at(const struct dt_daemon *d, const char *seg_dir, const struct res_snap *base)
{
	uint64_t t0 = dt_now_ns();
	struct res_snap now = { 0 };
	bool probed = false;
	char what[640];

	while (dt_now_ns() - t0 < RES_SETTLE_NS) {
		if (probe_daemon(d, seg_dir, &now)) {
			probed = true;
			if (same_snap(&now, base))
				return;
		}
		dt_relax();
	}
	if (!probed)
		fail_msg("shmbusd never settled: other clients connected or repairs pending");
	describe(what, sizeof(what), &now, base);
	fail_msg("shmbusd (pid %d) leaked: %s", (int)d->pid, what);
}

/* A snapshot of the daemon once it has settled (baseline). */
static struct res_snap daemon_settled(const struct dt_daemon *d, const char *seg_dir)
{
	uint64_t t0 = dt_now_ns();
	struct res_snap s;

	while (!probe_daemon(d, seg_dir, &s)) {
		if (dt_now_ns() - t0 > RES_SETTLE_NS)
			fail_msg("shmbusd never settled: other clients connected or repairs pending");
		dt_relax();
	}
	return s;
}

static void assert_self_at(const struct res_snap *base)
{
	struct res_snap now = snap_of("self", NULL);
	char what[640];

	if (same_snap(&now, base))
		return;
	describe(what, sizeof(what), &now, base);
	fail_msg("the client process leaked: %s", what);
}

/* ------------------------------------------------------------- traffic */

struct rx {
	uint64_t stream, next, bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct rx *rx = ctx;

	if (m->lost != 0 || !dt_check(m->data, m->len, rx->stream, rx->next))
		rx->bad++;
	rx->next++;
}

/* RES_MSGS records from p, all read back intact by s. */
static void exchange(sb_pub_t *p, sb_sub_t *s, uint64_t stream)
{
	struct rx rx = { stream, 0, 0 };
	uint8_t buf[RES_MAX_MSG];
	uint64_t t0 = dt_now_ns();

	for (uint64_t i = 0; i < RES_MSGS; i++)
		assert_int_equal(sb_pub_send(p, buf, dt_fill(buf, sizeof(buf), stream, i)), 0);
	while (rx.next < RES_MSGS) {
		int n = sb_sub_poll(s, on_msg, &rx, 32);

		if (n < 0)
			fail_msg("poll: %s (%s)", sb_strerror(n), sb_last_error());
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("read %llu of %d records", (unsigned long long)rx.next, RES_MSGS);
	}
	assert_int_equal(rx.bad, 0);
}

static void kept_name(char *buf, size_t len, unsigned cycle)
{
	snprintf(buf, len, "res.keep.%u", cycle % RES_KEPT);
}

/* The modes vary with the cycle, so that every kind of handle (tethered,
 * untethered with its copy buffer, blocking with its doorbell count;
 * shared and exclusive publishers) is opened and closed many times. */
static struct sb_sub_opts sub_opts_of(unsigned k)
{
	struct sb_sub_opts so = { k % 2 ? SB_UNTETHERED : SB_TETHERED, SB_FROM_LATEST,
				  k % 3 == 0 ? SB_BLOCKING : SB_SPIN };

	return so;
}

static struct sb_pub_opts pub_opts_of(unsigned k)
{
	struct sb_pub_opts po = { k % 2 ? SB_PUBLISH_SHARED : SB_PUBLISH_EXCLUSIVE, NULL };

	return po;
}

static sb_client_t *connect_to(const struct dt_daemon *d, const char *name, unsigned flags)
{
	struct sb_client_opts co = { .socket_path = d->sock, .name = name, .flags = flags };
	sb_client_t *c = sb_connect(&co);

	if (!c)
		fail_msg("connect: %s", sb_last_error());
	return c;
}

/* Opens that fail, after the daemon handed the fds over (a second
 * publisher where one is open refuses the exclusive mode locally) or
 * before (a bad name), and a delete of no topic: error paths must give
 * everything back too. */
static void refused_opens(sb_client_t *c, const char *topic)
{
	struct sb_pub_opts ex = { SB_PUBLISH_EXCLUSIVE, NULL };

	errno = 0;
	assert_null(sb_pub_open(c, topic, &ex));
	assert_int_equal(errno, EBUSY);
	errno = 0;
	assert_null(sb_sub_open(c, ".res-bad-name", NULL));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sb_topic_delete(c, "res.none"), SB_ENOENT);
}

/* The test process's own cycle: a reused and a new topic, traffic on both,
 * handles closed by hand or by sb_disconnect, the new topic deleted with
 * its handles open or after they closed. */
static void client_cycle(const struct dt_daemon *d, unsigned cycle)
{
	/* Some clients run without the watcher: its thread and eventfd are
	 * then absent, which is another path through connect/disconnect. */
	sb_client_t *c = connect_to(d, "res-client", cycle % 4 == 3 ? SB_CLIENT_NO_WATCHER : 0);
	char topics[2][SB_TOPIC_MAX + 1];
	sb_sub_t *s[2];
	sb_pub_t *p[2];
	bool delete_open = cycle % 4 == 1;

	kept_name(topics[0], sizeof(topics[0]), cycle);
	snprintf(topics[1], sizeof(topics[1]), "res.tmp.%u", cycle);
	for (int k = 0; k < 2; k++) {
		struct sb_sub_opts so = sub_opts_of(cycle + (unsigned)k);
		struct sb_pub_opts po = pub_opts_of(cycle + (unsigned)k);

		/* The subscriber first: it creates the new topic, and from
		 * latest it sees exactly this cycle's records. */
		s[k] = sb_sub_open(c, topics[k], &so);
		if (!s[k])
			fail_msg("cycle %u: sub_open %s: %s", cycle, topics[k], sb_last_error());
		p[k] = sb_pub_open(c, topics[k], &po);
		if (!p[k])
			fail_msg("cycle %u: pub_open %s: %s", cycle, topics[k], sb_last_error());
		exchange(p[k], s[k], (uint64_t)cycle * 2 + (uint64_t)k);
	}
	refused_opens(c, topics[1]);
	if (delete_open) /* the handles outlive the topic: the daemon frees it at their close */
		assert_int_equal(sb_topic_delete(c, topics[1]), 0);
	if (cycle % 2 == 0) {
		for (int k = 0; k < 2; k++) {
			sb_sub_close(s[k]);
			sb_pub_close(p[k]);
		}
	}
	if (!delete_open)
		assert_int_equal(sb_topic_delete(c, topics[1]), 0);
	sb_disconnect(c); /* closes what is still open */
}

/* The child of a kill cycle: connect, open a subscriber and a publisher,
 * publish a few records nobody reads, maybe claim without committing, tell
 * the parent, and wait to be killed. */
static void child_main(const struct dt_daemon *d, const char *topic, unsigned cycle, bool claim_open,
		       int ready_fd)
{
	struct sb_client_opts co = { .socket_path = d->sock, .name = "res-child" };
	struct sb_sub_opts so = sub_opts_of(cycle);
	struct sb_pub_opts po = { claim_open ? SB_PUBLISH_EXCLUSIVE : SB_PUBLISH_SHARED, NULL };
	uint8_t buf[RES_MAX_MSG];
	sb_client_t *c = sb_connect(&co);
	sb_sub_t *s = c ? sb_sub_open(c, topic, &so) : NULL;
	sb_pub_t *p = s ? sb_pub_open(c, topic, &po) : NULL;
	void *claimed;

	if (!p) {
		fprintf(stderr, "child %u: %s\n", cycle, sb_last_error());
		_exit(10);
	}
	for (uint64_t i = 0; i < 4; i++)
		if (sb_pub_send(p, buf, dt_fill(buf, sizeof(buf), cycle, i)) != 0)
			_exit(11);
	if (claim_open && sb_pub_claim(p, 64, &claimed) != 0)
		_exit(12);
	dt_signal(ready_fd);
	for (;;)
		pause();
}

static void delete_topic(const struct dt_daemon *d, const char *topic)
{
	sb_client_t *c = connect_to(d, "res-delete", SB_CLIENT_NO_WATCHER);

	if (sb_topic_delete(c, topic) != 0)
		fail_msg("delete %s: %s", topic, sb_last_error());
	sb_disconnect(c);
}

/* A client SIGKILLed with two handles attached (and maybe a claim open):
 * wait for the daemon to count the attaches, kill, and wait until it has
 * released both slots (repairing the claim first).  A new topic is deleted,
 * on some cycles while the dead client's session or repair still holds it. */
static void kill_cycle(const struct dt_daemon *d, unsigned cycle)
{
	bool fresh = cycle % 2 == 1, claim_open = (cycle / 2) % 2 == 0;
	uint64_t attaches = dt_stat(d, NULL, "attaches");
	uint64_t subs = dt_stat(d, NULL, "sub_slots_released");
	uint64_t pubs = dt_stat(d, NULL, "pub_slots_released");
	uint64_t repaired = dt_stat(d, NULL, "claims_repaired");
	char topic[SB_TOPIC_MAX + 1];
	int ready[2];
	pid_t pid;

	if (fresh)
		snprintf(topic, sizeof(topic), "res.child.%u", cycle);
	else
		kept_name(topic, sizeof(topic), cycle);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_main(d, topic, cycle, claim_open, ready[1]);
	}
	if (!dt_wait_signal(ready[0]))
		fail_msg("cycle %u: the child did not get ready (exit %d)", cycle, dt_wait_child(pid));
	close(ready[0]);
	close(ready[1]);
	dt_wait_stat(d, NULL, "attaches", attaches + 2);
	kill(pid, SIGKILL);
	assert_int_equal(dt_wait_child(pid), 128 + SIGKILL);
	if (fresh && claim_open)
		delete_topic(d, topic);
	dt_wait_stat(d, NULL, "sub_slots_released", subs + 1);
	dt_wait_stat(d, NULL, "pub_slots_released", pubs + 1); /* after the repair, if any */
	if (claim_open)
		assert_int_equal(dt_stat(d, NULL, "claims_repaired"), repaired + 1);
	if (fresh && !claim_open)
		delete_topic(d, topic);
}

/* ---------------------------------------------------------------- tests */

static unsigned cycles(void)
{
	const char *env = getenv("SB_RESOURCE_CYCLES");
	unsigned long v = env ? strtoul(env, NULL, 10) : 0;

	return v > RES_WARMUP ? (unsigned)v : RES_CYCLES;
}

/* What the passing run saw, for the log. */
static void report(const struct dt_daemon *d, const char *seg_dir, unsigned n, const struct res_snap *self_base,
		   const struct res_snap *daemon_base)
{
	struct res_snap now = snap_of("self", NULL);
	char what[640];

	describe(what, sizeof(what), &now, self_base);
	printf("after %u cycles (%d of warm-up), client: %s\n", n, RES_WARMUP, what);
	now = daemon_settled(d, seg_dir);
	describe(what, sizeof(what), &now, daemon_base);
	printf("after %u cycles, shmbusd: %s\n", n, what);
}

/* seg_dir: the daemon's segment directory. */
static void run_cycles(const struct dt_daemon *d, const char *seg_dir)
{
	unsigned n = cycles();
	struct res_snap self_base = { 0 }, daemon_base = { 0 };

	find_huge_mounts();
	for (unsigned i = 0; i < n; i++) {
		if (i == RES_WARMUP) {
			self_base = snap_of("self", NULL);
			daemon_base = daemon_settled(d, seg_dir);
		}
		client_cycle(d, i);
		kill_cycle(d, i);
	}
	assert_self_at(&self_base);
	assert_daemon_at(d, seg_dir, &daemon_base);
	report(d, seg_dir, n, &self_base, &daemon_base);
}

static void test_resources_steady_with_segments_in_dev_shm(void **state)
{
	struct dt_daemon d;

	(void)state;
	dt_daemon_start(&d, config, shm_args);
	run_cycles(&d, d.dir);
	dt_daemon_stop(&d);
}

/* A client that outlives daemons: its watcher reconnects and re-registers
 * both handles with each new daemon (new socket, two fds received and
 * closed per handle); none of that may pile up in the client. */
static void test_resources_client_steady_across_daemon_restarts(void **state)
{
	struct sb_sub_opts so = { SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	unsigned n = cycles() / 5 > RES_WARMUP ? cycles() / 5 : RES_WARMUP + 1;
	struct res_snap base = { 0 };
	struct dt_daemon d;
	sb_client_t *c;
	sb_sub_t *s;
	sb_pub_t *p;

	(void)state;
	find_huge_mounts();
	dt_daemon_start(&d, config, shm_args);
	c = connect_to(&d, "res-restart", 0);
	s = sb_sub_open(c, "res.restart", &so);
	p = s ? sb_pub_open(c, "res.restart", NULL) : NULL;
	if (!p)
		fail_msg("open: %s", sb_last_error());
	for (unsigned i = 0; i < n; i++) {
		if (i == RES_WARMUP)
			base = snap_of("self", NULL);
		dt_daemon_kill(&d);
		dt_daemon_spawn(&d, config, shm_args);
		/* The new daemon has both handles back: the lease is renewed. */
		dt_wait_stat(&d, NULL, "attaches", 2);
		exchange(p, s, i);
	}
	assert_self_at(&base);
	sb_disconnect(c);
	dt_daemon_stop(&d);
}

/* The hugetlbfs run's segment directory, removed by the teardown even when
 * an assertion failed (files left there would hold huge pages). */
static char huge_dir[300];

/* A writable hugetlbfs mount with RES_HUGE_PAGES free pages, or false. */
static bool find_huge_dir(char *dir, size_t len)
{
	char path[128];
	struct statfs sf;
	unsigned long free_pages = 0;
	FILE *f;

	find_huge_mounts();
	for (unsigned i = 0; i < n_huge_mounts; i++) {
		if (access(huge_mounts[i], W_OK) != 0 || statfs(huge_mounts[i], &sf) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages",
			 (unsigned long)sf.f_bsize / 1024);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%lu", &free_pages) != 1)
			free_pages = 0;
		fclose(f);
		if (sf.f_blocks != 0 && sf.f_bavail < free_pages)
			free_pages = sf.f_bavail; /* a size= limit on the mount */
		if (free_pages < RES_HUGE_PAGES)
			continue;
		snprintf(dir, len, "%s/sbdt-res.XXXXXX", huge_mounts[i]);
		return mkdtemp(dir) != NULL;
	}
	return false;
}

static void test_resources_steady_with_segments_on_hugetlbfs(void **state)
{
	const char *args[] = { "--grace-ms", "10", "--dir", huge_dir, NULL };
	struct dt_daemon d;
	struct statfs sf;

	(void)state;
	if (!find_huge_dir(huge_dir, sizeof(huge_dir))) {
		huge_dir[0] = '\0';
		fprintf(stderr, "no writable hugetlbfs with %d free pages: skipped\n", RES_HUGE_PAGES);
		skip();
	}
	assert_int_equal(statfs(huge_dir, &sf), 0);
	assert_true((unsigned long)sf.f_type == (unsigned long)HUGETLBFS_MAGIC);
	/* The later --dir wins: the daemon's segments go to hugetlbfs. */
	dt_daemon_start(&d, config, args);
	run_cycles(&d, huge_dir);
	assert_int_equal(dt_stat(&d, "res.keep.0", "hugetlb"), 1);
	for (unsigned k = 0; k < RES_KEPT; k++) {
		char topic[SB_TOPIC_MAX + 1];

		kept_name(topic, sizeof(topic), k);
		delete_topic(&d, topic);
	}
	dt_daemon_stop(&d);
}

static int remove_huge_dir(void **state)
{
	char cmd[400];

	(void)state;
	if (huge_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", huge_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", huge_dir);
		huge_dir[0] = '\0';
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resources_steady_with_segments_in_dev_shm),
		cmocka_unit_test(test_resources_client_steady_across_daemon_restarts),
		cmocka_unit_test_teardown(test_resources_steady_with_segments_on_hugetlbfs, remove_huge_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
