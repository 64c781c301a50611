/*
 * raw_dpdk_pingpong.c - shmbus-rawpp, the raw DPDK ping-pong baseline of
 * `shmbus-bench crosshost` (docs/benchmarks.md §5).
 *
 *     shmbus-rawpp EAL-ARGS -- ping|pong [--size N] [--count N] [--warmup N]
 *                                        [--dest MAC] [--out FILE]
 *
 * The floor of what any DPDK bridge can do on a port: one process per
 * host, one lcore each, busy-polling queue 0 of port 0.  "ping" builds a
 * frame (Ethernet header, EtherType 0x88B6, --size payload bytes carrying a
 * sequence number first), sends it to --dest, and polls until the frame with
 * that sequence number comes back; "pong" sends every frame of ours back to
 * its source with the MACs swapped, reusing the mbuf.  Nothing else: no
 * ring, no protocol, no copy beyond what the PMD does.
 *
 * Ping times each round trip with the same fenced TSC reads as every other
 * scenario (bench/clock.h) and writes the --count tick samples after the
 * warm-up, raw native-endian uint64_t, to --out; shmbus-bench computes the
 * percentiles with its own code.  During the warm-up a frame without an
 * answer within 20 ms is sent again (pong may still be starting); after it,
 * a missing answer is an error.  Ping ends pong with frames carrying
 * sequence number UINT64_MAX.
 *
 * EtherType 0x88B6 (IEEE local experimental 2) keeps these frames apart
 * from the bridge's 0x88B5, so the loss rule the benchmark installs for the
 * bridge never touches them.  Frames sent by the port itself (AF_PACKET
 * sockets also see outgoing frames) and frames of other EtherTypes are
 * ignored.  Exit status: 0, 1 failure (message on stderr), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "clock.h"

#define RAWPP_ETHERTYPE  0x88B6
#define RAWPP_STOP       UINT64_MAX
#define RAWPP_BURST      32
#define RAWPP_RING       256
#define RAWPP_POOL       1023
#define RAWPP_MAX_SIZE   1400
#define RAWPP_RESEND_MS  20
#define RAWPP_LOST_MS    1000

struct rawpp_opts {
	bool ping;
	uint32_t size;
	uint64_t count;
	uint64_t warmup;
	struct rte_ether_addr dest;
	const char *out;
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shmbus-rawpp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct rawpp_opts *o)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "dest", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->size = 64;
	o->count = 100000;
	o->warmup = 10000;
	memset(&o->dest, 0xff, sizeof(o->dest));
	if (argc < 2 || (strcmp(argv[1], "ping") != 0 && strcmp(argv[1], "pong") != 0))
		return die("%s", "usage: shmbus-rawpp EAL-ARGS -- ping|pong [--size N] [--count N] [--warmup N] "
				 "[--dest MAC] [--out FILE]");
	o->ping = strcmp(argv[1], "ping") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, &v) < 0 || v < 8 || v > RAWPP_MAX_SIZE)
				return die("--size '%s': expected 8..1400", optarg);
			o->size = (uint32_t)v;
			break;
		case 'c':
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > UINT64_C(1) << 32)
				return die("--count '%s': expected 1..4G", optarg);
			o->count = v;
			break;
		case 'w':
			if (parse_u64(optarg, &v) < 0 || v > UINT64_C(1) << 32)
				return die("--warmup '%s': expected 0..4G", optarg);
			o->warmup = v;
			break;
		case 'd':
			if (rte_ether_unformat_addr(optarg, &o->dest) != 0)
				return die("--dest '%s': expected a MAC address", optarg);
			break;
		case 'o':
			o->out = optarg;
			break;
		default:
			return die("%s", "bad option (see the usage in raw_dpdk_pingpong.c)");
		}
	}
	if (o->ping && !o->out)
		return die("%s", "ping needs --out FILE");
	return 0;
}

static int port_start(uint16_t port, struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, RAWPP_RING, rte_eth_dev_socket_id(port), NULL, pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, RAWPP_RING, rte_eth_dev_socket_id(port), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc != 0)
		return die("port set-up: %s", rte_strerror(-rc));
	return 0;
}

/* The sequence number of a frame of ours not sent by this port, or false. */
static bool frame_seq(struct rte_mbuf *m, const struct rte_ether_addr *self, uint32_t size, uint64_t *seq)
{
	const struct rte_ether_hdr *eh;

	if (rte_pktmbuf_data_len(m) < sizeof(*eh) + size)
		return false;
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (eh->ether_type != rte_cpu_to_be_16(RAWPP_ETHERTYPE) || rte_is_same_ether_addr(&eh->src_addr, self))
		return false;
	memcpy(seq, eh + 1, sizeof(*seq));
	return true;
}

static struct rte_mbuf *frame_make(struct rte_mempool *pool, const struct rawpp_opts *o,
				   const struct rte_ether_addr *self, uint64_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eh;
	unsigned char *p;

	if (!m)
		return NULL;
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(sizeof(*eh) + o->size));
	if (!eh) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	rte_ether_addr_copy(&o->dest, &eh->dst_addr);
	rte_ether_addr_copy(self, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RAWPP_ETHERTYPE);
	p = (unsigned char *)(eh + 1);
	memcpy(p, &seq, sizeof(seq));
	memset(p + sizeof(seq), (int)(seq & 0xff), o->size - sizeof(seq));
	return m;
}

