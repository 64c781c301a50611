/*
 * sb_proto.h - the control protocol between libshmbus and shmbusd
 * (internal header, shared by lib/ and daemon/; docs/protocol.md is the
 * reference for every message).
 *
 * A message is a 16-byte header followed by 0..SBP_BODY_MAX body bytes, in
 * host byte order (both ends are on one host).  Replies carry the request's
 * type | SBP_REPLY and req_id, and their body starts with an i32 status (0 or
 * a negative SB_E* code); on failure a NUL-terminated detail follows.
 *
 * Bodies are read with struct sbp_rd: every getter checks the remaining
 * length before it reads, and a short read sets rd.bad instead of reading
 * past the end, so a handler parses the whole body and checks one flag.
 *
 * Concurrency: the functions are stateless; a socket is owned by one thread
 * at a time.  sbp_send/sbp_recv block unless the socket is non-blocking.
 */
#ifndef SB_PROTO_H
#define SB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBP_MAGIC      0x31504253u /* "SBP1" in memory */
#define SBP_VERSION    2u  /* 2: OPEN passes two fds (segment, subscriber file) */
#define SBP_HDR_SIZE   16u
#define SBP_BODY_MAX   4096u
#define SBP_REPLY      0x8000u
#define SBP_NAME_MAX   64u  /* client names, including the NUL */
#define SBP_MAX_FDS    2u   /* fds one message may carry */
#define SBP_FD_DROPPED (-2) /* in an fds slot: the kernel dropped fds (MSG_CTRUNC) */

enum sbp_type {
	SBP_HELLO = 1,    /* str name -> u32 proto, u32 client_id, u64 daemon_pid, str server */
	SBP_OPEN = 2,     /* topic, role, flags, params -> u32 handle, u32 numa, u64 epoch + 2 fds */
	SBP_ATTACHED = 3, /* u32 handle, u32 slot, u8 mode, u8 blocking -> status */
	SBP_DETACHED = 4, /* u32 handle -> status */
	SBP_CLOSE = 5,    /* u32 handle -> status */
	SBP_LIST = 6,     /* - -> u32 n, n topic summaries */
	SBP_STATS = 7,    /* str topic ("" = daemon) -> counters */
	SBP_CLIENTS = 8,  /* - -> u32 n, n client records */
	SBP_CREATE = 9,   /* topic, params -> status */
	SBP_DELETE = 10,  /* str topic -> status */
	SBP_TYPE_MAX = SBP_DELETE,
};

enum sbp_role {
	SBP_ROLE_PUB = 1,
	SBP_ROLE_SUB = 2,
};

/* OPEN flags */
#define SBP_OPEN_CREATE 0x1u /* create the topic if it does not exist */
#define SBP_OPEN_EXCL   0x2u /* fail with SB_EEXIST if it exists (with CREATE) */
#define SBP_OPEN_FLAGS  (SBP_OPEN_CREATE | SBP_OPEN_EXCL)

struct sbp_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t body_len;
	uint32_t req_id;
};
_Static_assert(sizeof(struct sbp_hdr) == SBP_HDR_SIZE, "protocol header is 16 bytes");

struct sbp_msg {
	struct sbp_hdr hdr;
	uint8_t body[SBP_BODY_MAX];
};

/* Parameters for creating a topic, as carried by OPEN and CREATE. */
struct sbp_topic_params {
	uint64_t ring_size; /* 0: daemon default */
	uint32_t max_msg;   /* 0: daemon default */
	uint32_t msg_align; /* 0: daemon default */
	int32_t numa_node;  /* -1: daemon default */
};

/* ----------------------------------------------------------- body writer */

struct sbp_wr {
	uint8_t *p;
	uint32_t cap;
	uint32_t len;
	bool bad; /* something did not fit */
};

void sbp_wr_init(struct sbp_wr *w, void *buf, uint32_t cap);
void sbp_put_u8(struct sbp_wr *w, uint8_t v);
void sbp_put_u16(struct sbp_wr *w, uint16_t v);
void sbp_put_u32(struct sbp_wr *w, uint32_t v);
void sbp_put_i32(struct sbp_wr *w, int32_t v);
void sbp_put_u64(struct sbp_wr *w, uint64_t v);
/* u16 length, then the bytes (no NUL). */
void sbp_put_str(struct sbp_wr *w, const char *s);
void sbp_put_params(struct sbp_wr *w, const struct sbp_topic_params *tp);

