/*
 * test_segment.c - segment files: creation, mapping, protection, validation.
 *
 * The negative cases corrupt one header field of a freshly created segment
 * (recomputing the checksum with sb_seg_checksum where the point is that a
 * later, field-specific check must catch it) and expect the exact code and a
 * detail that names the field.  Protection is checked by writing through a
 * subscriber mapping in a forked child, which must die of SIGSEGV.
 */
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DATA_SIZE  65536u
#define MAX_RECORD 1024u

static struct sb_seg_hdr *hdr_rw(struct sb_seg *seg)
{
	/* The creator's mapping is read-write; the const is for openers. */
	return (struct sb_seg_hdr *)seg->base;
}

static void assert_closed_struct(const struct sb_seg *seg)
{
	assert_null(seg->base);
	assert_null(seg->subs_base);
	assert_null(seg->hdr);
	assert_int_equal(seg->fd, -1);
	assert_int_equal(seg->subs_fd, -1);
}

static unsigned dir_entries(const char *path)
{
	unsigned n = 0;
	struct dirent *e;
	DIR *d = opendir(path);

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Status of a child that stores one byte at p. */
static int child_store(volatile uint8_t *p)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		/* Die of the signal itself, not of a sanitizer's report. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		*p = 0x5a;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_killed_by_segv(int status, const char *what)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("store into %s through a subscriber mapping did not fault (status 0x%x)", what,
			 status);
}

/* ------------------------------------------------------------ round trip */

static void test_segment_create_fields(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX], path[512], subs_path[520];
	struct sb_seg seg;
	const struct sb_seg_hdr *h;
	struct timespec now;
	struct stat st;

	(void)state;
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	p.max_subs = 4;
	p.max_pubs = 2;
	tu_assert_rc(sb_seg_create(&p, &seg), SB_OK);
	h = seg.hdr;
	assert_non_null(h);
	assert_ptr_equal(h, seg.base);
	assert_true(h->magic == SB_SEG_MAGIC);
	assert_int_equal(atomic_load(&((struct sb_seg_hdr *)h)->layout_version), SB_LAYOUT_VERSION);
	assert_int_equal(h->hdr_size, sizeof(struct sb_seg_hdr));
	assert_string_equal(h->name, name);
	assert_int_equal(h->data_size, DATA_SIZE);
	assert_int_equal(h->max_record, MAX_RECORD);
	assert_int_equal(h->max_subs, 4);
	assert_int_equal(h->max_pubs, 2);
	assert_int_equal(h->flags & SB_SEG_F_HUGETLB, 0); /* tmpfs */
	assert_int_equal(h->rec_align, SB_REC_ALIGN);   /* 0 asked: dense */
	assert_int_equal(seg.rec_align, SB_REC_ALIGN);
	assert_int_equal(h->page_size, 4096);
	assert_int_equal(h->seg_size, seg.size);
	assert_int_equal(h->subs_size, seg.subs_size);
	assert_int_equal(seg.size + seg.subs_size, sb_seg_memsize(&p, 4096));
	assert_true(h->checksum == sb_seg_checksum(h));
	clock_gettime(CLOCK_REALTIME, &now);
	assert_true(h->epoch_ns > 0);
	assert_true(h->epoch_ns <= (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
	/* Pointers are the offsets, resolved locally. */
	assert_ptr_equal(seg.prod, seg.base + h->prod_off);
	assert_ptr_equal(seg.subs, seg.subs_base);
	assert_ptr_equal(seg.data, seg.base + h->data_off);
	/* The subscriber file is tied to this header. */
	assert_true(seg.subs->magic == SB_SUBS_MAGIC);
	assert_true(seg.subs->seg_checksum == h->checksum);
	assert_int_equal(seg.data_size, DATA_SIZE);
	assert_int_equal(seg.max_record, MAX_RECORD);
	assert_int_equal(seg.max_subs, 4);
	assert_int_equal(seg.max_pubs, 2);
	assert_int_equal(seg.access, SB_SEG_PUBLISHER);
	assert_true(seg.fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", tu_dir(), name);
	assert_string_equal(seg.path, path);
	assert_int_equal(access(path, F_OK), 0);
	assert_true(seg.subs_fd >= 0);
	snprintf(subs_path, sizeof(subs_path), "%s/%s@subs", tu_dir(), name);
	assert_int_equal(stat(subs_path, &st), 0);
	assert_int_equal(st.st_size, h->subs_size);
	/* A new segment is empty: nothing claimed, committed or attached. */
	assert_int_equal(atomic_load(&seg.prod->head), 0);
	assert_int_equal(atomic_load(&seg.prod->tail), 0);
	assert_int_equal(atomic_load(&seg.prod->next_seq), 0);
	assert_int_equal(atomic_load(&seg.prod->publishers), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&seg.subs->sub[i].state), SB_SLOT_FREE);
	tu_seg_free(&seg);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(subs_path, F_OK), -1);
}

static void test_segment_open_fd_roundtrip(void **state)
{
	struct sb_seg seg, sub;

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &sub), SB_OK);
	assert_int_equal(sub.access, SB_SEG_SUBSCRIBER);
	assert_int_equal(memcmp(sub.hdr, seg.hdr, sizeof(struct sb_seg_hdr)), 0);
	assert_int_equal(sub.size, seg.size);
	assert_int_equal(sub.data_size, seg.data_size);
	assert_int_equal(sub.max_record, seg.max_record);
	assert_int_equal(sub.max_subs, seg.max_subs);
	assert_int_equal(sub.max_pubs, seg.max_pubs);
	assert_int_equal(sub.rec_align, seg.rec_align);
	assert_ptr_not_equal(sub.base, seg.base);
	assert_int_equal((uint8_t *)sub.data - sub.base, seg.data - seg.base);
	assert_true(sub.fd >= 0);
	assert_int_not_equal(sub.fd, seg.fd); /* dup'ed */

	/* Same bytes: publisher's data shows through the subscriber mapping,
	 * and the subscriber's own area shows through the publisher's. */
	tu_fill(seg.data, 4096, 7);
	tu_fill(seg.data + seg.data_size - 4096, 4096, 8);
	assert_true(tu_check(sub.data, 4096, 7));
	assert_true(tu_check(sub.data + sub.data_size - 4096, 4096, 8));
	atomic_store(&sub.subs->sub[3].heartbeat, 0x1234);
	assert_int_equal(atomic_load(&seg.subs->sub[3].heartbeat), 0x1234);

	sb_seg_close(&sub);
	assert_closed_struct(&sub);
	/* Our fd survives the opener's close. */
	assert_int_not_equal(fcntl(seg.fd, F_GETFD), -1);
	tu_seg_free(&seg);
}

