/*
 * sbd.h - shmbusd's internal types and the interfaces between its files
 * (internal header; nothing here is installed).
 *
 * Files, one job each:
 *   main.c      options, start-up, shutdown
 *   config.c    INI configuration (libinih) and built-in defaults
 *   loop.c      the control agent: epoll over the listening socket, the
 *               sessions, a signalfd (SIGTERM/SIGINT) and a timerfd
 *   session.c   one client connection: framing, HELLO, dispatch, replies
 *   registry.c  topics: RCU hash table, segment creation, NUMA, permissions
 *   lease.c     clean-up after a client's connection ends; repair timer
 *   stats.c     LIST, STATS and CLIENTS replies (bridge counters included)
 *   ../dpdk/    the DPDK bridge (bridge.h), when built with DPDK and
 *               configured ([bridge], [export T], [import T])
 *
 * Threading: one control thread does everything here.  The topic registry is
 * an RCU hash table so that other threads (the DPDK bridge workers, later)
 * can look topics up without a lock; the control thread is its only writer
 * and frees a topic only after a grace period (synchronize_rcu).
 */
#ifndef SBD_H
#define SBD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include "sb_clock.h"
#include "sb_layout.h"
#include "sb_proto.h"
#include "sb_segment.h"
#ifdef SB_HAVE_BRIDGE
#include "bridge.h" /* dpdk/: linked only where DPDK was found */
#endif

#define SBD_VERSION_STR   "shmbusd 0.1.0"
#define SBD_MAX_ALLOW     16
#define SBD_MAX_HANDLES   256  /* per session */

/* ---------------------------------------------------------------- config */

struct sbd_topic_cfg {
	char name[SB_TOPIC_NAME_MAX]; /* "" for [defaults] */
	uint64_t ring_size;
	uint32_t max_msg;
	uint32_t msg_align;
	int numa_node;                /* -1: not bound */
	uint32_t mode;                /* permission bits checked against peers */
	bool uid_set, gid_set;
	uint32_t uid, gid;            /* owner; unset: the creating client */
	unsigned n_allow_uids;
	uint32_t allow_uids[SBD_MAX_ALLOW]; /* if any: only these uids (and 0) */
	unsigned n_allow_gids;
	uint32_t allow_gids[SBD_MAX_ALLOW];
};

struct sbd_config {
	char socket_path[108];
	char dir[256];               /* "" : default */
	uint32_t socket_mode;
	uint32_t segment_mode;
	uint32_t grace_ms;           /* before repairing a dead publisher's claim */
	uint32_t hello_timeout_ms;   /* a connection that sends no HELLO is closed */
	uint32_t max_clients;
	uint32_t max_topics;
	uint32_t orphan_grace_ms;    /* after a restart, before reclaiming old slots */
	bool no_hugepages;
	bool auto_create;            /* opens may create topics with defaults */
	struct sbd_topic_cfg defaults;
	struct sbd_topic_cfg *topics;
	unsigned n_topics;
#ifdef SB_HAVE_BRIDGE
	struct sbb_config bridge;    /* [bridge], [export T], [import T]; .enabled if any */
#endif
};

void sbd_config_defaults(struct sbd_config *cfg);
/* Returns 0, SB_ENOENT, SB_EINVAL (detail names file:line). */
int sbd_config_load(struct sbd_config *cfg, const char *path);
const struct sbd_topic_cfg *sbd_config_topic(const struct sbd_config *cfg, const char *name);
void sbd_config_free(struct sbd_config *cfg);

/* -------------------------------------------------------------- counters */

struct sbd_counters {
	uint64_t clients_total;
	uint64_t clients_now;
	uint64_t malformed;          /* messages answered or closed as malformed */
	uint64_t fds_refused;        /* unsolicited fds closed */
	uint64_t hello_timeouts;
	uint64_t clients_refused;    /* connections closed at accept: max_clients, or no fd left */
	uint64_t opens;
	uint64_t opens_denied;
	uint64_t attaches;           /* slots reported by ATTACHED (re-registrations included) */
	uint64_t topics_created;
	uint64_t topics_deleted;
	uint64_t sub_slots_released; /* by clean-up after a lease ended */
	uint64_t pub_slots_released;
	uint64_t claims_repaired;
	uint64_t repair_failures;
};

