/*
 * loop.c - the control agent: one epoll set over the listening socket, the
 * client sessions, a signalfd (SIGTERM, SIGINT) and a timerfd that carries
 * every deadline (repair grace periods, HELLO time-outs).
 *
 * Duty cycle (sbd_agent_do_work): wait for events, handle each, then close
 * the sessions that died during the cycle (never in the middle of it, so an
 * event later in the same batch cannot point at freed memory), then re-arm
 * the timer to the earliest deadline.  Nothing here blocks except
 * epoll_wait: sockets are non-blocking and replies use MSG_DONTWAIT.
 *
 * Out of file descriptors, connections are still answered: a reserve fd
 * (/dev/null) is given up to accept each pending connection and close it,
 * so the client fails at once with SB_ECONN instead of waiting for its
 * HELLO reply, and the loop never spins on a socket it cannot accept from.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"
#include "sbd.h"

#define EVENTS_PER_CYCLE 64

/* mkdir -p for the socket's parent directory. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return SB_OK;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return sbi_error(SB_EIO, "mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return sbi_error(SB_EIO, "mkdir %s: %s", dir, strerror(errno));
	return SB_OK;
}

static int listen_socket(struct sbd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.socket_path;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return sbi_error(SB_EINVAL, "socket path %s is too long", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = make_parent(path);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbi_error(SB_EIO, "socket: %s", strerror(errno));
	/* A socket file left by a dead daemon is removed; a live one is not. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		close(fd);
		return sbi_error(SB_EBUSY, "another shmbusd is listening on %s", path);
	}
	unlink(path);
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbi_error(SB_EIO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = sbi_error(errno == EACCES ? SB_EACCES : SB_EIO, "bind %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (chmod(path, d->cfg.socket_mode) != 0 || listen(fd, 128) != 0) {
		rc = sbi_error(SB_EIO, "chmod/listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return rc;
	}
	d->lfd = fd;
	return SB_OK;
}

static int add_fd(struct sbd *d, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return sbi_error(SB_EIO, "epoll_ctl: %s", strerror(errno));
	return SB_OK;
}

static void shutdown_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
}

int sbd_signals_block(void)
{
	sigset_t mask;

	shutdown_signals(&mask);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		return sbi_error(SB_EIO, "sigprocmask: %s", strerror(errno));
	return SB_OK;
}

int sbd_loop_init(struct sbd *d)
{
	sigset_t mask;
	int rc;

	d->epfd = d->lfd = d->sigfd = d->timerfd = -1;
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	d->ev_listen = SBD_EV_LISTEN;
	d->ev_signal = SBD_EV_SIGNAL;
	d->ev_timer = SBD_EV_TIMER;
	signal(SIGPIPE, SIG_IGN);
	rc = sbd_signals_block(); /* again: idempotent, and loop_init stands alone in tests */
	if (rc < 0)
		return rc;
	shutdown_signals(&mask);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0 || d->reserve_fd < 0)
		return sbi_error(SB_EIO, "signalfd/timerfd/epoll/open /dev/null: %s", strerror(errno));
	rc = listen_socket(d);
	if (rc == SB_OK)
		rc = add_fd(d, d->lfd, &d->ev_listen);
	if (rc == SB_OK)
		rc = add_fd(d, d->sigfd, &d->ev_signal);
	if (rc == SB_OK)
		rc = add_fd(d, d->timerfd, &d->ev_timer);
	return rc;
}

/* A refused connection: counted, and logged at most once a second (a
 * client that retries in a loop must not flood the log). */
static void refused(struct sbd *d, const char *why)
{
	uint64_t now = sb_mono_ns();

	d->ctr.clients_refused++;
	if (d->refused_logged != 0 && now - d->refused_log_ns < 1000000000u)
		return;
	sbi_log(SB_LOG_WARN, "loop", "msg=\"connection refused: %s\" refused=%llu since_last_line=%llu "
		"clients=%llu max_clients=%u", why, (unsigned long long)d->ctr.clients_refused,
		(unsigned long long)(d->ctr.clients_refused - d->refused_logged),
		(unsigned long long)d->ctr.clients_now, d->cfg.max_clients);
	d->refused_logged = d->ctr.clients_refused;
	d->refused_log_ns = now;
}

static void listen_events(struct sbd *d, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &d->ev_listen };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->lfd, &ev) != 0)
		sbi_log(SB_LOG_WARN, "loop", "msg=\"epoll_ctl on the listening socket failed\" errno=%d", errno);
}

/* Out of file descriptors (EMFILE/ENFILE): a pending connection cannot be
 * accepted, and the listening socket stays readable, so the loop would spin
 * and the client would wait for its HELLO reply until its timeout.  Give up
 * the reserve fd, accept the connection and close it at once (the client
 * sees EOF: SB_ECONN), then take the reserve back.  Without a reserve, stop
 * polling the socket until descriptors are freed (fds_freed). */
