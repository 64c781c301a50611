/*
 * test_fault.c - the seeded fault injector (dpdk/fault.c): reproducible
 * decisions, the configured rates within statistical bounds, corruption that
 * never touches the Ethernet header, and the configuration parser.
 */
#include "test_util.h"

#include "fault.h"

static struct sbb_fault mk(uint32_t drop, uint32_t dup, uint32_t reorder, uint32_t corrupt, uint64_t seed)
{
	struct sbb_fault_cfg c = { .drop = drop, .dup = dup, .reorder = reorder, .corrupt = corrupt, .seed = seed };
	struct sbb_fault f;

	sbb_fault_init(&f, &c);
	return f;
}

static void test_fault_same_seed_same_decisions(void **state)
{
	struct sbb_fault a = mk(500, 500, 500, 500, 42), b = mk(500, 500, 500, 500, 42);
	struct sbb_fault c = mk(500, 500, 500, 500, 43);
	unsigned differ = 0;
	uint8_t fa[64], fb[64];

	(void)state;
	for (unsigned i = 0; i < 100000; i++) {
		unsigned da = sbb_fault_decide(&a), db = sbb_fault_decide(&b);

		assert_int_equal(da, db);
		differ += da != sbb_fault_decide(&c);
	}
	assert_true(differ > 1000); /* another seed, another stream */
	assert_true(a.drops == b.drops && a.dups == b.dups && a.holds == b.holds &&
		    a.corruptions == b.corruptions);
	/* Corruption is reproducible too. */
	memset(fa, 0, sizeof(fa));
	memset(fb, 0, sizeof(fb));
	for (unsigned i = 0; i < 100; i++) {
		sbb_fault_corrupt(&a, fa, sizeof(fa));
		sbb_fault_corrupt(&b, fb, sizeof(fb));
		assert_memory_equal(fa, fb, sizeof(fa));
	}
	/* Re-initialising restarts the stream. */
	{
		struct sbb_fault x = mk(500, 0, 0, 0, 7), y;
		unsigned seq[64];

		for (unsigned i = 0; i < 64; i++)
			seq[i] = sbb_fault_decide(&x);
		y = mk(500, 0, 0, 0, 7);
		for (unsigned i = 0; i < 64; i++)
			assert_int_equal(sbb_fault_decide(&y), seq[i]);
	}
}

static void test_fault_off_without_seed_or_rates(void **state)
{
	struct sbb_fault f = mk(10000, 10000, 10000, 10000, 0), z = mk(0, 0, 0, 0, 99);

	(void)state;
	assert_false(sbb_fault_on(&f));
	assert_true(sbb_fault_on(&z));
	for (unsigned i = 0; i < 100000; i++) {
		assert_int_equal(sbb_fault_decide(&f), SBB_FAULT_PASS);
		assert_int_equal(sbb_fault_decide(&z), SBB_FAULT_PASS);
	}
	assert_true(f.drops + f.dups + f.holds + f.corruptions == 0);
	assert_true(z.drops + z.dups + z.holds + z.corruptions == 0);
}

static void test_fault_rate_max_always(void **state)
{
	struct sbb_fault d = mk(10000, 10000, 10000, 10000, 5), o = mk(0, 10000, 10000, 10000, 5);

	(void)state;
	for (unsigned i = 0; i < 100000; i++) {
		assert_int_equal(sbb_fault_decide(&d), SBB_FAULT_DROP); /* drop excludes the others */
		assert_int_equal(sbb_fault_decide(&o), SBB_FAULT_DUP | SBB_FAULT_HOLD | SBB_FAULT_CORRUPT);
	}
	assert_true(d.drops == 100000 && d.dups == 0 && d.holds == 0 && d.corruptions == 0);
	assert_true(o.drops == 0 && o.dups == 100000 && o.holds == 100000 && o.corruptions == 100000);
	for (unsigned k = 0; k < 4; k++) {
		uint32_t r[4] = { 0, 0, 0, 0 };
		struct sbb_fault x;

		r[k] = 10000;
		x = mk(r[0], r[1], r[2], r[3], 1234);
		for (unsigned i = 0; i < 10000; i++)
			assert_int_equal(sbb_fault_decide(&x), 1u << k);
	}
}

/* Observed fraction within 6 standard deviations (and 0.3 points) of p;
 * compared squared, so no libm. */
static void assert_rate(uint64_t hits, uint64_t n, uint32_t rate)
{
	double p = rate / 10000.0, got = (double)hits / (double)n, d = got - p;
	double var = p * (1 - p) / (double)n;

	if (d * d > 36 * var + 1e-10 || d * d > 0.003 * 0.003)
		fail_msg("rate %u/10000: observed %.5f over %llu draws", rate, got, (unsigned long long)n);
}

static void test_fault_rates_within_bounds(void **state)
{
	static const uint32_t rates[][4] = {
		{ 500, 100, 100, 50 }, { 1, 9999, 5000, 2500 }, { 2000, 300, 10, 1000 },
	};
	const unsigned n = 1000000;

	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		const uint32_t *rt = rates[k];
		struct sbb_fault f = mk(rt[0], rt[1], rt[2], rt[3], 42 + k);
		uint64_t raw_dup = 0, undropped = 0;

		for (unsigned i = 0; i < n; i++) {
			unsigned a = sbb_fault_decide(&f);

			if (a & SBB_FAULT_DROP) {
				assert_int_equal(a, SBB_FAULT_DROP);
				continue;
			}
			undropped++;
			raw_dup += !!(a & SBB_FAULT_DUP);
		}
		assert_rate(f.drops, n, rt[0]);
		/* Among frames not dropped the others keep their own rates
		 * (independent draws). */
		assert_rate(f.dups, undropped, rt[1]);
		assert_rate(f.holds, undropped, rt[2]);
		assert_rate(f.corruptions, undropped, rt[3]);
		assert_true(raw_dup == f.dups);
		assert_true(f.drops + undropped == n);
	}
}

