/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: vmm_x86_boot_load() over arbitrary kernel bytes. The
 * guest RAM is small and split around a low hole, so that segments,
 * windows and the initrd meet both ends of both regions. Beyond "no
 * crash, no out-of-bounds access" (ASan/UBSan), a successful load must
 * describe a plan that lies in RAM, and a failure must say why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define MiB (1ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmm_mem *mem;
	static uint8_t initrd[5000];
	struct vmm_x86_boot_args args = {
		.kernel = data,
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = sizeof(initrd),
		.cmdline = "console=ttyS0 panic=-1",
		.vcpus = 2,
	};
	struct vmm_x86_boot b;
	char err[256];
	int rc;

	if (mem == NULL) {
		/* 48 MiB below a hole that ends at 4 GiB, 16 MiB above it. */
		if (vmm_mem_create(64 * MiB, 48 * MiB, VMM_X86_MMIO_HOLE_END, &mem) != 0)
			abort();
		memset(initrd, 0x17, sizeof(initrd));
	}
	err[0] = '\0';
	rc = vmm_x86_boot_load(mem, &args, &b, err, sizeof(err));
	if (rc != 0) {
		check(rc == -EINVAL || rc == -E2BIG);
		check(err[0] != '\0');
		return 0;
	}
	check(b.kernel_gpa >= VMM_X86_HIMEM_GPA && b.kernel_gpa < b.kernel_end);
	check(vmm_mem_ptr(mem, b.kernel_gpa, b.kernel_end - b.kernel_gpa) != NULL);
	check(b.entry < (b.mode == VMM_X86_ENTRY_PVH32 ? (1ull << 32) : b.kernel_end));
	check(b.initrd_size == sizeof(initrd) && b.initrd_gpa % 4096 == 0);
	check(b.initrd_gpa >= b.kernel_end);
	check(memcmp(vmm_mem_ptr(mem, b.initrd_gpa, sizeof(initrd)), initrd, sizeof(initrd)) == 0);
	check(b.rsdp_gpa == VMM_X86_ACPI_GPA);
	return 0;
}
