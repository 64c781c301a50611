/*
 * scenario_recovery.c - recovery times of issue 3: how long a publisher
 * stays blocked by a subscriber that was SIGKILLed, and what a SIGKILL and
 * restart of shmbusd does to a ping-pong running through it.
 *
 * Design note.
 *  - The scenario starts its own shmbusd (found as $SHMBUSD, else next to
 *    shmbus-bench) with a socket in a fresh /tmp/sbrec.XXXXXX and segments
 *    in a fresh /dev/shm/sbrec.XXXXXX, its log in the former.  With
 *    --socket it uses that daemon for part A and skips part B, which must
 *    kill the daemon.  Whatever happens, the daemon is stopped, every child
 *    reaped and the directories removed before the scenario returns.
 *  - Part A, a dead tethered subscriber, per round: a subscriber process
 *    attaches tethered to a 4 KiB topic and never reads; a publisher fills
 *    the ring until SB_EBACKPRESSURE and then spins on sb_pub_claim().  The
 *    parent takes a TSC reading right before kill(SIGKILL) of the
 *    subscriber; the publisher takes one when its claim first succeeds (the
 *    daemon saw the socket close and set the slot FREE, daemon/lease.c).
 *    Both readings use the calibrated TSC of clock.h, on different cores.
 *    The split: the subscriber also holds the only write end of a pipe
 *    whose read end the spinning publisher polls (a non-blocking read per
 *    refused claim), so the publisher sees when the dead process's files
 *    were closed: kill -> close is the kernel tearing the process down,
 *    close -> claim is the daemon's wake-up (epoll), EOF and release.
 *  - Part B, shmbusd killed under a ping-pong: the ping-pong of
 *    scenario_daemon.c (daemon_run), run in a child process so that this
 *    process stays free to watch it.  It watches progress through the
 *    next_seq word of the ping topic's segment (mapped read-only) once per
 *    millisecond in both runs of a pair.  In the undisturbed run it does
 *    nothing else; in the disturbed run it SIGKILLs shmbusd at RESTARTS
 *    evenly spaced record counts inside the measured loop and restarts it
 *    on the same socket and directory (the new daemon adopts the segments),
 *    timing kill -> ready (the socket accepts), then ready -> leases
 *    renewed (the new daemon's `attaches` counter shows all four handles of
 *    ping and pong re-registered by their clients' lease watchers, read
 *    over the raw control protocol every 200 us), and counting the records
 *    that crossed the ring while no daemon existed.  The ping-pong checks
 *    every sequence number and loss count, so a lost record would fail or
 *    stall the run; the watcher's polling and the restart's own CPU time
 *    are the only disturbance.
 *  - Every wait is bounded: events from children arrive on a pipe, their
 *    deaths on pidfds, both with poll() and a deadline; readiness of the
 *    daemon is polled (connect every 50 us), which is the point of that
 *    measurement.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmbus/shmbus.h>

#include "affinity.h"
#include "clock.h"
#include "payload.h"
#include "report.h"
#include "scenario.h"
#include "segment.h"
#include "sb_log.h"
#include "sb_proto.h"
#include "sb_segment.h"

#define RESTARTS        5     /* part B: daemon kills per disturbed run */
/* Part B's disturbed run lasts at least this long per restart interval at
 * the quiet run's rate: the ping-pong must outlive each restart and the
 * clients' re-registration (tens of ms here, more under sanitizers), or
 * the watcher would wait for clients that have already finished. */
#define RESTART_SPACING_S 0.25
#define KILL_RING       4096u /* part A: ring of the blocked topic */
#define EVENT_BOUND_MS  10000 /* any event a child owes us */
#define READY_BOUND_MS  10000 /* shmbusd start-up */
#define STOP_BOUND_MS   5000  /* shmbusd SIGTERM -> exit */
#define WATCH_PERIOD_MS 1     /* part B: progress polls */
#define RENEW_POLL_US   200   /* part B: attaches polls after a restart */
#define PP_HANDLES      4     /* ping and pong: a publisher and a subscriber each */

/* ------------------------------------------------------------ processes */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double mono_ms(void)
{
	return clock_mono_s() * 1e3;
}

static double ticks_ns(uint64_t t)
{
	return clock_ticks_to_ns(t);
}

struct child {
	pid_t pid;
	int pidfd;
	int status;
	bool reaped;
};

/* Fork a child that pins itself to core (if >= 0), dies with us, and runs
 * fn(arg) to its exit status. */
static int child_spawn(struct child *c, int core, int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();

	memset(c, 0, sizeof(*c));
	c->pidfd = -1;
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		fprintf(stderr, "shmbus-bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (c->pid == 0) {
		int rc;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(WORKER_EXIT_FAIL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (core >= 0 && (rc = affinity_pin(core)) < 0) {
			fprintf(stderr, "shmbus-bench: pin to core %d: %s\n", core, strerror(-rc));
			_exit(WORKER_EXIT_FAIL);
		}
		fflush(NULL);
		_exit(fn(arg));
	}
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0) {
		fprintf(stderr, "shmbus-bench: pidfd_open: %s (recovery needs Linux 5.3 or later)\n", strerror(errno));
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &c->status, 0);
		c->reaped = true;
		return -1;
	}
	return 0;
}

/* Reap c within ms milliseconds; else (or on a stop request) SIGKILL it
 * and reap it.  Returns 0 if it ended by itself within the bound. */
