/*
 * shmbus.h - the public API of libshmbus.
 *
 * A process connects to the local shmbusd, opens publishers and subscribers
 * by topic name, and then moves messages through shared memory with no
 * daemon, no copy, no lock, no allocation and no system call on the path:
 *
 *     sb_client_t *c = sb_connect(NULL);
 *     sb_pub_t *p = sb_pub_open(c, "md.eurusd", NULL);
 *     void *buf;
 *     if (sb_pub_claim(p, 64, &buf) == 0) { fill(buf); sb_pub_commit(p); }
 *
 *     sb_sub_t *s = sb_sub_open(c, "md.eurusd", NULL);
 *     sb_sub_poll(s, on_msg, ctx, 32);
 *
 * Concurrency contract
 *  - An sb_client_t may be used from several threads for open/close calls
 *    (they are serialised inside); each sb_pub_t / sb_sub_t belongs to one
 *    thread at a time.  Different handles, in one process or many, may
 *    publish and consume on the same topic concurrently.
 *  - Data-path calls (claim, commit, abort, send, poll, read, release, and
 *    sb_sub_wait with SB_SPIN) never block, never allocate, never lock and
 *    never make a system call, except that commit wakes sleeping
 *    SB_BLOCKING subscribers when (and only when) one is asleep.
 *  - Between claim and commit the caller may write the claimed buffer and
 *    nothing else on that handle.  If the process dies in between, readers
 *    wait at that message until the daemon, after its grace period, turns it
 *    into an aborted record that everyone skips.
 *  - Handles stay usable if shmbusd restarts: the data path does not go
 *    through the daemon; the client reconnects by itself (sb_connect).
 *
 * Errors: see shmbus/errors.h.  Constructors return NULL and set errno.
 */
#ifndef SHMBUS_SHMBUS_H
#define SHMBUS_SHMBUS_H

#include <stddef.h>
#include <stdint.h>

#include <shmbus/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 1
#define SB_TOPIC_MAX     63 /* longest topic name, [A-Za-z0-9._-] */

typedef struct sb_client sb_client_t;
typedef struct sb_pub sb_pub_t;
typedef struct sb_sub sb_sub_t;

/* ------------------------------------------------------------- client */

enum sb_client_flags {
	/* No lease watcher thread: after a daemon restart the client
	 * reconnects on its next control call only (see sb_connect). */
	SB_CLIENT_NO_WATCHER = 1u << 0,
	/* Run the watcher on CPU watcher_cpu (e.g. a housekeeping core)
	 * instead of the connecting thread's CPUs. */
	SB_CLIENT_WATCHER_CPU = 1u << 1,
};

struct sb_client_opts {
	const char *socket_path; /* NULL: $SHMBUS_SOCKET, else the default path */
	const char *name;        /* shown by shmbusctl clients; NULL: program name */
	unsigned flags;          /* enum sb_client_flags, or-ed; 0: defaults */
	uint32_t timeout_ms;     /* longest wait for a reply of shmbusd (0: 5000;
				  * SB_TIMEOUT_NONE: wait forever) */
	int watcher_cpu;         /* with SB_CLIENT_WATCHER_CPU: the watcher's CPU */
};

#define SB_TIMEOUT_NONE UINT32_MAX

/* Connect to shmbusd.  opts may be NULL.  Returns NULL and sets errno
 * (ENOENT: no daemon at the socket path; EPROTO: version mismatch; EMFILE:
 * no fd left here; ECONNRESET: also when shmbusd refused the connection,
 * at max_clients or out of fds).
 *
 * Unless SB_CLIENT_NO_WATCHER, a lease watcher thread ("sb-lease") sleeps in
 * poll() on the connection; when shmbusd goes away it reconnects as soon as
 * a daemon answers on the same path and re-registers every open handle, so
 * the lease is renewed without waiting for a control call.  It never touches
 * the data path, blocks every signal, and runs on the CPUs of the thread
 * calling sb_connect, or on opts->watcher_cpu with SB_CLIENT_WATCHER_CPU
 * (keep it off isolated cores: it runs when the daemon restarts).  A child made with fork() has no
 * watcher; its control calls still reconnect.  fork() waits for control
 * calls in flight (every client's lock is held across it), so a child never
 * inherits a lock held by a thread it does not have. */
