/*
 * test_ring_stress.c - publishers and subscribers hammering one small ring,
 * as threads and as processes.
 *
 * The ring is 64 KiB with records of 24..1000 bytes, so wrap-around,
 * padding, back-pressure and lapping happen all the time.  Every record
 * carries {publisher, per-publisher sequence, length, hash of the rest}.
 * Publishers mix single claims, batch claims, aborted claims and copying
 * sends.  Subscribers mix the reading styles (peek/consume, batch peek,
 * poll) and the wait strategies.
 *
 * What must hold:
 *  - every delivered record is intact (hash), sequence numbers strictly
 *    increase, per-publisher sequences strictly increase;
 *  - tethered subscribers receive every record exactly once, in order;
 *  - untethered ones account for every record exactly once: records
 *    received + the sum of view.lost = records published, with view.lost
 *    equal to the gap in sequence numbers and sb_ring_sub_lost() equal to
 *    the sum; every record they deliver is the very record a tethered
 *    subscriber saw under that sequence number.
 *
 * Exactness needs defined start and end points, which a driver provides
 * with marker records: marker 0 goes out before any publisher starts and is
 * awaited by every subscriber (so none can be lapped before its first
 * record); after the publishers finish, markers go out one at a time until
 * every subscriber has seen the latest (a subscriber lapped at the very end
 * resumes at tail and gets the next one).  All synchronisation is on state:
 * atomics in a shared page, the subscribers' cursors, waitpid.
 *
 * Some variants also run a churn thread: tethered subscribers that join
 * while the publishers run, read a stretch and leave (the join handshake).
 *
 * Records per publisher: argv[1] (meson passes the stress_records option).
 */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP         65536u
#define MAXREC      1000u
#define MAX_PUBS    4
#define MAX_SUBS    6
#define MARKER_PUB  0xffffu
#define MAX_MARKERS 32

/* The head of every payload. */
struct stress_rec {
	uint32_t pub;
	uint32_t len;    /* the whole payload */
	uint64_t pubseq;
	uint64_t hash;   /* of the bytes after this header, keyed by the above */
};
#define REC_HDR ((uint32_t)sizeof(struct stress_rec))
_Static_assert(sizeof(struct stress_rec) == 24, "record header");

enum read_style {
	READ_PEEK,       /* peek, check (or copy), consume */
	READ_BATCH,      /* peek_batch of up to 8, check (or copy), consume */
	READ_POLL,       /* poll: in place (tethered) or a checked copy */
};

struct sub_cfg {
	enum sb_ring_sub_kind kind;
	enum read_style style;
	enum sb_ring_wait_strategy wait;
};

struct sub_result {
	uint32_t slot;            /* slot index, for the driver's cursor watch */
	uint64_t received;
	uint64_t lost_sum;
	uint64_t lib_lost, lib_consumed, laps;
	uint64_t first_seq, last_seq;
	uint64_t per_pub[MAX_PUBS];
	uint64_t markers;
	uint64_t errors;
	char msg[256];
};

struct pub_result {
	uint64_t sent, backpressure, aborted, batches;
	uint64_t errors;
	char msg[256];
};

/* Lives in a MAP_SHARED page: threads and forked processes alike. */
struct stress_ctx {
	unsigned npub, nsub;
	struct sub_cfg sub[MAX_SUBS];
	enum sb_ring_pub_mode mode;
	uint64_t records;         /* per publisher */
	uint64_t log_cap;         /* entries in each log */
	char path[256];
	int fd, subs_fd;           /* the segment's two files, inherited by fork() */

	atomic_uint subs_attached;
	atomic_uint pubs_attached;
	atomic_int go;            /* publishers may start (RELEASE by driver) */
	atomic_uint pubs_done;
	atomic_int stop;          /* subscribers leave once they read empty */
	_Atomic uint64_t marker_seen[MAX_SUBS]; /* last marker pubseq + 1 */

	struct sub_result sres[MAX_SUBS];
	struct pub_result pres[MAX_PUBS];
	struct sub_result churn;  /* all the short-lived joiners together */
	uint64_t churn_joins;

	/* seq -> pub << 48 | pubseq, written by the first tethered subscriber;
	 * (seq, packed) pairs written by each untethered one.  MAP_SHARED. */
	uint64_t *seq_map;
	unsigned map_writer;      /* the tethered subscriber that fills seq_map */
	uint64_t *unt_log[MAX_SUBS];

	/* threads only: the exclusive publisher handed from driver to worker */
	struct sb_ring_pub *handover;
	const struct sb_seg *thread_seg;
};

