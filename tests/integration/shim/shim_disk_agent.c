/* SPDX-License-Identifier: MIT */
/*
 * The agent's side of shim-disk.sh: a southbound agent (the unit tests'
 * fake_agent.c) that hands the real shim daemon a VM with one disk, as
 * the real agent would after attaching a volume, and reports how it went.
 *
 *   shim_disk_agent URL KERNEL VCPUS SOCKET QUEUES ro|rw CONSOLE
 *
 * First a launch with a disk of 0 queues, which the daemon must refuse
 * (FAILED, the field named, no child); then the real one: 64 MiB, VCPUS,
 * one DiskAttachment (SOCKET, QUEUES as the agent says them, read-only or
 * not) and the matching spec disk. Waits (bounded) for RUNNING and the
 * final state, writes the console to CONSOLE and prints one line per
 * step. Exit 0 when the guest ended with debug exit 0x10 (its OK), 1
 * otherwise, 2 on bad arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_agent.h"
#include "nicvisor/v1/types.pb-c.h"

#define STOPPED    NICVISOR__V1__VM_STATE__VM_STATE_STOPPED
#define FAILED     NICVISOR__V1__VM_STATE__VM_STATE_FAILED
#define RUNNING    NICVISOR__V1__VM_STATE__VM_STATE_RUNNING
#define KERNEL_MAX (8u << 20)
#define BOOT_S     60
#define RUN_S      90

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(KERNEL_MAX);

	*len = 0;
	if (f == NULL || buf == NULL) {
		if (f != NULL)
			fclose(f);
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, KERNEL_MAX, f);
	fclose(f);
	if (*len == 0 || *len == KERNEL_MAX) {
		free(buf);
		return NULL;
	}
	return buf;
}

static uint64_t
launch(struct fake_agent *fa, const char *vm_id, const char *kid, size_t klen, uint32_t vcpus,
       const char *sock, uint32_t queues, bool ro)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Artifact k = NICVISOR__V1__ARTIFACT__INIT;
	Nicvisor__V1__DiskAttachment a = NICVISOR__V1__DISK_ATTACHMENT__INIT, *ap = &a;
	Nicvisor__V1__DiskSpec ds = NICVISOR__V1__DISK_SPEC__INIT, *dsp = &ds;

	spec.name = (char *)vm_id;
	spec.vcpus = vcpus;
	spec.memory_mib = 64;
	spec.kernel = "blk.elf";
	spec.cmdline = "";
	ds.volume = "vol-it";
	ds.read_only = ro;
	spec.disks = &dsp;
	spec.n_disks = 1;
	k.id = (char *)kid;
	k.size = klen;
	a.index = 0;
	a.vhost_user_socket = (char *)sock;
	a.queues = queues;
	a.read_only = ro;
	a.serial = "vol-0123456789abcdef";
	a.size_bytes = 4 << 20;
	l.vm_id = (char *)vm_id;
	l.spec = &spec;
	l.kernel = &k;
	l.disks = &ap;
	l.n_disks = 1;
	c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	c.launch = &l;
	return fa_push(fa, &c);
}

/* The first report of vm_id in STOPPED or FAILED within secs. */
static bool
wait_final(struct fake_agent *fa, const char *vm_id, int secs, struct fa_report *r)
{
	for (int i = 0; i < secs * 4; i++) {
		unsigned int from = 0;

		if (fa_wait_report(fa, vm_id, STOPPED, -1, &from, r, 0))
			return true;
		from = 0;
		if (fa_wait_report(fa, vm_id, FAILED, -1, &from, r, 250))
			return true;
	}
	return false;
}

int
main(int argc, char **argv)
{
	static struct fake_agent fa;
	static struct fa_console con;
	struct fa_report r;
	char kid[65], *end;
	unsigned long vcpus, queues;
	unsigned int from = 0;
	uint8_t *kernel;
	size_t klen;
	FILE *out;
	int rc = 1;

	if (argc != 8 || (strcmp(argv[6], "ro") != 0 && strcmp(argv[6], "rw") != 0)) {
		fprintf(stderr, "usage: shim_disk_agent URL KERNEL VCPUS SOCKET QUEUES ro|rw "
				"CONSOLE\n");
		return 2;
	}
	vcpus = strtoul(argv[3], &end, 10);
	if (*end != 0 || vcpus < 1 || vcpus > 8)
		return 2;
	queues = strtoul(argv[5], &end, 10);
	if (*end != 0 || queues < 1 || queues > 16)
		return 2;
	kernel = read_file(argv[2], &klen);
	if (kernel == NULL) {
		fprintf(stderr, "%s: cannot read (or over %u bytes)\n", argv[2], KERNEL_MAX);
		return 2;
	}
	if (fa_start(&fa, argv[1], 500) < 0) {
		fprintf(stderr, "cannot listen on %s\n", argv[1]);
		free(kernel);
		return 1;
	}
	fa_add_blob(&fa, kernel, klen, kid);
	free(kernel);

	/* A disk the daemon must refuse; it goes on serving. */
	launch(&fa, "vm-bad-disk", kid, klen, (uint32_t)vcpus, argv[4], 0, false);
	if (!fa_wait_report(&fa, "vm-bad-disk", FAILED, -1, &from, &r, BOOT_S * 1000)) {
		printf("bad launch: no FAILED report\n");
		goto out;
	}
	printf("bad launch: FAILED: %s\n", r.reason);
	if (strstr(r.reason, "launch.disks[0].queues") == NULL || r.pid != 0)
		goto out;

	launch(&fa, "vm-blk", kid, klen, (uint32_t)vcpus, argv[4], (uint32_t)queues,
	       strcmp(argv[6], "ro") == 0);
	from = 0;
	if (!fa_wait_report(&fa, "vm-blk", RUNNING, -1, &from, &r, BOOT_S * 1000)) {
		printf("vm-blk: not RUNNING in %d s\n", BOOT_S);
		goto out;
	}
	printf("vm-blk: RUNNING, pid %u, VMM setup %.3f ms\n", r.pid, r.boot_ns / 1e6);
	if (!wait_final(&fa, "vm-blk", RUN_S, &r)) {
		printf("vm-blk: no final state in %d s\n", RUN_S);
		goto out;
	}
	printf("vm-blk: final state %d, exit %d: %s\n", r.state, r.exit, r.reason);
	if (r.state == STOPPED && r.exit == NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT &&
	    strcmp(r.reason, "debug exit code 16") == 0)
		rc = 0;
out:
	if (fa_console_get(&fa, "vm-blk", &con) && (out = fopen(argv[7], "w")) != NULL) {
		fwrite(con.data, 1, con.len, out);
		fclose(out);
	}
	fa_stop(&fa);
	return rc;
}
