/*
 * session.c - one client connection: framing, HELLO, request dispatch.
 *
 * Design note (defensive parsing, STYLE habit 12).  A session reads exactly
 * one message at a time into its buffer: first the 16-byte header, which is
 * checked (magic, version, body length <= 4096) before the body length is
 * used for anything; then exactly body_len bytes.  A bad header makes the
 * stream unusable: the session answers with an error reply and is closed.
 * A good header with a bad body (unknown type, short or trailing bytes,
 * invalid strings, a request before HELLO) gets an error reply and the
 * connection stays up.  Every fd a client sends is closed unread and the
 * message it came with is refused.  Replies are sent with MSG_DONTWAIT: a
 * client that does not read its replies is disconnected, never waited for.
 * Every malformed input goes through one counter (malformed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sbd.h"

#define MSGS_PER_WAKEUP 16

/* Is the peer in our pid namespace?  If not, SO_PEERCRED gives its pid as
 * we see it while the slots it takes carry getpid() of its own namespace,
 * so pid checks cannot be made (containers: docs/protocol.md section 4). */
static bool same_pidns(pid_t pid)
{
	char path[64], mine[64], theirs[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	a = readlink("/proc/self/ns/pid", mine, sizeof(mine) - 1);
	b = readlink(path, theirs, sizeof(theirs) - 1);
	if (a <= 0 || b <= 0)
		return true; /* no /proc: assume one namespace */
	return a == b && memcmp(mine, theirs, (size_t)a) == 0;
}

struct sbd_session *sbd_session_new(struct sbd *d, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct sbd_session *s;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
		sbi_log(SB_LOG_WARN, "session", "msg=\"SO_PEERCRED failed; connection refused\" errno=%d", errno);
		close(fd);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return NULL;
	}
	s->kind = SBD_EV_SESSION;
	s->fd = fd;
	s->id = ++d->next_client_id;
	s->peer_pid = cr.pid;
	s->pid = cr.pid > 0 && same_pidns(cr.pid) ? cr.pid : 0;
	s->uid = cr.uid;
	s->gid = cr.gid;
	s->hello_deadline_ns = sb_mono_ns() + (uint64_t)d->cfg.hello_timeout_ms * 1000000u;
	ev.data.ptr = s;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		free(s);
		return NULL;
	}
	s->next = d->sessions;
	d->sessions = s;
	d->ctr.clients_total++;
	d->ctr.clients_now++;
	sbi_log(SB_LOG_DEBUG, "session", "msg=\"connected\" client=%u pid=%d uid=%u gid=%u", s->id, (int)s->peer_pid,
		(unsigned)s->uid, (unsigned)s->gid);
	return s;
}

