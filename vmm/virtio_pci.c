/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport (virtio_pci.h). virtio 1.2: PCI device
 * discovery 4.1.2, capabilities 4.1.4 (common 4.1.4.3, notifications
 * 4.1.4.4, ISR 4.1.4.5, device configuration 4.1.4.6, PCI configuration
 * access 4.1.4.9), MSI-X vector configuration 4.1.4.3 and 4.1.5.1.2,
 * device status and initialization 2.1 and 3.1, reset 2.4 and 4.1.4.3.2,
 * configuration change notification 4.1.5.3.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.virtio-pci"

#include "virtio_pci.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nv_log.h"

/* 4.1.4: struct virtio_pci_cap, and the notify and PCI-config variants. */
#define CAP_LEN          16
#define CAP_NOTIFY_LEN   20
#define CAP_PCI_CFG_LEN  20
#define CAP_CFG_TYPE     3
#define CAP_BAR          4
#define CAP_OFFSET       8
#define CAP_LENGTH       12
#define CAP_NOTIFY_MULT  16
#define CAP_PCI_CFG_DATA 16
#define CFG_TYPE_COMMON  1
#define CFG_TYPE_NOTIFY  2
#define CFG_TYPE_ISR     3
#define CFG_TYPE_DEVICE  4
#define CFG_TYPE_PCI     5
#define PCI_REVISION     1      /* 4.1.2.1: non-transitional devices, 1 or higher */
#define PCI_SUBSYS_ID    0x1100 /* 4.1.2.1: 0x40 or higher */

/* 4.1.4.3: struct virtio_pci_common_cfg. */
#define C_DFSELECT    0x00
#define C_DF          0x04
#define C_GFSELECT    0x08
#define C_GF          0x0c
#define C_MSIX_CONFIG 0x10
#define C_NUM_QUEUES  0x12
#define C_STATUS      0x14
#define C_CFG_GEN     0x15
#define C_Q_SELECT    0x16
#define C_Q_SIZE      0x18
#define C_Q_MSIX      0x1a
#define C_Q_ENABLE    0x1c
#define C_Q_NOFF      0x1e
#define C_Q_DESC      0x20
#define C_Q_DRIVER    0x28
#define C_Q_DEVICE    0x30
#define COMMON_IMAGE  0x40

struct field {
	uint8_t off, len;
};

static const struct field common_fields[] = {
	{ C_DFSELECT, 4 },    { C_DF, 4 },         { C_GFSELECT, 4 }, { C_GF, 4 },
	{ C_MSIX_CONFIG, 2 }, { C_NUM_QUEUES, 2 }, { C_STATUS, 1 },   { C_CFG_GEN, 1 },
	{ C_Q_SELECT, 2 },    { C_Q_SIZE, 2 },     { C_Q_MSIX, 2 },   { C_Q_ENABLE, 2 },
	{ C_Q_NOFF, 2 },      { C_Q_DESC, 8 },     { C_Q_DRIVER, 8 }, { C_Q_DEVICE, 8 },
};

