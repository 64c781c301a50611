/*
 * lease.c - a client's connection is its lease: when it ends (EOF, reset,
 * SIGKILL of the client, a CLOSE of a handle still attached), release what
 * the client's handles held in their segments.
 *
 * Design note.
 *  - Subscriber slots are released at once: state FREE, so the slot stops
 *    gating publishers, and the doorbell's `blocking` count is given back if
 *    the client said it was a blocking subscriber.
 *  - A publisher slot with no open claim is released at once too (slot FREE,
 *    its share of the `publishers` word dropped).  If its claim may be open
 *    (exclusive: head != tail; shared: its intent lies in [tail, head)), the
 *    slot and its mode stay held - sb_ring_repair() needs the exclusive bit
 *    and the intent words - and a repair is scheduled after the grace
 *    period.  When it fires and tail has not moved since it was observed and
 *    the claim is still the one at tail, sb_ring_repair() turns it into an
 *    ABORT record; if tail moved, the grace period starts again (the claim
 *    may be waiting behind another one).
 *  - The daemon only touches a slot whose pid is the one the client had
 *    when it attached (SO_PEERCRED), so a client cannot make the daemon free
 *    someone else's slot by reporting a wrong index.
 *
 * Every store to shared memory here is one an owner would have made when
 * detaching, with the same ordering (see sb_ring.c, sb_ring_*_detach).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "sb_atomic.h"
#include "sb_error.h"
#include "sb_log.h"
#include "sb_ring.h"
#include "sbd.h"

#define REPAIR_MAX_FAILURES 8

static bool pub_claim_open(const struct sbd_topic *t, uint32_t slot, bool exclusive)
{
	const struct sb_prod_ctl *prod = t->seg.prod;
	/* ACQUIRE pairs with the committers' RELEASE of tail (P2'). */
	uint64_t tail = sb_load_acquire(&prod->tail);
	/* RELAXED: head only grows; a stale value only delays the decision. */
	uint64_t head = sb_load_relaxed(&prod->head);
	uint64_t ip;

	if (exclusive)
		return head != tail;
	/* RELAXED: the owner is dead; its last intent store is all there is. */
	ip = sb_load_relaxed(&prod->pub[slot].intent_pos);
	return ip != UINT64_MAX && ip >= tail && ip < head;
}

static void release_pub(struct sbd *d, struct sbd_topic *t, uint32_t slot, bool exclusive)
{
	struct sb_prod_ctl *prod = t->seg.prod;
	struct sb_pub_slot *ps = &prod->pub[slot];

	/* RELAXED: read only by a repairer, and nobody owns the slot now. */
	sb_store_relaxed(&ps->intent_pos, UINT64_MAX);
	/* RELEASE: pairs with the next owner's ACQ_REL CAS on state (pair M). */
	sb_store_release(&ps->state, SB_SLOT_FREE);
	/* RELEASE: pairs with the ACQ_REL CAS in take_mode (pair M). */
	if (exclusive)
		atomic_fetch_and_explicit(&prod->publishers, ~SB_PUBS_EXCLUSIVE_BIT, memory_order_release);
	else
		atomic_fetch_sub_explicit(&prod->publishers, 1, memory_order_release);
	d->ctr.pub_slots_released++;
	sbi_log(SB_LOG_INFO, "lease", "msg=\"released publisher slot\" topic=%s slot=%u exclusive=%d", t->name,
		slot, exclusive);
}

static void release_sub(struct sbd *d, struct sbd_topic *t, const struct sbd_handle *h)
{
	struct sb_sub_slot *ss = &t->seg.subs->sub[h->slot];

	/* The slot's flags say what the owner held in the doorbell counters
	 * (a blocking subscriber, maybe killed inside its futex wait).
	 * SEQ_CST like the owner's own decrements (handshake 2). */
	uint32_t f = atomic_exchange(&ss->flags, 0);

	if (f & SB_SUB_F_SLEEPING)
		atomic_fetch_sub(&t->seg.subs->sleepers, 1);
	if (f & SB_SUB_F_BLOCKING)
		atomic_fetch_sub(&t->seg.subs->blocking, 1);
	/* RELEASE: the slot stops gating; pairs with the gating scan's ACQUIRE
	 * of state and with the next owner's CAS (pairs P4/M). */
	sb_store_release(&ss->state, SB_SLOT_FREE);
	d->ctr.sub_slots_released++;
	sbi_log(SB_LOG_INFO, "lease", "msg=\"released subscriber slot\" topic=%s slot=%u tethered=%d", t->name,
		h->slot, h->mode == 0);
}

