/* SPDX-License-Identifier: MIT */
/*
 * Device models: the bus (ordering, overlaps, lookups), the 16550A
 * register by register as Linux's 8250 driver probes and drives it, and
 * then the UART end to end in a guest: interrupts through the PIC, input
 * from vmm_console_input(), and the power button.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "harness.h"
#include "serial.h"

/* ---- bus ---- */

static const struct vmm_dev_ops null_ops = { .name = "null" };

static void
test_bus(void **state)
{
	struct vmm_bus bus = { 0 };
	int a, b, c;
	uint8_t data[4];

	(void)state;
	assert_int_equal(vmm_bus_add(&bus, 0x100, 8, &null_ops, &b), 0);
	assert_int_equal(vmm_bus_add(&bus, 0x10, 1, &null_ops, &a), 0);
	assert_int_equal(vmm_bus_add(&bus, 0x200, 0x10, &null_ops, &c), 0);
	assert_int_equal(vmm_bus_add(&bus, 0x104, 8, &null_ops, NULL), -EEXIST);
	assert_int_equal(vmm_bus_add(&bus, 0xf8, 9, &null_ops, NULL), -EEXIST);
	assert_int_equal(vmm_bus_add(&bus, 0x1ff, 2, &null_ops, NULL), -EEXIST);
	assert_int_equal(vmm_bus_add(&bus, 0x300, 0, &null_ops, NULL), -EINVAL);
	assert_int_equal(vmm_bus_add(&bus, UINT64_MAX, 2, &null_ops, NULL), -EINVAL);
	assert_int_equal(vmm_bus_add(&bus, 0x108, 8, &null_ops, NULL), 0); /* adjacent is fine */

	assert_ptr_equal(vmm_bus_find(&bus, 0x10, 1)->dev, &a);
	assert_null(vmm_bus_find(&bus, 0x10, 2)); /* runs past the end */
	assert_null(vmm_bus_find(&bus, 0x11, 1));
	assert_null(vmm_bus_find(&bus, 0xf, 1));
	assert_ptr_equal(vmm_bus_find(&bus, 0x104, 4)->dev, &b);
	assert_null(vmm_bus_find(&bus, 0x106, 4)); /* straddles two ranges */
	assert_ptr_equal(vmm_bus_find(&bus, 0x20f, 1)->dev, &c);
	assert_null(vmm_bus_find(&bus, 0x210, 1));
	assert_null(vmm_bus_find(&bus, UINT64_MAX, 1));

	/* No read op: all ones; unclaimed: all ones and -ENOENT. */
	memset(data, 0, sizeof(data));
	assert_int_equal(vmm_bus_access(&bus, 0x200, data, 4, 0), 0);
	assert_int_equal(data[0] & data[1] & data[2] & data[3], 0xff);
	memset(data, 0, sizeof(data));
	assert_int_equal(vmm_bus_access(&bus, 0x400, data, 2, 0), -ENOENT);
	assert_int_equal(data[0] & data[1], 0xff);

	vmm_bus_freeze(&bus);
	assert_int_equal(vmm_bus_add(&bus, 0x500, 1, &null_ops, NULL), -EBUSY);
	vmm_bus_free(&bus);
}

/* ---- 16550A registers ---- */

#define THR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct uart {
	struct vmm_serial *s;
	int irq;
	int irq_changes;
	uint8_t tx[64];
	size_t ntx;
};

static void
uart_irq(void *opaque, int level)
{
	struct uart *u = opaque;

	u->irq = level;
	u->irq_changes++;
}

static void
uart_tx(void *opaque, const uint8_t *data, size_t len)
{
	struct uart *u = opaque;

	for (size_t i = 0; i < len && u->ntx < sizeof(u->tx); i++)
		u->tx[u->ntx++] = data[i];
}

static uint8_t
rd(struct uart *u, uint64_t reg)
{
	uint8_t v;

	vmm_serial_ops.read(u->s, reg, &v, 1);
	return v;
}

static void
wr(struct uart *u, uint64_t reg, uint8_t v)
{
	vmm_serial_ops.write(u->s, reg, &v, 1);
}

static int
uart_setup(void **state)
{
	static struct uart u;
	struct vmm_serial_conf conf = {
		.tx = uart_tx,
		.irq = uart_irq,
		.opaque = &u,
	};

	memset(&u, 0, sizeof(u));
	assert_int_equal(vmm_serial_create(&conf, &u.s), 0);
	*state = &u;
	return 0;
}

static int
uart_teardown(void **state)
{
	struct uart *u = *state;

	vmm_serial_destroy(u->s);
	vmm_serial_destroy(NULL);
	return 0;
}

