/*
 * sb_fork.c - fork() safety: every client's lock is taken before fork() and
 * released on both sides after it, so that a child never inherits a client
 * lock held by another thread of its parent (the lease watcher, or a control
 * call in progress) and then deadlocks on its first control call.
 *
 * The registry of live clients has its own mutex, always taken before any
 * client's lock; nothing takes them in the other order.  A fork() therefore
 * waits for control calls in flight to finish; the data path takes no lock
 * and is never held up.
 */
#include <pthread.h>

#include "sb_lib.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_client *registry; /* live clients, through fork_next */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
	pthread_mutex_lock(&registry_lock);
	for (struct sb_client *c = registry; c; c = c->fork_next)
		pthread_mutex_lock(&c->lock);
}

/* The same in the parent and in the child: in the child the forking thread
 * is the one that took the locks, and the only thread there is. */
static void after_fork(void)
{
	for (struct sb_client *c = registry; c; c = c->fork_next)
		pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&registry_lock);
}

static void install(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

void sbi_fork_register(sb_client_t *c)
{
	pthread_once(&atfork_once, install);
	pthread_mutex_lock(&registry_lock);
	c->fork_next = registry;
	registry = c;
	pthread_mutex_unlock(&registry_lock);
}

void sbi_fork_unregister(sb_client_t *c)
{
	pthread_mutex_lock(&registry_lock);
	for (struct sb_client **p = &registry; *p; p = &(*p)->fork_next) {
		if (*p == c) {
			*p = c->fork_next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}
