/*
 * dtest.c - see dtest.h.
 */
#include "dtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t dt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dt_relax(void)
{
	struct timespec ts = { 0, 1000000 }; /* 1 ms between polls */

	nanosleep(&ts, NULL);
}

int dt_raw_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void rm_rf(const char *dir);

/* Directories of every daemon started by this process, removed at exit
 * even when a failed assertion skipped dt_daemon_stop (cmocka longjmps). */
static char made[16][2][64];
static unsigned n_made;

static void remove_made(void)
{
	for (unsigned i = 0; i < n_made; i++)
		for (int k = 0; k < 2; k++)
			if (made[i][k][0] && access(made[i][k], F_OK) == 0)
				rm_rf(made[i][k]);
}

void dt_daemon_start(struct dt_daemon *d, const char *config, const char *const *extra)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->tmp, sizeof(d->tmp), "/tmp/sbdt.XXXXXX");
	snprintf(d->dir, sizeof(d->dir), "/dev/shm/sbdt.XXXXXX");
	if (!mkdtemp(d->tmp) || !mkdtemp(d->dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	chmod(d->tmp, 0755); /* lets the permission test's unprivileged child reach the socket */
	if (n_made == 0)
		atexit(remove_made);
	if (n_made < 16) {
		snprintf(made[n_made][0], sizeof(made[0][0]), "%s", d->tmp);
		snprintf(made[n_made][1], sizeof(made[0][1]), "%s", d->dir);
		n_made++;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/shmbusd.sock", d->tmp);
	dt_daemon_spawn(d, config, extra);
}

void dt_daemon_kill(struct dt_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		assert_int_equal(dt_wait_child(d->pid), 128 + SIGKILL);
		d->pid = 0;
	}
}

void dt_daemon_spawn(struct dt_daemon *d, const char *config, const char *const *extra)
{
	const char *bin = getenv("SHMBUSD");
	const char *argv[32];
	char cfg_path[128];
	int n = 0, fd;
	uint64_t t0;

	if (!bin)
		fail_msg("$SHMBUSD is not set (meson passes the daemon's path)");
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--dir";
	argv[n++] = d->dir;
	if (config) {
		FILE *f;

		snprintf(cfg_path, sizeof(cfg_path), "%s/shmbusd.ini", d->tmp);
		f = fopen(cfg_path, "w");
		assert_non_null(f);
		fputs(config, f);
		fclose(f);
		argv[n++] = "--config";
		argv[n++] = cfg_path;
	}
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		/* The daemon dies with the test, even when an assertion
		 * longjmps past dt_daemon_stop. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* Ready when the socket accepts; fail if the daemon exits first. */
	t0 = dt_now_ns();
	for (;;) {
		int st;

		fd = dt_raw_connect(d->sock);
		if (fd >= 0)
			break;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			fail_msg("shmbusd exited during start-up (status 0x%x)", st);
		}
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("shmbusd did not accept on %s", d->sock);
		dt_relax();
	}
	close(fd);
}

static void rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

void dt_daemon_stop(struct dt_daemon *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		st = dt_wait_child(d->pid);
		d->pid = 0;
		if (st != 0)
			fail_msg("shmbusd did not shut down cleanly: exit status %d", st);
	}
	rm_rf(d->tmp);
	rm_rf(d->dir);
}

char dt_proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	return p && p[1] == ' ' ? p[2] : '?';
}

void dt_daemon_freeze(const struct dt_daemon *d)
{
	uint64_t t0 = dt_now_ns();

	assert_int_equal(kill(d->pid, SIGSTOP), 0);
	while (dt_proc_state(d->pid) != 'T') {
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("shmbusd did not stop");
		dt_relax();
	}
}

