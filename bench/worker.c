/*
 * worker.c - the process harness behind every scenario.
 *
 * The parent blocks SIGCHLD, SIGINT and SIGTERM and collects them with
 * sigtimedwait(), so it sleeps in the kernel for the whole run, reacts at
 * once when a child ends, and can enforce a time limit without a timer
 * thread.  Children restore the original mask, ask to be killed if the
 * parent dies (PR_SET_PDEATHSIG), and disable core dumps so that a SIGSYS
 * verdict leaves no core file behind.
 */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "affinity.h"
#include "clock.h"
#include "nosyscall.h"

#define MAX_CPUS 1024

/* Per-CPU busy and steal ticks from /proc/stat. */
struct cpu_ticks {
	double start_s;
	uint64_t busy[MAX_CPUS];
	uint64_t steal[MAX_CPUS];
};

static sigset_t saved_mask;
static volatile bool interrupted;

void *shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *shared_alloc_huge(size_t bytes, size_t *len)
{
	size_t huge = (bytes + WORKER_HUGE_PAGE - 1) / WORKER_HUGE_PAGE * WORKER_HUGE_PAGE;
	void *p = mmap(NULL, huge, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);

	if (p != MAP_FAILED) {
		*len = huge;
		return p;
	}
	*len = bytes;
	return shared_alloc(bytes);
}

void shared_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}

static int read_ticks(struct cpu_ticks *t)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return -1;
	memset(t->busy, 0, sizeof(t->busy));
	memset(t->steal, 0, sizeof(t->steal));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long us, ni, sy, id, io, irq, sirq, st;
		unsigned cpu;

		if (sscanf(line, "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &us, &ni, &sy, &id, &io,
			   &irq, &sirq, &st) != 9 || cpu >= MAX_CPUS)
			continue;
		t->busy[cpu] = us + ni + sy + irq + sirq;
		t->steal[cpu] = st;
	}
	fclose(f);
	t->start_s = clock_mono_s();
	return 0;
}

static void measure_disturbance(struct harness *h)
{
	struct cpu_ticks end;
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	bool seen[MAX_CPUS] = { false };
	uint64_t busy = 0, steal = 0;

	h->dist.valid = false;
	if (!h->ticks_start || read_ticks(&end) < 0)
		return;
	for (unsigned i = 0; i < h->nspawned; i++) {
		int c = h->core[i];

		if (c < 0 || c >= MAX_CPUS || seen[c])
			continue;
		seen[c] = true;
		busy += end.busy[c] - h->ticks_start->busy[c];
		steal += end.steal[c] - h->ticks_start->steal[c];
	}
	h->dist.wall_ms = (end.start_s - h->ticks_start->start_s) * 1000.0;
	h->dist.foreign_ms = (double)busy * tick_ms - h->child_cpu_ms;
	if (h->dist.foreign_ms < 0)
		h->dist.foreign_ms = 0;
	h->dist.steal_ms = (double)steal * tick_ms;
	h->dist.valid = true;
}

struct harness_disturbance harness_disturbance(const struct harness *h)
{
	return h->dist;
}

bool harness_disturbed(const struct harness_disturbance *d)
{
	return d->valid && (d->foreign_ms > 20.0 + 0.01 * d->wall_ms || d->steal_ms > 0);
}

bool harness_interrupted(void)
{
	return interrupted;
}

int harness_init(struct harness *h, unsigned nprocs, bool sandbox)
{
	sigset_t block;

	memset(h, 0, sizeof(*h));
	if (nprocs == 0 || nprocs > WORKER_MAX) {
		fprintf(stderr, "shmbus-bench: %u processes requested, at most %u\n", nprocs, WORKER_MAX);
		return -1;
	}
	h->ctl = shared_alloc(sizeof(*h->ctl));
	if (!h->ctl) {
		fprintf(stderr, "shmbus-bench: shared control block: %s\n", strerror(errno));
		return -1;
	}
	h->ticks_start = malloc(sizeof(*h->ticks_start));
	if (!h->ticks_start) {
		fprintf(stderr, "shmbus-bench: out of memory\n");
		return -1;
	}
	h->nprocs = nprocs;
	h->sandbox = sandbox;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &saved_mask);
	return 0;
}

_Noreturn static void child_main(struct harness *h, unsigned idx, pid_t parent, worker_fn fn, void *arg)
{
	struct worker w = {
		.ctl = h->ctl,
		.idx = idx,
		.nprocs = h->nprocs,
		.core = h->core[idx],
		.sandbox = h->sandbox,
		.selftest = h->selftest,
	};
	struct rlimit no_core = { 0, 0 };
	int rc;

	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		nosyscall_exit(WORKER_EXIT_FAIL);
	setrlimit(RLIMIT_CORE, &no_core);
	rc = affinity_pin(w.core);
	if (rc < 0)
		nosyscall_exit(worker_fail(&w, "pin to core %d: %s", w.core, strerror(-rc)));
	if (h->rt_prio > 0) {
		struct sched_param sp = { .sched_priority = h->rt_prio };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			nosyscall_exit(worker_fail(&w, "SCHED_FIFO priority %d: %s (--rt needs CAP_SYS_NICE)",
						   h->rt_prio, strerror(errno)));
	}
	nosyscall_exit(fn(&w, arg));
}

