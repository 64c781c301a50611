/*
 * port.c - setting up and tearing down one Ethernet port for the bridge.
 *
 * Design: the bridge needs little from a port: one RX and one TX queue
 * (one worker owns the port, so no RSS and no queue locking), every frame
 * of our EtherType whatever its destination (promiscuous + allmulticast:
 * multicast group MACs are not programmed one by one), and a pool of
 * mbufs on the device's NUMA node whose data room holds a whole frame at
 * the configured MTU, so RX never scatters on a well-configured port (the
 * worker still linearises if a PMD does).  Zero-copy TX needs the
 * multi-segment TX offload (header mbuf + external-buffer body) and a
 * second pool of data-less mbufs to carry the external buffers; both are
 * set up only when an export on the port asks for it and the PMD reports
 * RTE_ETH_TX_OFFLOAD_MULTI_SEGS.
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "port.h"
#include "sb_error.h"
#include "sb_log.h"

/* Mempool sizes of the form 2^k - 1 are the most memory-efficient. */
static unsigned pool_size(unsigned need)
{
	unsigned n = 1023;

	while (n < need)
		n = n * 2 + 1;
	return n;
}

int sbb_port_setup(struct sbb_port *p, uint16_t id, uint32_t mtu, bool want_zc,
		   const struct sbb_fault_cfg *rx_fault, const struct sbb_fault_cfg *tx_fault)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txconf;
	uint16_t nrx = SBB_RX_DESC, ntx = SBB_TX_DESC;
	uint32_t room = RTE_PKTMBUF_HEADROOM + (mtu + RTE_ETHER_HDR_LEN + 4 > 2048 ? mtu + RTE_ETHER_HDR_LEN + 4 : 2048);
	char name[RTE_MEMPOOL_NAMESIZE];
	int rc, promisc;

	memset(p, 0, sizeof(*p));
	p->id = id;
	sbb_fault_init(&p->rx_fault, rx_fault);
	sbb_fault_init(&p->tx_fault, tx_fault);
	if (!rte_eth_dev_is_valid_port(id))
		return sbi_error(SB_EINVAL, "bridge: port %u does not exist (EAL found %u ports: check the eal "
				 "arguments, e.g. --vdev or the PCI allow list)", id, rte_eth_dev_count_avail());
	rc = rte_eth_dev_info_get(id, &info);
	if (rc != 0)
		return sbi_error(SB_EIO, "bridge: port %u: dev_info_get: %s", id, rte_strerror(-rc));
	if (mtu > info.max_mtu || mtu < info.min_mtu)
		return sbi_error(SB_EINVAL, "bridge: port %u (%s): mtu %u outside the device's %u..%u", id,
				 info.driver_name, mtu, info.min_mtu, info.max_mtu);
	p->socket = rte_eth_dev_socket_id(id);
	if (p->socket < 0)
		p->socket = SOCKET_ID_ANY;
	p->multi_seg_tx = want_zc && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS);

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = mtu;
	if (p->multi_seg_tx)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	rc = rte_eth_dev_configure(id, 1, 1, &conf);
	if (rc != 0)
		return sbi_error(SB_EIO, "bridge: port %u (%s): configure: %s", id, info.driver_name, rte_strerror(-rc));
	p->configured = true;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
	if (rc != 0) {
		rc = sbi_error(SB_EIO, "bridge: port %u: descriptor counts: %s", id, rte_strerror(-rc));
		goto fail;
	}
	snprintf(name, sizeof(name), "sbb_p%u", id);
	p->pool = rte_pktmbuf_pool_create(name, pool_size(nrx + ntx + 8u * SBB_BURST + 1024u), 256, 0,
					  (uint16_t)room, p->socket);
	if (!p->pool) {
		rc = sbi_error(SB_ENOMEM, "bridge: port %u: mbuf pool on socket %d: %s (hugepages?)", id, p->socket,
			       rte_strerror(rte_errno));
		goto fail;
	}
	if (p->multi_seg_tx) {
		snprintf(name, sizeof(name), "sbb_x%u", id);
		p->ext_pool = rte_pktmbuf_pool_create(name, pool_size(ntx + 8u * SBB_BURST + 512u), 256, 0, 0,
						      p->socket);
		if (!p->ext_pool) {
			rc = sbi_error(SB_ENOMEM, "bridge: port %u: external-buffer mbuf pool: %s", id,
				       rte_strerror(rte_errno));
			goto fail;
		}
	}
	/* SOCKET_ID_ANY passes through as the unsigned the API takes. */
	rc = rte_eth_rx_queue_setup(id, 0, nrx, (unsigned)p->socket, NULL, p->pool);
	if (rc == 0) {
		txconf = info.default_txconf;
		txconf.offloads = conf.txmode.offloads;
		rc = rte_eth_tx_queue_setup(id, 0, ntx, (unsigned)p->socket, &txconf);
	}
	if (rc != 0) {
		rc = sbi_error(SB_EIO, "bridge: port %u: queue setup: %s", id, rte_strerror(-rc));
		goto fail;
	}
	if (mtu != RTE_ETHER_MTU) {
		rc = rte_eth_dev_set_mtu(id, (uint16_t)mtu);
		if (rc != 0) {
			rc = sbi_error(SB_EIO, "bridge: port %u: set mtu %u: %s", id, mtu, rte_strerror(-rc));
			goto fail;
		}
	}
	rc = rte_eth_dev_start(id);
	if (rc != 0) {
		rc = sbi_error(SB_EIO, "bridge: port %u: start: %s", id, rte_strerror(-rc));
		goto fail;
	}
	p->started = true;
	/* Not every PMD implements these; a port that still receives our frames
	 * (unicast to its own MAC) works without them, so warn only. */
	promisc = rte_eth_promiscuous_enable(id);
	if (promisc != 0)
		sbi_log(SB_LOG_WARN, "bridge", "msg=\"promiscuous mode not enabled\" port=%u detail=\"%s\"", id,
			rte_strerror(-promisc));
	rc = rte_eth_allmulticast_enable(id);
	/* Promiscuous covers multicast (af_packet has only that). */
	if (rc != 0)
		sbi_log(promisc == 0 ? SB_LOG_DEBUG : SB_LOG_WARN, "bridge",
			"msg=\"allmulticast not enabled%s\" port=%u detail=\"%s\"",
			promisc == 0 ? " (promiscuous covers it)" : ": multicast imports may miss frames", id,
			rte_strerror(-rc));
	rc = rte_eth_macaddr_get(id, &p->mac);
	if (rc != 0) {
		rc = sbi_error(SB_EIO, "bridge: port %u: MAC address: %s", id, rte_strerror(-rc));
		goto fail;
	}
	sbi_log(SB_LOG_INFO, "bridge",
		"msg=\"port ready\" port=%u driver=%s mac=" RTE_ETHER_ADDR_PRT_FMT " socket=%d mtu=%u rx_desc=%u tx_desc=%u multi_seg_tx=%d",
		id, info.driver_name, RTE_ETHER_ADDR_BYTES(&p->mac), p->socket, mtu, nrx, ntx, p->multi_seg_tx);
	return SB_OK;