static int raw_call_fds(int fd, uint16_t type, const void *body, uint32_t len, struct sbp_msg *m,
			int fds[SBP_MAX_FDS])
{
	static uint32_t req = 1000;
	int32_t status;
	int rc;

	rc = sbp_send(fd, type, ++req, body, len, NULL, 0, 0);
	if (rc < 0)
		return rc;
	rc = sbp_recv(fd, m, fds);
	if (rc < 0)
		return rc;
	if (m->hdr.type != (type | SBP_REPLY) || m->hdr.req_id != req || m->hdr.body_len < 4) {
		sbp_close_fds(fds);
		return SB_ECORRUPT;
	}
	memcpy(&status, m->body, 4);
	return status;
}

int dt_raw_call(int fd, uint16_t type, const void *body, uint32_t len, struct sbp_msg *m)
{
	return raw_call_fds(fd, type, body, len, m, NULL);
}

int dt_raw_open(int fd, const char *topic, uint8_t role, uint32_t *handle, int fds[SBP_MAX_FDS])
{
	struct sbp_msg m;
	struct sbp_rd r;
	uint8_t body[128];
	struct sbp_wr w;
	int rc;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic);
	sbp_put_u8(&w, role);
	sbp_put_u8(&w, 0);
	sbp_put_u16(&w, 0);
	sbp_put_params(&w, &(struct sbp_topic_params){ .numa_node = -1 });
	rc = raw_call_fds(fd, SBP_OPEN, body, w.len, &m, fds);
	if (rc != 0) {
		sbp_close_fds(fds);
		return rc;
	}
	sbp_rd_init(&r, m.body, m.hdr.body_len);
	(void)sbp_get_i32(&r);
	*handle = sbp_get_u32(&r);
	if (r.bad || fds[0] < 0 || fds[1] < 0) {
		sbp_close_fds(fds);
		return SB_ECORRUPT;
	}
	return 0;
}

int dt_raw_hello(int fd, const char *name)
{
	uint8_t body[80];
	struct sbp_wr w;
	struct sbp_msg m;

	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, name);
	return dt_raw_call(fd, SBP_HELLO, body, w.len, &m);
}

bool dt_wait_eof(int fd)
{
	uint64_t t0 = dt_now_ns();
	char buf[4096];

	while (dt_now_ns() - t0 < DT_BOUND_NS) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

/* Handles the daemon holds for the client named name (CLIENTS). */
uint32_t dt_handles_of(const struct dt_daemon *d, const char *name)
{
	struct sbp_msg m;
	struct sbp_rd r;
	uint32_t n, found = UINT32_MAX;
	int fd = dt_raw_connect(d->sock);

	assert_true(fd >= 0);
	assert_int_equal(dt_raw_hello(fd, "probe"), 0);
	assert_int_equal(dt_raw_call(fd, SBP_CLIENTS, NULL, 0, &m), 0);
	close(fd);
	sbp_rd_init(&r, m.body, m.hdr.body_len);
	(void)sbp_get_i32(&r); /* status */
	n = sbp_get_u32(&r);
	(void)sbp_get_u8(&r); /* truncated */
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		char who[64];
		uint32_t h;

		(void)sbp_get_u32(&r); /* id */
		(void)sbp_get_i32(&r); /* pid */
		(void)sbp_get_u32(&r); /* uid */
		(void)sbp_get_u32(&r); /* gid */
		sbp_get_str(&r, who, sizeof(who));
		h = sbp_get_u32(&r);
		if (!r.bad && strcmp(who, name) == 0)
			found = h;
	}
	assert_false(r.bad);
	return found;
}

