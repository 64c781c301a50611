/*
 * crosshost_udp.c - the kernel UDP baselines of crosshost: what a user gets
 * from plain sockets on the same pair of hosts (namespaces, interfaces) the
 * bridge runs on.
 *
 * Ping-pong: one process in A (169.254.77.1) and one in B (.2), each pinned
 * to its --cores core, connected UDP sockets, 64-byte (--size) datagrams
 * carrying the payload of every scenario.  Both sides block in recv(): the
 * way a UDP application is normally written, and the one that leaves the
 * core to whoever else needs it on a 2-core machine.  The ping side times
 * send + recv with the TSC, as every scenario does.
 *
 * Stream: A sends count datagrams as fast as blocking send() goes, B
 * receives; the rate is datagrams received per second at B, from the first
 * to the last (a datagram the socket buffer could not take is lost, not
 * counted, and reported).  B's receive buffer is raised to 32 MiB so that
 * the rate is the receiver's, not an artefact of a small buffer.  A ends the
 * stream with end-marker datagrams; B also stops after 500 ms of silence.
 *
 * These processes make system calls by design and run without the seccomp
 * sandbox.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "crosshost.h"
#include "payload.h"

#define UDP_END_MARK    UINT64_MAX
#define UDP_END_FRAMES  20
#define UDP_RCVBUF      (32 << 20)
#define UDP_MAX         1472

struct udp_shared {
	uint64_t t_begin, t_end;   /* ping-pong span; stream: first and last receipt */
	uint64_t acc;
	uint64_t received;
	uint64_t missing;          /* stream: sequence numbers never seen */
};

struct udp_run {
	const struct xh_env *e;
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	uint16_t port;
	uint64_t *samples;         /* ping-pong: count entries, MAP_SHARED */
	struct udp_shared *out;    /* MAP_SHARED */
};

/* A UDP socket in namespace ns bound to self:port, connected to peer:port,
 * in *fd.  Returns 0 or WORKER_EXIT_FAIL with a message. */
