/* SPDX-License-Identifier: MIT */
/* common/nv_wire.c: bounded decoding, framing of events, names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nv_wire.h"

static void
test_round_trip(void **state)
{
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT, *out;
	uint8_t *buf;
	size_t len;

	(void)state;
	st.code = NICVISOR__V1__CODE__CODE_NOT_FOUND;
	st.message = "vm web1: not found";
	st.field = "vm";
	assert_int_equal(nv_wire_pack_buf(&st.base, &buf, &len), 0);
	assert_int_equal(len, nicvisor__v1__status__get_packed_size(&st));
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__status__descriptor, buf, len,
					(ProtobufCMessage **)&out),
			 0);
	assert_int_equal(out->code, NICVISOR__V1__CODE__CODE_NOT_FOUND);
	assert_string_equal(out->message, "vm web1: not found");
	nv_wire_free(&out->base);
	free(buf);
	nv_wire_free(NULL);
	/* An empty buffer is a valid, empty message. */
	assert_int_equal(
		nv_wire_unpack(&nicvisor__v1__status__descriptor, "", 0, (ProtobufCMessage **)&out),
		0);
	assert_int_equal(out->code, 0);
	nv_wire_free(&out->base);
}

static void
test_oversized(void **state)
{
	uint8_t *big = calloc(1, NV_WIRE_MAX_MSG + 1);
	ProtobufCMessage *out = (ProtobufCMessage *)1;
	Nicvisor__V1__ConsoleChunk ch = NICVISOR__V1__CONSOLE_CHUNK__INIT;
	uint8_t *buf;
	size_t len;

	(void)state;
	/* Refused by size alone, before parsing. */
	assert_int_equal(
		nv_wire_unpack(&nicvisor__v1__status__descriptor, big, NV_WIRE_MAX_MSG + 1, &out),
		-EMSGSIZE);
	assert_null(out);
	/* Exactly at the limit, a valid message decodes. */
	ch.data.data = big;
	ch.data.len = NV_WIRE_MAX_MSG - 5; /* tag + 4-byte length */
	assert_int_equal(nv_wire_pack_buf(&ch.base, &buf, &len), 0);
	assert_int_equal(len, NV_WIRE_MAX_MSG);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__console_chunk__descriptor, buf, len, &out),
			 0);
	nv_wire_free(out);
	free(buf);
	/* The packer refuses what the decoder would. */
	ch.data.len = NV_WIRE_MAX_MSG;
	assert_int_equal(nv_wire_pack_buf(&ch.base, &buf, &len), -EMSGSIZE);
	assert_null(buf);
	free(big);
}

static void
test_malformed(void **state)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetVmRequest g = NICVISOR__V1__GET_VM_REQUEST__INIT;
	const uint8_t junk[][6] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* varint too long */
		{ 0x0a, 0x7f, 0x00, 0x00, 0x00, 0x00 }, /* length past the end */
		{ 0x07, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* wire type 7 */
		{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* field number 0 */
	};
	ProtobufCMessage *out;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(
			nv_wire_unpack(&nicvisor__v1__request__descriptor, junk[i], 6, &out),
			-EBADMSG);
	/* Every truncation of a valid message that cuts a field is refused. */
	r.version = 1;
	g.vm = "a-rather-long-vm-name";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
	r.get_vm = &g;
	assert_int_equal(nv_wire_pack_buf(&r.base, &buf, &len), 0);
	for (size_t cut = 3; cut < len; cut++)
		assert_int_equal(nv_wire_unpack(&nicvisor__v1__request__descriptor, buf, cut, &out),
				 -EBADMSG);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__request__descriptor, buf, len, &out), 0);
	nv_wire_free(out);
	free(buf);
}

/* n empty Vm entries (2 bytes each on the wire, ~120 bytes decoded). */
static uint8_t *
amplifier(size_t n)
{
	uint8_t *b = malloc(2 * n);

	for (size_t i = 0; i < n; i++) {
		b[2 * i] = 0x0a;
		b[2 * i + 1] = 0;
	}
	return b;
}

