/*
 * peer_iceoryx.c - the Eclipse iceoryx peer of compare: publisher/
 * subscriber ping-pong through the iceoryx C binding, with its RouDi
 * daemon started here and stopped at exit.
 *
 * Two events, "ping" and "pong", of the service "shmbus-bench"; each
 * process registers its own runtime (a fresh name per run), publishes on
 * one event and subscribes to the other, and waits until both links are
 * up before the warm-up.  ping loans a chunk of size bytes, fills it with
 * payload_write and publishes it (zero-copy), then busy-polls take_chunk
 * for the reply, reads every byte and releases it; pong mirrors that.
 * iceoryx makes system calls outside the data path (runtime registration,
 * its keep-alive thread) and sometimes on it, so these processes do not
 * enter the seccomp sandbox, and they end with exit() so that iceoryx's
 * destructors unregister them from RouDi.
 *
 * RouDi: iceoryx_available() starts /usr/bin/iox-roudi (or the one on
 * PATH) once, if it is installed, with process monitoring off (see
 * roudi_start), and registers an atexit handler that
 * stops it with SIGTERM and reaps it.  If it exits at once (another RouDi
 * already running, no shared memory) iceoryx is reported as unavailable.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>

#include "clock.h"
#include "payload.h"
#include "scenario.h"

#define IOX_SERVICE  "shmbus-bench"
#define IOX_INSTANCE "pingpong"
#define ROUDI_LOG    "/tmp/shmbus-bench-roudi.log"

struct ip_shared {
	uint64_t acc[2];
	uint64_t t_begin;
	uint64_t t_end;
};

struct ip_run {
	char name_ping[64], name_pong[64];
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	uint64_t *samples;       /* MAP_SHARED */
	struct ip_shared *out;   /* MAP_SHARED */
};

struct ip_side {
	iox_pub_storage_t pub_storage;
	iox_sub_storage_t sub_storage;
	iox_pub_t pub;
	iox_sub_t sub;
};

static pid_t roudi_pid;
static pid_t roudi_owner; /* forked children inherit the atexit handler */
static int roudi_state; /* 0 not tried, 1 running, -1 unavailable */

static void roudi_stop(void)
{
	if (roudi_pid > 0 && getpid() == roudi_owner) {
		kill(roudi_pid, SIGTERM);
		for (int i = 0; i < 500 && waitpid(roudi_pid, NULL, WNOHANG) == 0; i++)
			clock_sleep_ms(10);
		if (waitpid(roudi_pid, NULL, WNOHANG) == 0) {
			kill(roudi_pid, SIGKILL);
			waitpid(roudi_pid, NULL, 0);
		}
		roudi_pid = 0;
	}
}

static int roudi_start(void)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(ROUDI_LOG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		/* Monitoring off: with two vCPUs both spinning (and the host
		 * stealing time), an iceoryx runtime's keepalive thread can miss
		 * RouDi's deadline; RouDi then drops the process as dead, its
		 * ports vanish, and the other side waits for the time limit
		 * (seen on 2026-12-02: "Received Keepalive from unknown process").
		 * The data path is the same with or without it. */
		execlp("iox-roudi", "iox-roudi", "--monitoring-mode", "off", (char *)NULL);
		_exit(127);
	}
	roudi_pid = pid;
	roudi_owner = getpid();
	atexit(roudi_stop);
	clock_sleep_ms(500); /* RouDi maps its shared memory, then listens */
	if (waitpid(pid, &st, WNOHANG) == pid) {
		roudi_pid = 0;
		fprintf(stderr, "shmbus-bench: iox-roudi exited at start (another RouDi running? see %s): "
				"iceoryx skipped\n", ROUDI_LOG);
		return -1;
	}
	return 0;
}

void iceoryx_done(void)
{
	roudi_stop();
	if (roudi_state == 1)
		roudi_state = -1;
}

bool iceoryx_available(void)
{
	if (roudi_state == 0) {
		bool found = false;
		const char *path = getenv("PATH");
		char dir[512], file[600];

		while (path && *path && !found) {
			size_t n = strcspn(path, ":");

			snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
			snprintf(file, sizeof(file), "%s/iox-roudi", dir[0] ? dir : ".");
			found = access(file, X_OK) == 0;
			path += n + (path[n] == ':');
		}
		if (!found)
			fprintf(stderr, "shmbus-bench: iox-roudi not found on PATH: iceoryx skipped\n");
		roudi_state = found && roudi_start() == 0 ? 1 : -1;
	}
	return roudi_state == 1;
}

static int side_open(struct worker *w, const struct ip_run *r, struct ip_side *s, bool ping)
{
	iox_pub_options_t po;
	iox_sub_options_t so;

	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(ping ? r->name_ping : r->name_pong);
	iox_pub_options_init(&po);
	po.historyCapacity = 0;
	iox_sub_options_init(&so);
	so.queueCapacity = 16;
	so.historyRequest = 0;
	s->pub = iox_pub_init(&s->pub_storage, IOX_SERVICE, IOX_INSTANCE, ping ? "ping" : "pong", &po);
	s->sub = iox_sub_init(&s->sub_storage, IOX_SERVICE, IOX_INSTANCE, ping ? "pong" : "ping", &so);
	if (!s->pub || !s->sub)
		return worker_fail(w, "iceoryx: cannot create the publisher or subscriber");
	/* Both links up before anything is sent (no history). */
	for (long ms = 0; iox_sub_get_subscription_state(s->sub) != SubscribeState_SUBSCRIBED ||
			  !iox_pub_has_subscribers(s->pub); ms++) {
		if (ms > 20000)
			return worker_fail(w, "iceoryx: no subscription after 20 s");
		clock_sleep_ms(1);
	}
	return 0;
}

