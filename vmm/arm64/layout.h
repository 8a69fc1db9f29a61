/* SPDX-License-Identifier: MIT */
/*
 * The arm64 machine's guest-physical map (the shape of QEMU's virt board
 * and kvmtool's, so a kernel configured for either finds nothing odd):
 *
 *   0x0800_0000  GIC distributor (64 KiB)
 *   0x0801_0000  GICv2 CPU interface (8 KiB), when the host has no GICv3
 *   0x0808_0000  GICv3 ITS (128 KiB: control and translation frames)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU (up to 123 vCPUs)
 *   0x0900_0000  16550A UART on MMIO, byte registers, SPI 1 (the console)
 *   0x0a00_0000  virtio-mmio transports, 512 bytes each, SPI 16 + n
 *   0x1000_0000  PCI BAR window (512 MiB, 32-bit memory space)
 *   0x3000_0000  PCI ECAM, 16 buses (16 MiB)
 *   0x4000_0000  RAM, one bank, up to the IPA limit
 */
#ifndef VMM_ARM64_LAYOUT_H
#define VMM_ARM64_LAYOUT_H

#define VMM_ARM64_GIC_DIST_BASE    0x08000000ull
#define VMM_ARM64_GIC_DIST_SIZE    0x10000ull
#define VMM_ARM64_GIC_CPUIF_BASE   0x08010000ull
#define VMM_ARM64_GIC_CPUIF_SIZE   0x2000ull
#define VMM_ARM64_GIC_ITS_BASE     0x08080000ull
#define VMM_ARM64_GIC_ITS_SIZE     0x20000ull
#define VMM_ARM64_GIC_REDIST_BASE  0x080a0000ull
#define VMM_ARM64_GIC_REDIST_SIZE  0x20000ull /* per vCPU: RD and SGI frames */
#define VMM_ARM64_GIC_REDIST_LIMIT 0x09000000ull
#define VMM_ARM64_GIC_NR_IRQS      128 /* SGIs, PPIs and 96 SPIs */

#define VMM_ARM64_UART_BASE        0x09000000ull
#define VMM_ARM64_UART_SIZE        0x1000ull
#define VMM_ARM64_UART_SPI         1
#define VMM_ARM64_UART_CLOCK_HZ    1843200

#define VMM_ARM64_VIRTIO_MMIO_BASE 0x0a000000ull
#define VMM_ARM64_VIRTIO_MMIO_SIZE 0x200ull
#define VMM_ARM64_VIRTIO_SPI_BASE  16

#define VMM_ARM64_PCI_WINDOW_START 0x10000000ull
#define VMM_ARM64_PCI_WINDOW_END   0x30000000ull
#define VMM_ARM64_PCI_ECAM_BASE    0x30000000ull
#define VMM_ARM64_PCI_BUSES        16

#define VMM_ARM64_RAM_BASE         0x40000000ull

/* GICv3 architecture spec, 12.19: GITS_TRANSLATER, in the ITS's second
 * 64 KiB frame (the translation frame), is the doorbell MSIs write to. */
#define VMM_ARM64_GIC_ITS_TRANSLATER (VMM_ARM64_GIC_ITS_BASE + 0x10040ull)

/* GIC INTID of an SPI. */
#define VMM_ARM64_SPI_INTID(spi) (32 + (spi))

#endif
