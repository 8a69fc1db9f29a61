/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what the NBD client (dataplane/nbd.c) makes of a
 * server. Byte 0 picks the requests submitted after the handshake (bit 0
 * a 4 KiB read at 0, bit 1 a 512-byte write at 4096 in two segments, bit 2
 * a flush, bit 3 a trim, bit 4 write zeroes, bit 5 a second read at 0; in
 * that order, so they take slots 0, 1, ... and their wire cookies are
 * 1 << 32 | slot). The rest is everything the server ever sends, queued on
 * a socket pair whose server end then shuts down: the handshake (greeting,
 * option replies) and the replies. Nothing blocks: the data is there or
 * the peer is gone. Checked: the handshake succeeds or fails with an error
 * the header names; every submitted request completes exactly once, with
 * 0 only if the server's reply said so; the connection ends dead (no
 * reconnect without an address), with nothing in flight. The same bytes
 * also go through nbd_uri_parse().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static unsigned int completions[8];
static int statuses[8];

static void
on_complete(void *arg, uint64_t cookie, int status)
{
	(void)arg;
	check(cookie < 8);
	completions[cookie]++;
	statuses[cookie] = status;
}

static void
fuzz_uri(const uint8_t *data, size_t size)
{
	static struct nbd_uri u;
	char s[600];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	if (nbd_uri_parse(s, &u) == 0) {
		check(u.is_unix ? u.socket_path[0] != '\0' : u.host[0] != '\0' && u.port != 0);
		check(strlen(u.export_name) <= NBD_MAX_NAME);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rd[2][4096], wr[512];
	struct nbd_conf conf = {
		.connect_timeout_ms = 2000,
		.max_inflight = 8,
		.complete = on_complete,
	};
	struct nbd_conn *conn = NULL;
	unsigned int nsub = 0;
	int sv[2], rc;
	uint8_t pick;

	fuzz_uri(data, size);
	if (size < 1)
		return 0;
	pick = data[0];
	data++;
	size--;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	if (size > 0)
		(void)!write(sv[1], data, size); /* what does not fit is cut off */
	shutdown(sv[1], SHUT_WR);

	rc = nbd_connect_fd(sv[0], &conf, &conn);
	if (rc < 0) {
		check(conn == NULL);
		check(rc == -EPROTO || rc == -ECONNRESET || rc == -ENOENT || rc == -EACCES ||
		      rc == -ENOTSUP);
		close(sv[1]);
		return 0;
	}
	const struct nbd_info *in = nbd_get_info(conn);

	check(in->min_block >= 1 && in->min_block <= 65536 && in->max_payload >= in->min_block);
	memset(completions, 0, sizeof(completions));
	struct iovec wiov[2] = { { wr, 100 }, { wr + 100, 412 } },
		     riov[2] = { { rd[0], 4096 }, { rd[1], 4096 } };
	struct {
		enum nbd_op op;
		uint64_t off;
		uint32_t len;
		struct iovec *iov;
		int iovcnt;
	} reqs[] = {
		{ NBD_OP_READ, 0, 4096, &riov[0], 1 },     { NBD_OP_WRITE, 4096, 512, wiov, 2 },
		{ NBD_OP_FLUSH, 0, 0, NULL, 0 },           { NBD_OP_TRIM, 0, 4096, NULL, 0 },
		{ NBD_OP_WRITE_ZEROES, 0, 4096, NULL, 0 }, { NBD_OP_READ, 0, 4096, &riov[1], 1 },
	};
	for (unsigned int i = 0; i < 6; i++) {
		if (!(pick & (1u << i)))
			continue;
		rc = nbd_submit(conn, reqs[i].op, reqs[i].off, reqs[i].len, reqs[i].iov,
				reqs[i].iovcnt, nsub);
		check(rc == 0 || rc == -EINVAL || rc == -EROFS || rc == -ENOTSUP);
		if (rc == 0)
			nsub++;
	}
	check(nbd_inflight(conn) == nsub);
	/* The server's bytes end in EOF: the connection dies within a few
	 * rounds, completing everything. */
	for (int i = 0; i < 64 && nbd_process(conn) >= 0; i++)
		;
	check(nbd_process(conn) == -ENOTCONN);
	check(nbd_fd(conn) == -1);
	check(nbd_inflight(conn) == 0);
	for (unsigned int i = 0; i < nsub; i++)
		check(completions[i] == 1);
	for (unsigned int i = nsub; i < 8; i++)
		check(completions[i] == 0);
	nbd_close(conn);
	for (unsigned int i = 0; i < 8; i++)
		check(completions[i] <= 1);
	close(sv[1]);
	return 0;
}
