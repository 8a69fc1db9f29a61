/* SPDX-License-Identifier: MIT */
/* l2_table: MAC learning and aging (see l2_table.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "l2_table.h"

/* Called by the defer queue once no reader can hold these positions. */
static void
release_positions(void *p, void *e, unsigned int n)
{
	struct l2_table *t = p;
	const uint32_t *pos = e;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct l2_entry *ent = &t->e[pos[i]];

		atomic_store_explicit(&ent->port, L2_PORT_NONE, memory_order_relaxed);
		atomic_store_explicit(&ent->vtep, 0, memory_order_relaxed);
		ent->used = 0;
		ent->is_static = 0;
		rte_hash_free_key_with_position(t->h, (int32_t)pos[i]);
		t->reclaimed++;
	}
}

int
l2_table_create(const char *name, uint32_t capacity, uint32_t ttl, struct rte_rcu_qsbr *qsbr,
		struct l2_table **out)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(uint64_t),
		.hash_func = rte_hash_crc,
		.socket_id = SOCKET_ID_ANY,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rte_rcu_qsbr_dq_parameters dp = { 0 };
	char dqname[RTE_RCU_QSBR_DQ_NAMESIZE];
	struct l2_table *t;
	uint32_t i;
	int rc;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->capacity = capacity;
	t->ttl = ttl;
	t->qsbr = qsbr;
	atomic_init(&t->gen, 1);
	t->h = rte_hash_create(&hp);
	if (t->h == NULL) {
		rc = -rte_errno;
		goto out_free_table;
	}
	/* Positions run from 0 to the hash's own key-store size. */
	t->capacity = rte_hash_max_key_id(t->h) + 1;
	t->e = rte_zmalloc(NULL, sizeof(*t->e) * t->capacity, RTE_CACHE_LINE_SIZE);
	if (t->e == NULL) {
		rc = -ENOMEM;
		goto out_free_hash;
	}
	for (i = 0; i < t->capacity; i++)
		atomic_store_explicit(&t->e[i].port, L2_PORT_NONE, memory_order_relaxed);
	snprintf(dqname, sizeof(dqname), "%s", name);
	dp.name = dqname;
	dp.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE;
	dp.size = t->capacity;
	dp.esize = sizeof(uint32_t);
	dp.trigger_reclaim_limit = 0;
	dp.max_reclaim_size = 64;
	dp.free_fn = release_positions;
	dp.p = t;
	dp.v = qsbr;
	t->dq = rte_rcu_qsbr_dq_create(&dp);
	if (t->dq == NULL) {
		rc = -rte_errno ? -rte_errno : -ENOMEM;
		goto out_free_entries;
	}
	*out = t;
	return 0;

out_free_entries:
	rte_free(t->e);
out_free_hash:
	rte_hash_free(t->h);
out_free_table:
	free(t);
	return rc;
}

void
l2_table_free(struct l2_table *t)
{
	if (t == NULL)
		return;
	/* The caller has stopped every reader: nothing is pending. */
	rte_rcu_qsbr_dq_delete(t->dq);
	rte_hash_free(t->h);
	rte_free(t->e);
	free(t);
}

/* After a change readers may have cached (flow_cache.h). */
static void
bump(struct l2_table *t)
{
	atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
}