/* ----------------------------------------------------------- body reader */

struct sbp_rd {
	const uint8_t *p;
	uint32_t len;
	uint32_t off;
	bool bad; /* a read ran past the end, or a string was invalid */
};

void sbp_rd_init(struct sbp_rd *r, const void *buf, uint32_t len);
uint8_t sbp_get_u8(struct sbp_rd *r);
uint16_t sbp_get_u16(struct sbp_rd *r);
uint32_t sbp_get_u32(struct sbp_rd *r);
int32_t sbp_get_i32(struct sbp_rd *r);
uint64_t sbp_get_u64(struct sbp_rd *r);
/* Copies a string into out (cap bytes, NUL-terminated).  Sets bad if it is
 * longer than cap - 1, contains a NUL, or runs past the body. */
void sbp_get_str(struct sbp_rd *r, char *out, size_t cap);
void sbp_get_params(struct sbp_rd *r, struct sbp_topic_params *tp);
/* True if the whole body was consumed and nothing was bad. */
bool sbp_rd_done(const struct sbp_rd *r);

/* ------------------------------------------------------------- transport */

/* Check a received header: magic, version, body length.  Returns 0,
 * SB_ECORRUPT (bad magic or oversized body) or SB_EVERSION. */
int sbp_hdr_check(const struct sbp_hdr *h);

/* Send one message, passing the nfds (<= SBP_MAX_FDS) fds with SCM_RIGHTS
 * along with its first byte.  Never raises SIGPIPE.  flags are extra send
 * flags (MSG_DONTWAIT for the daemon, which then treats a partial send as a
 * failure).  Returns 0, SB_EINVAL, SB_ECONN (peer gone) or SB_EIO. */
int sbp_send(int sock, uint16_t type, uint32_t req_id, const void *body, uint32_t len, const int *fds,
	     unsigned nfds, int flags);

/* Send a reply: status, then (status < 0 and detail != NULL) the detail
 * with its NUL, else extra bytes.  The fds are passed along. */
int sbp_reply(int sock, const struct sbp_hdr *req, int32_t status, const char *detail,
	      const void *extra, uint32_t extra_len, const int *fds, unsigned nfds, int flags);

/* Receive one whole message (blocking socket).  If fds is non-NULL, the
 * passed fds are stored in it in the order sent, -1 in the slots left over
 * (SBP_FD_DROPPED after the last one if the kernel dropped some, see below);
 * any fd beyond SBP_MAX_FDS, or any fd when fds is NULL, is closed.  On
 * failure no fd is left open.  Returns 0, SB_ECONN (EOF), SB_ECORRUPT,
 * SB_EVERSION or SB_EIO. */
int sbp_recv(int sock, struct sbp_msg *m, int fds[SBP_MAX_FDS]);

/* recvmsg() that stores received fds in the free (-1) slots of fds (when
 * non-NULL) and closes every other fd it receives.  When the kernel could
 * not pass every fd (MSG_CTRUNC: the receiver is out of descriptors, or sent
 * more than fit), the next free slot is set to SBP_FD_DROPPED.  Returns what
 * recvmsg returned; errno as set by it. */
long sbp_recv_some(int sock, void *buf, size_t len, int fds[SBP_MAX_FDS], int flags);

/* Close the fds sbp_recv stored (those >= 0) and set every slot to -1. */
void sbp_close_fds(int fds[SBP_MAX_FDS]);

/* A STATS reply's counter: m is the whole reply (status word first).
 * Returns 0 with *v, SB_ENOENT if the reply has no such key, or
 * SB_ECORRUPT if it is malformed. */
int sbp_stats_get(const struct sbp_msg *m, const char *key, uint64_t *v);

/* The default control socket path: /run/shmbus/shmbusd.sock for root,
 * $XDG_RUNTIME_DIR/shmbus/shmbusd.sock otherwise, /tmp/shmbus-UID/shmbusd.sock
 * when XDG_RUNTIME_DIR is unset.  (No $SHMBUS_SOCKET here: that is the
 * client library's override.) */
const char *sbp_default_socket_path(char *buf, size_t len);

/* Name of a message type, for logs ("?" when unknown). */
const char *sbp_type_name(uint16_t type);

#endif /* SB_PROTO_H */
