/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontend: the shim's side of the protocol in QEMU's
 * docs/interop/vhost-user.rst, over the backend's UNIX socket. The
 * backend (the DPU dataplane, or dpdk-testpmd's net_vhost) maps guest RAM
 * from the memfd we send and serves the rings itself; this side only
 * configures it.
 *
 * One connection per NIC. Every request is bounded by the connection's
 * timeout. Every message the backend sends is checked before use: the
 * version and reply flags, the request it answers, the payload size, the
 * vring index of a GET_VRING_BASE reply, no file descriptors (none of our
 * requests expects one; any that come are closed). The first failure
 * marks the connection broken (why says how); the owner then closes it
 * and connects again.
 *
 * Not thread safe: the owner serialises calls on one connection. Writes
 * use MSG_NOSIGNAL, so a backend that goes away is -EPIPE, never SIGPIPE.
 */
#ifndef VMM_VHOST_USER_H
#define VMM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Front-end requests ("Front-end message types"). */
enum vmm_vhu_request {
	VMM_VHU_GET_FEATURES = 1,
	VMM_VHU_SET_FEATURES = 2,
	VMM_VHU_SET_OWNER = 3,
	VMM_VHU_SET_MEM_TABLE = 5,
	VMM_VHU_SET_VRING_NUM = 8,
	VMM_VHU_SET_VRING_ADDR = 9,
	VMM_VHU_SET_VRING_BASE = 10,
	VMM_VHU_GET_VRING_BASE = 11,
	VMM_VHU_SET_VRING_KICK = 12,
	VMM_VHU_SET_VRING_CALL = 13,
	VMM_VHU_GET_PROTOCOL_FEATURES = 15,
	VMM_VHU_SET_PROTOCOL_FEATURES = 16,
	VMM_VHU_GET_QUEUE_NUM = 17,
	VMM_VHU_SET_VRING_ENABLE = 18,
	VMM_VHU_GET_CONFIG = 24,
	VMM_VHU_GET_INFLIGHT_FD = 31,
	VMM_VHU_SET_INFLIGHT_FD = 32,
};

/* Header flags ("Header"). */
#define VMM_VHU_VERSION         0x1
#define VMM_VHU_VERSION_MASK    0x3
#define VMM_VHU_FLAG_REPLY      (1u << 2)
#define VMM_VHU_FLAG_NEED_REPLY (1u << 3)
#define VMM_VHU_HDR_SIZE        12

/* Feature bit 30 of GET_FEATURES, and the protocol features we use. */
#define VMM_VHU_F_PROTOCOL_FEATURES  30
#define VMM_VHU_PROTOCOL_F_MQ        0
#define VMM_VHU_PROTOCOL_F_REPLY_ACK 3
#define VMM_VHU_PROTOCOL_F_CONFIG    9
#define VMM_VHU_PROTOCOL_F_INFLIGHT  12 /* INFLIGHT_SHMFD */
/* What vmm_vhu_connect() negotiates when offered. */
#define VMM_VHU_PROTOCOL_DEFAULT                                                                   \
	((1ull << VMM_VHU_PROTOCOL_F_MQ) | (1ull << VMM_VHU_PROTOCOL_F_REPLY_ACK))

#define VMM_VHU_MAX_REGIONS     8
#define VMM_VHU_REGION_SIZE     32
#define VMM_VHU_MEM_SIZE        (8 + VMM_VHU_MAX_REGIONS * VMM_VHU_REGION_SIZE)
#define VMM_VHU_MAX_PAYLOAD     VMM_VHU_MEM_SIZE
#define VMM_VHU_ADDR_SIZE       40  /* struct vhost_vring_addr */
#define VMM_VHU_MAX_QUEUES      256 /* the vring index is 8 bits in KICK/CALL */
#define VMM_VHU_VRING_NOFD      (1ull << 8)
#define VMM_VHU_CONFIG_HDR_SIZE 12  /* offset, size, flags of struct vhost_user_config */
#define VMM_VHU_CONFIG_MAX      244 /* device config bytes per GET_CONFIG (within MAX_PAYLOAD) */
#define VMM_VHU_INFLIGHT_SIZE   24  /* struct VhostUserInflight, padded */

/* A memory region: guest-physical address, size, our virtual address,
 * offset of the region in the fd sent with it. */
struct vmm_vhu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vmm_vhu {
	int fd;
	int timeout_ms;
	uint64_t features;  /* GET_FEATURES */
	uint64_t protocol;  /* protocol features negotiated */
	uint32_t queue_num; /* GET_QUEUE_NUM; 0 without PROTOCOL_F_MQ */
	bool broken;
	char why[160];
};

/* Encode a request (header + payload) into buf: bytes written, or 0 if
 * cap is too small or size exceeds VMM_VHU_MAX_PAYLOAD. */
size_t vmm_vhu_encode(uint8_t *buf, size_t cap, uint32_t request, uint32_t flags,
		      const void *payload, uint32_t size);

/* Check the header of a reply to `request` whose payload must be
 * want_size bytes: 0, or -EPROTO with why filled. */
int vmm_vhu_check_reply(const uint8_t hdr[VMM_VHU_HDR_SIZE], uint32_t request, uint32_t want_size,
			char *why, size_t n);

/* What a reply carries, once checked. */
struct vmm_vhu_reply {
	uint64_t u64; /* GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM; REPLY_ACK status */
	uint32_t index, num; /* GET_VRING_BASE: the vring and its base */
};

/* Payload bytes of the reply to `request`: its own reply, or with ack
 * the REPLY_ACK of a request that has none (8 either way); 0 if no reply
 * is due. */
uint32_t vmm_vhu_reply_size(uint32_t request, bool ack);

/*
 * Check and decode one message from the backend, header and payload, len
 * bytes (nothing past them is read; bytes after the message are ignored),
 * as the reply to `request` (ack: its REPLY_ACK; index: the vring a
 * GET_VRING_BASE asked about): the header as vmm_vhu_check_reply(), then
 * the payload: GET_QUEUE_NUM 1..VMM_VHU_MAX_QUEUES, GET_VRING_BASE for that
 * vring with a 16-bit base, an ack of 0. 0 with *out filled; -EPROTO
 * (malformed, truncated, or not the answer due) or -EIO (the backend
 * refused through REPLY_ACK), with why for a person. No I/O: what the
 * frontend does with every reply, and what tests/fuzz/vmm feeds.
 */
int vmm_vhu_parse_reply(const uint8_t *msg, size_t len, uint32_t request, bool ack,
			unsigned int index, struct vmm_vhu_reply *out, char *why, size_t n);

/*
 * How this process's vhost-user frontends reach a backend's socket: by
 * default socket() and connect(). A sandboxed VM process, which may do
 * neither (host-shim/sandbox.c), passes a function that returns a
 * connected stream socket's fd, or -errno with err set. Process-wide; set
 * it before the first vmm_create().
 */
typedef int (*vmm_connect_fn)(void *opaque, const char *path, char *err, size_t errlen);
void vmm_set_connector(vmm_connect_fn fn, void *opaque);

/*
 * Connect to the backend listening on path and negotiate: GET_FEATURES;
 * with VHOST_USER_F_PROTOCOL_FEATURES, GET_PROTOCOL_FEATURES and
 * SET_PROTOCOL_FEATURES (MQ and REPLY_ACK, if offered) and, with MQ,
 * GET_QUEUE_NUM; SET_OWNER. 0, or -errno with err for a person: -ENOENT,
 * -ECONNREFUSED (nobody listens), -ENAMETOOLONG, -ETIMEDOUT, -EPROTO.
 */
int vmm_vhu_connect(const char *path, int timeout_ms, struct vmm_vhu **out, char *err,
		    size_t errlen);
/* The same over a connected stream socket, which it takes over. */
int vmm_vhu_open(int fd, int timeout_ms, struct vmm_vhu **out, char *err, size_t errlen);
/* The same, negotiating the protocol features in `protocol` (a mask of
 * VMM_VHU_PROTOCOL_F_*; MQ, REPLY_ACK and CONFIG are understood) that the
 * backend offers. */
int vmm_vhu_connect_proto(const char *path, int timeout_ms, uint64_t protocol, struct vmm_vhu **out,
			  char *err, size_t errlen);
int vmm_vhu_open_proto(int fd, int timeout_ms, uint64_t protocol, struct vmm_vhu **out, char *err,
		       size_t errlen);
void vmm_vhu_close(struct vmm_vhu *v); /* accepts NULL */

/* The requests. 0, or -errno: -EPIPE (gone), -ETIMEDOUT, -EPROTO (bad
 * reply), -EIO (the backend refused through REPLY_ACK), -EINVAL (bad
 * arguments; the connection stays usable). With REPLY_ACK negotiated
 * every request waits for its acknowledgement. */
int vmm_vhu_set_features(struct vmm_vhu *v, uint64_t features);
/* regions share one fd (guest RAM is one memfd), sent once per region. */
int vmm_vhu_set_mem_table(struct vmm_vhu *v, const struct vmm_vhu_region *r, unsigned int n,
			  int fd);
int vmm_vhu_set_vring_num(struct vmm_vhu *v, unsigned int index, unsigned int num);
int vmm_vhu_set_vring_addr(struct vmm_vhu *v, unsigned int index, uint64_t desc, uint64_t used,
			   uint64_t avail);
int vmm_vhu_set_vring_base(struct vmm_vhu *v, unsigned int index, unsigned int base);
int vmm_vhu_get_vring_base(struct vmm_vhu *v, unsigned int index, unsigned int *base);
int vmm_vhu_set_vring_kick(struct vmm_vhu *v, unsigned int index, int fd);
int vmm_vhu_set_vring_call(struct vmm_vhu *v, unsigned int index, int fd);
int vmm_vhu_set_vring_enable(struct vmm_vhu *v, unsigned int index, bool enable);

/*
 * GET_CONFIG (needs PROTOCOL_F_CONFIG negotiated, else -ENOTSUP): len
 * bytes (1..VMM_VHU_CONFIG_MAX) of the device configuration space from
 * offset off into buf. The reply is checked by
 * vmm_vhu_parse_config_reply(). 0 or -errno as the requests above.
 */
int vmm_vhu_get_config(struct vmm_vhu *v, uint32_t off, uint8_t *buf, uint32_t len);
/*
 * The inflight area ("Inflight I/O tracking"): shared memory the backend
 * keeps its in-flight descriptors in, which the frontend holds across
 * backend restarts and hands to the next backend, so that it completes
 * what the old one had taken. Needs PROTOCOL_F_INFLIGHT_SHMFD (else
 * -ENOTSUP).
 */
struct vmm_vhu_inflight {
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
	int fd; /* -1: none */
};
/* GET_INFLIGHT_FD for num_queues queues of queue_size entries: *inf
 * filled with the backend's area (its fd, one, is ours to close). The
 * reply must carry exactly one fd and a non-zero mmap_size under 1 GiB. */
int vmm_vhu_get_inflight_fd(struct vmm_vhu *v, uint16_t num_queues, uint16_t queue_size,
			    struct vmm_vhu_inflight *inf);
/* SET_INFLIGHT_FD: hand the area to a (new) backend, before the rings. */
int vmm_vhu_set_inflight_fd(struct vmm_vhu *v, const struct vmm_vhu_inflight *inf);
/* Check and decode a GET_INFLIGHT_FD reply of mlen bytes (header and
 * payload; nfds came with it): 0 with *inf filled (fd left -1), or -EPROTO
 * with why. No I/O. */
int vmm_vhu_parse_inflight_reply(const uint8_t *msg, size_t mlen, unsigned int nfds,
				 struct vmm_vhu_inflight *inf, char *why, size_t n);

/* Check and decode a GET_CONFIG reply, msg of mlen bytes, to a request
 * for len bytes at off: the header (reply flag, request, payload of
 * exactly 12 + len bytes), the offset and size echoed; the bytes go to
 * buf. 0, or -EPROTO with why. No I/O (unit tests and fuzzing). */
int vmm_vhu_parse_config_reply(const uint8_t *msg, size_t mlen, uint32_t off, uint32_t len,
			       uint8_t *buf, char *why, size_t n);

#endif
