/* SPDX-License-Identifier: MIT */
/*
 * A scripted vhost-user backend for unit tests: a thread that answers the
 * frontend on a connected socket (or on each connection accepted from a
 * listening one, in turn), records every request it reads (code, flags,
 * payload, how many fds came and whether they were open), and answers one
 * request badly when told to. GET_CONFIG is answered from `config` (bad:
 * BAD_SIZE echoes a wrong size, BAD_INDEX a wrong offset, BAD_WRONG_REQUEST
 * and BAD_CLOSE as for the others).
 */
#ifndef TEST_VHU_BACKEND_H
#define TEST_VHU_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

#define MAX_SEEN      256
#define FEATURES      ((1ull << 32) | (1ull << 30) | (1ull << 15) | (1ull << 0))
#define PROTO_OFFERED ((1ull << 0) | (1ull << 3) | (1ull << 9) | (1ull << 12))

enum bad {
	BAD_NONE,
	BAD_WRONG_REQUEST,
	BAD_NO_REPLY_FLAG,
	BAD_VERSION,
	BAD_SIZE,
	BAD_WITH_FD,
	BAD_CLOSE,
	BAD_SILENT,
	BAD_ACK,
	BAD_INDEX,
	BAD_HUGE_SIZE,
	BAD_HALF,
};

struct seen {
	uint32_t request, flags, size;
	uint8_t payload[VMM_VHU_MAX_PAYLOAD];
	unsigned int nfds;
	bool fds_valid;
	unsigned int conn; /* which connection (listening mode), from 1 */
};

struct backend {
	int fd; /* the connection */
	int ls; /* listening socket, -1 for a socket pair */
	pthread_t th;
	bool protocol;     /* offers VHOST_USER_F_PROTOCOL_FEATURES */
	uint64_t features; /* 0: FEATURES (less bit 30 without protocol) */
	uint64_t queue_num;
	uint8_t config[VMM_VHU_CONFIG_MAX]; /* what GET_CONFIG answers */
	uint32_t bad_on;                    /* the request answered badly */
	enum bad bad;
	pthread_mutex_t lock; /* nseen, seen, conns */
	unsigned int nseen, conns;
	struct seen seen[MAX_SEEN];
	bool stop;
};

/* Thread body: serve b->fd until it closes (then, listening, accept the
 * next connection until b->stop and the listening socket is shut down). */
void *backend_main(void *arg);
/* Requests seen, under the lock, copied. */
unsigned int backend_seen(struct backend *b, struct seen *out, unsigned int max);

#endif