static void test_fault_corrupt_spares_ethernet_header(void **state)
{
	struct sbb_fault f = mk(0, 0, 0, 10000, 99);
	unsigned hist[5] = { 0 };
	uint64_t r = 3;

	(void)state;
	for (unsigned it = 0; it < 200000; it++) {
		size_t len = 15 + (size_t)(tu_rand(&r) % 1500);
		uint8_t a[1600], b[1600];
		unsigned flipped = 0;

		for (size_t i = 0; i < len; i++)
			a[i] = b[i] = (uint8_t)tu_rand(&r);
		sbb_fault_corrupt(&f, b, len);
		assert_memory_equal(a, b, 14);
		for (size_t i = 14; i < len; i++)
			flipped += (unsigned)__builtin_popcount(a[i] ^ b[i]);
		assert_true(flipped >= 1 && flipped <= 4);
		hist[flipped]++;
	}
	/* Each count of 1..4 occurs (roughly a quarter each). */
	for (unsigned k = 1; k <= 4; k++)
		assert_true(hist[k] > 40000);
	/* A frame with one byte past the header: 1..4 bits of it, never more. */
	for (unsigned it = 0; it < 10000; it++) {
		uint8_t x[15] = { 0 };

		sbb_fault_corrupt(&f, x, sizeof(x));
		for (unsigned i = 0; i < 14; i++)
			assert_int_equal(x[i], 0);
		assert_true(__builtin_popcount(x[14]) >= 1 && __builtin_popcount(x[14]) <= 4);
	}
}

static void test_fault_corrupt_leaves_short_frames(void **state)
{
	struct sbb_fault f = mk(0, 0, 0, 10000, 99);
	uint8_t x[14], y[14];

	(void)state;
	memset(x, 0x5a, sizeof(x));
	memcpy(y, x, sizeof(x));
	for (size_t len = 0; len <= 14; len++) {
		sbb_fault_corrupt(&f, x, len);
		assert_memory_equal(x, y, sizeof(x));
	}
	sbb_fault_corrupt(&f, NULL, 100);
}

static void test_fault_parse_accepts(void **state)
{
	struct sbb_fault_cfg c;

	(void)state;
	assert_int_equal(sbb_fault_parse("drop=500,dup=100,reorder=100,corrupt=50,seed=42", &c), 0);
	assert_true(c.drop == 500 && c.dup == 100 && c.reorder == 100 && c.corrupt == 50 && c.seed == 42);
	assert_int_equal(sbb_fault_parse("seed=7,corrupt=1,drop=10000", &c), 0);
	assert_true(c.drop == 10000 && c.dup == 0 && c.reorder == 0 && c.corrupt == 1 && c.seed == 7);
	assert_int_equal(sbb_fault_parse("seed=18446744073709551615", &c), 0);
	assert_true(c.seed == UINT64_MAX && c.drop == 0);
	assert_int_equal(sbb_fault_parse(" drop = 5 , seed=1 ", &c), 0); /* blanks around items */
	assert_true(c.drop == 5 && c.seed == 1);
	assert_int_equal(sbb_fault_parse("drop=0", &c), 0);
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(sbb_fault_parse("", &c), 0); /* off */
	assert_true(c.drop == 0 && c.dup == 0 && c.reorder == 0 && c.corrupt == 0 && c.seed == 0);
	assert_int_equal(sbb_fault_parse("  ", &c), 0);
	assert_true(c.seed == 0);
}

static void test_fault_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"drop",                     /* no value */
		"drop=",                    /* empty value */
		"=5",                       /* no key */
		"drop=10001",               /* rate above 10000 */
		"drop=-1",                  /* sign */
		"drop=+1",
		"drop=5x",                  /* garbage */
		"drop=0x10",
		"drop=1.5",
		"drop=5,",                  /* trailing comma */
		",drop=5",
		"drop=5,,seed=1",
		"drop=1,drop=2",            /* repeated key */
		"loss=5",                   /* unknown key */
		"Drop=5",                   /* keys are lower case */
		"dropp=5",
		"dro=5",
		"seed=18446744073709551616", /* overflow */
		"seed=99999999999999999999999",
		"drop=4294967796",          /* would wrap to 500 in 32 bits */
		"drop=5;seed=1",
		"drop=5 seed=1",
		"drop==5",
	};
	struct sbb_fault_cfg c;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (struct sbb_fault_cfg){ .drop = 1234, .seed = 99 };
		if (sbb_fault_parse(bad[i], &c) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_true(c.drop == 1234 && c.seed == 99); /* untouched on failure */
	}
	assert_int_equal(sbb_fault_parse(NULL, &c), -1);
	assert_int_equal(sbb_fault_parse("drop=1", NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_same_seed_same_decisions),
		cmocka_unit_test(test_fault_off_without_seed_or_rates),
		cmocka_unit_test(test_fault_rate_max_always),
		cmocka_unit_test(test_fault_rates_within_bounds),
		cmocka_unit_test(test_fault_corrupt_spares_ethernet_header),
		cmocka_unit_test(test_fault_parse_accepts),
		/* negative input */
		cmocka_unit_test(test_fault_corrupt_leaves_short_frames),
		cmocka_unit_test(test_fault_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
