/*
 * sb_proto.c - framing, body encoding and fd passing of the control protocol.
 *
 * Design note.  Untrusted bytes are only ever read through struct sbp_rd,
 * whose getters check the remaining length first, and every recvmsg goes
 * through sbp_recv_some, which closes every fd it did not ask for (including
 * fds truncated by MSG_CTRUNC, which the kernel already closed).  So neither
 * a short body nor an unsolicited fd can leak or be read past.
 */
#include "sb_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sb_error.h"

/* ---------------------------------------------------------------- writer */

void sbp_wr_init(struct sbp_wr *w, void *buf, uint32_t cap)
{
	w->p = buf;
	w->cap = cap;
	w->len = 0;
	w->bad = false;
}

static void put(struct sbp_wr *w, const void *v, uint32_t n)
{
	if (w->bad || w->cap - w->len < n) {
		w->bad = true;
		return;
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

void sbp_put_u8(struct sbp_wr *w, uint8_t v) { put(w, &v, 1); }
void sbp_put_u16(struct sbp_wr *w, uint16_t v) { put(w, &v, 2); }
void sbp_put_u32(struct sbp_wr *w, uint32_t v) { put(w, &v, 4); }
void sbp_put_i32(struct sbp_wr *w, int32_t v) { put(w, &v, 4); }
void sbp_put_u64(struct sbp_wr *w, uint64_t v) { put(w, &v, 8); }

void sbp_put_str(struct sbp_wr *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT16_MAX) {
		w->bad = true;
		return;
	}
	sbp_put_u16(w, (uint16_t)n);
	put(w, s, (uint32_t)n);
}

void sbp_put_params(struct sbp_wr *w, const struct sbp_topic_params *tp)
{
	sbp_put_u64(w, tp->ring_size);
	sbp_put_u32(w, tp->max_msg);
	sbp_put_u32(w, tp->msg_align);
	sbp_put_i32(w, tp->numa_node);
}

/* ---------------------------------------------------------------- reader */

void sbp_rd_init(struct sbp_rd *r, const void *buf, uint32_t len)
{
	r->p = buf;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static bool get(struct sbp_rd *r, void *v, uint32_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		memset(v, 0, n);
		return false;
	}
	memcpy(v, r->p + r->off, n);
	r->off += n;
	return true;
}

uint8_t sbp_get_u8(struct sbp_rd *r) { uint8_t v; get(r, &v, 1); return v; }
uint16_t sbp_get_u16(struct sbp_rd *r) { uint16_t v; get(r, &v, 2); return v; }
uint32_t sbp_get_u32(struct sbp_rd *r) { uint32_t v; get(r, &v, 4); return v; }
int32_t sbp_get_i32(struct sbp_rd *r) { int32_t v; get(r, &v, 4); return v; }
uint64_t sbp_get_u64(struct sbp_rd *r) { uint64_t v; get(r, &v, 8); return v; }

void sbp_get_str(struct sbp_rd *r, char *out, size_t cap)
{
	uint16_t n = sbp_get_u16(r);

	out[0] = '\0';
	if (r->bad)
		return;
	if ((size_t)n >= cap || r->len - r->off < n || memchr(r->p + r->off, '\0', n)) {
		r->bad = true;
		return;
	}
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
}

void sbp_get_params(struct sbp_rd *r, struct sbp_topic_params *tp)
{
	tp->ring_size = sbp_get_u64(r);
	tp->max_msg = sbp_get_u32(r);
	tp->msg_align = sbp_get_u32(r);
	tp->numa_node = sbp_get_i32(r);
}

bool sbp_rd_done(const struct sbp_rd *r)
{
	return !r->bad && r->off == r->len;
}

/* ------------------------------------------------------------- transport */

int sbp_hdr_check(const struct sbp_hdr *h)
{
	if (h->magic != SBP_MAGIC)
		return sbi_error(SB_ECORRUPT, "control message: bad magic 0x%08x", h->magic);
	if (h->version != SBP_VERSION)
		return sbi_error(SB_EVERSION, "control message: protocol version %u, this side speaks %u",
				 h->version, SBP_VERSION);
	if (h->body_len > SBP_BODY_MAX)
		return sbi_error(SB_ECORRUPT, "control message: body of %u bytes exceeds %u", h->body_len,
				 SBP_BODY_MAX);
	return SB_OK;
}

int sbp_send(int sock, uint16_t type, uint32_t req_id, const void *body, uint32_t len, const int *fds,
	     unsigned nfds, int flags)
{
	struct sbp_hdr h = {
		.magic = SBP_MAGIC, .version = SBP_VERSION, .type = type, .body_len = len, .req_id = req_id,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)body, .iov_len = len },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * SBP_MAX_FDS)];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t total = sizeof(h) + len, sent = 0;

	if (len > SBP_BODY_MAX || (len && !body))
		return sbi_error(SB_EINVAL, "control message body of %u bytes", len);
	if (nfds > SBP_MAX_FDS || (nfds && !fds))
		return sbi_error(SB_EINVAL, "control message with %u fds (at most %u)", nfds, SBP_MAX_FDS);
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return sbi_error(SB_EINVAL, "control message: fd %u of %u is %d", i, nfds, fds[i]);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		ssize_t n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
				return sbi_error(SB_ECONN, "control socket: peer closed the connection");
			return sbi_error(SB_EIO, "control socket send: %s", strerror(errno));
		}
		sent += (size_t)n;
		if (sent == total)
			break;
		if (flags & MSG_DONTWAIT)
			return sbi_error(SB_EIO, "control socket send: peer is not reading (%zu of %zu bytes sent)",
					 sent, total);
		/* Partial send on a blocking socket: continue after what went.
		 * The fds travelled with the first byte. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov[0].iov_len) {
			n -= (ssize_t)mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
			mh.msg_iov[0].iov_len -= (size_t)n;
		}
	}
	return SB_OK;
}

int sbp_reply(int sock, const struct sbp_hdr *req, int32_t status, const char *detail,
	      const void *extra, uint32_t extra_len, const int *fds, unsigned nfds, int flags)
{
	uint8_t body[SBP_BODY_MAX];
	struct sbp_wr w;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_i32(&w, status);
	if (status < 0 && detail) {
		size_t n = strnlen(detail, SBP_BODY_MAX - 5);

		if (w.cap - w.len > n) {
			memcpy(body + w.len, detail, n);
			body[w.len + n] = '\0';
			w.len += (uint32_t)n + 1;
		}
	} else if (extra_len) {
		if (w.cap - w.len < extra_len)
			return sbi_error(SB_EINVAL, "reply of %u bytes too large", extra_len);
		memcpy(body + w.len, extra, extra_len);
		w.len += extra_len;
	}
	return sbp_send(sock, (uint16_t)(req->type | SBP_REPLY), req->req_id, body, w.len, fds, nfds, flags);
}

/* The first free (-1) slot of fds, or SBP_MAX_FDS if none (or no fds). */
static unsigned free_slot(const int fds[SBP_MAX_FDS])
{
	unsigned k = 0;

	while (fds && k < SBP_MAX_FDS && fds[k] != -1)
		k++;
	return fds ? k : SBP_MAX_FDS;
}

