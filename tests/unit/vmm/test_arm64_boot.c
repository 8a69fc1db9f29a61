/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/arm64/boot.c, on synthetic Images (and, when the images
 * build has it, the header of Debian's arm64 kernel: NV_ARM64_IMAGE names
 * the file). Pure C: natively under ASan/UBSan and under qemu-aarch64.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arm64/boot.h"
#include "arm64/fdt.h"
#include "guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A synthetic Image: header, then a recognisable pattern. */
static uint8_t *
make_image(size_t size, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	uint8_t *img = calloc(1, size);

	assert_non_null(img);
	for (size_t i = 64; i < size; i++)
		img[i] = (uint8_t)(i * 7);
	put_le(img + 0, 0x91005a4d, 4); /* code0: "MZ" + add, as EFI stubs */
	put_le(img + 8, text_offset, 8);
	put_le(img + 16, image_size, 8);
	put_le(img + 24, flags, 8);
	put_le(img + 56, VMM_ARM64_IMAGE_MAGIC, 4);
	return img;
}

static void
test_parse(void **state)
{
	struct vmm_arm64_image im;
	char err[256];
	uint8_t *img = make_image(8192, 0, 3 * MiB, 0xa);

	(void)state;
	assert_int_equal(vmm_arm64_image_parse(img, 8192, &im, err, sizeof(err)), 0);
	assert_int_equal(im.text_offset, 0);
	assert_int_equal(im.image_size, 3 * MiB);
	assert_int_equal(im.flags, 0xa);
	assert_int_equal(im.file_size, 8192);

	/* Pre-3.17 kernel: image_size 0 means text_offset 0x80000. */
	put_le(img + 16, 0, 8);
	assert_int_equal(vmm_arm64_image_parse(img, 8192, &im, err, sizeof(err)), 0);
	assert_int_equal(im.text_offset, 0x80000);
	assert_int_equal(im.image_size, 8192);
	free(img);
}

