/*
 * sb_client.c - the connection to shmbusd: connect, HELLO, one request at a
 * time under a mutex, OPEN/ATTACHED/DETACHED/CLOSE, disconnect.
 *
 * If shmbusd restarts, the lease watcher (sb_watch.c) or, without one, the
 * next control call finds the connection broken, reconnects to the same
 * path, says HELLO and re-registers every open handle (OPEN without create,
 * checking that the daemon hands over the very file this process maps, then
 * ATTACHED with the slot held), so the lease is renewed; a control call then
 * retries itself once.  The data path never notices.
 *
 * Every reply is awaited for at most the client's timeout (default 5 s): a
 * call that times out returns SB_ETIMEDOUT and leaves the connection, and
 * with it the lease, in place.  The reply it was owed is discarded when it
 * comes (replies come in request order), and a late OPEN reply's handle is
 * closed at once.  Reconnecting instead would end the lease: a daemon that
 * was only slow would then release slots this process still uses.  Partial
 * messages are bounded too (SO_RCVTIMEO/SO_SNDTIMEO); one cut short leaves
 * the stream out of step, which does break the connection.
 *
 * The connection is the client's lease: the daemon releases every slot this
 * client reported as soon as the socket closes (process exit or crash
 * included).  The socket is SOCK_CLOEXEC; a child made with fork() without
 * exec shares it (and thereby keeps the lease alive) until it exits.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sb_clock.h"
#include "sb_error.h"
#include "sb_lib.h"

const char *sb_default_socket_path(char *buf, size_t len)
{
	const char *env = getenv("SHMBUS_SOCKET");

	if (!buf || len == 0)
		return NULL;
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return buf;
	}
	return sbp_default_socket_path(buf, len);
}

void sbi_link_add(sb_client_t *c, struct sbi_link *l)
{
	atomic_store_explicit(&l->leased, true, memory_order_relaxed);
	l->next = c->handles.next;
	l->prev = &c->handles;
	c->handles.next->prev = l;
	c->handles.next = l;
}

void sbi_link_del(sb_client_t *c, struct sbi_link *l)
{
	(void)c;
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

/* Whether two fds refer to the same file (a and b may be -1: no). */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return a >= 0 && b >= 0 && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Wait until the connection has something to read.  SB_ETIMEDOUT once
 * deadline_ns (CLOCK_MONOTONIC; UINT64_MAX: none) has passed. */
static int wait_readable(int fd, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = sb_mono_ns();
		int ms, n;

		if (deadline_ns == UINT64_MAX)
			ms = -1;
		else if (now >= deadline_ns)
			return SB_ETIMEDOUT;
		else
			ms = (int)((deadline_ns - now + 999999) / 1000000);
		n = poll(&p, 1, ms);
		if (n > 0)
			return SB_OK;
		if (n < 0 && errno != EINTR)
			return sbi_error(SB_EIO, "control socket poll: %s", strerror(errno));
	}
}

/* A reply owed to a request that timed out: drop it.  If it opened a
 * handle, close that handle (its own reply is owed in turn). */
static void discard_late_reply(sb_client_t *c, int fds[SBP_MAX_FDS])
{
	struct sbp_rd rd;

	sbp_close_fds(fds);
	c->owed--;
	sbp_rd_init(&rd, c->msg.body, c->msg.hdr.body_len);
	if (c->msg.hdr.type == (SBP_OPEN | SBP_REPLY) && sbp_get_i32(&rd) == SB_OK) {
		uint32_t handle = sbp_get_u32(&rd);

		if (!rd.bad && sbp_send(c->fd, SBP_CLOSE, ++c->next_req, &handle, sizeof(handle), NULL, 0, 0) == SB_OK)
			c->owed++;
	}
}

