/*
 * peer_iceoryx_tp.c - one-way throughput of iceoryx for compare: one
 * publisher process streams records of size bytes to one subscriber
 * process, lossless (the publisher waits for a slow consumer, the
 * subscriber's full queue blocks the producer), the same way shmbus's
 * throughput-single scenario streams through a tethered subscriber.
 *
 * The publisher loans, writes (payload_write: sequence first) and
 * publishes each record; the subscriber busy-polls take_chunk, reads every
 * byte, checks the sequence and releases the chunk.  The rate is count
 * over the subscriber's time from the first to the last measured record.
 * RouDi must be running (iceoryx_available() starts it).  Not sandboxed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>

#include "clock.h"
#include "payload.h"
#include "scenario.h"

struct it_shared {
	uint64_t acc;
	uint64_t t_begin;
	uint64_t t_end;
};

struct it_run {
	char name_pub[64], name_sub[64];
	uint32_t size;
	uint64_t warmup;
	uint64_t count;
	struct it_shared *out;   /* MAP_SHARED */
};

_Noreturn static void finish(int rc)
{
	iox_runtime_shutdown();
	fflush(NULL);
	exit(rc); /* runs iceoryx's destructors: unregisters from RouDi */
}

static int it_pub(struct worker *w, void *arg)
{
	const struct it_run *r = arg;
	iox_pub_storage_t storage;
	iox_pub_options_t po;
	iox_pub_t pub;
	uint64_t total = r->warmup + r->count;
	int rc = 0;

	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(r->name_pub);
	iox_pub_options_init(&po);
	po.historyCapacity = 0;
	po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	pub = iox_pub_init(&storage, "shmbus-bench", "stream", "records", &po);
	for (long ms = 0; pub && !iox_pub_has_subscribers(pub); ms++) {
		if (ms > 20000) {
			rc = worker_fail(w, "iceoryx stream: no subscriber after 20 s");
			break;
		}
		clock_sleep_ms(1);
	}
	worker_barrier(w, 0);
	for (uint64_t c = 1; rc == 0 && pub && c <= total; c++) {
		void *p;

		while (iox_pub_loan_chunk(pub, &p, r->size) != AllocationResult_SUCCESS)
			payload_spin_hint(); /* every chunk in flight: wait for the subscriber */
		payload_write(p, r->size, c);
		iox_pub_publish_chunk(pub, p);
	}
	if (!pub)
		rc = worker_fail(w, "iceoryx stream: cannot create the publisher");
	worker_barrier(w, 1); /* the subscriber has everything: then deinit */
	if (pub)
		iox_pub_deinit(pub);
	finish(rc);
}

static int it_sub(struct worker *w, void *arg)
{
	const struct it_run *r = arg;
	iox_sub_storage_t storage;
	iox_sub_options_t so;
	iox_sub_t sub;
	uint64_t total = r->warmup + r->count, acc = 0;
	int rc = 0;

	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(r->name_sub);
	iox_sub_options_init(&so);
	so.queueCapacity = 256;
	so.historyRequest = 0;
	so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	sub = iox_sub_init(&storage, "shmbus-bench", "stream", "records", &so);
	for (long ms = 0; sub && iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED; ms++) {
		if (ms > 20000) {
			rc = worker_fail(w, "iceoryx stream: no subscription after 20 s");
			break;
		}
		clock_sleep_ms(1);
	}
	if (!sub)
		rc = worker_fail(w, "iceoryx stream: cannot create the subscriber");
	worker_barrier(w, 0);
	for (uint64_t c = 1; rc == 0 && c <= total; c++) {
		const void *p;
		uint64_t seq = 0;
		enum iox_ChunkReceiveResult res;

		while ((res = iox_sub_take_chunk(sub, &p)) == ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			payload_spin_hint();
		if (res != ChunkReceiveResult_SUCCESS) {
			rc = worker_fail(w, "iceoryx stream: take %llu failed", (unsigned long long)c);
			break;
		}
		acc += payload_read(p, r->size, &seq);
		iox_sub_release_chunk(sub, p);
		if (seq != c) {
			rc = worker_fail(w, "iceoryx stream: record %llu has seq %llu", (unsigned long long)c,
					 (unsigned long long)seq);
			break;
		}
		if (c == r->warmup + 1)
			r->out->t_begin = clock_start();
	}
	r->out->t_end = clock_end();
	r->out->acc = acc;
	worker_barrier(w, 1);
	if (sub)
		iox_sub_deinit(sub);
	finish(rc);
}

int iceoryx_stream(const struct bench_opts *o, uint32_t size, uint64_t count, double *msgs_per_s)
{
	static unsigned serial;
	struct harness h;
	struct it_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	snprintf(r.name_pub, sizeof(r.name_pub), "sbbench-tpub-%ld-%u", (long)getpid(), serial);
	snprintf(r.name_sub, sizeof(r.name_sub), "sbbench-tsub-%ld-%u", (long)getpid(), serial++);
	r.size = size < 8 ? 8 : size;
	r.warmup = o->warmup;
	r.count = count;
	r.out = shared_alloc(sizeof(*r.out));
	if (!r.out) {
		fprintf(stderr, "shmbus-bench: cannot map shared memory: %s\n", strerror(errno));
		return -1;
	}
	if (harness_init(&h, 2, false) == 0) {
		/* Never SCHED_FIFO, even with --rt: the peer's own helper threads
		 * (ZeroMQ's I/O thread, iceoryx's keep-alive) share the spinning
		 * process's core and would starve behind it: the run would hang. */
		h.rt_prio = 0;
		if (harness_spawn(&h, "iceoryx-sub", o->cores[1], it_sub, &r) == 0 &&
		    harness_spawn(&h, "iceoryx-pub", o->cores[0], it_pub, &r) == 0)
			rc = harness_wait(&h, 60.0 + bench_timeout(o, count + o->warmup, 10000.0));
		harness_fini(&h);
	}
	if (rc == 0) {
		double ns = clock_ticks_to_ns(r.out->t_end - r.out->t_begin);

		*msgs_per_s = ns > 0 ? (double)count / (ns * 1e-9) : 0;
	}
	shared_free(r.out, sizeof(*r.out));
	return rc;
}
