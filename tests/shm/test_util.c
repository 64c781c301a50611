/*
 * test_util.c - helpers shared by the shm/ test suites.
 */
#include "test_util.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir_path[64];
static pid_t dir_owner;
static atomic_uint name_counter;

static _Atomic unsigned log_counts[SB_LOG_ERR + 1];
static char log_last[512];

/* Remove a directory and everything below it. */
static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d)) != NULL) {
			char p[512];

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
			if (unlink(p) != 0 && errno == EISDIR)
				remove_tree(p);
		}
		closedir(d);
	}
	rmdir(path);
}

static void remove_dir(void)
{
	/* Forked children exit with _exit; this guard covers any that don't. */
	if (dir_path[0] == '\0' || getpid() != dir_owner)
		return;
	remove_tree(dir_path);
	dir_path[0] = '\0';
}

static bool owner_gone(int pid)
{
	return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* A test that died (a sanitizer's halt, a timeout) never ran its atexit
 * handler or its own clean-up: remove what it left in /dev/shm (its
 * directory, "sbtest-<pid>-...") and in the default directories (segments
 * named by tu_name, "sbt-<tag>-<pid>-<n>").  The owner's pid is in every
 * name, and a live process, whatever it is, keeps its files. */
static void sweep_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[512];
		int pid = 0;

		if (sscanf(e->d_name, "sbtest-%d-", &pid) != 1 &&
		    sscanf(e->d_name, "sbt-%*[^-]-%d-", &pid) != 1)
			continue;
		if (!owner_gone(pid))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) != 0 && errno == EISDIR)
			remove_tree(p);
	}
	closedir(d);
}

static void sweep_stale(void)
{
	sweep_dir("/dev/shm");
	sweep_dir(sb_seg_default_dir(NULL));
}

const char *tu_dir(void)
{
	if (dir_path[0] == '\0') {
		sweep_stale();
		snprintf(dir_path, sizeof(dir_path), "/dev/shm/sbtest-%d-XXXXXX", (int)getpid());
		if (mkdtemp(dir_path) == NULL) {
			fprintf(stderr, "mkdtemp under /dev/shm: %s\n", strerror(errno));
			exit(TU_EXIT_SKIP);
		}
		dir_owner = getpid();
		atexit(remove_dir);
	}
	return dir_path;
}

void tu_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "sbt-%s-%d-%u", tag, (int)getpid(), atomic_fetch_add(&name_counter, 1));
}

void tu_params(struct sb_seg_params *p, char *name_buf, size_t name_len, uint64_t data_size,
	       uint32_t max_record)
{
	tu_name(name_buf, name_len, "seg");
	memset(p, 0, sizeof(*p));
	p->name = name_buf;
	p->data_size = data_size;
	p->max_record = max_record;
	p->max_subs = 8;
	p->max_pubs = 8;
	p->dir = tu_dir();
}

void tu_seg_new_ex(struct sb_seg *seg, uint64_t data_size, uint32_t max_record, uint32_t max_subs,
		   uint32_t max_pubs, uint32_t rec_align)
{
	struct sb_seg_params p;
	char name[SB_TOPIC_NAME_MAX];

	tu_params(&p, name, sizeof(name), data_size, max_record);
	p.max_subs = max_subs;
	p.max_pubs = max_pubs;
	p.rec_align = rec_align;
	tu_assert_rc(sb_seg_create(&p, seg), SB_OK);
	assert_int_equal(seg->data_size, data_size);
	assert_int_equal(seg->rec_align, rec_align ? rec_align : SB_REC_ALIGN);
}

void tu_seg_new(struct sb_seg *seg, uint64_t data_size, uint32_t max_record)
{
	tu_seg_new_ex(seg, data_size, max_record, 8, 8, 0);
}

void tu_seg_free(struct sb_seg *seg)
{
	if (seg->path[0] != '\0')
		sb_seg_unlink(seg);
	sb_seg_close(seg);
}

static void capture_sink(enum sb_log_level level, const char *line)
{
	if ((unsigned)level <= SB_LOG_ERR)
		atomic_fetch_add(&log_counts[level], 1);
	snprintf(log_last, sizeof(log_last), "%s", line);
}

void tu_capture_logs(void)
{
	sb_log_set_sink(capture_sink);
}

unsigned tu_log_count(enum sb_log_level level)
{
	return atomic_load(&log_counts[level]);
}

const char *tu_log_last(void)
{
	return log_last;
}

void tu_fill(void *buf, uint32_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed ^ UINT64_C(0x5bd1e9955bd1e995);

	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t r = tu_rand(&s);
		uint32_t n = len - i < 8 ? len - i : 8;

		memcpy(p + i, &r, n);
	}
}

void tu_send_rec(struct sb_ring_pub *pub, uint32_t len, uint64_t seed)
{
	void *p = NULL;

	tu_assert_rc(sb_ring_claim(pub, len, &p), SB_OK);
	tu_fill(p, len, seed);
	tu_assert_rc(sb_ring_commit(pub), SB_OK);
}

void tu_expect_rec(struct sb_ring_sub *sub, uint32_t len, uint64_t seq, uint64_t lost, uint64_t seed)
{
	struct sb_ring_view v;

	tu_assert_rc(sb_ring_peek(sub, &v), SB_OK);
	assert_int_equal(v.len, len);
	assert_int_equal(v.seq, seq);
	assert_int_equal(v.lost, lost);
	assert_true(tu_check(v.data, len, seed));
	tu_assert_rc(sb_ring_consume(sub), SB_OK);
}

bool tu_check(const void *buf, uint32_t len, uint64_t seed)
{
	const uint8_t *p = buf;
	uint64_t s = seed ^ UINT64_C(0x5bd1e9955bd1e995);

	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t r = tu_rand(&s);
		uint32_t n = len - i < 8 ? len - i : 8;

		if (memcmp(p + i, &r, n) != 0)
			return false;
	}
	return true;
}

uint64_t tu_hash(const void *buf, size_t len, uint64_t h)
{
	const uint8_t *p = buf;
	size_t i = 0;

	h ^= UINT64_C(0xcbf29ce484222325) + len;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * UINT64_C(0x100000001b3);
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h ^ (h >> 32);
}

uint64_t tu_stress_records(int argc, char **argv, uint64_t dflt)
{
	const char *s = argc > 1 ? argv[1] : getenv("SB_STRESS_RECORDS");
	char *end;
	unsigned long long v;

	if (!s || *s == '\0')
		return dflt;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v == 0) {
		fprintf(stderr, "bad record count \"%s\"\n", s);
		exit(2);
	}
	return v;
}
