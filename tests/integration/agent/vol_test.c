/* SPDX-License-Identifier: MIT */
/*
 * Volumes and disks of nicvisor-dpu as a real process (--dataplane fake,
 * so the fake block backend), through its API, nicvisorctl and a fake
 * host: sparse files whose allocation grows as they are written, the
 * sharing rules, LaunchVm.disks reaching the host, disk counters, state
 * across a kill -9 of the agent, malformed requests.
 * Usage: vol_test [TEST-NAME-GLOB]
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_host.h"
#include "harness.h"
#include "nv_log.h"
#include "nv_wire.h"

#define CODE(x)      NICVISOR__V1__CODE__CODE_##x
#define STATE(x)     NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)        NICVISOR__V1__REQUEST__OP_##x

#define HEARTBEAT_MS 300
#define DEAD_MS      1200
#define MIB          (1ull << 20)

struct fx {
	struct agent_proc ap;
	char kernel[400];
	char ksha[65];
	struct fake_host *host;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || agent_setup(&f->ap, HEARTBEAT_MS, DEAD_MS) < 0) {
		fprintf(stderr, "cannot start nicvisor-dpu\n");
		if (f != NULL)
			agent_teardown(&f->ap);
		free(f);
		return -1;
	}
	snprintf(f->kernel, sizeof(f->kernel), "%s/bzImage", f->ap.dir);
	if (make_kernel(f->kernel, 64 << 10, 1, f->ksha) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fake_host_stop(f->host);
	/* The volume files are under the agent's directory: removed with it. */
	agent_teardown(&f->ap);
	free(f);
	return 0;
}

static void
add_host(struct fx *f, uint32_t cores)
{
	struct fake_host_conf conf = {
		.url = f->ap.south,
		.id = "h1",
		.cores = cores,
		.kvm_max_vcpus = cores,
		.memory_mib = 4096,
	};

	assert_int_equal(fake_host_start(&conf, &f->host), 0);
	assert_true(fake_host_wait_hellos(f->host, 1, 5000));
}

static Nicvisor__V1__Response *
call(struct fx *f, Nicvisor__V1__Request *req)
{
	Nicvisor__V1__Response *rep = api_call(&f->ap, req);

	assert_non_null(rep);
	assert_non_null(rep->status);
	if (rep->status->code != CODE(OK))
		assert_int_equal(rep->result_case, NICVISOR__V1__RESPONSE__RESULT__NOT_SET);
	return rep;
}

static void
expect(Nicvisor__V1__Response *rep, int code, const char *field, const char *part)
{
	if ((int)rep->status->code != code)
		fail_msg("code %d, wanted %d: %s", rep->status->code, code, rep->status->message);
	if (field != NULL)
		assert_string_equal(rep->status->field, field);
	if (part != NULL && strstr(rep->status->message, part) == NULL)
		fail_msg("message '%s' lacks '%s'", rep->status->message, part);
	nv_wire_free(&rep->base);
}

static Nicvisor__V1__Response *
vol_create(struct fx *f, const char *name, uint64_t size, const char *nbd)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;

	cv.name = (char *)name;
	cv.size_bytes = size;
	cv.nbd_url = (char *)(nbd ? nbd : "");
	req.op_case = OP(CREATE_VOLUME);
	req.create_volume = &cv;
	return call(f, &req);
}

static Nicvisor__V1__Response *
vol_get(struct fx *f, const char *ref)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetVolumeRequest gv = NICVISOR__V1__GET_VOLUME_REQUEST__INIT;

	gv.volume = (char *)ref;
	req.op_case = OP(GET_VOLUME);
	req.get_volume = &gv;
	return call(f, &req);
}

