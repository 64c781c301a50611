/*
 * nosyscall.h - proof that a measured loop makes no system call
 * (internal header).
 *
 * nosyscall_enter() installs a seccomp BPF filter that allows exit and
 * exit_group and kills the whole process with SIGSYS on any other system
 * call (or any call through a non-x86-64 ABI).  A measuring process enters
 * it after warm-up, right before its measured loop, and leaves only through
 * nosyscall_exit().  Everything the loop writes goes to memory mapped before
 * the filter was installed (MAP_SHARED, so the parent reads it), and the
 * parent treats death by SIGSYS as "system call in the measured loop".
 *
 * The filter cannot be removed; a process that entered it never returns to
 * normal work.  Entering it is itself two prctl() calls, made before the
 * loop starts.
 */
#ifndef BENCH_NOSYSCALL_H
#define BENCH_NOSYSCALL_H

#include <stdbool.h>

/* Install the filter.  Returns 0, or a negative errno (seccomp not
 * available: the caller reports it and suggests --no-seccomp). */
int nosyscall_enter(void);

/* Leave the process with SYS_exit_group (the only way out of the sandbox;
 * no atexit handlers, no stdio flush).  Ends every thread of the process,
 * so it also serves the peers' processes, whose libraries start threads. */
_Noreturn void nosyscall_exit(int code);

#endif /* BENCH_NOSYSCALL_H */
