/* SPDX-License-Identifier: MIT */
/* Unit tests: vmm/x86/cpu.c (boot vCPU registers, CPUID, MSRs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/cpu.h"
#include "x86/layout.h"

static void
check_flat(const struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
	assert_int_equal(s->selector, sel);
	assert_int_equal(s->base, 0);
	assert_int_equal(s->limit, 0xffffffff);
	assert_int_equal(s->type, type);
	assert_int_equal(s->s, 1);
	assert_int_equal(s->dpl, 0);
	assert_int_equal(s->present, 1);
	assert_int_equal(s->l, l);
	assert_int_equal(s->db, db);
	assert_int_equal(s->g, 1);
	assert_int_equal(s->unusable, 0);
}

static void
check_common(const struct kvm_sregs *sr)
{
	/* Busy TSS in TR, no LDT, the boot GDT, an empty IDT. */
	assert_int_equal(sr->tr.selector, VMM_X86_SEL_TSS);
	assert_int_equal(sr->tr.type, 11);
	assert_int_equal(sr->tr.s, 0);
	assert_int_equal(sr->tr.present, 1);
	assert_int_equal(sr->tr.base, 0);
	assert_int_equal(sr->tr.limit, 0x67);
	assert_int_equal(sr->tr.g, 0);
	assert_int_equal(sr->tr.unusable, 0);
	assert_int_equal(sr->ldt.type, 2);
	assert_int_equal(sr->ldt.selector, 0);
	assert_int_equal(sr->gdt.base, VMM_X86_GDT_GPA);
	assert_int_equal(sr->gdt.limit, 6 * 8 - 1);
	assert_int_equal(sr->idt.limit, 0);
	assert_int_equal(sr->cr2, 0);
	assert_int_equal(sr->cr8, 0);
	/* What the caller got from KVM stays. */
	assert_int_equal(sr->apic_base, 0xfee00900);
	assert_int_equal(sr->interrupt_bitmap[0], 0x1234);
}

static void
garbage_sregs(struct kvm_sregs *sr)
{
	memset(sr, 0xa5, sizeof(*sr));
	sr->apic_base = 0xfee00900;
	sr->interrupt_bitmap[0] = 0x1234;
}

static void
test_sregs_linux64(void **state)
{
	struct vmm_x86_boot b = {
		.mode = VMM_X86_ENTRY_LINUX64,
		.entry = 0x100200,
		.boot_info = VMM_X86_ZERO_PAGE_GPA,
		.cr3 = VMM_X86_PML4_GPA,
	};
	struct kvm_sregs sr;

	(void)state;
	garbage_sregs(&sr);
	vmm_x86_boot_sregs(&b, &sr);
	/* __BOOT_CS: 64-bit code (L=1, D=0), execute/read, accessed. */
	check_flat(&sr.cs, 0x10, 11, 1, 0);
	/* __BOOT_DS everywhere else: read/write, accessed. */
	check_flat(&sr.ds, 0x18, 3, 0, 1);
	check_flat(&sr.es, 0x18, 3, 0, 1);
	check_flat(&sr.fs, 0x18, 3, 0, 1);
	check_flat(&sr.gs, 0x18, 3, 0, 1);
	check_flat(&sr.ss, 0x18, 3, 0, 1);
	check_common(&sr);
	/* PE | ET | NE | PG; PAE; LME | LMA: long mode as VMX checks it. */
	assert_int_equal(sr.cr0, 0x80000031);
	assert_int_equal(sr.cr4, 0x20);
	assert_int_equal(sr.efer, 0x500);
	assert_int_equal(sr.cr3, VMM_X86_PML4_GPA);
}

