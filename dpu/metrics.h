/* SPDX-License-Identifier: MIT */
/*
 * The agent's Prometheus endpoint: GET http://ADDRESS:PORT/metrics (see
 * metrics.c and docs/operations.md for the metrics).
 */
#ifndef DPU_METRICS_H
#define DPU_METRICS_H

#include <stddef.h>

struct dpu_agent;
struct dpu_metrics;

/* Serve a's metrics on listen ("ADDRESS:PORT"; port 0: any free one).
 * 0, or a negative errno with the reason logged. */
int dpu_metrics_open(struct dpu_agent *a, const char *listen, struct dpu_metrics **out);
/* "http://ADDRESS:PORT", the port resolved. */
const char *dpu_metrics_url(const struct dpu_metrics *m);
void dpu_metrics_close(struct dpu_metrics *m); /* accepts NULL */
/* The text a scrape returns (malloc'd, *len bytes), or NULL without memory. */
char *dpu_metrics_render(struct dpu_agent *a, size_t *len);

#endif
