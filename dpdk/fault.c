/*
 * fault.c - the bridge's seeded fault injector (see fault.h).
 *
 * Design note.  One xorshift64* generator per injector (per port and
 * direction), seeded from the configuration: the sequence of decisions is a
 * pure function of the seed and of the number of frames asked about, so a
 * failing run is replayed by its seed.  Each fault is drawn independently on
 * its own 64-bit output (a uniform value in 0..9999 by multiply-shift, which
 * has no modulo bias worth the name at this range), always in the same order
 * and always all four, so that changing one rate never shifts the stream of
 * the others.  A dropped frame is only dropped: the other bits are cleared.
 * Single-threaded per injector (the worker that owns the port).
 */
#include <string.h>

#include "fault.h"

#define SBB_FAULT_RATE_MAX 10000u

static uint64_t next(struct sbb_fault *f)
{
	uint64_t x = f->state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	f->state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform in 0 .. n-1 from the top 32 bits (the best ones of xorshift64*). */
static uint32_t below(struct sbb_fault *f, uint32_t n)
{
	return (uint32_t)(((next(f) >> 32) * (uint64_t)n) >> 32);
}

static bool draw(struct sbb_fault *f, uint32_t rate)
{
	/* Drawn even at rate 0 or 10000: the stream stays aligned (above). */
	return below(f, SBB_FAULT_RATE_MAX) < rate;
}

/* splitmix64 finaliser: spreads small seeds (1, 2, 42) over the state. */
static uint64_t mix(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void sbb_fault_init(struct sbb_fault *f, const struct sbb_fault_cfg *cfg)
{
	memset(f, 0, sizeof(*f));
	if (cfg)
		f->cfg = *cfg;
	f->state = mix(f->cfg.seed);
	if (f->state == 0) /* xorshift's one fixed point */
		f->state = UINT64_C(0x9e3779b97f4a7c15);
}

unsigned sbb_fault_decide(struct sbb_fault *f)
{
	unsigned a = SBB_FAULT_PASS;

	if (!sbb_fault_on(f))
		return SBB_FAULT_PASS;
	if (draw(f, f->cfg.drop))
		a |= SBB_FAULT_DROP;
	if (draw(f, f->cfg.dup))
		a |= SBB_FAULT_DUP;
	if (draw(f, f->cfg.reorder))
		a |= SBB_FAULT_HOLD;
	if (draw(f, f->cfg.corrupt))
		a |= SBB_FAULT_CORRUPT;
	if (a & SBB_FAULT_DROP) {
		f->drops++;
		return SBB_FAULT_DROP;
	}
	f->dups += !!(a & SBB_FAULT_DUP);
	f->holds += !!(a & SBB_FAULT_HOLD);
	f->corruptions += !!(a & SBB_FAULT_CORRUPT);
	return a;
}

void sbb_fault_corrupt(struct sbb_fault *f, uint8_t *frame, size_t len)
{
	const size_t eth = 14; /* never the Ethernet header: the frame must still reach us */
	uint64_t bits, pick[4];
	unsigned n, k = 0;

	if (!frame || len <= eth)
		return;
	bits = (uint64_t)(len - eth) * 8;
	n = 1 + below(f, 4);
	if (bits < n)
		n = (unsigned)bits;
	/* n distinct bit positions, so that no flip undoes another. */
	while (k < n) {
		uint64_t b = next(f) % bits; /* bias < bits / 2^64: nil */
		bool seen = false;

		for (unsigned i = 0; i < k; i++)
			seen |= pick[i] == b;
		if (seen)
			continue;
		pick[k++] = b;
		frame[eth + b / 8] ^= (uint8_t)(1u << (b % 8));
	}
}

/* One "key=value" value: decimal digits only, no sign, no overflow. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static bool blank(char c) { return c == ' ' || c == '\t'; }

/* [s, s + *n) without leading and trailing blanks. */
static const char *trim(const char *s, size_t *n)
{
	while (*n && blank(*s)) {
		s++;
		(*n)--;
	}
	while (*n && blank(s[*n - 1]))
		(*n)--;
	return s;
}

int sbb_fault_parse(const char *spec, struct sbb_fault_cfg *cfg)
{
	static const char *const keys[] = { "drop", "dup", "reorder", "corrupt", "seed" };
	struct sbb_fault_cfg c = { 0 };
	unsigned seen = 0;
	const char *p = spec;
	size_t all;

	if (!spec || !cfg)
		return -1;
	all = strlen(spec);
	trim(spec, &all);
	if (all == 0) {
		*cfg = c; /* "": off */
		return 0;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		const char *key, *val;
		size_t kn, vn;
		unsigned k;
		uint64_t v;

		if (!eq)
			return -1;
		kn = (size_t)(eq - p);
		vn = n - kn - 1;
		key = trim(p, &kn);
		val = trim(eq + 1, &vn);
		for (k = 0; k < 5; k++)
			if (kn == strlen(keys[k]) && memcmp(key, keys[k], kn) == 0)
				break;
		if (k == 5 || (seen & (1u << k)))
			return -1; /* unknown or repeated key */
		seen |= 1u << k;
		if (parse_u64(val, vn, k == 4 ? UINT64_MAX : SBB_FAULT_RATE_MAX, &v) != 0)
			return -1;
		switch (k) {
		case 0: c.drop = (uint32_t)v; break;
		case 1: c.dup = (uint32_t)v; break;
		case 2: c.reorder = (uint32_t)v; break;
		case 3: c.corrupt = (uint32_t)v; break;
		default: c.seed = v; break;
		}
		if (!end)
			break;
		p = end + 1; /* an empty item after a comma fails: no '=' */
	}
	*cfg = c;
	return 0;
}
