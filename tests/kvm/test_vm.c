/* SPDX-License-Identifier: MIT */
/*
 * vmm.h on this machine's /dev/kvm: probe, configs that must be refused,
 * VM and memory setup, the marker guest's exact console bytes and exit,
 * and the lifecycle calls around a run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void
test_probe(void **state)
{
	struct vmm_host_info info;

	(void)state;
	assert_int_equal(vmm_probe(NULL, &info), 0);
	assert_int_equal(info.kvm_api_version, 12);
	assert_true(info.max_vcpus >= 1);
	assert_string_equal(info.missing_caps, "");
	assert_non_null(strstr(info.caps, "irqchip"));
	assert_non_null(strstr(info.caps, "pit2"));
	assert_true(strcmp(info.virt, "vmx") == 0 || strcmp(info.virt, "svm") == 0 ||
		    strcmp(info.virt, "pvm") == 0 || strcmp(info.virt, "none") == 0);
	if (access("/sys/module/kvm_pvm", F_OK) == 0 &&
	    access("/sys/module/kvm_intel", F_OK) != 0 && access("/sys/module/kvm_amd", F_OK) != 0)
		assert_string_equal(info.virt, "pvm");
	printf("probe: api %d, max vcpus %u, virt %s, caps: %s\n", info.kvm_api_version,
	       info.max_vcpus, info.virt, info.caps);

	assert_int_equal(vmm_probe("/nonexistent/kvm", &info), -ENOENT);
	assert_int_equal(vmm_probe("/dev/null", &info), -ENODEV);
}

/* A memfd holding `len` bytes of `fill`. */
static int
memfd_of(uint8_t fill, size_t len)
{
	int fd = memfd_create("test-image", MFD_CLOEXEC);
	uint8_t buf[4096];

	assert_true(fd >= 0);
	memset(buf, fill, sizeof(buf));
	for (size_t done = 0; done < len; done += sizeof(buf))
		assert_true(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	return fd;
}

struct bad_case {
	const char *what;
	struct vmm_config cfg;
	int rc;
	const char *err_has;
};

static void
expect_refused(const struct bad_case *c)
{
	struct vmm *vm = NULL;
	char err[256] = "";
	int rc = vmm_create(&c->cfg, NULL, &vm, err, sizeof(err));

	printf("%s: %d (%s)\n", c->what, rc, err);
	assert_int_equal(rc, c->rc);
	assert_null(vm);
	assert_non_null(strstr(err, c->err_has));
}

static void
test_bad_configs(void **state)
{
	struct vmm_host_info info;
	int marker = open(guest_path("marker"), O_RDONLY | O_CLOEXEC);
	int garbage = memfd_of(0x5a, 64 << 10);
	off_t marker_size = lseek(marker, 0, SEEK_END);
	struct vmm_config good = {
		.vcpus = 1,
		.mem_bytes = 64ull << 20,
		.kernel = { .fd = marker, .size = (uint64_t)marker_size },
		.initrd = { .fd = -1 },
	};
	static const struct vmm_disk disk = {
		.index = 0,
		.vhost_user_socket = "/nonexistent/nv-test/blk.sock",
		.queues = 1,
	};
	struct vmm_disk disks[2] = { disk, disk };
	struct bad_case cases[20];
	unsigned int n = 0;

	(void)state;
	assert_true(marker >= 0);
	assert_int_equal(vmm_probe(NULL, &info), 0);

	cases[n] = (struct bad_case){ "0 vcpus", good, -EINVAL, "vcpus" };
	cases[n++].cfg.vcpus = 0;
	cases[n] = (struct bad_case){ "too many vcpus", good, -EINVAL, "more than KVM allows" };
	cases[n++].cfg.vcpus = info.max_vcpus + 1;
	cases[n] = (struct bad_case){ "tiny memory", good, -EINVAL, "memory" };
	cases[n++].cfg.mem_bytes = 1 << 20;
	cases[n] = (struct bad_case){ "unaligned memory", good, -EINVAL, "4 KiB" };
	cases[n++].cfg.mem_bytes = (64ull << 20) + 100;
	cases[n] = (struct bad_case){ "no kernel fd", good, -EINVAL, "kernel" };
	cases[n++].cfg.kernel.fd = -1;
	cases[n] = (struct bad_case){ "closed kernel fd", good, -EINVAL, "kernel" };
	cases[n++].cfg.kernel.fd = 1000;
	cases[n] = (struct bad_case){ "empty kernel", good, -EINVAL, "kernel: size 0" };
	cases[n++].cfg.kernel.size = 0;
	cases[n] = (struct bad_case){ "kernel larger than file", good, -EINVAL, "kernel" };
	cases[n++].cfg.kernel.size = (uint64_t)marker_size + 4096;
	cases[n] = (struct bad_case){ "garbage kernel", good, -EINVAL, "kernel" };
	cases[n].cfg.kernel.fd = garbage;
	cases[n++].cfg.kernel.size = 64 << 10;
	cases[n] = (struct bad_case){ "bad initrd fd", good, -EINVAL, "initrd" };
	cases[n].cfg.initrd.fd = 1000;
	cases[n++].cfg.initrd.size = 4096;
	cases[n] = (struct bad_case){ "no kvm", good, -ENOENT, "/nonexistent/kvm" };
	cases[n++].cfg.kvm_path = "/nonexistent/kvm";
	cases[n] = (struct bad_case){ "not kvm", good, -ENODEV, "/dev/null: KVM API version" };
	cases[n++].cfg.kvm_path = "/dev/null";
	/* Disks, checked before anything is built. */
	disks[1].index = 1;
	disks[1].queues = 0;
	cases[n] = (struct bad_case){ "disk queues 0", good, -EINVAL, "disk 1: queues" };
	cases[n].cfg.disks = disks;
	cases[n++].cfg.ndisks = 2;
	cases[n] = (struct bad_case){ "too many disks", good, -EINVAL, "disks: 9" };
	cases[n].cfg.disks = disks;
	cases[n++].cfg.ndisks = VMM_MAX_DISKS + 1;
	cases[n] = (struct bad_case){ "no disk array", good, -EINVAL, "disks" };
	cases[n++].cfg.ndisks = 1;
	for (unsigned int i = 0; i < n; i++)
		expect_refused(&cases[i]);
	disks[1] = disk; /* the same index twice */
	cases[n] = (struct bad_case){ "disk index twice", good, -EINVAL, "not unique" };
	cases[n].cfg.disks = disks;
	cases[n++].cfg.ndisks = 2;
	expect_refused(&cases[n - 1]);
	disks[0].vhost_user_socket = "relative.sock";
	cases[n] = (struct bad_case){ "relative disk socket", good, -EINVAL, "vhost_user_socket" };
	cases[n].cfg.disks = disks;
	cases[n++].cfg.ndisks = 1;
	expect_refused(&cases[n - 1]);

	/* A NULL err is allowed. */
	good.vcpus = 0;
	assert_int_equal(vmm_create(&good, NULL, &(struct vmm *){ NULL }, NULL, 0), -EINVAL);
	close(garbage);
	close(marker);
}

/* The benchmark guest: exact bytes on COM1, then debug-exit. */
static void
test_marker(void **state)
{
	struct guest g;
	struct vmm_stats st;
	struct vmm_exit e;
	struct pollfd pfd;
	char err[256];

	(void)state;
	assert_int_equal(guest_create(&g, "marker", 1, 64, err, sizeof(err)), 0);
	vmm_get_stats(g.vm, &st);
	assert_int_equal(st.setup_ns, 0); /* no KVM_RUN yet */
	assert_int_equal(guest_start(&g), 0);
	assert_int_equal(vmm_start(g.vm), -EALREADY);
	e = guest_wait_exit(&g, 10000);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT);
	assert_int_equal(e.code, GUEST_EXIT_OK);
	assert_int_equal(e.vcpu, 0);
	assert_string_equal(g.console, "NICVISOR-TINY-READY\n");

	pfd = (struct pollfd){ .fd = vmm_exit_fd(g.vm), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(vmm_request_poweroff(g.vm), -EINVAL); /* the run is over */

	vmm_get_stats(g.vm, &st);
	printf("marker: setup %.3f ms, io exits %llu\n", (double)st.setup_ns / 1e6,
	       (unsigned long long)st.exits_io);
	assert_true(st.setup_ns > 0 && st.setup_ns < 5000000000ull);
	assert_true(st.exits_io >= 2);
	assert_int_equal(st.io_unhandled, 0);

	/* Stop after the end keeps the guest's exit. */
	vmm_stop(g.vm);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT);
	guest_destroy(&g);
}