long sbp_recv_some(int sock, void *buf, size_t len, int fds[SBP_MAX_FDS], int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			unsigned k = free_slot(fds);
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (k < SBP_MAX_FDS)
				fds[k] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		unsigned k = free_slot(fds);

		if (k < SBP_MAX_FDS)
			fds[k] = SBP_FD_DROPPED;
	}
	return n;
}

void sbp_close_fds(int fds[SBP_MAX_FDS])
{
	for (unsigned i = 0; fds && i < SBP_MAX_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int sbp_stats_get(const struct sbp_msg *m, const char *key, uint64_t *v)
{
	struct sbp_rd r;
	uint32_t n;
	int rc = SB_ENOENT;

	if (m->hdr.body_len < 4)
		return SB_ECORRUPT;
	sbp_rd_init(&r, m->body + 4, m->hdr.body_len - 4);
	n = sbp_get_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		char k[SBP_NAME_MAX];
		uint64_t x;

		sbp_get_str(&r, k, sizeof(k));
		x = sbp_get_u64(&r);
		if (!r.bad && strcmp(k, key) == 0) {
			*v = x;
			rc = SB_OK;
		}
	}
	return sbp_rd_done(&r) ? rc : SB_ECORRUPT;
}

/* Read exactly len bytes; fds, if any, arrive with the first byte. */
static int recv_all(int sock, void *buf, size_t len, int fds[SBP_MAX_FDS])
{
	size_t got = 0;

	while (got < len) {
		long n = sbp_recv_some(sock, (char *)buf + got, len - got, fds, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return sbi_error(SB_ECONN, "control socket: connection reset");
			return sbi_error(SB_EIO, "control socket receive: %s", strerror(errno));
		}
		if (n == 0)
			return sbi_error(SB_ECONN, "control socket: peer closed the connection");
		got += (size_t)n;
	}
	return SB_OK;
}

int sbp_recv(int sock, struct sbp_msg *m, int fds[SBP_MAX_FDS])
{
	int rc;

	for (unsigned i = 0; fds && i < SBP_MAX_FDS; i++)
		fds[i] = -1;
	rc = recv_all(sock, &m->hdr, sizeof(m->hdr), fds);
	if (rc == SB_OK)
		rc = sbp_hdr_check(&m->hdr);
	if (rc == SB_OK)
		rc = recv_all(sock, m->body, m->hdr.body_len, fds);
	if (rc < 0)
		sbp_close_fds(fds);
	return rc;
}

const char *sbp_type_name(uint16_t type)
{
	static const char *const names[] = {
		[SBP_HELLO] = "hello", [SBP_OPEN] = "open", [SBP_ATTACHED] = "attached",
		[SBP_DETACHED] = "detached", [SBP_CLOSE] = "close", [SBP_LIST] = "list",
		[SBP_STATS] = "stats", [SBP_CLIENTS] = "clients", [SBP_CREATE] = "create",
		[SBP_DELETE] = "delete",
	};
	uint16_t t = type & (uint16_t)~SBP_REPLY;

	return t >= 1 && t <= SBP_TYPE_MAX ? names[t] : "?";
}

const char *sbp_default_socket_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, len, "/run/shmbus/shmbusd.sock");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, len, "%s/shmbus/shmbusd.sock", xdg);
	else
		snprintf(buf, len, "/tmp/shmbus-%u/shmbusd.sock", (unsigned)geteuid());
	return buf;
}
