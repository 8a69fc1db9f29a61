/* SPDX-License-Identifier: MIT */
/*
 * flow_cache: a worker's own exact-match cache of switching decisions, in
 * front of the slow path (the shared MAC table, the port and network
 * snapshot, the VLAN and VNI maps that chose the key's network).
 *
 * A key is what the decision depends on: the input port, the network and
 * the destination MAC, the source MAC and the remote VTEP a decapsulated
 * frame came from. IP addresses and ports are not in it: the switch does
 * not decide on them, so any number of IP flows between two stations
 * share one entry (security groups keep their own per-connection table).
 *
 * Invalidation is by generation: an entry is valid only while the
 * generation it was made under is current, i.e. no snapshot was published
 * (dp_cfg.gen) and no MAC table entry was added, moved or removed
 * (l2_table.gen) since. Writers change their table first, then bump its
 * generation (release); a worker reads the generation (acquire) before
 * its slow-path lookups, so an entry made from a table older than the
 * generation it carries cannot exist. Per worker, no locks, no sharing.
 *
 * Sets of FC_WAYS entries (one cache line each), FC_SETS sets, indexed by
 * a CRC of the key.
 */
#ifndef FLOW_CACHE_H
#define FLOW_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#define FC_WAYS 4
#define FC_SETS 2048 /* 8192 entries, 512 KiB per worker */

/* What to do with a frame (the decision cached). */
enum fc_action {
	FC_FLOOD,   /* unknown or group destination: flood in the network */
	FC_FORWARD, /* to port `out` */
	FC_DISCARD, /* known where it came from: back to itself, or wire to wire */
};

struct fc_key {
	uint64_t dst; /* l2_key(network, destination MAC) */
	uint64_t src; /* source MAC48 << 16 | input port */
	uint32_t vtep_in;
	uint32_t zero; /* keeps the key's bytes defined for comparison */
};

struct fc_result {
	uint8_t action;  /* enum fc_action */
	bool learn;      /* the source is not known at the input: ask to learn it */
	uint16_t out;    /* FC_FORWARD: output port */
	uint32_t vtep;   /* FC_FORWARD to an uplink: the remote VTEP, or 0 */
	int32_t src_pos; /* the source's MAC table position to refresh, or -1 */
};

struct fc_entry {
	struct fc_key key;
	uint64_t gen; /* 0: empty */
	struct fc_result res;
} __rte_cache_aligned;

struct flow_cache {
	struct fc_entry e[FC_SETS][FC_WAYS];
	uint32_t victim; /* rotates the way replaced in a full set */
	uint64_t hits, misses;
};

/* The generation entries are made and checked under: the snapshot's in
 * the high half, the MAC table's in the low half (never 0 together). */
static inline uint64_t
fc_gen(uint32_t cfg_gen, uint32_t l2_gen)
{
	return ((uint64_t)cfg_gen << 32) | l2_gen;
}

static inline uint32_t
fc_hash(const struct fc_key *k)
{
	uint32_t h = rte_hash_crc_8byte(k->dst, 0x9e3779b9u);

	h = rte_hash_crc_8byte(k->src, h);
	return rte_hash_crc_4byte(k->vtep_in, h);
}

static inline bool
fc_key_eq(const struct fc_key *a, const struct fc_key *b)
{
	return a->dst == b->dst && a->src == b->src && a->vtep_in == b->vtep_in;
}

/* The cached decision for k under gen, or NULL. */
static inline const struct fc_result *
fc_lookup(struct flow_cache *fc, const struct fc_key *k, uint32_t hash, uint64_t gen)
{
	struct fc_entry *set = fc->e[hash & (FC_SETS - 1)];
	unsigned int i;

	for (i = 0; i < FC_WAYS; i++) {
		if (set[i].gen == gen && fc_key_eq(&set[i].key, k)) {
			fc->hits++;
			return &set[i].res;
		}
	}
	fc->misses++;
	return NULL;
}

static inline void
fc_prefetch(const struct flow_cache *fc, uint32_t hash)
{
	rte_prefetch0(fc->e[hash & (FC_SETS - 1)]);
}

/* Remember r for k under gen: in a way whose entry is stale, else in the
 * next way round. */
static inline void
fc_insert(struct flow_cache *fc, const struct fc_key *k, uint32_t hash, uint64_t gen,
	  const struct fc_result *r)
{
	struct fc_entry *set = fc->e[hash & (FC_SETS - 1)];
	unsigned int i, way = FC_WAYS;

	for (i = 0; i < FC_WAYS; i++) {
		if (set[i].gen != gen) {
			way = i;
			break;
		}
	}
	if (way == FC_WAYS)
		way = fc->victim++ % FC_WAYS;
	set[way].key = *k;
	set[way].res = *r;
	set[way].gen = gen;
}

#endif
