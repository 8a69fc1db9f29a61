/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>

#include "dp.h"
#include "worker_lines.h"

int
dpt_print_workers(struct dp *dp)
{
	struct dp_worker_stats ws[16];
	int rc = dp_worker_stats(dp, ws, 16);

	for (int i = 0; i < rc; i++)
		printf("WORKER lcore=%u packets=%" PRIu64 " busy_cycles=%" PRIu64
		       " idle_cycles=%" PRIu64 " flow_hits=%" PRIu64 " flow_misses=%" PRIu64
		       " blk_requests=%" PRIu64 " blk_busy_cycles=%" PRIu64 " tsc_hz=%" PRIu64 "\n",
		       ws[i].lcore, ws[i].packets, ws[i].busy_cycles, ws[i].idle_cycles,
		       ws[i].flow_hits, ws[i].flow_misses, ws[i].blk_requests,
		       ws[i].blk_busy_cycles, ws[i].tsc_hz);
	if (rc >= 0)
		printf("OK %d\n", rc);
	return rc;
}
