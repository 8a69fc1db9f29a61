/* SPDX-License-Identifier: MIT */
/*
 * The agent on nng: the event publisher (pub0), the northbound and
 * southbound nv_rpc servers, and the timer thread that drives
 * dpu_agent_tick(). Used by main.c; integration tests run the real binary.
 *
 * Order: dpu_events_open(), dpu_agent_open() with dpu_events_sink(),
 * dpu_server_open(); and back: dpu_server_close() (which stops the timer,
 * shuts the agent's polls and closes both servers), dpu_agent_close(),
 * dpu_events_close().
 */
#ifndef DPU_SERVER_H
#define DPU_SERVER_H

#include "agent.h"

struct dpu_events;
struct dpu_server;

#include "nv_rpc.h"

struct dpu_server_conf {
	const char *api_url;
	const char *api_ro_url; /* (opt) the read-only API endpoint */
	const char *south_url;
	/* TLS files of each endpoint (used for tls+tcp:// URLs): the same
	 * certificate, each its own CAs (whose clients it admits). */
	struct nv_tls api_tls, api_ro_tls, south_tls;
};

/* Publish events on url (tls: for a tls+tcp:// url, NULL otherwise). */
int dpu_events_open(const char *url, const struct nv_tls *tls, struct dpu_events **out);
void dpu_events_close(struct dpu_events *ev); /* accepts NULL */
struct dpu_event_sink dpu_events_sink(struct dpu_events *ev);

int dpu_server_open(struct dpu_agent *a, const struct dpu_server_conf *conf,
		    struct dpu_server **out);
void dpu_server_close(struct dpu_server *s); /* accepts NULL */

#endif
