/*
 * payload.h - how every scenario writes and reads message bytes
 * (internal header).
 *
 * The physical-limit baseline and the ring scenarios use these same two
 * functions, so that a comparison at N bytes moves and touches the same
 * bytes with the same instructions on both sides: the writer stores a
 * 64-bit sequence number in the first 8 bytes and fills the rest; the
 * reader loads every byte (a sum the compiler cannot drop, because it ends
 * up in the scenario's results) and returns the sequence number.
 */
#ifndef BENCH_PAYLOAD_H
#define BENCH_PAYLOAD_H

#include <stdint.h>
#include <string.h>

static inline void payload_write(void *p, uint32_t len, uint64_t seq)
{
	unsigned char *b = p;

	if (len == 64) {
		/* The common market-data size, with constant lengths so that the
		 * compiler emits a few vector stores instead of a memset call. */
		memcpy(b, &seq, 8);
		memset(b + 8, (int)(seq & 0xff), 56);
	} else if (len >= 8) {
		memcpy(b, &seq, 8);
		memset(b + 8, (int)(seq & 0xff), len - 8);
	} else {
		memset(b, (int)(seq & 0xff), len);
	}
}

/* Sum of all bytes read as 64-bit words (tail bytes added singly); *seq
 * gets the first 8 bytes (0 if len < 8). */
static inline uint64_t payload_read(const void *p, uint32_t len, uint64_t *seq)
{
	const unsigned char *b = p;
	uint64_t sum = 0, w;
	uint32_t i = 0;

	if (len == 64) { /* constant trip count: unrolled, as payload_write */
		for (; i < 64; i += 8) {
			memcpy(&w, b + i, 8);
			sum += w;
		}
	}
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, b + i, 8);
		sum += w;
	}
	for (; i < len; i++)
		sum += b[i];
	*seq = 0;
	if (len >= 8)
		memcpy(seq, b, 8);
	return sum;
}

/* What a waiting side does between two polls: the same in every scenario. */
static inline void payload_spin_hint(void)
{
	__builtin_ia32_pause();
}

#endif /* BENCH_PAYLOAD_H */