static void test_segment_open_path_roundtrip(void **state)
{
	struct sb_seg seg, pub, adm;
	char missing[512];

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_PUBLISHER, &pub), SB_OK);
	assert_string_equal(pub.path, seg.path);
	assert_int_equal(pub.access, SB_SEG_PUBLISHER);
	assert_int_equal(memcmp(pub.hdr, seg.hdr, sizeof(struct sb_seg_hdr)), 0);
	/* A publisher mapping is writable everywhere. */
	tu_fill(pub.data + 100, 333, 42);
	assert_true(tu_check(seg.data + 100, 333, 42));
	atomic_store(&pub.prod->repairs, 5);
	assert_int_equal(atomic_load(&seg.prod->repairs), 5);
	sb_seg_close(&pub);

	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_ADMIN, &adm), SB_OK);
	assert_int_equal(adm.access, SB_SEG_ADMIN);
	sb_seg_close(&adm);

	snprintf(missing, sizeof(missing), "%s/no-such-topic", tu_dir());
	tu_assert_rc(sb_seg_open_path(missing, SB_SEG_SUBSCRIBER, &pub), SB_ENOENT);
	assert_true(sb_last_error()[0] != '\0');
	assert_closed_struct(&pub);
	tu_assert_rc(sb_seg_open_path(NULL, SB_SEG_SUBSCRIBER, &pub), SB_EINVAL);
	tu_seg_free(&seg);
}

static void test_segment_subscriber_protection(void **state)
{
	struct sb_seg seg, sub;
	int status;

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &sub), SB_OK);

	assert_killed_by_segv(child_store(sub.data), "the data ring (first byte)");
	assert_killed_by_segv(child_store(sub.data + sub.data_size - 1), "the data ring (last byte)");
	assert_killed_by_segv(child_store((uint8_t *)&sub.prod->tail), "the producer tail");
	assert_killed_by_segv(child_store((uint8_t *)&sub.prod->pub[0].state), "a publisher slot");
	assert_killed_by_segv(child_store((uint8_t *)sub.base), "the segment header");

	/* The subscriber area is writable: the child's store is seen here. */
	status = child_store((uint8_t *)&sub.subs->sub[1].reserved1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(((volatile uint8_t *)&seg.subs->sub[1].reserved1)[0], 0x5a);
	status = child_store((uint8_t *)&sub.subs->bell);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Nothing a subscriber child tried changed the stream. */
	assert_int_equal(seg.data[0], 0);
	assert_int_equal(atomic_load(&seg.prod->tail), 0);
	assert_true(seg.hdr->magic == SB_SEG_MAGIC);
	sb_seg_close(&sub);
	tu_seg_free(&seg);
}

/* ------------------------------------------------------- validation */

typedef void (*mutate_fn)(struct sb_seg *seg, struct sb_seg_hdr *h);

/* Corrupt a fresh segment with fn, optionally re-seal the checksum, and
 * expect both openers to refuse it with want and a detail holding needle. */
static void expect_refused(mutate_fn fn, bool reseal, int want, const char *needle)
{
	struct sb_seg seg, out;

	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	fn(&seg, hdr_rw(&seg));
	if (reseal)
		hdr_rw(&seg)->checksum = sb_seg_checksum(seg.hdr);

	memset(&out, 0xa5, sizeof(out));
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), want);
	tu_assert_detail(needle);
	assert_closed_struct(&out);

	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_ADMIN, &out), want);
	tu_assert_detail(needle);
	assert_closed_struct(&out);
	tu_seg_free(&seg);
}