static int child_reap(struct child *c, int ms)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
	double deadline = mono_ms() + ms;
	int rc = 0;

	if (c->pid <= 0 || c->reaped)
		return 0;
	while (poll(&p, 1, (int)(deadline - mono_ms()) > 0 ? (int)(deadline - mono_ms()) : 0) <= 0) {
		if (errno == EINTR && !stop_requested && mono_ms() < deadline)
			continue;
		kill(c->pid, SIGKILL);
		rc = -1;
		break;
	}
	waitpid(c->pid, &c->status, 0);
	c->reaped = true;
	close(c->pidfd);
	c->pidfd = -1;
	return rc;
}

static void child_kill(struct child *c)
{
	if (c->pid > 0 && !c->reaped) {
		kill(c->pid, SIGKILL);
		child_reap(c, STOP_BOUND_MS);
	}
}

/* SIGTERM first, for a child that reaps children of its own (the
 * harness in daemon_run kills and reaps its processes on SIGTERM). */
static void child_stop(struct child *c)
{
	if (c->pid > 0 && !c->reaped) {
		kill(c->pid, SIGTERM);
		child_reap(c, STOP_BOUND_MS);
	}
}

static void describe_status(char *buf, size_t len, int st)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
}

/* ---------------------------------------------------------------- daemon */

struct rec_daemon {
	struct child proc;
	bool own;                  /* started by us (else --socket) */
	char bin[PATH_MAX];
	char tmp[64];              /* socket and log */
	char dir[64];              /* segments */
	char sock[BENCH_PATH_MAX];
	char log[128];
	unsigned starts;
	bool log_shown;            /* its tail already printed after a failure */
	int core;                  /* --cores A,B,C: the daemon on C; else -1 */
	uint64_t first_ready;      /* ticks: first start, nothing else running */
};

static bool find_shmbusd(char *out, size_t len)
{
	static const char *const cand[] = { "../daemon/shmbusd", "shmbusd", "../sbin/shmbusd" };
	const char *env = getenv("SHMBUSD");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	if (strrchr(self, '/'))
		*strrchr(self, '/') = '\0';
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if ((size_t)snprintf(out, len, "%s/%s", self, cand[i]) < len && access(out, X_OK) == 0)
			return true;
	return false;
}

struct exec_args {
	const struct rec_daemon *d;
};

static int daemon_exec(void *arg)
{
	const struct rec_daemon *d = ((const struct exec_args *)arg)->d;
	int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execl(d->bin, "shmbusd", "--socket", d->sock, "--dir", d->dir, (char *)NULL);
	fprintf(stderr, "shmbus-bench: exec %s: %s\n", d->bin, strerror(errno));
	return 127;
}