void sbd_session_close(struct sbd *d, struct sbd_session *s, bool release)
{
	struct sbd_session **pp;

	for (unsigned i = 0; i < SBD_MAX_HANDLES; i++) {
		struct sbd_handle *h = &s->handles[i];

		if (!h->id)
			continue;
		if (release && h->attached)
			sbd_lease_release(d, s, h);
		else if (release)
			sbd_lease_sweep_unreported(d, s, h);
		sbd_topic_put(d, h->t);
		memset(h, 0, sizeof(*h));
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	for (pp = &d->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	d->ctr.clients_now--;
	sbi_log(SB_LOG_INFO, "session", "msg=\"disconnected\" client=%u name=\"%s\" pid=%d", s->id, s->name,
		(int)s->peer_pid);
	free(s);
}

int sbd_reply_fds(struct sbd *d, struct sbd_session *s, int status, const void *extra, uint32_t len,
		  const int *fds, unsigned nfds)
{
	int rc;

	(void)d;
	rc = sbp_reply(s->fd, &s->rbuf.hdr, status, status < 0 ? sb_last_error() : NULL, extra, len, fds, nfds,
		       MSG_DONTWAIT);
	if (rc < 0)
		s->dead = true;
	return rc;
}

int sbd_reply(struct sbd *d, struct sbd_session *s, int status, const void *extra, uint32_t len)
{
	return sbd_reply_fds(d, s, status, extra, len, NULL, 0);
}

static void malformed(struct sbd *d, struct sbd_session *s, int code, const char *what)
{
	d->ctr.malformed++;
	sbi_log(SB_LOG_WARN, "session", "msg=\"malformed request\" client=%u pid=%d type=0x%04x what=\"%s\"", s->id,
		(int)s->peer_pid, s->rbuf.hdr.type, what);
	sbd_reply(d, s, sbi_error(code, "%s", what), NULL, 0);
}

static struct sbd_handle *find_handle(struct sbd_session *s, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (unsigned i = 0; i < SBD_MAX_HANDLES; i++)
		if (s->handles[i].id == id)
			return &s->handles[i];
	return NULL;
}

/* ---------------------------------------------------------------- handlers */

static void on_hello(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	uint8_t out[256];
	struct sbp_wr w;
	char name[SBP_NAME_MAX];

	sbp_get_str(r, name, sizeof(name));
	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "HELLO: body must be a client name of at most 63 bytes");
		return;
	}
	if (s->hello) {
		sbd_reply(d, s, sbi_error(SB_ESTATE, "HELLO already received"), NULL, 0);
		return;
	}
	for (char *c = name; *c; c++)
		if (*c < 0x20 || *c == '"' || *c == 0x7f)
			*c = '?'; /* keep log lines parseable */
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->hello = true;
	sbp_wr_init(&w, out, sizeof(out));
	sbp_put_u32(&w, SBP_VERSION);
	sbp_put_u32(&w, s->id);
	sbp_put_u64(&w, (uint64_t)getpid());
	sbp_put_str(&w, SBD_VERSION_STR);
	sbd_reply(d, s, SB_OK, out, w.len);
	sbi_log(SB_LOG_INFO, "session", "msg=\"hello\" client=%u name=\"%s\" pid=%d uid=%u gid=%u", s->id, s->name,
		(int)s->peer_pid, (unsigned)s->uid, (unsigned)s->gid);
}

static int get_or_create(struct sbd *d, struct sbd_session *s, const char *name, uint32_t flags,
			 const struct sbp_topic_params *tp, struct sbd_topic **out)
{
	struct sbd_topic *t = sbd_topic_find(d, name);

	if (t) {
		if ((flags & SBP_OPEN_CREATE) && (flags & SBP_OPEN_EXCL))
			return sbi_error(SB_EEXIST, "topic %s exists", name);
		*out = t;
		return SB_OK;
	}
	if (!(flags & SBP_OPEN_CREATE))
		return sbi_error(SB_ENOENT, "no topic %s", name);
	if (!d->cfg.auto_create && s->uid != 0)
		return sbi_error(SB_ENOENT, "no topic %s, and this daemon creates topics only from its configuration",
				 name);
	return sbd_topic_create(d, name, tp, s->uid, s->gid, out);
}

