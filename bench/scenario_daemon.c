/*
 * scenario_daemon.c - round-trip latency through topics opened by name via
 * a running shmbusd (pingpong --via-daemon, and the "shmbus-daemon"
 * subject of compare --via-daemon).
 *
 * The same ping-pong as scenario_pingpong.c, but the measuring processes
 * share nothing with the parent except the daemon's socket path: each
 * connects (sb_connect), opens its publisher topic exclusively and its
 * subscriber topic tethered with busy-spin, and then moves the records
 * through the public data-path calls of libshmbus (sb_pub_claim/commit,
 * sb_sub_read/release).  Connect and open happen before the seccomp
 * sandbox; the measured loop runs inside it.  The processes never close
 * their handles (that would be a system call inside the sandbox): their
 * exit ends the lease and the daemon releases their slots.
 *
 * The parent creates both topics first (a publisher open with the run's
 * ring size, largest record and alignment, closed again), so that neither
 * child's subscriber open creates one with the daemon's defaults.  Topic
 * names are "sbbench.<pid>.<size>.ab|ba", reused by every round of a size;
 * an exclusive open that still finds the previous round's dead publisher
 * (the daemon has not yet seen its connection close) is retried.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmbus/shmbus.h>

#include "clock.h"
#include "pair.h"
#include "payload.h"
#include "scenario.h"

#define OPEN_RETRY_MS 5000

struct dp_shared {
	alignas(64) uint64_t acc[2];
	uint64_t t_begin;
	uint64_t t_end;
	uint64_t open_ticks[2]; /* connect + both opens, per side */
};

struct dp_run {
	struct daemon_pair pair;
	uint64_t warmup;
	uint64_t count;
	uint64_t *samples;       /* count entries, MAP_SHARED */
	struct dp_shared *out;   /* MAP_SHARED */
};

/* Open a publisher, retrying while a dead predecessor still holds it
 * (scenario.h). */
sb_pub_t *daemon_pub_open_retry(sb_client_t *c, const char *topic, const struct sb_pub_opts *po)
{
	for (long waited = 0;; waited++) {
		sb_pub_t *p = sb_pub_open(c, topic, po);

		if (p || (errno != EBUSY && errno != EALREADY) || waited >= OPEN_RETRY_MS)
			return p;
		clock_sleep_ms(1);
	}
}

int daemon_side_open(struct worker *w, const struct daemon_pair *dp, bool ping, struct daemon_side *s,
		     uint64_t *open_ticks)
{
	const char *pub_topic = ping ? dp->ab : dp->ba, *sub_topic = ping ? dp->ba : dp->ab;
	struct sb_client_opts co = { .socket_path = dp->socket, .name = "shmbus-bench",
				     .flags = dp->watcher_cpu >= 0 ? SB_CLIENT_WATCHER_CPU : 0,
				     .watcher_cpu = dp->watcher_cpu };
	struct sb_pub_opts po = { .mode = SB_PUBLISH_EXCLUSIVE, .create = NULL };
	struct sb_sub_opts so = { .mode = SB_TETHERED, .start = SB_FROM_LATEST, .wait = SB_SPIN };
	uint64_t t0 = clock_start();
	const char *what = "connect";

	memset(s, 0, sizeof(*s));
	s->client = sb_connect(&co);
	if (s->client) {
		what = pub_topic;
		s->pub = daemon_pub_open_retry(s->client, pub_topic, &po);
	}
	if (s->pub) {
		what = sub_topic;
		s->sub = sb_sub_open(s->client, sub_topic, &so);
	}
	if (!s->sub)
		return worker_fail(w, "via daemon %s: %s: %s: %s", dp->socket, what, strerror(errno), sb_last_error());
	*open_ticks = clock_end() - t0;
	return 0;
}

static inline int send_one(sb_pub_t *pub, uint32_t size, uint64_t c)
{
	void *p;
	int rc;

	while ((rc = sb_pub_claim(pub, size, &p)) == SB_EBACKPRESSURE)
		payload_spin_hint();
	if (rc < 0)
		return rc;
	payload_write(p, size, c);
	return sb_pub_commit(pub);
}