/* A connection to the UNIX socket at path, or -1. */
static int socket_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool socket_accepts(const char *path)
{
	int fd = socket_connect(path);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void daemon_log_tail(struct rec_daemon *d)
{
	char lines[8][512], buf[512];
	unsigned n = 0;
	FILE *f;

	if (!d->own || d->log_shown || !(f = fopen(d->log, "re")))
		return;
	d->log_shown = true;
	while (fgets(buf, sizeof(buf), f))
		snprintf(lines[n++ % 8], sizeof(lines[0]), "%s", buf);
	fclose(f);
	fprintf(stderr, "  last lines of %s:\n", d->log);
	for (unsigned i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "    %s", lines[i % 8]);
}

/* Start shmbusd and wait until its socket accepts.  *ready_ticks: fork ->
 * first accepted connect.  Returns 0 or -1 (message printed). */
static int daemon_start(struct rec_daemon *d, uint64_t *ready_ticks)
{
	struct exec_args ea = { d };
	uint64_t t0 = clock_start();
	double deadline;

	if (child_spawn(&d->proc, d->core, daemon_exec, &ea) < 0)
		return -1;
	d->starts++;
	deadline = mono_ms() + READY_BOUND_MS;
	for (;;) {
		struct pollfd p = { .fd = d->proc.pidfd, .events = POLLIN };
		char why[64];

		if (socket_accepts(d->sock))
			break;
		if (poll(&p, 1, 0) == 1) {
			child_reap(&d->proc, 0);
			describe_status(why, sizeof(why), d->proc.status);
			fprintf(stderr, "shmbus-bench: FAIL: shmbusd exited during start-up (%s)\n", why);
			daemon_log_tail(d);
			return -1;
		}
		if (mono_ms() > deadline || stop_requested) {
			fprintf(stderr, "shmbus-bench: FAIL: shmbusd did not accept on %s within %d ms\n", d->sock,
				READY_BOUND_MS);
			child_kill(&d->proc);
			daemon_log_tail(d);
			return -1;
		}
		clock_sleep_us(50);
	}
	if (ready_ticks)
		*ready_ticks = clock_end() - t0;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Stop our daemon (SIGTERM, bounded, then SIGKILL) and remove its dirs. */
static void daemon_stop(struct rec_daemon *d, bool keep_log)
{
	if (!d->own)
		return;
	if (d->proc.pid > 0 && !d->proc.reaped) {
		kill(d->proc.pid, SIGTERM);
		if (child_reap(&d->proc, STOP_BOUND_MS) < 0)
			fprintf(stderr, "shmbus-bench: shmbusd ignored SIGTERM for %d ms: killed\n", STOP_BOUND_MS);
	}
	if (keep_log)
		daemon_log_tail(d);
	if (d->dir[0])
		nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (d->tmp[0])
		nftw(d->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	d->dir[0] = d->tmp[0] = '\0';
}

static int daemon_setup(const struct bench_opts *o, struct rec_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->proc.pidfd = -1;
	d->core = o->ncores >= 3 ? o->cores[2] : -1;
	if (o->socket) {
		snprintf(d->sock, sizeof(d->sock), "%s", o->socket);
		return 0;
	}
	if (!find_shmbusd(d->bin, sizeof(d->bin))) {
		fprintf(stderr, "shmbus-bench: recovery skipped: shmbusd not found next to shmbus-bench "
				"(set $SHMBUSD, or give a running daemon's --socket for part A only)\n");
		return BENCH_SKIP;
	}
	snprintf(d->tmp, sizeof(d->tmp), "/tmp/sbrec.XXXXXX");
	snprintf(d->dir, sizeof(d->dir), "/dev/shm/sbrec.XXXXXX");
	if (!mkdtemp(d->tmp)) {
		fprintf(stderr, "shmbus-bench: mkdtemp %s: %s\n", d->tmp, strerror(errno));
		d->tmp[0] = d->dir[0] = '\0';
		return -1;
	}
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "shmbus-bench: mkdtemp %s: %s\n", d->dir, strerror(errno));
		rmdir(d->tmp);
		d->tmp[0] = d->dir[0] = '\0';
		return -1;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/shmbusd.sock", d->tmp);
	snprintf(d->log, sizeof(d->log), "%s/shmbusd.log", d->tmp);
	d->own = true;
	return daemon_start(d, &d->first_ready);
}

/* --------------------------------------------- control-path helpers */

static sb_client_t *connect_to(const char *sock)
{
	struct sb_client_opts co = { .socket_path = sock, .name = "shmbus-bench" };

	return sb_connect(&co);
}

/* Create topic with this ring and largest message (no-op if it exists). */
static int topic_create(const char *sock, const char *topic, uint64_t ring, uint32_t max_msg)
{
	struct sb_topic_opts to = { .ring_size = ring, .max_msg = max_msg, .msg_align = bench_seg_align(),
				    .numa_node = -1 };
	struct sb_pub_opts po = { .mode = SB_PUBLISH_SHARED, .create = &to };
	sb_client_t *c = connect_to(sock);
	sb_pub_t *p;

	if (!c) {
		fprintf(stderr, "shmbus-bench: recovery: cannot connect to shmbusd at %s: %s: %s\n", sock,
			strerror(errno), sb_last_error());
		return -1;
	}
	p = daemon_pub_open_retry(c, topic, &po);
	if (!p)
		fprintf(stderr, "shmbus-bench: recovery: create %s: %s: %s\n", topic, strerror(errno), sb_last_error());
	sb_pub_close(p);
	sb_disconnect(c);
	return p ? 0 : -1;
}

/* ---------------------------------------- part A: dead tethered subscriber */

struct kill_shared {
	uint64_t t_close;    /* publisher saw the dead subscriber's pipe close */
	uint64_t t_claim;    /* publisher's first successful claim after the kill */
	uint64_t filled;     /* records published before the first refusal */
	uint64_t refused;    /* claims refused while blocked */
	bool close_seen;
	char err[2][WORKER_ERR_LEN];
};

struct kill_round {
	const char *sock;
	const char *topic;
	uint32_t size;
	uint64_t ring;
	int evt_w;           /* children -> parent: 'S', 'B', 'C', 'E' */
	int death_r, death_w;
	struct kill_shared *sh;
};

static int child_error(const struct kill_round *r, int who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int child_error(const struct kill_round *r, int who, const char *fmt, ...)
{
	va_list ap;
	char e = 'E';

	va_start(ap, fmt);
	vsnprintf(r->sh->err[who], WORKER_ERR_LEN, fmt, ap);
	va_end(ap);
	if (write(r->evt_w, &e, 1) != 1)
		return WORKER_EXIT_FAIL;
	return WORKER_EXIT_FAIL;
}

static void event(const struct kill_round *r, char e)
{
	if (write(r->evt_w, &e, 1) != 1)
		_exit(WORKER_EXIT_FAIL);
}

/* The subscriber: attach tethered, say so, then never read (hung). */
static int kill_sub_main(void *arg)
{
	const struct kill_round *r = arg;
	struct sb_sub_opts so = { .mode = SB_TETHERED, .start = SB_FROM_LATEST, .wait = SB_SPIN };
	sb_client_t *c;
	sb_sub_t *s = NULL;

	close(r->death_r);
	c = connect_to(r->sock);
	if (c)
		s = sb_sub_open(c, r->topic, &so);
	if (!s)
		return child_error(r, 1, "subscriber: %s %s: %s: %s", c ? "open" : "connect", r->topic,
				   strerror(errno), sb_last_error());
	/* An exiting task releases its files last-closed-first (task_work is
	 * LIFO, files close in fd order): on the highest fd, the pipe goes
	 * before the daemon's socket, so its EOF marks the start of the
	 * file teardown, not some point after the daemon already woke. */
	if (fcntl(r->death_w, F_DUPFD_CLOEXEC, 1000) < 0)
		return child_error(r, 1, "subscriber: dup: %s", strerror(errno));
	close(r->death_w);
	event(r, 'S');
	for (;;)
		pause(); /* the parent's SIGKILL ends this */
}

/* The publisher: fill the ring until refused, then spin on the claim. */
static int kill_pub_main(void *arg)
{
	const struct kill_round *r = arg;
	struct sb_pub_opts po = { .mode = SB_PUBLISH_EXCLUSIVE, .create = NULL };
	struct kill_shared *sh = r->sh;
	uint64_t limit = r->ring / sb_rec_size_al(r->size, SB_REC_ALIGN) + 16, bound, t0, t = 0;
	sb_client_t *c;
	sb_pub_t *p = NULL;
	void *buf;
	char b;
	int rc;

	fcntl(r->death_r, F_SETFL, O_NONBLOCK);
	c = connect_to(r->sock);
	if (c)
		p = daemon_pub_open_retry(c, r->topic, &po);
	if (!p)
		return child_error(r, 0, "publisher: %s %s: %s: %s", c ? "open" : "connect", r->topic, strerror(errno),
				   sb_last_error());
	while ((rc = sb_pub_claim(p, r->size, &buf)) == 0) {
		payload_write(buf, r->size, sh->filled);
		sb_pub_commit(p);
		if (++sh->filled > limit)
			return child_error(r, 0, "publisher: %llu records into a %llu-byte ring and no back-pressure "
						 "(is the subscriber tethered?)",
					   (unsigned long long)sh->filled, (unsigned long long)r->ring);
	}
	if (rc != SB_EBACKPRESSURE)
		return child_error(r, 0, "publisher: claim: %s", sb_strerror(rc));
	event(r, 'B');
	bound = (uint64_t)(clock_ticks_per_ns() * 1e6 * EVENT_BOUND_MS);
	t0 = clock_start();
	for (;;) {
		rc = sb_pub_claim(p, r->size, &buf);
		if (rc == 0) {
			t = clock_end();
			break;
		}
		if (rc != SB_EBACKPRESSURE)
			return child_error(r, 0, "publisher: claim while blocked: %s", sb_strerror(rc));
		sh->refused++;
		if (!sh->close_seen && read(r->death_r, &b, 1) == 0) {
			sh->t_close = clock_end();
			sh->close_seen = true;
		}
		if ((sh->refused & 1023) == 0 && clock_end() - t0 > bound)
			return child_error(r, 0, "publisher: still back-pressured %d ms after the refusal "
						 "(the daemon did not release the dead subscriber's slot?)",
					   EVENT_BOUND_MS);
	}
	if (!sh->close_seen && read(r->death_r, &b, 1) == 0) {
		sh->t_close = t; /* closed between the last poll and the claim */
		sh->close_seen = true;
	}
	sh->t_claim = t;
	payload_write(buf, r->size, sh->filled);
	sb_pub_commit(p);
	event(r, 'C');
	sb_pub_close(p);
	sb_disconnect(c);
	return 0;
}

/* Wait for event `want` on evt_r; a child that dies first (pidfd readable)
 * or a bound that passes is a failure.  Returns 0 or -1 (message printed). */
static int wait_event(int evt_r, char want, struct child *const kids[], unsigned nkids,
		      const struct kill_shared *sh, const char *what)
{
	double deadline = mono_ms() + EVENT_BOUND_MS;

	for (;;) {
		struct pollfd p[3] = { { .fd = evt_r, .events = POLLIN } };
		int left = (int)(deadline - mono_ms());
		char e;

		for (unsigned i = 0; i < nkids; i++)
			p[1 + i] = (struct pollfd){ .fd = kids[i]->pidfd, .events = POLLIN };
		if (left <= 0 || stop_requested) {
			fprintf(stderr, "shmbus-bench: FAIL: %s: %s\n", what,
				stop_requested ? "interrupted" : "no word from the processes within the bound");
			return -1;
		}
		if (poll(p, 1 + nkids, left) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "shmbus-bench: poll: %s\n", strerror(errno));
			return -1;
		}
		if (p[0].revents & POLLIN) {
			if (read(evt_r, &e, 1) != 1)
				continue;
			if (e == want)
				return 0;
			if (e == 'E') {
				fprintf(stderr, "shmbus-bench: FAIL: %s: %.*s\n", what, WORKER_ERR_LEN,
					sh->err[0][0] ? sh->err[0] : sh->err[1]);
				return -1;
			}
			continue; /* an earlier event */
		}
		for (unsigned i = 0; i < nkids; i++) {
			if (p[1 + i].revents) {
				char why[64];

				child_reap(kids[i], 0);
				describe_status(why, sizeof(why), kids[i]->status);
				fprintf(stderr, "shmbus-bench: FAIL: %s: a process ended first (%s)\n", what, why);
				return -1;
			}
		}
	}
}

struct kill_sample {
	uint64_t kill_to_claim;
	uint64_t kill_to_close;
	uint64_t close_to_claim;
	uint64_t filled;
};

static int kill_round(const struct bench_opts *o, struct kill_round *r, struct kill_sample *out)
{
	struct child sub = { .pidfd = -1 }, pub = { .pidfd = -1 };
	int evt[2] = { -1, -1 }, death[2] = { -1, -1 };
	uint64_t t_kill;
	int rc = -1;

	memset(r->sh, 0, sizeof(*r->sh));
	if (pipe2(evt, O_CLOEXEC) < 0 || pipe2(death, O_CLOEXEC) < 0) {
		fprintf(stderr, "shmbus-bench: pipe: %s\n", strerror(errno));
		goto out;
	}
	r->evt_w = evt[1];
	r->death_r = death[0];
	r->death_w = death[1];
	if (child_spawn(&sub, o->cores[1], kill_sub_main, r) < 0)
		goto out;
	close(death[1]); /* from now on only the subscriber holds the write end */
	death[1] = -1;
	if (wait_event(evt[0], 'S', (struct child *[]){ &sub }, 1, r->sh, "subscriber attach") < 0)
		goto out;
	if (child_spawn(&pub, o->cores[0], kill_pub_main, r) < 0)
		goto out;
	close(death[0]);
	death[0] = -1;
	if (wait_event(evt[0], 'B', (struct child *[]){ &sub, &pub }, 2, r->sh, "publisher fills the ring") < 0)
		goto out;
	t_kill = clock_start();
	kill(sub.pid, SIGKILL);
	if (wait_event(evt[0], 'C', (struct child *[]){ &pub }, 1, r->sh,
		       "publisher's next claim after the kill") < 0)
		goto out;
	if (child_reap(&pub, EVENT_BOUND_MS) < 0 || !WIFEXITED(pub.status) || WEXITSTATUS(pub.status) != 0) {
		fprintf(stderr, "shmbus-bench: FAIL: publisher did not exit cleanly\n");
		goto out;
	}
	out->kill_to_claim = r->sh->t_claim - t_kill;
	out->kill_to_close = r->sh->t_close - t_kill;
	out->close_to_claim = r->sh->t_claim - r->sh->t_close;
	out->filled = r->sh->filled;
	if ((int64_t)out->kill_to_close < 0 || (int64_t)out->close_to_claim < 0) {
		fprintf(stderr, "shmbus-bench: FAIL: TSC readings out of order across cores (kill %llu, close %llu, "
				"claim %llu): is the TSC synchronised?\n",
			(unsigned long long)t_kill, (unsigned long long)r->sh->t_close,
			(unsigned long long)r->sh->t_claim);
		goto out;
	}
	rc = 0;
out:
	child_kill(&sub);
	child_kill(&pub);
	for (int i = 0; i < 2; i++) {
		if (evt[i] >= 0)
			close(evt[i]);
		if (death[i] >= 0)
			close(death[i]);
	}
	return rc;
}

static int part_kill(const struct bench_opts *o, const struct rec_daemon *d, uint32_t size)
{
	FILE *out = bench_out(o);
	unsigned n = o->rounds;
	uint64_t ring = KILL_RING;
	struct kill_round r = { .sock = d->sock, .size = size };
	struct lat_stats total, teardown, daemon;
	struct bench_result res;
	uint64_t *v = calloc(3 * (size_t)n, sizeof(uint64_t));
	char topic[SB_TOPIC_MAX + 1], extra[512];
	uint64_t filled = 0;
	int rc = -1;

	while (sb_rec_size_al(size, SB_REC_ALIGN_MAX) > ring / 2)
		ring *= 2;
	r.ring = ring;
	snprintf(topic, sizeof(topic), "sbrec.%ld.%u.kill", (long)getpid(), size);
	r.topic = topic;
	r.sh = shared_alloc(sizeof(*r.sh));
	if (!v || !r.sh) {
		fprintf(stderr, "shmbus-bench: out of memory\n");
		goto out;
	}
	if (topic_create(d->sock, topic, ring, size ? size : 8) < 0)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		struct kill_sample s;

		if (kill_round(o, &r, &s) < 0) {
			fprintf(stderr, "  (round %u of %u)\n", i + 1, n);
			goto out;
		}
		v[i] = s.kill_to_claim;
		v[n + i] = s.kill_to_close;
		v[2 * n + i] = s.close_to_claim;
		filled = s.filled;
	}
	stats_compute(v, n, &total);
	stats_compute(v + n, n, &teardown);
	stats_compute(v + 2 * n, n, &daemon);
	fprintf(out, "A. SIGKILL of a tethered subscriber -> the blocked publisher's next claim (%u B records, "
		     "%llu-byte ring, full after %llu records; %u rounds)\n",
		size, (unsigned long long)ring, (unsigned long long)filled, n);
	fprintf(out, "   %-34s %9s %9s %9s %9s\n", "us", "min", "p50", "p90", "max");
	fprintf(out, "   %-34s %9.1f %9.1f %9.1f %9.1f\n", "kill -> claim", total.min_ns / 1e3, total.p50_ns / 1e3,
		total.p90_ns / 1e3, total.max_ns / 1e3);
	fprintf(out, "   %-34s %9.1f %9.1f %9.1f %9.1f\n", "  kill -> its files closed", teardown.min_ns / 1e3,
		teardown.p50_ns / 1e3, teardown.p90_ns / 1e3, teardown.max_ns / 1e3);
	fprintf(out, "   %-34s %9.1f %9.1f %9.1f %9.1f\n", "  closed -> claim (shmbusd)", daemon.min_ns / 1e3,
		daemon.p50_ns / 1e3, daemon.p90_ns / 1e3, daemon.max_ns / 1e3);
	fprintf(out, "   (parts: medians of each column separately; kill and claim read the TSC on different cores)\n\n");

	memset(&res, 0, sizeof(res));
	snprintf(res.scenario, sizeof(res.scenario), "recovery-sub-kill");
	res.size = size;
	res.count = n;
	res.has_latency = true;
	res.lat = total;
	res.msgs_per_s = __builtin_nan("");
	snprintf(extra, sizeof(extra),
		 ",\"rounds\":%u,\"ring\":%llu,\"kill_to_claim_ns\":%.1f,\"kill_to_claim_min_ns\":%.1f,"
		 "\"kill_to_close_p50_ns\":%.1f,\"close_to_claim_p50_ns\":%.1f,\"close_to_claim_max_ns\":%.1f",
		 n, (unsigned long long)ring, total.p50_ns, total.min_ns, teardown.p50_ns, daemon.p50_ns,
		 daemon.max_ns);
	if (o->json)
		report_json(&res, extra);
	rc = report_csv(o, &res);
out:
	free(v);
	shared_free(r.sh, sizeof(*r.sh));
	return rc;
}

/* ------------------------------------ part B: shmbusd killed under ping-pong */

struct restart_stat {
	uint64_t kill_to_reaped; /* ticks */
	uint64_t start_to_ready; /* fork -> socket accepts */
	uint64_t ready_to_renewed; /* socket accepts -> every handle re-registered */
	uint64_t down;           /* kill -> ready */
	uint64_t records_down;   /* ping records committed while no daemon was ready */
};

struct pp_run {
	const struct bench_opts *o;
	struct run_spec spec;
	struct bench_result *res; /* MAP_SHARED */
};

/* One counter of the daemon at sock (HELLO, then STATS over the raw
 * protocol); UINT64_MAX if it cannot be read. */
static uint64_t daemon_counter(const char *sock, const char *key)
{
	static struct sbp_msg m; /* 4 KiB body: not on the stack */
	uint8_t body[64];
	struct sbp_wr w;
	uint64_t v = UINT64_MAX;
	int fd = socket_connect(sock);

	if (fd < 0)
		return v;
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, "shmbus-bench");
	if (sbp_send(fd, SBP_HELLO, 1, body, w.len, NULL, 0, 0) == 0 && sbp_recv(fd, &m, NULL) == 0) {
		sbp_wr_init(&w, body, sizeof(body));
		sbp_put_str(&w, ""); /* the daemon's own counters */
		if (sbp_send(fd, SBP_STATS, 2, body, w.len, NULL, 0, 0) == 0 && sbp_recv(fd, &m, NULL) == 0 &&
		    m.hdr.type == (SBP_STATS | SBP_REPLY) && sbp_stats_get(&m, key, &v) != 0)
			v = UINT64_MAX;
	}
	close(fd);
	return v;
}