static uint64_t packed(uint32_t pub, uint64_t pubseq)
{
	return (uint64_t)pub << 48 | pubseq;
}

static uint64_t rec_key(uint32_t pub, uint32_t len, uint64_t pubseq)
{
	return (uint64_t)pub << 40 ^ (uint64_t)len << 20 ^ pubseq * UINT64_C(0x9e3779b97f4a7c15);
}

/* Write a complete record into payload p. */
static void fill_rec(void *p, uint32_t pub, uint32_t len, uint64_t pubseq)
{
	struct stress_rec h = { .pub = pub, .len = len, .pubseq = pubseq };
	uint8_t *b = p;

	tu_fill(b + REC_HDR, len - REC_HDR, rec_key(pub, len, pubseq));
	h.hash = tu_hash(b + REC_HDR, len - REC_HDR, rec_key(pub, len, pubseq));
	memcpy(b, &h, REC_HDR);
}

static void vfail(char *msg, uint64_t *errors, const char *fmt, va_list ap)
{
	if ((*errors)++ == 0)
		vsnprintf(msg, 256, fmt, ap);
}

__attribute__((format(printf, 2, 3)))
static void sub_error(struct sub_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(r->msg, &r->errors, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void pub_error(struct pub_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(r->msg, &r->errors, fmt, ap);
	va_end(ap);
}

/* Spin politely: the test runs more spinning threads than there are cores. */
static void relax(unsigned *spins)
{
	sb_cpu_relax();
	if ((++*spins & 63) == 0)
		sched_yield();
}

/* ----------------------------------------------------------- publishers */

static int claim_retry(struct sb_ring_pub *pub, struct pub_result *r, const uint32_t *lens, unsigned n,
		       void **p)
{
	unsigned spins = 0;

	for (;;) {
		int rc = sb_ring_claim_batch(pub, lens, n, p);

		if (rc != SB_EBACKPRESSURE)
			return rc;
		r->backpressure++;
		relax(&spins);
	}
}

static uint32_t rand_len(uint64_t *rng)
{
	uint64_t x = tu_rand(rng);

	switch (x & 15) {
	case 0: return REC_HDR;
	case 1: return MAXREC;
	default: return REC_HDR + (uint32_t)((x >> 8) % (MAXREC - REC_HDR + 1));
	}
}

static void publish_all(struct stress_ctx *ctx, struct sb_ring_pub *pub, uint32_t id)
{
	struct pub_result *r = &ctx->pres[id];
	uint64_t rng = 0x1234567 + id * 7919, pubseq = 0;
	static _Thread_local uint8_t buf[MAXREC];

	while (pubseq < ctx->records) {
		uint64_t op = tu_rand(&rng) % 100;
		uint32_t lens[8];
		void *p[8];
		unsigned n = 1;
		int rc;

		if (op < 10) { /* batch of 2..8 */
			n = 2 + (unsigned)(tu_rand(&rng) % 7);
			if (n > ctx->records - pubseq)
				n = (unsigned)(ctx->records - pubseq);
		}
		for (unsigned i = 0; i < n; i++)
			lens[i] = rand_len(&rng);
		if (op >= 90 && n == 1) { /* copying send */
			unsigned spins = 0;

			fill_rec(buf, id, lens[0], pubseq);
			while ((rc = sb_ring_send(pub, buf, lens[0])) == SB_EBACKPRESSURE) {
				r->backpressure++;
				relax(&spins);
			}
			if (rc != SB_OK) {
				pub_error(r, "publisher %u: send returned %d (%s)", id, rc, sb_strerror(rc));
				return;
			}
			pubseq++;
			r->sent++;
			continue;
		}
		rc = claim_retry(pub, r, lens, n, p);
		if (rc != SB_OK) {
			pub_error(r, "publisher %u: claim of %u returned %d (%s)", id, n, rc, sb_strerror(rc));
			return;
		}
		if (op >= 85 && op < 90) { /* scribble, then abort: never seen */
			for (unsigned i = 0; i < n; i++)
				memset(p[i], 0xa5, lens[i]);
			rc = sb_ring_abort(pub);
			r->aborted += n;
		} else {
			for (unsigned i = 0; i < n; i++)
				fill_rec(p[i], id, lens[i], pubseq + i);
			rc = sb_ring_commit(pub);
			pubseq += n;
			r->sent += n;
			r->batches += n > 1;
		}
		if (rc != SB_OK) {
			pub_error(r, "publisher %u: commit/abort returned %d (%s)", id, rc, sb_strerror(rc));
			return;
		}
	}
}

static void wait_for_go(struct stress_ctx *ctx)
{
	unsigned spins = 0;

	/* ACQUIRE pairs with the driver's RELEASE of go (and, for the handed-over
	 * exclusive publisher, with everything the driver did with it). */
	while (atomic_load_explicit(&ctx->go, memory_order_acquire) == 0)
		relax(&spins);
}

/* A publisher with its own mapping and attachment (shared mode). */
static void pub_worker(struct stress_ctx *ctx, uint32_t id, bool own_mapping)
{
	struct pub_result *r = &ctx->pres[id];
	struct sb_seg seg;
	struct sb_ring_pub pub;
	int rc;

	if (ctx->handover) { /* the exclusive publisher the driver attached */
		atomic_fetch_add(&ctx->pubs_attached, 1);
		wait_for_go(ctx);
		publish_all(ctx, ctx->handover, id);
		atomic_fetch_add_explicit(&ctx->pubs_done, 1, memory_order_release);
		return;
	}
	if (own_mapping) {
		rc = sb_seg_open_path(ctx->path, SB_SEG_PUBLISHER, &seg);
		if (rc != SB_OK) {
			pub_error(r, "publisher %u: open %s: %s", id, ctx->path, sb_last_error());
			atomic_fetch_add(&ctx->pubs_attached, 1);
			atomic_fetch_add(&ctx->pubs_done, 1);
			return;
		}
	}
	rc = sb_ring_pub_attach(&pub, own_mapping ? &seg : ctx->thread_seg, ctx->mode);
	atomic_fetch_add(&ctx->pubs_attached, 1);
	if (rc != SB_OK) {
		pub_error(r, "publisher %u: attach: %d (%s)", id, rc, sb_last_error());
	} else {
		wait_for_go(ctx);
		publish_all(ctx, &pub, id);
		sb_ring_pub_detach(&pub);
	}
	if (own_mapping)
		sb_seg_close(&seg);
	/* RELEASE: our records are committed before the driver sees us done. */
	atomic_fetch_add_explicit(&ctx->pubs_done, 1, memory_order_release);
}

/* ---------------------------------------------------------- subscribers */

struct sub_state {
	struct stress_ctx *ctx;
	unsigned idx;
	struct sub_result *r;
	bool tethered;
	bool have_seq;
	uint64_t last_seq;
	uint64_t last_pubseq[MAX_PUBS];
	bool have_pubseq[MAX_PUBS];
	uint64_t log_n;
	uint8_t copy[8][MAXREC];
};

/* Check one record that is known intact-or-torn-by-bug and account for it. */
static void deliver(struct sub_state *s, const struct sb_ring_view *v, const void *data)
{
	struct sub_result *r = s->r;
	struct stress_rec h;
	const uint8_t *b = data;

	if (v->len < REC_HDR || v->len > MAXREC) {
		sub_error(r, "sub %u: seq %llu has impossible length %u", s->idx, (unsigned long long)v->seq, v->len);
		return;
	}
	memcpy(&h, b, REC_HDR);
	if (h.len != v->len ||
	    h.hash != tu_hash(b + REC_HDR, v->len - REC_HDR, rec_key(h.pub, h.len, h.pubseq))) {
		sub_error(r, "sub %u: seq %llu torn or damaged (len %u/%u, pub %u, pubseq %llu)", s->idx,
			  (unsigned long long)v->seq, v->len, h.len, h.pub, (unsigned long long)h.pubseq);
		return;
	}
	if (s->have_seq) {
		if (v->seq <= s->last_seq)
			sub_error(r, "sub %u: seq %llu after %llu", s->idx, (unsigned long long)v->seq,
				  (unsigned long long)s->last_seq);
		else if (v->lost != v->seq - s->last_seq - 1)
			sub_error(r, "sub %u: seq %llu after %llu reports lost %llu", s->idx,
				  (unsigned long long)v->seq, (unsigned long long)s->last_seq,
				  (unsigned long long)v->lost);
	} else {
		r->first_seq = v->seq;
		if (v->lost != 0)
			sub_error(r, "sub %u: first record reports lost %llu", s->idx, (unsigned long long)v->lost);
	}
	if (s->tethered && v->lost != 0)
		sub_error(r, "sub %u (tethered): lost %llu before seq %llu", s->idx, (unsigned long long)v->lost,
			  (unsigned long long)v->seq);
	s->have_seq = true;
	s->last_seq = v->seq;
	r->last_seq = v->seq;
	r->received++;
	r->lost_sum += v->lost;

	if (h.pub == MARKER_PUB) {
		r->markers++;
		if (s->idx >= MAX_SUBS)
			return; /* a churn joiner: not part of the marker protocol */
		/* RELEASE: the driver reads it after seeing our cursor. */
		atomic_store_explicit(&s->ctx->marker_seen[s->idx], h.pubseq + 1, memory_order_release);
	} else if (h.pub < s->ctx->npub) {
		bool have = s->have_pubseq[h.pub];
		uint64_t last = s->last_pubseq[h.pub];

		if (have && h.pubseq <= last)
			sub_error(r, "sub %u: publisher %u pubseq %llu after %llu", s->idx, h.pub,
				  (unsigned long long)h.pubseq, (unsigned long long)last);
		else if (s->tethered && have && h.pubseq != last + 1)
			sub_error(r, "sub %u (tethered): publisher %u pubseq %llu, expected %llu", s->idx, h.pub,
				  (unsigned long long)h.pubseq, (unsigned long long)(last + 1));
		s->have_pubseq[h.pub] = true;
		s->last_pubseq[h.pub] = h.pubseq;
		r->per_pub[h.pub]++;
	} else {
		sub_error(r, "sub %u: seq %llu from unknown publisher %u", s->idx, (unsigned long long)v->seq, h.pub);
		return;
	}
	if (s->tethered) {
		if (s->idx == s->ctx->map_writer && v->seq < s->ctx->log_cap)
			s->ctx->seq_map[v->seq] = packed(h.pub, h.pubseq);
	} else if (s->idx < MAX_SUBS && s->log_n < s->ctx->log_cap) {
		s->ctx->unt_log[s->idx][2 * s->log_n] = v->seq;
		s->ctx->unt_log[s->idx][2 * s->log_n + 1] = packed(h.pub, h.pubseq);
		s->log_n++;
	}
}

/*
 * The untethered reads: seqlock-style reads of bytes a publisher may be
 * overwriting at that very moment.  What they read is used only after
 * sb_ring_consume() (or sb_ring_poll()) has confirmed it was not
 * overwritten.  These are data races by design, so they are kept in their
 * own functions, which tests/tsan.supp names: no other access is exempt.
 */
__attribute__((noinline))
static int stress_untethered_peek(struct sb_ring_sub *sub, struct sb_ring_view *v, unsigned max)
{
	return sb_ring_peek_batch(sub, v, max);
}

__attribute__((noinline))
static void stress_untethered_copy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

__attribute__((noinline))
static int stress_untethered_poll(struct sb_ring_sub *sub, sb_ring_handler_fn fn, void *arg, unsigned max)
{
	return sb_ring_poll(sub, fn, arg, max);
}

static void on_poll(void *arg, const struct sb_ring_view *v)
{
	struct sub_state *s = arg;

	deliver(s, v, v->data);
}

/* One read attempt; returns records delivered or a negative code. */
static int read_some(struct sub_state *s, struct sb_ring_sub *sub, enum read_style style)
{
	struct sb_ring_view v[8];
	unsigned max = style == READ_BATCH ? 8 : 1;
	int n, rc;

	if (style == READ_POLL)
		return s->tethered ? sb_ring_poll(sub, on_poll, s, 32) : stress_untethered_poll(sub, on_poll, s, 8);
	if (s->tethered) {
		n = sb_ring_peek_batch(sub, v, max);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			deliver(s, &v[i], v[i].data);
		rc = sb_ring_consume(sub);
		return rc < 0 ? rc : n;
	}
	n = stress_untethered_peek(sub, v, max);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		stress_untethered_copy(s->copy[i], v[i].data, v[i].len);
	rc = sb_ring_consume(sub);
	if (rc < 0)
		return rc; /* overwritten while read: discard the copies */
	for (int i = 0; i < n; i++)
		deliver(s, &v[i], s->copy[i]);
	return n;
}

static void sub_worker(struct stress_ctx *ctx, unsigned idx)
{
	static _Thread_local struct sub_state s;
	const struct sub_cfg *cfg = &ctx->sub[idx];
	struct sub_result *r = &ctx->sres[idx];
	struct sb_seg seg;
	struct sb_ring_sub sub;
	unsigned spins = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	s.idx = idx;
	s.r = r;
	s.tethered = cfg->kind == SB_SUB_TETHERED;
	rc = sb_seg_open_fd(ctx->fd, ctx->subs_fd, SB_SEG_SUBSCRIBER, &seg);
	if (rc == SB_OK) {
		rc = sb_ring_sub_attach(&sub, &seg, cfg->kind, SB_START_LATEST, cfg->wait);
		if (rc != SB_OK)
			sb_seg_close(&seg);
	}
	if (rc != SB_OK) {
		sub_error(r, "sub %u: open/attach: %s", idx, sb_last_error());
		r->slot = UINT32_MAX;
		atomic_fetch_add(&ctx->subs_attached, 1);
		return;
	}
	r->slot = sub.slot_idx;
	atomic_fetch_add(&ctx->subs_attached, 1);

	for (;;) {
		/* ACQUIRE pairs with the driver's RELEASE of stop, which follows
		 * the last commit: an empty read after seeing stop is final. */
		int stopping = atomic_load_explicit(&ctx->stop, memory_order_acquire);
		int n = read_some(&s, &sub, cfg->style);

		if (n > 0) {
			spins = 0;
			continue;
		}
		if (n == 0 || n == SB_EEMPTY) {
			if (stopping)
				break;
			if (cfg->wait == SB_WAIT_SPIN)
				relax(&spins);
			else
				sb_ring_wait(&sub, 1000000); /* the timeout only re-checks stop */
			continue;
		}
		if (n == SB_ELAPPED && !s.tethered)
			continue; /* resumed at tail; the next record says how many */
		sub_error(r, "sub %u: read returned %d (%s): %s", idx, n, sb_strerror(n), sb_last_error());
		if (stopping)
			break;
	}
	r->lib_lost = sb_ring_sub_lost(&sub);
	r->lib_consumed = sb_ring_sub_consumed(&sub);
	r->laps = sb_ring_sub_laps(&sub);
	sb_ring_sub_detach(&sub);
	sb_seg_close(&seg);
}

/* ---------------------------------------------------------------- churn */

/* While the publishers run, tethered subscribers keep joining (at the latest
 * record), reading a stretch and leaving.  Handshake 1 (docs/ring.md 4.2)
 * must make each one safe from its first record: every record it sees is
 * intact and the stream it sees has no gap.  Only the joiner's own records
 * are checked; it is not part of the end-of-run accounting. */
static void *churn_thread(void *arg)
{
	static struct sub_state s;
	struct stress_ctx *ctx = arg;
	struct sb_seg seg;
	int rc = sb_seg_open_fd(ctx->fd, ctx->subs_fd, SB_SEG_SUBSCRIBER, &seg);

	if (rc != SB_OK) {
		sub_error(&ctx->churn, "churn: open: %s", sb_last_error());
		return NULL;
	}
	wait_for_go(ctx);
	/* ACQUIRE pairs with the publishers' RELEASE of pubs_done. */
	while (atomic_load_explicit(&ctx->pubs_done, memory_order_acquire) < ctx->npub) {
		struct sb_ring_sub sub;
		unsigned spins = 0, got = 0;

		memset(&s, 0, sizeof(s));
		s.ctx = ctx;
		s.idx = MAX_SUBS;
		s.r = &ctx->churn;
		s.tethered = true;
		rc = sb_ring_sub_attach(&sub, &seg, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN);
		if (rc != SB_OK) {
			sub_error(&ctx->churn, "churn: attach: %s", sb_last_error());
			break;
		}
		while (got < 300) {
			int n = read_some(&s, &sub, READ_PEEK);

			if (n > 0) {
				got += (unsigned)n;
			} else if (n == SB_EEMPTY) {
				if (atomic_load_explicit(&ctx->pubs_done, memory_order_acquire) >= ctx->npub)
					break;
				relax(&spins);
			} else {
				sub_error(&ctx->churn, "churn: read returned %d (%s): %s", n, sb_strerror(n),
					  sb_last_error());
				break;
			}
		}
		sb_ring_sub_detach(&sub);
		ctx->churn_joins++;
	}
	sb_seg_close(&seg);
	return NULL;
}

/* --------------------------------------------------------------- driver */

static void *map_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void send_marker(struct sb_ring_pub *pub, uint64_t n)
{
	uint8_t buf[64];
	unsigned spins = 0;
	int rc;

	fill_rec(buf, MARKER_PUB, sizeof(buf), n);
	while ((rc = sb_ring_send(pub, buf, sizeof(buf))) == SB_EBACKPRESSURE)
		relax(&spins);
	tu_assert_rc(rc, SB_OK);
}

/* Wait until every subscriber saw marker n, or (untethered) was carried
 * past it; returns whether all of them saw it. */
static bool await_marker(struct stress_ctx *ctx, const struct sb_seg *seg, uint64_t n, uint64_t tail_after)
{
	bool all = true;

	for (unsigned i = 0; i < ctx->nsub; i++) {
		unsigned spins = 0;

		if (ctx->sres[i].slot == UINT32_MAX)
			continue; /* failed to attach; reported later */
		for (;;) {
			/* ACQUIRE pairs with the subscriber's RELEASE of marker_seen. */
			if (atomic_load_explicit(&ctx->marker_seen[i], memory_order_acquire) >= n + 1)
				break;
			if (ctx->sub[i].kind == SB_SUB_UNTETHERED &&
			    atomic_load(&seg->subs->sub[ctx->sres[i].slot].cursor) >= tail_after) {
				all = atomic_load_explicit(&ctx->marker_seen[i], memory_order_acquire) >= n + 1 && all;
				break;
			}
			relax(&spins);
		}
	}
	return all;
}

struct thread_arg {
	struct stress_ctx *ctx;
	unsigned idx;
};

static void *pub_thread(void *arg)
{
	struct thread_arg *a = arg;

	pub_worker(a->ctx, a->idx, a->idx % 2 == 1); /* half with their own mapping */
	return NULL;
}

static void *sub_thread(void *arg)
{
	struct thread_arg *a = arg;

	sub_worker(a->ctx, a->idx);
	return NULL;
}

static void wait_count(atomic_uint *v, unsigned want)
{
	unsigned spins = 0;

	while (atomic_load(v) < want)
		relax(&spins);
}

static pid_t spawn(void (*fn)(struct stress_ctx *, unsigned), struct stress_ctx *ctx, unsigned idx)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(ctx, idx);
		_exit(0);
	}
	return pid;
}

