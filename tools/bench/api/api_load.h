/* SPDX-License-Identifier: MIT */
/*
 * The API request load: `clients` threads, each with its own persistent
 * connection, send `requests` requests in all (shared out evenly), one at
 * a time each, and time every one. Used by the API load test
 * (tests/integration/shim/load_test.c) and by tools/bench/api (nv_api_load).
 *
 * The mix, per client, repeats a cycle of ten requests: five reads of one
 * object by name, three lists, and two durable writes (create an object of
 * the client's own, then delete it). Two servers speak it:
 *   nicvisor-dpu  GetNetwork of API_LOAD_NET, ListNetworks/ListVms/
 *                 ListHosts, CreateNetwork/DeleteNetwork (state.pb fsynced)
 *   ovsdb-server  the same on a table "Network" of a private database
 *                 (tools/bench/api/load.ovsschema): select by name, select
 *                 all, insert and delete each with a durable commit
 *                 (RFC 7047 5.2.10: fsynced before the answer), JSON-RPC
 *                 over a unix socket.
 * The caller makes API_LOAD_NET first (api_load_prepare for nicvisor-dpu).
 */
#ifndef API_LOAD_H
#define API_LOAD_H

#include <stddef.h>
#include <stdint.h>

#define API_LOAD_NET         "load-net"
#define API_LOAD_MAX_CLIENTS 64

enum api_load_server {
	API_LOAD_NICVISOR, /* url: the agent's API (ipc://, tcp://) */
	API_LOAD_OVSDB,    /* url: unix:PATH of ovsdb-server */
};

struct api_load_conf {
	enum api_load_server server;
	const char *url;
	unsigned int clients;   /* 1..API_LOAD_MAX_CLIENTS */
	unsigned int requests;  /* in all; a multiple of 10 * clients is exact */
	unsigned int vlan_base; /* client c's networks use vlan_base + c */
	int timeout_ms;         /* per request */
};

struct api_load_result {
	unsigned int done;   /* requests answered */
	unsigned int errors; /* transport failures and answers that are not OK */
	char first_error[256];
	double secs; /* wall time of the whole run */
	/* latency percentiles in milliseconds: all requests, reads, writes */
	double p50_ms, p99_ms, max_ms;
	double read_p50_ms, read_p99_ms;
	double write_p50_ms, write_p99_ms;
};

/* Create API_LOAD_NET (vlan) on a nicvisor-dpu; 0 or -1 (logged). */
int api_load_prepare(const char *url, unsigned int vlan);

/* Run the load; 0 when every client ran (res->errors says how it went),
 * -1 if the run could not start (bad conf, no connection). */
int api_load_run(const struct api_load_conf *conf, struct api_load_result *res);

#endif
