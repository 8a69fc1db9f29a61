/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 machine nicvisor presents: where things are in guest-physical
 * memory and I/O port space. One place, so that the boot tables (e820,
 * ACPI) and the devices that implement them cannot disagree.
 *
 *   0x0000_0000  real-mode IVT/BDA                      RAM
 *   0x0000_0500  GDT (64-bit and PVH entry)             RAM
 *   0x0000_6000  PVH hvm_start_info + memmap + modlist  RAM
 *   0x0000_7000  Linux boot_params (zero page)          RAM
 *   0x0000_8ff0  initial stack pointer (grows down)     RAM
 *   0x0000_9000  identity page tables (PML4, PDPT, PDs) RAM, 6 pages
 *   0x0002_0000  kernel command line                    RAM
 *   0x0009_fc00  EBDA .. 1 MiB                           reserved
 *   0x000e_0000  ACPI tables (RSDP first)                reserved
 *   0x000f_fff0  reset vector: a stub that writes the ACPI reset register
 *   0x0010_0000  kernel (bzImage protected-mode part)    RAM
 *   ...          initrd at the top of RAM below 3 GiB    RAM
 *   0xc000_0000  MMIO hole: PCI BAR window (512 MiB)      not RAM
 *   0xe000_0000  PCI ECAM, bus 0 (1 MiB)                 reserved
 *   0xfec0_0000  IOAPIC; 0xfee0_0000 LAPIC               KVM's
 *   0x1_0000_0000 RAM above 4 GiB
 */
#ifndef VMM_X86_LAYOUT_H
#define VMM_X86_LAYOUT_H

#define VMM_X86_GDT_GPA          0x500ull
#define VMM_X86_PVH_INFO_GPA     0x6000ull
#define VMM_X86_ZERO_PAGE_GPA    0x7000ull
#define VMM_X86_BOOT_STACK_GPA   0x8ff0ull
#define VMM_X86_PML4_GPA         0x9000ull
#define VMM_X86_PT_PAGES         6 /* PML4, PDPT, 4 PDs: 4 GiB in 2 MiB pages */
#define VMM_X86_CMDLINE_GPA      0x20000ull
#define VMM_X86_CMDLINE_MAX      4096u
#define VMM_X86_EBDA_GPA         0x9fc00ull
#define VMM_X86_ACPI_GPA         0xe0000ull
#define VMM_X86_ACPI_SIZE        0x1f000ull /* up to the reset vector's page */
#define VMM_X86_RESET_VECTOR_GPA 0xffff0ull
#define VMM_X86_HIMEM_GPA        0x100000ull
#define VMM_X86_MMIO_HOLE_START  0xc0000000ull
#define VMM_X86_MMIO_HOLE_END    0x100000000ull
#define VMM_X86_IOAPIC_GPA       0xfec00000ull
#define VMM_X86_LAPIC_GPA        0xfee00000ull
#define VMM_X86_TSS_GPA          0xfffbd000ull /* KVM_SET_TSS_ADDR, 3 pages */
#define VMM_X86_IDENTITY_MAP_GPA 0xfffbc000ull /* KVM_SET_IDENTITY_MAP_ADDR */

/*
 * Selectors of the boot GDT at VMM_X86_GDT_GPA. The Linux boot protocol
 * requires __BOOT_CS = 0x10 and __BOOT_DS = 0x18 (boot.rst, 64-bit boot
 * protocol); PVH leaves them free, so it uses its own 32-bit code segment.
 */
#define VMM_X86_SEL_CODE32 0x08 /* flat 32-bit code: PVH entry */
#define VMM_X86_SEL_CODE64 0x10 /* flat 64-bit code: __BOOT_CS */
#define VMM_X86_SEL_DATA   0x18 /* flat data: __BOOT_DS, and PVH data */
#define VMM_X86_SEL_TSS    0x20 /* busy TSS, base 0, limit 0x67 (16-byte entry) */

/* Legacy devices. */
#define VMM_X86_COM1_PORT       0x3f8
#define VMM_X86_COM1_GSI        4
#define VMM_X86_I8042_DATA_PORT 0x60
#define VMM_X86_I8042_CMD_PORT  0x64
#define VMM_X86_I8042_RESET_CMD 0xfe

/* Hardware-reduced ACPI (FADT) registers, one byte each, I/O space. */
#define VMM_X86_ACPI_SLEEP_CTL_PORT 0x600
#define VMM_X86_ACPI_SLEEP_STS_PORT 0x601
#define VMM_X86_ACPI_RESET_PORT     0x602
#define VMM_X86_ACPI_RESET_VALUE    0x01
#define VMM_X86_ACPI_S5_SLP_TYP     5 /* the _S5_ package value */
/* Generic Event Device (ACPI0013): the power button interrupt. */
#define VMM_X86_GED_GSI     10

#define VMM_X86_IOAPIC_PINS 24

/*
 * PCI (vmm/pci.h): one root bus, described in the DSDT (\_SB.PCI0, its
 * _CRS the bus range and the BAR window) and in the MCFG table; config
 * space through ECAM only (no 0xcf8 ports), interrupts through MSI-X only
 * (no INTx, no _PRT). The ECAM window is reserved in the e820 map and by a
 * PNP0C02 device, which is how Linux accepts an MCFG without port-based
 * config access. BARs are placed in the window from its start, as firmware
 * would; the guest may move them anywhere in the window.
 */
#define VMM_X86_PCI_MMIO32_START 0xc0000000ull
#define VMM_X86_PCI_MMIO32_END   0xe0000000ull /* exclusive */
#define VMM_X86_PCI_ECAM_GPA     0xe0000000ull
#define VMM_X86_PCI_BUSES        1
#define VMM_X86_PCI_ECAM_SIZE    (VMM_X86_PCI_BUSES * (1ull << 20))
/* MSI: the x86 interrupt message address window (Intel SDM vol. 3, 11.11). */
#define VMM_X86_MSI_ADDR_BASE 0xfee00000ull
#define VMM_X86_MSI_ADDR_MASK 0xfff00000ull

#endif