static void
put(uint8_t *p, unsigned int len, uint64_t v)
{
	for (unsigned int i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get(const uint8_t *p, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		return; /* an eventfd counter near overflow is already signalled */
}

static void
drain_fd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return; /* EAGAIN: nothing was pending */
}

void
vmm_virtio_pci_lock(struct vmm_virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
}

void
vmm_virtio_pci_unlock(struct vmm_virtio_pci *vp)
{
	pthread_mutex_unlock(&vp->lock);
}

void
vmm_virtio_pci_config_changed(struct vmm_virtio_pci *vp)
{
	vp->config_generation++;
	vp->isr |= VMM_VIRTIO_ISR_CONFIG;
	vp->st.config_changes++;
	signal_fd(vp->config_fd);
}

void
vmm_virtio_pci_needs_reset(struct vmm_virtio_pci *vp)
{
	if (vp->status & VMM_VIRTIO_S_NEEDS_RESET)
		return;
	vp->status |= VMM_VIRTIO_S_NEEDS_RESET;
	/* 4.1.5.3 / 2.1.2: the device notifies a configuration change. */
	vmm_virtio_pci_config_changed(vp);
}

void
vmm_virtio_pci_notify_queue(struct vmm_virtio_pci *vp, unsigned int q)
{
	if (q < vp->conf.nqueues)
		signal_fd(vp->q[q].call_fd);
}

/* 2.4 / 4.1.4.3.2: everything back to its initial value. */
static void
device_reset(struct vmm_virtio_pci *vp)
{
	vp->st.resets++;
	vp->ops->reset(vp->dev);
	vp->status = 0;
	vp->isr = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->driver_features = 0;
	vp->queue_select = 0;
	vp->config_vector = VMM_MSIX_NO_VECTOR;
	vmm_msix_bind(&vp->msix, vp->config_src, VMM_MSIX_NO_VECTOR);
	drain_fd(vp->config_fd);
	for (unsigned int i = 0; i < vp->conf.nqueues; i++) {
		struct vmm_virtio_queue *q = &vp->q[i];

		q->size = vp->conf.queue_max[i];
		q->vector = VMM_MSIX_NO_VECTOR;
		q->enabled = false;
		q->desc = q->driver = q->device = 0;
		vmm_msix_bind(&vp->msix, q->call_src, VMM_MSIX_NO_VECTOR);
		drain_fd(q->call_fd);
	}
	vp->device_features = vp->ops->device_features(vp->dev);
}

static void
write_status(struct vmm_virtio_pci *vp, uint8_t v)
{
	uint8_t was = vp->status;

	if (v == 0) {
		device_reset(vp);
		return;
	}
	/* Bits only go up until a reset; NEEDS_RESET is the device's. */
	v = (uint8_t)((v | was) & ~VMM_VIRTIO_S_NEEDS_RESET);
	v |= was & VMM_VIRTIO_S_NEEDS_RESET;
	if ((v & VMM_VIRTIO_S_FEATURES_OK) && !(was & VMM_VIRTIO_S_FEATURES_OK)) {
		uint64_t f = vp->driver_features;

		/* 3.1.1 step 5: accept only a subset of the offer; a modern-only
		 * device needs VERSION_1 (6.1). */
		if ((f & ~vp->device_features) != 0 || !(f & (1ull << VMM_VIRTIO_F_VERSION_1)) ||
		    (vp->ops->features_ok != NULL && vp->ops->features_ok(vp->dev, f) < 0)) {
			vp->st.refused_features++;
			v &= (uint8_t)~VMM_VIRTIO_S_FEATURES_OK;
		}
	}
	if ((v & VMM_VIRTIO_S_DRIVER_OK) && !(was & VMM_VIRTIO_S_DRIVER_OK)) {
		if (!(v & VMM_VIRTIO_S_FEATURES_OK)) {
			v &= (uint8_t)~VMM_VIRTIO_S_DRIVER_OK;
		} else {
			vp->status = v;
			vp->st.starts++;
			if (vp->ops->start(vp->dev) < 0) {
				vp->st.start_failures++;
				vmm_virtio_pci_needs_reset(vp);
			}
			return;
		}
	}
	vp->status = v;
}

static bool
before_driver_ok(const struct vmm_virtio_pci *vp)
{
	return !(vp->status & VMM_VIRTIO_S_DRIVER_OK);
}

static void
common_image(struct vmm_virtio_pci *vp, uint8_t img[COMMON_IMAGE])
{
	const struct vmm_virtio_queue *q =
		vp->queue_select < vp->conf.nqueues ? &vp->q[vp->queue_select] : NULL;

	memset(img, 0, COMMON_IMAGE);
	put(img + C_DFSELECT, 4, vp->dfselect);
	put(img + C_DF, 4, vp->dfselect < 2 ? vp->device_features >> (32 * vp->dfselect) : 0);
	put(img + C_GFSELECT, 4, vp->gfselect);
	put(img + C_GF, 4, vp->gfselect < 2 ? vp->driver_features >> (32 * vp->gfselect) : 0);
	put(img + C_MSIX_CONFIG, 2, vp->config_vector);
	put(img + C_NUM_QUEUES, 2, vp->conf.nqueues);
	img[C_STATUS] = vp->status;
	img[C_CFG_GEN] = vp->config_generation;
	put(img + C_Q_SELECT, 2, vp->queue_select);
	if (q == NULL)
		return; /* 4.1.4.3.1: queue_size 0 for a queue that is not there */
	put(img + C_Q_SIZE, 2, q->size);
	put(img + C_Q_MSIX, 2, q->vector);
	put(img + C_Q_ENABLE, 2, q->enabled);
	put(img + C_Q_NOFF, 2, vp->queue_select);
	put(img + C_Q_DESC, 8, q->desc);
	put(img + C_Q_DRIVER, 8, q->driver);
	put(img + C_Q_DEVICE, 8, q->device);
}

static void
write_field(struct vmm_virtio_pci *vp, unsigned int off, uint64_t v)
{
	struct vmm_virtio_queue *q =
		vp->queue_select < vp->conf.nqueues ? &vp->q[vp->queue_select] : NULL;
	bool q_writable = q != NULL && !q->enabled && before_driver_ok(vp);
	uint16_t vec;

	switch (off) {
	case C_DFSELECT:
		vp->dfselect = (uint32_t)v;
		break;
	case C_GFSELECT:
		vp->gfselect = (uint32_t)v;
		break;
	case C_GF:
		if (vp->gfselect < 2 && !(vp->status & VMM_VIRTIO_S_FEATURES_OK)) {
			unsigned int sh = 32 * vp->gfselect;

			vp->driver_features = (vp->driver_features & ~(0xffffffffull << sh)) |
					      (v & 0xffffffffull) << sh;
		}
		break;
	case C_MSIX_CONFIG:
		/* 4.1.5.1.2.1: a vector the device cannot use reads back as
		 * NO_VECTOR. */
		vec = (uint16_t)v;
		vp->config_vector =
			vmm_msix_bind(&vp->msix, vp->config_src, vec) ? vec : VMM_MSIX_NO_VECTOR;
		break;
	case C_STATUS:
		write_status(vp, (uint8_t)v);
		break;
	case C_Q_SELECT:
		vp->queue_select = (uint16_t)v;
		break;
	case C_Q_SIZE:
		/* 2.7: a power of two, at most the maximum offered. */
		if (q_writable && v != 0 && (v & (v - 1)) == 0 &&
		    v <= vp->conf.queue_max[vp->queue_select])
			q->size = (uint16_t)v;
		break;
	case C_Q_MSIX:
		if (q != NULL) {
			vec = (uint16_t)v;
			q->vector = vmm_msix_bind(&vp->msix, q->call_src, vec) ? vec
									       : VMM_MSIX_NO_VECTOR;
		}
		break;
	case C_Q_ENABLE:
		/* 4.1.4.3.2: the driver never writes 0 here. */
		if (q_writable && v == 1)
			q->enabled = true;
		break;
	case C_Q_DESC:
		if (q_writable)
			q->desc = v;
		break;
	case C_Q_DRIVER:
		if (q_writable)
			q->driver = v;
		break;
	case C_Q_DEVICE:
		if (q_writable)
			q->device = v;
		break;
	default:
		break; /* read-only */
	}
}

/* Any width at any offset: the bytes written are merged into an image of
 * the structure, then each field they touch is written whole (the 64-bit
 * addresses come as two 32-bit halves, 4.1.3.1). */
static void
common_write(struct vmm_virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint8_t img[COMMON_IMAGE];

	if (off >= VMM_VIRTIO_PCI_COMMON_LEN)
		return;
	common_image(vp, img);
	for (uint32_t i = 0; i < len && off + i < VMM_VIRTIO_PCI_COMMON_LEN; i++)
		img[off + i] = data[i];
	for (unsigned int i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		const struct field *f = &common_fields[i];

		if (off < (uint64_t)f->off + f->len && off + len > f->off)
			write_field(vp, f->off, get(img + f->off, f->len));
	}
}

static void
common_read(struct vmm_virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
	uint8_t img[COMMON_IMAGE];

	common_image(vp, img);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < VMM_VIRTIO_PCI_COMMON_LEN ? img[off + i] : 0;
}

static void
notify_write(struct vmm_virtio_pci *vp, uint64_t off)
{
	unsigned int q = (unsigned int)(off / VMM_VIRTIO_PCI_NOTIFY_MULT);

	if (off % VMM_VIRTIO_PCI_NOTIFY_MULT != 0 || q >= vp->conf.nqueues)
		return;
	vp->q[q].kicks_here++;
	if (vp->conf.ioeventfd_mask & (1u << q))
		signal_fd(vp->q[q].kick_fd); /* an access the ioeventfd did not match */
	else if (vp->ops->notify != NULL && (vp->status & VMM_VIRTIO_S_DRIVER_OK))
		vp->ops->notify(vp->dev, q);
}

static bool
in(uint64_t off, uint32_t len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

static void
bar_access(struct vmm_virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	uint64_t nlen = (uint64_t)vp->conf.nqueues * VMM_VIRTIO_PCI_NOTIFY_MULT;

	pthread_mutex_lock(&vp->lock);
	if (in(off, len, VMM_VIRTIO_PCI_COMMON_OFF, VMM_VIRTIO_PCI_COMMON_LEN)) {
		if (is_write)
			common_write(vp, off - VMM_VIRTIO_PCI_COMMON_OFF, data, len);
		else
			common_read(vp, off - VMM_VIRTIO_PCI_COMMON_OFF, data, len);
	} else if (in(off, len, VMM_VIRTIO_PCI_ISR_OFF, 4)) {
		if (!is_write) {
			/* 4.1.4.5.1: reading clears. */
			memset(data, 0, len);
			if (off == VMM_VIRTIO_PCI_ISR_OFF)
				data[0] = vp->isr;
			vp->isr = 0;
		}
	} else if (in(off, len, VMM_VIRTIO_PCI_DEVICE_OFF, vp->conf.config_size)) {
		if (is_write) {
			if (vp->ops->config_write != NULL)
				vp->ops->config_write(vp->dev,
						      (uint32_t)(off - VMM_VIRTIO_PCI_DEVICE_OFF),
						      data, len);
		} else {
			vp->ops->config_read(vp->dev, (uint32_t)(off - VMM_VIRTIO_PCI_DEVICE_OFF),
					     data, len);
		}
	} else if (in(off, len, VMM_VIRTIO_PCI_NOTIFY_OFF, nlen)) {
		if (is_write)
			notify_write(vp, off - VMM_VIRTIO_PCI_NOTIFY_OFF);
		else
			memset(data, 0, len);
	} else if (in(off, len, VMM_VIRTIO_PCI_MSIX_OFF, vmm_msix_table_size(&vp->msix))) {
		if (is_write)
			vmm_msix_table_write(&vp->msix, off - VMM_VIRTIO_PCI_MSIX_OFF, data, len);
		else
			vmm_msix_table_read(&vp->msix, off - VMM_VIRTIO_PCI_MSIX_OFF, data, len);
	} else if (in(off, len, VMM_VIRTIO_PCI_PBA_OFF, vmm_msix_pba_size(&vp->msix))) {
		if (!is_write)
			vmm_msix_pba_read(&vp->msix, off - VMM_VIRTIO_PCI_PBA_OFF, data, len);
	} else if (!is_write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&vp->lock);
}

static void
bar_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	bar_access(dev, off, data, len, false);
}

static void
bar_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	bar_access(dev, off, (uint8_t *)data, len, true);
}