static void
test_decode_budget(void **state)
{
	ProtobufCMessage *out;
	uint8_t *b;
	int rc;

	(void)state;
	/* Few: well within 8 * len + 64 KiB. */
	b = amplifier(200);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__list_vms_response__descriptor, b, 400, &out),
			 0);
	assert_int_equal(((Nicvisor__V1__ListVmsResponse *)out)->n_vms, 200);
	nv_wire_free(out);
	free(b);
	/* Many: 100 KiB on the wire would need ~6 MiB; refused as over the
	 * budget, not as malformed. */
	b = amplifier(50000);
	rc = nv_wire_unpack(&nicvisor__v1__list_vms_response__descriptor, b, 100000, &out);
	assert_int_equal(rc, -ENOMEM);
	assert_null(out);
	free(b);
	/* The same bytes as one opaque field are fine: it is the
	 * amplification, not the size, that is refused. */
	{
		Nicvisor__V1__ConsoleChunk ch = NICVISOR__V1__CONSOLE_CHUNK__INIT;
		uint8_t *buf;
		size_t len;

		b = amplifier(50000);
		ch.data.data = b;
		ch.data.len = 100000;
		assert_int_equal(nv_wire_pack_buf(&ch.base, &buf, &len), 0);
		assert_int_equal(
			nv_wire_unpack(&nicvisor__v1__console_chunk__descriptor, buf, len, &out),
			0);
		nv_wire_free(out);
		free(buf);
		free(b);
	}
}

static void
test_status_and_names(void **state)
{
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT;
	struct nv_arena a = NV_ARENA_INIT;

	(void)state;
	nv_status_set(&st, &a, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED, "spec.vcpus",
		      "needs %d vCPUs, largest host has %d", 4, 2);
	assert_int_equal(st.code, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED);
	assert_string_equal(st.message, "needs 4 vCPUs, largest host has 2");
	assert_string_equal(st.field, "spec.vcpus");
	nv_status_set(&st, &a, NICVISOR__V1__CODE__CODE_OK, NULL, "%s", "");
	assert_string_equal(st.field, "");
	nv_arena_free(&a);
	assert_string_equal(nv_code_name(NICVISOR__V1__CODE__CODE_NOT_FOUND), "not_found");
	assert_string_equal(nv_code_name(NICVISOR__V1__CODE__CODE_OK), "ok");
	assert_string_equal(nv_code_name((Nicvisor__V1__Code)999), "unknown");
	assert_string_equal(nv_vm_state_name(NICVISOR__V1__VM_STATE__VM_STATE_RUNNING), "running");
	assert_string_equal(nv_exit_kind_name(NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF),
			    "poweroff");
	/* Names stay valid across a few later calls (a ring of four). */
	{
		const char *a1 = nv_vm_state_name(NICVISOR__V1__VM_STATE__VM_STATE_CREATED);
		const char *a2 = nv_vm_state_name(NICVISOR__V1__VM_STATE__VM_STATE_FAILED);

		assert_string_equal(a1, "created");
		assert_string_equal(a2, "failed");
	}
}

static void
test_event_split(void **state)
{
	const char msg[] = "vm/vm-0123456789abcdef/state\0\x08\x01";
	const uint8_t *payload;
	const char *topic;
	char big[NV_TOPIC_MAX + 10];
	size_t plen;

	(void)state;
	assert_int_equal(nv_wire_event_split(msg, sizeof(msg) - 1, &topic, &payload, &plen), 0);
	assert_string_equal(topic, "vm/vm-0123456789abcdef/state");
	assert_int_equal(plen, 2);
	assert_memory_equal(payload, "\x08\x01", 2);
	/* An empty payload is an empty Event. */
	assert_int_equal(nv_wire_event_split("host/h1", 8, &topic, &payload, &plen), 0);
	assert_int_equal(plen, 0);
	/* No NUL within NV_TOPIC_MAX bytes: refused. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(nv_wire_event_split(big, sizeof(big), &topic, &payload, &plen), -EBADMSG);
	assert_int_equal(nv_wire_event_split("abc", 3, &topic, &payload, &plen), -EBADMSG);
	assert_int_equal(nv_wire_event_split("", 0, &topic, &payload, &plen), -EBADMSG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_malformed),        cmocka_unit_test(test_decode_budget),
		cmocka_unit_test(test_status_and_names), cmocka_unit_test(test_event_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
