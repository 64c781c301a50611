/*
 * sb_error.c - sb_strerror() and the per-thread error detail.
 *
 * The detail buffer is thread-local so that concurrent callers never see each
 * other's messages and no lock is needed.  Formatting happens only on error
 * paths, never on the data path.
 */
#include "sb_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[256];

const char *sb_strerror(int code)
{
	switch (code) {
	case SB_OK:            return "success";
	case SB_EINVAL:        return "invalid argument";
	case SB_ENOMEM:        return "out of memory (or hugepages)";
	case SB_ENOENT:        return "no such segment or topic";
	case SB_EACCES:        return "permission denied";
	case SB_EEXIST:        return "segment already exists";
	case SB_EBUSY:         return "topic has an exclusive publisher (or publishers, for an exclusive open)";
	case SB_ENOSPC:        return "no free publisher or subscriber slot in the segment";
	case SB_EMSGSIZE:      return "record larger than the topic's maximum record size";
	case SB_EEMPTY:        return "no record available yet";
	case SB_EBACKPRESSURE: return "back-pressure: a tethered subscriber has not consumed enough; retry later";
	case SB_ELAPPED:       return "lapped: subscriber was overrun; resumed at the newest record, loss reported with the next record";
	case SB_ECORRUPT:      return "corrupt segment header or record";
	case SB_EVERSION:      return "segment layout version not supported";
	case SB_ETIMEDOUT:     return "timed out";
	case SB_ESTATE:        return "call out of sequence";
	case SB_EIO:           return "system call failed";
	case SB_ECONN:         return "connection to the daemon lost";
	case SB_EMFILE:        return "out of file descriptors (RLIMIT_NOFILE)";
	default:               return code < 0 ? strerror(-code) : "unknown result";
	}
}

int sbi_io_code(int err)
{
	return err == EMFILE || err == ENFILE ? SB_EMFILE : SB_EIO;
}

const char *sb_last_error(void)
{
	return last_error;
}

int sbi_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}
