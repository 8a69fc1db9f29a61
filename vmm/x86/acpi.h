/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for the nicvisor x86_64 machine: RSDP, XSDT, a
 * hardware-reduced FADT (sleep control/status and reset registers), MADT
 * (one local APIC per vCPU, the IOAPIC, ISA overrides), an MCFG (the PCI
 * ECAM window) and a DSDT with \_S5_, a power button (PNP0C0C), the
 * Generic Event Device (ACPI0013) that signals it, the PCI root bridge
 * (PNP0A08) and a motherboard resource (PNP0C02) reserving ECAM. Written into a buffer that is
 * placed at a given gpa.
 *
 * Why hardware-reduced: the guest needs no PM timer, PM1 event blocks or
 * SCI, and poweroff and reboot are one-byte port writes (layout.h).
 */
#ifndef VMM_X86_ACPI_H
#define VMM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct vmm_x86_acpi_conf {
	uint32_t vcpus;
};

/*
 * Build the tables into buf (its first byte is at base_gpa, 16-byte
 * aligned) and return the RSDP's gpa in *rsdp_gpa (the start of buf) and
 * the bytes used in *used. -ENOSPC if buflen is too small, -EINVAL for
 * vcpus outside 1..VMM_X86_ACPI_MAX_VCPUS or an unaligned base.
 */
#define VMM_X86_ACPI_MAX_VCPUS 254 /* xAPIC ids 0..253 in the MADT */
int vmm_x86_acpi_build(uint8_t *buf, size_t buflen, uint64_t base_gpa,
		       const struct vmm_x86_acpi_conf *conf, uint64_t *rsdp_gpa, size_t *used);

/* ACPI checksum: the byte that makes the sum of len bytes zero. */
uint8_t vmm_x86_acpi_checksum(const uint8_t *p, size_t len);

#endif