static void side_close(struct ip_side *s)
{
	if (s->sub)
		iox_sub_deinit(s->sub);
	if (s->pub)
		iox_pub_deinit(s->pub);
	iox_runtime_shutdown();
}

static inline int send_one(struct ip_side *s, uint32_t size, uint64_t c)
{
	void *p;

	if (iox_pub_loan_chunk(s->pub, &p, size ? size : 1) != AllocationResult_SUCCESS)
		return -1;
	payload_write(p, size, c);
	iox_pub_publish_chunk(s->pub, p);
	return 0;
}

static inline int recv_one(struct ip_side *s, uint32_t size, uint64_t *acc, uint64_t *seq)
{
	const void *p;
	enum iox_ChunkReceiveResult rc;

	while ((rc = iox_sub_take_chunk(s->sub, &p)) == ChunkReceiveResult_NO_CHUNK_AVAILABLE)
		payload_spin_hint();
	if (rc != ChunkReceiveResult_SUCCESS)
		return -1;
	*acc += payload_read(p, size, seq);
	iox_sub_release_chunk(s->sub, p);
	return 0;
}

static int trip(struct worker *w, struct ip_side *s, const struct ip_run *r, bool ping, uint64_t c, uint64_t *acc)
{
	uint64_t seq = 0;

	if (ping && send_one(s, r->size, c) < 0)
		return worker_fail(w, "iceoryx: loan %llu failed", (unsigned long long)c);
	if (recv_one(s, r->size, acc, &seq) < 0)
		return worker_fail(w, "iceoryx: take %llu failed", (unsigned long long)c);
	if (r->size >= 8 && seq != c)
		return worker_fail(w, "iceoryx: message %llu: got seq %llu", (unsigned long long)c,
				   (unsigned long long)seq);
	if (!ping && send_one(s, r->size, c) < 0)
		return worker_fail(w, "iceoryx: reply loan %llu failed", (unsigned long long)c);
	return 0;
}

static int loop(struct worker *w, struct ip_side *s, const struct ip_run *r, bool ping, uint64_t first, uint64_t n,
		uint64_t *samples, uint64_t *acc)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t t0 = clock_start(), t1;
		int rc = trip(w, s, r, ping, first + k, acc);

		t1 = clock_end();
		if (rc)
			return rc;
		if (samples)
			samples[k] = t1 - t0;
	}
	return 0;
}

_Noreturn static void ip_side_main(struct worker *w, const struct ip_run *r, bool ping)
{
	struct ip_side s;
	uint64_t acc = 0, t0 = 0, t1 = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = side_open(w, r, &s, ping);
	worker_barrier(w, 0);
	if (rc == 0)
		rc = loop(w, &s, r, ping, 1, r->warmup, NULL, &acc);
	worker_barrier(w, 1);
	if (rc == 0) {
		worker_measure_begins(w);
		t0 = clock_start();
		rc = loop(w, &s, r, ping, r->warmup + 1, r->count, ping ? r->samples : NULL, &acc);
		t1 = clock_end();
	}
	r->out->acc[ping ? 0 : 1] = acc;
	if (ping) {
		r->out->t_begin = t0;
		r->out->t_end = t1;
	}
	side_close(&s);
	/* exit(), not a return to the harness's exit_group: the runtime's
	 * static destructor tells RouDi that this process is gone (RouDi
	 * asserts at its own shutdown on processes it still knows). */
	fflush(NULL);
	exit(rc);
}

static int ip_ping(struct worker *w, void *arg)
{
	ip_side_main(w, arg, true);
}

static int ip_pong(struct worker *w, void *arg)
{
	ip_side_main(w, arg, false);
}

int iceoryx_run(const struct bench_opts *o, const struct run_spec *spec, struct bench_result *res)
{
	static unsigned serial;
	size_t sbytes = spec->count * sizeof(uint64_t);
	struct harness h;
	struct ip_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	snprintf(r.name_ping, sizeof(r.name_ping), "sbbench-ping-%ld-%u", (long)getpid(), serial);
	snprintf(r.name_pong, sizeof(r.name_pong), "sbbench-pong-%ld-%u", (long)getpid(), serial++);
	r.size = spec->size;
	r.warmup = spec->warmup;
	r.count = spec->count;
	r.samples = shared_alloc(sbytes);
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.samples || !r.out) {
		fprintf(stderr, "shmbus-bench: cannot map %zu bytes of shared memory: %s\n", sbytes, strerror(errno));
		goto out;
	}
	/* No sandbox: iceoryx makes system calls (see above). */
	if (harness_init(&h, 2, false) < 0)
		goto out;
	/* Never SCHED_FIFO, even with --rt: the peer's own helper threads
	 * (ZeroMQ's I/O thread, iceoryx's keep-alive) share the spinning
	 * process's core and would starve behind it: the run would hang. */
	h.rt_prio = 0;
	if (harness_spawn(&h, "iceoryx-pong", o->cores[1], ip_pong, &r) == 0 &&
	    harness_spawn(&h, "iceoryx-ping", o->cores[0], ip_ping, &r) == 0)
		rc = harness_wait(&h, 60.0 + bench_timeout(o, spec->count + spec->warmup, 100000.0 + spec->size * 10.0));
	res->dist = harness_disturbance(&h);
	harness_fini(&h);
	if (rc == 0) {
		snprintf(res->scenario, sizeof(res->scenario), "iceoryx");
		latency_finish(o, spec, r.samples, r.out->t_end - r.out->t_begin, res);
	}
out:
	shared_free(r.samples, sbytes);
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
