/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "vmm_int.h"

int
kvm_available(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

const char *
guest_path(const char *name)
{
	static __thread char path[4096];
	const char *dir = getenv("NV_GUEST_DIR");

	snprintf(path, sizeof(path), "%s/%s.elf", dir != NULL ? dir : "tests/guests", name);
	return path;
}

static void
console_cb(void *opaque, const uint8_t *data, size_t len)
{
	struct guest *g = opaque;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < len && g->console_len < sizeof(g->console) - 1; i++)
		g->console[g->console_len++] = (char)data[i];
	g->console[g->console_len] = '\0';
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void
add_report(struct guest *g, const uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&g->lock);
	if (g->nreports < MAX_REPORTS) {
		g->reports[g->nreports++] = (struct report){
			.vcpu = vmm_current_vcpu(),
			.len = len,
			.value = (uint32_t)vmm_io_get(data, len),
		};
	}
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void
report_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	add_report(dev, data, len);
}

static const struct vmm_dev_ops report_ops = {
	.name = "test-report",
	.write = report_write,
};

static void
mmio_log(struct guest *g, int is_write, uint64_t offset, uint32_t len, uint64_t value)
{
	pthread_mutex_lock(&g->lock);
	if (g->nmmio < MAX_MMIO) {
		g->mmio[g->nmmio++] = (struct mmio_access){
			.is_write = is_write,
			.offset = offset,
			.len = len,
			.value = value,
		};
	}
	pthread_mutex_unlock(&g->lock);
}

static void
mmio_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	vmm_io_put(data, len, TEST_MMIO_READ_VALUE);
	mmio_log(dev, 0, offset, len, TEST_MMIO_READ_VALUE);
}

static void
mmio_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	if (offset == GUEST_MMIO_REPORT_OFFSET)
		add_report(dev, data, len);
	else
		mmio_log(dev, 1, offset, len, vmm_io_get(data, len));
}

static const struct vmm_dev_ops mmio_ops = {
	.name = "test-mmio",
	.read = mmio_read,
	.write = mmio_write,
};

int
guest_create(struct guest *g, const char *name, uint32_t vcpus, uint64_t mem_mib, char *err,
	     size_t errlen)
{
	struct vmm_events ev = {
		.console = console_cb,
		.opaque = g,
	};
	struct vmm_config cfg = {
		.vcpus = vcpus,
		.mem_bytes = mem_mib << 20,
		.kernel = { .fd = -1 },
		.initrd = { .fd = -1 },
		.cmdline = "",
		.debug_exit = true,
	};
	struct stat st;
	int rc;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	cfg.kernel.fd = open(guest_path(name), O_RDONLY | O_CLOEXEC);
	if (cfg.kernel.fd < 0 || fstat(cfg.kernel.fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", guest_path(name), strerror(errno));
		return -errno;
	}
	cfg.kernel.size = (uint64_t)st.st_size;
	rc = vmm_create(&cfg, &ev, &g->vm, err, errlen);
	close(cfg.kernel.fd);
	if (rc < 0)
		return rc;
	rc = vmm_add_device(g->vm, VMM_SPACE_PIO, GUEST_REPORT_PORT, 4, &report_ops, g);
	if (rc == 0)
		rc = vmm_add_device(g->vm, VMM_SPACE_MMIO, GUEST_TEST_MMIO, 0x1000, &mmio_ops, g);
	if (rc < 0) {
		snprintf(err, errlen, "test devices: %s", strerror(-rc));
		vmm_destroy(g->vm);
		g->vm = NULL;
	}
	return rc;
}

int
guest_start(struct guest *g)
{
	return vmm_start(g->vm);
}

static void
deadline_in(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

bool
guest_wait_console(struct guest *g, const char *s, int timeout_ms)
{
	struct timespec ts;
	bool found;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&g->lock);
	while (!(found = strstr(g->console, s) != NULL)) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) == ETIMEDOUT) {
			found = strstr(g->console, s) != NULL;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return found;
}

bool
guest_wait_reports(struct guest *g, unsigned int n, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&g->lock);
	while (!(ok = g->nreports >= n)) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) == ETIMEDOUT) {
			ok = g->nreports >= n;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return ok;
}

struct vmm_exit
guest_wait_exit(struct guest *g, int timeout_ms)
{
	struct vmm_exit e;

	memset(&e, 0, sizeof(e));
	if (vmm_wait(g->vm, &e, timeout_ms) == -ETIMEDOUT) {
		fprintf(stderr, "guest did not end within %d ms; stopping it\n", timeout_ms);
		vmm_stop(g->vm);
		vmm_wait(g->vm, &e, 0);
	}
	return e;
}

unsigned int
guest_reports_of(struct guest *g, int vcpu, uint32_t *out, unsigned int max)
{
	unsigned int n = 0;

	pthread_mutex_lock(&g->lock);
	for (unsigned int i = 0; i < g->nreports && n < max; i++) {
		if (vcpu < 0 || g->reports[i].vcpu == vcpu)
			out[n++] = g->reports[i].value;
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

void
guest_destroy(struct guest *g)
{
	vmm_destroy(g->vm);
	g->vm = NULL;
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}
