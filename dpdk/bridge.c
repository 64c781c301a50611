/*
 * bridge.c - the bridge as shmbusd sees it: configuration keys, start-up
 * (EAL, ports, engines, workers), counters, shutdown.
 *
 * Design notes:
 * - Signals: shmbusd takes SIGTERM/SIGINT through a signalfd, which works
 *   only while every thread blocks them (a thread with them unblocked would
 *   take the default action and kill the daemon).  EAL's threads (workers,
 *   interrupt thread) inherit the creating thread's mask, so start blocks
 *   them again here, before rte_eal_init(), whatever the caller did.
 * - Start-up is all or nothing: any failure unwinds what was set up
 *   (ports, engines, EAL) and returns the code, with the detail in
 *   sb_last_error().  The one failure that is not fatal is an importer
 *   whose ring still has another exclusive publisher (SB_EBUSY: a previous
 *   daemon's importer not cleaned up yet); its worker retries it.
 * - Ports are dealt to workers round-robin in port order; each topic
 *   direction goes to the worker of its port.  A worker without a port is
 *   not launched (its lcore idles in EAL's wait loop).
 * - Shutdown order matters for zero copy: workers stop first
 *   (rte_eal_wait_lcore orders their last writes before ours), then held
 *   frames and the ports' in-flight mbufs are freed (their free callbacks
 *   call sbb_sender_tx_done on senders that must still exist), then the
 *   engines are finalised (slots released), then the external memory is
 *   unregistered and EAL cleaned up.
 */
/* rte_dev_dma_map/unmap are still "experimental" in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API 1

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "bridge.h"
#include "port.h"
#include "sb_error.h"
#include "sb_log.h"
#include "worker.h"

#define MAX_EAL_ARGS 64

/* ------------------------------------------------------------ config */

void sbb_config_defaults(struct sbb_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mtu = 1500;
	c->ooo_max = SBB_OOO_MAX;
	c->heartbeat_ns = 1000000;
	c->nak_interval_ns = 500000;
	c->status_interval_ns = 1000000;
	c->receiver_timeout_ns = 2000000000;
	c->idle = SBB_IDLE_SPIN;
}

static bool parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!v || *v == '\0' || *v == '-')
		return false;
	errno = 0;
	x = strtoull(v, &end, 10);
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

/* "aa:bb:cc:dd:ee:ff", exactly. */
static bool parse_mac(const char *v, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (strlen(v) != 17 ||
	    sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (v[i * 3] == ' ' || v[i * 3 + 1] == ' ' || (i < 5 && v[i * 3 + 2] != ':'))
			return false;
		mac[i] = (uint8_t)b[i];
	}
	return true;
}

static bool mac_zero(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) == 0;
}

static bool parse_lcores(const char *v, struct sbb_config *c)
{
	char buf[256], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", v);
	c->n_workers = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t x;

		if (c->n_workers == SBB_MAX_WORKERS || !parse_u64(tok, RTE_MAX_LCORE - 1, &x))
			return false;
		for (unsigned i = 0; i < c->n_workers; i++)
			if (c->worker_lcores[i] == x)
				return false;
		c->worker_lcores[c->n_workers++] = (uint16_t)x;
	}
	return c->n_workers > 0;
}

