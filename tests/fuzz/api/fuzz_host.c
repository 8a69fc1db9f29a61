/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one southbound HostRequest (any bytes) into a fresh
 * in-process agent that has host h1 connected (session predictable, see
 * fuzz_agent.h) and VM web1 launching on it. Every request is answered
 * exactly once (now, or at the heartbeat for a held Poll), with a
 * HostResponse that packs.
 */
#include "fuzz_agent.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counted {
	struct dpu_reply base;
	int answers;
	int abandons;
};

static void
counted_send(struct dpu_reply *r, const Nicvisor__V1__HostResponse *rep)
{
	struct counted *c = (struct counted *)r;
	uint8_t *buf;
	size_t len;

	c->answers++;
	if (rep->status == NULL || rep->version != NV_PROTOCOL_VERSION)
		abort();
	if (nv_wire_pack_buf(&rep->base, &buf, &len) < 0)
		abort();
	free(buf);
}

static void
counted_abandon(struct dpu_reply *r)
{
	((struct counted *)r)->abandons++;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_agent_init();
	atexit(fuzz_agent_cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct counted c = { { counted_send, counted_abandon }, 0, 0 };
	struct dpu_agent *a = fuzz_agent_open(true);

	dpu_agent_host(a, data, size, &c.base);
	if (c.answers == 0) {
		/* Only a Poll is held, and the heartbeat answers it. */
		fuzz_clock_now += 1000;
		dpu_agent_tick(a);
	}
	if (c.answers != 1 || c.abandons != 0)
		abort();
	fuzz_agent_close(a);
	return 0;
}