static int udp_open(struct worker *w, const char *ns, const char *self, const char *peer, uint16_t port,
		    int rcvbuf, int timeout_ms, int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int rc = netns_enter(ns);

	if (rc < 0)
		return worker_fail(w, "enter namespace %s: %s", ns, strerror(-rc));
	*fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return worker_fail(w, "socket: %s", strerror(errno));
	if (rcvbuf)
		setsockopt(*fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, self, &a.sin_addr);
	if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return worker_fail(w, "bind %s:%u: %s", self, port, strerror(errno));
	inet_pton(AF_INET, peer, &a.sin_addr);
	if (connect(*fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return worker_fail(w, "connect %s:%u: %s", peer, port, strerror(errno));
	return 0;
}

/* One datagram of r->size bytes carrying c. */
static int udp_send(int fd, unsigned char *buf, uint32_t size, uint64_t c)
{
	payload_write(buf, size, c);
	return send(fd, buf, size, 0) == (ssize_t)size ? 0 : -errno;
}

/* Receive the datagram carrying c (earlier ones are duplicates of a
 * resend: none are made, so anything else is an error). */
static int udp_recv(int fd, unsigned char *buf, uint32_t size, uint64_t c, uint64_t *acc)
{
	uint64_t seq;
	ssize_t n = recv(fd, buf, UDP_MAX, 0);

	if (n < 0)
		return -errno;
	if ((uint32_t)n != size)
		return -EBADMSG;
	*acc += payload_read(buf, size, &seq);
	return size < 8 || seq == c ? 0 : -EBADMSG;
}

static int pp_loop(struct worker *w, int fd, const struct udp_run *r, bool ping, uint64_t first, uint64_t n,
		   uint64_t *samples, uint64_t *acc)
{
	unsigned char buf[UDP_MAX];

	for (uint64_t k = 0; k < n; k++) {
		uint64_t c = first + k, t0 = 0, t1;
		int rc;

		if (ping) {
			t0 = clock_start();
			rc = udp_send(fd, buf, r->size, c);
			if (rc == 0)
				rc = udp_recv(fd, buf, r->size, c, acc);
			t1 = clock_end();
			if (samples)
				samples[k] = t1 - t0;
		} else {
			rc = udp_recv(fd, buf, r->size, c, acc);
			if (rc == 0)
				rc = udp_send(fd, buf, r->size, c);
		}
		if (rc < 0)
			return worker_fail(w, "udp %s datagram %llu: %s", ping ? "ping" : "pong", (unsigned long long)c,
					   rc == -EAGAIN ? "no answer within 2 s" : strerror(-rc));
	}
	return 0;
}

static int udp_side(struct worker *w, const struct udp_run *r, bool ping)
{
	const struct netns_pair *net = &r->e->net;
	uint64_t acc = 0, t0, t1;
	int fd, rc = ping ? udp_open(w, net->ns[0], NETNS_IP_A, NETNS_IP_B, r->port, 0, 2000, &fd)
			  : udp_open(w, net->ns[1], NETNS_IP_B, NETNS_IP_A, r->port, 0, 2000, &fd);

	if (rc)
		return rc;
	worker_barrier(w, 0); /* both bound before the first datagram */
	rc = pp_loop(w, fd, r, ping, 1, r->warmup, NULL, &acc);
	if (rc == 0)
		rc = worker_enter_measured(w, 1);
	if (rc)
		return rc;
	t0 = clock_start();
	rc = pp_loop(w, fd, r, ping, r->warmup + 1, r->count, ping ? r->samples : NULL, &acc);
	t1 = clock_end();
	if (rc)
		return rc;
	if (ping) {
		r->out->t_begin = t0;
		r->out->t_end = t1;
	}
	r->out->acc += acc;
	close(fd);
	return 0;
}

static int udp_ping(struct worker *w, void *arg)
{
	return udp_side(w, arg, true);
}

static int udp_pong(struct worker *w, void *arg)
{
	return udp_side(w, arg, false);
}

int xh_udp_pingpong(const struct xh_env *e, const struct run_spec *spec, struct bench_result *res)
{
	size_t sbytes = spec->count * sizeof(uint64_t);
	const char *roles[2] = { "udp-ping", "udp-pong" };
	worker_fn fns[2] = { udp_ping, udp_pong };
	struct udp_run r = {
		.e = e, .size = spec->size, .warmup = spec->warmup, .count = spec->count, .port = NETNS_UDP_PORT,
	};
	int rc = -1;

	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	rc = xh_run_pair(e, roles, fns, &r, bench_timeout(e->o, spec->count + spec->warmup, 200000.0), res);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), "crosshost-udp");
		latency_finish(e->o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}

static int stream_send(struct worker *w, void *arg)
{
	const struct udp_run *r = arg;
	unsigned char buf[UDP_MAX];
	int fd, rc = udp_open(w, r->e->net.ns[0], NETNS_IP_A, NETNS_IP_B, r->port, 0, 2000, &fd);

	if (rc)
		return rc;
	worker_barrier(w, 0);
	for (uint64_t c = 0; c < r->count; c++) {
		payload_write(buf, r->size, c);
		/* ENOBUFS: the device queue was full; that datagram is lost,
		 * as it would be for any UDP sender, and counted at B. */
		if (send(fd, buf, r->size, 0) < 0 && errno != ENOBUFS)
			return worker_fail(w, "udp stream send %llu: %s", (unsigned long long)c, strerror(errno));
	}
	for (int i = 0; i < UDP_END_FRAMES; i++) {
		clock_sleep_ms(2);
		payload_write(buf, r->size, UDP_END_MARK);
		if (send(fd, buf, r->size, 0) < 0 && errno != ENOBUFS)
			break;
	}
	close(fd);
	return 0;
}

static int stream_recv(struct worker *w, void *arg)
{
	const struct udp_run *r = arg;
	unsigned char buf[UDP_MAX];
	uint64_t n = 0, next = 0, missing = 0, acc = 0, t_first = 0, t_last = 0;
	int fd, rc = udp_open(w, r->e->net.ns[1], NETNS_IP_B, NETNS_IP_A, r->port, UDP_RCVBUF, 500, &fd);

	if (rc)
		return rc;
	worker_barrier(w, 0);
	for (;;) {
		ssize_t len = recv(fd, buf, UDP_MAX, 0);
		uint64_t seq;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && n > 0)
				break; /* the end markers were lost too */
			return worker_fail(w, "udp stream recv: %s", errno == EAGAIN ? "nothing within 500 ms"
										   : strerror(errno));
		}
		acc += payload_read(buf, (uint32_t)len, &seq);
		if (seq == UDP_END_MARK)
			break;
		t_last = clock_end();
		if (n++ == 0)
			t_first = t_last;
		if (seq > next)
			missing += seq - next;
		next = seq + 1;
	}
	missing += r->count > next ? r->count - next : 0;
	r->out->t_begin = t_first;
	r->out->t_end = t_last;
	r->out->received = n;
	r->out->missing = missing;
	r->out->acc = acc;
	close(fd);
	return 0;
}

int xh_udp_stream(const struct xh_env *e, uint32_t size, uint64_t count, struct bench_result *res,
		  struct xh_stream_info *info)
{
	const char *roles[2] = { "udp-send", "udp-recv" };
	worker_fn fns[2] = { stream_send, stream_recv };
	struct udp_run r = { .e = e, .size = size < 8 ? 8 : size, .count = count, .port = NETNS_UDP_PORT + 1 };
	int rc;

	r.out = shared_alloc(sizeof(*r.out));
	if (!r.out) {
		fprintf(stderr, "shmbus-bench: cannot map shared memory: %s\n", strerror(errno));
		return -1;
	}
	rc = xh_run_pair(e, roles, fns, &r, bench_timeout(e->o, count, 20000.0), res);
	if (rc == 0 && r.out->received < 2) {
		fprintf(stderr, "shmbus-bench: udp stream: only %llu datagrams arrived\n",
			(unsigned long long)r.out->received);
		rc = -1;
	}
	if (rc == 0) {
		double s = clock_ticks_to_ns(r.out->t_end - r.out->t_begin) * 1e-9;

		snprintf(res->scenario, sizeof(res->scenario), "crosshost-udp-stream");
		res->size = r.size;
		res->count = r.out->received;
		res->has_latency = false;
		res->msgs_per_s = s > 0 ? (double)(r.out->received - 1) / s : 0;
		res->bytes_per_s = res->msgs_per_s * r.size;
		info->sent = count;
		info->received = r.out->received;
		info->gaps = r.out->missing;
	}
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