static int bridge_key(struct sbb_config *c, const char *key, const char *v)
{
	uint64_t x;

	if (!strcmp(key, "eal")) {
		if (strlen(v) >= sizeof(c->eal_args))
			return -1;
		snprintf(c->eal_args, sizeof(c->eal_args), "%s", v);
	} else if (!strcmp(key, "workers")) {
		if (!parse_lcores(v, c))
			return -1;
	} else if (!strcmp(key, "mtu")) {
		if (!parse_u64(v, SBW_MAX_FRAME - SBW_ETH_HLEN, &x) || x < SBW_MIN_MTU)
			return -1;
		c->mtu = (uint32_t)x;
	} else if (!strcmp(key, "ooo_max")) {
		if (!parse_u64(v, SBB_OOO_MAX, &x) || x == 0)
			return -1;
		c->ooo_max = (uint32_t)x;
	} else if (!strcmp(key, "window")) {
		if (!parse_u64(v, UINT64_MAX / 2, &x) || (x != 0 && x < 65536))
			return -1;
		c->window = x;
	} else if (!strcmp(key, "heartbeat_us")) {
		if (!parse_u64(v, 10000000, &x) || x == 0)
			return -1;
		c->heartbeat_ns = x * 1000;
	} else if (!strcmp(key, "nak_us")) {
		if (!parse_u64(v, 10000000, &x) || x == 0)
			return -1;
		c->nak_interval_ns = x * 1000;
	} else if (!strcmp(key, "status_us")) {
		if (!parse_u64(v, 10000000, &x) || x == 0)
			return -1;
		c->status_interval_ns = x * 1000;
	} else if (!strcmp(key, "receiver_timeout_ms")) {
		if (!parse_u64(v, 3600000, &x) || x == 0)
			return -1;
		c->receiver_timeout_ns = x * 1000000;
	} else if (!strcmp(key, "idle")) {
		if (!strcmp(v, "spin"))
			c->idle = SBB_IDLE_SPIN;
		else if (!strcmp(v, "yield"))
			c->idle = SBB_IDLE_YIELD;
		else if (!strcmp(v, "sleep"))
			c->idle = SBB_IDLE_SLEEP;
		else
			return -1;
	} else if (!strcmp(key, "tx_fault")) {
		if (sbb_fault_parse(v, &c->tx_fault) != 0)
			return -1;
	} else if (!strcmp(key, "rx_fault")) {
		if (sbb_fault_parse(v, &c->rx_fault) != 0)
			return -1;
	} else {
		return 0;
	}
	return 1;
}

static int export_key(struct sbb_export_cfg *e, const char *key, const char *v)
{
	uint64_t x;

	if (!strcmp(key, "port")) {
		if (!parse_u64(v, RTE_MAX_ETHPORTS - 1, &x))
			return -1;
		e->port = (uint16_t)x;
	} else if (!strcmp(key, "dest")) {
		if (!parse_mac(v, e->dst_mac) || mac_zero(e->dst_mac))
			return -1;
	} else if (!strcmp(key, "receivers")) {
		/* MAC[,MAC...]: unicast, non-zero, at most SBB_MAX_RECEIVERS. */
		char buf[256], *save = NULL;

		if (strlen(v) >= sizeof(buf))
			return -1;
		snprintf(buf, sizeof(buf), "%s", v);
		e->n_receivers = 0;
		for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			uint8_t *m;

			if (e->n_receivers == SBB_MAX_RECEIVERS)
				return -1;
			m = e->receivers[e->n_receivers];
			if (!parse_mac(t, m) || mac_zero(m) || (m[0] & 1))
				return -1;
			e->n_receivers++;
		}
		if (e->n_receivers == 0)
			return -1;
	} else if (!strcmp(key, "tethered")) {
		if (!parse_bool(v, &e->tethered))
			return -1;
	} else if (!strcmp(key, "zero_copy")) {
		bool b;

		if (!strcmp(v, "auto"))
			e->zero_copy = -1;
		else if (parse_bool(v, &b))
			e->zero_copy = b;
		else
			return -1;
	} else {
		return 0;
	}
	return 1;
}

static int import_key(struct sbb_import_cfg *im, const char *key, const char *v)
{
	uint64_t x;

	if (!strcmp(key, "port")) {
		if (!parse_u64(v, RTE_MAX_ETHPORTS - 1, &x))
			return -1;
		im->port = (uint16_t)x;
	} else if (!strcmp(key, "tethered")) {
		if (!parse_bool(v, &im->tethered))
			return -1;
	} else if (!strcmp(key, "sender")) {
		if (!parse_mac(v, im->sender_mac) || mac_zero(im->sender_mac) || (im->sender_mac[0] & 1))
			return -1;
	} else {
		return 0;
	}
	return 1;
}

