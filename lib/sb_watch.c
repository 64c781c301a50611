/*
 * sb_watch.c - the lease watcher: one thread per client that sleeps in
 * poll() on the control connection and, when shmbusd goes away, reconnects
 * and re-registers every open handle as soon as a daemon answers again.
 *
 * Without it a restarted daemon learns of an idle client only at that
 * client's next control call; until then the client holds no lease, and a
 * crash in between is noticed only by the daemon's pid polling (not at all
 * across pid namespaces).
 *
 * The thread asks poll() for POLLRDHUP only, so the replies to the client's
 * own requests never wake it.  Everything it does happens under the client's
 * lock, as a control call would, and none of it touches a ring.  Two things
 * keep it from acting on a connection that is no longer current:
 *  - c->gen counts connections (connect_hello_locked): a close seen on
 *    connection N while c->gen is no longer N was already dealt with by a
 *    control call, and reconnecting again would drop a healthy lease;
 *  - every new connection also signals c->wake_fd, so a watcher that read
 *    the old descriptor number just before it was closed and reused looks
 *    again instead of sleeping on whatever file now has that number.
 * sb_disconnect sets c->stop and signals c->wake_fd too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_lib.h"

#define RETRY_FIRST_MS 1   /* first retry while no daemon answers */
#define RETRY_MAX_MS   25  /* backoff cap: a restarted daemon is found within 25 ms */
#define REFUSED_MS     5000 /* a daemon that answers but refuses (version, permission) */

static void drain(int efd)
{
	eventfd_t v;

	(void)eventfd_read(efd, &v); /* EFD_NONBLOCK: EAGAIN if already drained */
}

/* Reconnect until a daemon takes the connection, another thread has done
 * it, or the client is stopping.  Returns false when stopping. */
static bool reconnect_until_done(sb_client_t *c, uint64_t gen)
{
	for (int ms = RETRY_FIRST_MS;; ms = ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ms * 2) {
		struct pollfd w = { .fd = c->wake_fd, .events = POLLIN };
		bool done;

		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			return false;
		}
		if (c->gen != gen && !c->broken) {
			done = true; /* a control call reconnected meanwhile */
		} else {
			int rc;

			c->broken = true;
			rc = sbi_reconnect_locked(c);
			done = rc == SB_OK;
			gen = c->gen;
			/* Not a missing daemon but a refusal: it will not change
			 * soon, and each attempt costs the daemon a log line. */
			if (rc == SB_EVERSION || rc == SB_EACCES)
				ms = REFUSED_MS;
		}
		pthread_mutex_unlock(&c->lock);
		if (done)
			return true;
		/* Wait before the next attempt, or until told to stop. */
		if (poll(&w, 1, ms) > 0)
			drain(c->wake_fd);
	}
}

static void *watch(void *arg)
{
	sb_client_t *c = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = -1, .events = POLLRDHUP }, { .fd = c->wake_fd, .events = POLLIN } };
		uint64_t gen;
		bool stop;

		pthread_mutex_lock(&c->lock);
		stop = c->stop;
		p[0].fd = c->broken ? -1 : c->fd;
		gen = c->gen;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			return NULL;
		if (p[0].fd >= 0) {
			if (poll(p, 2, -1) < 0)
				continue; /* EINTR cannot happen (signals blocked); look again */
			if (p[1].revents & POLLIN) {
				drain(c->wake_fd);
				continue; /* stopping, or a new connection: look again */
			}
			if (!(p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
				continue;
		}
		/* The connection closed (or broke): the daemon is gone. */
		if (!reconnect_until_done(c, gen))
			return NULL;
	}
}

int sbi_watch_start(sb_client_t *c, int cpu)
{
	pthread_attr_t attr;
	sigset_t all, old;
	cpu_set_t set;
	int rc;

	if (cpu >= CPU_SETSIZE || cpu < -1)
		return sbi_error(SB_EINVAL, "lease watcher: CPU %d out of range", cpu);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0)
		return sbi_error(SB_EIO, "lease watcher: eventfd: %s", strerror(errno));
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		/* Set before it runs: it never spends a cycle on the caller's
		 * (possibly isolated) CPU. */
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	/* The thread inherits a full signal mask: signals go to the
	 * application's threads, never to this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->watcher, &attr, watch, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		close(c->wake_fd);
		c->wake_fd = -1;
		if (rc == EINVAL && cpu >= 0)
			return sbi_error(SB_EINVAL, "lease watcher: CPU %d is not one this process may run on", cpu);
		return sbi_error(SB_EIO, "lease watcher: pthread_create: %s (SB_CLIENT_NO_WATCHER connects without it)",
				 strerror(rc));
	}
	pthread_setname_np(c->watcher, "sb-lease");
	c->owner = getpid();
	return SB_OK;
}

void sbi_watch_stop(sb_client_t *c)
{
	if (c->wake_fd >= 0 && c->owner == getpid()) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_mutex_unlock(&c->lock);
		(void)eventfd_write(c->wake_fd, 1);
		pthread_join(c->watcher, NULL);
	}
	/* In a child made by fork() there is no watcher to stop: the eventfd
	 * is the parent's too, and closing our descriptor leaves it alone. */
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
}

void sbi_watch_kick(sb_client_t *c)
{
	if (c->wake_fd >= 0)
		(void)eventfd_write(c->wake_fd, 1);
}