void sbd_lease_release(struct sbd *d, struct sbd_session *s, struct sbd_handle *h)
{
	struct sbd_topic *t = h->t;
	uint32_t state, pid;

	if (!h->attached)
		return;
	h->attached = false;
	if (h->role == SBP_ROLE_SUB) {
		const struct sb_sub_slot *ss = &t->seg.subs->sub[h->slot];

		/* ACQUIRE: pairs with the owner's state stores (attach/detach). */
		state = sb_load_acquire(&ss->state);
		pid = ss->pid;
		if (state == SB_SLOT_FREE || state == SB_SLOT_PUBLISHER || (s->pid && pid != (uint32_t)s->pid))
			return; /* detached by its owner, or not its slot any more */
		release_sub(d, t, h);
		return;
	}
	{
		const struct sb_pub_slot *ps = &t->seg.prod->pub[h->slot];
		struct sbd_repair *r;

		/* ACQUIRE: pairs with the owner's state stores (attach/detach). */
		state = sb_load_acquire(&ps->state);
		pid = ps->pid;
		if (state != SB_SLOT_PUBLISHER || (s->pid && pid != (uint32_t)s->pid))
			return;
		if (!pub_claim_open(t, h->slot, h->mode == 1)) {
			release_pub(d, t, h->slot, h->mode == 1);
			return;
		}
		r = calloc(1, sizeof(*r));
		if (!r) {
			sbi_log(SB_LOG_ERR, "lease", "msg=\"out of memory: claim left for manual repair\" topic=%s slot=%u",
				t->name, h->slot);
			return;
		}
		r->t = t;
		r->slot = h->slot;
		r->exclusive = h->mode == 1;
		/* ACQUIRE pairs with the committers' RELEASE of tail. */
		r->observed_tail = sb_load_acquire(&t->seg.prod->tail);
		r->deadline_ns = sb_mono_ns() + (uint64_t)d->cfg.grace_ms * 1000000u;
		sbd_topic_get(t);
		r->next = d->repairs;
		d->repairs = r;
		sbi_log(SB_LOG_WARN, "lease",
			"msg=\"publisher died with a claim open; repair after grace\" topic=%s slot=%u tail=%llu grace_ms=%u",
			t->name, h->slot, (unsigned long long)r->observed_tail, d->cfg.grace_ms);
	}
}

void sbd_lease_sweep_unreported(struct sbd *d, struct sbd_session *s, struct sbd_handle *h)
{
	const struct sb_seg *seg = &h->t->seg;
	struct sbd_handle tmp = *h;

	if (s->pid <= 0)
		return;
	for (const struct sbd_session *o = d->sessions; o; o = o->next)
		if (o != s && !o->dead && o->pid == s->pid)
			return; /* the process is still alive */
	tmp.attached = true;
	tmp.blocking = 0; /* unknown: it never told us */
	if (h->role == SBP_ROLE_SUB) {
		for (uint32_t i = 0; i < seg->max_subs; i++) {
			const struct sb_sub_slot *ss = &seg->subs->sub[i];
			/* ACQUIRE: pairs with the owner's state stores. */
			uint32_t st = sb_load_acquire(&ss->state);

			/* JOINING included: it died mid-attach. */
			if (st == SB_SLOT_FREE || ss->pid != (uint32_t)s->pid ||
			    sbd_slot_reported(d, h->t, SBP_ROLE_SUB, i))
				continue;
			tmp.slot = i;
			tmp.mode = st == SB_SLOT_UNTETHERED;
			sbi_log(SB_LOG_WARN, "lease", "msg=\"slot taken but never reported\" topic=%s role=sub slot=%u pid=%d",
				h->t->name, i, (int)s->pid);
			sbd_lease_release(d, s, &tmp);
		}
		return;
	}
	for (uint32_t i = 0; i < seg->max_pubs; i++) {
		const struct sb_pub_slot *ps = &seg->prod->pub[i];

		/* ACQUIRE: pairs with the owner's slot CAS. */
		if (sb_load_acquire(&ps->state) != SB_SLOT_PUBLISHER || ps->pid != (uint32_t)s->pid ||
		    sbd_slot_reported(d, h->t, SBP_ROLE_PUB, i))
			continue;
		tmp.slot = i;
		/* An exclusive publisher is the only one: if the bit is set, it
		 * is this slot's.  RELAXED: its owner is dead. */
		tmp.mode = (sb_load_relaxed(&seg->prod->publishers) & SB_PUBS_EXCLUSIVE_BIT) ? 1 : 0;
		sbi_log(SB_LOG_WARN, "lease", "msg=\"slot taken but never reported\" topic=%s role=pub slot=%u pid=%d",
			h->t->name, i, (int)s->pid);
		sbd_lease_release(d, s, &tmp);
	}
}