sb_client_t *sb_connect(const struct sb_client_opts *opts);

/* Close every handle still open on the client, then the connection. */
void sb_disconnect(sb_client_t *client);

/* The socket path sb_connect(NULL) uses: /run/shmbus/shmbusd.sock as root,
 * $XDG_RUNTIME_DIR/shmbus/shmbusd.sock otherwise ($SHMBUS_SOCKET overrides). */
const char *sb_default_socket_path(char *buf, size_t len);

/* ------------------------------------------------------------- topics */

/* Parameters used when an open creates the topic (zeros: daemon defaults).
 * Ignored if the topic exists. */
struct sb_topic_opts {
	uint64_t ring_size;   /* bytes, rounded up to a power of two */
	uint32_t max_msg;     /* largest message in bytes */
	uint32_t msg_align;   /* 8 (dense, default) .. 128; 64 = one message per cache line set */
	int numa_node;        /* -1: the daemon's default */
};

/* Delete a topic: the daemon forgets it and unlinks its files, so that its
 * memory (huge pages included) returns once the last process that maps it
 * closes its handles; handles still open keep working until then.  Needs
 * uid 0, the daemon's uid or the topic's owner.  Returns 0, SB_ENOENT
 * (no such topic), SB_EACCES, SB_EINVAL (no client, name missing or
 * longer than SB_TOPIC_MAX), SB_ECONN. */
int sb_topic_delete(sb_client_t *client, const char *topic);

/* ---------------------------------------------------------- publishers */

enum sb_pub_mode {
	SB_PUBLISH_SHARED = 0,    /* several publishers may share the topic */
	SB_PUBLISH_EXCLUSIVE = 1, /* the only publisher: cheaper claims */
};

struct sb_pub_opts {
	enum sb_pub_mode mode;
	const struct sb_topic_opts *create; /* create if missing; NULL: must exist or daemon default */
};

/* Open a publisher.  opts may be NULL (shared, create with defaults).
 * Returns NULL and sets errno: ENOENT, EACCES, EBUSY (exclusive conflict),
 * ENOSPC (no publisher slot), EALREADY (exclusive open while a dead
 * publisher's claim awaits the daemon's repair: retry after its grace
 * period), ECONNRESET, EINVAL, EMFILE (this process or shmbusd is out of
 * file descriptors; sb_last_error() says which). */
sb_pub_t *sb_pub_open(sb_client_t *client, const char *topic, const struct sb_pub_opts *opts);
void sb_pub_close(sb_pub_t *pub);

/* Claim len bytes in the ring; *buf points at them.  Returns 0,
 * SB_EMSGSIZE, SB_EBACKPRESSURE (nothing claimed: retry later), SB_ESTATE. */
int sb_pub_claim(sb_pub_t *pub, uint32_t len, void **buf);
/* Claim n messages at once (n <= 256); bufs[i] gets lens[i] bytes; one
 * sb_pub_commit publishes them all.  Returns 0 or as sb_pub_claim. */
int sb_pub_claim_batch(sb_pub_t *pub, const uint32_t *lens, unsigned n, void **bufs);
/* Publish what was claimed.  Returns 0 or SB_ESTATE. */
int sb_pub_commit(sb_pub_t *pub);
/* Give up what was claimed: subscribers skip it.  Returns 0 or SB_ESTATE. */
int sb_pub_abort(sb_pub_t *pub);
/* Copying convenience: claim, memcpy, commit. */
int sb_pub_send(sb_pub_t *pub, const void *data, uint32_t len);

struct sb_pub_stats {
	uint64_t published;     /* messages committed by this handle */
	uint64_t backpressure;  /* claims refused with SB_EBACKPRESSURE */
	uint64_t aborted;       /* messages aborted */
	int leased;             /* 1: the daemon holds this handle's lease (it frees
				 * the slot if the process dies); 0: a restarted
				 * daemon refused to take the handle back */
};
void sb_pub_stats(const sb_pub_t *pub, struct sb_pub_stats *stats);

