/*
 * worker.h - measuring processes: fork, pin, barrier, sandbox, reap
 * (internal header).
 *
 * Every scenario runs its measured loops in forked child processes, one per
 * role, each pinned to its core before it touches anything it measures.
 * Parent and children share one MAP_SHARED control block (barriers and error
 * messages) and whatever result memory the scenario maps with shared_alloc()
 * before forking; nothing a child reports needs a system call.
 *
 * A child's life: pin, set up (may make system calls), warm up, enter the
 * sandbox (worker_sandbox), meet the others at a barrier, run the measured
 * loop, return its exit code, which the harness passes to SYS_exit_group.
 *
 * The parent sleeps in harness_wait() (it never competes for the measuring
 * cores), reaps the children, and turns a death by SIGSYS into the verdict
 * "system call in the measured loop".  If one child fails, dies or the time
 * limit passes, the others are killed (they would otherwise spin forever
 * waiting for a peer).  SIGINT/SIGTERM do the same and set an interrupted
 * flag so that the scenario can clean up and stop.
 */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sb_atomic.h"

#define WORKER_MAX     66  /* 1 publisher + 64 subscribers + slack */
#define WORKER_PHASES  8
#define WORKER_ERR_LEN 240

/* Exit code of a child that left a message in its err slot. */
#define WORKER_EXIT_FAIL 3

struct worker_ctl {
	struct {
		alignas(SB_CACHE_LINE) _Atomic uint32_t arrived;
	} phase[WORKER_PHASES];
	struct {
		alignas(SB_CACHE_LINE) char err[WORKER_ERR_LEN];
	} proc[WORKER_MAX];
};

/* A child's view of the harness. */
struct worker {
	struct worker_ctl *ctl;
	unsigned idx;
	unsigned nprocs;
	int core;
	bool sandbox;
	bool selftest;      /* --selftest-seccomp: make one system call when measuring starts */
};

typedef int (*worker_fn)(struct worker *w, void *arg);

/* What else ran on the measuring cores while the children did: CPU time
 * not accounted to the children, and time the hypervisor took from these
 * vCPUs (steal).  Both from /proc/stat, so 10 ms granularity. */
struct harness_disturbance {
	double wall_ms;
	double foreign_ms;
	double steal_ms;
	bool valid;
};

struct cpu_ticks;

struct harness {
	struct worker_ctl *ctl;
	unsigned nprocs;    /* planned, for the barriers */
	unsigned nspawned;
	bool sandbox;
	bool selftest;
	int rt_prio;        /* > 0: children run SCHED_FIFO at this priority */
	pid_t pid[WORKER_MAX];
	bool reaped[WORKER_MAX];
	int status[WORKER_MAX];
	int core[WORKER_MAX];
	char role[WORKER_MAX][32];
	double child_cpu_ms;           /* CPU time of all children (rusage) */
	struct cpu_ticks *ticks_start; /* /proc/stat at the first spawn */
	struct harness_disturbance dist;
};


/* Anonymous MAP_SHARED memory, pre-faulted; NULL on failure (errno set). */
void *shared_alloc(size_t bytes);
/* The same on 2 MiB hugepages when the pool has them (bytes rounded up),
 * else on normal pages; *len gets the mapped length, for shared_free. */
#define WORKER_HUGE_PAGE (2u << 20)
void *shared_alloc_huge(size_t bytes, size_t *len);
void shared_free(void *p, size_t bytes);

/* Prepare for nprocs children.  Blocks SIGCHLD/SIGINT/SIGTERM in the caller
 * until harness_fini.  Returns 0 or -1 (message printed). */
int harness_init(struct harness *h, unsigned nprocs, bool sandbox);

/* Fork a child that pins itself to core and runs fn(w, arg).  Returns 0 or
 * -1 (message printed; already spawned children keep running until
 * harness_wait or harness_fini). */
int harness_spawn(struct harness *h, const char *role, int core, worker_fn fn, void *arg);

/* Wait for every child, at most timeout_s seconds.  Returns 0 if all exited
 * with 0, else -1 after killing the rest and printing the first cause. */
int harness_wait(struct harness *h, double timeout_s);

/* Disturbance of the last successful harness_wait (valid false if unknown). */
struct harness_disturbance harness_disturbance(const struct harness *h);

/* True if d is large enough to distrust the run: foreign CPU time above
 * 20 ms plus 1 % of the run, or any steal. */
bool harness_disturbed(const struct harness_disturbance *d);

/* Kill and reap anything still running, free the control block, restore
 * the signal mask. */
void harness_fini(struct harness *h);

/* True once SIGINT or SIGTERM arrived during harness_wait. */
bool harness_interrupted(void);

/* ----------------------------------------------------- in the children */

/* Leave a message for the parent and return WORKER_EXIT_FAIL.  Usable
 * inside the sandbox (vsnprintf into shared memory, no system call). */
int worker_fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wait until all nprocs children reached this phase (busy-spin). */
void worker_barrier(struct worker *w, unsigned phase);

/* Enter the seccomp sandbox (unless --no-seccomp).  Returns 0 or
 * WORKER_EXIT_FAIL with a message. */
int worker_sandbox(struct worker *w);

/* Called by each measuring process right before its measured loop.  Does
 * nothing, except under --selftest-seccomp, where it makes one getppid()
 * system call so that the sandbox must kill the process (the proof that
 * the proof works). */
void worker_measure_begins(struct worker *w);

/* The step every measuring process takes between warm-up and its measured
 * loop: enter the sandbox, meet the others at barrier `phase`, then
 * worker_measure_begins.  Returns 0 or WORKER_EXIT_FAIL with a message. */
int worker_enter_measured(struct worker *w, unsigned phase);

#endif /* BENCH_WORKER_H */