/* "export  NAME" -> NAME, or NULL if the section is not of that kind. */
static const char *section_topic(const char *section, const char *kind)
{
	size_t n = strlen(kind);

	if (strncmp(section, kind, n) != 0 || section[n] != ' ')
		return NULL;
	section += n;
	while (*section == ' ')
		section++;
	return section;
}

int sbb_config_key(struct sbb_config *c, const char *section, const char *key, const char *value, char *err,
		   size_t errlen)
{
	const char *name;
	int rc;

	c->enabled = true;
	if (!strcmp(section, "bridge")) {
		rc = bridge_key(c, key, value);
	} else if ((name = section_topic(section, "export")) != NULL) {
		struct sbb_export_cfg *e = NULL;

		if (*name == '\0' || strlen(name) >= sizeof(e->topic)) {
			snprintf(err, errlen, "bad topic name in [%s]", section);
			return -1;
		}
		for (unsigned i = 0; i < c->n_exports; i++)
			if (!strcmp(c->exports[i].topic, name))
				e = &c->exports[i];
		if (!e) {
			if (c->n_exports == SBB_MAX_TOPICS) {
				snprintf(err, errlen, "more than %d exports", SBB_MAX_TOPICS);
				return -1;
			}
			e = &c->exports[c->n_exports++];
			memset(e, 0, sizeof(*e));
			snprintf(e->topic, sizeof(e->topic), "%s", name);
			e->tethered = true;
			e->zero_copy = -1;
		}
		rc = export_key(e, key, value);
	} else if ((name = section_topic(section, "import")) != NULL) {
		struct sbb_import_cfg *im = NULL;

		if (*name == '\0' || strlen(name) >= sizeof(im->topic)) {
			snprintf(err, errlen, "bad topic name in [%s]", section);
			return -1;
		}
		for (unsigned i = 0; i < c->n_imports; i++)
			if (!strcmp(c->imports[i].topic, name))
				im = &c->imports[i];
		if (!im) {
			if (c->n_imports == SBB_MAX_TOPICS) {
				snprintf(err, errlen, "more than %d imports", SBB_MAX_TOPICS);
				return -1;
			}
			im = &c->imports[c->n_imports++];
			memset(im, 0, sizeof(*im));
			snprintf(im->topic, sizeof(im->topic), "%s", name);
			im->tethered = true;
		}
		rc = import_key(im, key, value);
	} else {
		snprintf(err, errlen, "unknown section [%s]", section);
		return -1;
	}
	if (rc == 0)
		snprintf(err, errlen, "unknown key '%s' in [%s]", key, section);
	else if (rc < 0)
		snprintf(err, errlen, "bad value '%s' for '%s' in [%s]", value, key, section);
	return rc > 0 ? 0 : -1;
}

