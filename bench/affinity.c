/*
 * affinity.c - sched_setaffinity wrappers.  Control path only: a process
 * pins itself once, before it maps anything it will measure, so its pages
 * are first touched from the core that uses them.
 */
#include "affinity.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>

int affinity_pin(int core)
{
	cpu_set_t set;

	if (core < 0 || core >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	return 0;
}

int affinity_allowed(int core)
{
	cpu_set_t set;

	if (core < 0 || core >= CPU_SETSIZE)
		return 0;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	return CPU_ISSET(core, &set) ? 1 : 0;
}

void affinity_describe(char *buf, size_t len)
{
	cpu_set_t set;
	size_t used = 0;

	buf[0] = '\0';
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && used < len; c++) {
		int end = c;

		if (!CPU_ISSET(c, &set))
			continue;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, &set))
			end++;
		if (end > c)
			used += (size_t)snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, end);
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "", c);
		c = end;
	}
}
