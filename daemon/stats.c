/*
 * stats.c - LIST, STATS and CLIENTS replies.
 *
 * STATS is self-describing: a count, then (name, u64 value) pairs, so that
 * tools print counters they do not know yet and new counters need no
 * protocol version.  Topic counters are read from the segment itself with
 * relaxed loads: they are statistics written by their single owners, and a
 * slightly stale value is fine for a monitor.  Replies that would exceed the
 * 4096-byte body stop early and say so (LIST/CLIENTS: a truncated flag;
 * STATS: a "truncated" pair).
 *
 * Bridge counters live under names no topic can have (topic names never
 * start with '.'), so they need no new message: STATS ".bridge" returns
 * the port counters ("bridge.port<N>.<counter>") and a directory of the
 * topic directions ("bridge.export.<T>" / "bridge.import.<T>" = index I);
 * STATS ".bridge.export.<I>" or ".bridge.import.<I>" returns that
 * direction's engine counters ("bridge.export.<T>.<counter>").  One
 * direction per request keeps every reply far below the body limit
 * whatever the number of topics, and the index keeps the request within
 * the topic-name field of STATS.  Without a running bridge they answer
 * SB_ENOENT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_atomic.h"
#include "sb_error.h"
#include "sbd.h"

#define ROOM_FOR_ENTRY 160

static void kv(struct sbp_wr *w, unsigned *n, const char *key, uint64_t v)
{
	struct sbp_wr save = *w;

	sbp_put_str(w, key);
	sbp_put_u64(w, v);
	if (w->bad)
		*w = save;
	else
		(*n)++;
}

/* kv for a per-slot counter, keyed "<kind>.<slot>.<name>". */
static void kv_slot(struct sbp_wr *w, unsigned *n, const char *kind, uint32_t slot, const char *name, uint64_t v)
{
	char key[64];

	snprintf(key, sizeof(key), "%s.%u.%s", kind, slot, name);
	kv(w, n, key, v);
}

void sbd_stats_list(struct sbd *d, struct sbd_session *s)
{
	uint8_t out[SBP_BODY_MAX - 4];
	struct sbp_wr w;
	struct cds_lfht_iter it;
	struct sbd_topic *t;
	uint32_t n = 0;
	uint8_t truncated = 0;

	sbp_wr_init(&w, out, sizeof(out));
	sbp_put_u32(&w, 0); /* patched below */
	sbp_put_u8(&w, 0);
	urcu_memb_read_lock();
	cds_lfht_for_each_entry(d->topics, &it, t, node) {
		const struct sb_prod_ctl *prod = t->seg.prod;
		uint32_t subs = 0, pubs = sb_load_relaxed(&prod->publishers);

		if (w.cap - w.len < ROOM_FOR_ENTRY) {
			truncated = 1;
			break;
		}
		for (uint32_t i = 0; i < t->seg.max_subs; i++) {
			/* RELAXED: a monitor's snapshot. */
			uint32_t st = sb_load_relaxed(&t->seg.subs->sub[i].state);

			subs += st == SB_SLOT_TETHERED || st == SB_SLOT_UNTETHERED;
		}
		sbp_put_str(&w, t->name);
		sbp_put_u64(&w, t->seg.data_size);
		sbp_put_u32(&w, t->seg.max_record);
		sbp_put_u32(&w, t->seg.rec_align);
		sbp_put_i32(&w, t->cfg.numa_node);
		sbp_put_u8(&w, (t->seg.hdr->flags & SB_SEG_F_HUGETLB) ? 1 : 0);
		sbp_put_u32(&w, (pubs & SB_PUBS_EXCLUSIVE_BIT) ? 1 : pubs);
		sbp_put_u32(&w, subs);
		/* RELAXED: statistics; published-so-far for a monitor. */
		sbp_put_u64(&w, sb_load_relaxed(&prod->next_seq));
		n++;
	}
	urcu_memb_read_unlock();
	memcpy(out, &n, sizeof(n));
	out[4] = truncated;
	sbd_reply(d, s, SB_OK, out, w.len);
}