static void bad_magic(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->magic ^= 0x100; }
static void version_zero(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; atomic_store(&h->layout_version, 0); }
static void version_next(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; atomic_store(&h->layout_version, SB_LAYOUT_VERSION + 1); }
static void version_one(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; atomic_store(&h->layout_version, 1); }
static void name_flip(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->name[2] ^= 0x01; }
static void epoch_flip(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->epoch_ns ^= 1; }
static void hdr_size_off(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->hdr_size = sizeof(*h) + 8; }
static void data_size_not_pow2(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_size = DATA_SIZE + 4096; }
static void data_size_tiny(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_size = 2048; }
static void page_not_pow2(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->page_size = 12288; }
static void max_record_half(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->max_record = DATA_SIZE / 2; }
static void max_record_zero(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->max_record = 0; }
static void rec_align_odd(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->rec_align = 24; }
static void rec_align_small(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->rec_align = 4; }
static void rec_align_big(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->rec_align = 256; }
static void max_record_over_half(struct sb_seg *s, struct sb_seg_hdr *h)
{
	/* One byte more than fits twice, at 128-byte alignment. */
	(void)s;
	h->rec_align = 128;
	h->max_record = DATA_SIZE / 2 - SB_REC_HDR_SIZE + 1;
}
static void max_subs_zero(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->max_subs = 0; }
static void max_pubs_huge(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->max_pubs = SB_MAX_PUBS_LIMIT + 1; }
static void name_unterminated(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; memset(h->name, 'a', sizeof(h->name)); }
static void name_empty(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; memset(h->name, 0, sizeof(h->name)); }
static void seg_size_grown(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->seg_size += 4096; }
static void prod_off_moved(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->prod_off = 0; }
static void subs_size_short(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->subs_size -= 4096; }
static void subs_size_long(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->subs_size += 4096; }
static void data_over_prod(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_off = 4096; }
static void data_unaligned(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_off += 8; }
static void data_out_of_file(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_off = h->seg_size + 4096; }
static void data_short(struct sb_seg *s, struct sb_seg_hdr *h) { (void)s; h->data_off += 4096; }

static void test_segment_refuses_bad_magic(void **state)
{
	(void)state;
	expect_refused(bad_magic, false, SB_ECORRUPT, "magic");
	expect_refused(bad_magic, true, SB_ECORRUPT, "magic");
}

static void test_segment_refuses_version_zero(void **state)
{
	(void)state;
	/* Version 0 means "creation in progress": not covered by the checksum. */
	expect_refused(version_zero, false, SB_ECORRUPT, "version 0");
}

static void test_segment_refuses_wrong_version(void **state)
{
	(void)state;
	expect_refused(version_next, false, SB_EVERSION, "layout version 3, this build supports 2");
	/* Version 1 had the subscriber area inside the segment file. */
	expect_refused(version_one, false, SB_EVERSION, "layout version 1");
}

static void test_segment_refuses_checksum_mismatch(void **state)
{
	(void)state;
	expect_refused(name_flip, false, SB_ECORRUPT, "checksum");
	expect_refused(epoch_flip, false, SB_ECORRUPT, "checksum");
}

static void test_segment_refuses_bad_hdr_size(void **state)
{
	(void)state;
	expect_refused(hdr_size_off, true, SB_ECORRUPT, "header size");
}

static void test_segment_refuses_data_size_not_pow2(void **state)
{
	(void)state;
	/* Checksum re-sealed: only the power-of-two check can catch it. */
	expect_refused(data_size_not_pow2, true, SB_ECORRUPT, "ring size");
	expect_refused(data_size_tiny, true, SB_ECORRUPT, "ring size");
}

static void test_segment_refuses_bad_page_size(void **state)
{
	(void)state;
	expect_refused(page_not_pow2, true, SB_ECORRUPT, "page size");
}

static void test_segment_refuses_max_record_too_big(void **state)
{
	(void)state;
	expect_refused(max_record_half, true, SB_ECORRUPT, "max record");
	expect_refused(max_record_zero, true, SB_ECORRUPT, "max record");
}

static void test_segment_refuses_bad_rec_align(void **state)
{
	(void)state;
	expect_refused(rec_align_odd, true, SB_ECORRUPT, "record alignment");
	expect_refused(rec_align_small, true, SB_ECORRUPT, "record alignment");
	expect_refused(rec_align_big, true, SB_ECORRUPT, "record alignment");
	expect_refused(max_record_over_half, true, SB_ECORRUPT, "max record");
}

static void test_segment_refuses_bad_slot_counts(void **state)
{
	(void)state;
	expect_refused(max_subs_zero, true, SB_ECORRUPT, "max_subs");
	expect_refused(max_pubs_huge, true, SB_ECORRUPT, "max_pubs");
}