static void
test_sregs_pvh32(void **state)
{
	struct vmm_x86_boot b = {
		.mode = VMM_X86_ENTRY_PVH32,
		.entry = 0x1000000,
		.boot_info = VMM_X86_PVH_INFO_GPA,
	};
	struct kvm_sregs sr;

	(void)state;
	garbage_sregs(&sr);
	vmm_x86_boot_sregs(&b, &sr);
	/* Flat 32-bit code (D=1, L=0) and data; protected mode, paging off. */
	check_flat(&sr.cs, 0x08, 11, 0, 1);
	check_flat(&sr.ds, 0x18, 3, 0, 1);
	check_flat(&sr.es, 0x18, 3, 0, 1);
	check_flat(&sr.ss, 0x18, 3, 0, 1);
	check_common(&sr);
	assert_int_equal(sr.cr0, 0x11);
	assert_int_equal(sr.cr3, 0);
	assert_int_equal(sr.cr4, 0);
	assert_int_equal(sr.efer, 0);
}

static void
test_regs(void **state)
{
	struct vmm_x86_boot b = {
		.mode = VMM_X86_ENTRY_LINUX64,
		.entry = 0x100200,
		.boot_info = VMM_X86_ZERO_PAGE_GPA,
	};
	struct kvm_regs r;

	(void)state;
	memset(&r, 0xa5, sizeof(r));
	vmm_x86_boot_regs(&b, &r);
	assert_int_equal(r.rip, 0x100200);
	assert_int_equal(r.rsi, VMM_X86_ZERO_PAGE_GPA);
	assert_int_equal(r.rbx, 0);
	assert_int_equal(r.rax, 0);
	/* Only the always-one bit: IF, TF, VM clear. */
	assert_int_equal(r.rflags, 0x2);
	assert_int_equal(r.rsp, VMM_X86_BOOT_STACK_GPA);

	b.mode = VMM_X86_ENTRY_PVH32;
	b.entry = 0x1000040;
	b.boot_info = VMM_X86_PVH_INFO_GPA;
	memset(&r, 0xa5, sizeof(r));
	vmm_x86_boot_regs(&b, &r);
	assert_int_equal(r.rip, 0x1000040);
	assert_int_equal(r.rbx, VMM_X86_PVH_INFO_GPA);
	assert_int_equal(r.rsi, 0);
	assert_int_equal(r.rflags, 0x2);
}

#define NENT 11

static struct kvm_cpuid2 *
fake_supported_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NENT * sizeof(c->entries[0]));
	const struct kvm_cpuid_entry2 e[NENT] = {
		{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547 },
		{ .function = 1,
		  .eax = 0x806f8,
		  .ebx = 0xff100800,
		  .ecx = 0x7ed8320b,
		  .edx = 0x178bfbff },
		{ .function = 4,
		  .index = 0,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0xfc004121,
		  .ebx = 0x01c0003f },
		{ .function = 4, .index = 4, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb,
		  .index = 2,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ecx = 0x22 },
		{ .function = 0x1f, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x1f, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x40000000,
		  .eax = 0x40000001,
		  .ebx = 0x4b4d564b,
		  .ecx = 0x564b4d56,
		  .edx = 0x4d },
		{ .function = 0x40000001, .eax = 0x01007afb },
	};

	assert_non_null(c);
	c->nent = NENT;
	memcpy(c->entries, e, sizeof(e));
	return c;
}

static const struct kvm_cpuid_entry2 *
find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	fail_msg("no leaf 0x%x.%u", fn, idx);
	return NULL;
}

