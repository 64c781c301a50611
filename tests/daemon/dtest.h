/*
 * dtest.h - helpers for the daemon integration suites (test-only header).
 *
 * Each test starts a real shmbusd (path from $SHMBUSD, set by meson) with its
 * own socket in a fresh directory under /tmp and its own segment directory
 * under /dev/shm, and waits until the socket accepts a connection (polling
 * connect; no sleep-based timing).  Raw protocol helpers let tests speak to
 * the daemon byte by byte and read its counters (STATS).
 *
 * Synchronisation with child processes is by pipes and by polling observable
 * state; every wait has a generous bound (DT_BOUND_NS) that only turns a
 * hang into a failure.
 */
#ifndef DTEST_H
#define DTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include <shmbus/shmbus.h>

#include "sb_proto.h"

#define DT_EXIT_SKIP 77
#define DT_BOUND_NS  (30ull * 1000000000ull) /* failure bound for every wait */

struct dt_daemon {
	pid_t pid;
	char tmp[64];     /* /tmp/sbdt.XXXXXX: socket, config, logs */
	char dir[64];     /* /dev/shm/sbdt.XXXXXX: segments */
	char sock[128];
};

/* Start shmbusd.  config: INI text written to tmp/shmbusd.ini (NULL: none);
 * extra: more arguments, NULL-terminated (may be NULL). */
void dt_daemon_start(struct dt_daemon *d, const char *config, const char *const *extra);
/* Start another shmbusd on the same socket and directories (restart). */
void dt_daemon_spawn(struct dt_daemon *d, const char *config, const char *const *extra);
/* SIGKILL the daemon and reap it; directories stay. */
void dt_daemon_kill(struct dt_daemon *d);
/* SIGTERM, wait, and assert it exited 0 (clean shutdown); remove dirs. */
void dt_daemon_stop(struct dt_daemon *d);
/* SIGSTOP the daemon and return once it is stopped ('T' in /proc). */
void dt_daemon_freeze(const struct dt_daemon *d);
/* The state letter of /proc/PID/stat ('?' when unreadable). */
char dt_proc_state(pid_t pid);

uint64_t dt_now_ns(void);
/* Short pause between polls of some state (not a synchronisation). */
void dt_relax(void);

/* Raw connection (blocking); -1 on failure. */
int dt_raw_connect(const char *sock);
/* Raw HELLO; returns the reply status. */
int dt_raw_hello(int fd, const char *name);
/* Send one request and read its reply: returns the status (or a transport
 * error); the reply body stays in *m. */
int dt_raw_call(int fd, uint16_t type, const void *body, uint32_t len, struct sbp_msg *m);
/* Raw OPEN of an existing topic (no CREATE) in role (SBP_ROLE_*): returns
 * the status; on 0, *handle and fds[0], fds[1] (the segment file and the
 * subscriber file, as the daemon passed them; the caller closes them). */
int dt_raw_open(int fd, const char *topic, uint8_t role, uint32_t *handle, int fds[SBP_MAX_FDS]);
/* Wait until the peer closes (EOF) within the bound, discarding any replies.
 * Returns true on EOF. */
bool dt_wait_eof(int fd);

/* Handles the daemon holds for the client named name (CLIENTS), or
 * UINT32_MAX if no client has that name. */
uint32_t dt_handles_of(const struct dt_daemon *d, const char *name);
/* A STATS counter of the daemon (topic NULL) or a topic; UINT64_MAX if absent. */
uint64_t dt_stat(const struct dt_daemon *d, const char *topic, const char *key);
/* Poll dt_stat until it reaches at least want (bounded); returns the value. */
uint64_t dt_wait_stat(const struct dt_daemon *d, const char *topic, const char *key, uint64_t want);

/* A 64-bit mixer (splitmix64's finaliser) for deterministic test data. */
uint64_t dt_mix(uint64_t x);
/* Payload of record i of a stream: deterministic bytes with a checksum. */
uint32_t dt_fill(void *buf, uint32_t max, uint64_t stream, uint64_t i);
/* The same layout at a given length (>= 24); returns len. */
uint32_t dt_fill_len(void *buf, uint32_t len, uint64_t stream, uint64_t i);
/* True if buf/len is record i of stream. */
bool dt_check(const void *buf, uint32_t len, uint64_t stream, uint64_t i);

/* Records per test: argv[1] (the stress_records option) or fallback. */
uint64_t dt_records(int argc, char **argv, uint64_t fallback);

/* Child helpers: write/read one byte on a pipe (bounded). */
void dt_signal(int fd);
bool dt_wait_signal(int fd);
/* A child forked before the test process connects, held until the parent
 * opens its gate.  A client runs a watcher thread, and ThreadSanitizer cannot
 * start threads in a child forked from a multi-threaded process, so the
 * suites fork every child that connects while they are single-threaded.
 * dt_fork_gated returns the pid in the parent and 0 in the child once the
 * gate is open (the child exits 4 if it never opens within the bound, and is
 * SIGKILLed if the test process dies). */
struct dt_gate {
	int fd[2];
};
pid_t dt_fork_gated(struct dt_gate *g);
void dt_gate_open(struct dt_gate *g);
/* waitpid with the bound; returns the exit status or -1 (also kills it). */
int dt_wait_child(pid_t pid);

#endif /* DTEST_H */
