/* SPDX-License-Identifier: MIT */
/*
 * nv_api_load: the API request load of api_load.h against one server,
 * for tools/bench/api/bench_api.py.
 *
 *   nv_api_load nicvisor|ovsdb URL [--clients N] [--requests N]
 *               [--vlan-base N] [--prepare]
 *
 * --prepare first creates the network the reads name (nicvisor only).
 * Prints one line of key=value figures (latencies in ms); exits 0 when
 * every request was answered OK, 1 otherwise (the first error on stderr),
 * 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_load.h"

static int
usage(void)
{
	fprintf(stderr, "usage: nv_api_load nicvisor|ovsdb URL [--clients N] [--requests N] "
			"[--vlan-base N] [--prepare]\n");
	return 2;
}

static int
parse_uint(const char *s, unsigned int lo, unsigned int hi, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct api_load_conf conf = {
		.clients = 16,
		.requests = 10000,
		.vlan_base = 1000,
		.timeout_ms = 10000,
	};
	struct api_load_result res;
	int prepare = 0;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "nicvisor") == 0)
		conf.server = API_LOAD_NICVISOR;
	else if (strcmp(argv[1], "ovsdb") == 0)
		conf.server = API_LOAD_OVSDB;
	else
		return usage();
	conf.url = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--prepare") == 0) {
			prepare = 1;
		} else if (i + 1 < argc && strcmp(argv[i], "--clients") == 0) {
			if (parse_uint(argv[++i], 1, API_LOAD_MAX_CLIENTS, &conf.clients) < 0)
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--requests") == 0) {
			if (parse_uint(argv[++i], 1, 10000000, &conf.requests) < 0)
				return usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--vlan-base") == 0) {
			if (parse_uint(argv[++i], 1, 4094 - API_LOAD_MAX_CLIENTS, &conf.vlan_base) <
			    0)
				return usage();
		} else {
			return usage();
		}
	}
	if (prepare && (conf.server != API_LOAD_NICVISOR ||
			api_load_prepare(conf.url, conf.vlan_base - 1) < 0))
		return 1;
	if (api_load_run(&conf, &res) < 0)
		return 1;
	printf("done=%u errors=%u secs=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "read_p50_ms=%.3f read_p99_ms=%.3f write_p50_ms=%.3f write_p99_ms=%.3f\n",
	       res.done, res.errors, res.secs, res.secs > 0 ? res.done / res.secs : 0, res.p50_ms,
	       res.p99_ms, res.max_ms, res.read_p50_ms, res.read_p99_ms, res.write_p50_ms,
	       res.write_p99_ms);
	if (res.errors > 0)
		fprintf(stderr, "nv_api_load: %u errors; first: %s\n", res.errors, res.first_error);
	return res.errors == 0 && res.done == conf.requests ? 0 : 1;
}
