/* SPDX-License-Identifier: MIT */
/*
 * Every way a guest ends its run, and PIO/MMIO exits reaching the right
 * device: poweroff (ACPI S5), reboot (ACPI reset register, i8042), test
 * devices and unclaimed addresses, triple fault, and a jump into memory
 * that is neither RAM nor a device (a KVM error with a reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

static struct vmm_exit
run(struct guest *g, const char *name)
{
	struct vmm_exit e;
	char err[256];

	assert_int_equal(guest_create(g, name, 1, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(g), 0);
	e = guest_wait_exit(g, 10000);
	printf("%s: %s, code 0x%x, vcpu %d: %s\n", name, vmm_exit_kind_name(e.kind), e.code, e.vcpu,
	       e.reason);
	return e;
}

static void
test_poweroff(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "poweroff");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_POWEROFF);
	assert_int_equal(e.vcpu, 0);
	/* The writes without SLP_EN and with S3 were ignored. */
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 1);
	assert_int_equal(r[0], 1);
	guest_destroy(&g);
}

static void
test_reset_register(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "reset");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_REBOOT);
	assert_non_null(strstr(e.reason, "ACPI reset"));
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 1); /* 0x02 was ignored */
	guest_destroy(&g);
}

static void
test_i8042(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "i8042");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_REBOOT);
	assert_non_null(strstr(e.reason, "i8042"));
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 0); /* status never busy */
	guest_destroy(&g);
}

/* The guest finds the registers through the ACPI tables, as Linux does. */
static void
test_acpi_tables_poweroff(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "acpi_poweroff");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_POWEROFF);
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 0);
	guest_destroy(&g);
}

static void
test_acpi_tables_reset(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "acpi_reset");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_REBOOT);
	assert_non_null(strstr(e.reason, "ACPI reset"));
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 0);
	guest_destroy(&g);
}

/* Linux's default reboot here ends at the real-mode reset vector. */
static void
test_bios_reset_vector(void **state)
{
	uint32_t r[8];
	struct guest g;
	struct vmm_exit e = run(&g, "bios_reset");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_REBOOT);
	assert_int_equal(guest_reports_of(&g, 0, r, 8), 0);
	guest_destroy(&g);
}

static unsigned int
bcd(unsigned int v)
{
	return ((v / 10) << 4) | (v % 10);
}

static void
test_devices(void **state)
{
	static const uint32_t expect[] = {
		0x11,       0x2222,     0x33333333,           /* PIO of each width */
		0xef,       0xcdef,     TEST_MMIO_READ_VALUE, /* MMIO reads */
		0xffffffff, 0xffffffff,                       /* unclaimed port, MMIO */
		0x26,       0x80,                             /* CMOS A, D */
		0,                                            /* CMOS year: below */
		0x41,       0x42,       0x43,
		0x44, /* rep outsb */
	};
	uint32_t r[32];
	struct guest g;
	struct vmm_stats st;
	struct vmm_exit e = run(&g, "devices");
	time_t now = time(NULL);
	struct tm tm;
	unsigned int n;

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_DEBUG_EXIT);
	assert_int_equal(e.code, GUEST_EXIT_OK);
	n = guest_reports_of(&g, 0, r, 32);
	assert_int_equal(n, sizeof(expect) / sizeof(expect[0]));
	gmtime_r(&now, &tm);
	for (unsigned int i = 0; i < n; i++) {
		if (i == 10)
			assert_int_equal(r[i], bcd((unsigned int)tm.tm_year % 100));
		else
			assert_int_equal(r[i], expect[i]);
	}
	/* Access widths reached the device as made. */
	assert_int_equal(g.reports[0].len, 1);
	assert_int_equal(g.reports[1].len, 2);
	assert_int_equal(g.reports[2].len, 4);

	assert_int_equal(g.nmmio, 6);
	assert_true(g.mmio[0].is_write && g.mmio[0].offset == 1 && g.mmio[0].len == 1 &&
		    g.mmio[0].value == 0xa5);
	assert_true(g.mmio[1].is_write && g.mmio[1].offset == 2 && g.mmio[1].len == 2 &&
		    g.mmio[1].value == 0xbeef);
	assert_true(g.mmio[2].is_write && g.mmio[2].offset == 4 && g.mmio[2].len == 4 &&
		    g.mmio[2].value == 0xcafef00d);
	for (unsigned int i = 3; i < 6; i++)
		assert_true(!g.mmio[i].is_write && g.mmio[i].offset == 8);

	vmm_get_stats(g.vm, &st);
	/* The port read + write, the MMIO read + write; not port 0x61. */
	assert_int_equal(st.io_unhandled, 4);
	assert_true(st.exits_mmio >= 8);
	guest_destroy(&g);
}

static void
test_triple_fault(void **state)
{
	struct guest g;
	struct vmm_exit e = run(&g, "triple");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_TRIPLE_FAULT);
	assert_int_equal(e.vcpu, 0);
	assert_non_null(strstr(e.reason, "KVM_EXIT_SHUTDOWN"));
	assert_non_null(strstr(e.reason, "rip 0x"));
	guest_destroy(&g);
}

/* Whatever KVM reports for fetching code from nowhere (an emulation
 * failure on every host we know), it is a failed VM with a reason. */
static void
test_bad_jump(void **state)
{
	struct guest g;
	struct vmm_exit e = run(&g, "badjump");

	(void)state;
	assert_int_equal(e.kind, VMM_EXIT_KVM_ERROR);
	assert_int_equal(e.vcpu, 0);
	assert_true(e.code != 0);
	assert_true(strlen(e.reason) > 20);
	assert_non_null(strstr(e.reason, "0xd8000000"));
	guest_destroy(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poweroff),
		cmocka_unit_test(test_reset_register),
		cmocka_unit_test(test_i8042),
		cmocka_unit_test(test_acpi_tables_poweroff),
		cmocka_unit_test(test_acpi_tables_reset),
		cmocka_unit_test(test_bios_reset_vector),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_bad_jump),
	};

	if (!kvm_available())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