static void daemon_stats(struct sbd *d, struct sbp_wr *w, unsigned *n)
{
	const struct sbd_counters *c = &d->ctr;

	kv(w, n, "clients_total", c->clients_total);
	kv(w, n, "clients_now", c->clients_now);
	kv(w, n, "malformed", c->malformed);
	kv(w, n, "fds_refused", c->fds_refused);
	kv(w, n, "hello_timeouts", c->hello_timeouts);
	kv(w, n, "clients_refused", c->clients_refused);
	kv(w, n, "opens", c->opens);
	kv(w, n, "opens_denied", c->opens_denied);
	kv(w, n, "attaches", c->attaches);
	kv(w, n, "topics_created", c->topics_created);
	kv(w, n, "topics_deleted", c->topics_deleted);
	kv(w, n, "sub_slots_released", c->sub_slots_released);
	kv(w, n, "pub_slots_released", c->pub_slots_released);
	kv(w, n, "claims_repaired", c->claims_repaired);
	kv(w, n, "repair_failures", c->repair_failures);
	{
		uint64_t pending = 0;

		for (const struct sbd_repair *r = d->repairs; r; r = r->next)
			pending++;
		kv(w, n, "repairs_pending", pending);
	}
}

static void topic_stats(const struct sbd_topic *t, struct sbp_wr *w, unsigned *n)
{
	const struct sb_prod_ctl *prod = t->seg.prod;
	/* RELAXED throughout: statistics snapshot for a monitor. */
	uint64_t tail = sb_load_relaxed(&prod->tail);

	kv(w, n, "ring_size", t->seg.data_size);
	kv(w, n, "max_msg", t->seg.max_record);
	kv(w, n, "msg_align", t->seg.rec_align);
	kv(w, n, "hugetlb", (t->seg.hdr->flags & SB_SEG_F_HUGETLB) ? 1 : 0);
	kv(w, n, "numa_node", (uint64_t)(int64_t)t->cfg.numa_node);
	kv(w, n, "head", sb_load_relaxed(&prod->head));
	kv(w, n, "tail", tail);
	kv(w, n, "published", sb_load_relaxed(&prod->next_seq));
	kv(w, n, "publishers", sb_load_relaxed(&prod->publishers));
	kv(w, n, "repairs", sb_load_relaxed(&prod->repairs));
	for (uint32_t i = 0; i < t->seg.max_pubs; i++) {
		const struct sb_pub_slot *p = &prod->pub[i];

		if (sb_load_relaxed(&p->state) != SB_SLOT_PUBLISHER)
			continue;
		kv_slot(w, n, "pub", i, "pid", p->pid);
		kv_slot(w, n, "pub", i, "records", sb_load_relaxed(&p->records));
		kv_slot(w, n, "pub", i, "bytes", sb_load_relaxed(&p->bytes));
		kv_slot(w, n, "pub", i, "backpressure", sb_load_relaxed(&p->backpressure));
		kv_slot(w, n, "pub", i, "aborted", sb_load_relaxed(&p->aborted));
	}
	for (uint32_t i = 0; i < t->seg.max_subs; i++) {
		const struct sb_sub_slot *ss = &t->seg.subs->sub[i];
		uint32_t st = sb_load_relaxed(&ss->state);
		uint64_t cur;

		if (st != SB_SLOT_TETHERED && st != SB_SLOT_UNTETHERED)
			continue;
		cur = sb_load_relaxed(&ss->cursor);
		kv_slot(w, n, "sub", i, "tethered", st == SB_SLOT_TETHERED);
		kv_slot(w, n, "sub", i, "pid", ss->pid);
		kv_slot(w, n, "sub", i, "consumed", sb_load_relaxed(&ss->consumed));
		kv_slot(w, n, "sub", i, "lost", sb_load_relaxed(&ss->lost));
		kv_slot(w, n, "sub", i, "laps", sb_load_relaxed(&ss->laps));
		kv_slot(w, n, "sub", i, "lag_bytes", tail > cur ? tail - cur : 0);
	}
}

#ifdef SB_HAVE_BRIDGE
#include <stddef.h>

#define BRIDGE_PREFIX ".bridge"

static const char *const malformed_names[SBW_E_COUNT_] = {
	[SBW_E_SHORT] = "short", [SBW_E_MAGIC] = "magic", [SBW_E_VERSION] = "version",
	[SBW_E_TYPE] = "type",   [SBW_E_LENGTH] = "length", [SBW_E_CRC] = "crc",
	[SBW_E_FIELD] = "field",
};