static void send_one(uint16_t port, struct rte_mbuf *m)
{
	while (rte_eth_tx_burst(port, 0, &m, 1) == 0)
		rte_pause();
}

/* Poll until the frame with sequence seq arrives, at most wait_ticks.
 * Returns true if it did. */
static bool await(uint16_t port, const struct rte_ether_addr *self, uint32_t size, uint64_t seq,
		  uint64_t wait_ticks)
{
	struct rte_mbuf *pkts[RAWPP_BURST];
	uint64_t start = rte_rdtsc();
	bool got = false;

	for (unsigned spins = 0; !got; spins++) {
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, RAWPP_BURST);
		uint64_t s;

		for (uint16_t i = 0; i < n; i++) {
			if (frame_seq(pkts[i], self, size, &s) && s == seq)
				got = true;
			rte_pktmbuf_free(pkts[i]);
		}
		if (!got && (spins & 1023) == 1023 && rte_rdtsc() - start > wait_ticks)
			return false;
	}
	return true;
}

static int write_samples(const char *path, const uint64_t *s, uint64_t n)
{
	FILE *f = fopen(path, "we");
	size_t w;

	if (!f)
		return die("--out %s: cannot create", path);
	w = fwrite(s, sizeof(*s), n, f);
	if (fclose(f) != 0 || w != n)
		return die("--out %s: write failed", path);
	return 0;
}

static int run_ping(uint16_t port, struct rte_mempool *pool, const struct rawpp_opts *o,
		    const struct rte_ether_addr *self)
{
	uint64_t hz = rte_get_tsc_hz(), total = o->warmup + o->count, resends = 0;
	uint64_t *samples = malloc(o->count * sizeof(*samples));
	int rc = 0;

	if (!samples)
		return die("%s", "out of memory for the samples");
	for (uint64_t k = 0; k < total && rc == 0; k++) {
		bool warm = k < o->warmup;
		uint64_t seq = k + 1, t0 = 0, t1;
		struct rte_mbuf *m;

		for (;;) {
			m = frame_make(pool, o, self, seq);
			if (!m) {
				rc = die("%s", "mbuf pool empty");
				break;
			}
			t0 = clock_start();
			send_one(port, m);
			if (await(port, self, o->size, seq, hz / 1000 * (warm ? RAWPP_RESEND_MS : RAWPP_LOST_MS)))
				break;
			if (!warm) {
				fprintf(stderr, "shmbus-rawpp: round trip %llu: no answer within %d ms\n",
					(unsigned long long)seq, RAWPP_LOST_MS);
				rc = 1;
				break;
			}
			resends++;
		}
		t1 = clock_end();
		if (rc == 0 && !warm)
			samples[k - o->warmup] = t1 - t0;
	}
	for (int i = 0; i < 3; i++) {
		struct rte_mbuf *m = frame_make(pool, o, self, RAWPP_STOP);

		if (m)
			send_one(port, m);
	}
	if (rc == 0)
		rc = write_samples(o->out, samples, o->count);
	if (resends > 1)
		fprintf(stderr, "shmbus-rawpp: %llu warm-up frames sent again (pong was starting)\n",
			(unsigned long long)resends);
	free(samples);
	return rc;
}

static int run_pong(uint16_t port, const struct rawpp_opts *o, const struct rte_ether_addr *self)
{
	struct rte_mbuf *pkts[RAWPP_BURST];

	for (;;) {
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, RAWPP_BURST);

		for (uint16_t i = 0; i < n; i++) {
			struct rte_ether_hdr *eh;
			uint64_t seq;

			if (!frame_seq(pkts[i], self, o->size, &seq)) {
				rte_pktmbuf_free(pkts[i]);
				continue;
			}
			if (seq == RAWPP_STOP) {
				for (uint16_t j = i; j < n; j++)
					rte_pktmbuf_free(pkts[j]);
				return 0;
			}
			eh = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
			rte_ether_addr_copy(&eh->src_addr, &eh->dst_addr);
			rte_ether_addr_copy(self, &eh->src_addr);
			send_one(port, pkts[i]);
		}
	}
}

int main(int argc, char **argv)
{
	struct rte_ether_addr self;
	struct rte_mempool *pool;
	struct rawpp_opts o;
	int used, rc;

	used = rte_eal_init(argc, argv);
	if (used < 0)
		return die("EAL initialisation failed: %s", rte_strerror(rte_errno));
	argc -= used;
	argv += used;
	argv[0] = "shmbus-rawpp";
	rc = parse_args(argc, argv, &o);
	if (rc)
		goto out;
	if (rte_eth_dev_count_avail() < 1) {
		rc = die("%s", "no DPDK port (give one, e.g. --vdev=net_af_packet0,iface=IF)");
		goto out;
	}
	pool = rte_pktmbuf_pool_create("rawpp", RAWPP_POOL, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!pool) {
		rc = die("mbuf pool: %s", rte_strerror(rte_errno));
		goto out;
	}
	rc = port_start(0, pool);
	if (rc == 0)
		rc = rte_eth_macaddr_get(0, &self) == 0 ? 0 : die("%s", "cannot read the port's MAC");
	if (rc == 0)
		rc = o.ping ? run_ping(0, pool, &o, &self) : run_pong(0, &o, &self);
	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
out:
	rte_eal_cleanup();
	return rc;
}
