/*
 * config.c - shmbusd's configuration: built-in defaults, then an INI file
 * (libinih), then command-line overrides (main.c).
 *
 *   [daemon]   socket, dir, socket_mode, segment_mode, grace_ms,
 *              hello_timeout_ms, max_clients, max_topics, orphan_grace_ms,
 *              hugepages, auto_create
 *   [defaults] ring_size, max_msg, msg_align, numa_node, mode, grace_ms
 *   [topic N]  ring_size, max_msg, msg_align, numa_node, mode, uid, gid,
 *              allow_uids, allow_gids   (lists: comma or space separated)
 *   [bridge], [export N], [import N]
 *              the DPDK bridge (keys parsed by dpdk/bridge.c, documented in
 *              docs/operations.md §7); a config error in a shmbusd built
 *              without DPDK
 *
 * Every value is range-checked here; an unknown section or key is an error
 * naming file and line (libinih as packaged by Debian calls the handler
 * without a line number and returns the first failing line itself), so a typo never silently falls back to a default.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sb_error.h"
#include "sbd.h"

void sbd_config_defaults(struct sbd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
#ifdef SB_HAVE_BRIDGE
	sbb_config_defaults(&cfg->bridge);
#endif
	sbp_default_socket_path(cfg->socket_path, sizeof(cfg->socket_path));
	cfg->socket_mode = 0660;
	cfg->segment_mode = 0600;
	cfg->grace_ms = 1000;
	cfg->hello_timeout_ms = 5000;
	cfg->max_clients = 1024;
	cfg->max_topics = 4096;
	cfg->orphan_grace_ms = 5000;
	cfg->auto_create = true;
	cfg->defaults.ring_size = 1u << 20;
	cfg->defaults.max_msg = 4096;
	cfg->defaults.msg_align = 8;
	cfg->defaults.numa_node = -1;
	cfg->defaults.mode = 0660;
}

struct parse_ctx {
	struct sbd_config *cfg;
	char err[200];
};

static bool parse_u64(const char *v, int base, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!v || *v == '\0' || *v == '-')
		return false;
	errno = 0;
	x = strtoull(v, &end, base);
	if (errno || *end != '\0' || x > max)
		return false;
	*out = x;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
		*out = false;
	else
		return false;
	return true;
}

static bool parse_list(const char *v, uint32_t *out, unsigned *n)
{
	char buf[512], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", v);
	*n = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t x;

		if (*n == SBD_MAX_ALLOW || !parse_u64(tok, 10, UINT32_MAX - 1, &x))
			return false;
		out[(*n)++] = (uint32_t)x;
	}
	return true;
}

/* Keys a topic (or [defaults]) may carry.  Returns 1 handled, 0 unknown key,
 * -1 bad value. */
static int topic_key(struct sbd_topic_cfg *t, const char *key, const char *v, bool is_defaults)
{
	uint64_t x;

	if (!strcmp(key, "ring_size")) {
		if (!parse_u64(v, 0, SB_MAX_DATA_SIZE, &x) || x < SB_MIN_DATA_SIZE)
			return -1;
		t->ring_size = x;
	} else if (!strcmp(key, "max_msg")) {
		if (!parse_u64(v, 0, UINT32_MAX, &x) || x == 0)
			return -1;
		t->max_msg = (uint32_t)x;
	} else if (!strcmp(key, "msg_align")) {
		if (!parse_u64(v, 0, SB_REC_ALIGN_MAX, &x) || x < SB_REC_ALIGN || (x & (x - 1)))
			return -1;
		t->msg_align = (uint32_t)x;
	} else if (!strcmp(key, "numa_node")) {
		if (!strcmp(v, "-1")) {
			t->numa_node = -1;
		} else {
			if (!parse_u64(v, 10, 1023, &x))
				return -1;
			t->numa_node = (int)x;
		}
	} else if (!strcmp(key, "mode")) {
		if (!parse_u64(v, 8, 0777, &x))
			return -1;
		t->mode = (uint32_t)x;
	} else if (!is_defaults && !strcmp(key, "uid")) {
		if (!parse_u64(v, 10, UINT32_MAX - 1, &x))
			return -1;
		t->uid = (uint32_t)x;
		t->uid_set = true;
	} else if (!is_defaults && !strcmp(key, "gid")) {
		if (!parse_u64(v, 10, UINT32_MAX - 1, &x))
			return -1;
		t->gid = (uint32_t)x;
		t->gid_set = true;
	} else if (!is_defaults && !strcmp(key, "allow_uids")) {
		if (!parse_list(v, t->allow_uids, &t->n_allow_uids))
			return -1;
	} else if (!is_defaults && !strcmp(key, "allow_gids")) {
		if (!parse_list(v, t->allow_gids, &t->n_allow_gids))
			return -1;
	} else {
		return 0;
	}
	return 1;
}

