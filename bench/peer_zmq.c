/*
 * peer_zmq.c - the ZeroMQ peer of compare: PAIR sockets over ipc://,
 * ping-pong between two pinned processes with the same payload size,
 * payload_write/payload_read and clock as the shmbus subjects.
 *
 * "ping" binds, "pong" connects; ping writes the payload into its buffer,
 * zmq_send()s it (ZeroMQ copies it), then zmq_recv()s the reply into the
 * same buffer and reads every byte; pong does the mirror image.  ZeroMQ
 * makes system calls on every message by design (its I/O thread and the
 * UNIX socket), so these processes do not enter the seccomp sandbox.  Each
 * process's context, and so its I/O thread, is created after the process
 * is pinned and inherits its core.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "clock.h"
#include "payload.h"
#include "scenario.h"

struct zp_shared {
	uint64_t acc[2];
	uint64_t t_begin;
	uint64_t t_end;
};

struct zp_run {
	char endpoint[128];
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	uint64_t *samples;       /* MAP_SHARED */
	struct zp_shared *out;   /* MAP_SHARED */
};

struct zp_side {
	void *ctx;
	void *sock;
	unsigned char *buf;
};

bool zmq_available(void)
{
	return true;
}

static int zfail(struct worker *w, const char *what, uint64_t c)
{
	return worker_fail(w, "zeromq %s %llu: %s", what, (unsigned long long)c, zmq_strerror(zmq_errno()));
}

static int side_open(struct worker *w, const struct zp_run *r, struct zp_side *s, bool bind)
{
	int rc;

	s->buf = calloc(1, r->size ? r->size : 1);
	s->ctx = zmq_ctx_new();
	if (!s->buf || !s->ctx)
		return worker_fail(w, "zeromq context: %s", strerror(errno));
	s->sock = zmq_socket(s->ctx, ZMQ_PAIR);
	if (!s->sock)
		return zfail(w, "socket", 0);
	rc = bind ? zmq_bind(s->sock, r->endpoint) : zmq_connect(s->sock, r->endpoint);
	if (rc != 0)
		return worker_fail(w, "zeromq %s %s: %s", bind ? "bind" : "connect", r->endpoint,
				   zmq_strerror(zmq_errno()));
	return 0;
}

static void side_close(struct zp_side *s)
{
	int linger = 0;

	if (s->sock) {
		zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s->sock);
	}
	if (s->ctx)
		zmq_ctx_term(s->ctx);
	free(s->buf);
}

static inline int send_one(struct zp_side *s, uint32_t size, uint64_t c)
{
	payload_write(s->buf, size, c);
	return zmq_send(s->sock, s->buf, size, 0) == (int)size ? 0 : -1;
}

static inline int recv_one(struct zp_side *s, uint32_t size, uint64_t *acc, uint64_t *seq)
{
	int n = zmq_recv(s->sock, s->buf, size, 0);

	if (n != (int)size)
		return -1;
	*acc += payload_read(s->buf, size, seq);
	return 0;
}

static int ping_loop(struct worker *w, struct zp_side *s, const struct zp_run *r, uint64_t first, uint64_t n,
		     uint64_t *samples, uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0, t0, t1;
		int rc;

		t0 = clock_start();
		rc = send_one(s, r->size, c);
		if (rc == 0)
			rc = recv_one(s, r->size, acc, &seq);
		t1 = clock_end();
		if (rc < 0)
			return zfail(w, "round trip", c);
		if (r->size >= 8 && seq != c)
			return worker_fail(w, "zeromq round trip %llu: got seq %llu", (unsigned long long)c,
					   (unsigned long long)seq);
		if (samples)
			samples[k] = t1 - t0;
	}
	return 0;
}

static int pong_loop(struct worker *w, struct zp_side *s, const struct zp_run *r, uint64_t first, uint64_t n,
		     uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, seq = 0;

		if (recv_one(s, r->size, acc, &seq) < 0)
			return zfail(w, "message", c);
		if (r->size >= 8 && seq != c)
			return worker_fail(w, "zeromq message %llu: got seq %llu", (unsigned long long)c,
					   (unsigned long long)seq);
		if (send_one(s, r->size, c) < 0)
			return zfail(w, "reply", c);
	}
	return 0;
}

static int zp_ping(struct worker *w, void *arg)
{
	const struct zp_run *r = arg;
	struct zp_side s = { 0 };
	uint64_t acc = 0, t0, t1;
	int rc = side_open(w, r, &s, true);

	worker_barrier(w, 0); /* bound before pong connects */
	if (rc == 0)
		rc = ping_loop(w, &s, r, 1, r->warmup, NULL, &acc);
	worker_barrier(w, 1);
	if (rc == 0) {
		worker_measure_begins(w);
		t0 = clock_start();
		rc = ping_loop(w, &s, r, r->warmup + 1, r->count, r->samples, &acc);
		t1 = clock_end();
		r->out->acc[0] = acc;
		r->out->t_begin = t0;
		r->out->t_end = t1;
	}
	side_close(&s);
	return rc;
}

static int zp_pong(struct worker *w, void *arg)
{
	const struct zp_run *r = arg;
	struct zp_side s = { 0 };
	uint64_t acc = 0;
	int rc;

	worker_barrier(w, 0);
	rc = side_open(w, r, &s, false);
	if (rc == 0)
		rc = pong_loop(w, &s, r, 1, r->warmup, &acc);
	worker_barrier(w, 1);
	if (rc == 0) {
		worker_measure_begins(w);
		rc = pong_loop(w, &s, r, r->warmup + 1, r->count, &acc);
		r->out->acc[1] = acc;
	}
	side_close(&s);
	return rc;
}

int zmq_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res)
{
	static unsigned serial;
	size_t sbytes = spec->count * sizeof(uint64_t);
	struct harness h;
	struct zp_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	snprintf(r.endpoint, sizeof(r.endpoint), "ipc:///tmp/sbbench-zmq-%ld-%u.ipc", (long)getpid(), serial++);
	r.size = spec->size;
	r.warmup = spec->warmup;
	r.count = spec->count;
	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	/* No sandbox: ZeroMQ makes system calls on every message. */
	if (harness_init(&h, 2, false) < 0)
		goto out;
	/* Never SCHED_FIFO, even with --rt: the peer's own helper threads
	 * (ZeroMQ's I/O thread, iceoryx's keep-alive) share the spinning
	 * process's core and would starve behind it: the run would hang. */
	h.rt_prio = 0;
	if (harness_spawn(&h, "zeromq-ping", o->cores[0], zp_ping, &r) == 0 &&
	    harness_spawn(&h, "zeromq-pong", o->cores[1], zp_pong, &r) == 0)
		rc = harness_wait(&h, bench_timeout(o, spec->count + spec->warmup, 100000.0 + spec->size * 10.0));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), "zeromq");
		latency_finish(o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	unlink(r.endpoint + strlen("ipc://"));
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