fail:
	sbb_port_stop(p);
	sbb_port_close(p);
	return rc;
}

void sbb_port_stop(struct sbb_port *p)
{
	if (p->started) {
		int rc = rte_eth_dev_stop(p->id);

		if (rc != 0)
			sbi_log(SB_LOG_WARN, "bridge", "msg=\"port stop failed\" port=%u detail=\"%s\"", p->id,
				rte_strerror(-rc));
		p->started = false;
	}
}

void sbb_port_close(struct sbb_port *p)
{
	/* Close releases the queues' mbufs into the pools: pools go last. */
	if (p->configured)
		rte_eth_dev_close(p->id);
	p->configured = false;
	rte_mempool_free(p->ext_pool);
	rte_mempool_free(p->pool);
	p->ext_pool = p->pool = NULL;
}

void sbb_port_counters_read(const struct sbb_port *p, struct sbb_port_counters *out)
{
	_Static_assert(sizeof(*out) % sizeof(uint64_t) == 0, "port counters are all uint64_t");
	const uint64_t *src = (const uint64_t *)&p->ctr;
	uint64_t *dst = (uint64_t *)out;

	/* RELAXED: statistics written by one worker; pairs with SBB_CTR_ADD's
	 * relaxed stores only to keep each 64-bit value whole. */
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