static void sub_proc(struct stress_ctx *ctx, unsigned idx)
{
	sub_worker(ctx, idx);
	if (ctx->sres[idx].errors)
		_exit(1);
}

static void pub_proc(struct stress_ctx *ctx, unsigned idx)
{
	pub_worker(ctx, idx, true);
	if (ctx->pres[idx].errors)
		_exit(1);
}

static void assert_child_ok(pid_t pid, const char *what, unsigned idx)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s process %u ended with status 0x%x", what, idx, status);
}

struct stress_cfg {
	enum sb_ring_pub_mode mode;
	unsigned npub;
	const struct sub_cfg *subs;
	unsigned nsub;
	bool processes;    /* fork()ed publishers and subscribers */
	uint64_t records;  /* per publisher */
	uint32_t rec_align;
	bool churn;        /* tethered subscribers join and leave meanwhile */
};

static void run_stress(const struct stress_cfg *cfg)
{
	const enum sb_ring_pub_mode mode = cfg->mode;
	const unsigned npub = cfg->npub, nsub = cfg->nsub;
	const struct sub_cfg *subs = cfg->subs;
	const bool processes = cfg->processes;
	const uint64_t records = cfg->records;
	pthread_t churn;
	struct stress_ctx *ctx;
	struct sb_seg seg;
	struct sb_ring_pub driver;
	pthread_t pt[MAX_PUBS], st[MAX_SUBS];
	struct thread_arg pa[MAX_PUBS], sa[MAX_SUBS];
	/* Zeroed: at -O3 GCC cannot see that processes picks the same branch when
	 * the pids are stored and when they are waited for. */
	pid_t pp[MAX_PUBS] = { 0 }, sp[MAX_SUBS] = { 0 };
	uint64_t total, markers = 0, teth_seen = 0;
	int teth0 = -1;
	size_t log_bytes;

	assert_true(npub <= MAX_PUBS && nsub <= MAX_SUBS);
	tu_seg_new_ex(&seg, CAP, MAXREC, 8, 8, cfg->rec_align);
	ctx = map_shared(sizeof(*ctx));
	memset(ctx, 0, sizeof(*ctx));
	ctx->npub = npub;
	ctx->nsub = nsub;
	ctx->mode = mode;
	ctx->records = records;
	ctx->log_cap = npub * records + MAX_MARKERS + 1;
	ctx->fd = seg.fd;
	ctx->subs_fd = seg.subs_fd;
	ctx->thread_seg = &seg;
	snprintf(ctx->path, sizeof(ctx->path), "%s", seg.path);
	log_bytes = ctx->log_cap * sizeof(uint64_t);
	ctx->seq_map = map_shared(log_bytes);
	for (unsigned i = 0; i < nsub; i++) {
		ctx->sub[i] = subs[i];
		if (subs[i].kind == SB_SUB_UNTETHERED)
			ctx->unt_log[i] = map_shared(2 * log_bytes);
		else if (teth0 < 0)
			teth0 = (int)i;
	}
	assert_true(teth0 >= 0); /* the cross-check needs one tethered subscriber */
	ctx->map_writer = (unsigned)teth0;

	/* Subscribers first, so that the tethered ones gate from record 0. */
	for (unsigned i = 0; i < nsub; i++) {
		if (processes) {
			sp[i] = spawn(sub_proc, ctx, i);
		} else {
			sa[i] = (struct thread_arg){ ctx, i };
			assert_int_equal(pthread_create(&st[i], NULL, sub_thread, &sa[i]), 0);
		}
	}
	wait_count(&ctx->subs_attached, nsub);

	/* Marker 0: every subscriber starts from a known sequence number. */
	tu_assert_rc(sb_ring_pub_attach(&driver, &seg, mode), SB_OK);
	send_marker(&driver, markers);
	assert_true(await_marker(ctx, &seg, markers, UINT64_MAX));
	markers++;
	if (mode == SB_PUB_EXCLUSIVE) {
		assert_int_equal(npub, 1);
		assert_false(processes);
		ctx->handover = &driver;
	}

	for (unsigned i = 0; i < npub; i++) {
		if (processes) {
			pp[i] = spawn(pub_proc, ctx, i);
		} else {
			pa[i] = (struct thread_arg){ ctx, i };
			assert_int_equal(pthread_create(&pt[i], NULL, pub_thread, &pa[i]), 0);
		}
	}
	wait_count(&ctx->pubs_attached, npub);
	if (cfg->churn)
		assert_int_equal(pthread_create(&churn, NULL, churn_thread, ctx), 0);
	/* RELEASE: pairs with the publishers' ACQUIRE in wait_for_go. */
	atomic_store_explicit(&ctx->go, 1, memory_order_release);
	for (unsigned i = 0; i < npub; i++) {
		if (processes)
			assert_child_ok(pp[i], "publisher", i);
		else
			assert_int_equal(pthread_join(pt[i], NULL), 0);
	}
	wait_count(&ctx->pubs_done, npub);
	for (unsigned i = 0; i < npub; i++)
		if (ctx->pres[i].errors)
			fail_msg("%s", ctx->pres[i].msg);
	if (cfg->churn) {
		assert_int_equal(pthread_join(churn, NULL), 0);
		print_message("  churn: %llu joins, %llu records checked\n", (unsigned long long)ctx->churn_joins,
			      (unsigned long long)ctx->churn.received);
		if (ctx->churn.errors)
			fail_msg("%llu errors, first: %s", (unsigned long long)ctx->churn.errors, ctx->churn.msg);
		assert_true(ctx->churn_joins >= 1);
	}

	/* End markers until every subscriber has the latest. */
	for (;;) {
		bool all;

		assert_true(markers < MAX_MARKERS);
		send_marker(&driver, markers);
		all = await_marker(ctx, &seg, markers, atomic_load(&seg.prod->tail));
		markers++;
		if (all)
			break;
	}
	/* RELEASE: after the last commit; pairs with the subscribers' ACQUIRE. */
	atomic_store_explicit(&ctx->stop, 1, memory_order_release);
	for (unsigned i = 0; i < nsub; i++) {
		if (processes)
			assert_child_ok(sp[i], "subscriber", i);
		else
			assert_int_equal(pthread_join(st[i], NULL), 0);
	}
	sb_ring_pub_detach(&driver);

	/* ----- the books must balance */
	total = npub * records + markers;
	assert_int_equal(atomic_load(&seg.prod->next_seq), total);
	for (unsigned i = 0; i < npub; i++) {
		assert_int_equal(ctx->pres[i].sent, records);
		print_message("  publisher %u: %llu records, %llu in batches, %llu aborted, %llu back-pressured claims\n", i,
			      (unsigned long long)ctx->pres[i].sent, (unsigned long long)ctx->pres[i].batches,
			      (unsigned long long)ctx->pres[i].aborted, (unsigned long long)ctx->pres[i].backpressure);
	}
	for (unsigned i = 0; i < nsub; i++) {
		const struct sub_result *r = &ctx->sres[i];
		bool teth = ctx->sub[i].kind == SB_SUB_TETHERED;

		print_message("  subscriber %u (%s): %llu received, %llu lost, %llu laps\n", i,
			      teth ? "tethered" : "untethered", (unsigned long long)r->received,
			      (unsigned long long)r->lost_sum, (unsigned long long)r->laps);
		if (r->errors)
			fail_msg("%llu errors, first: %s", (unsigned long long)r->errors, r->msg);
		assert_int_equal(r->first_seq, 0);
		assert_int_equal(r->last_seq, total - 1);
		assert_int_equal(r->lib_consumed, r->received);
		assert_int_equal(r->lib_lost, r->lost_sum);
		if (r->received + r->lost_sum != total)
			fail_msg("subscriber %u: %llu received + %llu lost != %llu published", i,
				 (unsigned long long)r->received, (unsigned long long)r->lost_sum,
				 (unsigned long long)total);
		if (teth) {
			assert_int_equal(r->received, total);
			assert_int_equal(r->lost_sum, 0);
			for (unsigned p = 0; p < npub; p++)
				assert_int_equal(r->per_pub[p], records);
			teth_seen++;
		}
	}
	assert_true(teth_seen >= 1);
	/* Every record an untethered subscriber delivered is the record the
	 * tethered one saw under that sequence number. */
	for (unsigned i = 0; i < nsub; i++) {
		const uint64_t *log = ctx->unt_log[i];

		if (ctx->sub[i].kind != SB_SUB_UNTETHERED)
			continue;
		for (uint64_t k = 0; k < ctx->sres[i].received; k++)
			if (log[2 * k + 1] != ctx->seq_map[log[2 * k]])
				fail_msg("subscriber %u: seq %llu carried %llx, the tethered subscriber saw %llx", i,
					 (unsigned long long)log[2 * k], (unsigned long long)log[2 * k + 1],
					 (unsigned long long)ctx->seq_map[log[2 * k]]);
	}

	for (unsigned i = 0; i < nsub; i++)
		if (ctx->unt_log[i])
			munmap(ctx->unt_log[i], 2 * log_bytes);
	munmap(ctx->seq_map, log_bytes);
	munmap(ctx, sizeof(*ctx));
	tu_seg_free(&seg);
}

