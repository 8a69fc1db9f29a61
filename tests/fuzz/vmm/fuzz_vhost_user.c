/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what the shim's vhost-user frontend (vmm/vhost_user.c)
 * makes of a backend's replies. The first byte picks the way in:
 *
 *  even: one message through vmm_vhu_parse_reply(), no socket. Bytes 1..4
 *        pick the request it answers (from the ones the frontend sends),
 *        whether as a REPLY_ACK, and the vring asked about; the rest is
 *        the message. A reply taken must be what that request is due: its
 *        header, a queue count of 1..VMM_VHU_MAX_QUEUES, the vring asked
 *        about with a 16-bit base, an ack of 0.
 *  odd:  the rest is everything the backend ever sends on the connection,
 *        queued on a socket pair whose backend end then shuts down; the
 *        frontend runs its handshake and every request it has (features,
 *        memory table, a ring's number, addresses, base, kick, call,
 *        enable, and GET_VRING_BASE). Nothing blocks: the data is there or
 *        the peer is gone. Each call returns 0 or one of the errors the
 *        header names, and a connection once broken stays broken.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static const uint32_t requests[] = {
	VMM_VHU_GET_FEATURES,   VMM_VHU_SET_FEATURES,          VMM_VHU_SET_OWNER,
	VMM_VHU_SET_MEM_TABLE,  VMM_VHU_SET_VRING_NUM,         VMM_VHU_SET_VRING_ADDR,
	VMM_VHU_SET_VRING_BASE, VMM_VHU_GET_VRING_BASE,        VMM_VHU_SET_VRING_KICK,
	VMM_VHU_SET_VRING_CALL, VMM_VHU_GET_PROTOCOL_FEATURES, VMM_VHU_SET_PROTOCOL_FEATURES,
	VMM_VHU_GET_QUEUE_NUM,  VMM_VHU_SET_VRING_ENABLE,
};

static void
one_message(const uint8_t *data, size_t size)
{
	uint32_t request, hdr_req, hdr_size;
	struct vmm_vhu_reply r;
	unsigned int index;
	char why[160];
	bool ack;
	int rc;

	if (size < 4)
		return;
	request = requests[data[0] % (sizeof(requests) / sizeof(requests[0]))];
	ack = data[1] & 1;
	index = (unsigned int)data[2] | (unsigned int)data[3] << 8;
	data += 4;
	size -= 4;
	why[0] = '\0';
	rc = vmm_vhu_parse_reply(data, size, request, ack, index, &r, why, sizeof(why));
	if (rc < 0) {
		check(rc == -EPROTO || rc == -EIO);
		check(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
		return;
	}
	check(size >= VMM_VHU_HDR_SIZE);
	memcpy(&hdr_req, data, 4);
	memcpy(&hdr_size, data + 8, 4);
	check(hdr_req == request && hdr_size == vmm_vhu_reply_size(request, ack));
	check(size >= VMM_VHU_HDR_SIZE + (size_t)hdr_size);
	if (request == VMM_VHU_GET_QUEUE_NUM)
		check(r.u64 >= 1 && r.u64 <= VMM_VHU_MAX_QUEUES);
	else if (request == VMM_VHU_GET_VRING_BASE)
		check(r.index == index && r.num <= 0xffff);
	else if (vmm_vhu_reply_size(request, false) == 0)
		check(r.u64 == 0);
}

/* 0 or an error the header names for requests; -EPIPE once broken. */
static void
check_rc(struct vmm_vhu *v, int rc, bool *was_broken)
{
	check(rc == 0 || rc == -EPIPE || rc == -ETIMEDOUT || rc == -EPROTO || rc == -EIO);
	check(!*was_broken || rc == -EPIPE);
	check(rc == 0 || v->broken);
	if (v->broken) {
		check(v->why[0] != '\0');
		*was_broken = true;
	}
}

static void
conversation(const uint8_t *data, size_t size)
{
	static int memfd = -1;
	struct vmm_vhu_region region = { .gpa = 0, .size = 4096, .uaddr = 0x10000 };
	struct vmm_vhu *v;
	bool was_broken = false;
	unsigned int base = 0;
	char err[256];
	int sv[2], rc;

	if (memfd < 0) {
		memfd = memfd_create("fuzz-guest-ram", MFD_CLOEXEC);
		check(memfd >= 0);
	}
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Far below the socket buffer: the write completes at once. */
	if (size > 0)
		check(write(sv[1], data, size) == (ssize_t)size);
	check(shutdown(sv[1], SHUT_WR) == 0);
	err[0] = '\0';
	rc = vmm_vhu_open(sv[0], 100, &v, err, sizeof(err));
	if (rc < 0) {
		check(rc == -EPIPE || rc == -ETIMEDOUT || rc == -EPROTO || rc == -EIO);
		check(err[0] != '\0');
		close(sv[1]);
		return;
	}
	check(v->queue_num <= VMM_VHU_MAX_QUEUES);
	check_rc(v, vmm_vhu_set_features(v, v->features), &was_broken);
	check_rc(v, vmm_vhu_set_mem_table(v, &region, 1, memfd), &was_broken);
	check_rc(v, vmm_vhu_set_vring_num(v, 0, 256), &was_broken);
	check_rc(v, vmm_vhu_set_vring_addr(v, 0, 0x1000, 0x2000, 0x3000), &was_broken);
	check_rc(v, vmm_vhu_set_vring_base(v, 0, 0), &was_broken);
	check_rc(v, vmm_vhu_set_vring_kick(v, 0, -1), &was_broken);
	check_rc(v, vmm_vhu_set_vring_call(v, 0, -1), &was_broken);
	check_rc(v, vmm_vhu_set_vring_enable(v, 0, true), &was_broken);
	rc = vmm_vhu_get_vring_base(v, 1, &base);
	check_rc(v, rc, &was_broken);
	check(rc < 0 || base <= 0xffff);
	vmm_vhu_close(v);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16384)
		return 0;
	if (data[0] % 2 == 0)
		one_message(data + 1, size - 1);
	else
		conversation(data + 1, size - 1);
	return 0;
}