static void
test_parse_refused(void **state)
{
	struct vmm_arm64_image im;
	char err[256];
	uint8_t *img = make_image(4096, 0, 1 * MiB, 0);
	static const uint8_t gz[64] = { 0x1f, 0x8b, 0x08 };

	(void)state;
	/* Too short for a header: never read past the end (ASan). */
	for (size_t n = 0; n < 64; n++) {
		uint8_t *copy = malloc(n + 1);

		memcpy(copy, img, n);
		assert_int_equal(vmm_arm64_image_parse(copy, n, &im, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "magic"));
		free(copy);
	}
	img[56] = 'X';
	assert_int_equal(vmm_arm64_image_parse(img, 4096, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no arm64 Image magic"));
	img[56] = 0x41;

	assert_int_equal(vmm_arm64_image_parse(gz, sizeof(gz), &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gzip"));

	put_le(img + 24, 1, 8);
	assert_int_equal(vmm_arm64_image_parse(img, 4096, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "big-endian"));
	put_le(img + 24, 0, 8);

	put_le(img + 8, 0x80001, 8);
	assert_int_equal(vmm_arm64_image_parse(img, 4096, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "text_offset"));
	put_le(img + 8, 2 * MiB, 8);
	assert_int_equal(vmm_arm64_image_parse(img, 4096, &im, err, sizeof(err)), -EINVAL);
	put_le(img + 8, 0, 8);

	put_le(img + 16, 1024, 8);
	assert_int_equal(vmm_arm64_image_parse(img, 4096, &im, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "image_size"));
	free(img);
}

static void
test_plan(void **state)
{
	struct vmm_arm64_image im = {
		.text_offset = 0,
		.image_size = 35 * MiB,
		.file_size = 33 * MiB,
	};
	struct vmm_arm64_boot b;
	char err[256];

	(void)state;
	assert_int_equal(
		vmm_arm64_boot_plan(1 * GiB, 256 * MiB, &im, 10 * MiB + 5, &b, err, sizeof(err)),
		0);
	assert_int_equal(b.entry, 1 * GiB);
	assert_int_equal(b.kernel_end, 1 * GiB + 35 * MiB);
	/* The DTB in RAM's last 2 MiB block, 2 MiB aligned. */
	assert_int_equal(b.fdt_gpa, 1 * GiB + 254 * MiB);
	assert_int_equal(b.fdt_max, 2 * MiB);
	assert_int_equal(b.initrd_size, 10 * MiB + 5);
	assert_int_equal(b.initrd_gpa % 4096, 0);
	assert_true(b.initrd_gpa + b.initrd_size <= b.fdt_gpa);
	assert_true(b.fdt_gpa - (b.initrd_gpa + b.initrd_size) < 4096);
	assert_true(b.initrd_gpa >= b.kernel_end);

	/* text_offset honoured from the 2 MiB-aligned base. */
	im.text_offset = 0x80000;
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 256 * MiB, &im, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b.entry, 1 * GiB + 0x80000);
	assert_int_equal(b.initrd_size, 0);
	assert_int_equal(b.initrd_gpa, 0);

	/* RAM whose size is not a multiple of 2 MiB: the DTB block still
	 * aligned, inside RAM. */
	assert_int_equal(
		vmm_arm64_boot_plan(1 * GiB, 255 * MiB + 4096, &im, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b.fdt_gpa, 1 * GiB + 252 * MiB);
}

static void
test_plan_refused(void **state)
{
	struct vmm_arm64_image im = {
		.text_offset = 0,
		.image_size = 35 * MiB,
	};
	struct vmm_arm64_boot b;
	char err[256];

	(void)state;
	/* The kernel does not fit below the DTB. */
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 36 * MiB, &im, 0, &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "kernel: 35 MiB"));
	/* Just fits. */
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 38 * MiB, &im, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(b.kernel_end, b.fdt_gpa - 1 * MiB);
	/* The initrd does not fit between them. */
	assert_int_equal(
		vmm_arm64_boot_plan(1 * GiB, 38 * MiB, &im, 1 * MiB + 1, &b, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "initrd: 1 MiB does not fit"));
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 38 * MiB, &im, 1 * MiB, &b, err, sizeof(err)),
			 0);
	assert_int_equal(b.initrd_gpa, b.kernel_end);
	/* Absurd sizes: no overflow makes them fit. */
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 256 * MiB, &im, UINT64_MAX - 4095, &b, err,
					     sizeof(err)),
			 -EINVAL);
	im.image_size = UINT64_MAX - 1 * GiB;
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 256 * MiB, &im, 0, &b, err, sizeof(err)),
			 -EINVAL);
	im.image_size = 1 * MiB;
	/* RAM not 2 MiB aligned, too small, or wrapping. */
	assert_int_equal(
		vmm_arm64_boot_plan(1 * GiB + 4096, 256 * MiB, &im, 0, &b, err, sizeof(err)),
		-EINVAL);
	assert_int_equal(vmm_arm64_boot_plan(1 * GiB, 2 * MiB, &im, 0, &b, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(vmm_arm64_boot_plan(UINT64_MAX - 2 * MiB + 1, 256 * MiB, &im, 0, &b, err,
					     sizeof(err)),
			 -EINVAL);
}

static void
test_load(void **state)
{
	struct vmm_mem *mem = NULL;
	struct vmm_arm64_boot b;
	char err[256];
	size_t ksize = 300000;
	uint8_t *img = make_image(ksize, 0x80000, 4 * MiB, 0);
	uint8_t initrd[10000];
	uint8_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	/* RAM from 1 GiB, as the arm64 machine has it (a hole below). */
	assert_int_equal(vmm_mem_create(64 * MiB, 0, 1 * GiB, &mem), 0);
	assert_int_equal(mem->regions[0].gpa, 1 * GiB);
	assert_int_equal(
		vmm_arm64_boot_load(mem, img, ksize, initrd, sizeof(initrd), &b, err, sizeof(err)),
		0);
	assert_int_equal(b.entry, 1 * GiB + 0x80000);
	p = vmm_mem_ptr(mem, b.entry, ksize);
	assert_non_null(p);
	assert_memory_equal(p, img, ksize);
	/* Nothing before the kernel, its .bss zero. */
	assert_int_equal(*(uint8_t *)vmm_mem_ptr(mem, b.entry - 1, 1), 0);
	assert_int_equal(*(uint8_t *)vmm_mem_ptr(mem, b.entry + ksize, 1), 0);
	p = vmm_mem_ptr(mem, b.initrd_gpa, sizeof(initrd));
	assert_non_null(p);
	assert_memory_equal(p, initrd, sizeof(initrd));
	assert_int_equal(b.fdt_gpa, 1 * GiB + 62 * MiB);
	assert_non_null(vmm_mem_ptr(mem, b.fdt_gpa, b.fdt_max));

	/* A bad kernel: error, nothing to place. */
	img[56] = 0;
	assert_int_equal(vmm_arm64_boot_load(mem, img, ksize, NULL, 0, &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "magic"));
	vmm_mem_destroy(mem);
	free(img);
}

/* The real thing, when the images build has fetched Debian's arm64 kernel
 * (tests/unit/vmm/meson.build passes its path); skipped otherwise. */
static void
test_debian_image(void **state)
{
	const char *path = getenv("NV_ARM64_IMAGE");
	struct vmm_arm64_image im;
	struct vmm_arm64_boot b;
	uint8_t hdr[64];
	char err[256];
	long size;
	FILE *f;

	(void)state;
	if (path == NULL || (f = fopen(path, "rb")) == NULL) {
		print_message("skipped: no Debian arm64 Image (NV_ARM64_IMAGE)\n");
		skip();
		return;
	}
	assert_int_equal(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	fclose(f);
	/* Only the header is read; the size is the file's. */
	assert_int_equal(vmm_arm64_image_parse(hdr, sizeof(hdr), &im, err, sizeof(err)), 0);
	assert_int_equal(im.text_offset, 0); /* since 5.8 */
	assert_true(im.image_size >= (uint64_t)size);
	assert_true(im.image_size < 128 * MiB);
	/* Little-endian, 4 KiB pages (bits 1-2: 1). */
	assert_int_equal(im.flags & 1, 0);
	assert_int_equal((im.flags >> 1) & 3, 1);
	im.file_size = (size_t)size;
	assert_int_equal(
		vmm_arm64_boot_plan(1 * GiB, 256 * MiB, &im, 2 * MiB, &b, err, sizeof(err)), 0);
	assert_int_equal(b.entry, 1 * GiB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse), cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_plan),  cmocka_unit_test(test_plan_refused),
		cmocka_unit_test(test_load),  cmocka_unit_test(test_debian_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