static void on_open(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	char name[SB_TOPIC_NAME_MAX];
	struct sbp_topic_params tp;
	struct sbd_topic *t = NULL;
	struct sbd_handle *h = NULL;
	uint8_t role, out[64];
	uint16_t flags;
	int fds[2];
	struct sbp_wr w;
	int rc;

	sbp_get_str(r, name, sizeof(name));
	role = sbp_get_u8(r);
	(void)sbp_get_u8(r); /* reserved */
	flags = sbp_get_u16(r);
	sbp_get_params(r, &tp);
	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "OPEN: malformed body");
		return;
	}
	if ((role != SBP_ROLE_PUB && role != SBP_ROLE_SUB) || (flags & ~SBP_OPEN_FLAGS) || !sbd_topic_name_ok(name)) {
		sbd_reply(d, s, sbi_error(SB_EINVAL, "OPEN: bad role %u, flags 0x%x or topic name", role, flags),
			  NULL, 0);
		return;
	}
	rc = get_or_create(d, s, name, flags, &tp, &t);
	if (rc == SB_OK)
		rc = sbd_topic_access(t, s->uid, s->gid, role);
	if (rc == SB_EACCES)
		d->ctr.opens_denied++;
	if (rc == SB_OK) {
		for (unsigned i = 0; i < SBD_MAX_HANDLES && !h; i++)
			if (!s->handles[i].id)
				h = &s->handles[i];
		if (!h)
			rc = sbi_error(SB_ENOSPC, "client has %u handles open, the maximum", SBD_MAX_HANDLES);
	}
	if (rc < 0) {
		sbi_log(SB_LOG_INFO, "session", "msg=\"open refused\" client=%u topic=%s role=%u code=%d detail=\"%s\"",
			s->id, name, role, rc, sb_last_error());
		sbd_reply(d, s, rc, NULL, 0);
		return;
	}
	memset(h, 0, sizeof(*h));
	if (++s->next_handle == 0)
		++s->next_handle;
	h->id = s->next_handle;
	h->t = t;
	h->role = role;
	sbd_topic_get(t);
	d->ctr.opens++;
	sbp_wr_init(&w, out, sizeof(out));
	sbp_put_u32(&w, h->id);
	sbp_put_i32(&w, t->cfg.numa_node);
	sbp_put_u64(&w, t->seg.hdr->epoch_ns);
	/* A subscriber gets the segment file read-only: the kernel then
	 * refuses it any writable mapping of the stream. */
	fds[0] = role == SBP_ROLE_SUB ? t->ro_fd : t->seg.fd;
	fds[1] = t->seg.subs_fd;
	sbd_reply_fds(d, s, SB_OK, out, w.len, fds, 2);
	sbi_log(SB_LOG_INFO, "session", "msg=\"open\" client=%u topic=%s role=%s handle=%u", s->id, name,
		role == SBP_ROLE_PUB ? "pub" : "sub", h->id);
}

bool sbd_slot_reported(const struct sbd *d, const struct sbd_topic *t, uint8_t role, uint32_t slot)
{
	for (struct sbd_session *o = d->sessions; o; o = o->next)
		for (unsigned i = 0; i < SBD_MAX_HANDLES; i++) {
			const struct sbd_handle *x = &o->handles[i];

			if (x->id && x->attached && x->t == t && x->role == role && x->slot == slot)
				return true;
		}
	return false;
}

static int check_attach(struct sbd *d, struct sbd_session *s, struct sbd_handle *h, uint32_t slot, uint8_t mode)
{
	const struct sb_seg *seg = &h->t->seg;
	uint32_t state, pid, pubs;

	if (h->role == SBP_ROLE_SUB) {
		if (slot >= seg->max_subs)
			return sbi_error(SB_EINVAL, "ATTACHED: subscriber slot %u >= %u", slot, seg->max_subs);
		/* ACQUIRE: pairs with the client's state store at attach. */
		state = sb_load_acquire(&seg->subs->sub[slot].state);
		pid = seg->subs->sub[slot].pid;
		if (state != (mode ? SB_SLOT_UNTETHERED : SB_SLOT_TETHERED))
			return sbi_error(SB_ESTATE, "ATTACHED: subscriber slot %u is in state %u", slot, state);
	} else {
		if (slot >= seg->max_pubs || mode > 1)
			return sbi_error(SB_EINVAL, "ATTACHED: publisher slot %u >= %u or mode %u", slot, seg->max_pubs,
					 mode);
		/* ACQUIRE: pairs with the client's slot CAS at attach. */
		state = sb_load_acquire(&seg->prod->pub[slot].state);
		pid = seg->prod->pub[slot].pid;
		if (state != SB_SLOT_PUBLISHER)
			return sbi_error(SB_ESTATE, "ATTACHED: publisher slot %u is in state %u", slot, state);
		/* The mode decides what clean-up gives back (exclusive bit or one
		 * shared count): it must match the publishers word.  RELAXED: a
		 * snapshot; the client's own attach CAS happened before it sent
		 * ATTACHED, and the bit cannot flip while it holds the slot. */
		pubs = sb_load_relaxed(&seg->prod->publishers);
		if (mode ? !(pubs & SB_PUBS_EXCLUSIVE_BIT) : (pubs & SB_PUBS_EXCLUSIVE_BIT) || pubs == 0)
			return sbi_error(SB_ESTATE, "ATTACHED: mode %s does not match the topic's publishers word 0x%x",
					 mode ? "exclusive" : "shared", pubs);
	}
	if (s->pid && pid != (uint32_t)s->pid)
		return sbi_error(SB_EACCES, "ATTACHED: slot %u belongs to pid %u, not to this client (pid %d)", slot,
				 pid, (int)s->peer_pid);
	if (sbd_slot_reported(d, h->t, h->role, slot))
		return sbi_error(SB_EBUSY, "ATTACHED: slot %u is already reported by another handle", slot);
	return SB_OK;
}

