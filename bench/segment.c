/*
 * segment.c - creating and removing the segments of one run.
 */
#include "segment.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sb_error.h"
#include "sb_segment.h"

static uint32_t rec_align; /* 0: the segment default */

void bench_seg_set_align(uint32_t align)
{
	rec_align = align;
}

uint32_t bench_seg_align(void)
{
	return rec_align;
}

int bench_seg_create(struct bench_seg *s, const char *tag, uint64_t ring_size, uint32_t max_record,
		     uint32_t max_subs)
{
	static unsigned serial;
	char name[SB_TOPIC_NAME_MAX];
	struct sb_seg_params p;
	struct sb_seg seg;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(name, sizeof(name), "sbbench-%ld-%u-%s", (long)getpid(), serial++, tag);
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.data_size = ring_size;
	p.max_record = max_record;
	p.max_subs = max_subs;
	p.max_pubs = 4;
	p.rec_align = rec_align;
	rc = sb_seg_create(&p, &seg);
	if (rc < 0) {
		fprintf(stderr, "shmbus-bench: create segment %s: %s: %s\n", name, sb_strerror(rc), sb_last_error());
		return -1;
	}
	snprintf(s->path, sizeof(s->path), "%s", seg.path);
	s->hugetlb = (seg.hdr->flags & SB_SEG_F_HUGETLB) != 0;
	s->data_size = seg.data_size;
	sb_seg_close(&seg);
	return 0;
}

void bench_seg_remove(struct bench_seg *s)
{
	char subs[sizeof(s->path) + 8];

	if (s->path[0]) {
		unlink(s->path);
		if (sb_seg_subs_path(subs, sizeof(subs), s->path))
			unlink(subs); /* both files: leave no hugepage behind */
	}
	s->path[0] = '\0';
}
