/* SPDX-License-Identifier: MIT */
/*
 * MSI-X capability, table and PBA (msix.h). PCI Local Bus 3.0, 6.8.2:
 * capability 6.8.2.1-6.8.2.5, table entries 6.8.2.6-6.8.2.9, PBA
 * 6.8.2.10; masking semantics 6.8.3.4 ("while a vector is masked the
 * function sets its pending bit instead of sending the message, and sends
 * it once unmasked").
 */
#include "msix.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#define CAP_LEN       12
#define CAP_CTRL      2
#define CAP_TABLE     4
#define CAP_PBA       8
#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 1
#define ENTRY_DATA    2
#define ENTRY_CTRL    3

int
vmm_msix_init(struct vmm_msix *m, unsigned int nvec, const struct vmm_eventfd_ops *ops)
{
	if (nvec == 0 || nvec > VMM_MSIX_MAX_VECTORS || ops == NULL)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->ops = ops;
	m->nvec = nvec;
	for (unsigned int v = 0; v < nvec; v++) {
		/* 6.8.2.9: every vector is masked after reset. */
		m->vec[v].entry[ENTRY_CTRL] = VMM_MSIX_ENTRY_MASKED;
		m->vec[v].gsi = -1;
	}
	return 0;
}

bool
vmm_msix_vector_live(const struct vmm_msix *m, unsigned int v)
{
	return v < m->nvec && m->enabled && !m->fmask &&
	       !(m->vec[v].entry[ENTRY_CTRL] & VMM_MSIX_ENTRY_MASKED);
}

/* The vector's GSI routes its current message; false if it cannot. */
static bool
route(struct vmm_msix *m, unsigned int v)
{
	struct vmm_msix_vector *vec = &m->vec[v];
	uint64_t addr = (uint64_t)vec->entry[ENTRY_ADDR_HI] << 32 | vec->entry[ENTRY_ADDR_LO];
	uint32_t data = vec->entry[ENTRY_DATA];
	int rc;

	if (vec->routed && vec->route_addr == addr && vec->route_data == data)
		return true;
	rc = m->ops->msi_route(m->ops->opaque, &vec->gsi, addr, data,
			       m->func != NULL ? vmm_pci_func_rid(m->func) : 0);
	m->st.route_updates++;
	if (rc < 0) {
		m->st.errors++;
		vec->routed = false;
		return false;
	}
	vec->routed = true;
	vec->route_addr = addr;
	vec->route_data = data;
	return true;
}

/* Make every source's irqfd match its vector's state. */
static void
sync_sources(struct vmm_msix *m)
{
	for (unsigned int i = 0; i < m->nsrc; i++) {
		struct vmm_msix_source *s = &m->src[i];
		int want = -1;

		if (vmm_msix_vector_live(m, s->vector) && route(m, s->vector))
			want = m->vec[s->vector].gsi;
		if (s->gsi == want)
			continue;
		if (s->gsi >= 0) {
			m->st.irqfd_changes++;
			if (m->ops->irqfd(m->ops->opaque, s->fd, s->gsi, false) < 0)
				m->st.errors++;
			s->gsi = -1;
		}
		if (want >= 0) {
			m->st.irqfd_changes++;
			if (m->ops->irqfd(m->ops->opaque, s->fd, want, true) < 0)
				m->st.errors++;
			else
				s->gsi = want;
		}
	}
}

void
vmm_msix_fini(struct vmm_msix *m)
{
	if (m == NULL || m->ops == NULL)
		return;
	for (unsigned int i = 0; i < m->nsrc; i++) {
		if (m->src[i].gsi >= 0)
			m->ops->irqfd(m->ops->opaque, m->src[i].fd, m->src[i].gsi, false);
		m->src[i].gsi = -1;
	}
	for (unsigned int v = 0; v < m->nvec; v++) {
		if (m->vec[v].gsi >= 0)
			m->ops->msi_route_free(m->ops->opaque, m->vec[v].gsi);
		m->vec[v].gsi = -1;
		m->vec[v].routed = false;
	}
}

uint64_t
vmm_msix_table_size(const struct vmm_msix *m)
{
	return (uint64_t)m->nvec * VMM_MSIX_ENTRY_SIZE;
}

uint64_t
vmm_msix_pba_size(const struct vmm_msix *m)
{
	return ((m->nvec + 63) / 64) * 8;
}

