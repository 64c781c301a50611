/*
 * sb_atomic.h - the memory-ordering vocabulary of shmbus (internal header).
 *
 * Every shared-memory access in shm/ goes through C11 <stdatomic.h> with an
 * explicit order.  This header only adds the few helpers the ring needs and
 * defines the words used in the pairing comments throughout shm/:
 *
 *   RELEASE(x)  a release store of x; everything written before it is
 *               visible to a thread whose ACQUIRE load reads the value.
 *   ACQUIRE(x)  the matching acquire load.
 *   RELAXED     an access that needs atomicity but no ordering; the comment
 *               beside it says why no ordering is needed.
 *   SEQ_CST fence   used only for the two store-then-load (Dekker) handshakes:
 *               subscriber join vs. publisher gating scan, and sleeper
 *               registration vs. publisher doorbell check.  Neither is on
 *               the steady-state hot path.
 *
 * shm/ depends on libc only: no DPDK, no liburcu here.
 */
#ifndef SB_ATOMIC_H
#define SB_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

/* Destructive-interference size.  128 rather than 64: adjacent-line
 * prefetchers on x86 pull lines in pairs, so producer and consumer words
 * that share a 128-byte block still ping-pong. */
#define SB_CACHE_LINE 128

/* The unit the caches move (x86, arm64 servers): what a prefetch fetches. */
#define SB_HW_LINE 64

#define sb_likely(x)   __builtin_expect(!!(x), 1)
#define sb_unlikely(x) __builtin_expect(!!(x), 0)

#define sb_load_relaxed(p)     atomic_load_explicit((p), memory_order_relaxed)
#define sb_load_acquire(p)     atomic_load_explicit((p), memory_order_acquire)
#define sb_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define sb_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

/* Spin-loop hint: lets the sibling hyperthread run and avoids the memory
 * order violation flush when the awaited line finally changes. */
static inline void sb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif /* SB_ATOMIC_H */
