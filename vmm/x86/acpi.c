/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables of the nicvisor x86_64 machine (acpi.h), ACPI 6.5:
 *
 *	RSDP (rev 2) -> XSDT -> FADT (rev 6, hardware-reduced) -> DSDT
 *	                     -> MADT (rev 5)
 *	                     -> MCFG (rev 1): the PCI ECAM window
 *
 * Laid out from the start of the buffer, RSDP first so that a guest that
 * scans 0xe0000-0xfffff for it finds it on a 16-byte boundary; every other
 * table 16-byte aligned. Multi-byte fields are little-endian and written
 * byte by byte, so nothing here depends on the host's alignment.
 */
#include "x86/acpi.h"

#include <errno.h>
#include <string.h>

#include "x86/aml.h"
#include "x86/layout.h"

#define ACPI_OEM_ID       "NVISOR"
#define ACPI_OEM_TABLE_ID "NVX86VM "
#define ACPI_OEM_REV      1
#define ACPI_CREATOR_ID   "NVSR"
#define ACPI_CREATOR_REV  1
#define ACPI_HDR_LEN      36

/* 5.2.9: FADT, revision 6. */
#define FADT_LEN                  276
#define FADT_REV                  6
#define FADT_MINOR_REV            5
#define FADT_OFF_DSDT             40
#define FADT_OFF_IAPC_BOOT        109
#define FADT_OFF_FLAGS            112
#define FADT_OFF_RESET_REG        116
#define FADT_OFF_RESET_VAL        128
#define FADT_OFF_MINOR            131
#define FADT_OFF_X_DSDT           140
#define FADT_OFF_SLEEP_CTL        244
#define FADT_OFF_SLEEP_STS        256
#define FADT_OFF_HV_VENDOR        268
#define FADT_F_PWR_BUTTON         (1u << 4) /* no fixed-feature power button */
#define FADT_F_SLP_BUTTON         (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP      (1u << 10)
#define FADT_F_HW_REDUCED         (1u << 20)
#define IAPC_VGA_NOT_PRESENT      (1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)
#define GAS_SYSTEM_IO             1
#define GAS_ACCESS_BYTE           1

/* 5.2.12: MADT, revision 5. */
#define MADT_REV            5
#define MADT_LOCAL_APIC     0
#define MADT_IO_APIC        1
#define MADT_ISO            2
#define MADT_LOCAL_APIC_NMI 4
#define MADT_LAPIC_ENABLED  1
#define IOAPIC_ID           0

/* PCI Firmware Specification 3.3, 4.1.2: MCFG, one allocation of 16 bytes. */
#define MCFG_REV    1
#define MCFG_LEN    (ACPI_HDR_LEN + 8 + 16)

#define RSDP_LEN    36
#define RSDP_V1_LEN 20
#define DSDT_REV    2 /* 64-bit integers */

#define GAS_WIDTH_8 8
#define ALIGN16(x)  (((x) + 15) & ~(size_t)15)

uint8_t
vmm_x86_acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* 5.2.6 System Description Table Header; the checksum is set by seal(). */
static void
header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t + 24, ACPI_OEM_REV);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t + 32, ACPI_CREATOR_REV);
}

static void
seal(uint8_t *t, size_t len)
{
	t[9] = 0;
	t[9] = vmm_x86_acpi_checksum(t, len);
}

/* 5.2.3.2 Generic Address Structure: a one-byte I/O port. */
static void
gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = GAS_WIDTH_8;
	p[2] = 0;
	p[3] = GAS_ACCESS_BYTE;
	put64(p + 4, port);
}

