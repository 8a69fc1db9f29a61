/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: long mode and ring 3 with a hot loop whose result is
 * checked against a reference, two vCPUs (the second started by the guest
 * with INIT-SIPI-SIPI) both running guest code, the first exit ending the
 * run for every vCPU, and vmm_stop() while vCPUs spin in ring 3 without
 * exits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "nv_log.h"

#define STOP_BUDGET_NS 500000000ull /* "well under a second" */

/* What tests/guests/lm.S computes in ring 3 for cpu `id`. */
static uint64_t
reference_checksum(uint64_t id)
{
	uint64_t x = id + 1, sum = 0;

	for (uint32_t i = 0; i < 0x100000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		sum = ((sum << 7) | (sum >> 57)) ^ x;
	}
	return sum;
}

static void
expect_ring3_checksum(struct guest *g, int vcpu)
{
	uint64_t want = reference_checksum((uint64_t)vcpu);
	uint32_t r[8];

	assert_int_equal(guest_reports_of(g, vcpu, r, 8), 4);
	assert_int_equal(r[0], 0xc0000000u | (uint32_t)vcpu); /* its APIC id */
	assert_int_equal(r[1], 3);                            /* CPL */
	assert_int_equal(r[2], (uint32_t)want);
	assert_int_equal(r[3], (uint32_t)(want >> 32));
}

static void
test_ring3_checksum(void **state)
{
	struct guest g;
	struct vmm_exit e;
	char err[256];

	(void)state;
	assert_int_equal(guest_create(&g, "checksum", 1, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	assert_true(guest_wait_reports(&g, 4, 10000));
	/* It spins in ring 3 afterwards. */
	vmm_stop(g.vm);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_STOPPED);
	expect_ring3_checksum(&g, 0);
	guest_destroy(&g);
}

/* vCPU 0 starts vCPU 1 (real mode -> long mode -> ring 3 checksum), waits
 * for it, and exits; vCPU 1 still spins, and must be ended too. */
static void
test_two_vcpus(void **state)
{
	struct vmm_host_info info;
	struct guest g;
	struct vmm_exit e;
	uint32_t r[8];
	uint64_t t0;
	char err[256];

	(void)state;
	assert_int_equal(vmm_probe(NULL, &info), 0);
	if (info.max_vcpus < 2)
		skip();
	assert_int_equal(guest_create(&g, "smp_checksum", 2, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	e = guest_wait_exit(&g, 10000);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT);
	assert_int_equal(e.code, GUEST_EXIT_OK);
	assert_int_equal(e.vcpu, 0);
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 1);
	assert_int_equal(r[0], 0xa0000001u); /* vCPU 0 saw vCPU 1 finish */
	expect_ring3_checksum(&g, 1);

	t0 = nv_mono_ns();
	vmm_stop(g.vm); /* joins vCPU 1, kicked out of its ring-3 loop */
	assert_true(nv_mono_ns() - t0 < STOP_BUDGET_NS);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT); /* the first exit stays */
	guest_destroy(&g);
}

static void
stop_spinning(const char *name, uint32_t vcpus)
{
	struct vmm_stats before, after;
	struct guest g;
	struct vmm_exit e;
	uint64_t t0, dt;
	char err[256];

	assert_int_equal(guest_create(&g, name, vcpus, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	/* Every vCPU reports (id, CPL 3) on reaching its ring-3 loop. */
	assert_true(guest_wait_reports(&g, 2 * vcpus, 10000));
	for (uint32_t i = 0; i < vcpus; i++) {
		uint32_t r[4];

		assert_int_equal(guest_reports_of(&g, (int)i, r, 4), 2);
		assert_int_equal(r[0], 0xc0000000u | i);
		assert_int_equal(r[1], 3);
	}
	/* Spinning without exits: nothing comes out for a while. */
	vmm_get_stats(g.vm, &before);
	assert_int_equal(vmm_wait(g.vm, &e, 200), -ETIMEDOUT);
	vmm_get_stats(g.vm, &after);
	assert_int_equal(after.exits_io + after.exits_mmio, before.exits_io + before.exits_mmio);

	t0 = nv_mono_ns();
	vmm_stop(g.vm);
	dt = nv_mono_ns() - t0;
	printf("%s, %u vCPUs: vmm_stop took %.3f ms\n", name, vcpus, (double)dt / 1e6);
	assert_true(dt < STOP_BUDGET_NS);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_STOPPED);
	assert_int_equal(e.vcpu, -1);
	guest_destroy(&g);
}

static void
test_stop_ring3_spin(void **state)
{
	(void)state;
	stop_spinning("spin", 1);
}

static void
test_stop_ring3_spin_two_vcpus(void **state)
{
	struct vmm_host_info info;

	(void)state;
	assert_int_equal(vmm_probe(NULL, &info), 0);
	if (info.max_vcpus < 2)
		skip();
	stop_spinning("smp_spin", 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring3_checksum),
		cmocka_unit_test(test_two_vcpus),
		cmocka_unit_test(test_stop_ring3_spin),
		cmocka_unit_test(test_stop_ring3_spin_two_vcpus),
	};

	if (!kvm_available())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
