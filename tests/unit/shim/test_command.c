/* SPDX-License-Identifier: MIT */
/* Unit: command.c (sequence numbers, command checks, small helpers). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nv_wire.h"
#include "shim.h"

static const char *const DIGEST =
	"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static void
seq_applies_each_once(void **state)
{
	struct shim_cmdseq s = { 0 };

	(void)state;
	assert_true(shim_cmdseq_take(&s, 1));
	assert_true(shim_cmdseq_take(&s, 2));
	/* The agent repeats commands until acknowledged. */
	assert_false(shim_cmdseq_take(&s, 1));
	assert_false(shim_cmdseq_take(&s, 2));
	assert_int_equal(s.applied, 2);
	assert_int_equal(s.duplicates, 2);
	/* A gap is applied and counted. */
	assert_true(shim_cmdseq_take(&s, 5));
	assert_int_equal(s.gaps, 2);
	assert_false(shim_cmdseq_take(&s, 3));
	assert_int_equal(s.applied, 5);
	/* A new session (restarted agent) numbers from 1 again. */
	shim_cmdseq_reset(&s);
	assert_int_equal(s.applied, 0);
	assert_true(shim_cmdseq_take(&s, 1));
}

struct launch {
	Nicvisor__V1__Command c;
	Nicvisor__V1__LaunchVm l;
	Nicvisor__V1__VmSpec spec;
	Nicvisor__V1__Artifact k, i;
};

static void
launch_init(struct launch *x)
{
	nicvisor__v1__command__init(&x->c);
	nicvisor__v1__launch_vm__init(&x->l);
	nicvisor__v1__vm_spec__init(&x->spec);
	nicvisor__v1__artifact__init(&x->k);
	nicvisor__v1__artifact__init(&x->i);
	x->spec.vcpus = 2;
	x->spec.memory_mib = 256;
	x->k.id = (char *)DIGEST;
	x->k.size = 4096;
	x->l.vm_id = "vm-0123456789abcdef";
	x->l.spec = &x->spec;
	x->l.kernel = &x->k;
	x->c.seq = 1;
	x->c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	x->c.launch = &x->l;
}

static void
expect_bad(struct launch *x, const char *field)
{
	char why[256] = "";

	assert_int_equal(shim_command_check(&x->c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, field));
}

static void
launch_checks(void **state)
{
	struct launch x;
	char why[256];
	char longline[SHIM_CMDLINE_MAX + 2];

	(void)state;
	launch_init(&x);
	assert_int_equal(shim_command_check(&x.c, why, sizeof(why)), 0);
	x.l.initrd = &x.i; /* an empty Artifact means no initrd */
	assert_int_equal(shim_command_check(&x.c, why, sizeof(why)), 0);
	x.i.id = "abc";
	x.i.size = 10;
	expect_bad(&x, "launch.initrd.id");

	launch_init(&x);
	x.l.vm_id = "vm/../etc";
	expect_bad(&x, "launch.vm_id");
	launch_init(&x);
	x.l.vm_id = "";
	expect_bad(&x, "launch.vm_id");
	launch_init(&x);
	x.l.spec = NULL;
	expect_bad(&x, "launch.spec");
	launch_init(&x);
	x.spec.vcpus = 0;
	expect_bad(&x, "launch.spec.vcpus");
	launch_init(&x);
	x.spec.memory_mib = 1;
	expect_bad(&x, "launch.spec.memory_mib");
	launch_init(&x);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	x.spec.cmdline = longline;
	expect_bad(&x, "launch.spec.cmdline");
	launch_init(&x);
	x.l.kernel = NULL;
	expect_bad(&x, "launch.kernel");
	launch_init(&x);
	x.k.id = "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	expect_bad(&x, "launch.kernel.id");
	launch_init(&x);
	x.k.size = 0;
	expect_bad(&x, "launch.kernel.size");
	launch_init(&x);
	x.k.size = SHIM_ARTIFACT_MAX + 1;
	expect_bad(&x, "launch.kernel.size");
	launch_init(&x);
	x.l.boots = SHIM_BOOTS_MAX + 1;
	expect_bad(&x, "launch.boots");
}