const struct vmm_dev_ops vmm_virtio_pci_bar_ops = {
	.name = "virtio-pci",
	.read = bar_read,
	.write = bar_write,
};

/* The PCI configuration access capability (4.1.4.9), found by its type. */
static int
pci_cfg_cap(const struct vmm_pci_func *f)
{
	for (unsigned int off = f->cfg[VMM_PCI_CAP_PTR], n = 0; off != 0 && n < 48;
	     off = f->cfg[off + 1], n++) {
		if (f->cfg[off] == VMM_PCI_CAP_ID_VNDR &&
		    f->cfg[off + CAP_CFG_TYPE] == CFG_TYPE_PCI)
			return (int)off;
	}
	return -1;
}

/* 4.1.4.9.1: the window's bar, offset and length; only BAR 0 and
 * naturally aligned 1, 2 or 4 bytes inside it. */
static bool
pci_cfg_window(const struct vmm_pci_func *f, int cap, uint32_t *off, uint32_t *len)
{
	*off = vmm_pci_cfg_get(f, (uint32_t)cap + CAP_OFFSET, 4);
	*len = vmm_pci_cfg_get(f, (uint32_t)cap + CAP_LENGTH, 4);
	return f->cfg[cap + CAP_BAR] == 0 && (*len == 1 || *len == 2 || *len == 4) &&
	       *off % *len == 0 && *off < VMM_VIRTIO_PCI_BAR_SIZE;
}