static inline int recv_one(sb_sub_t *sub, uint64_t *acc, struct sb_msg *m, uint64_t *seq)
{
	int rc;

	while ((rc = sb_sub_read(sub, m, 1)) == SB_EEMPTY || rc == 0)
		payload_spin_hint();
	if (rc < 0)
		return rc;
	*acc += payload_read(m->data, m->len, seq);
	return sb_sub_release(sub);
}

static int bad_trip(struct worker *w, const char *what, uint64_t c, int rc, const struct sb_msg *m, uint32_t size,
		    uint64_t seq)
{
	if (rc < 0)
		return worker_fail(w, "%s %llu: %s", what, (unsigned long long)c, sb_strerror(rc));
	return worker_fail(w, "%s %llu: got len %u seq %llu lost %llu, expected len %u seq %llu", what,
			   (unsigned long long)c, m->len, (unsigned long long)seq, (unsigned long long)m->lost, size,
			   (unsigned long long)c);
}

static inline bool trip_ok(const struct sb_msg *m, uint32_t size, uint64_t seq, uint64_t c)
{
	return m->len == size && m->lost == 0 && (size < 8 || seq == c);
}

int daemon_ping(struct worker *w, struct daemon_side *s, uint32_t size, uint64_t first, uint64_t n,
		uint64_t *samples, uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0, t0, t1;
		struct sb_msg m = { 0 };
		int rc;

		t0 = clock_start();
		rc = send_one(s->pub, size, c);
		if (rc == 0)
			rc = recv_one(s->sub, acc, &m, &seq);
		t1 = clock_end();
		if (__builtin_expect(rc < 0 || !trip_ok(&m, size, seq, c), 0))
			return bad_trip(w, "round trip", c, rc, &m, size, seq);
		if (samples)
			samples[k] = t1 - t0;
	}
	return 0;
}

int daemon_pong(struct worker *w, struct daemon_side *s, uint32_t size, uint64_t first, uint64_t n, uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0;
		struct sb_msg m = { 0 };
		int rc = recv_one(s->sub, acc, &m, &seq);

		if (__builtin_expect(rc < 0 || !trip_ok(&m, size, seq, c), 0))
			return bad_trip(w, "message", c, rc, &m, size, seq);
		rc = send_one(s->pub, size, c);
		if (__builtin_expect(rc < 0, 0))
			return bad_trip(w, "reply", c, rc, &m, size, seq);
	}
	return 0;
}

static int dp_ping(struct worker *w, void *arg)
{
	const struct dp_run *r = arg;
	struct daemon_side s;
	uint64_t acc = 0, t0, t1;
	int rc;

	rc = daemon_side_open(w, &r->pair, true, &s, &r->out->open_ticks[0]);
	if (rc)
		return rc;
	worker_barrier(w, 0); /* both subscribers attached before the first record */
	rc = daemon_ping(w, &s, r->pair.size, 1, r->warmup, NULL, &acc);
	if (rc)
		return rc;
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	rc = daemon_ping(w, &s, r->pair.size, r->warmup + 1, r->count, r->samples, &acc);
	t1 = clock_end();
	if (rc)
		return rc;
	r->out->acc[0] = acc;
	r->out->t_begin = t0;
	r->out->t_end = t1;
	return 0;
}

static int dp_pong(struct worker *w, void *arg)
{
	const struct dp_run *r = arg;
	struct daemon_side s;
	uint64_t acc = 0;
	int rc;

	rc = daemon_side_open(w, &r->pair, false, &s, &r->out->open_ticks[1]);
	if (rc)
		return rc;
	worker_barrier(w, 0);
	rc = daemon_pong(w, &s, r->pair.size, 1, r->warmup, &acc);
	if (rc)
		return rc;
	rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	rc = daemon_pong(w, &s, r->pair.size, r->warmup + 1, r->count, &acc);
	if (rc)
		return rc;
	r->out->acc[1] = acc;
	return 0;
}

