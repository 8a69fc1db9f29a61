/* SPDX-License-Identifier: MIT */
/*
 * blk_testd: the dataplane's block backends in a process of their own,
 * driven line by line on stdin, for integration tests (and people). Every
 * command answers one line, "OK ..." or "ERR <errno> <reason>"; `stats`
 * prints one "BLKSTAT" line per disk first.
 *
 *   disk NAME PATH QUEUES [ro] [iops=N] [bps=N] [serial=S]   (answers OK <socket>)
 *   del NAME       stats [NAME]       quit
 *   workers        one "WORKER" line per worker lcore (worker_lines.h):
 *                  with the block requests it completed and the TSC
 *                  cycles of its rounds that did block work, then OK N
 *
 * Usage: blk_testd --vhost-dir DIR --prefix PREFIX [--cpus LIST] [--mem MB]
 *                  [--no-idle-sleep]
 * --no-idle-sleep: the pollers spin as in production (nicvisor-dpu without
 * --dp-idle-sleep), for tools/bench/blk.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"
#include "dp.h"
#include "worker_lines.h"

static void
print_stats(const struct dp_blk_stats *st)
{
	unsigned int i;

	printf("BLKSTAT disk=%s connected=%d read_only=%d direct=%d queues=%u size=%" PRIu64
	       " reads=%" PRIu64 " writes=%" PRIu64 " flushes=%" PRIu64 " discards=%" PRIu64
	       " write_zeroes=%" PRIu64 " get_ids=%" PRIu64 " read_bytes=%" PRIu64
	       " write_bytes=%" PRIu64 " throttled=%" PRIu64 " inflight=%" PRIu64,
	       st->name, st->connected, st->read_only, st->direct, st->queues, st->size, st->reads,
	       st->writes, st->flushes, st->discards, st->write_zeroes, st->get_ids, st->read_bytes,
	       st->write_bytes, st->throttled, st->inflight);
	for (i = 0; i < DP_BLK_ERR_N; i++)
		printf(" err_%s=%" PRIu64, dp_blk_err_names[i], st->errors[i]);
	printf("\n");
}

static int
command(struct dp *dp, char *line)
{
	char *argv[10], *save = NULL, *tok, err[256] = "", path[256];
	static struct dp_blk_stats st[DP_BLK_MAX_DISKS];
	int argc = 0, rc = -EINVAL, i;

	for (tok = strtok_r(line, " \t\n", &save); tok != NULL && argc < 10;
	     tok = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "quit") == 0)
		return 1;
	if (strcmp(argv[0], "disk") == 0 && argc >= 4) {
		struct dp_blk_conf c = {
			.name = argv[1],
			.path = argv[2],
			.queues = (unsigned int)atoi(argv[3]),
		};

		for (i = 4; i < argc; i++) {
			if (strcmp(argv[i], "ro") == 0)
				c.read_only = true;
			else if (strncmp(argv[i], "iops=", 5) == 0)
				c.iops_limit = strtoull(argv[i] + 5, NULL, 10);
			else if (strncmp(argv[i], "bps=", 4) == 0)
				c.bps_limit = strtoull(argv[i] + 4, NULL, 10);
			else if (strncmp(argv[i], "serial=", 7) == 0)
				c.serial = argv[i] + 7;
		}
		rc = dp_blk_disk_add(dp, &c, path, sizeof(path), err, sizeof(err));
		if (rc == 0) {
			printf("OK %s\n", path);
			return 0;
		}
	} else if (strcmp(argv[0], "del") == 0 && argc == 2) {
		rc = dp_blk_disk_del(dp, argv[1], err, sizeof(err));
	} else if (strcmp(argv[0], "workers") == 0 && argc == 1) {
		rc = dpt_print_workers(dp);
		if (rc >= 0)
			return 0;
	} else if (strcmp(argv[0], "stats") == 0 && argc <= 2) {
		rc = dp_blk_disk_stats(dp, argc == 2 ? argv[1] : NULL, st, DP_BLK_MAX_DISKS);
		for (i = 0; i < rc; i++)
			print_stats(&st[i]);
		if (rc >= 0) {
			printf("OK %d\n", rc);
			return 0;
		}
		snprintf(err, sizeof(err), "no such disk");
	} else {
		snprintf(err, sizeof(err), "unknown command or wrong arguments");
	}
	if (rc == 0)
		printf("OK\n");
	else
		printf("ERR %d %s\n", -rc, err);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vhost-dir", required_argument, NULL, 'd' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "no-idle-sleep", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct dp_conf conf = {
		.workers = 1,
		.no_huge = true,
		.mem_mb = 256,
		.idle_sleep = true,
	};
	char line[1024], err[256] = "";
	struct dp *dp;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			conf.vhost_dir = optarg;
			break;
		case 'p':
			conf.file_prefix = optarg;
			break;
		case 'c':
			conf.cpus = optarg;
			break;
		case 'm':
			conf.mem_mb = (unsigned int)atoi(optarg);
			break;
		case 'n':
			conf.idle_sleep = false;
			break;
		default:
			fprintf(stderr, "usage: blk_testd --vhost-dir DIR --prefix P [...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = dp_open(&conf, &dp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "blk_testd: %s (%s)\n", err, strerror(-rc));
		return 1;
	}
	printf("READY\n");
	while (fgets(line, sizeof(line), stdin) != NULL)
		if (command(dp, line) != 0)
			break;
	dp_blk_shutdown(dp);
	dp_close(dp);
	printf("BYE\n");
	return 0;
}