static void
func_cfg_read(void *owner, struct vmm_pci_func *f, uint32_t off, uint32_t len)
{
	struct vmm_virtio_pci *vp = owner;
	int cap = pci_cfg_cap(f);
	uint32_t woff, wlen;
	uint8_t data[4] = { 0 };

	if (cap < 0 || off >= (uint32_t)cap + CAP_PCI_CFG_DATA + 4 ||
	    off + len <= (uint32_t)cap + CAP_PCI_CFG_DATA)
		return;
	if (pci_cfg_window(f, cap, &woff, &wlen))
		bar_access(vp, woff, data, wlen, false);
	memcpy(f->cfg + cap + CAP_PCI_CFG_DATA, data, 4);
}

static void
func_cfg_written(void *owner, struct vmm_pci_func *f, uint32_t off, uint32_t len)
{
	struct vmm_virtio_pci *vp = owner;
	int cap = pci_cfg_cap(f);
	uint32_t woff, wlen;

	pthread_mutex_lock(&vp->lock);
	vmm_msix_cfg_written(&vp->msix, f, off, len);
	pthread_mutex_unlock(&vp->lock);
	if (cap >= 0 && off < (uint32_t)cap + CAP_PCI_CFG_DATA + 4 &&
	    off + len > (uint32_t)cap + CAP_PCI_CFG_DATA && pci_cfg_window(f, cap, &woff, &wlen))
		bar_access(vp, woff, f->cfg + cap + CAP_PCI_CFG_DATA, wlen, true);
}