static void test_segment_refuses_name_not_terminated(void **state)
{
	(void)state;
	expect_refused(name_unterminated, true, SB_ECORRUPT, "name");
	expect_refused(name_empty, true, SB_ECORRUPT, "name");
}

static void test_segment_refuses_bad_offsets(void **state)
{
	(void)state;
	expect_refused(prod_off_moved, true, SB_ECORRUPT, "producer offset");
	expect_refused(data_over_prod, true, SB_ECORRUPT, "data offset");
	expect_refused(data_unaligned, true, SB_ECORRUPT, "data offset");
	expect_refused(data_out_of_file, true, SB_ECORRUPT, "data offset");
	expect_refused(data_short, true, SB_ECORRUPT, "data offset");
}

static void test_segment_refuses_size_mismatch(void **state)
{
	(void)state;
	expect_refused(seg_size_grown, true, SB_ECORRUPT, "file has");
	/* The header's size for the subscriber file is checked against the
	 * slot count, so a header cannot make a subscriber map past its end. */
	expect_refused(subs_size_short, true, SB_ECORRUPT, "subscriber file size");
	expect_refused(subs_size_long, true, SB_ECORRUPT, "subscriber file size");
}

/* The subscriber file must be the one created with this header, of its
 * size, and open for writing; else nothing is mapped. */
static void test_segment_refuses_bad_subscriber_file(void **state)
{
	struct sb_seg seg, other, out;
	char subs_path[520];
	int pipefd[2], ro;

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_seg_new(&other, DATA_SIZE, MAX_RECORD); /* same shape, another topic */
	assert_true(sb_seg_subs_path(subs_path, sizeof(subs_path), seg.path));

	/* Another segment's subscriber file, even of the same size. */
	tu_assert_rc(sb_seg_open_fd(seg.fd, other.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("belongs to another segment");
	assert_closed_struct(&out);
	/* No subscriber file, or not a regular file. */
	tu_assert_rc(sb_seg_open_fd(seg.fd, -1, SB_SEG_SUBSCRIBER, &out), SB_EINVAL);
	tu_assert_detail("no subscriber file");
	assert_int_equal(pipe(pipefd), 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, pipefd[0], SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("not a regular file");
	close(pipefd[0]);
	close(pipefd[1]);
	/* Open read-only: a subscriber must be able to write its cursor. */
	ro = open(subs_path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, ro, SB_SEG_SUBSCRIBER, &out), SB_EACCES);
	tu_assert_detail("subscriber file");
	assert_closed_struct(&out);
	close(ro);
	/* Its identity zeroed (as a hostile subscriber could): refused. */
	memset((void *)&seg.subs->magic, 0, sizeof(seg.subs->magic));
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_PUBLISHER, &out), SB_ECORRUPT);
	tu_assert_detail("magic 0x0000000000000000");
	seg.subs->magic = SB_SUBS_MAGIC;
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_PUBLISHER, &out), SB_OK);
	sb_seg_close(&out);
	/* Truncated, then grown (which leaves it zero-filled). */
	assert_int_equal(ftruncate(seg.subs_fd, (off_t)seg.subs_size - 4096), 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("subscriber file has");
	assert_int_equal(ftruncate(seg.subs_fd, (off_t)seg.subs_size + 4096), 0);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_ADMIN, &out), SB_ECORRUPT);
	tu_assert_detail("subscriber file has");
	assert_int_equal(ftruncate(seg.subs_fd, (off_t)seg.subs_size), 0);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_ADMIN, &out), SB_ECORRUPT);
	tu_assert_detail("belongs to another segment");
	/* Gone: the segment is broken (corrupt), not absent. */
	assert_int_equal(unlink(subs_path), 0);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("has no subscriber file");
	assert_closed_struct(&out);
	tu_seg_free(&other);
	tu_seg_free(&seg);
}

/* By path, a subscriber's segment fd is read-only, so the kernel refuses
 * every way to write the stream, not only the mapping the library made. */