static uint64_t records_per_pub;

static const struct sub_cfg mixed_subs[] = {
	{ SB_SUB_TETHERED, READ_PEEK, SB_WAIT_SPIN },
	{ SB_SUB_TETHERED, READ_POLL, SB_WAIT_BLOCK },
	{ SB_SUB_UNTETHERED, READ_PEEK, SB_WAIT_SPIN },
	{ SB_SUB_UNTETHERED, READ_POLL, SB_WAIT_YIELD },
	{ SB_SUB_UNTETHERED, READ_BATCH, SB_WAIT_STREAM },
	{ SB_SUB_TETHERED, READ_BATCH, SB_WAIT_YIELD },
};

static void test_ring_stress_shared_threads(void **state)
{
	const struct stress_cfg cfg = {
		.mode = SB_PUB_SHARED, .npub = 3, .subs = mixed_subs, .nsub = 6,
		.records = records_per_pub,
	};

	(void)state;
	run_stress(&cfg);
}

static void test_ring_stress_shared_threads_align64_churn(void **state)
{
	/* Cache-line records (no 8-byte gaps, fewer and larger pads) and
	 * tethered subscribers joining mid-stream. */
	const struct stress_cfg cfg = {
		.mode = SB_PUB_SHARED, .npub = 2, .subs = mixed_subs, .nsub = 4,
		.records = records_per_pub / 2, .rec_align = 64, .churn = true,
	};

	(void)state;
	run_stress(&cfg);
}

