/* SPDX-License-Identifier: MIT */
/*
 * The `workers` command of the dataplane test daemons (dp_testd,
 * blk_testd): one line per worker lcore, then "OK N".
 */
#ifndef NV_WORKER_LINES_H
#define NV_WORKER_LINES_H

struct dp;

/* Prints "WORKER lcore=L packets=P busy_cycles=C blk_requests=R
 * blk_busy_cycles=B tsc_hz=H" per worker and "OK N"; negative errno if
 * the dataplane refused (nothing printed). */
int dpt_print_workers(struct dp *dp);

#endif