#define PC(f) { #f, offsetof(struct sbb_port_counters, f) }
static const struct { const char *name; size_t off; } port_fields[] = {
	PC(frames_rx), PC(bytes_rx), PC(frames_tx), PC(bytes_tx), PC(malformed), PC(other_ethertype),
	PC(unknown_topic), PC(tx_dropped), PC(tx_deferred), PC(rx_fault_drops), PC(rx_fault_dups), PC(rx_fault_holds),
	PC(rx_fault_corruptions), PC(tx_fault_drops), PC(tx_fault_dups), PC(tx_fault_holds),
	PC(tx_fault_corruptions),
};
#undef PC

#define EC(f) { #f, offsetof(struct sbb_counters, f) }
static const struct { const char *name; size_t off; } engine_fields[] = {
	EC(frames_tx), EC(frames_rx), EC(bytes_tx), EC(bytes_rx), EC(records_tx), EC(records_rx),
	EC(batches), EC(fragments_tx), EC(fragments_rx), EC(naks_tx), EC(naks_rx), EC(retransmits),
	EC(duplicates), EC(out_of_order), EC(gaps_unrecovered), EC(malformed), EC(heartbeats_tx),
	EC(heartbeats_rx), EC(status_tx), EC(status_rx), EC(setups_tx), EC(setups_rx), EC(resyncs),
	EC(backpressure), EC(zero_copy_frames), EC(copied_frames), EC(ooo_stored), EC(naks_ignored), EC(foreign_rx),
	EC(walk_headers),
};
#undef EC

struct bridge_walk {
	struct sbp_wr *w;
	unsigned *n;
	const char *kind;  /* direction wanted, or NULL: directory only */
	unsigned index;    /* which one of that kind */
	unsigned seen[2];  /* exports, imports walked so far */
	bool found;
};

static void port_kv(void *ctx, uint16_t port, const struct sbb_port_counters *c)
{
	struct bridge_walk *bw = ctx;
	char key[96];

	for (size_t i = 0; i < sizeof(port_fields) / sizeof(port_fields[0]); i++) {
		snprintf(key, sizeof(key), "bridge.port%u.%s", port, port_fields[i].name);
		kv(bw->w, bw->n, key, *(const uint64_t *)((const char *)c + port_fields[i].off));
	}
	for (unsigned e = 0; e < SBW_E_COUNT_; e++) {
		if (!malformed_names[e] || c->malformed_by[e] == 0)
			continue; /* reasons that never happened stay out of the reply */
		snprintf(key, sizeof(key), "bridge.port%u.malformed.%s", port, malformed_names[e]);
		kv(bw->w, bw->n, key, c->malformed_by[e]);
	}
}

static void count_port(void *ctx, uint16_t port, const struct sbb_port_counters *c)
{
	(void)port;
	(void)c;
	(*(unsigned *)ctx)++;
}

static void direction_kv(void *ctx, const char *kind, const char *name, const struct sbb_counters *c,
			 bool zero_copy)
{
	struct bridge_walk *bw = ctx;
	unsigned index = bw->seen[strcmp(kind, "export") != 0]++;
	char key[160];

	if (!bw->kind) {
		snprintf(key, sizeof(key), "bridge.%s.%s", kind, name);
		kv(bw->w, bw->n, key, index);
		return;
	}
	if (strcmp(kind, bw->kind) != 0 || index != bw->index)
		return;
	bw->found = true;
	if (!strcmp(kind, "export")) {
		snprintf(key, sizeof(key), "bridge.%s.%s.zero_copy", kind, name);
		kv(bw->w, bw->n, key, zero_copy);
	}
	for (size_t i = 0; i < sizeof(engine_fields) / sizeof(engine_fields[0]); i++) {
		snprintf(key, sizeof(key), "bridge.%s.%s.%s", kind, name, engine_fields[i].name);
		kv(bw->w, bw->n, key, *(const uint64_t *)((const char *)c + engine_fields[i].off));
	}
}

