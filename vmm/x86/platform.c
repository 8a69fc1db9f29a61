/* SPDX-License-Identifier: MIT */
/*
 * The x86 platform devices of layout.h: COM1, the hardware-reduced ACPI
 * sleep and reset registers, the i8042 reset line, a CMOS RTC, the POST
 * port, the debug-exit test port, and the power button (an edge on the
 * GED interrupt).
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.platform"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "vmm_int.h"
#include "x86/layout.h"

/* ACPI 6.5, 4.8.3.7: sleep control register: SLP_TYPx in bits 4:2, SLP_EN
 * in bit 5. 4.8.3.8: sleep status register, WAK_STS in bit 7. */
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK  0x7
#define SLP_EN        0x20

#define CMOS_PORT     0x70 /* index; data at 0x71 */
#define POST_PORT     0x80

/* MC146818 registers. */
#define RTC_SECONDS      0x00
#define RTC_MINUTES      0x02
#define RTC_HOURS        0x04
#define RTC_DAY_OF_WEEK  0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH        0x08
#define RTC_YEAR         0x09
#define RTC_REG_A        0x0a
#define RTC_REG_B        0x0b
#define RTC_REG_C        0x0c
#define RTC_REG_D        0x0d
#define RTC_CENTURY      0x32
#define RTC_REG_A_32KHZ  0x26 /* divider 32.768 kHz, 1024 Hz rate; UIP (bit 7) clear */
#define RTC_REG_B_24H    0x02
#define RTC_REG_B_BINARY 0x04
#define RTC_REG_D_VRT    0x80 /* valid RAM and time */

struct vmm_x86_platform {
	struct vmm *vm;
	pthread_mutex_t lock; /* CMOS state and the rate limit */
	uint8_t cmos_index;
	uint8_t cmos[128];
	struct nv_ratelimit rl;
};

static void
com1_tx(void *opaque, const uint8_t *data, size_t len)
{
	struct vmm *vm = opaque;

	if (vm->ev.console != NULL)
		vm->ev.console(vm->ev.opaque, data, len);
}

static void
com1_irq(void *opaque, int level)
{
	vmm_irq_line(opaque, VMM_X86_COM1_GSI, level);
}

static void
acpi_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct vmm_x86_platform *p = dev;
	uint8_t v = data[0];
	unsigned int slp_typ = (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK;

	(void)len;
	switch (VMM_X86_ACPI_SLEEP_CTL_PORT + offset) {
	case VMM_X86_ACPI_SLEEP_CTL_PORT:
		if (!(v & SLP_EN))
			break;
		if (slp_typ == VMM_X86_ACPI_S5_SLP_TYP) {
			vmm_end_run(p->vm, VMM_EXIT_POWEROFF, 0, "ACPI sleep control: S5");
			break;
		}
		pthread_mutex_lock(&p->lock);
		if (nv_ratelimit_ok(&p->rl, 5, 10000))
			nv_warn("guest asked for sleep type %u, only S5 (%u) is supported", slp_typ,
				VMM_X86_ACPI_S5_SLP_TYP);
		pthread_mutex_unlock(&p->lock);
		break;
	case VMM_X86_ACPI_RESET_PORT:
		if (v == VMM_X86_ACPI_RESET_VALUE)
			vmm_end_run(p->vm, VMM_EXIT_REBOOT, 0, "ACPI reset register");
		break;
	default:
		break; /* sleep status: write-1-to-clear of bits never set */
	}
}

static void
acpi_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)offset;
	vmm_io_put(data, len, 0); /* no wake status, reset register reads 0 */
}

static const struct vmm_dev_ops acpi_ops = {
	.name = "acpi-hw-reduced",
	.read = acpi_read,
	.write = acpi_write,
};

/* i8042: only what reboot needs. The status register reads 0 (buffers
 * empty), so Linux's kb_wait() does not spin before the 0xfe command. */
static void
i8042_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)offset;
	vmm_io_put(data, len, 0);
}

static void
i8042_cmd_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct vmm_x86_platform *p = dev;

	(void)offset;
	(void)len;
	if (data[0] == VMM_X86_I8042_RESET_CMD)
		vmm_end_run(p->vm, VMM_EXIT_REBOOT, 0, "i8042 reset command");
}

static const struct vmm_dev_ops i8042_data_ops = {
	.name = "i8042-data",
	.read = i8042_read,
};

static const struct vmm_dev_ops i8042_cmd_ops = {
	.name = "i8042-cmd",
	.read = i8042_read,
	.write = i8042_cmd_write,
};

static void
debug_exit_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct vmm_x86_platform *p = dev;
	uint32_t code = (uint32_t)vmm_io_get(data, len);

	(void)offset;
	vmm_end_run(p->vm, VMM_EXIT_DEBUG_EXIT, code, "debug-exit port: 0x%x", code);
}

static const struct vmm_dev_ops debug_exit_ops = {
	.name = "debug-exit",
	.write = debug_exit_write,
};

/* Port 0x80: POST codes and Linux's I/O delay; writes vanish. */
static const struct vmm_dev_ops post_ops = {
	.name = "post",
};

