/* SPDX-License-Identifier: MIT */
/* Unit: chan.c (daemon <-> child messages, fds, validation). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "nv_wire.h"
#include "shim.h"

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int
memfd_with(const char *text)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static void
boot_with_fds(void **state)
{
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildBoot b = NICVISOR__V1__CHILD_BOOT__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__ChildControl *got = NULL;
	int sv[2], fds[2], rfds[SHIM_CHAN_MAX_FDS];
	unsigned int n = 0;
	char why[128], buf[8] = "";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fds[0] = memfd_with("kernel");
	fds[1] = memfd_with("initrd");
	spec.vcpus = 1;
	spec.memory_mib = 64;
	b.vm_id = "vm-1";
	b.spec = &spec;
	b.has_initrd = true;
	b.vm_uid = b.vm_gid = 65534;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_BOOT;
	m.boot = &b;
	assert_int_equal(shim_chan_send(sv[0], &m.base, fds, 2, 0), 0);
	assert_int_equal(shim_chan_recv(sv[1], &nicvisor__v1__child_control__descriptor,
					(ProtobufCMessage **)&got, rfds, &n, 0),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(shim_child_control_check(got, n, why, sizeof(why)), 0);
	assert_string_equal(got->boot->vm_id, "vm-1");
	assert_int_equal(pread(rfds[1], buf, 6, 0), 6);
	assert_string_equal(buf, "initrd");
	assert_true(fcntl(rfds[0], F_GETFD) & FD_CLOEXEC);
	/* One fd short of what has_initrd says. */
	assert_int_equal(shim_child_control_check(got, 1, why, sizeof(why)), -EINVAL);
	/* The child checks the NICs too, as the daemon did. */
	{
		Nicvisor__V1__NicAttachment a = NICVISOR__V1__NIC_ATTACHMENT__INIT, *ap = &a;

		a.mac = "52:54:00:12:34:56";
		a.vhost_user_socket = "/run/nv.sock";
		a.queue_pairs = 1;
		got->boot->nics = &ap;
		got->boot->n_nics = 1;
		assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), 0);
		a.queue_pairs = 100;
		assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "boot.nics[0].queue_pairs"));
		got->boot->nics = NULL;
		got->boot->n_nics = 0;
	}
	/* And the disks: never more queues than vCPUs (the sender lowers). */
	{
		Nicvisor__V1__DiskAttachment a = NICVISOR__V1__DISK_ATTACHMENT__INIT, *ap = &a;

		a.vhost_user_socket = "/run/nv-blk.sock";
		a.queues = 1;
		got->boot->disks = &ap;
		got->boot->n_disks = 1;
		assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), 0);
		a.queues = 2; /* spec.vcpus is 1 */
		assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "boot.disks[0].queues"));
		a.queues = 1;
		a.vhost_user_socket = "rel.sock";
		assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "boot.disks[0].vhost_user_socket"));
		got->boot->disks = NULL;
		got->boot->n_disks = 0;
	}
	got->boot->spec->vcpus = 0;
	assert_int_equal(shim_child_control_check(got, 2, why, sizeof(why)), -EINVAL);
	nv_wire_free(&got->base);
	for (int i = 0; i < 2; i++) {
		close(fds[i]);
		close(rfds[i]);
	}

	/* Fds nobody asked for are closed, not leaked. */
	int before = open_fds();
	fds[0] = memfd_with("x");
	assert_int_equal(shim_chan_send(sv[0], &m.base, fds, 1, 0), 0);
	close(fds[0]);
	assert_int_equal(shim_chan_recv(sv[1], &nicvisor__v1__child_control__descriptor,
					(ProtobufCMessage **)&got, NULL, NULL, 0),
			 0);
	nv_wire_free(&got->base);
	assert_int_equal(open_fds(), before);

	/* Nothing waiting, then the peer gone. */
	assert_int_equal(shim_chan_recv(sv[1], &nicvisor__v1__child_control__descriptor,
					(ProtobufCMessage **)&got, NULL, NULL, MSG_DONTWAIT),
			 -EAGAIN);
	close(sv[0]);
	assert_int_equal(shim_chan_recv(sv[1], &nicvisor__v1__child_control__descriptor,
					(ProtobufCMessage **)&got, NULL, NULL, 0),
			 -EPIPE);
	assert_int_equal(shim_chan_send(sv[1], &m.base, NULL, 0, 0), -EPIPE);
	close(sv[1]);
}