/* Without cfg.debug_exit the port is unclaimed: the write is dropped and
 * counted, and the guest halts until stopped. */
static void
test_debug_exit_off(void **state)
{
	struct vmm_events ev = { 0 };
	int fd = open(guest_path("marker"), O_RDONLY | O_CLOEXEC);
	struct vmm_config cfg = {
		.vcpus = 1,
		.mem_bytes = 64ull << 20,
		.kernel = { .fd = fd, .size = (uint64_t)lseek(fd, 0, SEEK_END) },
		.initrd = { .fd = -1 },
	};
	struct vmm_stats st;
	struct vmm_exit e;
	struct vmm *vm;
	char err[256];

	(void)state;
	assert_int_equal(vmm_create(&cfg, &ev, &vm, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(vmm_start(vm), 0);
	assert_int_equal(vmm_wait(vm, &e, 300), -ETIMEDOUT);
	vmm_get_stats(vm, &st);
	assert_int_equal(st.io_unhandled, 1);
	vmm_stop(vm);
	assert_int_equal(vmm_wait(vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_STOPPED);
	assert_int_equal(e.vcpu, -1);
	vmm_destroy(vm);
}

/* Create and destroy without running; stop before start. */
static void
test_lifecycle(void **state)
{
	struct guest g;
	struct vmm_exit e;
	char err[256];

	(void)state;
	vmm_destroy(NULL);
	assert_int_equal(guest_create(&g, "marker", 1, 16, err, sizeof(err)), 0);
	guest_destroy(&g);

	assert_int_equal(guest_create(&g, "marker", 1, 64, err, sizeof(err)), 0);
	assert_int_equal(vmm_request_poweroff(g.vm), -EINVAL);
	vmm_stop(g.vm);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_STOPPED);
	assert_int_equal(vmm_start(g.vm), -ESRCH);
	guest_destroy(&g);

	/* RAM above the MMIO hole: two memslots. */
	assert_int_equal(guest_create(&g, "marker", 1, 3200, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	e = guest_wait_exit(&g, 10000);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT);
	guest_destroy(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),     cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_marker),    cmocka_unit_test(test_debug_exit_off),
		cmocka_unit_test(test_lifecycle),
	};

	if (!kvm_available())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
