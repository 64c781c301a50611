/*
 * sb_pub.c - publisher handles: open by topic name through the daemon, then
 * the data path straight on the ring (shm/sb_ring.h, inline).
 *
 * Open: OPEN (segment fd back over SCM_RIGHTS) -> validate and map it ->
 * sb_ring_pub_attach -> ATTACHED with the slot taken, so that the daemon can
 * release that slot, and repair an open claim, if this process dies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_lib.h"

sb_pub_t *sb_pub_open(sb_client_t *client, const char *topic, const struct sb_pub_opts *opts)
{
	enum sb_pub_mode mode = opts ? opts->mode : SB_PUBLISH_SHARED;
	struct sb_pub *p;
	int fds[SBP_MAX_FDS] = { -1, -1 }, rc;

	if (mode != SB_PUBLISH_SHARED && mode != SB_PUBLISH_EXCLUSIVE) {
		sbi_error(SB_EINVAL, "publisher mode %d", (int)mode);
		errno = EINVAL;
		return NULL;
	}
	p = sbi_handle_alloc(sizeof(*p));
	if (!p) {
		sbi_error(SB_ENOMEM, "publisher handle");
		errno = ENOMEM;
		return NULL;
	}
	p->link.kind = SBI_PUB;
	p->client = client;
	rc = sbi_open(client, topic, SBP_ROLE_PUB, opts ? opts->create : NULL, &p->handle, &p->numa_node, fds);
	if (rc < 0) {
		free(p);
		errno = -rc;
		return NULL;
	}
	rc = sb_seg_open_fd(fds[0], fds[1], SB_SEG_PUBLISHER, &p->seg);
	sbp_close_fds(fds);
	if (rc == SB_OK) {
		rc = sb_ring_pub_attach(&p->ring, &p->seg,
					mode == SB_PUBLISH_EXCLUSIVE ? SB_PUB_EXCLUSIVE : SB_PUB_SHARED);
		if (rc < 0)
			sb_seg_close(&p->seg);
	}
	if (rc == SB_OK) {
		rc = sbi_attached(client, p->handle, p->ring.slot_idx, mode == SB_PUBLISH_EXCLUSIVE, 0);
		if (rc < 0) {
			sb_ring_pub_detach(&p->ring);
			sb_seg_close(&p->seg);
		}
	}
	if (rc < 0) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s", sb_last_error());
		/* A timed-out ATTACHED may still be applied: say DETACHED too. */
		sbi_detached_close(client, p->handle, rc == SB_ETIMEDOUT);
		sbi_error(rc, "%s", detail);
		free(p);
		errno = -rc;
		return NULL;
	}
	pthread_mutex_lock(&client->lock);
	sbi_link_add(client, &p->link);
	pthread_mutex_unlock(&client->lock);
	return p;
}

void sb_pub_close(sb_pub_t *p)
{
	if (!p)
		return;
	sb_ring_pub_detach(&p->ring);
	/* Unlinked first: a reconnect inside the calls below must not
	 * re-register a handle that is going away. */
	pthread_mutex_lock(&p->client->lock);
	sbi_link_del(p->client, &p->link);
	pthread_mutex_unlock(&p->client->lock);
	sbi_detached_close(p->client, p->handle, true);
	sb_seg_close(&p->seg);
	free(p);
}

int sb_pub_claim(sb_pub_t *p, uint32_t len, void **buf)
{
	return sb_ring_claim(&p->ring, len, buf);
}

int sb_pub_claim_batch(sb_pub_t *p, const uint32_t *lens, unsigned n, void **bufs)
{
	return sb_ring_claim_batch(&p->ring, lens, n, bufs);
}

int sb_pub_commit(sb_pub_t *p)
{
	return sb_ring_commit(&p->ring);
}

int sb_pub_abort(sb_pub_t *p)
{
	return sb_ring_abort(&p->ring);
}

int sb_pub_send(sb_pub_t *p, const void *data, uint32_t len)
{
	return sb_ring_send(&p->ring, data, len);
}

void sb_pub_stats(const sb_pub_t *p, struct sb_pub_stats *st)
{
	st->published = p->ring.records;
	/* RELAXED: statistics written by this handle's own thread. */
	st->backpressure = sb_load_relaxed(&p->ring.slot->backpressure);
	st->aborted = sb_load_relaxed(&p->ring.slot->aborted);
	st->leased = atomic_load_explicit(&p->link.leased, memory_order_relaxed);
}

int sb_pub_numa_node(const sb_pub_t *p)
{
	return p->numa_node;
}
