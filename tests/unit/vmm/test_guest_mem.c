/* SPDX-License-Identifier: MIT */
/* Unit tests: vmm/guest_mem.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void
test_small_single_region(void **state)
{
	struct vmm_mem *mem = NULL;
	struct stat st;
	char name[64] = "";
	char link[64];
	ssize_t n;

	(void)state;
	assert_int_equal(vmm_mem_create(64 * MiB, 3 * GiB, 4 * GiB, &mem), 0);
	assert_int_equal(mem->size, 64 * MiB);
	assert_int_equal(mem->nregions, 1);
	assert_int_equal(mem->regions[0].gpa, 0);
	assert_int_equal(mem->regions[0].size, 64 * MiB);
	assert_int_equal(mem->regions[0].fd_offset, 0);
	assert_ptr_equal(mem->regions[0].hva, mem->base);

	/* A real memfd of the right size, close-on-exec, sealed against resizing. */
	assert_int_equal(fstat(mem->fd, &st), 0);
	assert_int_equal(st.st_size, 64 * MiB);
	assert_true(fcntl(mem->fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(mem->fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_not_equal(ftruncate(mem->fd, 32 * MiB), 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", mem->fd);
	n = readlink(link, name, sizeof(name) - 1);
	assert_true(n > 0);
	name[n] = '\0';
	assert_non_null(strstr(name, "memfd:nicvisor-guest-ram"));

	/* The mapping is shared: a write through the fd shows in the mapping. */
	assert_int_equal(pwrite(mem->fd, "xyz", 3, 5 * MiB), 3);
	assert_memory_equal(mem->base + 5 * MiB, "xyz", 3);
	vmm_mem_destroy(mem);
}

static void
test_split_around_hole(void **state)
{
	struct vmm_mem *mem = NULL;
	uint8_t *lo, *hi;

	(void)state;
	assert_int_equal(vmm_mem_create(4 * GiB, 3 * GiB, 4 * GiB, &mem), 0);
	assert_int_equal(mem->nregions, 2);
	assert_int_equal(mem->regions[0].gpa, 0);
	assert_int_equal(mem->regions[0].size, 3 * GiB);
	assert_int_equal(mem->regions[1].gpa, 4 * GiB);
	assert_int_equal(mem->regions[1].size, 1 * GiB);
	assert_int_equal(mem->regions[1].fd_offset, 3 * GiB);
	assert_ptr_equal(mem->regions[1].hva, mem->base + 3 * GiB);

	lo = vmm_mem_ptr(mem, 3 * GiB - 4096, 4096);
	assert_ptr_equal(lo, mem->base + 3 * GiB - 4096);
	hi = vmm_mem_ptr(mem, 4 * GiB, 4096);
	assert_ptr_equal(hi, mem->base + 3 * GiB);
	/* The hole is not RAM; nothing straddles it. */
	assert_null(vmm_mem_ptr(mem, 3 * GiB, 1));
	assert_null(vmm_mem_ptr(mem, 4 * GiB - 1, 1));
	assert_null(vmm_mem_ptr(mem, 3 * GiB - 1, 2));
	assert_null(vmm_mem_ptr(mem, 5 * GiB, 1));
	assert_non_null(vmm_mem_ptr(mem, 5 * GiB - 1, 1));

	assert_int_equal(vmm_mem_top_below(mem, 3 * GiB), 3 * GiB);
	assert_int_equal(vmm_mem_top_below(mem, 2 * GiB), 2 * GiB);
	assert_int_equal(vmm_mem_top_below(mem, UINT64_MAX), 5 * GiB);
	assert_int_equal(vmm_mem_top_below(mem, 4 * GiB), 3 * GiB);
	assert_int_equal(vmm_mem_top_below(mem, 4 * GiB + 5), 4 * GiB + 5);
	assert_int_equal(vmm_mem_top_below(mem, 0), 0);
	vmm_mem_destroy(mem);
}

static void
test_ptr_bounds(void **state)
{
	struct vmm_mem *mem = NULL;
	uint8_t buf[16];

	(void)state;
	assert_int_equal(vmm_mem_create(1 * MiB, 3 * GiB, 4 * GiB, &mem), 0);
	assert_ptr_equal(vmm_mem_ptr(mem, 0, MiB), mem->base);
	assert_ptr_equal(vmm_mem_ptr(mem, MiB - 1, 1), mem->base + MiB - 1);
	assert_ptr_equal(vmm_mem_ptr(mem, 100, 0), mem->base + 100);
	assert_null(vmm_mem_ptr(mem, 0, MiB + 1));
	assert_null(vmm_mem_ptr(mem, MiB, 0));
	assert_null(vmm_mem_ptr(mem, MiB - 1, 2));
	/* Sums that would wrap around 2^64 must not pass. */
	assert_null(vmm_mem_ptr(mem, 16, UINT64_MAX));
	assert_null(vmm_mem_ptr(mem, UINT64_MAX, 2));
	assert_null(vmm_mem_ptr(mem, UINT64_MAX - 7, 16));
	assert_null(vmm_mem_ptr(NULL, 0, 1));

	assert_int_equal(vmm_mem_write(mem, 4096, "hello", 5), 0);
	assert_int_equal(vmm_mem_read(mem, 4096, buf, 5), 0);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(vmm_mem_write(mem, MiB - 2, "abc", 3), -EFAULT);
	assert_int_equal(vmm_mem_read(mem, MiB - 2, buf, 3), -EFAULT);
	assert_int_equal(vmm_mem_read(mem, UINT64_MAX - 1, buf, 3), -EFAULT);
	vmm_mem_destroy(mem);
}

static void
test_bad_args(void **state)
{
	struct vmm_mem *mem = NULL;

	(void)state;
	assert_int_equal(vmm_mem_create(0, 3 * GiB, 4 * GiB, &mem), -EINVAL);
	assert_int_equal(vmm_mem_create(MiB + 1, 3 * GiB, 4 * GiB, &mem), -EINVAL);
	assert_int_equal(vmm_mem_create(MiB, 4 * GiB, 3 * GiB, &mem), -EINVAL);
	assert_int_equal(vmm_mem_create(MiB, 3 * GiB + 1, 4 * GiB, &mem), -EINVAL);
	/* RAM above a hole near the top of the address space would wrap. */
	assert_int_equal(vmm_mem_create(2 * MiB, 4096, UINT64_MAX - 4095, &mem), -EINVAL);
	assert_null(mem);
	vmm_mem_destroy(NULL);
}

static void
test_no_hole_and_high_base(void **state)
{
	struct vmm_mem *mem = NULL;

	(void)state;
	/* An empty hole: one region from 0. */
	assert_int_equal(vmm_mem_create(8 * MiB, 4 * MiB, 4 * MiB, &mem), 0);
	assert_int_equal(mem->nregions, 1);
	assert_int_equal(mem->regions[0].size, 8 * MiB);
	vmm_mem_destroy(mem);
	/* A hole from 0: RAM starts at hole_end (arm64 style). */
	assert_int_equal(vmm_mem_create(8 * MiB, 0, GiB, &mem), 0);
	assert_int_equal(mem->nregions, 1);
	assert_int_equal(mem->regions[0].gpa, GiB);
	assert_int_equal(mem->regions[0].fd_offset, 0);
	assert_null(vmm_mem_ptr(mem, 0, 1));
	assert_non_null(vmm_mem_ptr(mem, GiB, 8 * MiB));
	vmm_mem_destroy(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_single_region),
		cmocka_unit_test(test_split_around_hole),
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_no_hole_and_high_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
