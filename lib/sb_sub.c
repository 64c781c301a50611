/*
 * sb_sub.c - subscriber handles: open by topic name through the daemon, map
 * the segment for subscribing (its file arrives read-only from the daemon:
 * data and producer control cannot be written; only the subscriber file
 * can), then
 * read straight from the ring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_lib.h"

#define READ_MAX 64 /* messages per sb_sub_read */

sb_sub_t *sb_sub_open(sb_client_t *client, const char *topic, const struct sb_sub_opts *opts)
{
	struct sb_sub_opts o = opts ? *opts : (struct sb_sub_opts){ SB_TETHERED, SB_FROM_LATEST, SB_SPIN };
	struct sb_sub *s;
	int fds[SBP_MAX_FDS] = { -1, -1 }, rc;

	if ((o.mode != SB_TETHERED && o.mode != SB_UNTETHERED) ||
	    (o.start != SB_FROM_LATEST && o.start != SB_FROM_OLDEST) ||
	    (o.wait != SB_SPIN && o.wait != SB_SPIN_YIELD && o.wait != SB_BLOCKING && o.wait != SB_SPIN_STREAM)) {
		sbi_error(SB_EINVAL, "subscriber options out of range");
		errno = EINVAL;
		return NULL;
	}
	s = sbi_handle_alloc(sizeof(*s));
	if (!s) {
		sbi_error(SB_ENOMEM, "subscriber handle");
		errno = ENOMEM;
		return NULL;
	}
	s->link.kind = SBI_SUB;
	s->client = client;
	rc = sbi_open(client, topic, SBP_ROLE_SUB, NULL, &s->handle, &s->numa_node, fds);
	if (rc < 0) {
		free(s);
		errno = -rc;
		return NULL;
	}
	rc = sb_seg_open_fd(fds[0], fds[1], SB_SEG_SUBSCRIBER, &s->seg);
	sbp_close_fds(fds);
	if (rc == SB_OK) {
		rc = sb_ring_sub_attach(&s->ring, &s->seg,
					o.mode == SB_UNTETHERED ? SB_SUB_UNTETHERED : SB_SUB_TETHERED,
					o.start == SB_FROM_OLDEST ? SB_START_OLDEST : SB_START_LATEST,
					o.wait == SB_BLOCKING     ? SB_WAIT_BLOCK
					: o.wait == SB_SPIN_YIELD ? SB_WAIT_YIELD
					: o.wait == SB_SPIN_STREAM ? SB_WAIT_STREAM
								   : SB_WAIT_SPIN);
		if (rc < 0)
			sb_seg_close(&s->seg);
	}
	if (rc == SB_OK) {
		rc = sbi_attached(client, s->handle, s->ring.slot_idx, o.mode == SB_UNTETHERED,
				  o.wait == SB_BLOCKING);
		if (rc < 0) {
			sb_ring_sub_detach(&s->ring);
			sb_seg_close(&s->seg);
		}
	}
	if (rc < 0) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", sb_last_error());
		/* A timed-out ATTACHED may still be applied: say DETACHED too. */
		sbi_detached_close(client, s->handle, rc == SB_ETIMEDOUT);
		sbi_error(rc, "%s", detail);
		free(s);
		errno = -rc;
		return NULL;
	}
	pthread_mutex_lock(&client->lock);
	sbi_link_add(client, &s->link);
	pthread_mutex_unlock(&client->lock);
	return s;
}

void sb_sub_close(sb_sub_t *s)
{
	if (!s)
		return;
	sb_ring_sub_detach(&s->ring);
	/* Unlinked first: a reconnect inside the calls below must not
	 * re-register a handle that is going away. */
	pthread_mutex_lock(&s->client->lock);
	sbi_link_del(s->client, &s->link);
	pthread_mutex_unlock(&s->client->lock);
	sbi_detached_close(s->client, s->handle, true);
	sb_seg_close(&s->seg);
	free(s);
}

struct trampoline {
	sb_msg_fn fn;
	void *ctx;
};

static void deliver(void *ctx, const struct sb_ring_view *v)
{
	const struct trampoline *t = ctx;
	struct sb_msg m = { .data = v->data, .len = v->len, .seq = v->seq, .lost = v->lost };

	t->fn(t->ctx, &m);
}

int sb_sub_poll(sb_sub_t *s, sb_msg_fn fn, void *ctx, unsigned max)
{
	struct trampoline t = { fn, ctx };

	return sb_ring_poll(&s->ring, deliver, &t, max);
}

static void msg_from_view(struct sb_msg *m, const struct sb_ring_view *v)
{
	m->data = v->data;
	m->len = v->len;
	m->seq = v->seq;
	m->lost = v->lost;
}

/* Several messages: the batch walk, out of line so that the one-message
 * path of sb_sub_read does not carry its 2.5 KiB stack frame. */
static __attribute__((noinline)) int read_batch(sb_sub_t *s, struct sb_msg *msgs, unsigned max)
{
	struct sb_ring_view v[READ_MAX];
	int n;

	if (max > READ_MAX)
		max = READ_MAX;
	n = sb_ring_peek_batch(&s->ring, v, max);
	for (int i = 0; i < n; i++) {
		msg_from_view(&msgs[i], &v[i]);
	}
	return n;
}

/* One message, the ring's general path (padding, aborts, untethered...). */
static __attribute__((noinline)) int read_one_slow(sb_sub_t *s, struct sb_msg *m)
{
	struct sb_ring_view v;
	int rc = sbi_peek_slow(&s->ring, &v);

	if (rc < 0)
		return rc;
	msg_from_view(m, &v);
	return 1;
}

int sb_sub_read(sb_sub_t *s, struct sb_msg *msgs, unsigned max)
{
	struct sb_ring_view v;
	int rc;

	if (max != 1)
		return max == 0 ? SB_EINVAL : read_batch(s, msgs, max);
	/* One message: the ring's single-record path, with its general path
	 * reached by a tail call, so that no view has to outlive a call and
	 * this path needs no stack frame of its own. */
	rc = sbi_peek_fast(&s->ring, &v);
	if (sb_unlikely(rc == SBI_SLOW))
		return read_one_slow(s, msgs);
	if (rc < 0)
		return rc;
	msg_from_view(&msgs[0], &v);
	return 1;
}

int sb_sub_release(sb_sub_t *s)
{
	return sb_ring_consume(&s->ring);
}

int sb_sub_wait(sb_sub_t *s, uint64_t timeout_ns)
{
	return sb_ring_wait(&s->ring, timeout_ns);
}

void sb_sub_stats(const sb_sub_t *s, struct sb_sub_stats *st)
{
	st->consumed = sb_ring_sub_consumed(&s->ring);
	st->lost = sb_ring_sub_lost(&s->ring);
	st->laps = sb_ring_sub_laps(&s->ring);
	st->leased = atomic_load_explicit(&s->link.leased, memory_order_relaxed);
}

int sb_sub_numa_node(const sb_sub_t *s)
{
	return s->numa_node;
}