/* After a restart: until the new daemon has accepted ATTACHED for every
 * handle of the ping-pong (its clients' watchers re-register them).
 * Returns the ticks that took, or 0 past the bound. */
static uint64_t await_renewed(const char *sock)
{
	uint64_t t0 = clock_start(), deadline = mono_ms() + READY_BOUND_MS, v;

	while ((v = daemon_counter(sock, "attaches")) == UINT64_MAX || v < PP_HANDLES) {
		if (mono_ms() > deadline)
			return 0;
		clock_sleep_us(RENEW_POLL_US);
	}
	return clock_end() - t0;
}

static int pp_main(void *arg)
{
	struct pp_run *p = arg;

	return daemon_run(p->o, &p->spec, p->res) == 0 ? 0 : 1;
}

/* The ping topic's committed record count (its segment's next_seq), or
 * UINT64_MAX while the topic does not exist yet. */
static uint64_t topic_records(struct sb_seg *seg, bool *mapped, const char *path)
{
	if (!*mapped) {
		if (access(path, F_OK) != 0 || sb_seg_open_path(path, SB_SEG_SUBSCRIBER, seg) != 0)
			return UINT64_MAX;
		*mapped = true;
	}
	/* RELAXED: a progress reading; the watcher acts on it, reads no data. */
	return sb_load_relaxed(&seg->prod->next_seq);
}

