/*
 * registry.c - the topic registry: an RCU lock-free hash table (liburcu
 * cds_lfht, urcu-memb flavour) keyed by topic name, segment creation with
 * NUMA binding before first touch, and per-topic access checks.
 *
 * Concurrency contract.  The control thread is the only writer.  Readers
 * (the control thread itself now; bridge workers later, registered with
 * urcu_memb_register_thread) look topics up inside urcu_memb_read_lock().
 * A topic leaves the table with cds_lfht_del, then synchronize_rcu, and only
 * then may its memory be freed: no reader can still hold it.  The control
 * thread additionally counts references (handles, pending repairs, the table
 * itself) and frees a topic when the last one goes.
 *
 * NUMA.  sb_seg_create() maps with MAP_POPULATE, i.e. the pages are touched
 * inside the call.  To place them on the configured node we set this
 * thread's memory policy to MPOL_BIND for that node around the call (pages
 * of shmem/hugetlbfs files follow the faulting task's policy when the file
 * has none), then restore the default (local) policy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sbd.h"

static unsigned long name_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return (unsigned long)h;
}

static int name_match(struct cds_lfht_node *node, const void *key)
{
	const struct sbd_topic *t = caa_container_of(node, struct sbd_topic, node);

	return strcmp(t->name, key) == 0;
}

bool sbd_topic_name_ok(const char *name)
{
	size_t n = strnlen(name, SB_TOPIC_NAME_MAX);

	if (n == 0 || n >= SB_TOPIC_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int sbd_registry_init(struct sbd *d)
{
	d->topics = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	if (!d->topics)
		return sbi_error(SB_ENOMEM, "topic hash table");
	return SB_OK;
}

struct sbd_topic *sbd_topic_find(struct sbd *d, const char *name)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	urcu_memb_read_lock();
	cds_lfht_lookup(d->topics, name_hash(name), name_match, name, &it);
	n = cds_lfht_iter_get_node(&it);
	urcu_memb_read_unlock();
	/* Safe to use after the read section: only this (control) thread
	 * removes and frees topics. */
	return n ? caa_container_of(n, struct sbd_topic, node) : NULL;
}

static void free_topic(struct sbd_topic *t)
{
	if (t->ro_fd >= 0)
		close(t->ro_fd);
	sb_seg_close(&t->seg);
	free(t);
}

/* A new topic struct: no segment yet, no read-only fd. */
static struct sbd_topic *alloc_topic(void)
{
	struct sbd_topic *t = calloc(1, sizeof(*t));

	if (t) {
		t->seg.fd = t->seg.subs_fd = -1;
		t->ro_fd = -1;
	}
	return t;
}

/* Move an invalid segment file aside, with its subscriber file if there is
 * one, so that the name is free and the evidence kept; the reason logged is
 * sb_last_error() at the call.  Returns 0 or SB_EIO (the segment file could
 * not be renamed). */
static int quarantine(const char *path)
{
	char aside[600], subs[520], subs_aside[600], why[256];
	long long now = (long long)time(NULL);

	snprintf(why, sizeof(why), "%s", sb_last_error()); /* before anything overwrites it */
	snprintf(aside, sizeof(aside), "%s.quarantine-%lld", path, now);
	if (rename(path, aside) != 0) {
		int rc = sbi_error(SB_EIO, "rename %s: %s", path, strerror(errno));

		sbi_log(SB_LOG_ERR, "registry", "msg=\"invalid segment, rename failed\" path=%s reason=\"%s\" errno=%d",
			path, why, errno);
		return rc;
	}
	if (sb_seg_subs_path(subs, sizeof(subs), path)) {
		snprintf(subs_aside, sizeof(subs_aside), "%s.quarantine-%lld", subs, now);
		if (rename(subs, subs_aside) != 0 && errno != ENOENT)
			sbi_log(SB_LOG_WARN, "registry", "msg=\"subscriber file not moved aside\" path=%s errno=%d",
				subs, errno);
	}
	sbi_log(SB_LOG_WARN, "registry", "msg=\"quarantined invalid segment\" path=%s to=%s reason=\"%s\"", path,
		aside, why);
	return SB_OK;
}

void sbd_topic_get(struct sbd_topic *t)
{
	t->refs++;
}

void sbd_topic_put(struct sbd *d, struct sbd_topic *t)
{
	(void)d;
	if (--t->refs != 0)
		return;
	/* The last reference is the table's or goes after it: t is out of the
	 * table and a grace period has passed (sbd_topic_delete, fini). */
	free_topic(t);
}

/* Create with the configured policy: NUMA binding, and the hugetlbfs then
 * /dev/shm fallback when no directory was given. */
