/*
 * sb_error.h - result codes and error context shared by every shmbus layer.
 *
 * Convention (STYLE habit 10): int functions return 0 or a negative code;
 * constructors return NULL and set errno.  Codes are negative errno values so
 * that perror-style tooling still says something sensible, but each has a
 * shmbus meaning documented here and in sb_strerror().
 *
 * Two results are not failures but named outcomes the caller acts on:
 *   SB_EBACKPRESSURE  a tethered subscriber has not consumed enough; nothing
 *                     was claimed; retry later (or drop, the caller's choice).
 *   SB_ELAPPED        an untethered subscriber was overrun; its cursor moved to
 *                     the resume point; the exact number of records lost is
 *                     reported with the next record (sb_ring_view.lost).
 *
 * Besides the code, the failing call leaves a human-readable detail in a
 * thread-local buffer (sb_last_error()), e.g. "segment /dev/shm/x: bad magic
 * 0x0 (expected 0x...)".  The detail is only meaningful right after a call
 * returned an error.
 */
#ifndef SB_ERROR_H
#define SB_ERROR_H

#include <errno.h>

#define SB_OK             0
#define SB_EINVAL         (-EINVAL)     /* bad argument */
#define SB_ENOMEM         (-ENOMEM)     /* out of memory or hugepages */
#define SB_ENOENT         (-ENOENT)     /* no such segment / topic */
#define SB_EACCES         (-EACCES)     /* permission denied */
#define SB_EEXIST         (-EEXIST)     /* segment already exists */
#define SB_EBUSY          (-EBUSY)      /* exclusive publisher conflict */
#define SB_ENOSPC         (-ENOSPC)     /* no free subscriber/publisher slot */
#define SB_EMSGSIZE       (-EMSGSIZE)   /* record larger than the topic maximum */
#define SB_EEMPTY         (-EAGAIN)     /* nothing to read yet */
#define SB_EBACKPRESSURE  (-ENOBUFS)    /* ring full: a tethered subscriber lags */
#define SB_ELAPPED        (-ESTALE)     /* untethered subscriber was overrun */
#define SB_ECORRUPT       (-EBADMSG)    /* corrupt segment header or record */
#define SB_EVERSION       (-EPROTO)     /* layout version not supported */
#define SB_ETIMEDOUT      (-ETIMEDOUT)  /* wait timed out */
#define SB_ESTATE         (-EALREADY)   /* call out of sequence (e.g. commit without claim) */
#define SB_EIO            (-EIO)        /* system call failed; detail says which */

/* Static description of a code (never NULL, never allocates). */
const char *sb_strerror(int code);

/* Detail left by the last failing call on this thread ("" if none). */
const char *sb_last_error(void);

/* Internal: record a detail message and return code (printf-style). */
int sbi_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SB_ERROR_H */
