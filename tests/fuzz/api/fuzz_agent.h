/* SPDX-License-Identifier: MIT */
/*
 * An in-process agent for the fuzzers and their seed generator, set up the
 * same way for every input so that ids and sessions are predictable: a
 * fake clock, counter-based "random" bytes, an in-memory store, boot files
 * in a private temp directory. Each input gets a fresh agent.
 *
 * Networking runs on the fake dataplane (dpu/net.h) with network "blue"
 * (VLAN 10, id fuzz_net_id) and network "red" (untagged, no NIC on it).
 * Storage runs on the fake block backend (dpu/blk.h) with file volume
 * "root" (1 MiB, id fuzz_vol_id; its sparse file in the temp directory,
 * removed with every agent) and NBD volume "remote" (no disk on it).
 *
 * fuzz_agent_open(with_host):
 *   false: no host; one VM "web1" with a NIC on blue (MAC FUZZ_MAC) and
 *          disk 0 on root (read-write) created (not started).
 *   true:  host "h1" said Hello (session fuzz_session), VM "web1" created
 *          and started on it (launch with its NIC queued; artifacts stored).
 */
#ifndef FUZZ_AGENT_H
#define FUZZ_AGENT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "agent.h"
#include "blk.h"
#include "net.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "store.h"

static uint64_t fuzz_clock_now;
static uint64_t fuzz_rnd;
static char fuzz_dir[64];
static char fuzz_artifacts[96];
static char fuzz_kernel[96];
static char fuzz_session[64];
static char fuzz_vm_id[32];
static char fuzz_net_id[32];
static char fuzz_vol_id[32];
static char fuzz_volumes[96];
static struct dpu_store *fuzz_store;
static struct dpu_net *fuzz_net;
static struct dpu_blk *fuzz_blk;

#define FUZZ_MAC "52:54:00:00:00:01"

static uint64_t
fuzz_clock(void)
{
	return fuzz_clock_now;
}

static void
fuzz_random(void *buf, size_t len)
{
	uint8_t *b = buf;

	fuzz_rnd++;
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i < 8 ? fuzz_rnd >> (8 * i) : 0xa5);
}

/* Once per process. */
static void
fuzz_agent_init(void)
{
	uint8_t k[4096];
	int fd;

	nv_log_init("fuzz", NV_LOG_ERR);
	nv_log_set_level(NV_LOG_ERR);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/nv-fuzz-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_artifacts, sizeof(fuzz_artifacts), "%s/artifacts", fuzz_dir);
	snprintf(fuzz_kernel, sizeof(fuzz_kernel), "%s/bzImage", fuzz_dir);
	snprintf(fuzz_volumes, sizeof(fuzz_volumes), "%s/volumes", fuzz_dir);
	mkdir(fuzz_artifacts, 0700);
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i * 31 + 7);
	memcpy(k + 0x202, "HdrS", 4);
	fd = open(fuzz_kernel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, k, sizeof(k)) != (ssize_t)sizeof(k))
		abort();
	close(fd);
}