static Nicvisor__V1__Response *
create_vm(struct fx *f, const char *name, uint32_t vcpus, bool start, const char *const *vols,
	  const bool *ro, size_t n)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d[16], *dp[16];

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		nicvisor__v1__disk_spec__init(&d[i]);
		d[i].volume = (char *)vols[i];
		d[i].read_only = ro[i];
		dp[i] = &d[i];
	}
	spec.name = (char *)name;
	spec.vcpus = vcpus;
	spec.memory_mib = 128;
	spec.kernel = f->kernel;
	spec.disks = dp;
	spec.n_disks = n;
	cr.spec = &spec;
	cr.start = start;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	return call(f, &req);
}

static Nicvisor__V1__Response *
disk_stats(struct fx *f, const char *vm)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;

	ds.vm = (char *)(vm ? vm : "");
	req.op_case = OP(GET_DISK_STATS);
	req.get_disk_stats = &ds;
	return call(f, &req);
}

/* A number after "key": in JSON text; UINT64_MAX if absent. */
static uint64_t
json_u64(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (p == NULL)
		return UINT64_MAX;
	return strtoull(p + strlen(pat), NULL, 10);
}

static void
write_at(const char *path, uint64_t off, size_t len)
{
	char *buf = malloc(len);
	int fd;
	uint32_t x = 2463534242u;

	assert_non_null(buf);
	/* Incompressible, so a compressing file system allocates it all. */
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (char)x;
	}
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
}

