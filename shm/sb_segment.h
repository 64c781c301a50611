/*
 * sb_segment.h - create, map and validate a topic segment (internal header,
 * usable on its own: tests and embedded users need no daemon).
 *
 * A segment is two files (sb_layout.h): the segment file (header, producer
 * control, data ring) and the subscriber file beside it, named with the
 * SB_SUBS_SUFFIX, which holds the only bytes a subscriber writes.
 *
 * Contract
 *  - sb_seg_create() makes both files, sizes them, maps them read-write,
 *    pre-faults them, initialises every region and publishes the header
 *    (layout_version written last).  It prefers hugetlbfs and falls back to
 *    /dev/shm with a logged warning when hugepages are missing or exhausted.
 *  - sb_seg_open_fd()/sb_seg_open_path() validate everything in the header
 *    against the file before computing a single pointer: magic, version,
 *    checksum, sizes, offsets, alignment, power-of-two capacity, the file's
 *    real size, a NUL-terminated name; then the subscriber file's size and
 *    that it belongs to this header (magic and the header's checksum).  A bad
 *    file gets SB_ECORRUPT or SB_EVERSION and a detail naming the field
 *    (sb_last_error()); nothing is dereferenced out of bounds.
 *  - SB_SEG_SUBSCRIBER maps the segment file read-only and only the
 *    subscriber file read-write.  Given the segment file opened O_RDONLY (as
 *    the daemon hands it to subscribers, and sb_seg_open_path opens it), the
 *    kernel refuses any writable mapping of the stream: a subscriber cannot
 *    corrupt it, by accident or on purpose.
 *  - Every mapping is pre-faulted (MAP_POPULATE) so the first record is as
 *    fast as the millionth.
 *  - All functions are control path: they may allocate and make system calls.
 *    None is async-signal-safe.  A struct sb_seg is owned by one thread at a
 *    time for open/close; the mapping itself is shared by everyone.
 */
#ifndef SB_SEGMENT_H
#define SB_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sb_layout.h"

enum sb_seg_access {
	SB_SEG_PUBLISHER,  /* everything read-write */
	SB_SEG_SUBSCRIBER, /* data and producer control read-only */
	SB_SEG_ADMIN,      /* everything read-write (daemon, repair tools) */
};

struct sb_seg_params {
	const char *name;     /* topic name, 1..63 bytes, [A-Za-z0-9._-] */
	uint64_t data_size;   /* ring capacity; rounded up to a power of two */
	uint32_t max_record;  /* largest payload; sb_rec_size_al(max, rec_align) <= data_size/2 */
	uint32_t max_subs;    /* subscriber slots (default 64 if 0) */
	uint32_t max_pubs;    /* publisher slots (default 16 if 0) */
	const char *dir;      /* directory for the file, NULL: hugetlbfs then /dev/shm */
	bool no_hugepages;    /* skip hugetlbfs even if available */
	uint32_t mode;        /* file mode, 0: 0600 */
	uint32_t rec_align;   /* record alignment, 0: 8 (dense).  64 puts every
	                       * record on its own cache lines: faster for
	                       * single-record streams, more bytes for small ones */
};

/* A process's view of a mapped segment: pointers computed locally after
 * validation (the segment itself holds only offsets). */
struct sb_seg {
	int fd;                        /* segment file (O_RDONLY for subscribers) */
	int subs_fd;                   /* subscriber file */
	uint8_t *base;                 /* start of the segment file's mapping */
	size_t size;                   /* bytes mapped there */
	uint8_t *subs_base;            /* the subscriber file's mapping */
	size_t subs_size;
	const struct sb_seg_hdr *hdr;
	struct sb_prod_ctl *prod;      /* const for subscribers: mapped RO */
	struct sb_sub_area *subs;
	uint8_t *data;                 /* RO for subscribers */
	uint64_t data_size;
	uint32_t max_record;
	uint32_t max_subs;
	uint32_t max_pubs;
	uint32_t rec_align;
	enum sb_seg_access access;
	char path[256];                /* segment file path if known, else "" */
};

/* Bytes of both files for the given parameters (the daemon sizes hugepage
 * pools with it).  Returns 0 on invalid parameters. */
uint64_t sb_seg_memsize(const struct sb_seg_params *params, uint64_t page_size);

/* Create a new segment named after the topic in params->dir (or the
 * default directories): DIR/TOPIC and DIR/TOPIC@subs, mapped for publishing.
 * Returns 0, SB_EINVAL, SB_EEXIST, SB_ENOENT (no such directory), SB_ENOMEM,
 * SB_EACCES or SB_EIO. */
int sb_seg_create(const struct sb_seg_params *params, struct sb_seg *seg);

/* Validate and map a segment from open file descriptors of its two files
 * (dup'ed; the caller keeps its own).  fd may be O_RDONLY for
 * SB_SEG_SUBSCRIBER; subs_fd must be open for writing.  Returns 0,
 * SB_EINVAL, SB_ECORRUPT, SB_EVERSION, SB_EACCES (an fd that does not allow
 * the access), SB_EIO. */
int sb_seg_open_fd(int fd, int subs_fd, enum sb_seg_access access, struct sb_seg *seg);

/* Same, by the segment file's path (the subscriber file is found beside it;
 * subscribers open the segment file O_RDONLY).  Also SB_ENOENT (no segment
 * file), SB_EACCES; a segment file without its subscriber file is
 * SB_ECORRUPT. */
int sb_seg_open_path(const char *path, enum sb_seg_access access, struct sb_seg *seg);

/* Validate a header against the size of the file it came from, without
 * mapping anything else.  Returns 0, SB_ECORRUPT or SB_EVERSION. */
int sb_seg_validate(const struct sb_seg_hdr *hdr, uint64_t file_size);

/* Unmap and close.  Safe on a zeroed or already closed struct. */
void sb_seg_close(struct sb_seg *seg);

/* Remove the segment's two files (the mappings stay valid until closed). */
int sb_seg_unlink(struct sb_seg *seg);

/* The subscriber file's path for a segment file's path.  Returns false if
 * it does not fit in len bytes. */
bool sb_seg_subs_path(char *buf, size_t len, const char *seg_path);

/* Checksum of the immutable header part, as stored in hdr->checksum. */
uint64_t sb_seg_checksum(const struct sb_seg_hdr *hdr);

/* The directory sb_seg_create would use and whether it is hugetlbfs. */
const char *sb_seg_default_dir(bool *is_hugetlbfs);

#endif /* SB_SEGMENT_H */