static int
learn(struct l2_table *t, uint16_t net, uint64_t mac48, uint16_t port, bool is_static,
      uint32_t vtep)
{
	uint64_t key = l2_key(net, mac48);
	uint32_t now = atomic_load_explicit(&t->now, memory_order_relaxed);
	struct l2_entry *e;
	int32_t pos;

	pos = rte_hash_lookup(t->h, &key);
	if (pos >= 0) {
		e = &t->e[pos];
		if (e->is_static && !is_static)
			return -EPERM;
		bool moved = atomic_load_explicit(&e->port, memory_order_relaxed) != port ||
			     atomic_load_explicit(&e->vtep, memory_order_relaxed) != vtep;

		e->is_static = is_static;
		atomic_store_explicit(&e->seen, now, memory_order_relaxed);
		atomic_store_explicit(&e->vtep, vtep, memory_order_relaxed);
		atomic_store_explicit(&e->port, port, memory_order_release);
		if (moved)
			bump(t);
		return 0;
	}
	pos = rte_hash_add_key(t->h, &key);
	if (pos < 0) {
		/* Full: give back what has passed its grace period and retry. */
		if (l2_table_reclaim(t) == 0)
			return -ENOSPC;
		pos = rte_hash_add_key(t->h, &key);
		if (pos < 0)
			return -ENOSPC;
	}
	e = &t->e[pos];
	e->key = key;
	e->is_static = is_static;
	e->used = 1;
	atomic_store_explicit(&e->seen, now, memory_order_relaxed);
	atomic_store_explicit(&e->vtep, vtep, memory_order_relaxed);
	atomic_store_explicit(&e->port, port, memory_order_release);
	t->count++;
	bump(t);
	return 0;
}

int
l2_table_learn(struct l2_table *t, uint16_t net, uint64_t mac48, uint16_t port, bool is_static)
{
	return learn(t, net, mac48, port, is_static, 0);
}

int
l2_table_learn_vtep(struct l2_table *t, uint16_t net, uint64_t mac48, uint16_t port, uint32_t vtep)
{
	return learn(t, net, mac48, port, false, vtep);
}

static int
forget_key(struct l2_table *t, uint64_t key)
{
	int32_t pos = rte_hash_del_key(t->h, &key);
	uint32_t p;

	if (pos < 0)
		return pos;
	t->e[pos].used = 0;
	t->count--;
	bump(t);
	p = (uint32_t)pos;
	if (rte_rcu_qsbr_dq_enqueue(t->dq, &p) != 0) {
		/* Queue full: wait for readers, then reclaim everything. */
		rte_rcu_qsbr_synchronize(t->qsbr, RTE_QSBR_THRID_INVALID);
		rte_rcu_qsbr_dq_reclaim(t->dq, UINT32_MAX, NULL, NULL, NULL);
		release_positions(t, &p, 1);
	}
	return 0;
}

int
l2_table_forget(struct l2_table *t, uint16_t net, uint64_t mac48)
{
	return forget_key(t, l2_key(net, mac48));
}

static unsigned int
forget_matching(struct l2_table *t, int by_port, uint16_t value, bool aged, uint32_t now)
{
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < t->capacity; i++) {
		struct l2_entry *e = &t->e[i];
		bool match;

		if (!e->used)
			continue;
		if (aged) {
			uint32_t seen = atomic_load_explicit(&e->seen, memory_order_relaxed);

			match = !e->is_static && (uint32_t)(now - seen) >= t->ttl;
		} else if (by_port) {
			match = atomic_load_explicit(&e->port, memory_order_relaxed) == value;
		} else {
			match = (uint16_t)(e->key & 0xffff) == value;
		}
		if (match && forget_key(t, e->key) == 0)
			n++;
	}
	return n;
}

unsigned int
l2_table_forget_port(struct l2_table *t, uint16_t port)
{
	return forget_matching(t, 1, port, false, 0);
}

unsigned int
l2_table_forget_net(struct l2_table *t, uint16_t net)
{
	return forget_matching(t, 0, net, false, 0);
}

unsigned int
l2_table_age(struct l2_table *t, uint32_t now)
{
	atomic_store_explicit(&t->now, now, memory_order_relaxed);
	return forget_matching(t, 0, 0, true, now);
}

unsigned int
l2_table_reclaim(struct l2_table *t)
{
	unsigned int freed = 0;

	rte_rcu_qsbr_dq_reclaim(t->dq, UINT32_MAX, &freed, NULL, NULL);
	return freed;
}