static int daemon_key(struct sbd_config *cfg, const char *key, const char *v)
{
	uint64_t x;

	if (!strcmp(key, "socket")) {
		if (strlen(v) == 0 || strlen(v) >= sizeof(cfg->socket_path))
			return -1;
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", v);
	} else if (!strcmp(key, "dir")) {
		if (strlen(v) == 0 || strlen(v) >= sizeof(cfg->dir))
			return -1;
		snprintf(cfg->dir, sizeof(cfg->dir), "%s", v);
	} else if (!strcmp(key, "socket_mode")) {
		if (!parse_u64(v, 8, 0777, &x))
			return -1;
		cfg->socket_mode = (uint32_t)x;
	} else if (!strcmp(key, "segment_mode")) {
		if (!parse_u64(v, 8, 0777, &x))
			return -1;
		cfg->segment_mode = (uint32_t)x;
	} else if (!strcmp(key, "grace_ms")) {
		if (!parse_u64(v, 10, 3600000, &x))
			return -1;
		cfg->grace_ms = (uint32_t)x;
	} else if (!strcmp(key, "hello_timeout_ms")) {
		if (!parse_u64(v, 10, 3600000, &x) || x == 0)
			return -1;
		cfg->hello_timeout_ms = (uint32_t)x;
	} else if (!strcmp(key, "max_clients")) {
		if (!parse_u64(v, 10, 65536, &x) || x == 0)
			return -1;
		cfg->max_clients = (uint32_t)x;
	} else if (!strcmp(key, "orphan_grace_ms")) {
		if (!parse_u64(v, 10, 3600000, &x))
			return -1;
		cfg->orphan_grace_ms = (uint32_t)x;
	} else if (!strcmp(key, "max_topics")) {
		if (!parse_u64(v, 10, 1000000, &x) || x == 0)
			return -1;
		cfg->max_topics = (uint32_t)x;
	} else if (!strcmp(key, "hugepages")) {
		bool b;

		if (!parse_bool(v, &b))
			return -1;
		cfg->no_hugepages = !b;
	} else if (!strcmp(key, "auto_create")) {
		if (!parse_bool(v, &cfg->auto_create))
			return -1;
	} else {
		return 0;
	}
	return 1;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *pc = user;
	struct sbd_config *cfg = pc->cfg;
	int rc;

	if (!strcmp(section, "daemon")) {
		rc = daemon_key(cfg, key, value);
	} else if (!strcmp(section, "defaults")) {
		rc = !strcmp(key, "grace_ms") ? daemon_key(cfg, key, value)
					     : topic_key(&cfg->defaults, key, value, true);
	} else if (!strncmp(section, "topic ", 6)) {
		const char *name = section + 6;
		struct sbd_topic_cfg *t = NULL;

		while (*name == ' ')
			name++;
		if (!sbd_topic_name_ok(name)) {
			snprintf(pc->err, sizeof(pc->err), "bad topic name in [%s]", section);
			return 0;
		}
		for (unsigned i = 0; i < cfg->n_topics; i++)
			if (!strcmp(cfg->topics[i].name, name))
				t = &cfg->topics[i];
		if (!t) {
			struct sbd_topic_cfg *nt = realloc(cfg->topics, (cfg->n_topics + 1) * sizeof(*nt));

			if (!nt) {
				snprintf(pc->err, sizeof(pc->err), "out of memory");
				return 0;
			}
			cfg->topics = nt;
			t = &cfg->topics[cfg->n_topics++];
			/* Topic sections inherit [defaults] as read so far. */
			*t = cfg->defaults;
			snprintf(t->name, sizeof(t->name), "%s", name);
		}
		rc = topic_key(t, key, value, false);
	} else if (!strcmp(section, "bridge") || !strncmp(section, "export ", 7) || !strncmp(section, "import ", 7)) {
#ifdef SB_HAVE_BRIDGE
		const char *name = section + 7;

		while (*name == ' ')
			name++;
		if (strcmp(section, "bridge") != 0 && !sbd_topic_name_ok(name)) {
			snprintf(pc->err, sizeof(pc->err), "bad topic name in [%s]", section);
			return 0;
		}
		return sbb_config_key(&cfg->bridge, section, key, value, pc->err, sizeof(pc->err)) == 0;
#else
		(void)key;
		snprintf(pc->err, sizeof(pc->err), "[%s]: bridge not built into this shmbusd (DPDK was not found at build time)",
			 section);
		return 0;
#endif
	} else {
		snprintf(pc->err, sizeof(pc->err), "unknown section [%s]", section);
		return 0;
	}
	if (rc == 0)
		snprintf(pc->err, sizeof(pc->err), "unknown key '%s' in [%s]", key, section);
	else if (rc < 0)
		snprintf(pc->err, sizeof(pc->err), "bad value '%s' for '%s'", value, key);
	return rc > 0;
}

int sbd_config_load(struct sbd_config *cfg, const char *path)
{
	struct parse_ctx pc = { .cfg = cfg };
	FILE *f = fopen(path, "re");
	int rc;

	if (!f)
		return sbi_error(errno == ENOENT ? SB_ENOENT : SB_EIO, "config %s: %s", path, strerror(errno));
	rc = ini_parse_file(f, on_entry, &pc);
	fclose(f);
	if (rc != 0) {
		/* libinih returns the line of the first error, or -1 (I/O). */
		return sbi_error(SB_EINVAL, "config %s:%d: %s", path, rc, pc.err[0] ? pc.err : "syntax error");
	}
#ifdef SB_HAVE_BRIDGE
	/* Rules across sections (an export's dest, ...): no single line to name. */
	if (sbb_config_check(&cfg->bridge, pc.err, sizeof(pc.err)) != 0)
		return sbi_error(SB_EINVAL, "config %s: %s", path, pc.err);
#endif
	return SB_OK;
}

const struct sbd_topic_cfg *sbd_config_topic(const struct sbd_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_topics; i++)
		if (!strcmp(cfg->topics[i].name, name))
			return &cfg->topics[i];
	return NULL;
}

void sbd_config_free(struct sbd_config *cfg)
{
	free(cfg->topics);
	cfg->topics = NULL;
	cfg->n_topics = 0;
}