/* Create both topics with this run's parameters (no-op if they exist). */
static int topics_create(const struct bench_opts *o, const struct daemon_pair *r)
{
	struct sb_client_opts co = { .socket_path = r->socket, .name = "shmbus-bench" };
	struct sb_topic_opts to = {
		.ring_size = o->ring_size,
		.max_msg = r->size ? r->size : 8,
		.msg_align = bench_seg_align(),
		.numa_node = -1,
	};
	struct sb_pub_opts po = { .mode = SB_PUBLISH_SHARED, .create = &to };
	sb_client_t *c = sb_connect(&co);
	const char *topics[2] = { r->ab, r->ba };
	int rc = 0;

	if (!c) {
		fprintf(stderr, "shmbus-bench: --via-daemon: cannot connect to shmbusd at %s: %s: %s\n"
				"  (start shmbusd, or give its socket with --socket PATH)\n",
			r->socket, strerror(errno), sb_last_error());
		return -1;
	}
	for (int i = 0; i < 2 && rc == 0; i++) {
		sb_pub_t *p = daemon_pub_open_retry(c, topics[i], &po);

		if (!p) {
			fprintf(stderr, "shmbus-bench: --via-daemon: open %s: %s: %s\n", topics[i], strerror(errno),
				sb_last_error());
			rc = -1;
		}
		sb_pub_close(p);
	}
	sb_disconnect(c);
	return rc;
}

int daemon_pair_create(const struct bench_opts *o, uint32_t size, struct daemon_pair *dp)
{
	memset(dp, 0, sizeof(*dp));
	daemon_socket(o, dp->socket, sizeof(dp->socket));
	snprintf(dp->ab, sizeof(dp->ab), "sbbench.%ld.%u.ab", (long)getpid(), size);
	snprintf(dp->ba, sizeof(dp->ba), "sbbench.%ld.%u.ba", (long)getpid(), size);
	dp->size = size;
	/* A third core, where given, takes the lease watchers too (as it
	 * takes the daemon): off the two measuring cores. */
	dp->watcher_cpu = o->ncores >= 3 ? o->cores[2] : -1;
	if (topics_create(o, dp) < 0) {
		dp->ab[0] = dp->ba[0] = '\0'; /* nothing for daemon_pair_remove */
		return -1;
	}
	return 0;
}

void daemon_pair_remove(const struct daemon_pair *dp)
{
	struct sb_client_opts co = { .socket_path = dp->socket, .name = "shmbus-bench" };
	const char *topics[2] = { dp->ab, dp->ba };
	sb_client_t *c;

	if (!dp->ab[0])
		return;
	c = sb_connect(&co);
	if (!c) {
		fprintf(stderr, "shmbus-bench: warning: cannot connect to %s to delete %s and %s: %s\n", dp->socket,
			dp->ab, dp->ba, sb_last_error());
		return;
	}
	for (int i = 0; i < 2; i++) {
		int rc = sb_topic_delete(c, topics[i]);

		if (rc < 0 && rc != SB_ENOENT)
			fprintf(stderr, "shmbus-bench: warning: delete topic %s: %s: %s\n", topics[i], sb_strerror(rc),
				sb_last_error());
	}
	sb_disconnect(c);
}

const char *daemon_socket(const struct bench_opts *o, char *buf, size_t len)
{
	if (o->socket)
		snprintf(buf, len, "%s", o->socket);
	else
		sb_default_socket_path(buf, len);
	return buf;
}

int daemon_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res)
{
	size_t sbytes = spec->count * sizeof(uint64_t);
	struct harness h;
	struct dp_run r;
	int rc = -1;

	if (o->ncores < 2 || o->cores[0] == o->cores[1]) {
		fprintf(stderr, "shmbus-bench: pingpong needs two different cores (--cores A,B)\n");
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.warmup = spec->warmup;
	r.count = spec->count;
	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	if (daemon_pair_create(o, spec->size, &r.pair) < 0)
		goto out;
	if (harness_init(&h, 2, o->seccomp) < 0)
		goto out;
	h.selftest = o->selftest;
	h.rt_prio = o->rt ? BENCH_RT_PRIO : 0;
	if (harness_spawn(&h, "daemon-pong", o->cores[1], dp_pong, &r) == 0 &&
	    harness_spawn(&h, "daemon-ping", o->cores[0], dp_ping, &r) == 0)
		rc = harness_wait(&h, bench_timeout(o, spec->count + spec->warmup, 5000.0 + spec->size * 10.0));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), "pingpong-daemon");
		uint64_t ot = r.out->open_ticks[0] > r.out->open_ticks[1] ? r.out->open_ticks[0] : r.out->open_ticks[1];

		res->open_us = clock_ticks_to_ns(ot) / 1000.0;
		latency_finish(o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	if (!o->keep_topics)
		daemon_pair_remove(&r.pair);
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
