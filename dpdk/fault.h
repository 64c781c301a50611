/*
 * fault.h - the bridge's seeded fault injector (internal).
 *
 * Off unless configured.  The worker asks it about every frame it is about
 * to transmit or has just received; the in-process engine tests use the same
 * injector on their in-memory link.  Decisions come from a xorshift64* PRNG
 * seeded from the configuration, so a failing run is reproduced by its
 * seed.  Rates are in parts per 10,000 (5% = 500).
 *
 * The injector only decides and corrupts; the caller does what the decision
 * says: drop the frame, send/deliver it twice, or hold it back and release
 * it after the next frame (reordering by one position, repeated holds give
 * longer displacements).
 */
#ifndef SBB_FAULT_H
#define SBB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbb_fault_cfg {
	uint32_t drop;     /* per 10,000 */
	uint32_t dup;
	uint32_t reorder;
	uint32_t corrupt;
	uint64_t seed;     /* 0: injector off regardless of rates */
};

enum sbb_fault_action {
	SBB_FAULT_PASS = 0,
	SBB_FAULT_DROP = 1u << 0,
	SBB_FAULT_DUP = 1u << 1,
	SBB_FAULT_HOLD = 1u << 2,    /* deliver after the next frame */
	SBB_FAULT_CORRUPT = 1u << 3, /* sbb_fault_corrupt() the frame first */
};

struct sbb_fault {
	struct sbb_fault_cfg cfg;
	uint64_t state;
	uint64_t drops, dups, holds, corruptions; /* what it did */
};

void sbb_fault_init(struct sbb_fault *f, const struct sbb_fault_cfg *cfg);
static inline bool sbb_fault_on(const struct sbb_fault *f) { return f->cfg.seed != 0; }
/* Decide for one frame: a set of enum sbb_fault_action bits. */
unsigned sbb_fault_decide(struct sbb_fault *f);
/* Flip one to four random bits past the Ethernet header. */
void sbb_fault_corrupt(struct sbb_fault *f, uint8_t *frame, size_t len);
/* Parse "drop=500,dup=100,reorder=100,corrupt=50,seed=42".  Returns 0 or -1. */
int sbb_fault_parse(const char *spec, struct sbb_fault_cfg *cfg);

#endif /* SBB_FAULT_H */