/* ChildBoot.disks survive the socket as they were sent. */
/* The sandbox is the default, and it takes no root user; a mode this
 * build does not know is refused rather than taken for "off". */
static void
boot_sandbox_checked(void **state)
{
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildBoot b = NICVISOR__V1__CHILD_BOOT__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	char why[160];

	(void)state;
	spec.vcpus = 1;
	spec.memory_mib = 64;
	b.vm_id = "vm-1";
	b.spec = &spec;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_BOOT;
	m.boot = &b;
	assert_int_equal(shim_child_control_check(&m, 1, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "boot.vm_uid"));
	b.vm_uid = 1000;
	assert_int_equal(shim_child_control_check(&m, 1, why, sizeof(why)), -EINVAL);
	b.vm_gid = 1000;
	assert_int_equal(shim_child_control_check(&m, 1, why, sizeof(why)), 0);
	b.sandbox = (Nicvisor__V1__SandboxMode)7;
	assert_int_equal(shim_child_control_check(&m, 1, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "boot.sandbox"));
	b.sandbox = NICVISOR__V1__SANDBOX_MODE__SANDBOX_MODE_OFF;
	b.vm_uid = b.vm_gid = 0;
	assert_int_equal(shim_child_control_check(&m, 1, why, sizeof(why)), 0);
}