uint64_t dt_stat(const struct dt_daemon *d, const char *topic, const char *key)
{
	uint8_t body[80];
	struct sbp_wr w;
	struct sbp_msg m;
	uint64_t v = UINT64_MAX;
	int fd = dt_raw_connect(d->sock), rc;

	if (fd < 0)
		fail_msg("connect %s: %s", d->sock, strerror(errno));
	if (dt_raw_hello(fd, "dtest-stats") != 0)
		fail_msg("HELLO refused");
	sbp_wr_init(&w, body, sizeof(body));
	sbp_put_str(&w, topic ? topic : "");
	if (dt_raw_call(fd, SBP_STATS, body, w.len, &m) != 0)
		fail_msg("STATS %s refused", topic ? topic : "");
	close(fd);
	rc = sbp_stats_get(&m, key, &v);
	if (rc == SB_ECORRUPT)
		fail_msg("STATS reply is malformed");
	return rc == SB_OK ? v : UINT64_MAX;
}

uint64_t dt_wait_stat(const struct dt_daemon *d, const char *topic, const char *key, uint64_t want)
{
	uint64_t t0 = dt_now_ns(), v;

	while ((v = dt_stat(d, topic, key)) == UINT64_MAX || v < want) {
		if (dt_now_ns() - t0 > DT_BOUND_NS)
			fail_msg("counter %s stayed at %llu, expected >= %llu", key, (unsigned long long)v,
				 (unsigned long long)want);
		dt_relax();
	}
	return v;
}

uint64_t dt_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* Layout: u64 stream, u64 index, payload bytes, u64 checksum (FNV-1a of all
 * that precedes it).  Length varies with i, 24 .. max. */
uint32_t dt_fill(void *buf, uint32_t max, uint64_t stream, uint64_t i)
{
	return dt_fill_len(buf, 24 + (uint32_t)(dt_mix(stream ^ i) % (max - 24 + 1)), stream, i);
}

uint32_t dt_fill_len(void *buf, uint32_t len, uint64_t stream, uint64_t i)
{
	uint8_t *p = buf;
	uint64_t h = UINT64_C(0xcbf29ce484222325), x = dt_mix(i + stream);

	memcpy(p, &stream, 8);
	memcpy(p + 8, &i, 8);
	for (uint32_t k = 16; k < len - 8; k++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		p[k] = (uint8_t)(x >> 56);
	}
	for (uint32_t k = 0; k < len - 8; k++) {
		h ^= p[k];
		h *= UINT64_C(0x100000001b3);
	}
	memcpy(p + len - 8, &h, 8);
	return len;
}

bool dt_check(const void *buf, uint32_t len, uint64_t stream, uint64_t i)
{
	const uint8_t *p = buf;
	uint64_t h = UINT64_C(0xcbf29ce484222325), s, idx, c;

	if (len < 24)
		return false;
	memcpy(&s, p, 8);
	memcpy(&idx, p + 8, 8);
	memcpy(&c, p + len - 8, 8);
	for (uint32_t k = 0; k < len - 8; k++) {
		h ^= p[k];
		h *= UINT64_C(0x100000001b3);
	}
	return s == stream && idx == i && c == h;
}

uint64_t dt_records(int argc, char **argv, uint64_t fallback)
{
	if (argc > 1) {
		char *end;
		unsigned long long v = strtoull(argv[1], &end, 10);

		if (*end == '\0' && v > 0)
			return v;
	}
	return fallback;
}

void dt_signal(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		_exit(3);
}

bool dt_wait_signal(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, (int)(DT_BOUND_NS / 1000000)) != 1)
		return false;
	return read(fd, &c, 1) == 1;
}

pid_t dt_fork_gated(struct dt_gate *g)
{
	pid_t pid;

	assert_int_equal(pipe(g->fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(g->fd[1]);
		if (!dt_wait_signal(g->fd[0]))
			_exit(4);
		close(g->fd[0]);
		return 0;
	}
	close(g->fd[0]);
	g->fd[0] = -1;
	return pid;
}

void dt_gate_open(struct dt_gate *g)
{
	dt_signal(g->fd[1]);
	close(g->fd[1]);
	g->fd[1] = -1;
}

int dt_wait_child(pid_t pid)
{
	uint64_t t0 = dt_now_ns();
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (dt_now_ns() - t0 > DT_BOUND_NS) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		dt_relax();
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