static void
ioeventfds(struct vmm_virtio_pci *vp, uint64_t notify_gpa, bool assign)
{
	for (unsigned int i = 0; i < vp->conf.nqueues; i++) {
		uint64_t gpa = notify_gpa + (uint64_t)i * VMM_VIRTIO_PCI_NOTIFY_MULT;

		if (!(vp->conf.ioeventfd_mask & (1u << i)))
			continue;
		/* A failure (the guest put two BARs on top of each other) only
		 * costs speed: the kick then comes here, to notify_write(). */
		if (vp->efd->ioeventfd(vp->efd->opaque, gpa, vp->ioeventfd_len, vp->q[i].kick_fd,
				       assign) < 0)
			vp->st.ioeventfd_errors++;
	}
}

static void
func_bar_mapped(void *owner, struct vmm_pci_func *f, unsigned int bar, uint64_t old_gpa,
		uint64_t new_gpa)
{
	struct vmm_virtio_pci *vp = owner;

	(void)f;
	if (bar != 0)
		return;
	pthread_mutex_lock(&vp->lock);
	if (old_gpa != 0)
		ioeventfds(vp, old_gpa + VMM_VIRTIO_PCI_NOTIFY_OFF, false);
	vp->notify_gpa = new_gpa != 0 ? new_gpa + VMM_VIRTIO_PCI_NOTIFY_OFF : 0;
	if (new_gpa != 0)
		ioeventfds(vp, vp->notify_gpa, true);
	pthread_mutex_unlock(&vp->lock);
}