void sbd_lease_adopt_orphans(struct sbd *d, struct sbd_topic *t)
{
	const struct sb_seg *seg = &t->seg;
	uint64_t now = sb_mono_ns();

	for (uint32_t n = 0; n < seg->max_subs + seg->max_pubs; n++) {
		bool sub = n < seg->max_subs;
		uint32_t i = sub ? n : n - seg->max_subs;
		/* ACQUIRE: pairs with the owners' state stores. */
		uint32_t st = sub ? sb_load_acquire(&seg->subs->sub[i].state) : sb_load_acquire(&seg->prod->pub[i].state);
		struct sbd_orphan *o;

		if (st == SB_SLOT_FREE)
			continue;
		o = calloc(1, sizeof(*o));
		if (!o)
			return;
		o->t = t;
		o->role = sub ? SBP_ROLE_SUB : SBP_ROLE_PUB;
		o->slot = i;
		o->pid = sub ? seg->subs->sub[i].pid : seg->prod->pub[i].pid;
		o->not_before_ns = now + (uint64_t)d->cfg.orphan_grace_ms * 1000000u;
		o->deadline_ns = o->not_before_ns;
		sbd_topic_get(t);
		o->next = d->orphans;
		d->orphans = o;
		sbi_log(SB_LOG_INFO, "lease", "msg=\"slot held by a client of the previous daemon\" topic=%s role=%s slot=%u pid=%u",
			t->name, sub ? "sub" : "pub", i, o->pid);
	}
}

/* Returns true when the orphan entry is settled. */
static bool orphan_step(struct sbd *d, struct sbd_orphan *o, uint64_t now)
{
	const struct sb_seg *seg = &o->t->seg;
	bool sub = o->role == SBP_ROLE_SUB;
	/* ACQUIRE: pairs with the owners' state stores. */
	uint32_t st = sub ? sb_load_acquire(&seg->subs->sub[o->slot].state)
			  : sb_load_acquire(&seg->prod->pub[o->slot].state);
	uint32_t pid = sub ? seg->subs->sub[o->slot].pid : seg->prod->pub[o->slot].pid;
	struct sbd_session fake = { .pid = (pid_t)o->pid };
	struct sbd_handle h = { .t = o->t, .role = o->role, .attached = true, .slot = o->slot };

	if (st == SB_SLOT_FREE || pid != o->pid || sbd_slot_reported(d, o->t, o->role, o->slot))
		return true; /* detached, reused, or re-registered: it has a lease again */
	if (kill((pid_t)o->pid, 0) == 0 || errno != ESRCH) {
		o->deadline_ns = now + (uint64_t)d->cfg.orphan_grace_ms * 1000000u;
		return false; /* alive (here): look again later */
	}
	if (sub)
		h.mode = st == SB_SLOT_UNTETHERED;
	else /* RELAXED: its owner is dead. */
		h.mode = (sb_load_relaxed(&seg->prod->publishers) & SB_PUBS_EXCLUSIVE_BIT) ? 1 : 0;
	sbi_log(SB_LOG_WARN, "lease", "msg=\"reclaiming slot of a client that died while no daemon ran\" topic=%s slot=%u pid=%u",
		o->t->name, o->slot, o->pid);
	sbd_lease_release(d, &fake, &h);
	return true;
}