/* The options: modes by name, users by name or number, never root. */
static void
sandbox_options(void **state)
{
	struct shim_sandbox sb;
	char err[192];

	(void)state;
	assert_int_equal(shim_sandbox_conf(NULL, NULL, &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.mode, SHIM_SANDBOX_ENFORCE);
	assert_true(sb.uid != 0 && sb.gid != 0);
	assert_int_equal(shim_sandbox_conf("log", "1234", &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.mode, SHIM_SANDBOX_LOG);
	assert_int_equal(sb.uid, 1234);
	assert_int_equal(sb.gid, 1234);
	assert_int_equal(shim_sandbox_conf("enforce", "1234:99", &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.gid, 99);
	assert_int_equal(shim_sandbox_conf("off", "0", &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.mode, SHIM_SANDBOX_OFF);
	assert_int_equal(shim_sandbox_conf("strict", NULL, &sb, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--vm-sandbox strict"));
	assert_int_equal(shim_sandbox_conf(NULL, "root", &sb, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--vm-user root: root"));
	assert_int_equal(shim_sandbox_conf(NULL, "0:5", &sb, err, sizeof(err)), -EINVAL);
	assert_int_equal(shim_sandbox_conf(NULL, "5:0", &sb, err, sizeof(err)), -EINVAL);
	assert_int_equal(shim_sandbox_conf(NULL, "12x", &sb, err, sizeof(err)), -EINVAL);
	assert_int_equal(shim_sandbox_conf(NULL, "5:", &sb, err, sizeof(err)), -EINVAL);
	assert_int_equal(shim_sandbox_conf(NULL, "no-such-user-here", &sb, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "no such user"));
}

static void
boot_disks_round_trip(void **state)
{
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildBoot b = NICVISOR__V1__CHILD_BOOT__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskAttachment a[2] = { NICVISOR__V1__DISK_ATTACHMENT__INIT,
					      NICVISOR__V1__DISK_ATTACHMENT__INIT };
	Nicvisor__V1__DiskAttachment *ap[2] = { &a[0], &a[1] };
	Nicvisor__V1__ChildControl *got = NULL;
	struct shim_disk out[SHIM_DISKS_MAX];
	int sv[2], fd, rfd = -1;
	unsigned int n = 0;
	char why[128];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fd = memfd_with("kernel");
	spec.vcpus = 4;
	spec.memory_mib = 64;
	a[0].index = 0;
	a[0].vhost_user_socket = "/run/nicvisor/blk/vm-1-0.sock";
	a[0].queues = 4;
	a[1].index = 5;
	a[1].vhost_user_socket = "/run/nicvisor/blk/vm-1-5.sock";
	a[1].queues = 1;
	a[1].read_only = true;
	b.vm_id = "vm-1";
	b.spec = &spec;
	b.vm_uid = b.vm_gid = 65534;
	b.disks = ap;
	b.n_disks = 2;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_BOOT;
	m.boot = &b;
	assert_int_equal(shim_chan_send(sv[0], &m.base, &fd, 1, 0), 0);
	assert_int_equal(shim_chan_recv(sv[1], &nicvisor__v1__child_control__descriptor,
					(ProtobufCMessage **)&got, &rfd, &n, 0),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(shim_child_control_check(got, n, why, sizeof(why)), 0);
	assert_int_equal(got->boot->n_disks, 2);
	assert_int_equal(shim_disks_check(got->boot->disks, got->boot->n_disks, "boot.disks",
					  SHIM_DISK_QUEUES_MAX, got->boot->spec->vcpus, out, why,
					  sizeof(why)),
			 0);
	assert_int_equal(out[0].index, 0);
	assert_string_equal(out[0].socket, "/run/nicvisor/blk/vm-1-0.sock");
	assert_int_equal(out[0].queues, 4);
	assert_false(out[0].read_only);
	assert_int_equal(out[1].index, 5);
	assert_string_equal(out[1].socket, "/run/nicvisor/blk/vm-1-5.sock");
	assert_int_equal(out[1].queues, 1);
	assert_true(out[1].read_only);
	nv_wire_free(&got->base);
	close(fd);
	close(rfd);
	close(sv[0]);
	close(sv[1]);
}

static void
garbage_and_oversize(void **state)
{
	ProtobufCMessage *got = NULL;
	int sv[2], fd, rfds[2];
	unsigned int n;
	static uint8_t big[SHIM_CHAN_MAX_MSG + 100];
	uint8_t junk[] = { 0x52, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 }; /* field 10, huge length */
	struct msghdr mh = { 0 };
	struct iovec iov = { junk, sizeof(junk) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	int before;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int sz = 4 * SHIM_CHAN_MAX_MSG;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	before = open_fds();
	/* Undecodable, and with an fd attached: -EBADMSG, fd closed. */
	fd = memfd_with("y");
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(
		shim_chan_recv(sv[1], &nicvisor__v1__child_event__descriptor, &got, rfds, &n, 0),
		-EBADMSG);
	assert_int_equal(open_fds(), before);
	/* Bigger than any message: refused, not truncated into something. */
	memset(big, 0, sizeof(big));
	assert_int_equal(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(
		shim_chan_recv(sv[1], &nicvisor__v1__child_event__descriptor, &got, NULL, NULL, 0),
		-EMSGSIZE);
	/* Random bytes: never a crash. */
	unsigned int seed = 3;
	for (int i = 0; i < 500; i++) {
		uint8_t b[48];
		size_t len = 1 + (size_t)rand_r(&seed) % sizeof(b);
		char why[128];

		for (size_t j = 0; j < len; j++)
			b[j] = (uint8_t)rand_r(&seed);
		assert_int_equal(send(sv[0], b, len, 0), (ssize_t)len);
		if (shim_chan_recv(sv[1], &nicvisor__v1__child_event__descriptor, &got, NULL, NULL,
				   0) == 0) {
			shim_child_event_check((Nicvisor__V1__ChildEvent *)got, why, sizeof(why));
			nv_wire_free(got);
		}
	}
	close(sv[0]);
	close(sv[1]);
}

static void
event_checks(void **state)
{
	Nicvisor__V1__ChildEvent ev = NICVISOR__V1__CHILD_EVENT__INIT;
	Nicvisor__V1__ChildState st = NICVISOR__V1__CHILD_STATE__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	static uint8_t data[SHIM_CONSOLE_CHUNK + 1];
	char why[128];

	(void)state;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL); /* empty */
	ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_STATE;
	ev.state = &st;
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), 0);
	st.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF; /* running with an exit */
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL);
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_STOPPED;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), 0);
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_STARTING; /* not the child's to say */
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL);
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED;
	st.exit = (Nicvisor__V1__ExitKind)999;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "exit"));

	ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE;
	ev.console = &cd;
	cd.data.data = data;
	cd.data.len = 0;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL);
	cd.data.len = 10;
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), 0);
	cd.data.len = sizeof(data);
	assert_int_equal(shim_child_event_check(&ev, why, sizeof(why)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(boot_with_fds),        cmocka_unit_test(boot_disks_round_trip),
		cmocka_unit_test(boot_sandbox_checked), cmocka_unit_test(sandbox_options),
		cmocka_unit_test(garbage_and_oversize), cmocka_unit_test(event_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
