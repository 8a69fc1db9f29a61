/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/msix.c, over a recording stand-in for KVM. The table's
 * access rules, and the routing decisions: an eventfd is connected
 * (irqfd) to its vector's GSI exactly while the vector is live (MSI-X
 * enabled, function not masked, entry not masked), its route follows the
 * entry's address and data, a masked vector with a signalled eventfd is
 * pending in the PBA, and a refused address connects nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "msix.h"

#define MAX_GSI 64

struct kvm_stub {
	int next_gsi;
	bool route_used[MAX_GSI];
	uint64_t route_addr[MAX_GSI];
	uint32_t route_data[MAX_GSI];
	uint32_t route_devid[MAX_GSI];
	unsigned int routes_set, routes_freed;
	int irqfd_gsi[1024]; /* by fd: connected GSI, -1 none */
	unsigned int irqfd_calls;
	bool fail_irqfd;
};

static int
stub_route(void *opaque, int *gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	struct kvm_stub *k = opaque;

	if ((addr & 0xfff00000) != 0xfee00000)
		return -EINVAL;
	if (*gsi < 0)
		*gsi = k->next_gsi++;
	k->route_used[*gsi] = true;
	k->route_addr[*gsi] = addr;
	k->route_data[*gsi] = data;
	k->route_devid[*gsi] = devid;
	k->routes_set++;
	return 0;
}

static void
stub_route_free(void *opaque, int gsi)
{
	struct kvm_stub *k = opaque;

	k->route_used[gsi] = false;
	k->routes_freed++;
}

static int
stub_irqfd(void *opaque, int fd, int gsi, bool assign)
{
	struct kvm_stub *k = opaque;

	k->irqfd_calls++;
	if (assign && k->fail_irqfd)
		return -EINVAL;
	if (assign) {
		assert_int_equal(k->irqfd_gsi[fd], -1); /* never twice */
		k->irqfd_gsi[fd] = gsi;
	} else {
		assert_int_equal(k->irqfd_gsi[fd], gsi); /* only what is connected */
		k->irqfd_gsi[fd] = -1;
	}
	return 0;
}

static struct kvm_stub stub;
static const struct vmm_eventfd_ops ops = {
	.msi_route = stub_route,
	.msi_route_free = stub_route_free,
	.irqfd = stub_irqfd,
	.opaque = &stub,
};

static int
setup(void **state)
{
	(void)state;
	memset(&stub, 0, sizeof(stub));
	stub.next_gsi = 24;
	for (unsigned int i = 0; i < 1024; i++)
		stub.irqfd_gsi[i] = -1;
	return 0;
}

static void
entry(struct vmm_msix *m, unsigned int v, uint32_t addr, uint32_t data, uint32_t ctrl)
{
	uint8_t b[16];

	vmm_io_put(b, 4, addr);
	vmm_io_put(b + 4, 4, 0);
	vmm_io_put(b + 8, 4, data);
	vmm_io_put(b + 12, 4, ctrl);
	vmm_msix_table_write(m, v * 16, b, 16);
}

static uint64_t
table_rd(struct vmm_msix *m, uint64_t off, uint32_t len)
{
	uint8_t b[8];

	vmm_msix_table_read(m, off, b, len);
	return vmm_io_get(b, len);
}

static uint64_t
pba_rd(struct vmm_msix *m)
{
	uint8_t b[8];

	vmm_msix_pba_read(m, 0, b, 8);
	return vmm_io_get(b, 8);
}

static void
control(struct vmm_msix *m, struct vmm_pci_func *f, uint16_t ctrl)
{
	uint8_t b[2];

	vmm_io_put(b, 2, ctrl);
	vmm_pci_func_cfg_write(f, (uint32_t)m->cap + 2, b, 2);
	vmm_msix_cfg_written(m, f, (uint32_t)m->cap + 2, 2);
}