static void
build_fadt(uint8_t *t, uint64_t dsdt_gpa)
{
	memset(t, 0, FADT_LEN);
	header(t, "FACP", FADT_LEN, FADT_REV);
	/* DSDT (32-bit) only if it fits; X_DSDT always. */
	if (dsdt_gpa <= UINT32_MAX)
		put32(t + FADT_OFF_DSDT, (uint32_t)dsdt_gpa);
	put16(t + FADT_OFF_IAPC_BOOT, IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_OFF_FLAGS,
	      FADT_F_HW_REDUCED | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	gas_io8(t + FADT_OFF_RESET_REG, VMM_X86_ACPI_RESET_PORT);
	t[FADT_OFF_RESET_VAL] = VMM_X86_ACPI_RESET_VALUE;
	t[FADT_OFF_MINOR] = FADT_MINOR_REV;
	put64(t + FADT_OFF_X_DSDT, dsdt_gpa);
	gas_io8(t + FADT_OFF_SLEEP_CTL, VMM_X86_ACPI_SLEEP_CTL_PORT);
	gas_io8(t + FADT_OFF_SLEEP_STS, VMM_X86_ACPI_SLEEP_STS_PORT);
	memcpy(t + FADT_OFF_HV_VENDOR, "NICVISOR", 8);
	seal(t, FADT_LEN);
}

static size_t
madt_len(uint32_t vcpus)
{
	return ACPI_HDR_LEN + 8 + (size_t)vcpus * 8 + 12 + 10 + 6;
}

static void
build_madt(uint8_t *t, uint32_t vcpus)
{
	size_t len = madt_len(vcpus), off = ACPI_HDR_LEN;
	uint32_t i;

	memset(t, 0, len);
	header(t, "APIC", (uint32_t)len, MADT_REV);
	put32(t + off, (uint32_t)VMM_X86_LAPIC_GPA);
	put32(t + off + 4, 0); /* no dual 8259: not PCAT_COMPAT */
	off += 8;
	for (i = 0; i < vcpus; i++) {
		/* 5.2.12.2: ACPI processor UID and APIC id = vCPU index. */
		t[off] = MADT_LOCAL_APIC;
		t[off + 1] = 8;
		t[off + 2] = (uint8_t)i;
		t[off + 3] = (uint8_t)i;
		put32(t + off + 4, MADT_LAPIC_ENABLED);
		off += 8;
	}
	/* 5.2.12.3 */
	t[off] = MADT_IO_APIC;
	t[off + 1] = 12;
	t[off + 2] = IOAPIC_ID;
	put32(t + off + 4, (uint32_t)VMM_X86_IOAPIC_GPA);
	put32(t + off + 8, 0); /* GSI base */
	off += 12;
	/* 5.2.12.5: the PIT's IRQ0 arrives on IOAPIC pin 2, as on a PC. */
	t[off] = MADT_ISO;
	t[off + 1] = 10;
	t[off + 2] = 0; /* ISA */
	t[off + 3] = 0; /* IRQ0 */
	put32(t + off + 4, 2);
	put16(t + off + 8, 0); /* bus-conforming polarity and trigger */
	off += 10;
	/* 5.2.12.7: NMI on LINT1 of every processor (UID 0xff). */
	t[off] = MADT_LOCAL_APIC_NMI;
	t[off + 1] = 6;
	t[off + 2] = 0xff;
	put16(t + off + 3, 0);
	t[off + 5] = 1; /* LINT1 */
	seal(t, len);
}

static void
build_mcfg(uint8_t *t)
{
	memset(t, 0, MCFG_LEN);
	header(t, "MCFG", MCFG_LEN, MCFG_REV);
	put64(t + ACPI_HDR_LEN + 8, VMM_X86_PCI_ECAM_GPA);
	put16(t + ACPI_HDR_LEN + 16, 0);              /* segment */
	t[ACPI_HDR_LEN + 18] = 0;                     /* start bus */
	t[ACPI_HDR_LEN + 19] = VMM_X86_PCI_BUSES - 1; /* end bus */
	seal(t, MCFG_LEN);
}

/* The PCI root bridge and the motherboard resource that reserves ECAM. */
static void
dsdt_pci(struct vmm_aml *a)
{
	vmm_aml_device(a, "PCI0");
	vmm_aml_name(a, "_HID");
	vmm_aml_eisaid(a, "PNP0A08");
	vmm_aml_name(a, "_CID");
	vmm_aml_eisaid(a, "PNP0A03");
	vmm_aml_name(a, "_UID");
	vmm_aml_integer(a, 0);
	vmm_aml_name(a, "_SEG");
	vmm_aml_integer(a, 0);
	vmm_aml_name(a, "_BBN");
	vmm_aml_integer(a, 0);
	vmm_aml_name(a, "_CRS");
	vmm_aml_resources(a);
	vmm_aml_res_word_bus(a, 0, VMM_X86_PCI_BUSES - 1);
	vmm_aml_res_dword_mem(a, VMM_AML_MEM_NONCACHEABLE, (uint32_t)VMM_X86_PCI_MMIO32_START,
			      (uint32_t)(VMM_X86_PCI_MMIO32_END - 1));
	vmm_aml_resources_end(a);
	vmm_aml_end(a);

	/* Linux uses an MCFG only if its window is reserved by a PNP0C01/2
	 * device (or in the e820 map when port config access exists, which
	 * this machine has not): arch/x86/pci/mmconfig-shared.c. */
	vmm_aml_device(a, "MRES");
	vmm_aml_name(a, "_HID");
	vmm_aml_eisaid(a, "PNP0C02");
	vmm_aml_name(a, "_UID");
	vmm_aml_integer(a, 0);
	vmm_aml_name(a, "_CRS");
	vmm_aml_resources(a);
	vmm_aml_res_mem32_fixed(a, true, (uint32_t)VMM_X86_PCI_ECAM_GPA,
				(uint32_t)VMM_X86_PCI_ECAM_SIZE);
	vmm_aml_resources_end(a);
	vmm_aml_end(a);
}

/*
 * The DSDT body:
 *
 *	Name (_S5_, Package () { S5_SLP_TYP, 0, 0, 0 })
 *	Scope (\_SB) {
 *		Device (COM1) { _HID PNP0501, _UID 0, _CRS { IO 0x3f8/8, IRQ 4 } }
 *		Device (PWRB) { _HID PNP0C0C, _UID 0 }
 *		Device (GED_) {
 *			_HID "ACPI0013", _UID 0,
 *			_CRS { Interrupt (Consumer, Edge, ActiveHigh, Exclusive) { GED_GSI } }
 *			Method (_EVT, 1) { If (Arg0 == GED_GSI) { Notify (\_SB.PWRB, 0x80) } }
 *		}
 *		Device (PCI0) {
 *			_HID PNP0A08, _CID PNP0A03, _UID 0, _SEG 0, _BBN 0,
 *			_CRS { WordBusNumber 0..BUSES-1, DWordMemory MMIO32 window }
 *		}
 *		Device (MRES) { _HID PNP0C02, _UID 0, _CRS { Memory32Fixed ECAM } }
 *	}
 */
static int
build_dsdt_body(uint8_t *buf, size_t cap, size_t *len)
{
	const uint32_t ged_gsi = VMM_X86_GED_GSI;
	struct vmm_aml a;

	vmm_aml_init(&a, buf, cap);
	vmm_aml_name(&a, "_S5_");
	vmm_aml_package(&a, 4);
	vmm_aml_integer(&a, VMM_X86_ACPI_S5_SLP_TYP);
	vmm_aml_integer(&a, 0);
	vmm_aml_integer(&a, 0);
	vmm_aml_integer(&a, 0);
	vmm_aml_end(&a);

	vmm_aml_scope(&a, "\\_SB");

	vmm_aml_device(&a, "COM1");
	vmm_aml_name(&a, "_HID");
	vmm_aml_eisaid(&a, "PNP0501");
	vmm_aml_name(&a, "_UID");
	vmm_aml_integer(&a, 0);
	vmm_aml_name(&a, "_CRS");
	vmm_aml_resources(&a);
	vmm_aml_res_io(&a, VMM_X86_COM1_PORT, VMM_X86_COM1_PORT, 1, 8);
	vmm_aml_res_irq(&a, VMM_X86_COM1_GSI);
	vmm_aml_resources_end(&a);
	vmm_aml_end(&a);

	vmm_aml_device(&a, "PWRB");
	vmm_aml_name(&a, "_HID");
	vmm_aml_eisaid(&a, "PNP0C0C");
	vmm_aml_name(&a, "_UID");
	vmm_aml_integer(&a, 0);
	vmm_aml_end(&a);

	vmm_aml_device(&a, "GED");
	vmm_aml_name(&a, "_HID");
	vmm_aml_string(&a, "ACPI0013");
	vmm_aml_name(&a, "_UID");
	vmm_aml_integer(&a, 0);
	vmm_aml_name(&a, "_CRS");
	vmm_aml_resources(&a);
	vmm_aml_res_interrupt(&a, true, false, false, &ged_gsi, 1);
	vmm_aml_resources_end(&a);
	vmm_aml_method(&a, "_EVT", 1, false);
	vmm_aml_if(&a);
	vmm_aml_lequal(&a);
	vmm_aml_arg(&a, 0);
	vmm_aml_integer(&a, ged_gsi);
	vmm_aml_notify(&a);
	vmm_aml_name_string(&a, "\\_SB.PWRB");
	vmm_aml_integer(&a, 0x80);
	vmm_aml_end(&a); /* If */
	vmm_aml_end(&a); /* _EVT */
	vmm_aml_end(&a); /* GED */

	dsdt_pci(&a);

	vmm_aml_end(&a); /* \_SB */
	return vmm_aml_finish(&a, len);
}

int
vmm_x86_acpi_build(uint8_t *buf, size_t buflen, uint64_t base_gpa,
		   const struct vmm_x86_acpi_conf *conf, uint64_t *rsdp_gpa, size_t *used)
{
	size_t rsdp_off = 0, xsdt_off, fadt_off, madt_off, mcfg_off, dsdt_off, dsdt_body, end;
	const size_t xsdt_len = ACPI_HDR_LEN + 3 * 8;
	uint8_t *rsdp, *xsdt, *dsdt;
	int rc;

	if (buf == NULL || conf == NULL || rsdp_gpa == NULL || used == NULL)
		return -EINVAL;
	if (conf->vcpus == 0 || conf->vcpus > VMM_X86_ACPI_MAX_VCPUS)
		return -EINVAL;
	if (base_gpa % 16 != 0 || base_gpa > UINT64_MAX - buflen)
		return -EINVAL;

	xsdt_off = ALIGN16(rsdp_off + RSDP_LEN);
	fadt_off = ALIGN16(xsdt_off + xsdt_len);
	madt_off = ALIGN16(fadt_off + FADT_LEN);
	mcfg_off = ALIGN16(madt_off + madt_len(conf->vcpus));
	dsdt_off = ALIGN16(mcfg_off + MCFG_LEN);
	if (dsdt_off + ACPI_HDR_LEN > buflen)
		return -ENOSPC;
	dsdt = buf + dsdt_off;
	rc = build_dsdt_body(dsdt + ACPI_HDR_LEN, buflen - dsdt_off - ACPI_HDR_LEN, &dsdt_body);
	if (rc < 0)
		return rc;
	end = dsdt_off + ACPI_HDR_LEN + dsdt_body;
	header(dsdt, "DSDT", (uint32_t)(ACPI_HDR_LEN + dsdt_body), DSDT_REV);
	seal(dsdt, ACPI_HDR_LEN + dsdt_body);

	memset(buf, 0, dsdt_off);
	build_madt(buf + madt_off, conf->vcpus);
	build_mcfg(buf + mcfg_off);
	build_fadt(buf + fadt_off, base_gpa + dsdt_off);

	xsdt = buf + xsdt_off;
	header(xsdt, "XSDT", (uint32_t)xsdt_len, 1);
	put64(xsdt + ACPI_HDR_LEN, base_gpa + fadt_off);
	put64(xsdt + ACPI_HDR_LEN + 8, base_gpa + madt_off);
	put64(xsdt + ACPI_HDR_LEN + 16, base_gpa + mcfg_off);
	seal(xsdt, xsdt_len);

	/* 5.2.5.3: RSDP rev 2; no RSDT, the XSDT is the root. */
	rsdp = buf + rsdp_off;
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, ACPI_OEM_ID, 6);
	rsdp[15] = 2;
	put32(rsdp + 16, 0);
	put32(rsdp + 20, RSDP_LEN);
	put64(rsdp + 24, base_gpa + xsdt_off);
	rsdp[8] = vmm_x86_acpi_checksum(rsdp, RSDP_V1_LEN);
	rsdp[32] = vmm_x86_acpi_checksum(rsdp, RSDP_LEN);

	*rsdp_gpa = base_gpa + rsdp_off;
	*used = end;
	return 0;
}