static void on_attached(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	uint32_t id = sbp_get_u32(r), slot = sbp_get_u32(r);
	uint8_t mode = sbp_get_u8(r), blocking = sbp_get_u8(r);
	struct sbd_handle *h;
	int rc;

	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "ATTACHED: malformed body");
		return;
	}
	h = find_handle(s, id);
	if (!h)
		rc = sbi_error(SB_ENOENT, "ATTACHED: no handle %u", id);
	else if (h->attached)
		rc = sbi_error(SB_ESTATE, "ATTACHED: handle %u is already attached", id);
	else
		rc = check_attach(d, s, h, slot, mode);
	if (rc == SB_OK) {
		d->ctr.attaches++;
		h->attached = true;
		h->slot = slot;
		h->mode = mode;
		h->blocking = blocking ? 1 : 0;
	}
	sbd_reply(d, s, rc, NULL, 0);
}

static void on_detached(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	uint32_t id = sbp_get_u32(r);
	struct sbd_handle *h;
	int rc = SB_OK;

	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "DETACHED: malformed body");
		return;
	}
	h = find_handle(s, id);
	if (!h)
		rc = sbi_error(SB_ENOENT, "DETACHED: no handle %u", id);
	else if (!h->attached)
		rc = sbi_error(SB_ESTATE, "DETACHED: handle %u is not attached", id);
	else
		h->attached = false; /* the client released the slot itself */
	sbd_reply(d, s, rc, NULL, 0);
}

static void on_close(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	uint32_t id = sbp_get_u32(r);
	struct sbd_handle *h;

	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "CLOSE: malformed body");
		return;
	}
	h = find_handle(s, id);
	if (!h) {
		sbd_reply(d, s, sbi_error(SB_ENOENT, "CLOSE: no handle %u", id), NULL, 0);
		return;
	}
	sbd_lease_release(d, s, h); /* still attached: the client never said DETACHED */
	sbd_topic_put(d, h->t);
	memset(h, 0, sizeof(*h));
	sbd_reply(d, s, SB_OK, NULL, 0);
}

static void on_create(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	char name[SB_TOPIC_NAME_MAX];
	struct sbp_topic_params tp;
	struct sbd_topic *t;
	int rc;

	sbp_get_str(r, name, sizeof(name));
	sbp_get_params(r, &tp);
	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "CREATE: malformed body");
		return;
	}
	if (!d->cfg.auto_create && s->uid != 0 && s->uid != geteuid())
		rc = sbi_error(SB_EACCES, "CREATE: only root or the daemon's user may create topics here");
	else
		rc = sbd_topic_create(d, name, &tp, s->uid, s->gid, &t);
	sbd_reply(d, s, rc, NULL, 0);
}

static void on_delete(struct sbd *d, struct sbd_session *s, struct sbp_rd *r)
{
	char name[SB_TOPIC_NAME_MAX];
	struct sbd_topic *t;
	int rc;

	sbp_get_str(r, name, sizeof(name));
	if (!sbp_rd_done(r)) {
		malformed(d, s, SB_EINVAL, "DELETE: malformed body");
		return;
	}
	t = sbd_topic_find(d, name);
	if (!t)
		rc = sbi_error(SB_ENOENT, "DELETE: no topic %s", name);
	else if (s->uid != 0 && s->uid != geteuid() && (uint32_t)s->uid != t->cfg.uid)
		rc = sbi_error(SB_EACCES, "DELETE: topic %s belongs to uid %u", name, t->cfg.uid);
	else
		rc = sbd_topic_delete(d, t);
	sbd_reply(d, s, rc, NULL, 0);
}