static int create_segment(struct sbd *d, const struct sbd_topic_cfg *c, struct sb_seg *seg)
{
	struct sb_seg_params sp = {
		.name = c->name,
		.data_size = c->ring_size,
		.max_record = c->max_msg,
		.rec_align = c->msg_align,
		.dir = d->dir,
		.mode = d->cfg.segment_mode,
		.no_hugepages = d->cfg.no_hugepages,
	};
	struct bitmask *mask = NULL;
	int rc;

	if (c->numa_node >= 0) {
		if (numa_available() < 0 || c->numa_node > numa_max_node())
			return sbi_error(SB_EINVAL, "topic %s: NUMA node %d does not exist on this machine",
					 c->name, c->numa_node);
		mask = numa_allocate_nodemask();
		if (!mask)
			return sbi_error(SB_ENOMEM, "NUMA node mask");
		numa_bitmask_setbit(mask, (unsigned)c->numa_node);
		numa_set_membind(mask); /* MPOL_BIND for the pre-fault below */
	}
	rc = sb_seg_create(&sp, seg);
	if (rc == SB_ENOMEM && d->fallback_dir[0]) {
		sbi_log(SB_LOG_WARN, "registry", "msg=\"hugepages unavailable, falling back\" topic=%s dir=%s reason=\"%s\"",
			c->name, d->fallback_dir, sb_last_error());
		sp.dir = d->fallback_dir;
		rc = sb_seg_create(&sp, seg);
	}
	if (mask) {
		numa_set_localalloc(); /* back to the default policy */
		numa_free_nodemask(mask);
	}
	return rc;
}

/* A file of that name already exists: adopt it if it validates and matches,
 * else move it aside and report.  Returns 0 (adopted), 1 (quarantined:
 * create again) or a negative code. */
static int adopt_or_quarantine(struct sbd *d, const char *name, struct sb_seg *seg)
{
	char path[512];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	rc = sb_seg_open_path(path, SB_SEG_ADMIN, seg);
	if (rc == SB_OK && strcmp(seg->hdr->name, name) == 0) {
		sbi_log(SB_LOG_INFO, "registry", "msg=\"adopted existing segment\" topic=%s path=%s", name, path);
		return 0;
	}
	if (rc == SB_OK) {
		sbi_error(SB_ECORRUPT, "segment names topic '%s'", seg->hdr->name);
		sb_seg_close(seg);
	} else if (rc != SB_ECORRUPT && rc != SB_EVERSION) {
		return rc;
	}
	rc = quarantine(path);
	return rc < 0 ? rc : 1;
}

/* Open the segment file once more, read-only, for subscribers (checking
 * that the path still names the file mapped). */