/* One ping-pong through our daemon; with restarts, SIGKILL and restart the
 * daemon RESTARTS times inside the measured loop.  Returns 0 or -1. */
static int pp_watched(const struct bench_opts *o, struct rec_daemon *d, uint32_t size, uint64_t count, bool restarts,
		      struct bench_result *res, struct restart_stat *rs, unsigned *nrs, char *topic, size_t tlen)
{
	struct bench_opts od = *o;
	struct pp_run p = { .o = &od };
	struct child runner = { .pidfd = -1 };
	struct sb_seg seg;
	bool mapped = false;
	char path[BENCH_PATH_MAX + SB_TOPIC_MAX + 2];
	uint64_t targets[RESTARTS];
	double deadline;
	int rc = -1;

	memset(&seg, 0, sizeof(seg));
	seg.fd = -1;
	od.socket = d->sock;
	od.keep_topics = true; /* check_adopted opens the topic afterwards */
	p.spec = (struct run_spec){ .size = size, .count = count, .warmup = o->warmup };
	p.res = shared_alloc(sizeof(*p.res));
	if (!p.res) {
		fprintf(stderr, "shmbus-bench: shared memory: %s\n", strerror(errno));
		return -1;
	}
	/* Restart i fires once the ping side has committed targets[i] records
	 * (warm-up first): all fall inside the measured loop. */
	for (unsigned i = 0; i < RESTARTS; i++)
		targets[i] = o->warmup + count * (i + 1) / (RESTARTS + 1);
	*nrs = 0;
	if (child_spawn(&runner, -1, pp_main, &p) < 0)
		goto out;
	/* daemon_run names its topics after its own pid: the runner's */
	snprintf(topic, tlen, "sbbench.%ld.%u.ab", (long)runner.pid, size);
	snprintf(path, sizeof(path), "%s/%s", d->dir, topic);
	deadline = mono_ms() + bench_timeout(o, count + o->warmup, 5000.0 + size * 10.0) * 1e3 + 30e3;
	for (;;) {
		struct pollfd pf = { .fd = runner.pidfd, .events = POLLIN };
		uint64_t recs = topic_records(&seg, &mapped, path);

		if (restarts && *nrs < RESTARTS && recs != UINT64_MAX && recs >= targets[*nrs]) {
			struct restart_stat *s = &rs[(*nrs)++];
			uint64_t t0, t_reaped, ready;

			t0 = clock_start();
			kill(d->proc.pid, SIGKILL);
			if (child_reap(&d->proc, STOP_BOUND_MS) < 0) {
				fprintf(stderr, "shmbus-bench: FAIL: shmbusd not reaped %d ms after SIGKILL\n",
					STOP_BOUND_MS);
				goto out;
			}
			t_reaped = clock_end();
			if (daemon_start(d, &ready) < 0)
				goto out;
			s->kill_to_reaped = t_reaped - t0;
			s->start_to_ready = ready;
			s->ready_to_renewed = await_renewed(d->sock);
			if (s->ready_to_renewed == 0) {
				struct pollfd done = { .fd = runner.pidfd, .events = POLLIN };

				if (poll(&done, 1, 0) == 1)
					fprintf(stderr, "shmbus-bench: FAIL: the ping-pong ended before its clients "
							"re-registered after restart %u (%llu round trips were too few: "
							"raise --count)\n", *nrs, (unsigned long long)count);
				else
					fprintf(stderr, "shmbus-bench: FAIL: the clients did not re-register with the "
							"restarted shmbusd within %d ms (attaches < %d)\n", READY_BOUND_MS,
						PP_HANDLES);
				goto out;
			}
			s->down = clock_end() - t0;
			s->records_down = sb_load_relaxed(&seg.prod->next_seq) - recs;
			continue;
		}
		if (poll(&pf, 1, WATCH_PERIOD_MS) == 1)
			break;
		if (mono_ms() > deadline || stop_requested) {
			fprintf(stderr, "shmbus-bench: FAIL: ping-pong via shmbusd %s\n",
				stop_requested ? "interrupted" : "past its time limit");
			goto out;
		}
	}
	child_reap(&runner, 0);
	if (!WIFEXITED(runner.status) || WEXITSTATUS(runner.status) != 0) {
		char why[64];

		describe_status(why, sizeof(why), runner.status);
		fprintf(stderr, "shmbus-bench: FAIL: ping-pong via shmbusd%s failed (%s)\n",
			restarts ? " under daemon restarts" : "", why);
		goto out;
	}
	if (restarts && *nrs < RESTARTS) {
		fprintf(stderr, "shmbus-bench: FAIL: only %u of %d restarts fell inside the run (%s %s)\n", *nrs,
			RESTARTS, mapped ? "watcher too slow for" : "never found", path);
		goto out;
	}
	*res = *p.res;
	rc = 0;
out:
	child_stop(&runner);
	sb_seg_close(&seg);
	shared_free(p.res, sizeof(*p.res));
	return rc;
}