/* One request and its reply, on the current connection. */
static int xfer_locked(sb_client_t *c, uint16_t type, const void *body, uint32_t len, struct sbp_rd *rd,
		       int fds[SBP_MAX_FDS])
{
	uint32_t req = ++c->next_req;
	uint64_t deadline = c->timeout_ms == SB_TIMEOUT_NONE ? UINT64_MAX
				: sb_mono_ns() + (uint64_t)c->timeout_ms * 1000000u;
	int32_t status;
	int rc;

	for (unsigned i = 0; fds && i < SBP_MAX_FDS; i++)
		fds[i] = -1;
	if (c->broken)
		return sbi_error(SB_ECONN, "connection to shmbusd was lost");
	/* A failed send or receive below leaves the stream out of step. */
	rc = sbp_send(c->fd, type, req, body, len, NULL, 0, 0);
	while (rc == SB_OK) {
		rc = wait_readable(c->fd, deadline);
		if (rc == SB_ETIMEDOUT) {
			if (type == SBP_HELLO) {
				c->broken = true; /* a new connection: nothing to keep */
				return sbi_error(rc, "shmbusd did not answer HELLO within %u ms", c->timeout_ms);
			}
			c->owed++;
			return sbi_error(rc, "shmbusd did not answer %s within %u ms (the connection is kept)",
					 sbp_type_name(type), c->timeout_ms);
		}
		if (rc == SB_OK)
			rc = sbp_recv(c->fd, &c->msg, fds);
		if (rc == SB_OK && c->owed > 0 && c->msg.hdr.req_id != req && (c->msg.hdr.type & SBP_REPLY)) {
			discard_late_reply(c, fds);
			continue;
		}
		break;
	}
	if (rc == SB_OK && (c->msg.hdr.type != (type | SBP_REPLY) || c->msg.hdr.req_id != req || c->msg.hdr.body_len < 4))
		rc = sbi_error(SB_ECORRUPT, "shmbusd replied with type 0x%04x id %u to request 0x%04x id %u",
			       c->msg.hdr.type, c->msg.hdr.req_id, type, req);
	if (rc < 0) {
		c->broken = true; /* the stream is out of step or gone */
		sbp_close_fds(fds);
		return rc;
	}
	sbp_rd_init(rd, c->msg.body, c->msg.hdr.body_len);
	status = sbp_get_i32(rd);
	if (status < 0) {
		const char *detail = (const char *)c->msg.body + 4;
		uint32_t n = c->msg.hdr.body_len - 4;

		sbp_close_fds(fds);
		if (n > 0 && memchr(detail, '\0', n))
			return sbi_error(status, "shmbusd: %s", detail);
		return sbi_error(status, "shmbusd: %s", sb_strerror(status));
	}
	return SB_OK;
}

static int connect_hello_locked(sb_client_t *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t body[128];
	struct sbp_wr w;
	struct sbp_rd rd;
	uint32_t proto;
	int rc;

	if (c->fd >= 0)
		close(c->fd);
	c->broken = false;
	c->owed = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->gen++;
	sbi_watch_kick(c); /* the watcher must not sleep on the old descriptor */
	if (c->fd < 0) {
		c->broken = true;
		return sbi_error(sbi_io_code(errno), "socket: %s", strerror(errno));
	}
	if (c->timeout_ms != SB_TIMEOUT_NONE) {
		/* Bounds connect (a full backlog), sends, and a message that
		 * stops arriving half-way. */
		struct timeval tv = { .tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000 };

		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = errno == ENOENT || errno == ECONNREFUSED ? SB_ENOENT
		     : errno == EACCES			      ? SB_EACCES
		     : errno == EAGAIN || errno == EINPROGRESS ? SB_ETIMEDOUT /* SO_SNDTIMEO: backlog full */
							      : SB_EIO;
		c->broken = true;
		return sbi_error(rc, "connect %s: %s (is shmbusd running?)", c->path, strerror(errno));
	}
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, c->name);
	rc = xfer_locked(c, SBP_HELLO, body, w.len, &rd, NULL);
	if (rc < 0)
		return rc;
	proto = sbp_get_u32(&rd);
	c->id = sbp_get_u32(&rd);
	if (rd.bad || proto != SBP_VERSION) {
		c->broken = true;
		return sbi_error(SB_EVERSION, "shmbusd speaks protocol %u, this library %u", proto, SBP_VERSION);
	}
	return SB_OK;
}

/* Report one open handle to a (new) daemon: OPEN the same topic without
 * creating it, check that the daemon hands over the very file we map, then
 * ATTACHED with the slot we hold.  The lease is then the new connection. */
