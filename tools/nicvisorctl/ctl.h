/* SPDX-License-Identifier: MIT */
/*
 * What nicvisorctl's commands share: the connection to the agent and the
 * exit statuses. Commands in files of their own (top.c) use this.
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <nng/nng.h>
#include <stdbool.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nv_rpc.h"

enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,
	EXIT_USAGE = 2,
};

struct ctl {
	const char *api_url;
	const char *events_url;
	bool json;
	struct nv_rpc_client *client;
	nng_socket sub;
	bool sub_open;
	struct nv_tls tls; /* for tls+tcp:// URLs */
};

/* Send req (its version is set here); on success (EXIT_OK) *rep is an OK
 * response to free with nv_wire_free; otherwise the error was printed. */
int ctl_call(struct ctl *c, Nicvisor__V1__Request *req, Nicvisor__V1__Response **rep);
/* Print "nicvisorctl: <msg>" and the usage hint; returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, const char *arg);

/* nicvisorctl top [--interval S] [--count N] */
int cmd_top(struct ctl *c, int argc, char **argv);

#endif