/* LaunchVm.nics, field by field. */
static void
nic_checks(void **state)
{
	struct launch x;
	Nicvisor__V1__NicAttachment a[9], *ap[9];
	char why[256], longpath[SHIM_NIC_SOCKET_MAX + 2];
	struct shim_nic out[SHIM_NICS_MAX];
	uint8_t mac[6];

	(void)state;
	for (int i = 0; i < 9; i++) {
		nicvisor__v1__nic_attachment__init(&a[i]);
		a[i].index = (uint32_t)i;
		a[i].mac = "52:54:00:12:34:56";
		a[i].vhost_user_socket = "/run/nicvisor/vhost/nic0.sock";
		a[i].queue_pairs = 1;
		ap[i] = &a[i];
	}
	launch_init(&x);
	x.l.nics = ap;
	x.l.n_nics = 2;
	a[1].mac = "02:00:00:00:00:0A";
	a[1].queue_pairs = 8;
	assert_int_equal(shim_command_check(&x.c, why, sizeof(why)), 0);
	assert_int_equal(shim_nics_check(ap, 2, "launch.nics", out, why, sizeof(why)), 0);
	assert_int_equal(out[1].index, 1);
	assert_memory_equal(out[1].mac, "\x02\x00\x00\x00\x00\x0a", 6);
	assert_int_equal(out[1].queue_pairs, 8);
	assert_string_equal(out[0].socket, "/run/nicvisor/vhost/nic0.sock");

	x.l.n_nics = 9;
	expect_bad(&x, "launch.nics");
	x.l.n_nics = 2;
	a[1].index = 0;
	expect_bad(&x, "launch.nics[1].index");
	a[1].index = 8;
	expect_bad(&x, "launch.nics[1].index");
	a[1].index = 1;
	a[1].mac = "52:54:00:12:34";
	expect_bad(&x, "launch.nics[1].mac");
	a[1].mac = "01:00:5e:00:00:01"; /* multicast */
	expect_bad(&x, "launch.nics[1].mac");
	a[1].mac = "00:00:00:00:00:00";
	expect_bad(&x, "launch.nics[1].mac");
	a[1].mac = "52-54-00-12-34-56";
	expect_bad(&x, "launch.nics[1].mac");
	a[1].mac = "52:54:00:12:34:5g";
	expect_bad(&x, "launch.nics[1].mac");
	a[1].mac = "52:54:00:12:34:56";
	a[1].vhost_user_socket = "relative.sock";
	expect_bad(&x, "launch.nics[1].vhost_user_socket");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	a[1].vhost_user_socket = longpath;
	expect_bad(&x, "launch.nics[1].vhost_user_socket");
	a[1].vhost_user_socket = "/s";
	a[1].queue_pairs = 0;
	expect_bad(&x, "launch.nics[1].queue_pairs");
	a[1].queue_pairs = 9;
	expect_bad(&x, "launch.nics[1].queue_pairs");

	assert_int_equal(shim_mac_parse("aA:bB:cC:dD:eE:fE", mac), 0);
	assert_memory_equal(mac, "\xaa\xbb\xcc\xdd\xee\xfe", 6);
	assert_int_equal(shim_mac_parse(NULL, mac), -EINVAL);
	assert_int_equal(shim_mac_parse("52:54:00:12:34:56:", mac), -EINVAL);
}