static const struct vmm_pci_func_ops func_ops = {
	.cfg_read = func_cfg_read,
	.cfg_written = func_cfg_written,
	.bar_mapped = func_bar_mapped,
};

static int
add_vndr_cap(struct vmm_virtio_pci *vp, uint8_t type, unsigned int len, uint32_t off,
	     uint32_t length)
{
	int cap = vmm_pci_func_add_cap(&vp->func, VMM_PCI_CAP_ID_VNDR, len);

	if (cap < 0)
		return cap;
	vp->func.cfg[cap + 2] = (uint8_t)len;
	vp->func.cfg[cap + CAP_CFG_TYPE] = type;
	vp->func.cfg[cap + CAP_BAR] = 0;
	vmm_pci_cfg_set(&vp->func, (uint32_t)cap + CAP_OFFSET, 4, off);
	vmm_pci_cfg_set(&vp->func, (uint32_t)cap + CAP_LENGTH, 4, length);
	return cap;
}

static int
new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int
vmm_virtio_pci_init(struct vmm_virtio_pci *vp, const struct vmm_virtio_pci_conf *conf,
		    const struct vmm_virtio_dev_ops *ops, void *dev,
		    const struct vmm_eventfd_ops *efd, bool ioeventfd_any_len)
{
	int rc, cap;

	memset(vp, 0, sizeof(*vp));
	vp->config_fd = -1;
	for (unsigned int i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++)
		vp->q[i].kick_fd = vp->q[i].call_fd = -1;
	if (conf->nqueues == 0 || conf->nqueues > VMM_VIRTIO_MAX_QUEUES ||
	    conf->config_size > VMM_VIRTIO_PCI_DEVICE_MAX || conf->msix_vectors == 0 ||
	    (uint64_t)conf->msix_vectors * VMM_MSIX_ENTRY_SIZE >
		    VMM_VIRTIO_PCI_PBA_OFF - VMM_VIRTIO_PCI_MSIX_OFF)
		return -EINVAL;
	for (unsigned int i = 0; i < conf->nqueues; i++) {
		uint16_t m = conf->queue_max[i];

		if (m == 0 || (m & (m - 1)) != 0)
			return -EINVAL;
	}
	pthread_mutex_init(&vp->lock, NULL);
	vp->conf = *conf;
	vp->ops = ops;
	vp->dev = dev;
	vp->efd = efd;
	vp->ioeventfd_len = ioeventfd_any_len ? 0 : 2;
	rc = vmm_msix_init(&vp->msix, conf->msix_vectors, efd);
	if (rc < 0)
		goto out_fini;
	rc = vp->config_fd = new_eventfd();
	if (rc < 0)
		goto out_fini;
	vp->config_src = vmm_msix_add_source(&vp->msix, vp->config_fd);
	for (unsigned int i = 0; i < conf->nqueues; i++) {
		rc = vp->q[i].kick_fd = new_eventfd();
		if (rc < 0)
			goto out_fini;
		rc = vp->q[i].call_fd = new_eventfd();
		if (rc < 0)
			goto out_fini;
		rc = vp->q[i].call_src = vmm_msix_add_source(&vp->msix, vp->q[i].call_fd);
		if (rc < 0)
			goto out_fini;
	}

	vmm_pci_func_init(&vp->func, VMM_VIRTIO_PCI_VENDOR,
			  (uint16_t)(VMM_VIRTIO_PCI_DEVICE_BASE + conf->device_id), conf->pci_class,
			  PCI_REVISION, VMM_VIRTIO_PCI_VENDOR, PCI_SUBSYS_ID, &func_ops, vp);
	rc = vmm_pci_func_add_bar(&vp->func, 0, VMM_VIRTIO_PCI_BAR_SIZE, false,
				  &vmm_virtio_pci_bar_ops, vp);
	if (rc < 0)
		goto out_fini;
	rc = vmm_msix_add_cap(&vp->msix, &vp->func, 0, VMM_VIRTIO_PCI_MSIX_OFF,
			      VMM_VIRTIO_PCI_PBA_OFF);
	if (rc >= 0)
		rc = add_vndr_cap(vp, CFG_TYPE_COMMON, CAP_LEN, VMM_VIRTIO_PCI_COMMON_OFF,
				  VMM_VIRTIO_PCI_COMMON_LEN);
	if (rc >= 0) {
		rc = cap =
			add_vndr_cap(vp, CFG_TYPE_NOTIFY, CAP_NOTIFY_LEN, VMM_VIRTIO_PCI_NOTIFY_OFF,
				     conf->nqueues * VMM_VIRTIO_PCI_NOTIFY_MULT);
		if (cap >= 0)
			vmm_pci_cfg_set(&vp->func, (uint32_t)cap + CAP_NOTIFY_MULT, 4,
					VMM_VIRTIO_PCI_NOTIFY_MULT);
	}
	if (rc >= 0)
		rc = add_vndr_cap(vp, CFG_TYPE_ISR, CAP_LEN, VMM_VIRTIO_PCI_ISR_OFF, 1);
	if (rc >= 0 && conf->config_size > 0)
		rc = add_vndr_cap(vp, CFG_TYPE_DEVICE, CAP_LEN, VMM_VIRTIO_PCI_DEVICE_OFF,
				  conf->config_size);
	if (rc >= 0) {
		rc = cap = add_vndr_cap(vp, CFG_TYPE_PCI, CAP_PCI_CFG_LEN, 0, 0);
		if (cap >= 0) {
			/* 4.1.4.9: the driver writes bar, offset, length and data. */
			vmm_pci_cfg_writable(&vp->func, (uint32_t)cap + CAP_BAR, 1, 0xff);
			vmm_pci_cfg_writable(&vp->func, (uint32_t)cap + CAP_OFFSET, 4, ~0u);
			vmm_pci_cfg_writable(&vp->func, (uint32_t)cap + CAP_LENGTH, 4, ~0u);
			vmm_pci_cfg_writable(&vp->func, (uint32_t)cap + CAP_PCI_CFG_DATA, 4, ~0u);
		}
	}
	if (rc < 0)
		goto out_fini;
	/* Initial state: as after a reset, without telling the device. */
	vp->config_vector = VMM_MSIX_NO_VECTOR;
	for (unsigned int i = 0; i < conf->nqueues; i++) {
		vp->q[i].size = conf->queue_max[i];
		vp->q[i].vector = VMM_MSIX_NO_VECTOR;
	}
	vp->device_features = ops->device_features(dev);
	return 0;

out_fini:
	vmm_virtio_pci_fini(vp);
	return rc;
}

void
vmm_virtio_pci_fini(struct vmm_virtio_pci *vp)
{
	if (vp == NULL || vp->efd == NULL)
		return;
	if (vp->notify_gpa != 0)
		ioeventfds(vp, vp->notify_gpa, false);
	vp->notify_gpa = 0;
	vmm_msix_fini(&vp->msix);
	for (unsigned int i = 0; i < VMM_VIRTIO_MAX_QUEUES; i++) {
		if (vp->q[i].kick_fd >= 0)
			close(vp->q[i].kick_fd);
		if (vp->q[i].call_fd >= 0)
			close(vp->q[i].call_fd);
		vp->q[i].kick_fd = vp->q[i].call_fd = -1;
	}
	if (vp->config_fd >= 0)
		close(vp->config_fd);
	vp->config_fd = -1;
	pthread_mutex_destroy(&vp->lock);
	vp->efd = NULL;
}