static int reregister_locked(sb_client_t *c, struct sbi_link *l)
{
	struct sbp_topic_params tp = { .numa_node = -1 };
	struct sb_seg *seg;
	uint32_t *handle, slot;
	uint8_t role, mode, blocking, body[256];
	struct sbp_wr w;
	struct sbp_rd rd;
	int fds[SBP_MAX_FDS], rc;
	bool same;

	if (l->kind == SBI_PUB) {
		struct sb_pub *p = (struct sb_pub *)l;

		seg = &p->seg;
		handle = &p->handle;
		role = SBP_ROLE_PUB;
		slot = p->ring.slot_idx;
		mode = p->ring.exclusive;
		blocking = 0;
	} else {
		struct sb_sub *s = (struct sb_sub *)l;

		seg = &s->seg;
		handle = &s->handle;
		role = SBP_ROLE_SUB;
		slot = s->ring.slot_idx;
		mode = s->ring.kind == SB_SUB_UNTETHERED;
		blocking = s->ring.wait == SB_WAIT_BLOCK;
	}
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, seg->hdr->name);
	sbp_put_u8(&w, role);
	sbp_put_u8(&w, 0);
	sbp_put_u16(&w, 0); /* no CREATE: it must be the topic we hold */
	sbp_put_params(&w, &tp);
	rc = xfer_locked(c, SBP_OPEN, body, w.len, &rd, fds);
	if (rc < 0)
		return rc;
	*handle = sbp_get_u32(&rd);
	same = same_file(fds[0], seg->fd) && same_file(fds[1], seg->subs_fd);
	sbp_close_fds(fds);
	if (!same)
		return sbi_error(SB_ENOENT, "topic %s: the daemon now serves a different segment", seg->hdr->name);
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_u32(&w, *handle);
	sbp_put_u32(&w, slot);
	sbp_put_u8(&w, mode);
	sbp_put_u8(&w, blocking);
	return xfer_locked(c, SBP_ATTACHED, body, w.len, &rd, NULL);
}

int sbi_reconnect_locked(sb_client_t *c)
{
	int rc = connect_hello_locked(c);

	if (rc < 0)
		return rc;
	for (struct sbi_link *l = c->handles.next; l != &c->handles; l = l->next) {
		rc = reregister_locked(c, l);
		if (rc < 0 && c->broken)
			return rc;
		/* A handle the new daemon does not take back keeps working on
		 * its mapping, without a lease; its stats say so. */
		atomic_store_explicit(&l->leased, rc == SB_OK, memory_order_relaxed);
	}
	return SB_OK;
}

/* A request; if the connection is gone (shmbusd restarted), reconnect,
 * re-register every open handle, and try once more. */
static int call_locked(sb_client_t *c, uint16_t type, const void *body, uint32_t len, struct sbp_rd *rd,
		       int fds[SBP_MAX_FDS])
{
	int rc = xfer_locked(c, type, body, len, rd, fds);

	if (rc >= 0 || !c->broken || type == SBP_HELLO)
		return rc;
	rc = sbi_reconnect_locked(c);
	if (rc < 0)
		return c->broken ? sbi_error(SB_ECONN, "connection to shmbusd lost; reconnect failed: %s",
					     sb_last_error())
				 : rc;
	return xfer_locked(c, type, body, len, rd, fds);
}

int sbi_call(sb_client_t *c, uint16_t type, const void *body, uint32_t len, struct sbp_rd *rd)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = call_locked(c, type, body, len, rd, NULL);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

sb_client_t *sb_connect(const struct sb_client_opts *opts)
{
	const char *name = opts && opts->name ? opts->name : program_invocation_short_name;
	sb_client_t *c;
	int rc;

	const unsigned known = SB_CLIENT_NO_WATCHER | SB_CLIENT_WATCHER_CPU;

	if (opts && (opts->flags & ~known)) {
		sbi_error(SB_EINVAL, "unknown client flags 0x%x", opts->flags & ~known);
		errno = EINVAL;
		return NULL;
	}
	if (opts && opts->socket_path && strlen(opts->socket_path) >= sizeof(c->path)) {
		sbi_error(SB_EINVAL, "socket path too long");
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		sbi_error(SB_ENOMEM, "client");
		errno = ENOMEM;
		return NULL;
	}
	if (opts && opts->socket_path)
		snprintf(c->path, sizeof(c->path), "%s", opts->socket_path);
	else
		sb_default_socket_path(c->path, sizeof(c->path));
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 5000;
	pthread_mutex_init(&c->lock, NULL);
	c->handles.next = c->handles.prev = &c->handles;
	c->handles.kind = SBI_LIST;
	c->fd = -1;
	c->wake_fd = -1;
	sbi_fork_register(c);
	pthread_mutex_lock(&c->lock);
	rc = connect_hello_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (rc == SB_OK && !(opts && (opts->flags & SB_CLIENT_NO_WATCHER)))
		rc = sbi_watch_start(c, opts && (opts->flags & SB_CLIENT_WATCHER_CPU) ? opts->watcher_cpu : -1);
	if (rc < 0) {
		sbi_fork_unregister(c);
		if (c->fd >= 0)
			close(c->fd);
		pthread_mutex_destroy(&c->lock);
		free(c);
		errno = -rc;
		return NULL;
	}
	return c;
}