static void
test_volumes(void **state)
{
	struct fx *f = *state;
	char out[8192], err[4096], path[512], id[32];
	Nicvisor__V1__Response *rep;
	uint64_t before, after;
	struct stat sb;
	char *args[12];

	/* nicvisorctl volume create: a sparse file in <state>/volumes. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "create", "data", "--size",
				 "64M", NULL),
			 0);
	assert_non_null(strstr(out, "volume data (vol-"));
	rep = vol_get(f, "data");
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(id, sizeof(id), "%s", rep->volume->id);
	snprintf(path, sizeof(path), "%s/volumes/%s.img", f->ap.state, id);
	assert_string_equal(rep->volume->path, path);
	assert_int_equal(rep->volume->size_bytes, 64 * MIB);
	nv_wire_free(&rep->base);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 * MIB);

	/* volume list --json shows allocated bytes; they grow with writes. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "volume", "list", NULL),
			 0);
	before = json_u64(out, "allocated_bytes");
	assert_true(before < 64 * 1024);
	assert_int_equal(json_u64(out, "size_bytes"), 64 * MIB);
	write_at(path, 0, 1 << 20);
	write_at(path, 32 * MIB, 1 << 20);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "volume", "list", NULL),
			 0);
	after = json_u64(out, "allocated_bytes");
	assert_true(after >= before + (2u << 20));
	assert_true(after < 64 * MIB);
	/* The table shows it too. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "list", NULL), 0);
	assert_non_null(strstr(out, "ALLOC"));
	assert_non_null(strstr(out, "64M"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "get", id, NULL), 0);
	assert_non_null(strstr(out, "allocated:"));
	assert_non_null(strstr(out, path));

	/* NBD volume; a typed error for each bad input, with the field. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "create", "remote",
				 "--size", "1G", "--nbd", "nbd://10.0.0.9:10809/exp", NULL),
			 0);
	rep = vol_get(f, "remote");
	assert_int_equal(rep->volume->backend, NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD);
	assert_int_equal(rep->volume->size_bytes, 1ull << 30);
	assert_string_equal(rep->volume->path, "");
	nv_wire_free(&rep->base);
	args[0] = "volume";
	args[1] = "create";
	args[2] = "odd";
	args[3] = "--size";
	args[4] = "1048577";
	args[5] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "512"));
	assert_non_null(strstr(err, "size_bytes"));
	args[4] = "10X";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 2);
	args[3] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 2);
	assert_non_null(strstr(err, "--size"));
	expect(vol_create(f, "data", MIB, NULL), CODE(ALREADY_EXISTS), "name", id);
	expect(vol_create(f, "x", MIB, "nbd://h:70000/e"), CODE(INVALID_ARGUMENT), "nbd_url",
	       "port");
	expect(vol_create(f, "x", 0, NULL), CODE(INVALID_ARGUMENT), "size_bytes", NULL);
	expect(vol_get(f, "nope"), CODE(NOT_FOUND), "volume", "nope");

	/* volume delete removes the file. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "delete", "data", NULL),
			 0);
	assert_non_null(strstr(out, "deleted"));
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "get", "data", NULL), 1);
}

static void
test_disk_rules(void **state)
{
	struct fx *f = *state;
	char out[8192], err[4096];
	char *args[16];
	int n;

	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "create", "root", "--size",
				 "16M", NULL),
			 0);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "create", "shared",
				 "--size", "16M", NULL),
			 0);
	/* create --disk: root read-write, shared read-only. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "create", "one", "--kernel",
				 f->kernel, "--disk", "root", "--disk", "shared,ro", NULL),
			 0);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "get", "one", NULL), 0);
	assert_non_null(strstr(out, "disk0:      volume root\n"));
	assert_non_null(strstr(out, "disk1:      volume shared, read-only"));

	/* root is one's: refused to two, read-write or not. */
	n = 0;
	args[n++] = "create";
	args[n++] = "two";
	args[n++] = "--kernel";
	args[n++] = f->kernel;
	args[n++] = "--disk";
	args[n++] = "root,ro";
	args[n] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "vm one"));
	assert_non_null(strstr(err, "spec.disks[0].volume"));
	args[5] = "shared";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "read-only"));
	args[5] = "shared,xx";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 2);
	args[5] = "shared,ro,iops=x";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 2);
	assert_non_null(strstr(err, "shared,ro,iops=x"));
	args[5] = "shared,ro,iops=20000000";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "spec.disks[0].max_iops"));
	/* shared read-only to a second VM: fine. */
	args[5] = "shared,ro";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 0);

	/* disk attach / detach on stopped VMs. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "create", "scratch",
				 "--size", "8M", NULL),
			 0);
	/* with limits; a bad one is the CLI's usage error, one out of range the agent's */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "disk", "attach", "two", "scratch",
				 "--iops", "abc", NULL),
			 2);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "disk", "attach", "two", "scratch",
				 "--bps", "1K", NULL),
			 1);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "disk", "attach", "two", "scratch",
				 "--iops", "500", "--bps", "8M", NULL),
			 0);
	assert_non_null(strstr(out, "vm two: disk1 is volume scratch, at most 500 requests/s, at "
				    "most 8388608 bytes/s"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "get", "two", NULL), 0);
	assert_non_null(strstr(out, "\"volume\":\"scratch\",\"read_only\":false,\"max_iops\":500,"
				    "\"max_bytes_per_second\":8388608}"));
	n = 0;
	args[n++] = "disk";
	args[n++] = "attach";
	args[n++] = "one";
	args[n++] = "scratch";
	args[n++] = "--ro";
	args[n] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "vm two"));
	args[3] = "root";
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "once per VM"));
	n = 0;
	args[n++] = "volume";
	args[n++] = "delete";
	args[n++] = "scratch";
	args[n] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "vm two"));
	n = 0;
	args[n++] = "disk";
	args[n++] = "detach";
	args[n++] = "two";
	args[n++] = "7";
	args[n] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "0..1"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "disk", "detach", "two", "1", NULL),
			 0);
	assert_non_null(strstr(out, "1 left"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "volume", "delete", "scratch", NULL),
			 0);
	/* --json volume get lists the attachments. */
	assert_int_equal(
		run_ctl(&f->ap, out, sizeof(out), 10, "--json", "volume", "get", "shared", NULL),
		0);
	assert_non_null(strstr(out, "\"vm_name\":\"one\""));
	assert_non_null(strstr(out, "\"vm_name\":\"two\""));

	/* While a VM runs its disks do not change. */
	add_host(f, 2);
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "one", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "one", STATE(RUNNING), 10000));
	n = 0;
	args[n++] = "disk";
	args[n++] = "detach";
	args[n++] = "one";
	args[n++] = "0";
	args[n] = NULL;
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "stop it first"));
}