static void
test_capability_and_table(void **state)
{
	struct vmm_pci_func f;
	struct vmm_msix m;
	uint8_t b[4];
	int cap;

	(void)state;
	assert_int_equal(vmm_msix_init(&m, 0, &ops), -EINVAL);
	assert_int_equal(vmm_msix_init(&m, VMM_MSIX_MAX_VECTORS + 1, &ops), -EINVAL);
	assert_int_equal(vmm_msix_init(&m, 5, &ops), 0);
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_int_equal(vmm_msix_add_cap(&m, &f, 0, 0x4001, 0x6000), -EINVAL); /* unaligned */
	cap = vmm_msix_add_cap(&m, &f, 2, 0x4000, 0x6000);
	assert_true(cap >= 0x40);
	assert_int_equal(f.cfg[cap], 0x11);
	/* Table Size N - 1, BIR in the low bits of both offsets. */
	assert_int_equal(vmm_pci_cfg_get(&f, cap + 2, 2), 4);
	assert_int_equal(vmm_pci_cfg_get(&f, cap + 4, 4), 0x4002);
	assert_int_equal(vmm_pci_cfg_get(&f, cap + 8, 4), 0x6002);
	/* Only Enable and Function Mask are writable. */
	vmm_io_put(b, 2, 0xffff);
	vmm_pci_func_cfg_write(&f, cap + 2, b, 2);
	assert_int_equal(vmm_pci_cfg_get(&f, cap + 2, 2), 0xc004);
	vmm_msix_cfg_written(&m, &f, cap + 2, 2);
	assert_true(m.enabled && m.fmask);

	assert_int_equal(vmm_msix_table_size(&m), 80);
	assert_int_equal(vmm_msix_pba_size(&m), 8);
	/* After reset every vector is masked, the rest zero. */
	for (unsigned int v = 0; v < 5; v++) {
		assert_int_equal(table_rd(&m, v * 16 + 12, 4), 1);
		assert_int_equal(table_rd(&m, v * 16, 8), 0);
	}
	/* The address is dword aligned; vector control keeps only the mask;
	 * a qword write fills two fields; past the table: nothing. */
	entry(&m, 1, 0xfee00003, 0x41, 0xfffffffe);
	assert_int_equal(table_rd(&m, 16, 4), 0xfee00000);
	assert_int_equal(table_rd(&m, 16 + 12, 4), 0);
	vmm_io_put(b, 4, 0x42);
	vmm_msix_table_write(&m, 16 + 8, b, 4);
	assert_int_equal(table_rd(&m, 16 + 8, 4), 0x42);
	vmm_msix_table_write(&m, 5 * 16, b, 4);
	assert_int_equal(table_rd(&m, 5 * 16, 4), 0);
	vmm_msix_fini(&m);
}

static void
test_routing(void **state)
{
	struct vmm_pci_func f;
	struct vmm_msix m;
	int fd = eventfd(0, EFD_NONBLOCK), fd2 = eventfd(0, EFD_NONBLOCK), s, s2, gsi;
	uint64_t one = 1;

	(void)state;
	assert_true(fd >= 0 && fd2 >= 0 && fd < 1024 && fd2 < 1024);
	assert_int_equal(vmm_msix_init(&m, 4, &ops), 0);
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_true(vmm_msix_add_cap(&m, &f, 0, 0x4000, 0x6000) > 0);
	s = vmm_msix_add_source(&m, fd);
	s2 = vmm_msix_add_source(&m, fd2);
	assert_true(vmm_msix_bind(&m, s, 1));
	assert_false(vmm_msix_bind(&m, s2, 4)); /* past the table */
	assert_int_equal(m.src[s2].vector, VMM_MSIX_NO_VECTOR);

	/* Disabled, all masked: no route, nothing connected. */
	assert_int_equal(stub.routes_set, 0);
	assert_int_equal(stub.irqfd_gsi[fd], -1);
	entry(&m, 1, 0xfee00000, 0x41, 0);
	assert_int_equal(stub.irqfd_gsi[fd], -1); /* MSI-X still disabled */
	control(&m, &f, VMM_MSIX_CTRL_ENABLE);
	gsi = stub.irqfd_gsi[fd];
	assert_true(gsi >= 24);
	assert_true(stub.route_used[gsi]);
	assert_int_equal(stub.route_addr[gsi], 0xfee00000);
	assert_int_equal(stub.route_data[gsi], 0x41);
	assert_true(vmm_msix_vector_live(&m, 1));

	/* Masking the entry disconnects; the event waits in the eventfd and
	 * the PBA says so; unmasking connects again (KVM then injects). */
	entry(&m, 1, 0xfee00000, 0x41, 1);
	assert_int_equal(stub.irqfd_gsi[fd], -1);
	assert_int_equal(pba_rd(&m), 0);
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(pba_rd(&m), 1u << 1);
	entry(&m, 1, 0xfee01000, 0x51, 1); /* changed while masked */
	entry(&m, 1, 0xfee01000, 0x51, 0);
	assert_int_equal(stub.irqfd_gsi[fd], gsi); /* the same GSI, re-routed */
	assert_int_equal(stub.route_addr[gsi], 0xfee01000);
	assert_int_equal(stub.route_data[gsi], 0x51);
	assert_int_equal(pba_rd(&m), 0); /* live vectors are never pending */

	/* The function mask and MSI-X Enable count the same way. */
	control(&m, &f, VMM_MSIX_CTRL_ENABLE | VMM_MSIX_CTRL_MASK);
	assert_int_equal(stub.irqfd_gsi[fd], -1);
	assert_int_equal(pba_rd(&m), 1u << 1);
	control(&m, &f, VMM_MSIX_CTRL_ENABLE);
	assert_int_equal(stub.irqfd_gsi[fd], gsi);
	control(&m, &f, 0);
	assert_int_equal(stub.irqfd_gsi[fd], -1);
	control(&m, &f, VMM_MSIX_CTRL_ENABLE);

	/* A second source on the same vector shares its GSI; moving a source
	 * to another vector moves its irqfd. */
	assert_true(vmm_msix_bind(&m, s2, 1));
	assert_int_equal(stub.irqfd_gsi[fd2], gsi);
	entry(&m, 2, 0xfee00000, 0x42, 0);
	assert_true(vmm_msix_bind(&m, s2, 2));
	assert_true(stub.irqfd_gsi[fd2] >= 24 && stub.irqfd_gsi[fd2] != gsi);
	assert_true(vmm_msix_bind(&m, s2, VMM_MSIX_NO_VECTOR));
	assert_int_equal(stub.irqfd_gsi[fd2], -1);

	/* An address that is not an MSI: refused, counted, not connected. */
	entry(&m, 3, 0x12345000, 0x43, 0);
	assert_true(vmm_msix_bind(&m, s2, 3));
	assert_int_equal(stub.irqfd_gsi[fd2], -1);
	assert_true(m.st.errors >= 1);

	/* No route is set again for an unchanged message. */
	{
		unsigned int before = stub.routes_set;

		entry(&m, 1, 0xfee01000, 0x51, 0);
		assert_int_equal(stub.routes_set, before);
	}
	vmm_msix_fini(&m);
	assert_int_equal(stub.irqfd_gsi[fd], -1);
	assert_true(stub.routes_freed >= 2);
	close(fd);
	close(fd2);
}