/* STATS ".bridge[.export.T|.import.T]".  Returns 0 or a code to reply. */
static int bridge_stats(struct sbd *d, struct sbd_session *s, const char *what, struct sbp_wr *w, unsigned *n)
{
	struct bridge_walk bw = { .w = w, .n = n };
	const char *rest = what + strlen(BRIDGE_PREFIX);

	if (!d->bridge)
		return sbi_error(SB_ENOENT, "STATS: no bridge is running in this shmbusd");
	if (*rest == '\0') {
		unsigned ports = 0;

		sbb_bridge_port_stats(d->bridge, count_port, &ports);
		kv(w, n, "bridge.ports", ports);
		kv(w, n, "bridge.exports", d->cfg.bridge.n_exports);
		kv(w, n, "bridge.imports", d->cfg.bridge.n_imports);
		sbb_bridge_port_stats(d->bridge, port_kv, &bw);
		sbb_bridge_stats(d->bridge, direction_kv, &bw);
		return SB_OK;
	}
	if (!strncmp(rest, ".export.", 8) || !strncmp(rest, ".import.", 8)) {
		const struct sbb_config *bc = &d->cfg.bridge;
		bool ex = rest[1] == 'e';
		const char *num = rest + 8;
		char *end;
		unsigned long i;
		struct sbd_topic *t;

		i = strtoul(num, &end, 10);
		if (*num < '0' || *num > '9' || *end != '\0' || i >= (ex ? bc->n_exports : bc->n_imports))
			return sbi_error(SB_ENOENT, "STATS: the bridge has no %s number %s", ex ? "export" : "import", num);
		t = sbd_topic_find(d, ex ? bc->exports[i].topic : bc->imports[i].topic);
		if (t && sbd_topic_access(t, s->uid, s->gid, SBP_ROLE_SUB) < 0)
			return SB_EACCES;
		bw.kind = ex ? "export" : "import";
		bw.index = (unsigned)i;
		sbb_bridge_stats(d->bridge, direction_kv, &bw);
		return bw.found ? SB_OK : sbi_error(SB_ENOENT, "STATS: %s %lu not found", bw.kind, i);
	}
	return sbi_error(SB_ENOENT, "STATS: no bridge counters named %s", what);
}
#endif

void sbd_stats_stats(struct sbd *d, struct sbd_session *s, const char *topic)
{
	uint8_t out[SBP_BODY_MAX - 4];
	struct sbp_wr w;
	unsigned n = 0;

	sbp_wr_init(&w, out, sizeof(out) - 32); /* keep room for "truncated" */
	sbp_put_u32(&w, 0);
	if (topic[0] == '\0') {
		daemon_stats(d, &w, &n);
	} else if (!strncmp(topic, ".bridge", 7) && (topic[7] == '\0' || topic[7] == '.')) {
#ifdef SB_HAVE_BRIDGE
		int rc = bridge_stats(d, s, topic, &w, &n);

		if (rc < 0) {
			sbd_reply(d, s, rc, NULL, 0);
			return;
		}
#else
		sbd_reply(d, s, sbi_error(SB_ENOENT, "STATS: bridge not built into this shmbusd"), NULL, 0);
		return;
#endif
	} else {
		struct sbd_topic *t = sbd_topic_find(d, topic);

		if (!t) {
			sbd_reply(d, s, sbi_error(SB_ENOENT, "STATS: no topic %s", topic), NULL, 0);
			return;
		}
		if (sbd_topic_access(t, s->uid, s->gid, SBP_ROLE_SUB) < 0) {
			sbd_reply(d, s, SB_EACCES, NULL, 0);
			return;
		}
		topic_stats(t, &w, &n);
	}
	if (w.bad) {
		w.bad = false;
		w.cap = sizeof(out);
		kv(&w, &n, "truncated", 1);
	}
	memcpy(out, &n, sizeof(uint32_t));
	sbd_reply(d, s, SB_OK, out, w.len);
}

void sbd_stats_clients(struct sbd *d, struct sbd_session *s)
{
	uint8_t out[SBP_BODY_MAX - 4];
	struct sbp_wr w;
	uint32_t n = 0;
	uint8_t truncated = 0;

	sbp_wr_init(&w, out, sizeof(out));
	sbp_put_u32(&w, 0);
	sbp_put_u8(&w, 0);
	for (const struct sbd_session *o = d->sessions; o; o = o->next) {
		uint32_t handles = 0;

		if (w.cap - w.len < ROOM_FOR_ENTRY) {
			truncated = 1;
			break;
		}
		for (unsigned i = 0; i < SBD_MAX_HANDLES; i++)
			handles += o->handles[i].id != 0;
		sbp_put_u32(&w, o->id);
		sbp_put_i32(&w, (int32_t)o->peer_pid);
		sbp_put_u32(&w, (uint32_t)o->uid);
		sbp_put_u32(&w, (uint32_t)o->gid);
		sbp_put_str(&w, o->name);
		sbp_put_u32(&w, handles);
		n++;
	}
	memcpy(out, &n, sizeof(n));
	out[4] = truncated;
	sbd_reply(d, s, SB_OK, out, w.len);
}
