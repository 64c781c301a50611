/*
 * shmbus/errors.h - result codes of every shmbus call.
 *
 * int functions return 0 (or a count) on success and one of these negative
 * codes on failure; constructors return NULL and set errno to the positive
 * value.  The codes are negative errno values, so strerror() on their
 * absolute value still says something sensible, but each has a shmbus
 * meaning, given here and by sb_strerror().  Right after a failure,
 * sb_last_error() gives a detail naming what was wrong (thread-local).
 *
 * Two results are outcomes to act on, not failures:
 *   SB_EBACKPRESSURE  a tethered subscriber has not consumed enough; nothing
 *                     was claimed.  Retry later, or drop: the caller decides.
 *   SB_ELAPPED        an untethered subscriber was overrun.  It now stands at
 *                     the newest record; the next message's `lost` says
 *                     exactly how many messages were missed.
 */
#ifndef SHMBUS_ERRORS_H
#define SHMBUS_ERRORS_H

#include <errno.h>

#define SB_OK             0
#define SB_EINVAL         (-EINVAL)     /* bad argument */
#define SB_ENOMEM         (-ENOMEM)     /* out of memory or hugepages */
#define SB_ENOENT         (-ENOENT)     /* no such topic (or daemon socket) */
#define SB_EACCES         (-EACCES)     /* permission denied */
#define SB_EEXIST         (-EEXIST)     /* topic already exists */
#define SB_EBUSY          (-EBUSY)      /* exclusive publisher conflict */
#define SB_ENOSPC         (-ENOSPC)     /* no free publisher/subscriber slot */
#define SB_EMSGSIZE       (-EMSGSIZE)   /* message larger than the topic maximum */
#define SB_EEMPTY         (-EAGAIN)     /* nothing to read yet */
#define SB_EBACKPRESSURE  (-ENOBUFS)    /* ring full: a tethered subscriber lags */
#define SB_ELAPPED        (-ESTALE)     /* untethered subscriber was overrun */
#define SB_ECORRUPT       (-EBADMSG)    /* corrupt segment, record or message */
#define SB_EVERSION       (-EPROTO)     /* layout or protocol version not supported */
#define SB_ETIMEDOUT      (-ETIMEDOUT)  /* wait timed out */
#define SB_ESTATE         (-EALREADY)   /* call out of sequence (e.g. commit without claim) */
#define SB_EIO            (-EIO)        /* system call failed; the detail says which */
#define SB_ECONN          (-ECONNRESET) /* daemon connection lost */
#define SB_EMFILE         (-EMFILE)     /* out of file descriptors (RLIMIT_NOFILE): this
                                         * process, or shmbusd (the detail says which) */

/* Static description of a code (never NULL, never allocates). */
const char *sb_strerror(int code);

/* Detail left by the last failing call on this thread ("" if none). */
const char *sb_last_error(void);

#endif /* SHMBUS_ERRORS_H */