/* The restarted daemon serves the topic it adopted: an untethered open. */
static int check_adopted(const struct rec_daemon *d, const char *topic)
{
	struct sb_sub_opts so = { .mode = SB_UNTETHERED, .start = SB_FROM_LATEST, .wait = SB_SPIN };
	sb_client_t *c = connect_to(d->sock);
	sb_sub_t *s = c ? sb_sub_open(c, topic, &so) : NULL;

	if (!s)
		fprintf(stderr, "shmbus-bench: FAIL: restarted shmbusd: open %s: %s: %s\n", topic, strerror(errno),
			sb_last_error());
	sb_sub_close(s);
	sb_disconnect(c);
	return s ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int part_restart(const struct bench_opts *o, struct rec_daemon *d, uint32_t size)
{
	FILE *out = bench_out(o);
	struct bench_result quiet, hit;
	struct restart_stat rs[RESTARTS], unused[RESTARTS];
	uint64_t ready[RESTARTS], down[RESTARTS], reaped[RESTARTS], renew[RESTARTS], recs_min = UINT64_MAX;
	uint64_t count_hit;
	unsigned nrs = 0, nq = 0;
	char extra[768], topic[SB_TOPIC_MAX + 1];

	memset(&quiet, 0, sizeof(quiet));
	memset(&hit, 0, sizeof(hit));
	if (pp_watched(o, d, size, o->count, false, &quiet, unused, &nq, topic, sizeof(topic)) < 0)
		return -1;
	/* At least RESTART_SPACING_S of ping-pong per restart interval, at the
	 * rate the quiet run just had. */
	count_hit = (uint64_t)(quiet.msgs_per_s * RESTART_SPACING_S * (RESTARTS + 1));
	if (count_hit < o->count)
		count_hit = o->count;
	if (pp_watched(o, d, size, count_hit, true, &hit, rs, &nrs, topic, sizeof(topic)) < 0)
		return -1;
	if (check_adopted(d, topic) < 0)
		return -1;
	for (unsigned i = 0; i < nrs; i++) {
		ready[i] = rs[i].start_to_ready;
		down[i] = rs[i].down;
		reaped[i] = rs[i].kill_to_reaped;
		renew[i] = rs[i].ready_to_renewed;
		if (rs[i].records_down < recs_min)
			recs_min = rs[i].records_down;
	}
	qsort(ready, nrs, sizeof(ready[0]), cmp_u64);
	qsort(down, nrs, sizeof(down[0]), cmp_u64);
	qsort(reaped, nrs, sizeof(reaped[0]), cmp_u64);
	qsort(renew, nrs, sizeof(renew[0]), cmp_u64);
	snprintf(quiet.scenario, sizeof(quiet.scenario), "recovery-pp-quiet");
	snprintf(hit.scenario, sizeof(hit.scenario), "recovery-pp-restarts");

	fprintf(out, "B. ping-pong through shmbusd (topics opened by name), undisturbed and then with %u SIGKILL + "
		     "restarts of shmbusd inside the measured %llu round trips (quiet run: %llu; at least %.2f s "
		     "between restarts)\n",
		nrs, (unsigned long long)count_hit, (unsigned long long)o->count, RESTART_SPACING_S);
	report_latency_head(o);
	report_latency_row(o, &quiet);
	report_disturbance(o, &quiet);
	report_latency_row(o, &hit);
	report_disturbance(o, &hit);
	fprintf(out, "   ratio restarts / quiet: p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f\n",
		hit.lat.p50_ns / quiet.lat.p50_ns, hit.lat.p99_ns / quiet.lat.p99_ns,
		hit.lat.p999_ns / quiet.lat.p999_ns, hit.lat.max_ns / quiet.lat.max_ns);
	fprintf(out, "   every record arrived in order, none lost (checked per record by both sides)\n");
	fprintf(out, "   per restart (ms)  %-22s %7s %7s %7s\n", "", "min", "p50", "max");
	fprintf(out, "                     %-22s %7.2f %7.2f %7.2f\n", "kill -> daemon reaped", ticks_ns(reaped[0]) / 1e6,
		ticks_ns(reaped[nrs / 2]) / 1e6, ticks_ns(reaped[nrs - 1]) / 1e6);
	fprintf(out, "                     %-22s %7.2f %7.2f %7.2f\n", "restart -> ready", ticks_ns(ready[0]) / 1e6,
		ticks_ns(ready[nrs / 2]) / 1e6, ticks_ns(ready[nrs - 1]) / 1e6);
	fprintf(out, "                     %-22s %7.2f %7.2f %7.2f\n", "kill -> ready (no daemon)",
		ticks_ns(down[0]) / 1e6, ticks_ns(down[nrs / 2]) / 1e6, ticks_ns(down[nrs - 1]) / 1e6);
	fprintf(out, "                     %-22s %7.2f %7.2f %7.2f\n", "ready -> leases renewed",
		ticks_ns(renew[0]) / 1e6, ticks_ns(renew[nrs / 2]) / 1e6, ticks_ns(renew[nrs - 1]) / 1e6);
	fprintf(out, "   (leases renewed: the %d handles of ping and pong re-registered by their clients' lease "
		     "watchers, no control call made; polled every %d us)\n", PP_HANDLES, RENEW_POLL_US);
	fprintf(out, "   first start of this daemon, before any run: %.2f ms to ready\n", ticks_ns(d->first_ready) / 1e6);
	fprintf(out, "   round trips completed while no daemon was ready:");
	for (unsigned i = 0; i < nrs; i++)
		fprintf(out, " %llu in %.1f ms%s", (unsigned long long)rs[i].records_down, ticks_ns(rs[i].down) / 1e6,
			i + 1 < nrs ? "," : "");
	fprintf(out, "\n   (quiet rate: %.0f per ms; a lower rate while down is CPU taken by the restart, "
		     "not a wait on the daemon)\n",
		quiet.msgs_per_s / 1e3);
	fprintf(out, "   the last restarted daemon adopted and serves %s\n\n", topic);
	if (o->json) {
		report_json(&quiet, ",\"restarts\":0");
		snprintf(extra, sizeof(extra),
			 ",\"restarts\":%u,\"ready_p50_ns\":%.1f,\"ready_max_ns\":%.1f,\"down_p50_ns\":%.1f,"
			 "\"down_max_ns\":%.1f,\"renew_p50_ns\":%.1f,\"renew_max_ns\":%.1f,"
			 "\"records_while_down_min\":%llu,\"lost\":0,"
			 "\"first_ready_ns\":%.1f,\"quiet_p50_ns\":%.1f,\"quiet_p99_ns\":%.1f,\"quiet_p999_ns\":%.1f,\"quiet_max_ns\":%.1f",
			 nrs, ticks_ns(ready[nrs / 2]), ticks_ns(ready[nrs - 1]), ticks_ns(down[nrs / 2]),
			 ticks_ns(down[nrs - 1]), ticks_ns(renew[nrs / 2]), ticks_ns(renew[nrs - 1]),
			 (unsigned long long)recs_min, ticks_ns(d->first_ready), quiet.lat.p50_ns, quiet.lat.p99_ns,
			 quiet.lat.p999_ns, quiet.lat.max_ns);
		report_json(&hit, extra);
	}
	if (report_csv(o, &quiet) < 0 || report_csv(o, &hit) < 0)
		return -1;
	return 0;
}

/* ----------------------------------------------------------------- entry */

int scenario_recovery(const struct bench_opts *o)
{
	struct sigaction sa = { .sa_handler = on_stop }, old_int, old_term;
	FILE *out = bench_out(o);
	struct rec_daemon d;
	int rc;

	if (o->ncores < 2 || o->cores[0] == o->cores[1]) {
		fprintf(stderr, "shmbus-bench: recovery needs two different cores (--cores A,B)\n");
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	/* A third core takes the daemon and the watcher off the measuring
	 * cores (the children pin themselves). */
	if (o->ncores >= 3 && (rc = affinity_pin(o->cores[2])) < 0) {
		fprintf(stderr, "shmbus-bench: pin to core %d: %s\n", o->cores[2], strerror(-rc));
		return -1;
	}
	rc = daemon_setup(o, &d);
	if (rc == 0) {
		char dcore[64] = "unpinned";

		if (d.core >= 0)
			snprintf(dcore, sizeof(dcore), "and this process on core %d", d.core);
		fprintf(out, "recovery: shmbusd %s at %s%s%s; publisher/ping on core %d, subscriber/pong on core %d; "
			     "the daemon %s\n\n",
			d.own ? "(own, started here)" : "(given by --socket)", d.sock, d.own ? ", segments in " : "",
			d.own ? d.dir : "", o->cores[0], o->cores[1], dcore);
		for (unsigned i = 0; i < o->nsizes && rc == 0; i++)
			rc = part_kill(o, &d, o->sizes[i]);
		if (rc == 0 && !d.own)
			fprintf(out, "B. skipped: killing and restarting shmbusd needs a daemon of its own "
				     "(run without --socket)\n");
		for (unsigned i = 0; i < o->nsizes && rc == 0 && d.own; i++)
			rc = part_restart(o, &d, o->sizes[i]);
		if (rc == 0 && d.own)
			report_syscalls(o); /* part B's ping-pong; part A polls a pipe by design */
	}
	daemon_stop(&d, rc != 0 && rc != BENCH_SKIP);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}