static uint8_t
to_rtc(const struct vmm_x86_platform *p, unsigned int v)
{
	if (p->cmos[RTC_REG_B] & RTC_REG_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/*
 * A CMOS RTC reading the host's UTC clock, with UIP always clear. Linux's
 * mach_get_cmos_time() (arch/x86/kernel/rtc.c) polls UIP in an unbounded
 * loop with interrupts off when no paravirtual clock replaces it; on an
 * unclaimed port (all ones) it would never leave. Time writes are ignored.
 */
static uint8_t
cmos_reg(struct vmm_x86_platform *p, uint8_t reg)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SECONDS:
		return to_rtc(p, (unsigned int)tm.tm_sec);
	case RTC_MINUTES:
		return to_rtc(p, (unsigned int)tm.tm_min);
	case RTC_HOURS:
		return to_rtc(p, (unsigned int)tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		return to_rtc(p, (unsigned int)tm.tm_wday + 1);
	case RTC_DAY_OF_MONTH:
		return to_rtc(p, (unsigned int)tm.tm_mday);
	case RTC_MONTH:
		return to_rtc(p, (unsigned int)tm.tm_mon + 1);
	case RTC_YEAR:
		return to_rtc(p, (unsigned int)tm.tm_year % 100);
	case RTC_CENTURY:
		return to_rtc(p, (unsigned int)(tm.tm_year + 1900) / 100);
	case RTC_REG_A:
		return RTC_REG_A_32KHZ;
	case RTC_REG_C:
		return 0; /* no interrupt flags */
	case RTC_REG_D:
		return RTC_REG_D_VRT;
	default:
		return p->cmos[reg];
	}
}

static void
cmos_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct vmm_x86_platform *p = dev;

	if (offset == 0) { /* the index register is write-only */
		vmm_io_put(data, len, ~0ull);
		return;
	}
	pthread_mutex_lock(&p->lock);
	vmm_io_put(data, len, cmos_reg(p, p->cmos_index));
	pthread_mutex_unlock(&p->lock);
}

static void
cmos_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct vmm_x86_platform *p = dev;

	(void)len;
	pthread_mutex_lock(&p->lock);
	if (offset == 0) {
		p->cmos_index = data[0] & 0x7f; /* bit 7 is the NMI mask */
	} else if (p->cmos_index == RTC_REG_B) {
		p->cmos[RTC_REG_B] = (uint8_t)((data[0] & ~0x70) | RTC_REG_B_24H); /* no RTC IRQs */
	} else if (p->cmos_index > RTC_REG_D && p->cmos_index != RTC_CENTURY) {
		p->cmos[p->cmos_index] = data[0];
	}
	pthread_mutex_unlock(&p->lock);
}

static const struct vmm_dev_ops cmos_ops = {
	.name = "cmos",
	.read = cmos_read,
	.write = cmos_write,
};

int
vmm_arch_devices_init(struct vmm *vm)
{
	struct vmm_serial_conf com1 = {
		.tx = com1_tx,
		.irq = com1_irq,
		.opaque = vm,
	};
	struct vmm_x86_platform *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	p->cmos[RTC_REG_B] = RTC_REG_B_24H;
	vm->arch.platform = p;
	rc = vmm_serial_create(&com1, &vm->com1);
	if (rc < 0)
		return rc;

	rc = vmm_add_device(vm, VMM_SPACE_PIO, VMM_X86_COM1_PORT, 8, &vmm_serial_ops, vm->com1);
	if (rc == 0)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, VMM_X86_ACPI_SLEEP_CTL_PORT, 3, &acpi_ops,
				    p);
	if (rc == 0)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, VMM_X86_I8042_DATA_PORT, 1, &i8042_data_ops,
				    p);
	if (rc == 0)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, VMM_X86_I8042_CMD_PORT, 1, &i8042_cmd_ops,
				    p);
	if (rc == 0)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, CMOS_PORT, 2, &cmos_ops, p);
	if (rc == 0)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, POST_PORT, 1, &post_ops, p);
	if (rc == 0 && vm->cfg.debug_exit)
		rc = vmm_add_device(vm, VMM_SPACE_PIO, VMM_DEBUG_EXIT_PORT, 4, &debug_exit_ops, p);
	return rc;
}

void
vmm_arch_devices_fini(struct vmm *vm)
{
	vmm_serial_destroy(vm->com1);
	vm->com1 = NULL;
	if (vm->arch.platform != NULL) {
		pthread_mutex_destroy(&vm->arch.platform->lock);
		free(vm->arch.platform);
		vm->arch.platform = NULL;
	}
}

/* The GED (ACPI0013) interrupt; the DSDT's _EVT notifies the power
 * button. An edge: raise and lower. */
int
vmm_arch_power_button(struct vmm *vm)
{
	int rc = vmm_irq_line(vm, VMM_X86_GED_GSI, 1);

	if (rc == 0)
		rc = vmm_irq_line(vm, VMM_X86_GED_GSI, 0);
	return rc;
}
