/*
 * sb_lib.h - libshmbus internals: the handle structs and the client's
 * request/response helper (internal header).
 */
#ifndef SB_LIB_H
#define SB_LIB_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sb_ring.h"

#include <shmbus/shmbus.h>

#include "sb_proto.h"
#include "sb_segment.h"

enum sbi_kind { SBI_LIST = 0, SBI_PUB = 1, SBI_SUB = 2 };

/* First member of struct sb_pub and struct sb_sub: a pointer to the link is
 * a pointer to the handle, and kind says which. */
struct sbi_link {
	struct sbi_link *prev, *next;
	enum sbi_kind kind;
	/* false once a restarted daemon refused to take the handle back
	 * (written under the client's lock, read by the stats calls).
	 * RELAXED both ways: a status word, ordered with nothing. */
	_Atomic bool leased;
};

struct sb_client {
	int fd;
	pthread_mutex_t lock;      /* serialises requests; guards handles */
	uint32_t next_req;
	uint32_t id;               /* daemon-assigned client id */
	bool broken;               /* the connection failed: the next control call reconnects */
	char path[108];            /* socket path, for reconnecting */
	char name[64];             /* HELLO name */
	struct sbi_link handles;   /* open sb_pub / sb_sub, for sb_disconnect */
	struct sbp_msg msg;        /* reply buffer (under lock) */
	uint32_t timeout_ms;       /* per reply; SB_TIMEOUT_NONE: none */
	uint32_t owed;             /* replies still due to requests that timed out */
	/* The lease watcher (sb_watch.c). */
	uint64_t gen;              /* connections made so far (under lock) */
	bool stop;                 /* sb_disconnect: the watcher ends (under lock) */
	int wake_fd;               /* eventfd: stop, or a new connection; -1: no watcher */
	pid_t owner;               /* the process that started it (none in a fork()ed child) */
	pthread_t watcher;
	struct sb_client *fork_next; /* live clients, for fork() (sb_fork.c) */
};

struct sb_pub {
	struct sbi_link link;      /* first: the list holds pubs and subs */
	sb_client_t *client;
	uint32_t handle;           /* daemon handle id */
	int numa_node;
	struct sb_seg seg;
	alignas(64) struct sb_ring_pub ring; /* its hot prefix on two lines (sb_ring.h) */
};

struct sb_sub {
	struct sbi_link link;
	sb_client_t *client;
	uint32_t handle;
	int numa_node;
	struct sb_seg seg;
	alignas(64) struct sb_ring_sub ring; /* as in struct sb_pub */
};

/* A zeroed handle (struct sb_pub, struct sb_sub) at its 64-byte alignment,
 * which calloc does not promise; free() releases it. */
static inline void *sbi_handle_alloc(size_t size)
{
	size_t rounded = (size + 63) & ~(size_t)63;
	void *h = aligned_alloc(64, rounded);

	if (h)
		memset(h, 0, rounded);
	return h;
}

/* Send a request and wait for its reply (under the client's lock).
 * Returns the reply status (0 or negative, with the daemon's detail in
 * sb_last_error()) or a transport error; on success *rd reads the rest of
 * the reply body (client->msg, valid until the next call: hold lock). */
int sbi_call(sb_client_t *c, uint16_t type, const void *body, uint32_t len, struct sbp_rd *rd);

/* OPEN: returns 0 with *handle, *numa and fds[0], fds[1] (the segment
 * file, read-only for subscribers, and the subscriber file), or a code. */
int sbi_open(sb_client_t *c, const char *topic, uint8_t role, const struct sb_topic_opts *create,
	     uint32_t *handle, int *numa, int fds[SBP_MAX_FDS]);
/* ATTACHED / DETACHED / CLOSE for a handle. */
int sbi_attached(sb_client_t *c, uint32_t handle, uint32_t slot, uint8_t mode, uint8_t blocking);
void sbi_detached_close(sb_client_t *c, uint32_t handle, bool was_attached);

/* Connect again, HELLO, re-register every open handle (under lock). */
int sbi_reconnect_locked(sb_client_t *c);

/* The lease watcher thread: start it (0 or a code), stop it (joins it;
 * in a fork()ed child only releases the descriptor), and tell it that a
 * new connection exists (called by whoever connects, under lock). */
int sbi_watch_start(sb_client_t *c, int cpu); /* cpu -1: the caller's CPUs */
void sbi_watch_stop(sb_client_t *c);
void sbi_watch_kick(sb_client_t *c);

/* Live clients, whose locks are held across fork() (sb_fork.c). */
void sbi_fork_register(sb_client_t *c);
void sbi_fork_unregister(sb_client_t *c);

void sbi_link_add(sb_client_t *c, struct sbi_link *l);
void sbi_link_del(sb_client_t *c, struct sbi_link *l);

#endif /* SB_LIB_H */