/* The volume files an input's agent made: ids repeat from input to input. */
static void
fuzz_remove_volumes(void)
{
	char path[400];
	DIR *d = opendir(fuzz_volumes);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fuzz_volumes, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Remove the temp directory (the fuzzers leave it to process exit). */
static void
fuzz_agent_cleanup(void)
{
	fuzz_remove_volumes();
	rmdir(fuzz_volumes);
	unlink(fuzz_kernel);
	rmdir(fuzz_artifacts);
	rmdir(fuzz_dir);
}

static void
fuzz_abandon(struct dpu_reply *r)
{
	(void)r;
}

static void
fuzz_call_api(struct dpu_agent *a, const ProtobufCMessage *m, Nicvisor__V1__Response *rep,
	      struct nv_arena *ar)
{
	uint8_t *buf;
	size_t len;

	if (nv_wire_pack_buf(m, &buf, &len) < 0)
		abort();
	dpu_agent_api(a, buf, len, ar, rep);
	free(buf);
}

static void
fuzz_hello_send(struct dpu_reply *r, const Nicvisor__V1__HostResponse *rep)
{
	(void)r;
	if (rep->hello != NULL)
		snprintf(fuzz_session, sizeof(fuzz_session), "%s", rep->hello->session);
}

static struct dpu_agent *
fuzz_agent_open(bool with_host)
{
	struct dpu_agent_conf conf = {
		.artifact_dir = fuzz_artifacts,
		.heartbeat_ms = 1000,
		.clock_ms = fuzz_clock,
		.random = fuzz_random,
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__DiskSpec disk = NICVISOR__V1__DISK_SPEC__INIT, *disks[1] = { &disk };
	Nicvisor__V1__Response rep;
	struct nv_arena ar = NV_ARENA_INIT;
	struct dpu_agent *a;

	fuzz_clock_now = 1000000;
	fuzz_rnd = 0;
	fuzz_session[0] = 0;
	if (dpu_store_mem_open(&fuzz_store) < 0 ||
	    dpu_net_fake_open("/run/fuzz/vhost", &fuzz_net) < 0 ||
	    dpu_blk_fake_open("/run/fuzz/vhost", &fuzz_blk) < 0)
		abort();
	conf.store = fuzz_store;
	conf.net = fuzz_net;
	conf.blk = fuzz_blk;
	conf.volume_dir = fuzz_volumes;
	if (dpu_agent_open(&conf, &a) < 0)
		abort();
	req.version = NV_PROTOCOL_VERSION;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_NETWORK;
	req.create_network = &cn;
	cn.name = "blue";
	cn.vlan = 10;
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK || rep.network == NULL)
		abort();
	snprintf(fuzz_net_id, sizeof(fuzz_net_id), "%s", rep.network->id);
	cn.name = "red";
	cn.vlan = 0;
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK)
		abort();
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VOLUME;
	req.create_volume = &cv;
	cv.name = "root";
	cv.size_bytes = 1 << 20;
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK || rep.volume == NULL)
		abort();
	snprintf(fuzz_vol_id, sizeof(fuzz_vol_id), "%s", rep.volume->id);
	cv.name = "remote";
	cv.nbd_url = "nbd://storage:10809/export";
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK)
		abort();
	if (with_host) {
		Nicvisor__V1__HostRequest hr = NICVISOR__V1__HOST_REQUEST__INIT;
		Nicvisor__V1__Hello hello = NICVISOR__V1__HELLO__INIT;
		Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
		struct dpu_reply r = { fuzz_hello_send, fuzz_abandon };
		uint8_t *buf;
		size_t len;

		caps.cores = 4;
		caps.memory_mib = 4096;
		caps.memory_available_mib = 4096;
		hello.host_id = "h1";
		hello.caps = &caps;
		hr.version = NV_PROTOCOL_VERSION;
		hr.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
		hr.hello = &hello;
		if (nv_wire_pack_buf(&hr.base, &buf, &len) < 0)
			abort();
		dpu_agent_host(a, buf, len, &r);
		free(buf);
	}
	spec.name = "web1";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = fuzz_kernel;
	nic.network = "blue";
	nic.mac = FUZZ_MAC;
	spec.nics = nics;
	spec.n_nics = 1;
	disk.volume = "root";
	spec.disks = disks;
	spec.n_disks = 1;
	cr.spec = &spec;
	cr.start = with_host;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	req.create_vm = &cr;
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK || rep.vm == NULL)
		abort();
	snprintf(fuzz_vm_id, sizeof(fuzz_vm_id), "%s", rep.vm->id);
	nv_arena_free(&ar);
	return a;
}

static void
fuzz_agent_close(struct dpu_agent *a)
{
	dpu_agent_shutdown(a);
	dpu_agent_close(a);
	dpu_net_close(fuzz_net);
	fuzz_net = NULL;
	dpu_blk_close(fuzz_blk);
	fuzz_blk = NULL;
	fuzz_remove_volumes();
	dpu_store_close(fuzz_store);
	fuzz_store = NULL;
}

#endif