/* Returns true when the repair entry is resolved (slot released). */
static bool repair_step(struct sbd *d, struct sbd_repair *r)
{
	struct sbd_topic *t = r->t;
	uint64_t tail, ip;
	int rc;

	if (!pub_claim_open(t, r->slot, r->exclusive)) {
		release_pub(d, t, r->slot, r->exclusive);
		return true;
	}
	/* ACQUIRE pairs with the committers' RELEASE of tail. */
	tail = sb_load_acquire(&t->seg.prod->tail);
	/* RELAXED: the owner is dead. */
	ip = sb_load_relaxed(&t->seg.prod->pub[r->slot].intent_pos);
	if (tail != r->observed_tail || (!r->exclusive && ip != tail)) {
		/* Progress, or our claim waits behind another: wait again. */
		r->observed_tail = tail;
		r->deadline_ns = sb_mono_ns() + (uint64_t)d->cfg.grace_ms * 1000000u;
		return false;
	}
	rc = sb_ring_repair(&t->seg, tail);
	if (rc == 1) {
		d->ctr.claims_repaired++;
		sbi_log(SB_LOG_WARN, "lease", "msg=\"repaired abandoned claim\" topic=%s slot=%u at=%llu", t->name,
			r->slot, (unsigned long long)tail);
		release_pub(d, t, r->slot, r->exclusive);
		return true;
	}
	if (rc < 0) {
		d->ctr.repair_failures++;
		sbi_log(SB_LOG_ERR, "lease", "msg=\"repair failed\" topic=%s slot=%u code=%d detail=\"%s\"", t->name,
			r->slot, rc, sb_last_error());
		if (++r->failures >= REPAIR_MAX_FAILURES) {
			release_pub(d, t, r->slot, r->exclusive);
			return true;
		}
	}
	/* rc == 0: tail moved under us; look again after another grace. */
	r->observed_tail = sb_load_acquire(&t->seg.prod->tail);
	r->deadline_ns = sb_mono_ns() + (uint64_t)d->cfg.grace_ms * 1000000u;
	return false;
}

void sbd_lease_on_timer(struct sbd *d)
{
	uint64_t now = sb_mono_ns();
	struct sbd_repair **pp = &d->repairs;

	for (struct sbd_orphan **op = &d->orphans; *op;) {
		struct sbd_orphan *o = *op;

		if (o->deadline_ns <= now && orphan_step(d, o, now)) {
			*op = o->next;
			sbd_topic_put(d, o->t);
			free(o);
			continue;
		}
		op = &o->next;
	}

	while (*pp) {
		struct sbd_repair *r = *pp;
		if (r->deadline_ns <= now && repair_step(d, r)) {
			*pp = r->next;
			sbd_topic_put(d, r->t);
			free(r);
			continue;
		}
		pp = &r->next;
	}
}

uint64_t sbd_lease_next_deadline(const struct sbd *d)
{
	uint64_t next = UINT64_MAX;

	for (const struct sbd_repair *r = d->repairs; r; r = r->next)
		if (r->deadline_ns < next)
			next = r->deadline_ns;
	for (const struct sbd_orphan *o = d->orphans; o; o = o->next)
		if (o->deadline_ns < next)
			next = o->deadline_ns;
	return next;
}

void sbd_lease_fini(struct sbd *d)
{
	/* Shutdown: leave unresolved claims as they are (the slot stays held,
	 * a restarted daemon's repair will find the intent words). */
	while (d->orphans) {
		struct sbd_orphan *o = d->orphans;

		d->orphans = o->next;
		sbd_topic_put(d, o->t);
		free(o);
	}
	while (d->repairs) {
		struct sbd_repair *r = d->repairs;

		d->repairs = r->next;
		sbd_topic_put(d, r->t);
		free(r);
	}
}