static void dispatch(struct sbd *d, struct sbd_session *s)
{
	const struct sbp_hdr *hdr = &s->rbuf.hdr;
	struct sbp_rd r;
	char topic[SB_TOPIC_NAME_MAX];

	sbp_rd_init(&r, s->rbuf.body, hdr->body_len);
	if (s->fd_abuse) {
		s->fd_abuse = false;
		malformed(d, s, SB_EINVAL, "unsolicited file descriptor (closed unread)");
		return;
	}
	if (hdr->type == 0 || hdr->type > SBP_TYPE_MAX) {
		malformed(d, s, SB_EINVAL, "unknown message type");
		return;
	}
	if (!s->hello && hdr->type != SBP_HELLO) {
		sbd_reply(d, s, sbi_error(SB_ESTATE, "HELLO must come first"), NULL, 0);
		return;
	}
	switch (hdr->type) {
	case SBP_HELLO:    on_hello(d, s, &r); break;
	case SBP_OPEN:     on_open(d, s, &r); break;
	case SBP_ATTACHED: on_attached(d, s, &r); break;
	case SBP_DETACHED: on_detached(d, s, &r); break;
	case SBP_CLOSE:    on_close(d, s, &r); break;
	case SBP_CREATE:   on_create(d, s, &r); break;
	case SBP_DELETE:   on_delete(d, s, &r); break;
	case SBP_LIST:
	case SBP_CLIENTS:
		if (!sbp_rd_done(&r)) {
			malformed(d, s, SB_EINVAL, "LIST/CLIENTS take no body");
			return;
		}
		if (hdr->type == SBP_LIST)
			sbd_stats_list(d, s);
		else
			sbd_stats_clients(d, s);
		break;
	case SBP_STATS:
		sbp_get_str(&r, topic, sizeof(topic));
		if (!sbp_rd_done(&r)) {
			malformed(d, s, SB_EINVAL, "STATS: body must be a topic name (or empty)");
			return;
		}
		sbd_stats_stats(d, s, topic);
		break;
	}
}

void sbd_session_readable(struct sbd *d, struct sbd_session *s)
{
	for (int msgs = 0; msgs < MSGS_PER_WAKEUP && !s->dead;) {
		uint32_t want = s->rlen < SBP_HDR_SIZE ? SBP_HDR_SIZE - s->rlen
						       : SBP_HDR_SIZE + s->rbuf.hdr.body_len - s->rlen;
		int fds_in[SBP_MAX_FDS] = { -1, -1 };
		long n;
		int rc;

		n = sbp_recv_some(s->fd, (uint8_t *)&s->rbuf + s->rlen, want, fds_in, MSG_DONTWAIT);
		if (fds_in[0] != -1) { /* passed, or dropped (MSG_CTRUNC) */
			sbp_close_fds(fds_in);
			d->ctr.fds_refused++;
			s->fd_abuse = true;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->dead = true;
			return;
		}
		if (n == 0) {
			s->dead = true; /* EOF: the lease ends */
			return;
		}
		s->rlen += (uint32_t)n;
		if (s->rlen == SBP_HDR_SIZE) {
			rc = sbp_hdr_check(&s->rbuf.hdr);
			if (rc < 0) {
				/* Unusable stream: answer, then close. */
				d->ctr.malformed++;
				sbi_log(SB_LOG_WARN, "session", "msg=\"bad header; closing\" client=%u pid=%d detail=\"%s\"",
					s->id, (int)s->peer_pid, sb_last_error());
				sbd_reply(d, s, rc, NULL, 0);
				s->dead = true;
				return;
			}
		}
		if (s->rlen >= SBP_HDR_SIZE && s->rlen == SBP_HDR_SIZE + s->rbuf.hdr.body_len) {
			dispatch(d, s);
			s->rlen = 0;
			msgs++;
		}
	}
}