/* --------------------------------------------------------- subscribers */

enum sb_sub_mode {
	SB_TETHERED = 0,   /* publishers never overwrite what it has not read */
	SB_UNTETHERED = 1, /* never slows publishers; told exactly what it lost */
};

enum sb_sub_start {
	SB_FROM_LATEST = 0, /* messages committed after the open */
	SB_FROM_OLDEST = 1, /* the oldest messages still in the ring */
};

enum sb_wait {
	SB_SPIN = 0,       /* busy-poll: pinned, isolated cores */
	SB_SPIN_YIELD = 1, /* spin, then sched_yield(); yields at once while the core is shared */
	SB_BLOCKING = 2,   /* spin, then sleep on a futex until a commit */
	SB_SPIN_STREAM = 3, /* busy-poll for throughput: once caught up, look again only
			     * about every microsecond, so the publisher fills its cache
			     * lines undisturbed; up to that much latency after an idle
			     * spell (docs/api.md) */
};

struct sb_sub_opts {
	enum sb_sub_mode mode;
	enum sb_sub_start start;
	enum sb_wait wait;
};

/* A message as delivered: data points into shared memory (tethered) or into
 * a private validated copy (untethered poll).  Valid until the handler
 * returns (poll) or until sb_sub_release (read). */
struct sb_msg {
	const void *data;
	uint32_t len;
	uint64_t seq;   /* publisher-assigned sequence number */
	uint64_t lost;  /* messages lost immediately before this one */
};

/* Open a subscriber.  opts may be NULL (tethered, from latest, spin).
 * Returns NULL and sets errno: ENOENT, EACCES, ENOSPC, ECONNRESET, EINVAL,
 * EMFILE (as for sb_pub_open). */
sb_sub_t *sb_sub_open(sb_client_t *client, const char *topic, const struct sb_sub_opts *opts);
void sb_sub_close(sb_sub_t *sub);

typedef void (*sb_msg_fn)(void *ctx, const struct sb_msg *msg);

/* Deliver up to max (at most 32 per call) messages to fn.  Returns how many
 * (0: none yet), or
 * SB_ELAPPED / SB_ECORRUPT (the subscriber resynchronised; loss is reported
 * with the next message). */
int sb_sub_poll(sb_sub_t *sub, sb_msg_fn fn, void *ctx, unsigned max);

/* Zero-copy batch read: fill up to max (at most 64) messages in place
 * without consuming them; then sb_sub_release().  Returns the count, or
 * SB_EEMPTY, SB_EINVAL (max 0),
 * SB_ELAPPED, SB_ECORRUPT. */
int sb_sub_read(sb_sub_t *sub, struct sb_msg *msgs, unsigned max);
/* Consume what sb_sub_read returned.  For untethered subscribers,
 * SB_ELAPPED means the messages were overwritten while read: discard them. */
int sb_sub_release(sb_sub_t *sub);

/* Wait for a message with the subscriber's wait strategy (timeout_ns 0:
 * forever).  Returns 0 or SB_ETIMEDOUT. */
int sb_sub_wait(sb_sub_t *sub, uint64_t timeout_ns);

struct sb_sub_stats {
	uint64_t consumed; /* messages delivered */
	uint64_t lost;     /* messages lost to lapping */
	uint64_t laps;     /* times overrun */
	int leased;        /* as in struct sb_pub_stats */
};
void sb_sub_stats(const sb_sub_t *sub, struct sb_sub_stats *stats);

/* ------------------------------------------------------ threads, NUMA */

/* Pin the calling thread to one CPU.  Returns 0, SB_EINVAL or SB_EIO. */
int sb_pin_thread(int cpu);
/* NUMA node of a CPU (0 on machines without NUMA), or SB_EINVAL. */
int sb_cpu_numa_node(int cpu);
/* NUMA node a topic's memory is bound to (-1: not bound). */
int sb_pub_numa_node(const sb_pub_t *pub);
int sb_sub_numa_node(const sb_sub_t *sub);

#ifdef __cplusplus
}
#endif

#endif /* SHMBUS_SHMBUS_H */