static void test_segment_subscriber_fd_is_read_only(void **state)
{
	struct sb_seg seg, sub;
	void *m;

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_open_path(seg.path, SB_SEG_SUBSCRIBER, &sub), SB_OK);
	assert_int_equal(fcntl(sub.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fcntl(sub.subs_fd, F_GETFL) & O_ACCMODE, O_RDWR);
	m = mmap(NULL, sub.size, PROT_READ | PROT_WRITE, MAP_SHARED, sub.fd, 0);
	assert_true(m == MAP_FAILED);
	assert_int_equal(errno, EACCES);
	assert_int_equal(mprotect(sub.base, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(mprotect((void *)sub.data, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(pwrite(sub.fd, "x", 1, (off_t)(sub.data - sub.base)), -1);
	assert_int_equal(errno, EBADF);
	/* Its own file it can write. */
	assert_int_equal(mprotect(sub.subs_base, 4096, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(seg.data[0], 0);
	sb_seg_close(&sub);
	tu_seg_free(&seg);
}

/* A subscriber file left without its segment file (a creator that died
 * while cleaning up, say) does not block the topic's name: create replaces it
 * with a new file instead of truncating one a process may still map. */
static void test_segment_create_replaces_leftover_subscriber_file(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX], path[512], subs_path[520];
	struct sb_seg seg, old;
	struct stat before, after;
	unsigned warns;
	int fd;

	(void)state;
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	snprintf(path, sizeof(path), "%s/%s", tu_dir(), name);
	assert_true(sb_seg_subs_path(subs_path, sizeof(subs_path), path));
	fd = open(subs_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "stale", 5), 5);
	assert_int_equal(fstat(fd, &before), 0);
	warns = tu_log_count(SB_LOG_WARN);
	tu_assert_rc(sb_seg_create(&p, &seg), SB_OK);
	assert_int_equal(tu_log_count(SB_LOG_WARN), warns + 1);
	assert_non_null(strstr(tu_log_last(), "subscriber file without its segment"));
	assert_int_equal(stat(subs_path, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	assert_int_equal(fstat(fd, &before), 0);
	assert_int_equal(before.st_size, 5); /* the old inode untouched */
	close(fd);
	tu_assert_rc(sb_seg_open_path(path, SB_SEG_SUBSCRIBER, &old), SB_OK);
	sb_seg_close(&old);
	tu_seg_free(&seg);
	assert_int_equal(access(subs_path, F_OK), -1);
}

static void test_segment_refuses_truncated_file(void **state)
{
	struct sb_seg seg, out;

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	/* One page short: the header is intact, the file is not. */
	assert_int_equal(ftruncate(seg.fd, (off_t)seg.size - 4096), 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("truncated");
	assert_closed_struct(&out);
	/* Shorter than the header page. */
	assert_int_equal(ftruncate(seg.fd, 4095), 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("4095 bytes");
	assert_closed_struct(&out);
	/* Grown: the header no longer describes the file either. */
	assert_int_equal(ftruncate(seg.fd, (off_t)seg.size + 4096), 0);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_PUBLISHER, &out), SB_ECORRUPT);
	assert_true(sb_last_error()[0] != '\0');
	tu_seg_free(&seg);
}

static void test_segment_refuses_empty_file(void **state)
{
	char path[512];
	struct sb_seg out;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/empty", tu_dir());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	tu_assert_rc(sb_seg_open_fd(fd, -1, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("0 bytes");
	assert_closed_struct(&out);
	tu_assert_rc(sb_seg_open_path(path, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	assert_closed_struct(&out);
	/* A zero-filled header page: no magic. */
	assert_int_equal(ftruncate(fd, 3 * 4096), 0);
	tu_assert_rc(sb_seg_open_fd(fd, -1, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("magic");
	close(fd);
	unlink(path);
}

static void test_segment_open_bad_arguments(void **state)
{
	struct sb_seg seg, out;
	int pipefd[2];

	(void)state;
	tu_seg_new(&seg, DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_open_fd(-1, seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_EINVAL);
	assert_closed_struct(&out);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, (enum sb_seg_access)7, &out), SB_EINVAL);
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, NULL), SB_EINVAL);
	assert_int_equal(pipe(pipefd), 0);
	tu_assert_rc(sb_seg_open_fd(pipefd[0], seg.subs_fd, SB_SEG_SUBSCRIBER, &out), SB_ECORRUPT);
	tu_assert_detail("regular file");
	close(pipefd[0]);
	close(pipefd[1]);
	tu_assert_rc(sb_seg_validate(NULL, 4096), SB_EINVAL);
	/* sb_seg_validate on its own: the real header against the real size,
	 * and against a size that disagrees. */
	tu_assert_rc(sb_seg_validate(seg.hdr, seg.size), SB_OK);
	tu_assert_rc(sb_seg_validate(seg.hdr, seg.size + 4096), SB_ECORRUPT);
	tu_assert_rc(sb_seg_validate(seg.hdr, 100), SB_ECORRUPT);
	tu_seg_free(&seg);
}

/* ------------------------------------------------------------ sizing */

static void test_segment_memsize(void **state)
{
	struct sb_seg_params p = {
		.name = "memsize", .data_size = DATA_SIZE, .max_record = MAX_RECORD,
		.max_subs = 4, .max_pubs = 2,
	};
	struct sb_seg_params q;
	uint64_t huge;

	(void)state;
	/* docs/ring.md: producer control at 4096 (384 + 128 per publisher),
	 * subscriber area (128 + 128 per subscriber) and data, each page
	 * aligned: 8192 + 4096 + 65536. */
	assert_int_equal(sb_seg_memsize(&p, 4096), 8192 + 4096 + DATA_SIZE);
	/* Defaults: 64 subscribers, 16 publishers. */
	q = p;
	q.max_subs = 0;
	q.max_pubs = 0;
	assert_int_equal(sb_seg_memsize(&q, 4096), 8192 + 12288 + DATA_SIZE);
	/* Capacity rounds up to a power of two. */
	q = p;
	q.data_size = 40000;
	assert_int_equal(sb_seg_memsize(&q, 4096), sb_seg_memsize(&p, 4096));
	/* Hugepages: every region on its own 2 MiB page. */
	huge = sb_seg_memsize(&p, 2u << 20);
	assert_int_equal(huge % (2u << 20), 0);
	assert_true(huge >= 2 * (2u << 20) + DATA_SIZE);

	assert_int_equal(sb_seg_memsize(&p, 0), 0);
	assert_int_equal(sb_seg_memsize(&p, 3000), 0);
	assert_int_equal(sb_seg_memsize(&p, 2048), 0);
	assert_int_equal(sb_seg_memsize(NULL, 4096), 0);
	q = p;
	q.name = "";
	assert_int_equal(sb_seg_memsize(&q, 4096), 0);
	q = p;
	q.max_record = 0;
	assert_int_equal(sb_seg_memsize(&q, 4096), 0);
	q = p;
	q.max_record = DATA_SIZE / 2;
	assert_int_equal(sb_seg_memsize(&q, 4096), 0);
}

/* A create that must fail with want, leave nothing behind in its directory
 * (empty before) and say why. */
static void expect_create_fails(const struct sb_seg_params *p, int want)
{
	struct sb_seg seg;

	memset(&seg, 0xa5, sizeof(seg));
	tu_assert_rc(sb_seg_create(p, &seg), want);
	assert_true(sb_last_error()[0] != '\0');
	assert_closed_struct(&seg);
	if (p && p->dir)
		assert_int_equal(dir_entries(p->dir), 0);
}

static void test_segment_create_invalid_params(void **state)
{
	struct sb_seg_params p, q;
	char name[SB_TOPIC_NAME_MAX], longname[SB_TOPIC_NAME_MAX + 1], dir[512];
	struct sb_seg seg;

	(void)state;
	tu_params(&p, name, sizeof(name), 4096, 64);
	snprintf(dir, sizeof(dir), "%s/invalid", tu_dir());
	assert_int_equal(mkdir(dir, 0700), 0);
	p.dir = dir;

	expect_create_fails(NULL, SB_EINVAL);
	tu_assert_rc(sb_seg_create(&p, NULL), SB_EINVAL);
	q = p; q.name = NULL;           expect_create_fails(&q, SB_EINVAL);
	q = p; q.name = "";             expect_create_fails(&q, SB_EINVAL);
	q = p; q.name = "a/b";          expect_create_fails(&q, SB_EINVAL);
	q = p; q.name = "../escape";    expect_create_fails(&q, SB_EINVAL);
	q = p; q.name = ".hidden";      expect_create_fails(&q, SB_EINVAL);
	q = p; q.name = "sp ace";       expect_create_fails(&q, SB_EINVAL);
	memset(longname, 'n', SB_TOPIC_NAME_MAX);
	longname[SB_TOPIC_NAME_MAX] = '\0';
	q = p; q.name = longname;       expect_create_fails(&q, SB_EINVAL);
	q = p; q.data_size = 0;         expect_create_fails(&q, SB_EINVAL);
	q = p; q.data_size = SB_MAX_DATA_SIZE + 1; expect_create_fails(&q, SB_EINVAL);
	q = p; q.max_record = 0;        expect_create_fails(&q, SB_EINVAL);
	/* sb_rec_size(max) <= data_size / 2: 2032 is the largest for 4 KiB. */
	q = p; q.max_record = 2033;     expect_create_fails(&q, SB_EINVAL);
	q = p; q.max_record = UINT32_MAX; expect_create_fails(&q, SB_EINVAL);
	q = p; q.max_subs = SB_MAX_SUBS_LIMIT + 1; expect_create_fails(&q, SB_EINVAL);
	q = p; q.max_pubs = SB_MAX_PUBS_LIMIT + 1; expect_create_fails(&q, SB_EINVAL);
	q = p; q.rec_align = 4;         expect_create_fails(&q, SB_EINVAL);
	q = p; q.rec_align = 24;        expect_create_fails(&q, SB_EINVAL);
	q = p; q.rec_align = 256;       expect_create_fails(&q, SB_EINVAL);
	/* 128-byte records: 16 + max must still fit twice in 4 KiB. */
	q = p; q.rec_align = 128; q.max_record = 2033; expect_create_fails(&q, SB_EINVAL);
	q = p;
	q.rec_align = 128;
	q.max_record = 2032;
	tu_assert_rc(sb_seg_create(&q, &seg), SB_OK);
	assert_int_equal(seg.rec_align, 128);
	assert_int_equal(seg.hdr->rec_align, 128);
	tu_seg_free(&seg);

	/* The boundaries themselves are fine. */
	longname[SB_TOPIC_NAME_MAX - 1] = '\0';
	q = p;
	q.name = longname;
	q.max_record = 2032;
	tu_assert_rc(sb_seg_create(&q, &seg), SB_OK);
	assert_string_equal(seg.hdr->name, longname);
	assert_int_equal(seg.max_record, 2032);
	tu_seg_free(&seg);
	assert_int_equal(rmdir(dir), 0);
}

static void test_segment_create_missing_dir(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX], dir[512];
	struct sb_seg seg;
	int rc;

	(void)state;
	tu_params(&p, name, sizeof(name), 4096, 64);
	snprintf(dir, sizeof(dir), "%s/does-not-exist", tu_dir());
	p.dir = dir;
	rc = sb_seg_create(&p, &seg);
	/* sb_segment.h documents SB_ENOENT for a missing directory. */
	if (rc != SB_ENOENT)
		fail_msg("create in a missing directory returned %d (%s), not SB_ENOENT; detail: %s",
			 rc, sb_strerror(rc), sb_last_error());
	assert_non_null(strstr(sb_last_error(), "does-not-exist"));
	assert_closed_struct(&seg);
}

static void test_segment_create_twice_eexist(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX];
	struct sb_seg first, second, again;

	(void)state;
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	tu_assert_rc(sb_seg_create(&p, &first), SB_OK);
	tu_assert_rc(sb_seg_create(&p, &second), SB_EEXIST);
	tu_assert_detail(name);
	assert_closed_struct(&second);
	/* Cleaning up after the failed create must not touch the segment that
	 * was there first. */
	sb_seg_close(&second);
	sb_seg_unlink(&second);
	if (access(first.path, F_OK) != 0)
		fail_msg("sb_seg_unlink on the struct of a create that failed with SB_EEXIST removed "
			 "the existing segment %s (the failed struct kept its path \"%s\")",
			 first.path, second.path);
	tu_assert_rc(sb_seg_open_path(first.path, SB_SEG_SUBSCRIBER, &again), SB_OK);
	assert_true(again.hdr->epoch_ns == first.hdr->epoch_ns);
	sb_seg_close(&again);
	tu_seg_free(&first);
}

static void test_segment_close_unlink_idempotent(void **state)
{
	struct sb_seg seg, zero;
	char path[256];

	(void)state;
	memset(&zero, 0, sizeof(zero));
	zero.fd = -1;
	sb_seg_close(&zero);
	sb_seg_close(NULL);
	tu_assert_rc(sb_seg_unlink(&zero), SB_EINVAL);

	tu_seg_new(&seg, 4096, 64);
	snprintf(path, sizeof(path), "%s", seg.path);
	tu_assert_rc(sb_seg_unlink(&seg), SB_OK);
	assert_int_equal(access(path, F_OK), -1);
	/* The mapping outlives the name. */
	assert_true(seg.hdr->magic == SB_SEG_MAGIC);
	tu_assert_rc(sb_seg_unlink(&seg), SB_ENOENT);
	sb_seg_close(&seg);
	assert_closed_struct(&seg);
	sb_seg_close(&seg);
	assert_closed_struct(&seg);
}

/* ------------------------------------------------------ directories */

static void test_segment_no_hugepages_uses_dev_shm(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX];
	unsigned warns = tu_log_count(SB_LOG_WARN);
	struct sb_seg seg;

	(void)state;
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	p.dir = NULL;
	p.no_hugepages = true;
	tu_assert_rc(sb_seg_create(&p, &seg), SB_OK);
	assert_int_equal(strncmp(seg.path, "/dev/shm/", 9), 0);
	assert_string_equal(seg.path + 9, name);
	assert_int_equal(seg.hdr->flags & SB_SEG_F_HUGETLB, 0);
	assert_int_equal(seg.hdr->page_size, 4096);
	assert_int_equal(seg.data_size, DATA_SIZE);
	/* Asked for explicitly: no warning. */
	assert_int_equal(tu_log_count(SB_LOG_WARN), warns);
	tu_seg_free(&seg);
	assert_int_equal(access(seg.path, F_OK), -1);
}

static void test_segment_default_dir(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX];
	unsigned warns = tu_log_count(SB_LOG_WARN);
	struct sb_seg seg, sub;
	struct sb_ring_pub pub;
	struct sb_ring_sub rs;
	struct sb_ring_view v;
	bool huge = false;
	const char *dir = sb_seg_default_dir(&huge);

	(void)state;
	assert_non_null(dir);
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	p.dir = NULL;
	tu_assert_rc(sb_seg_create(&p, &seg), SB_OK);
	if (seg.hdr->flags & SB_SEG_F_HUGETLB) {
		struct statfs sf;

		assert_true(huge);
		assert_int_equal(strncmp(seg.path, dir, strlen(dir)), 0);
		assert_int_equal(statfs(dir, &sf), 0);
		assert_int_equal(seg.hdr->page_size, (uint64_t)sf.f_bsize);
		assert_true(seg.data_size >= DATA_SIZE);
		assert_int_equal(seg.size % seg.hdr->page_size, 0);
	} else {
		/* No hugetlbfs, or not enough pages: /dev/shm with a warning. */
		assert_int_equal(strncmp(seg.path, "/dev/shm/", 9), 0);
		assert_int_equal(seg.hdr->page_size, 4096);
		assert_true(tu_log_count(SB_LOG_WARN) > warns);
		if (strstr(tu_log_last(), "/dev/shm") == NULL)
			fail_msg("fallback warning does not name /dev/shm: %s", tu_log_last());
	}
	/* Whatever the backing, a subscriber mapping works and data flows. */
	tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, SB_SEG_SUBSCRIBER, &sub), SB_OK);
	tu_assert_rc(sb_ring_sub_attach(&rs, &sub, SB_SUB_TETHERED, SB_START_LATEST, SB_WAIT_SPIN), SB_OK);
	tu_assert_rc(sb_ring_pub_attach(&pub, &seg, SB_PUB_EXCLUSIVE), SB_OK);
	tu_assert_rc(sb_ring_send(&pub, "hello", 5), SB_OK);
	tu_assert_rc(sb_ring_peek(&rs, &v), SB_OK);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.data, "hello", 5);
	tu_assert_rc(sb_ring_consume(&rs), SB_OK);
	sb_ring_pub_detach(&pub);
	sb_ring_sub_detach(&rs);
	sb_seg_close(&sub);
	tu_seg_free(&seg);
}

