/* SPDX-License-Identifier: MIT */
/*
 * dpu/store_file.c and store_mem.c: round trips, and crash safety: a save
 * that stops at any step leaves the previous state readable and the temp
 * file is never taken for the state. Includes the .c to reach its fault
 * hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_file.c"

static char dir[] = "/tmp/nv-store-XXXXXX";
static char path[300], tmp_path[300];
static const char *fail_step;

static int
fault_at(const char *step)
{
	return fail_step != NULL && strcmp(step, fail_step) == 0;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/state.pb", dir);
	snprintf(tmp_path, sizeof(tmp_path), "%s/state.pb.tmp", dir);
	test_fault = fault_at;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(tmp_path);
	rmdir(dir);
	return 0;
}

static int
clean(void **state)
{
	(void)state;
	unlink(path);
	unlink(tmp_path);
	fail_step = NULL;
	return 0;
}

static Nicvisor__V1__Network net_blue = NICVISOR__V1__NETWORK__INIT;
static Nicvisor__V1__Network net_red = NICVISOR__V1__NETWORK__INIT;
static Nicvisor__V1__Network *nets[2] = { &net_blue, &net_red };
static Nicvisor__V1__NicSpec nic0 = NICVISOR__V1__NIC_SPEC__INIT;
static Nicvisor__V1__NicSpec nic1 = NICVISOR__V1__NIC_SPEC__INIT;
static Nicvisor__V1__NicSpec *nics[2] = { &nic0, &nic1 };

/* A state with n VMs named <prefix>0.. (the first with two NICs), one
 * deleted VM and two networks. */
static Nicvisor__V1__AgentState *
make_state(const char *prefix, int n)
{
	Nicvisor__V1__AgentState *st = calloc(1, sizeof(*st));

	nicvisor__v1__agent_state__init(st);
	st->version = 1;
	st->n_vms = (size_t)n;
	st->vms = calloc((size_t)n + 1, sizeof(*st->vms));
	for (int i = 0; i < n; i++) {
		Nicvisor__V1__Vm *vm = calloc(1, sizeof(*vm));
		Nicvisor__V1__VmSpec *spec = calloc(1, sizeof(*spec));
		char *name = malloc(32), *id = malloc(32);

		nicvisor__v1__vm__init(vm);
		nicvisor__v1__vm_spec__init(spec);
		snprintf(name, 32, "%s%d", prefix, i);
		snprintf(id, 32, "vm-%016x", i + 1);
		spec->name = name;
		spec->vcpus = (uint32_t)i + 1;
		spec->memory_mib = 64;
		spec->kernel = "/boot/vmlinuz";
		vm->id = id;
		vm->spec = spec;
		vm->state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
		vm->host = "h1";
		vm->boots = 3;
		vm->console_bytes = 12345;
		st->vms[i] = vm;
	}
	net_blue.id = "net-00000000000000b1";
	net_blue.name = "blue";
	net_blue.vlan = 100;
	net_blue.created_unix_ms = 77;
	net_red.id = "net-00000000000000d2";
	net_red.name = "red";
	nic0.network = "blue";
	nic0.mac = "52:54:00:00:00:01";
	nic1.network = "red";
	nic1.mac = "02:11:22:33:44:55";
	if (n > 0) {
		st->vms[0]->spec->nics = nics;
		st->vms[0]->spec->n_nics = 2;
	}
	st->networks = nets;
	st->n_networks = 2;
	st->n_deleted = 1;
	st->deleted = calloc(1, sizeof(*st->deleted));
	st->deleted[0] = calloc(1, sizeof(**st->deleted));
	nicvisor__v1__deleted_vm__init(st->deleted[0]);
	st->deleted[0]->vm_id = "vm-00000000000000ff";
	st->deleted[0]->host = "h2";
	st->deleted[0]->deleted_unix_ms = 42;
	return st;
}

static void
free_state(Nicvisor__V1__AgentState *st)
{
	for (size_t i = 0; i < st->n_vms; i++) {
		free(st->vms[i]->spec->name);
		free(st->vms[i]->id);
		free(st->vms[i]->spec);
		free(st->vms[i]);
	}
	free(st->vms);
	free(st->deleted[0]);
	free(st->deleted);
	free(st);
}