static void
test_launch_disks(void **state)
{
	struct fx *f = *state;
	const char *vols[2] = { "root", "remote" };
	const bool ro[2] = { false, true };
	char vm_id[32], root_id[32], remote_id[32], path[512], out[8192];
	Nicvisor__V1__Response *rep;
	struct fake_vm fv;

	add_host(f, 4);
	rep = vol_create(f, "root", 16 * MIB, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(root_id, sizeof(root_id), "%s", rep->volume->id);
	nv_wire_free(&rep->base);
	rep = vol_create(f, "remote", 32 * MIB, "nbd://storage:10809/exp");
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(remote_id, sizeof(remote_id), "%s", rep->volume->id);
	nv_wire_free(&rep->base);
	rep = create_vm(f, "db", 3, true, vols, ro, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(vm_id, sizeof(vm_id), "%s", rep->vm->id);
	nv_wire_free(&rep->base);

	/* LaunchVm.disks reached the host: sockets, serials, modes, sizes. */
	assert_true(fake_host_wait_vm(f->host, vm_id, STATE(RUNNING), 10000, &fv));
	assert_int_equal(fv.ndisks, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(fv.disks[i].index, i);
		snprintf(path, sizeof(path), "%s/%s-disk%u.sock", f->ap.vhost, vm_id, i);
		assert_string_equal(fv.disks[i].socket, path);
		assert_int_equal(fv.disks[i].queues, 3); /* min(vcpus, 8) */
		assert_int_equal(fv.disks[i].read_only, ro[i]);
		assert_string_equal(fv.disks[i].volume, vols[i]);
	}
	assert_string_equal(fv.disks[0].serial, root_id);
	assert_string_equal(fv.disks[1].serial, remote_id);
	assert_int_equal(fv.disks[0].size_bytes, 16 * MIB);
	assert_int_equal(fv.disks[1].size_bytes, 32 * MIB);

	/* Served while it runs; stats shows the disks. */
	rep = disk_stats(f, "db");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->disk_stats->n_disks, 2);
	assert_true(rep->disk_stats->disks[0]->served);
	assert_true(rep->disk_stats->disks[1]->served);
	assert_string_equal(rep->disk_stats->disks[1]->volume, "remote");
	nv_wire_free(&rep->base);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "stats", "db", NULL), 0);
	assert_non_null(strstr(out, "DISK"));
	snprintf(path, sizeof(path), "%s/disk1", vm_id);
	assert_non_null(strstr(out, path));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "stats", "db", NULL), 0);
	assert_non_null(strstr(out, "\"disks\":[{\"disk\":"));
	assert_non_null(strstr(out, "\"served\":true"));

	/* Stopped: no longer served; detached disk gone from the next launch. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "db", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "db", STATE(STOPPED), 5000));
	rep = disk_stats(f, "db");
	assert_false(rep->disk_stats->disks[0]->served);
	assert_false(rep->disk_stats->disks[1]->served);
	nv_wire_free(&rep->base);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "disk", "detach", "db", "0", NULL),
			 0);
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "db", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "db", STATE(RUNNING), 10000));
	assert_true(fake_host_wait_vm(f->host, vm_id, STATE(RUNNING), 5000, &fv));
	assert_int_equal(fv.ndisks, 1);
	assert_string_equal(fv.disks[0].serial, remote_id);
	assert_true(fv.disks[0].read_only);
	snprintf(path, sizeof(path), "%s/%s-disk0.sock", f->ap.vhost, vm_id);
	assert_string_equal(fv.disks[0].socket, path);
}

static void
test_restart_keeps_volumes(void **state)
{
	struct fx *f = *state;
	const char *vols[2] = { "root", "shared" };
	const bool ro[2] = { false, true };
	char vm_id[32], root_id[32], path[512];
	Nicvisor__V1__Response *rep;
	struct fake_vm fv;

	add_host(f, 2);
	rep = vol_create(f, "root", 8 * MIB, NULL);
	snprintf(root_id, sizeof(root_id), "%s", rep->volume->id);
	nv_wire_free(&rep->base);
	expect(vol_create(f, "shared", 8 * MIB, "nbd://s:1/e"), CODE(OK), "", NULL);
	rep = create_vm(f, "db", 2, true, vols, ro, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(vm_id, sizeof(vm_id), "%s", rep->vm->id);
	nv_wire_free(&rep->base);
	assert_true(fake_host_wait_vm(f->host, vm_id, STATE(RUNNING), 10000, &fv));
	snprintf(path, sizeof(path), "%s/volumes/%s.img", f->ap.state, root_id);
	write_at(path, 4 * MIB, 256 << 10);

	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);

	/* Back from the state file; the file and its data untouched. */
	rep = vol_get(f, "root");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->volume->id, root_id);
	assert_int_equal(rep->volume->size_bytes, 8 * MIB);
	assert_true(rep->volume->allocated_bytes >= (256 << 10));
	assert_int_equal(rep->volume->n_attachments, 1);
	assert_string_equal(rep->volume->attachments[0]->vm, vm_id);
	nv_wire_free(&rep->base);
	expect(vol_create(f, "root", MIB, NULL), CODE(ALREADY_EXISTS), "name", NULL);
	/* The host reattaches; the running VM's disks are served again on
	 * the same sockets (the backend is new). */
	assert_true(fake_host_wait_hellos(f->host, 2, 10000));
	assert_true(api_wait_state(&f->ap, "db", STATE(RUNNING), 5000));
	rep = disk_stats(f, "db");
	assert_int_equal(rep->disk_stats->n_disks, 2);
	assert_true(rep->disk_stats->disks[0]->served);
	assert_true(rep->disk_stats->disks[1]->served);
	nv_wire_free(&rep->base);
	assert_int_equal(agent_kill(&f->ap, SIGTERM), 0);
}

