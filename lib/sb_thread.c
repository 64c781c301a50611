/*
 * sb_thread.c - pinning the calling thread and asking which NUMA node a CPU
 * sits on (control path; call before the hot loop).
 */
#include <errno.h>
#include <numa.h>
#include <sched.h>
#include <string.h>

#include "sb_error.h"
#include "sb_lib.h"

int sb_pin_thread(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return sbi_error(SB_EINVAL, "cpu %d out of range", cpu);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pid 0: the calling thread only (Linux affinity is per thread). */
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return sbi_error(errno == EINVAL ? SB_EINVAL : SB_EIO, "pin to cpu %d: %s", cpu, strerror(errno));
	return SB_OK;
}

int sb_cpu_numa_node(int cpu)
{
	int node;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return sbi_error(SB_EINVAL, "cpu %d out of range", cpu);
	if (numa_available() < 0)
		return 0;
	node = numa_node_of_cpu(cpu);
	if (node < 0)
		return sbi_error(SB_EINVAL, "cpu %d: no such CPU", cpu);
	return node;
}