static void
assert_same(const Nicvisor__V1__AgentState *a, const Nicvisor__V1__AgentState *b)
{
	size_t la = nicvisor__v1__agent_state__get_packed_size(a);
	size_t lb = nicvisor__v1__agent_state__get_packed_size(b);
	uint8_t *ba = malloc(la), *bb = malloc(lb);

	assert_int_equal(la, lb);
	nicvisor__v1__agent_state__pack(a, ba);
	nicvisor__v1__agent_state__pack(b, bb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

static void
round_trip(struct dpu_store *s)
{
	Nicvisor__V1__AgentState *st = make_state("vm", 3), *got;

	assert_int_equal(dpu_store_load(s, &got), 0);
	assert_null(got);
	assert_int_equal(dpu_store_save(s, st), 0);
	assert_int_equal(dpu_store_load(s, &got), 0);
	assert_non_null(got);
	assert_int_equal(got->n_vms, 3);
	assert_string_equal(got->vms[2]->spec->name, "vm2");
	assert_int_equal(got->vms[1]->console_bytes, 12345);
	assert_string_equal(got->deleted[0]->host, "h2");
	assert_int_equal(got->n_networks, 2);
	assert_string_equal(got->networks[0]->id, "net-00000000000000b1");
	assert_string_equal(got->networks[0]->name, "blue");
	assert_int_equal(got->networks[0]->vlan, 100);
	assert_int_equal(got->networks[0]->created_unix_ms, 77);
	assert_string_equal(got->networks[1]->name, "red");
	assert_int_equal(got->vms[0]->spec->n_nics, 2);
	assert_string_equal(got->vms[0]->spec->nics[1]->network, "red");
	assert_string_equal(got->vms[0]->spec->nics[1]->mac, "02:11:22:33:44:55");
	assert_int_equal(got->vms[1]->spec->n_nics, 0);
	assert_same(st, got);
	dpu_store_free_state(got);
	free_state(st);
}

static void
test_file_round_trip(void **state)
{
	struct dpu_store *s;

	(void)state;
	assert_int_equal(dpu_store_file_open(dir, &s), 0);
	assert_string_equal(s->ops->name, "file");
	round_trip(s);
	/* A second store on the same directory sees the same state. */
	dpu_store_close(s);
	assert_int_equal(dpu_store_file_open(dir, &s), 0);
	{
		Nicvisor__V1__AgentState *got;

		assert_int_equal(dpu_store_load(s, &got), 0);
		assert_int_equal(got->n_vms, 3);
		dpu_store_free_state(got);
	}
	dpu_store_close(s);
	assert_int_equal(access(tmp_path, F_OK), -1);
}

static void
test_mem_round_trip(void **state)
{
	struct dpu_store *s;

	(void)state;
	assert_int_equal(dpu_store_mem_open(&s), 0);
	assert_string_equal(s->ops->name, "memory");
	round_trip(s);
	dpu_store_close(s);
}

static void
test_crash_at_each_step(void **state)
{
	const char *steps[] = { "write", "fsync", "rename" };
	Nicvisor__V1__AgentState *old = make_state("old", 2), *new = make_state("new", 5), *got;
	struct dpu_store *s;

	(void)state;
	assert_int_equal(dpu_store_file_open(dir, &s), 0);
	assert_int_equal(dpu_store_save(s, old), 0);
	for (size_t i = 0; i < 3; i++) {
		fail_step = steps[i];
		assert_int_equal(dpu_store_save(s, new), -EIO);
		fail_step = NULL;
		/* What a restarted agent reads: the old state, whole. */
		assert_int_equal(dpu_store_load(s, &got), 0);
		assert_non_null(got);
		assert_same(old, got);
		dpu_store_free_state(got);
		/* ...and the temp file is gone, not taken for the state. */
		assert_int_equal(access(tmp_path, F_OK), -1);
	}
	/* A failed directory sync reports the error; the rename happened. */
	fail_step = "dirsync";
	assert_int_equal(dpu_store_save(s, new), -EIO);
	fail_step = NULL;
	assert_int_equal(dpu_store_load(s, &got), 0);
	assert_same(new, got);
	dpu_store_free_state(got);
	dpu_store_close(s);
	free_state(old);
	free_state(new);
}

static void
write_bytes(const char *p, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static void
test_temp_file_never_read(void **state)
{
	Nicvisor__V1__AgentState *st = make_state("real", 1), *got;
	struct dpu_store *s;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(dpu_store_file_open(dir, &s), 0);
	/* Only a temp file, even a valid-looking one: no state. */
	len = nicvisor__v1__agent_state__get_packed_size(st);
	buf = malloc(len);
	nicvisor__v1__agent_state__pack(st, buf);
	write_bytes(tmp_path, buf, len);
	assert_int_equal(dpu_store_load(s, &got), 0);
	assert_null(got);
	/* A garbage temp file beside the real state. */
	assert_int_equal(dpu_store_save(s, st), 0);
	write_bytes(tmp_path, "\xff\xff garbage", 10);
	assert_int_equal(dpu_store_load(s, &got), 0);
	assert_same(st, got);
	dpu_store_free_state(got);
	free(buf);
	dpu_store_close(s);
	free_state(st);
}

static void
test_corrupt_state(void **state)
{
	Nicvisor__V1__AgentState *st = make_state("x", 2), *got = NULL;
	struct dpu_store *s;
	uint8_t *buf;
	size_t len;

	(void)state;
	len = nicvisor__v1__agent_state__get_packed_size(st);
	buf = malloc(len);
	nicvisor__v1__agent_state__pack(st, buf);
	/* A torn state.pb (which our saves never leave) is refused. */
	write_bytes(path, buf, len / 2);
	assert_int_equal(dpu_store_file_open(dir, &s), 0);
	assert_int_equal(dpu_store_load(s, &got), -EBADMSG);
	assert_null(got);
	dpu_store_close(s);
	free(buf);
	free_state(st);
	assert_int_equal(dpu_store_file_open("/nonexistent-dir", &s), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_file_round_trip, clean),
		cmocka_unit_test_setup(test_mem_round_trip, clean),
		cmocka_unit_test_setup(test_crash_at_each_step, clean),
		cmocka_unit_test_setup(test_temp_file_never_read, clean),
		cmocka_unit_test_setup(test_corrupt_state, clean),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
