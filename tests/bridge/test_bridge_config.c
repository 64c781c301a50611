/*
 * test_bridge_config.c - the bridge's INI keys (dpdk/bridge.c): what each
 * export/import key accepts, and that every refusal names the key, the
 * value or the rule.  Parsing only: no EAL.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "bridge.h"

static struct sbb_config cfg;
static char err[256];

static int key(const char *section, const char *k, const char *v)
{
	err[0] = '\0';
	return sbb_config_key(&cfg, section, k, v, err, sizeof(err));
}

static int setup(void **state)
{
	(void)state;
	sbb_config_defaults(&cfg);
	return 0;
}

static void test_config_receivers_listed(void **state)
{
	const struct sbb_export_cfg *e;

	(void)state;
	assert_int_equal(key("export md.x", "dest", "01:00:5e:00:00:01"), 0);
	assert_int_equal(key("export md.x", "receivers", "02:00:00:00:00:0b, 02:00:00:00:00:0c"), 0);
	assert_int_equal(cfg.n_exports, 1);
	e = &cfg.exports[0];
	assert_int_equal(e->n_receivers, 2);
	assert_int_equal(e->receivers[0][5], 0x0b);
	assert_int_equal(e->receivers[1][5], 0x0c);
	assert_int_equal(sbb_config_check(&cfg, err, sizeof(err)), 0);
	/* Given again, the list is replaced, not appended to. */
	assert_int_equal(key("export md.x", "receivers", "02:00:00:00:00:0d"), 0);
	assert_int_equal(e->n_receivers, 1);
	assert_int_equal(e->receivers[0][5], 0x0d);
}

static void test_config_receivers_refused(void **state)
{
	char many[256] = "";

	(void)state;
	assert_int_equal(key("export md.x", "dest", "01:00:5e:00:00:01"), 0);
	/* a group address, the zero MAC, not a MAC, nothing */
	assert_int_equal(key("export md.x", "receivers", "01:00:5e:00:00:02"), -1);
	assert_non_null(strstr(err, "receivers"));
	assert_int_equal(key("export md.x", "receivers", "00:00:00:00:00:00"), -1);
	assert_int_equal(key("export md.x", "receivers", "02:00:00:00:00:0b,zz"), -1);
	assert_non_null(strstr(err, "zz"));
	assert_int_equal(key("export md.x", "receivers", " , "), -1);
	/* more than SBB_MAX_RECEIVERS */
	for (unsigned i = 0; i <= SBB_MAX_RECEIVERS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s02:00:00:00:01:%02x", i ? "," : "", i);
	assert_int_equal(key("export md.x", "receivers", many), -1);
}

static void test_config_receivers_need_multicast_dest(void **state)
{
	(void)state;
	assert_int_equal(key("export md.x", "dest", "02:00:00:00:00:0b"), 0);
	assert_int_equal(key("export md.x", "receivers", "02:00:00:00:00:0b"), 0);
	assert_int_equal(sbb_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[export md.x]"));
	assert_non_null(strstr(err, "multicast"));
}

static void test_config_export_rules(void **state)
{
	(void)state;
	assert_int_equal(key("export md.x", "port", "0"), 0);
	assert_int_equal(sbb_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs dest"));
	assert_int_equal(key("export md.x", "colour", "blue"), -1);
	assert_non_null(strstr(err, "unknown key 'colour'"));
	assert_int_equal(key("export md.x", "dest", "02:00:00:00:00"), -1);
	assert_non_null(strstr(err, "bad value"));
	assert_int_equal(key("import md.x", "port", "0"), 0);
	assert_int_equal(key("export md.x", "dest", "02:00:00:00:00:0b"), 0);
	assert_int_equal(sbb_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "both exported and imported"));
}

/* ooo_max: 1..SBB_OOO_MAX, default SBB_OOO_MAX; anything else refused by name. */
static void test_config_ooo_max(void **state)
{
	(void)state;
	assert_int_equal(cfg.ooo_max, SBB_OOO_MAX);
	assert_int_equal(key("bridge", "ooo_max", "1"), 0);
	assert_int_equal(cfg.ooo_max, 1);
	assert_int_equal(key("bridge", "ooo_max", "256"), 0);
	assert_int_equal(cfg.ooo_max, SBB_OOO_MAX);
	assert_int_equal(key("bridge", "ooo_max", "64"), 0);
	assert_int_equal(cfg.ooo_max, 64);
	assert_int_equal(key("bridge", "ooo_max", "0"), -1);
	assert_non_null(strstr(err, "ooo_max"));
	assert_int_equal(key("bridge", "ooo_max", "257"), -1);
	assert_non_null(strstr(err, "257"));
	assert_int_equal(key("bridge", "ooo_max", "many"), -1);
	assert_int_equal(cfg.ooo_max, 64); /* refusals leave the value alone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_receivers_listed, setup),
		cmocka_unit_test_setup(test_config_receivers_refused, setup),
		cmocka_unit_test_setup(test_config_receivers_need_multicast_dest, setup),
		cmocka_unit_test_setup(test_config_export_rules, setup),
		cmocka_unit_test_setup(test_config_ooo_max, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