static int open_readonly(struct sbd_topic *t)
{
	struct stat a, b;

	t->ro_fd = open(t->seg.path, O_RDONLY | O_CLOEXEC);
	if (t->ro_fd < 0)
		return sbi_error(sbi_io_code(errno), "topic %s: open %s read-only: %s", t->name, t->seg.path,
				 strerror(errno));
	if (fstat(t->ro_fd, &a) != 0 || fstat(t->seg.fd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return sbi_error(SB_EIO, "topic %s: %s was replaced while it was being opened", t->name, t->seg.path);
	return SB_OK;
}

/* Insert into the table (which then holds one reference).  Frees t on
 * failure, removing its files if this call's caller made them (fresh): a
 * half-made topic must not be adopted by the next start. */
static int register_topic(struct sbd *d, struct sbd_topic *t, bool fresh)
{
	struct cds_lfht_node *added;
	int rc = open_readonly(t);

	if (rc < 0) {
		if (fresh)
			sb_seg_unlink(&t->seg);
		free_topic(t);
		return rc;
	}
	t->refs = 1;
	cds_lfht_node_init(&t->node);
	urcu_memb_read_lock();
	added = cds_lfht_add_unique(d->topics, name_hash(t->name), name_match, t->name, &t->node);
	urcu_memb_read_unlock();
	if (added != &t->node) { /* cannot happen: we are the only writer */
		rc = sbi_error(SB_EEXIST, "topic %s exists", t->name);
		free_topic(t);
		return rc;
	}
	d->n_topics++;
	return SB_OK;
}

/* Running out of descriptors is the operator's to fix (ulimit -n), so it
 * is logged here as well as answered to the client. */
static int create_failed(const struct sbd *d, const char *name, int rc)
{
	if (rc == SB_EMFILE)
		sbi_log(SB_LOG_WARN, "registry", "msg=\"topic not created: out of file descriptors\" topic=%s "
			"topics=%u detail=\"%s\"", name, d->n_topics, sb_last_error());
	return rc;
}

int sbd_topic_create(struct sbd *d, const char *name, const struct sbp_topic_params *p, uid_t uid,
		     gid_t gid, struct sbd_topic **out)
{
	const struct sbd_topic_cfg *conf;
	struct sbd_topic *t;
	bool fresh = false;
	int rc;

	if (!sbd_topic_name_ok(name))
		return sbi_error(SB_EINVAL, "topic name '%.64s' must be 1-%d characters of [A-Za-z0-9._-], not starting with '.'",
				 name, SB_TOPIC_NAME_MAX - 1);
	if (sbd_topic_find(d, name))
		return sbi_error(SB_EEXIST, "topic %s exists", name);
	if (d->n_topics >= d->cfg.max_topics)
		return sbi_error(SB_ENOSPC, "topic %s: the daemon already holds %u topics (max_topics)", name,
				 d->n_topics);
	t = alloc_topic();
	if (!t)
		return sbi_error(SB_ENOMEM, "topic %s", name);
	conf = sbd_config_topic(&d->cfg, name);
	t->cfg = conf ? *conf : d->cfg.defaults;
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (!conf && p) {
		/* Only unconfigured topics take the creator's parameters. */
		if (p->ring_size)
			t->cfg.ring_size = p->ring_size;
		if (p->max_msg)
			t->cfg.max_msg = p->max_msg;
		if (p->msg_align)
			t->cfg.msg_align = p->msg_align;
		if (p->numa_node >= 0)
			t->cfg.numa_node = p->numa_node;
	}
	if (!t->cfg.uid_set) {
		t->cfg.uid = (uint32_t)uid;
		t->cfg.uid_set = true;
	}
	if (!t->cfg.gid_set) {
		t->cfg.gid = (uint32_t)gid;
		t->cfg.gid_set = true;
	}
	for (int attempt = 0;; attempt++) {
		rc = create_segment(d, &t->cfg, &t->seg);
		fresh = rc == SB_OK;
		if (rc != SB_EEXIST || attempt > 0)
			break;
		rc = adopt_or_quarantine(d, name, &t->seg);
		if (rc <= 0)
			break;
	}
	if (rc < 0) {
		free_topic(t);
		return create_failed(d, name, rc);
	}
	/* The creator's mapping is read-write over the whole file, which is
	 * exactly an admin mapping: let sb_ring_repair() use it. */
	t->seg.access = SB_SEG_ADMIN;
	rc = register_topic(d, t, fresh);
	if (rc < 0)
		return create_failed(d, name, rc);
	d->ctr.topics_created++;
	sbi_log(SB_LOG_INFO, "registry",
		"msg=\"topic ready\" topic=%s path=%s ring=%llu max_msg=%u align=%u numa=%d hugetlb=%d uid=%u gid=%u mode=%03o",
		name, t->seg.path, (unsigned long long)t->seg.data_size, t->seg.max_record, t->seg.rec_align,
		t->cfg.numa_node, (t->seg.hdr->flags & SB_SEG_F_HUGETLB) ? 1 : 0, t->cfg.uid, t->cfg.gid,
		t->cfg.mode);
	*out = t;
	return SB_OK;
}

int sbd_topic_delete(struct sbd *d, struct sbd_topic *t)
{
	int rc;

	urcu_memb_read_lock();
	rc = cds_lfht_del(d->topics, &t->node);
	urcu_memb_read_unlock();
	if (rc != 0)
		return sbi_error(SB_ENOENT, "topic %s is not registered", t->name);
	urcu_memb_synchronize_rcu(); /* no lock-free reader holds t any more */
	d->n_topics--;
	sb_seg_unlink(&t->seg);
	t->unlinked = true;
	d->ctr.topics_deleted++;
	sbi_log(SB_LOG_INFO, "registry", "msg=\"topic deleted\" topic=%s open_handles=%u", t->name, t->refs - 1);
	sbd_topic_put(d, t);
	return SB_OK;
}

int sbd_topic_access(const struct sbd_topic *t, uid_t uid, gid_t gid, int role)
{
	const struct sbd_topic_cfg *c = &t->cfg;
	uint32_t need = role == SBP_ROLE_SUB ? 4 : 2, bits;

	if (uid == 0)
		return SB_OK;
	if (c->n_allow_uids || c->n_allow_gids) {
		for (unsigned i = 0; i < c->n_allow_uids; i++)
			if (c->allow_uids[i] == (uint32_t)uid)
				return SB_OK;
		for (unsigned i = 0; i < c->n_allow_gids; i++)
			if (c->allow_gids[i] == (uint32_t)gid)
				return SB_OK;
		return sbi_error(SB_EACCES, "topic %s: uid %u gid %u is not in the topic's allowed list", t->name,
				 (unsigned)uid, (unsigned)gid);
	}
	if ((uint32_t)uid == c->uid)
		bits = (c->mode >> 6) & 7;
	else if ((uint32_t)gid == c->gid)
		bits = (c->mode >> 3) & 7;
	else
		bits = c->mode & 7;
	if (!(bits & need))
		return sbi_error(SB_EACCES, "topic %s: mode %03o (owner %u:%u) denies %s to uid %u gid %u", t->name,
				 c->mode, c->uid, c->gid, role == SBP_ROLE_SUB ? "subscribing" : "publishing",
				 (unsigned)uid, (unsigned)gid);
	return SB_OK;
}

/* Adopt one file found in the segment directory at start-up. */
static void adopt_file(struct sbd *d, const char *name)
{
	const struct sbd_topic_cfg *conf = sbd_config_topic(&d->cfg, name);
	char path[512];
	struct sbd_topic *t;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	t = alloc_topic();
	if (!t)
		return;
	rc = sb_seg_open_path(path, SB_SEG_ADMIN, &t->seg);
	if (rc == SB_OK && strcmp(t->seg.hdr->name, name) != 0) {
		rc = sbi_error(SB_ECORRUPT, "file %s holds topic '%s'", name, t->seg.hdr->name);
		sb_seg_close(&t->seg);
	}
	if (rc < 0) {
		free_topic(t);
		quarantine(path);
		return;
	}
	t->cfg = conf ? *conf : d->cfg.defaults;
	snprintf(t->cfg.name, sizeof(t->cfg.name), "%s", name);
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (!t->cfg.uid_set) {
		t->cfg.uid = st.st_uid; /* best record of the creator we have */
		t->cfg.gid = st.st_gid;
		t->cfg.uid_set = t->cfg.gid_set = true;
	}
	if (conf && (conf->ring_size != t->seg.data_size || conf->max_msg != t->seg.max_record))
		sbi_log(SB_LOG_WARN, "registry",
			"msg=\"adopted segment differs from configuration; keeping the segment (delete the topic to apply)\" topic=%s",
			name);
	if (register_topic(d, t, false) == SB_OK) {
		sbi_log(SB_LOG_INFO, "registry", "msg=\"adopted segment\" topic=%s path=%s published=%llu", name, path,
			(unsigned long long)sb_load_relaxed(&t->seg.prod->next_seq));
		sbd_lease_adopt_orphans(d, t);
	}
}

int sbd_registry_adopt_dir(struct sbd *d, const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	if (!dp)
		return sbi_error(SB_EIO, "open segment directory %s: %s", dir, strerror(errno));
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.' || strstr(e->d_name, ".quarantine-") || !sbd_topic_name_ok(e->d_name))
			continue;
		if (sbd_topic_find(d, e->d_name))
			continue;
		adopt_file(d, e->d_name);
	}
	closedir(dp);
	return SB_OK;
}

int sbd_topics_from_config(struct sbd *d)
{
	for (unsigned i = 0; i < d->cfg.n_topics; i++) {
		struct sbd_topic *t;
		int rc;

		if (sbd_topic_find(d, d->cfg.topics[i].name))
			continue; /* adopted from the directory */
		rc = sbd_topic_create(d, d->cfg.topics[i].name, NULL, geteuid(), getegid(), &t);

		if (rc < 0) {
			sbi_log(SB_LOG_ERR, "registry", "msg=\"configured topic failed\" topic=%s code=%d detail=\"%s\"",
				d->cfg.topics[i].name, rc, sb_last_error());
			return rc;
		}
	}
	return SB_OK;
}

void sbd_registry_fini(struct sbd *d)
{
	struct cds_lfht_iter it;
	struct sbd_topic *t;
	struct sbd_topic *gone[256];
	unsigned n;

	if (!d->topics)
		return;
	do {
		n = 0;
		urcu_memb_read_lock();
		cds_lfht_for_each_entry(d->topics, &it, t, node) {
			if (n == 256)
				break;
			if (cds_lfht_del(d->topics, &t->node) == 0)
				gone[n++] = t;
		}
		urcu_memb_read_unlock();
		urcu_memb_synchronize_rcu();
		for (unsigned i = 0; i < n; i++)
			sbd_topic_put(d, gone[i]);
	} while (n != 0);
	cds_lfht_destroy(d->topics, NULL);
	d->topics = NULL;
}