static void
test_uart_reset_and_scratch(void **state)
{
	struct uart *u = *state;

	assert_int_equal(rd(u, IIR), 0x01); /* no interrupt, FIFOs off */
	assert_int_equal(rd(u, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(u, MSR), 0xb0); /* DCD | DSR | CTS */
	assert_int_equal(rd(u, LCR), 0x03);
	assert_int_equal(rd(u, IER), 0x00);
	wr(u, SCR, 0xa5);
	assert_int_equal(rd(u, SCR), 0xa5);
	/* Linux's autoconfig: IER holds only its low four bits. */
	wr(u, IER, 0xff);
	assert_int_equal(rd(u, IER), 0x0f);
	wr(u, IER, 0);
}

static void
test_uart_divisor_latch(void **state)
{
	struct uart *u = *state;

	wr(u, IER, 0x05);
	wr(u, LCR, 0x83);
	wr(u, THR, 0x01); /* DLL */
	wr(u, IER, 0x02); /* DLM */
	assert_int_equal(rd(u, THR), 0x01);
	assert_int_equal(rd(u, IER), 0x02);
	assert_int_equal(u->ntx, 0); /* DLL is not THR */
	wr(u, LCR, 0x03);
	assert_int_equal(rd(u, IER), 0x05);
	wr(u, IER, 0);
}

static void
test_uart_loopback(void **state)
{
	struct uart *u = *state;

	/* Linux's autoconfig: LOOP | OUT2 | RTS must read back as DCD | CTS. */
	wr(u, MCR, 0x1a);
	assert_int_equal(rd(u, MSR) & 0xf0, 0x90);
	wr(u, MCR, 0x1f);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xf0);
	wr(u, IER, 0x01);
	wr(u, THR, 'x');
	assert_int_equal(u->ntx, 0);        /* nothing leaves in loopback */
	assert_int_equal(rd(u, IIR), 0x04); /* interrupts work inside the UART */
	assert_int_equal(u->irq, 0);        /* but OUT2 is looped back: pin idle */
	assert_int_equal(rd(u, LSR), 0x61);
	assert_int_equal(rd(u, THR), 'x');
	assert_int_equal(rd(u, LSR), 0x60);
	/* The outside world is disconnected. */
	assert_int_equal(vmm_serial_input(u->s, (const uint8_t *)"ab", 2), 0);
	wr(u, IER, 0);
	wr(u, MCR, 0);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xb0);
}

static void
test_uart_fifo_bits(void **state)
{
	struct uart *u = *state;

	wr(u, FCR, 0x01);
	assert_int_equal(rd(u, IIR), 0xc1); /* 16550A: both FIFO bits */
	/* Linux's 16650 test reads "EFR" with LCR = 0xbf: must not be 0. */
	wr(u, LCR, 0xbf);
	assert_true(rd(u, IIR) != 0);
	wr(u, LCR, 0x03);
	wr(u, FCR, 0x00);
	assert_int_equal(rd(u, IIR), 0x01);
}

static void
test_uart_thre_interrupt(void **state)
{
	struct uart *u = *state;

	wr(u, MCR, 0x08); /* OUT2: the PC's IRQ enable */
	wr(u, IER, 0x02);
	assert_int_equal(u->irq, 1);
	assert_int_equal(rd(u, IIR), 0x02);
	assert_int_equal(u->irq, 0); /* reading IIR acknowledged THRE */
	assert_int_equal(rd(u, IIR), 0x01);
	/* Linux's THRE test: re-enabling THRI re-asserts it. */
	wr(u, IER, 0x00);
	wr(u, IER, 0x02);
	assert_int_equal(rd(u, IIR), 0x02);
	/* A byte sent empties THR again at once: THRE again. */
	wr(u, THR, 'A');
	assert_int_equal(u->ntx, 1);
	assert_int_equal(u->tx[0], 'A');
	assert_int_equal(u->irq, 1);
	assert_int_equal(rd(u, IIR), 0x02);
	/* Without OUT2 the line stays low. */
	wr(u, MCR, 0x00);
	wr(u, THR, 'B');
	assert_int_equal(u->irq, 0);
	assert_int_equal(rd(u, IIR), 0x02); /* pending all the same */
	wr(u, IER, 0);
}

static void
test_uart_receive(void **state)
{
	struct uart *u = *state;
	uint8_t big[VMM_SERIAL_RX_SIZE + 10];

	wr(u, MCR, 0x0b);
	wr(u, FCR, 0x07);
	wr(u, IER, 0x03); /* RDI | THRI */
	assert_int_equal(rd(u, IIR), 0xc2);
	assert_int_equal(vmm_serial_input(u->s, (const uint8_t *)"hi", 2), 2);
	assert_int_equal(u->irq, 1);
	assert_int_equal(rd(u, LSR), 0x61);
	wr(u, THR, '.'); /* THRE pending too: RDA wins */
	assert_int_equal(rd(u, IIR), 0xc4);
	assert_int_equal(rd(u, THR), 'h');
	assert_int_equal(rd(u, IIR), 0xc4);
	assert_int_equal(rd(u, THR), 'i');
	assert_int_equal(rd(u, LSR), 0x60);
	assert_int_equal(rd(u, IIR), 0xc2); /* then THRE */
	assert_int_equal(u->irq, 0);

	/* The queue takes what fits; FCR bit 1 clears it. */
	memset(big, 'z', sizeof(big));
	assert_int_equal(vmm_serial_input(u->s, big, sizeof(big)), VMM_SERIAL_RX_SIZE);
	assert_int_equal(vmm_serial_input(u->s, big, 1), 0);
	wr(u, FCR, 0x03);
	assert_int_equal(rd(u, LSR), 0x60);
	assert_int_equal(u->irq, 0);
	wr(u, IER, 0);
	wr(u, FCR, 0);
}