int sbb_config_check(const struct sbb_config *c, char *err, size_t errlen)
{
	uint16_t ports[SBB_MAX_PORTS];
	unsigned n_ports = 0;

	if (!c->enabled)
		return 0;
	if (c->n_exports + c->n_imports == 0) {
		snprintf(err, errlen, "[bridge] without any [export NAME] or [import NAME] section");
		return -1;
	}
	for (unsigned i = 0; i < c->n_exports; i++) {
		if (mac_zero(c->exports[i].dst_mac)) {
			snprintf(err, errlen, "[export %s] needs dest = MAC", c->exports[i].topic);
			return -1;
		}
		if (c->exports[i].n_receivers && !(c->exports[i].dst_mac[0] & 1)) {
			snprintf(err, errlen,
				 "[export %s]: receivers is for a multicast dest; a unicast export's only receiver is its dest",
				 c->exports[i].topic);
			return -1;
		}
		for (unsigned j = 0; j < c->n_imports; j++)
			if (!strcmp(c->exports[i].topic, c->imports[j].topic)) {
				snprintf(err, errlen, "topic %s is both exported and imported", c->exports[i].topic);
				return -1;
			}
	}
	for (unsigned i = 0; i < c->n_exports + c->n_imports; i++) {
		uint16_t p = i < c->n_exports ? c->exports[i].port : c->imports[i - c->n_exports].port;
		bool seen = false;

		for (unsigned j = 0; j < n_ports; j++)
			seen |= ports[j] == p;
		if (!seen) {
			if (n_ports == SBB_MAX_PORTS) {
				snprintf(err, errlen, "more than %d ports used", SBB_MAX_PORTS);
				return -1;
			}
			ports[n_ports++] = p;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ runtime */

struct sbb_bridge {
	struct sbb_config cfg;
	atomic_bool stop;
	bool eal_up;
	unsigned n_ports, n_workers;
	struct sbb_port ports[SBB_MAX_PORTS];
	struct sbb_worker *workers[SBB_MAX_WORKERS];
	bool launched[SBB_MAX_WORKERS];
	struct sbb_export_rt exports[SBB_MAX_TOPICS];
	struct sbb_import_rt imports[SBB_MAX_TOPICS];
};

static struct sbb_port *port_of(struct sbb_bridge *b, uint16_t id)
{
	for (unsigned i = 0; i < b->n_ports; i++)
		if (b->ports[i].id == id)
			return &b->ports[i];
	return NULL;
}

static int eal_init(const char *args)
{
	char buf[sizeof(((struct sbb_config *)0)->eal_args)], *save = NULL;
	char *argv[MAX_EAL_ARGS + 2];
	int argc = 0, rc;

	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = (char *)"shmbusd";
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == MAX_EAL_ARGS + 1)
			return sbi_error(SB_EINVAL, "bridge: more than %d EAL arguments", MAX_EAL_ARGS);
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	sbi_log(SB_LOG_INFO, "bridge", "msg=\"initialising EAL\" args=\"%s\"", args);
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return sbi_error(SB_EINVAL, "bridge: rte_eal_init(\"%s\"): %s", args, rte_strerror(rte_errno));
	return SB_OK;
}

/* Page size of the memory behind a segment mapping. */
static size_t seg_page_size(const struct sb_seg *seg)
{
	struct statfs sfs;

	if ((seg->hdr->flags & SB_SEG_F_HUGETLB) && seg->fd >= 0 && fstatfs(seg->fd, &sfs) == 0 && sfs.f_bsize > 0)
		return (size_t)sfs.f_bsize;
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Make the export's ring usable as external mbuf memory: registered with
 * EAL and, where the device's bus needs it, DMA-mapped.  Returns 0, or -1
 * with the reason in why. */
static int zc_register(struct sbb_export_rt *x, const struct sb_seg *seg, char *why, size_t n)
{
	struct rte_eth_dev_info info;
	size_t pg = seg_page_size(seg);
	const char *bus;
	bool va = rte_eal_iova_mode() == RTE_IOVA_VA;

	if (!x->port->multi_seg_tx) {
		snprintf(why, n, "port %u does not offer multi-segment TX", x->port->id);
		return -1;
	}
	if (rte_eth_dev_info_get(x->port->id, &info) != 0 || !info.device) {
		snprintf(why, n, "port %u: no device info", x->port->id);
		return -1;
	}
	bus = rte_dev_bus(info.device) ? rte_bus_name(rte_dev_bus(info.device)) : "?";
	if (!va && strcmp(bus, "vdev") != 0) {
		/* Physical addresses of our mapping are unknown to EAL. */
		snprintf(why, n, "IOVA mode is PA and port %u is a %s device (zero copy needs --iova-mode=va)",
			 x->port->id, bus);
		return -1;
	}
	if ((uintptr_t)seg->base % pg != 0 || seg->size % pg != 0) {
		snprintf(why, n, "segment mapping is not a whole number of %zu-byte pages", pg);
		return -1;
	}
	if (rte_extmem_register(seg->base, seg->size, NULL, 0, pg) != 0) {
		if (rte_errno != EEXIST) {
			snprintf(why, n, "rte_extmem_register: %s", rte_strerror(rte_errno));
			return -1;
		}
	} else {
		x->extmem = true;
	}
	x->reg_base = seg->base;
	x->reg_len = seg->size;
	/* IOVA as VA (or a vdev, which never DMAs): the buffer's IOVA is its VA. */
	x->iova_off = 0;
	if (rte_dev_dma_map(info.device, seg->base, (uint64_t)(uintptr_t)seg->base, seg->size) == 0) {
		x->dma_mapped = true;
		x->dev = info.device;
	} else if (rte_errno != ENOTSUP) {
		snprintf(why, n, "rte_dev_dma_map on %s device: %s", bus, rte_strerror(rte_errno));
		if (x->extmem)
			rte_extmem_unregister(seg->base, seg->size);
		x->extmem = false;
		return -1;
	}
	x->ring_lo = seg->data;
	x->ring_hi = seg->data + seg->data_size;
	return 0;
}

static void zc_unregister(struct sbb_export_rt *x)
{
	/* The device outlives the closed port (it goes only on detach). */
	if (x->dma_mapped)
		rte_dev_dma_unmap(x->dev, x->reg_base, (uint64_t)(uintptr_t)x->reg_base, x->reg_len);
	if (x->extmem)
		rte_extmem_unregister(x->reg_base, x->reg_len);
	x->dma_mapped = x->extmem = false;
}

static int start_export(struct sbb_bridge *b, unsigned i, const struct sb_seg *seg)
{
	const struct sbb_export_cfg *ec = &b->cfg.exports[i];
	struct sbb_export_rt *x = &b->exports[i];
	struct sbb_sender_cfg sc;
	char why[200];
	int rc;

	_Static_assert(sizeof(x->topic) == sizeof(ec->topic), "topic names");
	memcpy(x->topic, ec->topic, sizeof(x->topic)); /* NUL-terminated by the parser */
	x->topic_id = sbw_topic_id(ec->topic);
	x->port = port_of(b, ec->port);
	x->s = rte_zmalloc_socket("sbb_sender", sbb_sender_size(), RTE_CACHE_LINE_SIZE, x->port->socket);
	if (!x->s)
		return sbi_error(SB_ENOMEM, "bridge: export %s: sender memory", ec->topic);
	memset(&sc, 0, sizeof(sc));
	sc.topic_id = x->topic_id;
	memcpy(sc.src_mac, x->port->mac.addr_bytes, 6);
	memcpy(sc.dst_mac, ec->dst_mac, 6);
	_Static_assert(sizeof(sc.receivers) == sizeof(ec->receivers), "receiver list sizes");
	memcpy(sc.receivers, ec->receivers, sizeof(sc.receivers));
	sc.n_receivers = ec->n_receivers;
	sc.mtu = b->cfg.mtu;
	sc.window = b->cfg.window ? b->cfg.window : seg->data_size / 4;
	sc.tethered = ec->tethered;
	sc.heartbeat_ns = b->cfg.heartbeat_ns;
	sc.receiver_timeout_ns = b->cfg.receiver_timeout_ns;
	sc.setup_ns = 10 * b->cfg.heartbeat_ns;
	rc = sbb_sender_init(x->s, seg, ec->topic, &sc);
	if (rc < 0) {
		rte_free(x->s);
		x->s = NULL;
		return sbi_error(rc, "bridge: export %s: %s", ec->topic, sb_last_error());
	}
	if (ec->zero_copy != 0) {
		if (zc_register(x, seg, why, sizeof(why)) == 0) {
			x->zero_copy = true;
		} else if (ec->zero_copy > 0) {
			return sbi_error(SB_EINVAL, "bridge: export %s: zero_copy = on, but %s", ec->topic, why);
		} else {
			sbi_log(SB_LOG_INFO, "bridge", "msg=\"zero copy off: copying frames\" topic=%s reason=\"%s\"",
				ec->topic, why);
		}
	}
	sbi_log(SB_LOG_INFO, "bridge",
		"msg=\"export ready\" topic=%s topic_id=0x%08x port=%u dest=%02x:%02x:%02x:%02x:%02x:%02x tethered=%d zero_copy=%d window=%llu",
		ec->topic, x->topic_id, ec->port, ec->dst_mac[0], ec->dst_mac[1], ec->dst_mac[2], ec->dst_mac[3],
		ec->dst_mac[4], ec->dst_mac[5], ec->tethered, x->zero_copy, (unsigned long long)sc.window);
	return SB_OK;
}

static int start_import(struct sbb_bridge *b, unsigned i, const struct sb_seg *seg)
{
	const struct sbb_import_cfg *ic = &b->cfg.imports[i];
	struct sbb_import_rt *im = &b->imports[i];
	int rc;

	_Static_assert(sizeof(im->topic) == sizeof(ic->topic), "topic names");
	memcpy(im->topic, ic->topic, sizeof(im->topic));
	im->topic_id = sbw_topic_id(ic->topic);
	im->port = port_of(b, ic->port);
	im->seg = seg;
	im->rcfg.topic_id = im->topic_id;
	/* No frame larger than our MTU gets through our port: store slots of
	 * that size (0.4 MiB per import at 1500 instead of 2.3 at jumbo). */
	im->rcfg.ooo_body = b->cfg.mtu;
	im->rcfg.ooo_max = b->cfg.ooo_max; /* 0: SBB_OOO_MAX */
	im->r = rte_zmalloc_socket("sbb_receiver", sbb_receiver_size(&im->rcfg), RTE_CACHE_LINE_SIZE,
				   im->port->socket);
	if (!im->r)
		return sbi_error(SB_ENOMEM, "bridge: import %s: receiver memory", ic->topic);
	memcpy(im->rcfg.src_mac, im->port->mac.addr_bytes, 6);
	memcpy(im->rcfg.sender_mac, ic->sender_mac, 6);
	im->filter_sender = !mac_zero(ic->sender_mac);
	im->rcfg.tethered = ic->tethered;
	im->rcfg.nak_interval_ns = b->cfg.nak_interval_ns;
	im->rcfg.status_interval_ns = b->cfg.status_interval_ns;
	im->rcfg.ack_every = seg->data_size / 8;
	rc = sbb_import_try_init(im);
	if (rc == SB_EBUSY) {
		sbi_log(SB_LOG_WARN, "bridge",
			"msg=\"import waits: the ring has another exclusive publisher (a previous daemon's importer?); retrying\" topic=%s",
			ic->topic);
		im->last_rc = rc;
	} else if (rc < 0) {
		return sbi_error(rc, "bridge: import %s: %s", ic->topic, sb_last_error());
	} else {
		sbi_log(SB_LOG_INFO, "bridge", "msg=\"import ready\" topic=%s topic_id=0x%08x port=%u tethered=%d",
			ic->topic, im->topic_id, ic->port, ic->tethered);
	}
	return SB_OK;
}

static int start_workers(struct sbb_bridge *b)
{
	const struct sbb_config *c = &b->cfg;
	unsigned lcores[SBB_MAX_WORKERS], n = 0, l;

	if (c->n_workers) {
		for (unsigned i = 0; i < c->n_workers; i++) {
			l = c->worker_lcores[i];
			if (!rte_lcore_is_enabled(l) || l == rte_get_main_lcore())
				return sbi_error(SB_EINVAL,
						 "bridge: worker lcore %u is not an EAL worker lcore (main lcore %u; give EAL -l with it)",
						 l, rte_get_main_lcore());
			lcores[n++] = l;
		}
	} else {
		RTE_LCORE_FOREACH_WORKER(l) {
			if (n < SBB_MAX_WORKERS)
				lcores[n++] = l;
		}
	}
	if (n == 0)
		return sbi_error(SB_EINVAL, "bridge: no worker lcore: give EAL at least two lcores (-l MAIN,WORKER...)");
	for (unsigned i = 0; i < n; i++) {
		b->workers[i] = sbb_worker_create(lcores[i], c->idle, &b->stop);
		if (!b->workers[i])
			return sbi_error(SB_ENOMEM, "bridge: worker");
	}
	b->n_workers = n;
	for (unsigned i = 0; i < b->n_ports; i++) {
		struct sbb_worker *w = b->workers[i % n];

		w->ports[w->n_ports++] = &b->ports[i];
	}
	for (unsigned i = 0; i < c->n_exports; i++) {
		struct sbb_worker *w = b->workers[(unsigned)(b->exports[i].port - b->ports) % n];

		w->exports[w->n_exports++] = &b->exports[i];
	}
	for (unsigned i = 0; i < c->n_imports; i++) {
		struct sbb_worker *w = b->workers[(unsigned)(b->imports[i].port - b->ports) % n];

		w->imports[w->n_imports++] = &b->imports[i];
	}
	for (unsigned i = 0; i < n; i++) {
		int rc;

		if (b->workers[i]->n_ports == 0) {
			sbi_log(SB_LOG_INFO, "bridge", "msg=\"lcore has no port; not launched\" lcore=%u", lcores[i]);
			continue;
		}
		rc = rte_eal_remote_launch(sbb_worker_main, b->workers[i], lcores[i]);
		if (rc != 0)
			return sbi_error(SB_EIO, "bridge: launch on lcore %u: %s", lcores[i], rte_strerror(-rc));
		b->launched[i] = true;
	}
	return SB_OK;
}

static void teardown(struct sbb_bridge *b)
{
	/* RELEASE: pairs with the workers' acquire load of the flag. */
	atomic_store_explicit(&b->stop, true, memory_order_release);
	for (unsigned i = 0; i < b->n_workers; i++)
		if (b->launched[i])
			rte_eal_wait_lcore(b->workers[i]->lcore);
	for (unsigned i = 0; i < b->n_workers; i++)
		sbb_worker_release_held(b->workers[i]);
	for (unsigned i = 0; i < b->n_ports; i++)
		sbb_port_stop(&b->ports[i]);
	for (unsigned i = 0; i < b->n_ports; i++)
		sbb_port_close(&b->ports[i]);
	for (unsigned i = 0; i < b->cfg.n_exports; i++) {
		struct sbb_export_rt *x = &b->exports[i];

		if (x->s) {
			sbb_sender_fini(x->s);
			rte_free(x->s);
		}
		zc_unregister(x);
	}
	for (unsigned i = 0; i < b->cfg.n_imports; i++) {
		struct sbb_import_rt *im = &b->imports[i];

		/* ACQUIRE: pairs with the release in sbb_import_try_init() (the
		 * worker is stopped, so this only matters for the type system). */
		if (im->r && atomic_load_explicit(&im->ready, memory_order_acquire))
			sbb_receiver_fini(im->r);
		rte_free(im->r);
	}
	for (unsigned i = 0; i < b->n_workers; i++)
		sbb_worker_destroy(b->workers[i]);
	if (b->eal_up)
		rte_eal_cleanup();
	free(b);
}

int sbb_bridge_start(struct sbb_bridge **out, const struct sbb_config *cfg,
		     const struct sb_seg *const *export_segs, const struct sb_seg *const *import_segs)
{
	struct sbb_bridge *b;
	sigset_t mask;
	char err[200];
	int rc;

	*out = NULL;
	if (sbb_config_check(cfg, err, sizeof(err)) != 0)
		return sbi_error(SB_EINVAL, "bridge: %s", err);
	b = calloc(1, sizeof(*b));
	if (!b)
		return sbi_error(SB_ENOMEM, "bridge");
	b->cfg = *cfg;
	atomic_init(&b->stop, false);
	for (unsigned i = 0; i < SBB_MAX_TOPICS; i++)
		atomic_init(&b->imports[i].ready, false);
	/* Every thread EAL creates inherits this mask (see the design note). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	rc = eal_init(cfg->eal_args);
	if (rc < 0) {
		free(b);
		return rc;
	}
	b->eal_up = true;
	for (unsigned i = 0; i < cfg->n_exports + cfg->n_imports; i++) {
		bool ex = i < cfg->n_exports;
		uint16_t id = ex ? cfg->exports[i].port : cfg->imports[i - cfg->n_exports].port;
		bool zc = false;

		if (port_of(b, id))
			continue;
		for (unsigned j = 0; j < cfg->n_exports; j++)
			zc |= cfg->exports[j].port == id && cfg->exports[j].zero_copy != 0;
		rc = sbb_port_setup(&b->ports[b->n_ports], id, cfg->mtu, zc, &cfg->rx_fault, &cfg->tx_fault);
		if (rc < 0)
			goto fail;
		b->n_ports++;
	}
	for (unsigned i = 0; i < cfg->n_exports; i++) {
		rc = start_export(b, i, export_segs[i]);
		if (rc < 0)
			goto fail;
	}
	for (unsigned i = 0; i < cfg->n_imports; i++) {
		rc = start_import(b, i, import_segs[i]);
		if (rc < 0)
			goto fail;
	}
	rc = start_workers(b);
	if (rc < 0)
		goto fail;
	*out = b;
	return SB_OK;
fail: {
	/* teardown() logs nothing; keep the first error's detail. */
	char detail[256];

	snprintf(detail, sizeof(detail), "%s", sb_last_error());
	teardown(b);
	return sbi_error(rc, "%s", detail);
}
}

void sbb_bridge_stop(struct sbb_bridge *b)
{
	if (!b)
		return;
	sbi_log(SB_LOG_INFO, "bridge", "msg=\"stopping\"");
	teardown(b);
}

static void read_counters(const struct sbb_counters *src, struct sbb_counters *dst)
{
	_Static_assert(sizeof(*src) % sizeof(uint64_t) == 0, "engine counters are all uint64_t");
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	/* RELAXED: statistics written by the owning worker (engine.h). */
	for (size_t i = 0; i < sizeof(*src) / sizeof(uint64_t); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

void sbb_bridge_stats(const struct sbb_bridge *b, sbb_stats_fn fn, void *ctx)
{
	struct sbb_counters c;

	if (!b)
		return;
	for (unsigned i = 0; i < b->cfg.n_exports; i++) {
		const struct sbb_export_rt *x = &b->exports[i];

		read_counters(sbb_sender_counters(x->s), &c);
		/* The worker knows which path each DATA frame took. */
		c.zero_copy_frames = __atomic_load_n(&x->zc_frames, __ATOMIC_RELAXED);
		c.copied_frames = __atomic_load_n(&x->copied_frames, __ATOMIC_RELAXED);
		fn(ctx, "export", x->topic, &c, x->zero_copy);
	}
	for (unsigned i = 0; i < b->cfg.n_imports; i++) {
		const struct sbb_import_rt *im = &b->imports[i];

		/* ACQUIRE: pairs with the worker's release in sbb_import_try_init():
		 * the receiver's memory is initialised before we read it. */
		if (atomic_load_explicit(&im->ready, memory_order_acquire))
			read_counters(sbb_receiver_counters(im->r), &c);
		else
			memset(&c, 0, sizeof(c));
		fn(ctx, "import", im->topic, &c, false);
	}
}

void sbb_bridge_port_stats(const struct sbb_bridge *b, sbb_port_stats_fn fn, void *ctx)
{
	struct sbb_port_counters c;

	if (!b)
		return;
	for (unsigned i = 0; i < b->n_ports; i++) {
		sbb_port_counters_read(&b->ports[i], &c);
		fn(ctx, b->ports[i].id, &c);
	}
}