static bool refuse_without_fds(struct sbd *d)
{
	int fd;

	if (d->reserve_fd < 0) {
		if (!d->listen_paused) {
			sbi_log(SB_LOG_WARN, "loop", "msg=\"out of file descriptors; not accepting until some are freed\"");
			listen_events(d, 0);
			d->listen_paused = true;
		}
		return false;
	}
	close(d->reserve_fd);
	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		refused(d, "out of file descriptors (RLIMIT_NOFILE)");
	}
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0;
}

/* Descriptors may have been freed (sessions closed, topics deleted): take
 * the reserve fd back and resume accepting if that had stopped.  Run at the
 * end of every cycle; a no-op while the reserve is held (listening is only
 * ever paused without it). */
static void fds_freed(struct sbd *d)
{
	if (d->reserve_fd < 0)
		d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (d->listen_paused && d->reserve_fd >= 0) {
		listen_events(d, EPOLLIN);
		d->listen_paused = false;
		sbi_log(SB_LOG_INFO, "loop", "msg=\"file descriptors freed; accepting again\"");
	}
}

static void on_accept(struct sbd *d)
{
	for (;;) {
		int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && refuse_without_fds(d))
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EMFILE && errno != ENFILE)
				sbi_log(SB_LOG_WARN, "loop", "msg=\"accept failed\" errno=%d", errno);
			return;
		}
		if (d->ctr.clients_now >= d->cfg.max_clients) {
			close(fd);
			refused(d, "too many clients (max_clients)");
			continue;
		}
		sbd_session_new(d, fd);
	}
}

static void on_signal(struct sbd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		sbi_log(SB_LOG_INFO, "loop", "msg=\"shutting down\" signal=%u", si.ssi_signo);
		d->stop = true;
	}
}

static void check_hello_deadlines(struct sbd *d, uint64_t now)
{
	for (struct sbd_session *s = d->sessions; s; s = s->next) {
		if (!s->hello && !s->dead && now >= s->hello_deadline_ns) {
			d->ctr.hello_timeouts++;
			sbi_log(SB_LOG_WARN, "session", "msg=\"no HELLO in time; closing\" client=%u pid=%d", s->id,
				(int)s->peer_pid);
			s->dead = true;
		}
	}
}

void sbd_timers_rearm(struct sbd *d)
{
	uint64_t next = sbd_lease_next_deadline(d);
	struct itimerspec its = { 0 };

	for (const struct sbd_session *s = d->sessions; s; s = s->next)
		if (!s->hello && !s->dead && s->hello_deadline_ns < next)
			next = s->hello_deadline_ns;
	if (next != UINT64_MAX) {
		if (next == 0)
			next = 1; /* 0 would disarm */
		its.it_value.tv_sec = (time_t)(next / 1000000000u);
		its.it_value.tv_nsec = (long)(next % 1000000000u);
	}
	timerfd_settime(d->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int sbd_agent_do_work(struct sbd *d, int timeout_ms)
{
	struct epoll_event ev[EVENTS_PER_CYCLE];
	int n = epoll_wait(d->epfd, ev, EVENTS_PER_CYCLE, timeout_ms);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return sbi_error(SB_EIO, "epoll_wait: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		enum sbd_ev_kind *kind = ev[i].data.ptr;

		switch (*kind) {
		case SBD_EV_LISTEN:
			on_accept(d);
			break;
		case SBD_EV_SIGNAL:
			on_signal(d);
			break;
		case SBD_EV_TIMER: {
			uint64_t ticks;

			if (read(d->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				sbi_log(SB_LOG_WARN, "loop", "msg=\"timerfd read failed\" errno=%d", errno);
			sbd_lease_on_timer(d);
			check_hello_deadlines(d, sb_mono_ns());
			break;
		}
		case SBD_EV_SESSION: {
			struct sbd_session *s = (struct sbd_session *)kind;

			if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				sbd_session_readable(d, s); /* reads to EOF if hung up */
			if ((ev[i].events & (EPOLLHUP | EPOLLERR)) && !(ev[i].events & EPOLLIN))
				s->dead = true;
			break;
		}
		}
	}
	for (struct sbd_session *s = d->sessions, *next; s; s = next) {
		next = s->next;
		if (s->dead)
			sbd_session_close(d, s, true);
	}
	fds_freed(d);
	sbd_timers_rearm(d);
	return n;
}

void sbd_loop_fini(struct sbd *d)
{
	while (d->sessions)
		sbd_session_close(d, d->sessions, false);
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->cfg.socket_path);
	}
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->reserve_fd >= 0)
		close(d->reserve_fd);
	d->epfd = d->lfd = d->sigfd = d->timerfd = d->reserve_fd = -1;
}