static void
test_bad_volume_requests(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__Response *rep = NULL;
	size_t len, rlen;
	uint8_t *buf, *r;

	/* An operation whose request message is missing altogether. */
	req.op_case = OP(ATTACH_DISK);
	req.attach_disk = &ad;
	ad.vm = "web1";
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "disk", "required");
	/* An empty one: the first field it lacks is named. */
	req.op_case = OP(CREATE_VOLUME);
	req.create_volume = &cv;
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "name", "required");
	cv.name = "data";
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "size_bytes", "range");
	/* Truncated bytes of a CreateVolume. */
	cv.size_bytes = 4 * MIB;
	cv.nbd_url = "nbd://h:1/export";
	req.version = NV_PROTOCOL_VERSION;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	r = raw_call(f->ap.api, buf, len - 3, 5000, &rlen);
	free(buf);
	assert_non_null(r);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__response__descriptor, r, rlen,
					(ProtobufCMessage **)&rep),
			 0);
	free(r);
	expect(rep, CODE(MALFORMED), "", NULL);
	expect(vol_get(f, "data"), CODE(NOT_FOUND), "volume", NULL);
	/* A URL with a control character, a huge size. */
	expect(vol_create(f, "data", 4 * MIB, "nbd://h:1/a\nb"), CODE(INVALID_ARGUMENT), "nbd_url",
	       NULL);
	expect(vol_create(f, "data", UINT64_MAX, NULL), CODE(INVALID_ARGUMENT), "size_bytes", NULL);
	assert_true(agent_alive(&f->ap));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_volumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_volumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_volume_requests, setup, teardown),
	};

	nv_log_init("vol_test", NV_LOG_WARN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