/* ---------------------------------------------------------------- topics */

struct sbd_topic {
	struct cds_lfht_node node;   /* in sbd.topics, keyed by name */
	char name[SB_TOPIC_NAME_MAX];
	struct sb_seg seg;           /* admin mapping; its fds go to publishers */
	int ro_fd;                   /* the segment file opened read-only: for subscribers */
	struct sbd_topic_cfg cfg;    /* permissions and creation parameters */
	uint32_t refs;               /* handles + pending repairs + registry */
	bool unlinked;               /* deleted: out of the table, file removed */
};

/* ------------------------------------------------------------- sessions */

struct sbd_handle {
	uint32_t id;                 /* 0: unused entry */
	struct sbd_topic *t;
	uint8_t role;                /* enum sbp_role */
	bool attached;
	uint8_t mode;                /* pub: 1 exclusive; sub: 1 untethered */
	uint8_t blocking;            /* sub: counted in sb_sub_area.blocking */
	uint32_t slot;
};

enum sbd_ev_kind { SBD_EV_LISTEN, SBD_EV_SIGNAL, SBD_EV_TIMER, SBD_EV_SESSION };

struct sbd_session {
	enum sbd_ev_kind kind;       /* first: epoll data points here */
	int fd;
	uint32_t id;
	pid_t pid;                   /* for slot checks; 0 when the peer is in another pid namespace */
	pid_t peer_pid;              /* SO_PEERCRED, as this namespace sees it (display, logs) */
	uid_t uid;
	gid_t gid;
	bool hello;
	bool dead;                   /* closed at the end of this iteration */
	bool fd_abuse;               /* an fd came with the current message */
	uint64_t hello_deadline_ns;
	char name[SBP_NAME_MAX];
	uint32_t rlen;               /* bytes of the current message in rbuf */
	struct sbp_msg rbuf;
	struct sbd_handle handles[SBD_MAX_HANDLES];
	uint32_t next_handle;
	struct sbd_session *next;
};

/* A dead publisher's slot kept until its claim is resolved. */
struct sbd_repair {
	struct sbd_topic *t;
	uint32_t slot;
	bool exclusive;
	uint64_t observed_tail;
	uint64_t deadline_ns;
	int failures;
	struct sbd_repair *next;
};

/* A slot found taken in an adopted segment: its owner talked to the
 * previous daemon.  Released once nobody re-registered it, the grace for
 * reconnecting clients is over and its pid no longer exists. */
struct sbd_orphan {
	struct sbd_topic *t;
	uint8_t role;
	uint32_t slot;
	uint32_t pid;
	uint64_t not_before_ns;      /* end of the reconnect grace */
	uint64_t deadline_ns;        /* next check */
	struct sbd_orphan *next;
};

/* ---------------------------------------------------------------- daemon */

struct sbd {
	struct sbd_config cfg;
	char dir[256];               /* resolved segment directory */
	char fallback_dir[256];      /* /dev/shm fallback when dir is hugetlbfs, or "" */
	int epfd, lfd, sigfd, timerfd;
	int reserve_fd;              /* /dev/null, given up to accept-and-close when out of fds */
	bool listen_paused;          /* out of fds and no reserve: not polling the socket */
	uint64_t refused_logged;     /* clients_refused when the last refusal was logged */
	uint64_t refused_log_ns;     /* and when */
	enum sbd_ev_kind ev_listen, ev_signal, ev_timer;
	struct cds_lfht *topics;
	struct sbd_session *sessions;
	struct sbd_repair *repairs;
	struct sbd_orphan *orphans;
	uint32_t next_client_id;
	uint32_t n_topics;
	struct sbd_counters ctr;
	bool stop;
#ifdef SB_HAVE_BRIDGE
	struct sbb_bridge *bridge;   /* NULL unless bridging is configured */
	struct sbd_topic *bridge_topics[2 * SBB_MAX_TOPICS]; /* refs held while it runs */
	unsigned n_bridge_topics;
#endif
};


