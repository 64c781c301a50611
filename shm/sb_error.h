/*
 * sb_error.h - result codes and error context shared by every shmbus layer
 * (internal header: the codes themselves are public, in shmbus/errors.h).
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

#include "../include/shmbus/errors.h"

/* Internal: record a detail message and return code (printf-style). */
int sbi_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Internal: the code of a failed call that made a descriptor: SB_EMFILE
 * when the process or the system is out of them (EMFILE, ENFILE), else
 * SB_EIO. */
int sbi_io_code(int err);

#endif /* SB_ERROR_H */