static void
test_uart_modem_status_and_overrun(void **state)
{
	struct uart *u = *state;
	uint8_t b = 0;

	rd(u, MSR);
	wr(u, IER, 0x08);                   /* MSI */
	wr(u, MCR, 0x10);                   /* loopback: every input drops */
	assert_int_equal(rd(u, IIR), 0x00); /* modem status interrupt */
	assert_int_equal(rd(u, MSR), 0x0b); /* DCTS | DDSR | DDCD, lines low */
	assert_int_equal(rd(u, IIR), 0x01); /* reading MSR cleared it */
	wr(u, MCR, 0x14);                   /* OUT1 -> RI rises: no TERI */
	assert_int_equal(rd(u, MSR), 0x40);
	wr(u, MCR, 0x10); /* RI falls: TERI */
	assert_int_equal(rd(u, MSR), 0x04);

	/* Loopback overrun: LSR.OE, a line-status interrupt until LSR is read. */
	wr(u, IER, 0x04);
	for (unsigned int i = 0; i <= VMM_SERIAL_RX_SIZE; i++)
		vmm_serial_ops.write(u->s, THR, &b, 1);
	assert_int_equal(rd(u, IIR), 0x06);
	assert_int_equal(rd(u, LSR), 0x63);
	assert_int_equal(rd(u, LSR), 0x61);
	assert_int_equal(rd(u, IIR), 0x01);
	wr(u, FCR, 0x02);
	wr(u, MCR, 0);
	wr(u, IER, 0);
}

/* ---- the UART in a guest ---- */

static void
test_uart_guest(void **state)
{
	struct guest g;
	struct vmm_exit e;
	uint32_t r[16];
	char err[256];

	(void)state;
	if (!kvm_available())
		skip();
	assert_int_equal(guest_create(&g, "serial", 1, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	/* The THRE interrupt came (through the PIC and LINT0), then output. */
	assert_true(guest_wait_console(&g, "serial-ready\n", 10000));
	assert_int_equal(vmm_console_input(g.vm, (const uint8_t *)"ping\n", 5), 5);
	assert_true(guest_wait_console(&g, "serial-ready\nping\n", 10000));
	assert_int_equal(vmm_request_poweroff(g.vm), 0);
	e = guest_wait_exit(&g, 10000);
	assert_int_equal(e.kind, VMM_EXIT_POWEROFF);
	assert_string_equal(g.console, "serial-ready\nping\n");

	assert_true(guest_reports_of(&g, 0, r, 16) >= 6);
	assert_int_equal(r[0], 0x38); /* MSR entering loopback: DSR | CTS, DDCD */
	assert_int_equal(r[1], 0x61); /* LSR: the looped byte is there */
	assert_int_equal(r[2], 0x5a); /* RBR */
	assert_int_equal(r[3], 0xc2); /* IIR in the THRE interrupt */
	assert_int_equal(r[4], 0xc4); /* IIR in the receive interrupt */
	assert_int_equal(r[guest_reports_of(&g, 0, r, 16) - 1], 0x9b); /* power button */
	guest_destroy(&g);
}

/* vmm_stop() while the vCPU sits in HLT inside KVM. */
static void
test_stop_halted(void **state)
{
	struct guest g;
	struct vmm_exit e;
	char err[256];

	(void)state;
	if (!kvm_available())
		skip();
	assert_int_equal(guest_create(&g, "serial", 1, 64, err, sizeof(err)), 0);
	assert_int_equal(guest_start(&g), 0);
	assert_true(guest_wait_console(&g, "serial-ready\n", 10000));
	vmm_stop(g.vm);
	assert_int_equal(vmm_wait(g.vm, &e, 0), 0);
	assert_int_equal(e.kind, VMM_EXIT_STOPPED);
	guest_destroy(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus),
		cmocka_unit_test_setup_teardown(test_uart_reset_and_scratch, uart_setup,
						uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_divisor_latch, uart_setup, uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_loopback, uart_setup, uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_fifo_bits, uart_setup, uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_thre_interrupt, uart_setup,
						uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_receive, uart_setup, uart_teardown),
		cmocka_unit_test_setup_teardown(test_uart_modem_status_and_overrun, uart_setup,
						uart_teardown),
		cmocka_unit_test(test_uart_guest),
		cmocka_unit_test(test_stop_halted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