static void
test_failed_irqfd(void **state)
{
	struct vmm_pci_func f;
	struct vmm_msix m;
	int fd = eventfd(0, EFD_NONBLOCK), s;

	(void)state;
	assert_int_equal(vmm_msix_init(&m, 2, &ops), 0);
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_true(vmm_msix_add_cap(&m, &f, 0, 0x4000, 0x6000) > 0);
	s = vmm_msix_add_source(&m, fd);
	stub.fail_irqfd = true;
	vmm_msix_bind(&m, s, 0);
	entry(&m, 0, 0xfee00000, 0x40, 0);
	control(&m, &f, VMM_MSIX_CTRL_ENABLE);
	/* Counted, and not believed connected (fini would not undo it). */
	assert_true(m.st.errors >= 1);
	assert_int_equal(m.src[s].gsi, -1);
	stub.fail_irqfd = false;
	entry(&m, 0, 0xfee00000, 0x41, 0); /* the next change retries */
	assert_true(stub.irqfd_gsi[fd] >= 24);
	vmm_msix_fini(&m);
	close(fd);
}

/* A route carries the function's requester ID (what an ITS translates
 * by): 00:slot.0 once on the bus, and follows nothing else. */
static void
test_requester_id(void **state)
{
	struct vmm_pci_func f;
	struct vmm_pci pci;
	struct vmm_msix m;
	int fd = eventfd(0, EFD_NONBLOCK), s, gsi;

	(void)state;
	assert_true(fd >= 0 && fd < 1024);
	assert_int_equal(vmm_msix_init(&m, 2, &ops), 0);
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_int_equal(vmm_pci_func_rid(&f), 0); /* not on a bus yet */
	assert_true(vmm_msix_add_cap(&m, &f, 0, 0x4000, 0x6000) > 0);
	assert_int_equal(vmm_pci_init(&pci, 0x30000000, 16, 0x10000000, 0x30000000), 0);
	assert_int_equal(vmm_pci_add(&pci, 5, &f), 0);
	assert_int_equal(vmm_pci_func_rid(&f), 5 << 3);
	s = vmm_msix_add_source(&m, fd);
	assert_true(vmm_msix_bind(&m, s, 1));
	entry(&m, 1, 0xfee00000, 0x7, 0);
	control(&m, &f, VMM_MSIX_CTRL_ENABLE);
	gsi = stub.irqfd_gsi[fd];
	assert_true(gsi >= 24);
	assert_int_equal(stub.route_devid[gsi], 0x28);
	assert_int_equal(stub.route_data[gsi], 0x7);
	vmm_msix_fini(&m);
	vmm_pci_fini(&pci);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_capability_and_table, setup),
		cmocka_unit_test_setup(test_routing, setup),
		cmocka_unit_test_setup(test_failed_irqfd, setup),
		cmocka_unit_test_setup(test_requester_id, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
