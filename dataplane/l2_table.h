/* SPDX-License-Identifier: MIT */
/*
 * l2_table: the MAC table of every network, one rte_hash keyed by
 * (network, MAC), read lock-free by workers, written by one thread.
 *
 * Each key's hash position indexes an entry (port, last-seen second,
 * static flag). Readers: l2_table_lookup_bulk() on any worker, and
 * l2_table_touch() to refresh an entry's age (a relaxed store, only when
 * the second changed). Writer: exactly one thread at a time (the
 * dataplane's housekeeping thread, or the control thread with it
 * stopped) calls learn/forget/age/reclaim.
 *
 * Deletion is RCU: a deleted key's position goes on a defer queue and is
 * cleared and given back to the hash only after every registered reader
 * has passed a quiescent state (rte_rcu_qsbr), so a reader that found a
 * position never sees it reused under it. A reader that finds a key whose
 * entry is not yet written sees L2_PORT_NONE (unknown: flood).
 */
#ifndef L2_TABLE_H
#define L2_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_hash.h>
#include <rte_rcu_qsbr.h>

#define L2_PORT_NONE 0xffffu

struct l2_entry {
	_Atomic uint16_t port;
	uint8_t is_static;
	uint8_t used;
	_Atomic uint32_t seen; /* l2_table now, seconds */
	_Atomic uint32_t vtep; /* overlay: the remote VTEP behind port (IPv4), or 0 */
	uint64_t key;
};

struct l2_table {
	struct rte_hash *h;
	struct l2_entry *e; /* by hash position */
	uint32_t capacity;
	uint32_t ttl;
	_Atomic uint32_t now; /* coarse clock, seconds, set by the writer */
	struct rte_rcu_qsbr *qsbr;
	struct rte_rcu_qsbr_dq *dq;
	uint32_t count; /* keys in the table (writer's view) */
	/* Bumped (release) after every change of a key's port or VTEP, and
	 * after every removal: workers' flow caches (flow_cache.h) drop what
	 * they derived from an older one. Starts at 1. */
	_Atomic uint32_t gen;
	uint64_t reclaimed;
};

static inline uint64_t
l2_key(uint16_t net, uint64_t mac48)
{
	return (mac48 << 16) | net;
}

/* Create a table for `capacity` keys aging after `ttl` seconds; readers
 * are the threads registered with qsbr. */
int l2_table_create(const char *name, uint32_t capacity, uint32_t ttl, struct rte_rcu_qsbr *qsbr,
		    struct l2_table **out);
void l2_table_free(struct l2_table *t); /* accepts NULL */

/* Writer. learn: insert or move (a static entry is only replaced by
 * another static one: a frame from an uplink cannot steal a VM's MAC).
 * Returns 0, -EPERM (static entry kept), -ENOSPC. */
int l2_table_learn(struct l2_table *t, uint16_t net, uint64_t mac48, uint16_t port, bool is_static);
/* learn a dynamic entry behind a remote VTEP (overlay networks): port is
 * the uplink, vtep its IPv4 address (network order). */
int l2_table_learn_vtep(struct l2_table *t, uint16_t net, uint64_t mac48, uint16_t port,
			uint32_t vtep);
/* Remove one key / every key of a port / of a network; return how many. */
int l2_table_forget(struct l2_table *t, uint16_t net, uint64_t mac48);
unsigned int l2_table_forget_port(struct l2_table *t, uint16_t port);
unsigned int l2_table_forget_net(struct l2_table *t, uint16_t net);
/* Advance the clock to `now` and remove dynamic entries not seen for ttl
 * seconds; returns how many. */
unsigned int l2_table_age(struct l2_table *t, uint32_t now);
/* Give back positions whose grace period has passed; returns how many. */
unsigned int l2_table_reclaim(struct l2_table *t);

/* Readers. Port of each key (L2_PORT_NONE if unknown), positions in pos
 * (negative if unknown). n <= RTE_HASH_LOOKUP_BULK_MAX. */
static inline void
l2_table_lookup_bulk(const struct l2_table *t, const uint64_t *keys, unsigned int n,
		     uint16_t *ports, int32_t *pos)
{
	const void *kp[RTE_HASH_LOOKUP_BULK_MAX];
	unsigned int i;

	for (i = 0; i < n; i++)
		kp[i] = &keys[i];
	rte_hash_lookup_bulk(t->h, kp, n, pos);
	for (i = 0; i < n; i++)
		ports[i] = pos[i] >= 0
				   ? atomic_load_explicit(&t->e[pos[i]].port, memory_order_relaxed)
				   : L2_PORT_NONE;
}

/* The VTEP of the entry at pos (from l2_table_lookup_bulk). A reader
 * racing a move may pair the new port with the old VTEP: one frame goes
 * to the old VTEP. */
static inline uint32_t
l2_table_vtep(const struct l2_table *t, int32_t pos)
{
	return pos >= 0 ? atomic_load_explicit(&t->e[pos].vtep, memory_order_relaxed) : 0;
}

/* The table's generation, read before lookups whose results are cached. */
static inline uint32_t
l2_table_gen(const struct l2_table *t)
{
	return atomic_load_explicit(&t->gen, memory_order_acquire);
}

static inline void
l2_table_touch(struct l2_table *t, int32_t pos)
{
	uint32_t now = atomic_load_explicit(&t->now, memory_order_relaxed);

	if (atomic_load_explicit(&t->e[pos].seen, memory_order_relaxed) != now)
		atomic_store_explicit(&t->e[pos].seen, now, memory_order_relaxed);
}

#endif