static void test_ring_stress_exclusive_threads(void **state)
{
	const struct stress_cfg cfg = {
		.mode = SB_PUB_EXCLUSIVE, .npub = 1, .subs = mixed_subs, .nsub = 6,
		.records = records_per_pub, .churn = true,
	};

	(void)state;
	run_stress(&cfg);
}

static void test_ring_stress_shared_processes(void **state)
{
	static const struct sub_cfg subs[] = {
		{ SB_SUB_TETHERED, READ_BATCH, SB_WAIT_BLOCK },
		{ SB_SUB_UNTETHERED, READ_PEEK, SB_WAIT_SPIN },
		{ SB_SUB_UNTETHERED, READ_POLL, SB_WAIT_YIELD },
	};
	const struct stress_cfg cfg = {
		.mode = SB_PUB_SHARED, .npub = 2, .subs = subs, .nsub = 3, .processes = true,
		.records = records_per_pub,
	};

	(void)state;
	run_stress(&cfg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_stress_shared_threads),
		cmocka_unit_test(test_ring_stress_shared_threads_align64_churn),
		cmocka_unit_test(test_ring_stress_exclusive_threads),
		cmocka_unit_test(test_ring_stress_shared_processes),
	};

	records_per_pub = tu_stress_records(argc, argv, 20000);
	printf("stress: %llu records per publisher\n", (unsigned long long)records_per_pub);
	tu_capture_logs();
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