/* loop.c */
/* Block SIGTERM and SIGINT in the calling thread; they are read from the
 * loop's signalfd.  main calls it first, before any library (liburcu-cds's
 * hash-table worker, DPDK's EAL) starts a thread: a thread inherits the
 * mask, and one that unblocked SIGTERM would die of it instead of letting
 * the loop shut down cleanly. */
int sbd_signals_block(void);
int sbd_loop_init(struct sbd *d);
/* One duty cycle: wait up to timeout_ms for events and handle them.
 * Returns the number of events handled, or a negative code. */
int sbd_agent_do_work(struct sbd *d, int timeout_ms);
void sbd_loop_fini(struct sbd *d);
void sbd_timers_rearm(struct sbd *d);

/* session.c */
struct sbd_session *sbd_session_new(struct sbd *d, int fd);
/* Read and handle what is available.  Marks the session dead on EOF or on a
 * message that makes the stream unusable. */
void sbd_session_readable(struct sbd *d, struct sbd_session *s);
/* release: end the session's leases (false at daemon shutdown: clients keep
 * running and a restarted daemon takes over). */
void sbd_session_close(struct sbd *d, struct sbd_session *s, bool release);
/* Is (topic, role, slot) reported by an attached handle of any session? */
bool sbd_slot_reported(const struct sbd *d, const struct sbd_topic *t, uint8_t role, uint32_t slot);
/* Reply helpers used by stats.c. */
int sbd_reply(struct sbd *d, struct sbd_session *s, int status, const void *extra, uint32_t len);
/* The same, passing nfds fds along (OPEN). */
int sbd_reply_fds(struct sbd *d, struct sbd_session *s, int status, const void *extra, uint32_t len,
		  const int *fds, unsigned nfds);

/* registry.c */
int sbd_registry_init(struct sbd *d);
void sbd_registry_fini(struct sbd *d);
bool sbd_topic_name_ok(const char *name);
struct sbd_topic *sbd_topic_find(struct sbd *d, const char *name);
int sbd_topic_create(struct sbd *d, const char *name, const struct sbp_topic_params *p, uid_t uid,
		     gid_t gid, struct sbd_topic **out);
int sbd_topic_delete(struct sbd *d, struct sbd_topic *t);
void sbd_topic_get(struct sbd_topic *t);
void sbd_topic_put(struct sbd *d, struct sbd_topic *t);
/* 0 or SB_EACCES (with detail). role: SBP_ROLE_PUB/SUB, 0 for admin ops. */
int sbd_topic_access(const struct sbd_topic *t, uid_t uid, gid_t gid, int role);
int sbd_topics_from_config(struct sbd *d);
/* Start-up: validate every segment file in dir; adopt the valid ones,
 * rename the invalid ones to NAME.quarantine-EPOCH (logged). */
int sbd_registry_adopt_dir(struct sbd *d, const char *dir);

/* lease.c */
/* Release what the handle holds in its segment (the lease ended). */
void sbd_lease_release(struct sbd *d, struct sbd_session *s, struct sbd_handle *h);
/* A handle opened but never ATTACHED when its session ended: the process
 * may have died between taking a slot and reporting it.  Release the slots
 * of the topic that carry the peer's pid and nobody reported, unless another
 * session of the same pid is still alive. */
void sbd_lease_sweep_unreported(struct sbd *d, struct sbd_session *s, struct sbd_handle *h);
/* Start-up: record the slots taken in an adopted segment. */
void sbd_lease_adopt_orphans(struct sbd *d, struct sbd_topic *t);
void sbd_lease_on_timer(struct sbd *d);
uint64_t sbd_lease_next_deadline(const struct sbd *d);
void sbd_lease_fini(struct sbd *d);

/* bridge (main.c): create the exported/imported topics, start the DPDK
 * bridge; no-ops without bridge configuration (EAL never initialised). */
int sbd_bridge_start(struct sbd *d);
void sbd_bridge_stop(struct sbd *d);

/* stats.c */
void sbd_stats_list(struct sbd *d, struct sbd_session *s);
void sbd_stats_stats(struct sbd *d, struct sbd_session *s, const char *topic);
void sbd_stats_clients(struct sbd *d, struct sbd_session *s);

#endif /* SBD_H */
