/* SPDX-License-Identifier: MIT */
/*
 * sg: security groups inside the dataplane (dp.h has the public API and
 * the rules' meaning; sg.c the design). Internal to the dataplane.
 */
#ifndef DP_SG_H
#define DP_SG_H

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

struct dp_port;
struct dp_port_counters;
struct dp_sg_ct;

/* sg.c: filter a burst of VM port p in direction dir (DP_QOS_RX: what
 * the VM sends, egress; DP_QOS_TX: what it receives, ingress) by its
 * security group: denied frames are freed (one reference: flooded frames
 * are shared and only read) and counted in ctr; the rest are packed to
 * the front (rx: denied ones counted as received too). Returns how many
 * remain. Worker w (DP_MAX_WORKERS: another thread). */
uint16_t dp_sg_filter(struct dp_sg_ct *ct, struct dp_port *p, unsigned int dir, unsigned int w,
		      struct rte_mbuf **pkts, uint16_t n, struct dp_port_counters *ctr);
/* The connection table: made by dp_open, aged by housekeeping (under
 * dp->lock, like every change but workers' additions). */
int dp_sg_ct_create(const char *name, uint32_t capacity, struct rte_rcu_qsbr *qsbr,
		    struct dp_sg_ct **out);
void dp_sg_ct_free(struct dp_sg_ct *ct); /* accepts NULL; readers stopped */
/* Forget expired connections (and free positions whose grace period
 * passed); returns how many were forgotten. */
unsigned int dp_sg_ct_age(struct dp_sg_ct *ct);
/* Forget a port's connections (the port goes). */
unsigned int dp_sg_ct_forget_port(struct dp_sg_ct *ct, uint16_t port);
/* Free a port's policy (the port is out of every snapshot). */
void dp_sg_port_free(struct dp_port *p);

#endif
