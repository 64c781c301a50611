/*
 * test_backoff.c - the adaptive idle back-off (shm/sb_backoff.h).
 *
 * The budget rule is checked as a pure function over synthetic yield and
 * switch counts.  The kernel side is checked for real where it can be
 * decided without timing: with a second process pinned to our core that
 * never stops yielding, our yields must switch to it, so the back-off must
 * find the core shared and drop to one spin per yield.  (The opposite,
 * "alone on the core", cannot be arranged on a test machine where other
 * tests run in parallel, so it is covered by the rule alone.)
 */
#include "test_util.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sb_backoff.h"

static void test_backoff_init(void **state)
{
	struct sb_backoff b;

	(void)state;
	sb_backoff_init(&b, 64);
	assert_int_equal(b.max_spins, 64);
	assert_int_equal(b.budget, 64); /* assumed alone until shown otherwise */
	assert_int_equal(b.empty, 0);
	sb_backoff_init(&b, 0);
	assert_int_equal(b.max_spins, 1);
	assert_int_equal(b.budget, 1);
}

static void test_backoff_rule_shared_drops_to_one(void **state)
{
	struct sb_backoff b;

	(void)state;
	sb_backoff_init(&b, 64);
	assert_int_equal(sb_backoff_next_budget(&b, 32, 32), 1);
	assert_int_equal(sb_backoff_next_budget(&b, 32, 16), 1); /* half is shared */
	assert_int_equal(sb_backoff_next_budget(&b, 32, 400), 1); /* tick preemptions too */
	b.budget = 1;
	assert_int_equal(sb_backoff_next_budget(&b, 32, 31), 1);
}

static void test_backoff_rule_alone_doubles_to_ceiling(void **state)
{
	struct sb_backoff b;
	uint32_t want[] = { 2, 4, 8, 16, 32, 64, 64, 64 };

	(void)state;
	sb_backoff_init(&b, 64);
	b.budget = 1;
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		b.budget = sb_backoff_next_budget(&b, 32, 15); /* under half switched */
		assert_int_equal(b.budget, want[i]);
	}
	/* A ceiling that is not a power of two is reached, not overshot. */
	sb_backoff_init(&b, 100);
	b.budget = 1;
	for (unsigned i = 0; i < 10; i++)
		b.budget = sb_backoff_next_budget(&b, 32, 0);
	assert_int_equal(b.budget, 100);
	/* No yields in the sample says nothing: not shared. */
	b.budget = 8;
	assert_int_equal(sb_backoff_next_budget(&b, 0, 0), 16);
}

static void test_backoff_work_resets_the_spin_count(void **state)
{
	struct sb_backoff b;

	(void)state;
	sb_backoff_init(&b, 64);
	for (unsigned i = 0; i < 10; i++)
		sb_backoff_idle(&b);
	assert_int_equal(b.empty, 10);
	assert_int_equal(b.yields, 0); /* 10 < 64: no yield yet */
	sb_backoff_work(&b);
	assert_int_equal(b.empty, 0);
	for (unsigned i = 0; i < 64; i++)
		sb_backoff_idle(&b);
	assert_int_equal(b.yields, 1);
	assert_int_equal(b.empty, 0);
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void test_backoff_finds_a_shared_core(void **state)
{
	int cpu = sched_getcpu(), ready[2];
	struct sb_backoff b;
	pid_t child;
	char c;

	(void)state;
	if (cpu < 0 || pin_to(cpu) != 0)
		skip();
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* Always runnable on our core: every yield of ours can go to it. */
		if (pin_to(cpu) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		for (;;)
			sched_yield();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	sb_backoff_init(&b, 64);
	/* Enough empty polls for four samples at any budget. */
	while (b.samples < 4)
		sb_backoff_idle(&b);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(b.budget, 1);
	assert_true(b.shared >= 3); /* the first sample may straddle the start */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_init),
		cmocka_unit_test(test_backoff_rule_shared_drops_to_one),
		cmocka_unit_test(test_backoff_rule_alone_doubles_to_ceiling),
		cmocka_unit_test(test_backoff_work_resets_the_spin_count),
		cmocka_unit_test(test_backoff_finds_a_shared_core),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
