/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART. Register semantics from the National Semiconductor PC16550D
 * data sheet; names of the bits as in Linux's include/uapi/linux/serial_reg.h.
 */
#include "serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Register offsets. */
#define REG_RBR_THR   0 /* DLAB: DLL */
#define REG_IER       1 /* DLAB: DLM */
#define REG_IIR_FCR   2
#define REG_LCR       3
#define REG_MCR       4
#define REG_LSR       5
#define REG_MSR       6
#define REG_SCR       7

#define IER_RDI       0x01 /* received data available */
#define IER_THRI      0x02 /* transmitter holding register empty */
#define IER_RLSI      0x04 /* receiver line status */
#define IER_MSI       0x08 /* modem status */

#define IIR_NO_INT    0x01
#define IIR_MSI       0x00
#define IIR_THRI      0x02
#define IIR_RDI       0x04
#define IIR_RLSI      0x06
#define IIR_FIFO      0xc0 /* FIFOs enabled (16550A) */

#define FCR_ENABLE    0x01
#define FCR_CLEAR_RCV 0x02

#define LCR_DLAB      0x80

#define MCR_DTR       0x01
#define MCR_RTS       0x02
#define MCR_OUT1      0x04
#define MCR_OUT2      0x08
#define MCR_LOOP      0x10

#define LSR_DR        0x01
#define LSR_OE        0x02
#define LSR_THRE      0x20
#define LSR_TEMT      0x40

#define MSR_DCTS      0x01
#define MSR_DDSR      0x02
#define MSR_TERI      0x04
#define MSR_DDCD      0x08
#define MSR_CTS       0x10
#define MSR_DSR       0x20
#define MSR_RI        0x40
#define MSR_DCD       0x80
#define MSR_DELTA     0x0f

struct vmm_serial {
	struct vmm_serial_conf conf;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, msr, scr, fcr, dll, dlm;
	bool overrun;      /* LSR.OE until LSR is read */
	bool thre_pending; /* THRE interrupt until IIR reports it or THR is written */
	int irq_level;
	uint32_t rx_head, rx_len;
	uint8_t rx[VMM_SERIAL_RX_SIZE];
};

static uint8_t
iir_of(const struct vmm_serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RLSI) && s->overrun)
		return fifo | IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_len > 0)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thre_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void
update_irq(struct vmm_serial *s)
{
	int level = !(iir_of(s) & IIR_NO_INT) && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->conf.irq != NULL)
			s->conf.irq(s->conf.opaque, level);
	}
}

/* Modem status inputs: in loopback they are the MCR outputs (CTS = RTS,
 * DSR = DTR, RI = OUT1, DCD = OUT2); otherwise a modem that is always
 * there and ready. */
static void
update_msr(struct vmm_serial *s)
{
	uint8_t lines = MSR_DCD | MSR_DSR | MSR_CTS, changed;

	if (s->mcr & MCR_LOOP) {
		lines = 0;
		lines |= (s->mcr & MCR_RTS) ? MSR_CTS : 0;
		lines |= (s->mcr & MCR_DTR) ? MSR_DSR : 0;
		lines |= (s->mcr & MCR_OUT1) ? MSR_RI : 0;
		lines |= (s->mcr & MCR_OUT2) ? MSR_DCD : 0;
	}
	changed = (s->msr ^ lines) & 0xf0;
	s->msr = lines | (s->msr & MSR_DELTA);
	s->msr |= (changed & MSR_CTS) ? MSR_DCTS : 0;
	s->msr |= (changed & MSR_DSR) ? MSR_DDSR : 0;
	s->msr |= (changed & MSR_DCD) ? MSR_DDCD : 0;
	/* TERI: trailing edge only. */
	s->msr |= ((changed & MSR_RI) && !(lines & MSR_RI)) ? MSR_TERI : 0;
}

static bool
rx_push(struct vmm_serial *s, uint8_t b)
{
	if (s->rx_len == VMM_SERIAL_RX_SIZE)
		return false;
	s->rx[(s->rx_head + s->rx_len) % VMM_SERIAL_RX_SIZE] = b;
	s->rx_len++;
	return true;
}

static uint8_t
rx_pop(struct vmm_serial *s)
{
	uint8_t b;

	if (s->rx_len == 0)
		return 0;
	b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % VMM_SERIAL_RX_SIZE;
	s->rx_len--;
	return b;
}

static uint8_t
read_reg(struct vmm_serial *s, uint64_t reg)
{
	uint8_t v = 0;

	switch (reg) {
	case REG_RBR_THR:
		v = (s->lcr & LCR_DLAB) ? s->dll : rx_pop(s);
		break;
	case REG_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case REG_IIR_FCR:
		v = iir_of(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			s->thre_pending = false;
		break;
	case REG_LCR:
		v = s->lcr;
		break;
	case REG_MCR:
		v = s->mcr;
		break;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0) | (s->overrun ? LSR_OE : 0);
		s->overrun = false;
		break;
	case REG_MSR:
		v = s->msr;
		s->msr &= ~MSR_DELTA;
		break;
	case REG_SCR:
		v = s->scr;
		break;
	}
	return v;
}

/* Returns true if v is a byte to transmit. */
static bool
write_reg(struct vmm_serial *s, uint64_t reg, uint8_t v)
{
	uint8_t old;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		/* The byte leaves at once, so THR is empty again. */
		s->thre_pending = true;
		if (s->mcr & MCR_LOOP) {
			if (!rx_push(s, v))
				s->overrun = true;
			break;
		}
		return true;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		old = s->ier;
		s->ier = v & 0x0f;
		/* Enabling THRI while THR is empty raises THRE (Linux's 8250
		 * driver checks that the interrupt is re-asserted). */
		if ((s->ier & IER_THRI) && !(old & IER_THRI))
			s->thre_pending = true;
		break;
	case REG_IIR_FCR:
		if ((v ^ s->fcr) & FCR_ENABLE)
			v |= FCR_CLEAR_RCV;
		if (v & FCR_CLEAR_RCV) {
			s->rx_head = 0;
			s->rx_len = 0;
		}
		s->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & 0x1f;
		update_msr(s);
		break;
	case REG_LSR:
		break; /* read-only (factory test on some parts) */
	case REG_MSR:
		break;
	case REG_SCR:
		s->scr = v;
		break;
	}
	return false;
}

static void
serial_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct vmm_serial *s = dev;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = read_reg(s, (offset + i) & 7);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void
serial_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct vmm_serial *s = dev;
	uint8_t out[8];
	size_t nout = 0;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && i < sizeof(out); i++) {
		if (write_reg(s, (offset + i) & 7, data[i]))
			out[nout++] = data[i];
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (nout > 0 && s->conf.tx != NULL)
		s->conf.tx(s->conf.opaque, out, nout);
}

const struct vmm_dev_ops vmm_serial_ops = {
	.name = "16550a",
	.read = serial_read,
	.write = serial_write,
};

size_t
vmm_serial_input(struct vmm_serial *s, const uint8_t *data, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	if (!(s->mcr & MCR_LOOP)) {
		while (n < len && rx_push(s, data[n]))
			n++;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int
vmm_serial_create(const struct vmm_serial_conf *conf, struct vmm_serial **out)
{
	struct vmm_serial *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->conf = *conf;
	pthread_mutex_init(&s->lock, NULL);
	s->lcr = 0x03; /* 8n1 */
	s->dll = 0x0c; /* 9600 baud */
	update_msr(s);
	s->msr &= ~MSR_DELTA;
	*out = s;
	return 0;
}

void
vmm_serial_destroy(struct vmm_serial *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}