void sb_disconnect(sb_client_t *c)
{
	if (!c)
		return;
	/* First, so that no reconnect races the closes below. */
	sbi_watch_stop(c);
	while (c->handles.next != &c->handles) {
		struct sbi_link *l = c->handles.next;

		if (l->kind == SBI_PUB)
			sb_pub_close((struct sb_pub *)l);
		else
			sb_sub_close((struct sb_sub *)l);
	}
	sbi_fork_unregister(c);
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* On an OPEN reply whose fds the kernel dropped (the process is out of
 * descriptors) the open fails with SB_EMFILE and closes the handle the
 * daemon opened; the connection stays.  Any other reply without its two fds
 * is corrupt. */
int sbi_open(sb_client_t *c, const char *topic, uint8_t role, const struct sb_topic_opts *create,
	     uint32_t *handle, int *numa, int fds[SBP_MAX_FDS])
{
	struct sbp_topic_params tp = { .numa_node = -1 };
	uint8_t body[256];
	struct sbp_wr w;
	struct sbp_rd rd;
	int rc;

	if (!c || !topic || strnlen(topic, SB_TOPIC_MAX + 1) > SB_TOPIC_MAX)
		return sbi_error(SB_EINVAL, "open: no client, or topic name missing or longer than %d", SB_TOPIC_MAX);
	if (create) {
		tp.ring_size = create->ring_size;
		tp.max_msg = create->max_msg;
		tp.msg_align = create->msg_align;
		tp.numa_node = create->numa_node;
	}
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic);
	sbp_put_u8(&w, role);
	sbp_put_u8(&w, 0);
	sbp_put_u16(&w, SBP_OPEN_CREATE);
	sbp_put_params(&w, &tp);
	pthread_mutex_lock(&c->lock);
	rc = call_locked(c, SBP_OPEN, body, w.len, &rd, fds);
	if (rc == SB_OK) {
		*handle = sbp_get_u32(&rd);
		*numa = sbp_get_i32(&rd);
		(void)sbp_get_u64(&rd); /* epoch */
		if (!rd.bad && (fds[0] == SBP_FD_DROPPED || fds[1] == SBP_FD_DROPPED)) {
			/* The reply was whole, the stream is in step: only the
			 * fds are lost.  Give the handle back and keep the
			 * connection. */
			struct rlimit rl = { 0 };

			sbp_close_fds(fds);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
			(void)xfer_locked(c, SBP_CLOSE, handle, sizeof(*handle), &rd, NULL);
			rc = sbi_error(SB_EMFILE, "open %s: the kernel dropped the segment fds of shmbusd's reply: "
				       "this process has no free file descriptor (RLIMIT_NOFILE %llu)", topic,
				       (unsigned long long)rl.rlim_cur);
		} else if (rd.bad || fds[0] < 0 || fds[1] < 0) {
			sbp_close_fds(fds);
			c->broken = true;
			rc = sbi_error(SB_ECORRUPT, "OPEN reply without its two segment fds or a handle");
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int sb_topic_delete(sb_client_t *c, const char *topic)
{
	uint8_t body[SB_TOPIC_MAX + 8];
	struct sbp_wr w;
	struct sbp_rd rd;

	if (!c || !topic || topic[0] == '\0' || strnlen(topic, SB_TOPIC_MAX + 1) > SB_TOPIC_MAX)
		return sbi_error(SB_EINVAL, "delete: no client, or topic name missing or longer than %d",
				 SB_TOPIC_MAX);
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic);
	return sbi_call(c, SBP_DELETE, body, w.len, &rd);
}

int sbi_attached(sb_client_t *c, uint32_t handle, uint32_t slot, uint8_t mode, uint8_t blocking)
{
	uint8_t body[16];
	struct sbp_wr w;
	struct sbp_rd rd;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_u32(&w, handle);
	sbp_put_u32(&w, slot);
	sbp_put_u8(&w, mode);
	sbp_put_u8(&w, blocking);
	return sbi_call(c, SBP_ATTACHED, body, w.len, &rd);
}

void sbi_detached_close(sb_client_t *c, uint32_t handle, bool was_attached)
{
	struct sbp_rd rd;

	/* Failures are ignored: if the connection is gone, so is the lease and
	 * the daemon has already cleaned up (or will). */
	if (was_attached)
		sbi_call(c, SBP_DETACHED, &handle, sizeof(handle), &rd);
	sbi_call(c, SBP_CLOSE, &handle, sizeof(handle), &rd);
}