/* LaunchVm.disks, field by field, and shim_disk_parse() of `run --disk`. */
static void
disk_checks(void **state)
{
	struct launch x;
	Nicvisor__V1__DiskAttachment a[9], *ap[9];
	char why[256], longpath[SHIM_NIC_SOCKET_MAX + 2];
	struct shim_disk out[SHIM_DISKS_MAX], d;

	(void)state;
	for (int i = 0; i < 9; i++) {
		nicvisor__v1__disk_attachment__init(&a[i]);
		a[i].index = (uint32_t)i;
		a[i].vhost_user_socket = "/run/nicvisor/blk/disk0.sock";
		a[i].queues = 1;
		a[i].serial = "vol-0123456789abcdef";
		ap[i] = &a[i];
	}
	launch_init(&x); /* 2 vCPUs */
	x.l.disks = ap;
	x.l.n_disks = 2;
	a[1].index = 7;
	a[1].queues = 8;
	a[1].read_only = true;
	assert_int_equal(shim_command_check(&x.c, why, sizeof(why)), 0);
	/* Converted, queues lowered to the vCPUs (or not, with 0). */
	assert_int_equal(shim_disks_check(ap, 2, "launch.disks", SHIM_DISK_QUEUES_MAX, 2, out, why,
					  sizeof(why)),
			 0);
	assert_int_equal(out[0].index, 0);
	assert_int_equal(out[0].queues, 1);
	assert_false(out[0].read_only);
	assert_string_equal(out[0].socket, "/run/nicvisor/blk/disk0.sock");
	assert_int_equal(out[1].index, 7);
	assert_int_equal(out[1].queues, 2);
	assert_true(out[1].read_only);
	assert_int_equal(
		shim_disks_check(ap, 2, "d", SHIM_DISK_QUEUES_MAX, 0, out, why, sizeof(why)), 0);
	assert_int_equal(out[1].queues, 8);
	/* A tighter bound (the child's: the vCPUs) refuses what is above it. */
	assert_int_equal(shim_disks_check(ap, 2, "boot.disks", 2, 0, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "boot.disks[1].queues"));

	x.l.n_disks = 9;
	expect_bad(&x, "launch.disks");
	x.l.n_disks = 2;
	a[1].index = 0;
	expect_bad(&x, "launch.disks[1].index");
	a[1].index = 8;
	expect_bad(&x, "launch.disks[1].index");
	a[1].index = 1;
	a[1].vhost_user_socket = "";
	expect_bad(&x, "launch.disks[1].vhost_user_socket");
	a[1].vhost_user_socket = "disk.sock";
	expect_bad(&x, "launch.disks[1].vhost_user_socket");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	a[1].vhost_user_socket = longpath;
	expect_bad(&x, "launch.disks[1].vhost_user_socket");
	longpath[sizeof(longpath) - 2] = 0; /* exactly the most */
	assert_int_equal(shim_command_check(&x.c, why, sizeof(why)), 0);
	a[1].vhost_user_socket = "/s";
	a[1].queues = 0;
	expect_bad(&x, "launch.disks[1].queues");
	a[1].queues = 9;
	expect_bad(&x, "launch.disks[1].queues");
	a[1].queues = 16; /* host.proto allows it; the VMM serves 8 */
	expect_bad(&x, "launch.disks[1].queues");
	a[1].queues = 1;
	a[1].serial = "vol-0123456789abcdef0";
	expect_bad(&x, "launch.disks[1].serial");

	assert_int_equal(shim_disk_parse("/r/d.sock", 3, &d, why, sizeof(why)), 0);
	assert_int_equal(d.index, 3);
	assert_int_equal(d.queues, 1);
	assert_false(d.read_only);
	assert_string_equal(d.socket, "/r/d.sock");
	assert_int_equal(shim_disk_parse("/r/d.sock,queues=8,ro", 0, &d, why, sizeof(why)), 0);
	assert_int_equal(d.queues, 8);
	assert_true(d.read_only);
	assert_string_equal(d.socket, "/r/d.sock");
	assert_int_equal(shim_disk_parse("r/d.sock", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,queues=0", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,queues=9", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,queues=1x", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,queues=", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,queues=123456789", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse("/r,rw", 0, &d, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "unknown option"));
	assert_int_equal(shim_disk_parse("/r,", 0, &d, why, sizeof(why)), -EINVAL);
	assert_int_equal(shim_disk_parse(longpath, 0, &d, why, sizeof(why)), 0);
	longpath[sizeof(longpath) - 2] = 'a';
	assert_int_equal(shim_disk_parse(longpath, 0, &d, why, sizeof(why)), -EINVAL);
}

static void
stop_and_unknown_checks(void **state)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__StopVm s = NICVISOR__V1__STOP_VM__INIT;
	char why[256];

	(void)state;
	s.vm_id = "vm-1";
	c.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	c.stop = &s;
	assert_int_equal(shim_command_check(&c, why, sizeof(why)), 0);
	s.vm_id = "a b";
	assert_int_equal(shim_command_check(&c, why, sizeof(why)), -EINVAL);
	c.op_case = NICVISOR__V1__COMMAND__OP__NOT_SET;
	assert_int_equal(shim_command_check(&c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "op"));
}

/* Bytes off the wire: every decode either fails or gives a message the
 * check accepts or refuses, never a crash. */
static void
garbage_commands(void **state)
{
	uint8_t buf[64];
	unsigned int seed = 1, decoded = 0;

	(void)state;
	for (int n = 0; n < 2000; n++) {
		ProtobufCMessage *m = NULL;
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		char why[256];

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand_r(&seed);
		if (nv_wire_unpack(&nicvisor__v1__command__descriptor, buf, len, &m) == 0) {
			decoded++;
			shim_command_check((Nicvisor__V1__Command *)m, why, sizeof(why));
			nv_wire_free(m);
		}
	}
	assert_true(decoded > 0);
}

static void
helpers(void **state)
{
	char r[8];

	(void)state;
	shim_reason_set(r, sizeof(r), "a\x1b[2Jbcdefgh");
	assert_string_equal(r, "a?[2Jbc");
	shim_reason_set(r, sizeof(r), NULL);
	assert_string_equal(r, "");
	assert_true(shim_vm_id_ok("vm-0123456789abcdef"));
	assert_false(shim_vm_id_ok(NULL));
	assert_true(shim_digest_ok(DIGEST));
	assert_false(shim_digest_ok("9f86"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seq_applies_each_once),
		cmocka_unit_test(launch_checks),
		cmocka_unit_test(nic_checks),
		cmocka_unit_test(disk_checks),
		cmocka_unit_test(stop_and_unknown_checks),
		cmocka_unit_test(garbage_commands),
		cmocka_unit_test(helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