static void
test_cpuid_fixup(void **state)
{
	struct kvm_cpuid2 *orig = fake_supported_cpuid();
	struct kvm_cpuid2 *c = fake_supported_cpuid();
	const struct kvm_cpuid_entry2 *e;
	uint32_t fn, i;

	(void)state;
	vmm_x86_cpuid_fixup(c, 3, 8);
	e = find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 3);          /* initial APIC id */
	assert_int_equal((e->ebx >> 16) & 0xff, 8); /* logical processors */
	assert_int_equal(e->ebx & 0xffff, 0x0800);  /* CLFLUSH size etc. kept */
	assert_true(e->ecx & (1u << 31));           /* hypervisor */
	assert_int_equal(e->ecx & ~(1u << 31), 0x7ed8320b);
	assert_true(e->edx & (1u << 28)); /* HTT: more than one logical cpu */
	assert_int_equal(e->eax, 0x806f8);

	e = find(c, 4, 0);
	assert_int_equal(e->eax >> 26, 7); /* 8 cores per package */
	assert_int_equal(e->eax & 0x03ffffff, 0x4121);
	assert_int_equal(find(c, 4, 4)->eax, 0); /* the terminating subleaf stays */

	for (fn = 0xb; fn <= 0x1f; fn += 0x1f - 0xb) {
		e = find(c, fn, 0);
		assert_int_equal((e->ecx >> 8) & 0xff, 1); /* SMT level */
		assert_int_equal(e->ecx & 0xff, 0);
		assert_int_equal(e->ebx, 1);
		assert_int_equal(e->eax, 0);
		assert_int_equal(e->edx, 3); /* x2APIC id */
		e = find(c, fn, 1);
		assert_int_equal((e->ecx >> 8) & 0xff, 2); /* core level */
		assert_int_equal(e->ecx & 0xff, 1);
		assert_int_equal(e->ebx, 8);
		assert_int_equal(e->eax, 3); /* 8 ids need 3 bits */
		assert_int_equal(e->edx, 3);
	}
	e = find(c, 0xb, 2);
	assert_int_equal((e->ecx >> 8) & 0xff, 0); /* invalid: end of levels */
	assert_int_equal(e->ecx & 0xff, 2);
	assert_int_equal(e->ebx, 0);
	assert_int_equal(e->edx, 3);

	/* KVM's signature and feature leaves, and leaf 0, are untouched. */
	for (i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 0 || c->entries[i].function >= 0x40000000)
			assert_memory_equal(&c->entries[i], &orig->entries[i],
					    sizeof(c->entries[i]));
	}

	/* One vCPU: no HTT; a non-power-of-two count rounds the id width up. */
	memcpy(c, orig, sizeof(*c) + NENT * sizeof(c->entries[0]));
	vmm_x86_cpuid_fixup(c, 0, 1);
	assert_false(find(c, 1, 0)->edx & (1u << 28));
	assert_int_equal((find(c, 1, 0)->ebx >> 16) & 0xff, 1);
	assert_int_equal(find(c, 4, 0)->eax >> 26, 0);
	assert_int_equal(find(c, 0xb, 1)->eax, 0);
	vmm_x86_cpuid_fixup(c, 4, 5);
	assert_int_equal(find(c, 0xb, 1)->eax, 3);
	assert_int_equal(find(c, 0xb, 1)->edx, 4);
	assert_int_equal(find(c, 1, 0)->ebx >> 24, 4);
	vmm_x86_cpuid_fixup(c, 1, 2);
	assert_int_equal(find(c, 0xb, 1)->eax, 1);
	free(c);
	free(orig);
}

static void
test_boot_msrs(void **state)
{
	struct kvm_msr_entry m[16];
	unsigned int n, i;
	const struct {
		uint32_t index;
		uint64_t data;
	} want[] = {
		{ 0x174, 0 },      { 0x175, 0 },      { 0x176, 0 },      { 0xc0000081, 0 },
		{ 0xc0000082, 0 }, { 0xc0000083, 0 }, { 0xc0000084, 0 }, { 0xc0000102, 0 },
		{ 0x1a0, 1 },     /* IA32_MISC_ENABLE: fast strings */
		{ 0x2ff, 0x806 }, /* MTRRdefType: enabled, write-back */
	};

	(void)state;
	memset(m, 0xa5, sizeof(m));
	n = vmm_x86_boot_msrs(m, 16);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		assert_int_equal(m[i].index, want[i].index);
		assert_int_equal(m[i].data, want[i].data);
		assert_int_equal(m[i].reserved, 0);
	}
	assert_int_equal(vmm_x86_boot_msrs(m, 3), 3);
	assert_int_equal(vmm_x86_boot_msrs(m, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sregs_linux64), cmocka_unit_test(test_sregs_pvh32),
		cmocka_unit_test(test_regs),          cmocka_unit_test(test_cpuid_fixup),
		cmocka_unit_test(test_boot_msrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