int harness_spawn(struct harness *h, const char *role, int core, worker_fn fn, void *arg)
{
	unsigned idx = h->nspawned;
	pid_t pid, parent = getpid();

	if (idx >= h->nprocs) {
		fprintf(stderr, "shmbus-bench: internal error: more children than planned\n");
		return -1;
	}
	snprintf(h->role[idx], sizeof(h->role[idx]), "%s", role);
	h->core[idx] = core;
	if (idx == 0 && read_ticks(h->ticks_start) < 0) {
		free(h->ticks_start);
		h->ticks_start = NULL;
	}
	fflush(NULL); /* the child must not inherit unwritten stdio buffers */
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "shmbus-bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_main(h, idx, parent, fn, arg);
	h->pid[idx] = pid;
	h->nspawned++;
	return 0;
}

/* Reap whatever has ended; returns the number still running. */
static unsigned reap(struct harness *h)
{
	unsigned running = 0;

	for (unsigned i = 0; i < h->nspawned; i++) {
		struct rusage ru;
		int st;

		if (h->reaped[i])
			continue;
		if (wait4(h->pid[i], &st, WNOHANG, &ru) == h->pid[i]) {
			h->reaped[i] = true;
			h->status[i] = st;
			h->child_cpu_ms += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
					   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
		} else {
			running++;
		}
	}
	return running;
}

static void kill_all(struct harness *h)
{
	for (unsigned i = 0; i < h->nspawned; i++)
		if (!h->reaped[i])
			kill(h->pid[i], SIGKILL);
	for (unsigned i = 0; i < h->nspawned; i++) {
		if (!h->reaped[i]) {
			waitpid(h->pid[i], &h->status[i], 0);
			h->reaped[i] = true;
			h->status[i] = -1; /* killed by us: not a cause */
		}
	}
}

static bool failed(int st)
{
	return st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void explain(struct harness *h, unsigned i)
{
	int st = h->status[i];
	const char *err = h->ctl->proc[i].err;

	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		fprintf(stderr, "shmbus-bench: FAIL: system call in the measured loop "
				"(%s process on core %d killed by SIGSYS from the seccomp filter)\n",
			h->role[i], h->core[i]);
	else if (WIFSIGNALED(st))
		fprintf(stderr, "shmbus-bench: FAIL: %s process on core %d killed by signal %d (%s)\n",
			h->role[i], h->core[i], WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (err[0])
		fprintf(stderr, "shmbus-bench: FAIL: %s process on core %d: %.*s\n", h->role[i], h->core[i],
			WORKER_ERR_LEN, err);
	else
		fprintf(stderr, "shmbus-bench: FAIL: %s process on core %d exited with status %d\n",
			h->role[i], h->core[i], WEXITSTATUS(st));
}

int harness_wait(struct harness *h, double timeout_s)
{
	double deadline = clock_mono_s() + timeout_s;
	sigset_t wait_set;

	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGTERM);
	for (;;) {
		unsigned running = reap(h);
		double left = deadline - clock_mono_s();
		struct timespec ts;
		int sig;

		for (unsigned i = 0; i < h->nspawned; i++) {
			if (h->reaped[i] && failed(h->status[i])) {
				kill_all(h);
				explain(h, i);
				return -1;
			}
		}
		if (running == 0) {
			measure_disturbance(h);
			return 0;
		}
		if (left <= 0) {
			fprintf(stderr, "shmbus-bench: FAIL: time limit of %.0f s passed; still running:", timeout_s);
			for (unsigned i = 0; i < h->nspawned; i++)
				if (!h->reaped[i])
					fprintf(stderr, " %s (core %d)", h->role[i], h->core[i]);
			fprintf(stderr, "\n  (a peer stuck waiting: lost record, or cores too oversubscribed; see --timeout)\n");
			kill_all(h);
			return -1;
		}
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(&wait_set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			interrupted = true;
			kill_all(h);
			fprintf(stderr, "shmbus-bench: interrupted\n");
			return -1;
		}
	}
}

void harness_fini(struct harness *h)
{
	if (h->ctl) {
		kill_all(h);
		shared_free(h->ctl, sizeof(*h->ctl));
		h->ctl = NULL;
		free(h->ticks_start);
		h->ticks_start = NULL;
		sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	}
}

int worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->ctl->proc[w->idx].err, WORKER_ERR_LEN, fmt, ap);
	va_end(ap);
	return WORKER_EXIT_FAIL;
}

void worker_barrier(struct worker *w, unsigned phase)
{
	_Atomic uint32_t *a = &w->ctl->phase[phase].arrived;

	/* SEQ_CST add, ACQUIRE spin: everything each child wrote before arriving
	 * is visible to all of them after the barrier. */
	atomic_fetch_add(a, 1);
	while (atomic_load_explicit(a, memory_order_acquire) < w->nprocs)
		sb_cpu_relax();
}

int worker_sandbox(struct worker *w)
{
	int rc;

	if (!w->sandbox)
		return 0;
	rc = nosyscall_enter();
	if (rc < 0)
		return worker_fail(w, "cannot install the seccomp filter: %s (use --no-seccomp)", strerror(-rc));
	return 0;
}

void worker_measure_begins(struct worker *w)
{
	if (sb_unlikely(w->selftest))
		syscall(SYS_getppid);
}

int worker_enter_measured(struct worker *w, unsigned phase)
{
	int rc = worker_sandbox(w);

	if (rc)
		return rc;
	worker_barrier(w, phase);
	worker_measure_begins(w);
	return 0;
}