int
vmm_msix_add_cap(struct vmm_msix *m, struct vmm_pci_func *f, unsigned int bar, uint32_t table_off,
		 uint32_t pba_off)
{
	int cap;

	if (bar >= VMM_PCI_BARS || (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	cap = vmm_pci_func_add_cap(f, VMM_PCI_CAP_ID_MSIX, CAP_LEN);
	if (cap < 0)
		return cap;
	/* 6.8.2.3: Table Size is N - 1; Enable and Function Mask are the
	 * only writable bits. 6.8.2.4/5: offset | BIR. */
	vmm_pci_cfg_set(f, (uint32_t)cap + CAP_CTRL, 2, m->nvec - 1);
	vmm_pci_cfg_writable(f, (uint32_t)cap + CAP_CTRL, 2,
			     VMM_MSIX_CTRL_ENABLE | VMM_MSIX_CTRL_MASK);
	vmm_pci_cfg_set(f, (uint32_t)cap + CAP_TABLE, 4, table_off | bar);
	vmm_pci_cfg_set(f, (uint32_t)cap + CAP_PBA, 4, pba_off | bar);
	m->cap = cap;
	m->func = f;
	return cap;
}

void
vmm_msix_cfg_written(struct vmm_msix *m, const struct vmm_pci_func *f, uint32_t off, uint32_t len)
{
	uint32_t ctrl;

	if (m->cap == 0 || off >= (uint32_t)m->cap + CAP_CTRL + 2 ||
	    off + len <= (uint32_t)m->cap + CAP_CTRL)
		return;
	ctrl = vmm_pci_cfg_get(f, (uint32_t)m->cap + CAP_CTRL, 2);
	m->enabled = ctrl & VMM_MSIX_CTRL_ENABLE;
	m->fmask = ctrl & VMM_MSIX_CTRL_MASK;
	sync_sources(m);
}

void
vmm_msix_table_read(struct vmm_msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		if (o >= vmm_msix_table_size(m)) {
			data[i] = 0;
			continue;
		}
		data[i] = (uint8_t)(m->vec[o / VMM_MSIX_ENTRY_SIZE].entry[(o % 16) / 4] >>
				    (8 * (o % 4)));
	}
}

void
vmm_msix_table_write(struct vmm_msix *m, uint64_t off, const uint8_t *data, uint32_t len)
{
	bool changed = false;

	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint32_t *field, shift, keep;

		if (o >= vmm_msix_table_size(m))
			continue;
		field = &m->vec[o / VMM_MSIX_ENTRY_SIZE].entry[(o % 16) / 4];
		shift = 8 * (uint32_t)(o % 4);
		keep = *field;
		*field = (*field & ~(0xffu << shift)) | (uint32_t)data[i] << shift;
		/* 6.8.2.6: the address is dword aligned (bits 1:0 read 0);
		 * 6.8.2.9: only the mask bit of vector control is defined. */
		if ((o % 16) / 4 == ENTRY_ADDR_LO)
			*field &= ~3u;
		if ((o % 16) / 4 == ENTRY_CTRL)
			*field &= VMM_MSIX_ENTRY_MASKED;
		changed |= keep != *field;
	}
	if (changed)
		sync_sources(m);
}

/* 6.8.2.10: a vector is pending if it is masked and has a message to
 * send; here, a bound source whose eventfd was signalled. */
static bool
pending(const struct vmm_msix *m, unsigned int v)
{
	if (vmm_msix_vector_live(m, v))
		return false;
	for (unsigned int i = 0; i < m->nsrc; i++) {
		struct pollfd p = { .fd = m->src[i].fd, .events = POLLIN };

		if (m->src[i].vector == v && poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
			return true;
	}
	return false;
}

void
vmm_msix_pba_read(struct vmm_msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint8_t b = 0;

		for (unsigned int bit = 0; bit < 8 && o < vmm_msix_pba_size(m); bit++) {
			uint64_t v = o * 8 + bit;

			if (v < m->nvec && pending(m, (unsigned int)v))
				b |= (uint8_t)(1u << bit);
		}
		data[i] = b;
	}
}

int
vmm_msix_add_source(struct vmm_msix *m, int fd)
{
	if (m->nsrc == VMM_MSIX_MAX_SOURCES)
		return -ENOSPC;
	m->src[m->nsrc] = (struct vmm_msix_source){
		.fd = fd,
		.vector = VMM_MSIX_NO_VECTOR,
		.gsi = -1,
	};
	return (int)m->nsrc++;
}

bool
vmm_msix_bind(struct vmm_msix *m, int id, uint16_t vector)
{
	bool ok = vector == VMM_MSIX_NO_VECTOR || vector < m->nvec;

	if (id < 0 || (unsigned int)id >= m->nsrc)
		return false;
	m->src[id].vector = ok ? vector : VMM_MSIX_NO_VECTOR;
	sync_sources(m);
	return ok;
}
