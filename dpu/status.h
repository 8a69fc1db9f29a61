/* SPDX-License-Identifier: MIT */
/*
 * dpu_status: the typed error of one request while it is being handled,
 * turned into a nicvisor.v1.Status when the response is built. Every
 * function of the agent that can refuse a request fills one and returns
 * -EINVAL (or another negative errno), so a caller can write
 *
 *	if (dpu_validate_name(name, "spec.name", st) < 0)
 *		return -EINVAL;
 */
#ifndef DPU_STATUS_H
#define DPU_STATUS_H

#include "nicvisor/v1/types.pb-c.h"
#include "nv_arena.h"

struct dpu_status {
	Nicvisor__V1__Code code;
	char field[96];
	char message[480];
};

/* Fill st and return -EINVAL. */
int dpu_fail(struct dpu_status *st, Nicvisor__V1__Code code, const char *field, const char *fmt,
	     ...) __attribute__((format(printf, 4, 5)));
void dpu_status_clear(struct dpu_status *st);
/* A Status from the arena (strings copied). */
Nicvisor__V1__Status *dpu_status_to_pb(const struct dpu_status *st, struct nv_arena *a);

#endif