/* Mappings of path in this process (lines of /proc/self/maps naming it). */
static unsigned mappings_of(const char *path)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		/* The path column ends the line; "@subs" files must not match. */
		size_t ll = strlen(line), pl = strlen(path);
		if (ll >= pl && strcmp(line + ll - pl, path) == 0)
			n++;
	}
	fclose(f);
	return n;
}

/* Opening and closing a segment leaves no mapping behind, on hugetlbfs
 * too (where a one-page mapping of the header is a whole huge page that a
 * one-page munmap does not remove). */
static void test_segment_open_close_leaves_no_mapping(void **state)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX];
	struct sb_seg seg, other;
	unsigned before;

	(void)state;
	tu_params(&p, name, sizeof(name), DATA_SIZE, MAX_RECORD);
	p.dir = NULL; /* hugetlbfs where there is one: where the leak was */
	tu_assert_rc(sb_seg_create(&p, &seg), SB_OK);
	before = mappings_of(seg.path);
	assert_true(before >= 1);
	for (int i = 0; i < 6; i++) {
		enum sb_seg_access a = i % 3 == 0 ? SB_SEG_SUBSCRIBER : i % 3 == 1 ? SB_SEG_PUBLISHER : SB_SEG_ADMIN;

		tu_assert_rc(sb_seg_open_fd(seg.fd, seg.subs_fd, a, &other), SB_OK);
		assert_true(mappings_of(seg.path) > before);
		sb_seg_close(&other);
		if (mappings_of(seg.path) != before)
			fail_msg("open %d (access %d) + close left %u mappings of %s, had %u", i, (int)a,
				 mappings_of(seg.path), seg.path, before);
	}
	tu_seg_free(&seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segment_create_fields),
		cmocka_unit_test(test_segment_open_fd_roundtrip),
		cmocka_unit_test(test_segment_open_close_leaves_no_mapping),
		cmocka_unit_test(test_segment_open_path_roundtrip),
		cmocka_unit_test(test_segment_subscriber_protection),
		cmocka_unit_test(test_segment_refuses_bad_magic),
		cmocka_unit_test(test_segment_refuses_version_zero),
		cmocka_unit_test(test_segment_refuses_wrong_version),
		cmocka_unit_test(test_segment_refuses_checksum_mismatch),
		cmocka_unit_test(test_segment_refuses_bad_hdr_size),
		cmocka_unit_test(test_segment_refuses_data_size_not_pow2),
		cmocka_unit_test(test_segment_refuses_bad_page_size),
		cmocka_unit_test(test_segment_refuses_max_record_too_big),
		cmocka_unit_test(test_segment_refuses_bad_rec_align),
		cmocka_unit_test(test_segment_refuses_bad_slot_counts),
		cmocka_unit_test(test_segment_refuses_name_not_terminated),
		cmocka_unit_test(test_segment_refuses_bad_offsets),
		cmocka_unit_test(test_segment_refuses_size_mismatch),
		cmocka_unit_test(test_segment_refuses_bad_subscriber_file),
		cmocka_unit_test(test_segment_subscriber_fd_is_read_only),
		cmocka_unit_test(test_segment_create_replaces_leftover_subscriber_file),
		cmocka_unit_test(test_segment_refuses_truncated_file),
		cmocka_unit_test(test_segment_refuses_empty_file),
		cmocka_unit_test(test_segment_open_bad_arguments),
		cmocka_unit_test(test_segment_memsize),
		cmocka_unit_test(test_segment_create_invalid_params),
		cmocka_unit_test(test_segment_create_missing_dir),
		cmocka_unit_test(test_segment_create_twice_eexist),
		cmocka_unit_test(test_segment_close_unlink_idempotent),
		cmocka_unit_test(test_segment_no_hugepages_uses_dev_shm),
		cmocka_unit_test(test_segment_default_dir),
	};

	tu_capture_logs();
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
