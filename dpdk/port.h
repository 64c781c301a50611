/*
 * port.h - one Ethernet port as the bridge uses it: one RX and one TX queue,
 * mbuf pools on the port's NUMA node, its MAC address and its counters
 * (internal to dpdk/).
 *
 * Threading: sbb_port_setup() and sbb_port_close() run on the control
 * thread while no worker runs.  Between them exactly one worker owns the
 * port: it alone polls the queues and writes the counters; the control
 * thread only reads the counters (relaxed 64-bit loads, see
 * sbb_port_counters_read()).
 */
#ifndef SBB_PORT_H
#define SBB_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "bridge.h"
#include "fault.h"

#define SBB_RX_DESC 1024
#define SBB_TX_DESC 1024
#define SBB_BURST   32

struct sbb_port {
	uint16_t id;
	int socket;                   /* NUMA node of the device (SOCKET_ID_ANY if unknown) */
	bool configured, started;
	bool multi_seg_tx;            /* RTE_ETH_TX_OFFLOAD_MULTI_SEGS: zero-copy possible */
	struct rte_mempool *pool;     /* direct mbufs: RX, copied frames, headers */
	struct rte_mempool *ext_pool; /* data-less mbufs for external buffers, or NULL */
	struct rte_ether_addr mac;
	struct sbb_fault rx_fault, tx_fault; /* the worker's injectors for this port */
	struct sbb_port_counters ctr; /* written by the owning worker only */
};

/* Configure (1 RX + 1 TX queue), create the pools, start, promiscuous and
 * allmulticast on, read the MAC.  mtu: Ethernet payload bytes.  want_zc:
 * some export on this port asks for zero copy (enables MULTI_SEGS TX and
 * the external-buffer pool when the PMD has it).  Returns 0 or a negative
 * SB_E* code with the detail in sb_last_error(); on failure nothing is
 * left configured. */
int sbb_port_setup(struct sbb_port *p, uint16_t id, uint32_t mtu, bool want_zc,
		   const struct sbb_fault_cfg *rx_fault, const struct sbb_fault_cfg *tx_fault);
/* Stop the port: the driver frees the mbufs it still holds (zero-copy
 * bodies call their free callbacks here, so the senders must still exist). */
void sbb_port_stop(struct sbb_port *p);
/* Close the port and free the pools.  After sbb_port_stop(). */
void sbb_port_close(struct sbb_port *p);
/* Snapshot of the counters for the control thread. */
void sbb_port_counters_read(const struct sbb_port *p, struct sbb_port_counters *out);

/* Single-writer counter update: the owning worker is the only writer, so a
 * relaxed load + store is a complete increment; the relaxed store makes the
 * control thread's relaxed loads race-free (no torn 64-bit values). */
#define SBB_CTR_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

#endif /* SBB_PORT_H */
