/* SPDX-License-Identifier: MIT */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int
dpu_fail(struct dpu_status *st, Nicvisor__V1__Code code, const char *field, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	snprintf(st->field, sizeof(st->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void
dpu_status_clear(struct dpu_status *st)
{
	st->code = NICVISOR__V1__CODE__CODE_OK;
	st->field[0] = 0;
	st->message[0] = 0;
}

Nicvisor__V1__Status *
dpu_status_to_pb(const struct dpu_status *st, struct nv_arena *a)
{
	Nicvisor__V1__Status *pb = nv_arena_alloc(a, sizeof(*pb));

	nicvisor__v1__status__init(pb);
	pb->code = st->code;
	pb->message = nv_arena_strdup(a, st->message);
	pb->field = nv_arena_strdup(a, st->field);
	return pb;
}
