/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART, as Linux's 8250 driver probes and drives it: eight
 * registers (THR/RBR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR; DLL/DLM behind
 * LCR.DLAB), interrupt identification by priority, FIFO bits, loopback.
 * The transmitter is infinitely fast: a THR write leaves at once through
 * `tx`, so THRE and TEMT are always set. The receiver holds what
 * vmm_serial_input() queued.
 *
 * The interrupt line is driven as on a PC: it is asserted while an enabled
 * interrupt is pending and MCR.OUT2 is set (and not in loopback, where
 * OUT2 is wired back into the UART).
 */
#ifndef VMM_SERIAL_H
#define VMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define VMM_SERIAL_RX_SIZE 4096 /* bytes queued towards the guest */

struct vmm_serial_conf {
	/* Bytes the guest transmitted. vCPU thread, outside the UART's lock;
	 * must not block. (opt) */
	void (*tx)(void *opaque, const uint8_t *data, size_t len);
	/* Set the interrupt line to level 0/1; called under the UART's lock,
	 * only when the level changes. (opt) */
	void (*irq)(void *opaque, int level);
	void *opaque;
};

struct vmm_serial;

int vmm_serial_create(const struct vmm_serial_conf *conf, struct vmm_serial **out);
void vmm_serial_destroy(struct vmm_serial *s); /* accepts NULL */

/* Queue bytes for the receiver; returns how many were taken (fewer when
 * the queue is full; none in loopback mode, whose receiver is wired to
 * the transmitter). Any thread. */
size_t vmm_serial_input(struct vmm_serial *s, const uint8_t *data, size_t len);

/* Register block of 8 bytes; one byte per access (wider accesses act on
 * their first byte). */
extern const struct vmm_dev_ops vmm_serial_ops;

#endif
