/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one northbound Request (any bytes) through decode,
 * validation and dispatch into a fresh in-process agent with no hosts and
 * the fake dataplane. The agent must answer with a typed Response that
 * packs, and keep serving: a GetVm afterwards still works, and its NICs,
 * networks and the dataplane's ports still agree.
 */
#include "fuzz_agent.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetVmRequest get = NICVISOR__V1__GET_VM_REQUEST__INIT;
	struct dpu_agent *a = fuzz_agent_open(false);
	struct nv_arena ar = NV_ARENA_INIT;
	Nicvisor__V1__Response rep;
	uint8_t *buf;
	size_t len;

	dpu_agent_api(a, data, size, &ar, &rep);
	if (rep.status == NULL || rep.version != NV_PROTOCOL_VERSION)
		abort();
	/* An error carries no result; a result comes with CODE_OK. */
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK &&
	    rep.result_case != NICVISOR__V1__RESPONSE__RESULT__NOT_SET)
		abort();
	if (nv_wire_pack_buf(&rep.base, &buf, &len) < 0)
		abort();
	free(buf);

	/* Still serving, and web1 is there unless the input deleted it. */
	get.vm = "web1";
	req.version = NV_PROTOCOL_VERSION;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
	req.get_vm = &get;
	fuzz_call_api(a, &req.base, &rep, &ar);
	if (rep.status->code != NICVISOR__V1__CODE__CODE_OK &&
	    rep.status->code != NICVISOR__V1__CODE__CODE_NOT_FOUND)
		abort();
	/* Every port the agent knows is one the dataplane has, and the other
	 * way round: a VM's NICs and their ports stay together. */
	{
		Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
		struct dpu_agent_stats st;
		size_t nets, ports, uplinks;

		ps.vm = "";
		req.op_case = NICVISOR__V1__REQUEST__OP_GET_PORT_STATS;
		req.get_port_stats = &ps;
		fuzz_call_api(a, &req.base, &rep, &ar);
		dpu_agent_get_stats(a, &st);
		dpu_net_fake_counts(fuzz_net, &nets, &ports, &uplinks);
		if (rep.status->code != NICVISOR__V1__CODE__CODE_OK ||
		    rep.port_stats->n_ports != ports || ports != st.nics || nets != st.networks)
			abort();
	}
	nv_arena_free(&ar);
	dpu_agent_tick(a);
	fuzz_agent_close(a);
	return 0;
}
