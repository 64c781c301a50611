/*
 * hello.c - the example program of docs/api.md: connect to shmbusd, open a
 * publisher and a subscriber on one topic, send ten messages zero-copy,
 * receive them, print them.
 *
 *   shmbusd &                 # or: shmbusd --socket /tmp/sb.sock &
 *   shmbus-hello [SOCKET]     # SOCKET defaults to $SHMBUS_SOCKET, then
 *                             # the daemon's default path
 *
 * Exits 0 when every message arrived intact and in order.
 */
#include <stdio.h>
#include <string.h>

#include <shmbus/shmbus.h>

struct seen {
	unsigned count;
	int bad;
};

static void on_msg(void *ctx, const struct sb_msg *m)
{
	struct seen *s = ctx;
	char want[32];

	snprintf(want, sizeof(want), "hello %u", s->count);
	if (m->len != strlen(want) + 1 || memcmp(m->data, want, m->len) != 0 || m->lost != 0)
		s->bad = 1;
	printf("seq %llu: %s\n", (unsigned long long)m->seq, (const char *)m->data);
	s->count++;
}

int main(int argc, char **argv)
{
	struct sb_client_opts copts = { .socket_path = argc > 1 ? argv[1] : NULL, .name = "hello" };
	struct sb_sub_opts sopts = { .mode = SB_TETHERED, .start = SB_FROM_LATEST, .wait = SB_BLOCKING };
	struct seen seen = { 0, 0 };
	sb_client_t *c;
	sb_pub_t *pub;
	sb_sub_t *sub;

	c = sb_connect(&copts);
	if (!c) {
		fprintf(stderr, "connect: %s\n", sb_last_error());
		return 1;
	}
	/* Subscribe first: a FROM_LATEST subscriber sees what is published
	 * after it opened. */
	sub = sb_sub_open(c, "example.hello", &sopts);
	pub = sub ? sb_pub_open(c, "example.hello", NULL) : NULL;
	if (!pub) {
		fprintf(stderr, "open: %s\n", sb_last_error());
		sb_disconnect(c);
		return 1;
	}
	for (unsigned i = 0; i < 10; i++) {
		void *buf;
		int n = snprintf(NULL, 0, "hello %u", i) + 1;
		int rc;

		/* Zero copy: claim space in the ring, write in place, commit. */
		while ((rc = sb_pub_claim(pub, (uint32_t)n, &buf)) == SB_EBACKPRESSURE)
			sb_sub_poll(sub, on_msg, &seen, 32); /* we are the slow reader */
		if (rc < 0) {
			fprintf(stderr, "claim: %s\n", sb_strerror(rc));
			break;
		}
		snprintf(buf, (size_t)n, "hello %u", i);
		sb_pub_commit(pub);
	}
	while (seen.count < 10 && !seen.bad) {
		if (sb_sub_wait(sub, 5000000000ull) == SB_ETIMEDOUT) /* 5 s */
			break;
		if (sb_sub_poll(sub, on_msg, &seen, 32) < 0)
			seen.bad = 1;
	}
	sb_disconnect(c); /* closes pub and sub too */
	return seen.count == 10 && !seen.bad ? 0 : 1;
}
