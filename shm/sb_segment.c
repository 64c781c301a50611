/*
 * sb_segment.c - segment files: creation, validation, mapping.
 *
 * Design note.  A segment is trusted only after every header field has been
 * checked against the file it came from, and the checks are ordered so that
 * no check reads a value an earlier check has not bounded.  Opening copies the
 * header out of the mapping first and validates the copy, so a concurrent
 * writer cannot change a field between its check and its use; after the full
 * mapping exists the live header is compared with the copy once more.
 *
 * Hugepages: the default directory is the first hugetlbfs mount (normally
 * /dev/hugepages) when it has enough free pages; otherwise /dev/shm, with a
 * warning, so an unprivileged user can still run everything.
 */
#include "sb_segment.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_log.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define SB_SMALL_PAGE 4096u
#define SB_PROD_OFF   4096u  /* producer control follows the header's page */
#define SB_DEFAULT_SUBS 64u
#define SB_DEFAULT_PUBS 16u
#define SB_SHM_DIR "/dev/shm"

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p != 0)
		p <<= 1;
	return p;
}

uint64_t sb_seg_checksum(const struct sb_seg_hdr *hdr)
{
	struct sb_seg_hdr copy;
	const unsigned char *p = (const unsigned char *)&copy;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	memcpy(&copy, hdr, sizeof(copy));
	/* The version is written after the checksum (it is the "ready" flag),
	 * so it is not covered: its own check is exact equality. */
	atomic_init(&copy.layout_version, 0);
	for (size_t i = 0; i < offsetof(struct sb_seg_hdr, checksum); i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static bool name_ok(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, SB_TOPIC_NAME_MAX);
	if (n == 0 || n >= SB_TOPIC_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Region offsets for a layout; the single source of truth for create,
 * memsize and validate. */
struct seg_layout {
	uint64_t data_off, data_size, seg_size, subs_size;
};

static uint64_t prod_bytes(uint32_t max_pubs)
{
	return sizeof(struct sb_prod_ctl) + (uint64_t)max_pubs * sizeof(struct sb_pub_slot);
}

static uint64_t subs_bytes(uint32_t max_subs)
{
	return sizeof(struct sb_sub_area) + (uint64_t)max_subs * sizeof(struct sb_sub_slot);
}

static void compute_layout(uint64_t data_size, uint32_t max_subs, uint32_t max_pubs, uint64_t page,
			   struct seg_layout *l)
{
	l->data_off = round_up(SB_PROD_OFF + prod_bytes(max_pubs), page);
	l->data_size = data_size;
	l->seg_size = l->data_off + data_size;
	l->subs_size = round_up(subs_bytes(max_subs), page);
}

struct resolved_params {
	uint64_t data_size;
	uint32_t max_record, max_subs, max_pubs, rec_align;
};

static int resolve_params(const struct sb_seg_params *p, uint64_t page, struct resolved_params *r)
{
	if (!p || !name_ok(p->name))
		return sbi_error(SB_EINVAL, "topic name must be 1-%d characters of [A-Za-z0-9._-], not starting with '.'",
				 SB_TOPIC_NAME_MAX - 1);
	if (p->data_size == 0 || p->data_size > SB_MAX_DATA_SIZE)
		return sbi_error(SB_EINVAL, "topic %s: ring size %llu out of range [1, %llu]", p->name,
				 (unsigned long long)p->data_size, (unsigned long long)SB_MAX_DATA_SIZE);
	r->data_size = next_pow2(p->data_size);
	if (r->data_size < SB_MIN_DATA_SIZE)
		r->data_size = SB_MIN_DATA_SIZE;
	if (r->data_size < page)
		r->data_size = page;
	r->rec_align = p->rec_align ? p->rec_align : SB_REC_ALIGN;
	if (!is_pow2(r->rec_align) || r->rec_align < SB_REC_ALIGN || r->rec_align > SB_REC_ALIGN_MAX)
		return sbi_error(SB_EINVAL, "topic %s: record alignment %u must be a power of two in [%u, %u]",
				 p->name, p->rec_align, SB_REC_ALIGN, SB_REC_ALIGN_MAX);
	r->max_record = p->max_record;
	if (r->max_record == 0 || sb_rec_size_al(r->max_record, r->rec_align) > r->data_size / 2)
		return sbi_error(SB_EINVAL, "topic %s: max record %u must be 1..%llu for a %llu-byte ring",
				 p->name, p->max_record,
				 (unsigned long long)(r->data_size / 2 - SB_REC_HDR_SIZE),
				 (unsigned long long)r->data_size);
	r->max_subs = p->max_subs ? p->max_subs : SB_DEFAULT_SUBS;
	r->max_pubs = p->max_pubs ? p->max_pubs : SB_DEFAULT_PUBS;
	if (r->max_subs > SB_MAX_SUBS_LIMIT || r->max_pubs > SB_MAX_PUBS_LIMIT)
		return sbi_error(SB_EINVAL, "topic %s: at most %u subscribers and %u publishers", p->name,
				 SB_MAX_SUBS_LIMIT, SB_MAX_PUBS_LIMIT);
	return SB_OK;
}

uint64_t sb_seg_memsize(const struct sb_seg_params *params, uint64_t page_size)
{
	struct resolved_params r;
	struct seg_layout l;

	if (!is_pow2(page_size) || page_size < SB_SMALL_PAGE || resolve_params(params, page_size, &r) < 0)
		return 0;
	compute_layout(r.data_size, r.max_subs, r.max_pubs, page_size, &l);
	return l.seg_size + l.subs_size;
}

/* First hugetlbfs mount in /proc/mounts (prefers /dev/hugepages). */
static bool find_hugetlbfs(char *dir, size_t len)
{
	char line[512], mnt[256], type[64];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %255s %63s", mnt, type) != 2 || strcmp(type, "hugetlbfs") != 0)
			continue;
		if (!found || strcmp(mnt, "/dev/hugepages") == 0) {
			snprintf(dir, len, "%s", mnt);
			found = true;
		}
	}
	fclose(f);
	return found;
}

const char *sb_seg_default_dir(bool *is_hugetlbfs)
{
	static _Thread_local char dir[256];

	if (find_hugetlbfs(dir, sizeof(dir)) && access(dir, W_OK) == 0) {
		if (is_hugetlbfs)
			*is_hugetlbfs = true;
		return dir;
	}
	if (is_hugetlbfs)
		*is_hugetlbfs = false;
	return SB_SHM_DIR;
}

/* The code for a failed open/create/statfs: the errors a caller can act
 * on keep their meaning, anything else is an I/O error. */
static int code_of_errno(int err)
{
	switch (err) {
	case ENOENT: return SB_ENOENT;
	case EEXIST: return SB_EEXIST;
	case EACCES:
	case EPERM: return SB_EACCES;
	default: return sbi_io_code(err);
	}
}

static int dir_page_size(const char *dir, uint64_t *page, uint64_t *free_bytes, bool *huge)
{
	struct statfs sf;

	if (statfs(dir, &sf) != 0) {
		int err = errno;

		return sbi_error(code_of_errno(err), "segment directory %s: %s", dir, strerror(err));
	}
	*huge = (unsigned long)sf.f_type == (unsigned long)HUGETLBFS_MAGIC;
	*page = *huge ? (uint64_t)sf.f_bsize : SB_SMALL_PAGE;
	/* A hugetlbfs mount without a size= limit reports 0 blocks: its limit is
	 * the kernel's free pool, which the MAP_POPULATE mapping checks for us
	 * (it fails with ENOMEM, and create falls back to /dev/shm). */
	if (*huge && sf.f_blocks == 0)
		*free_bytes = UINT64_MAX;
	else
		*free_bytes = (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize;
	return SB_OK;
}

static void fill_header(struct sb_seg_hdr *h, const char *name, const struct resolved_params *r,
			const struct seg_layout *l, uint64_t page, bool huge)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	h->magic = SB_SEG_MAGIC;
	h->hdr_size = sizeof(*h);
	h->seg_size = l->seg_size;
	h->page_size = page;
	h->prod_off = SB_PROD_OFF;
	h->subs_size = l->subs_size;
	h->data_off = l->data_off;
	h->data_size = l->data_size;
	h->max_record = r->max_record;
	h->max_subs = r->max_subs;
	h->max_pubs = r->max_pubs;
	h->flags = huge ? SB_SEG_F_HUGETLB : 0;
	h->rec_align = r->rec_align;
	h->epoch_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->checksum = sb_seg_checksum(h);
}

bool sb_seg_subs_path(char *buf, size_t len, const char *seg_path)
{
	int n = snprintf(buf, len, "%s%s", seg_path, SB_SUBS_SUFFIX);

	return n > 0 && (size_t)n < len;
}

static void seg_set_pointers(struct sb_seg *seg, const struct sb_seg_hdr *h)
{
	seg->hdr = (const struct sb_seg_hdr *)seg->base;
	seg->prod = (struct sb_prod_ctl *)(seg->base + h->prod_off);
	seg->subs = (struct sb_sub_area *)seg->subs_base;
	seg->data = seg->base + h->data_off;
	seg->data_size = h->data_size;
	seg->max_record = h->max_record;
	seg->max_subs = h->max_subs;
	seg->max_pubs = h->max_pubs;
	seg->rec_align = h->rec_align;
}

static int create_errno(const char *path, int err)
{
	if (err == EEXIST)
		return sbi_error(SB_EEXIST, "segment %s already exists", path);
	if (err == ENOENT)
		return sbi_error(SB_ENOENT, "create %s: directory does not exist", path);
	return sbi_error(code_of_errno(err), "create %s: %s", path, strerror(err));
}

/* Size and map one new file read-write, pre-faulted: MAP_POPULATE makes
 * the first publish pay no page fault, and on hugetlbfs reserves the pages.
 * Returns 0, or SB_ENOMEM (try the fallback directory) or SB_EIO. */
static int size_and_map(int fd, const char *path, uint64_t size, uint8_t **map)
{
	void *m;

	if (ftruncate(fd, (off_t)size) != 0)
		return sbi_error(errno == ENOSPC || errno == ENOMEM ? SB_ENOMEM : SB_EIO, "size %s to %llu bytes: %s",
				 path, (unsigned long long)size, strerror(errno));
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED)
		return sbi_error(errno == ENOMEM ? SB_ENOMEM : SB_EIO, "map %s (%llu bytes): %s", path,
				 (unsigned long long)size, strerror(errno));
	*map = m;
	return SB_OK;
}

/* One attempt in one directory.  SB_ENOMEM means "try the fallback".  The
 * segment file is created first, with O_EXCL: it is the topic's name and
 * lock.  A subscriber file of that name can then only be a leftover (its
 * segment file is gone), so it is unlinked, not truncated: truncating an
 * inode that a process still maps would fault that process. */
static int create_in(const char *dir, const struct sb_seg_params *p, struct sb_seg *seg)
{
	struct resolved_params r;
	struct seg_layout l;
	struct sb_seg_hdr *h;
	struct sb_sub_area *subs;
	uint64_t page = SB_SMALL_PAGE, free_bytes = 0;
	char subs_path[sizeof(seg->path)];
	bool huge = false;
	int rc;

	rc = dir_page_size(dir, &page, &free_bytes, &huge);
	if (rc < 0)
		return rc;
	rc = resolve_params(p, page, &r);
	if (rc < 0)
		return rc;
	compute_layout(r.data_size, r.max_subs, r.max_pubs, page, &l);
	if (huge && free_bytes < l.seg_size + l.subs_size)
		return sbi_error(SB_ENOMEM, "%s: %llu bytes of hugepages free, topic %s needs %llu", dir,
				 (unsigned long long)free_bytes, p->name,
				 (unsigned long long)(l.seg_size + l.subs_size));

	snprintf(seg->path, sizeof(seg->path), "%s/%s", dir, p->name);
	if (!sb_seg_subs_path(subs_path, sizeof(subs_path), seg->path)) {
		seg->path[0] = '\0';
		return sbi_error(SB_EINVAL, "segment directory %s: path too long", dir);
	}
	seg->fd = open(seg->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, p->mode ? p->mode : 0600);
	if (seg->fd < 0) {
		rc = create_errno(seg->path, errno);
		seg->path[0] = '\0'; /* not ours: sb_seg_unlink must not remove it */
		return rc;
	}
	if (unlink(subs_path) == 0)
		sbi_log(SB_LOG_WARN, "segment", "msg=\"removed a subscriber file without its segment\" path=%s",
			subs_path);
	seg->subs_fd = open(subs_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, p->mode ? p->mode : 0600);
	if (seg->subs_fd < 0) {
		rc = create_errno(subs_path, errno);
		goto fail;
	}
	rc = size_and_map(seg->fd, seg->path, l.seg_size, &seg->base);
	if (rc < 0)
		goto fail;
	seg->size = l.seg_size;
	rc = size_and_map(seg->subs_fd, subs_path, l.subs_size, &seg->subs_base);
	if (rc < 0)
		goto fail;
	seg->subs_size = l.subs_size;
	seg->access = SB_SEG_ADMIN;

	/* The files are new, hence zero: every counter, slot (SB_SLOT_FREE) and
	 * position starts at 0.  Tie the subscriber file to this header, then
	 * publish the header last. */
	h = (struct sb_seg_hdr *)seg->base;
	fill_header(h, p->name, &r, &l, page, huge);
	subs = (struct sb_sub_area *)seg->subs_base;
	subs->magic = SB_SUBS_MAGIC;
	subs->seg_checksum = h->checksum;
	seg_set_pointers(seg, h);
	/* RELEASE pairs with the ACQUIRE in sb_seg_validate: a process that sees
	 * the version sees the whole initialised segment, both files. */
	sb_store_release(&h->layout_version, SB_LAYOUT_VERSION);
	seg->access = SB_SEG_PUBLISHER;
	return SB_OK;
fail:
	sb_seg_close(seg);
	unlink(seg->path);
	unlink(subs_path);
	seg->path[0] = '\0';
	return rc;
}

int sb_seg_create(const struct sb_seg_params *params, struct sb_seg *seg)
{
	bool huge = false;
	const char *dir;
	int rc;

	if (!seg)
		return sbi_error(SB_EINVAL, "no segment struct");
	memset(seg, 0, sizeof(*seg));
	seg->fd = seg->subs_fd = -1;
	if (!params)
		return sbi_error(SB_EINVAL, "no parameters");
	if (params->dir)
		return create_in(params->dir, params, seg);

	dir = params->no_hugepages ? SB_SHM_DIR : sb_seg_default_dir(&huge);
	if (huge) {
		rc = create_in(dir, params, seg);
		if (rc != SB_ENOMEM)
			return rc;
		sbi_log(SB_LOG_WARN, "segment", "msg=\"hugepages unavailable, falling back to %s\" topic=%s reason=\"%s\"",
			SB_SHM_DIR, params->name, sb_last_error());
	} else if (!params->no_hugepages) {
		sbi_log(SB_LOG_WARN, "segment", "msg=\"no writable hugetlbfs mount, using %s\" topic=%s",
			SB_SHM_DIR, params->name);
	}
	return create_in(SB_SHM_DIR, params, seg);
}

int sb_seg_validate(const struct sb_seg_hdr *hdr, uint64_t file_size)
{
	uint32_t version;
	uint64_t page, min_data_off, subs_size;

	if (!hdr)
		return sbi_error(SB_EINVAL, "no header");
	if (file_size < SB_PROD_OFF)
		return sbi_error(SB_ECORRUPT, "segment file is %llu bytes, smaller than its header page",
				 (unsigned long long)file_size);
	if (hdr->magic != SB_SEG_MAGIC)
		return sbi_error(SB_ECORRUPT, "bad magic 0x%016llx (expected 0x%016llx)",
				 (unsigned long long)hdr->magic, (unsigned long long)SB_SEG_MAGIC);
	/* ACQUIRE pairs with the creator's RELEASE: fields below are complete. */
	version = sb_load_acquire(&((struct sb_seg_hdr *)hdr)->layout_version);
	if (version == 0)
		return sbi_error(SB_ECORRUPT, "layout version 0: segment not initialised (creator still running, or died)");
	if (version != SB_LAYOUT_VERSION)
		return sbi_error(SB_EVERSION, "layout version %u, this build supports %u", version,
				 SB_LAYOUT_VERSION);
	if (hdr->hdr_size != sizeof(*hdr))
		return sbi_error(SB_ECORRUPT, "header size %u (expected %zu)", hdr->hdr_size, sizeof(*hdr));
	if (hdr->checksum != sb_seg_checksum(hdr))
		return sbi_error(SB_ECORRUPT, "header checksum 0x%016llx does not match contents (0x%016llx)",
				 (unsigned long long)hdr->checksum, (unsigned long long)sb_seg_checksum(hdr));
	if (memchr(hdr->name, '\0', sizeof(hdr->name)) == NULL || hdr->name[0] == '\0')
		return sbi_error(SB_ECORRUPT, "topic name is empty or not NUL-terminated");
	page = hdr->page_size;
	if (!is_pow2(page) || page < SB_SMALL_PAGE || page > (UINT64_C(1) << 30))
		return sbi_error(SB_ECORRUPT, "page size %llu is not a power of two in [4 KiB, 1 GiB]",
				 (unsigned long long)page);
	if (hdr->seg_size != file_size)
		return sbi_error(SB_ECORRUPT, "header says %llu bytes, file has %llu (truncated?)",
				 (unsigned long long)hdr->seg_size, (unsigned long long)file_size);
	if (hdr->max_pubs == 0 || hdr->max_pubs > SB_MAX_PUBS_LIMIT)
		return sbi_error(SB_ECORRUPT, "max_pubs %u out of range [1, %u]", hdr->max_pubs, SB_MAX_PUBS_LIMIT);
	if (hdr->max_subs == 0 || hdr->max_subs > SB_MAX_SUBS_LIMIT)
		return sbi_error(SB_ECORRUPT, "max_subs %u out of range [1, %u]", hdr->max_subs, SB_MAX_SUBS_LIMIT);
	if (!is_pow2(hdr->data_size) || hdr->data_size < SB_MIN_DATA_SIZE || hdr->data_size > SB_MAX_DATA_SIZE)
		return sbi_error(SB_ECORRUPT, "ring size %llu is not a power of two in [%u, %llu]",
				 (unsigned long long)hdr->data_size, SB_MIN_DATA_SIZE,
				 (unsigned long long)SB_MAX_DATA_SIZE);
	if (hdr->reserved != 0)
		return sbi_error(SB_ECORRUPT, "reserved header field is 0x%08x, must be 0", hdr->reserved);
	if (!is_pow2(hdr->rec_align) || hdr->rec_align < SB_REC_ALIGN || hdr->rec_align > SB_REC_ALIGN_MAX)
		return sbi_error(SB_ECORRUPT, "record alignment %u is not a power of two in [%u, %u]",
				 hdr->rec_align, SB_REC_ALIGN, SB_REC_ALIGN_MAX);
	if (hdr->max_record == 0 || sb_rec_size_al(hdr->max_record, hdr->rec_align) > hdr->data_size / 2)
		return sbi_error(SB_ECORRUPT, "max record %u does not fit twice in a %llu-byte ring",
				 hdr->max_record, (unsigned long long)hdr->data_size);
	/* All bounded now: max_* are small, data_size <= 2^40. */
	min_data_off = SB_PROD_OFF + prod_bytes(hdr->max_pubs);
	if (hdr->prod_off != SB_PROD_OFF)
		return sbi_error(SB_ECORRUPT, "producer offset %llu (expected %u)", (unsigned long long)hdr->prod_off,
				 SB_PROD_OFF);
	if (hdr->data_off < min_data_off || hdr->data_off % page != 0 || hdr->data_off > file_size ||
	    file_size - hdr->data_off != hdr->data_size)
		return sbi_error(SB_ECORRUPT, "data offset %llu / size %llu overlap or leave the %llu-byte file",
				 (unsigned long long)hdr->data_off, (unsigned long long)hdr->data_size,
				 (unsigned long long)file_size);
	subs_size = round_up(subs_bytes(hdr->max_subs), page);
	if (hdr->subs_size != subs_size)
		return sbi_error(SB_ECORRUPT, "subscriber file size %llu (expected %llu for %u slots)",
				 (unsigned long long)hdr->subs_size, (unsigned long long)subs_size, hdr->max_subs);
	return SB_OK;
}

/* The subscriber file must be a regular file of exactly the size the
 * validated header gives; its identity is checked once it is mapped. */
static int check_subs_fd(int subs_fd, const struct sb_seg_hdr *h)
{
	struct stat st;

	if (subs_fd < 0)
		return sbi_error(SB_EINVAL, "segment %s: no subscriber file", h->name);
	if (fstat(subs_fd, &st) != 0)
		return sbi_error(SB_EIO, "fstat subscriber fd %d: %s", subs_fd, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sbi_error(SB_ECORRUPT, "segment %s: subscriber fd %d is not a regular file", h->name, subs_fd);
	if ((uint64_t)st.st_size != h->subs_size)
		return sbi_error(SB_ECORRUPT, "segment %s: subscriber file has %lld bytes, the header says %llu",
				 h->name, (long long)st.st_size, (unsigned long long)h->subs_size);
	return SB_OK;
}

int sb_seg_open_fd(int fd, int subs_fd, enum sb_seg_access access, struct sb_seg *seg)
{
	const struct sb_sub_area *subs;
	struct sb_seg_hdr copy;
	struct stat st;
	ssize_t got;
	int rc;

	if (!seg)
		return sbi_error(SB_EINVAL, "no segment struct");
	memset(seg, 0, sizeof(*seg));
	seg->fd = seg->subs_fd = -1;
	if (fd < 0 || access > SB_SEG_ADMIN)
		return sbi_error(SB_EINVAL, "bad fd %d or access mode %d", fd, (int)access);
	if (fstat(fd, &st) != 0)
		return sbi_error(SB_EIO, "fstat segment fd %d: %s", fd, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sbi_error(SB_ECORRUPT, "segment fd %d is not a regular file", fd);
	if ((uint64_t)st.st_size < SB_PROD_OFF)
		return sbi_error(SB_ECORRUPT, "segment file is %lld bytes, smaller than its header page",
				 (long long)st.st_size);

	/* Header first, into a private copy, then validate the copy.  Read,
	 * not mapped: on hugetlbfs a one-page mapping is a whole huge page,
	 * which munmap of one page does not remove (it leaked a 2 MiB mapping
	 * per open before). */
	got = pread(fd, &copy, sizeof(copy), 0);
	if (got != (ssize_t)sizeof(copy))
		return sbi_error(got < 0 ? SB_EIO : SB_ECORRUPT, "read segment header: %s",
				 got < 0 ? strerror(errno) : "short read");
	rc = sb_seg_validate(&copy, (uint64_t)st.st_size);
	if (rc == SB_OK)
		rc = check_subs_fd(subs_fd, &copy);
	if (rc < 0)
		return rc;

	/* A subscriber maps the segment file read-only (the daemon passes it an
	 * fd that allows nothing else) and only the subscriber file writable. */
	seg->base = mmap(NULL, copy.seg_size, access == SB_SEG_SUBSCRIBER ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, fd, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		return sbi_error(errno == EACCES ? SB_EACCES : SB_EIO, "map segment %s (%llu bytes): %s",
				 copy.name, (unsigned long long)copy.seg_size, strerror(errno));
	}
	seg->size = copy.seg_size;
	seg->subs_base = mmap(NULL, copy.subs_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, subs_fd, 0);
	if (seg->subs_base == MAP_FAILED) {
		seg->subs_base = NULL;
		rc = sbi_error(errno == EACCES ? SB_EACCES : SB_EIO, "map subscriber file of %s writable: %s",
			       copy.name, strerror(errno));
		goto fail;
	}
	seg->subs_size = copy.subs_size;
	subs = (const struct sb_sub_area *)seg->subs_base;
	if (subs->magic != SB_SUBS_MAGIC || subs->seg_checksum != copy.checksum) {
		rc = sbi_error(SB_ECORRUPT, "segment %s: the subscriber file belongs to another segment "
			       "(magic 0x%016llx, checksum 0x%016llx; expected 0x%016llx, 0x%016llx)",
			       copy.name, (unsigned long long)subs->magic, (unsigned long long)subs->seg_checksum,
			       (unsigned long long)SB_SUBS_MAGIC, (unsigned long long)copy.checksum);
		goto fail;
	}
	if (memcmp(seg->base, &copy, sizeof(copy)) != 0) {
		rc = sbi_error(SB_ECORRUPT, "segment %s: header changed while it was being opened", copy.name);
		goto fail;
	}
	seg->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	seg->subs_fd = fcntl(subs_fd, F_DUPFD_CLOEXEC, 0);
	if (seg->fd < 0 || seg->subs_fd < 0) {
		rc = sbi_error(code_of_errno(errno), "dup segment fds: %s", strerror(errno));
		goto fail;
	}
	seg->access = access;
	seg_set_pointers(seg, &copy);
	return SB_OK;
fail:
	sb_seg_close(seg);
	return rc;
}

static int open_errno(const char *what, const char *path, int err)
{
	return sbi_error(code_of_errno(err), "open %s %s: %s", what, path, strerror(err));
}

int sb_seg_open_path(const char *path, enum sb_seg_access access, struct sb_seg *seg)
{
	char subs_path[sizeof(seg->path)];
	int fd, subs_fd, rc;

	if (!path || !seg)
		return sbi_error(SB_EINVAL, "no path or segment struct");
	memset(seg, 0, sizeof(*seg));
	seg->fd = seg->subs_fd = -1;
	if (!sb_seg_subs_path(subs_path, sizeof(subs_path), path))
		return sbi_error(SB_EINVAL, "segment path %s too long", path);
	fd = open(path, (access == SB_SEG_SUBSCRIBER ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return open_errno("segment", path, errno);
	subs_fd = open(subs_path, O_RDWR | O_CLOEXEC);
	if (subs_fd < 0) {
		/* The segment exists, its subscriber file does not: the pair is
		 * broken, not absent. */
		rc = errno == ENOENT ? sbi_error(SB_ECORRUPT, "segment %s has no subscriber file %s", path, subs_path)
				     : open_errno("subscriber file", subs_path, errno);
		close(fd);
		return rc;
	}
	rc = sb_seg_open_fd(fd, subs_fd, access, seg);
	close(fd);
	close(subs_fd);
	if (rc == SB_OK)
		snprintf(seg->path, sizeof(seg->path), "%s", path);
	return rc;
}

void sb_seg_close(struct sb_seg *seg)
{
	if (!seg)
		return;
	if (seg->base)
		munmap(seg->base, seg->size);
	if (seg->subs_base)
		munmap(seg->subs_base, seg->subs_size);
	if (seg->fd >= 0)
		close(seg->fd);
	if (seg->subs_fd >= 0)
		close(seg->subs_fd);
	seg->base = NULL;
	seg->subs_base = NULL;
	seg->fd = seg->subs_fd = -1;
	seg->hdr = NULL;
	seg->prod = NULL;
	seg->subs = NULL;
	seg->data = NULL;
}

int sb_seg_unlink(struct sb_seg *seg)
{
	char subs_path[sizeof(seg->path)];

	if (!seg || seg->path[0] == '\0' || !sb_seg_subs_path(subs_path, sizeof(subs_path), seg->path))
		return sbi_error(SB_EINVAL, "segment has no known path");
	/* The subscriber file first: while the segment file (the name's lock,
	 * see create_in) still exists nobody can create a new topic of this
	 * name, so this unlink can only ever remove our own subscriber file. */
	if (unlink(subs_path) != 0 && errno != ENOENT)
		return sbi_error(SB_EIO, "unlink %s: %s", subs_path, strerror(errno));
	if (unlink(seg->path) != 0)
		return sbi_error(errno == ENOENT ? SB_ENOENT : SB_EIO, "unlink %s: %s", seg->path,
				 strerror(errno));
	return SB_OK;
}
