/* SPDX-License-Identifier: MIT */
/* Unit: outbox.c (what waits for the agent: order, bounds, drops). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shim.h"

static void
push_report(struct shim_outbox *ob, const char *vm, Nicvisor__V1__VmState state)
{
	struct shim_report r = { .state = state };

	snprintf(r.vm_id, sizeof(r.vm_id), "%s", vm);
	shim_outbox_push_report(ob, &r);
}

/* Pop the head as if the agent took it. */
static struct shim_out
pop(struct shim_outbox *ob)
{
	struct shim_out *e = shim_outbox_peek(ob), copy;

	assert_non_null(e);
	copy = *e;
	copy.data = NULL;
	shim_outbox_done(ob, e->id, true);
	return copy;
}

static void
order_and_merge(void **state)
{
	struct shim_outbox ob;
	struct shim_out e;

	(void)state;
	shim_outbox_init(&ob, 1 << 20, 64);
	push_report(&ob, "a", NICVISOR__V1__VM_STATE__VM_STATE_STARTING);
	shim_outbox_push_console(&ob, "a", 0, (const uint8_t *)"hel", 3);
	shim_outbox_push_console(&ob, "a", 3, (const uint8_t *)"lo", 2); /* merged */
	shim_outbox_push_console(&ob, "b", 0, (const uint8_t *)"x", 1);
	shim_outbox_push_console(&ob, "a", 9, (const uint8_t *)"y", 1); /* not contiguous */
	push_report(&ob, "a", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING);
	assert_int_equal(ob.entries, 5);

	e = pop(&ob);
	assert_int_equal(e.kind, SHIM_OUT_REPORT);
	assert_int_equal(e.rep.state, NICVISOR__V1__VM_STATE__VM_STATE_STARTING);
	e = *shim_outbox_peek(&ob);
	assert_int_equal(e.kind, SHIM_OUT_CONSOLE);
	assert_int_equal(e.len, 5);
	assert_memory_equal(e.data, "hello", 5);
	/* Not delivered (agent away): the same entry comes again, and
	 * nothing merges into an entry in flight. */
	shim_outbox_done(&ob, e.id, false);
	assert_int_equal(shim_outbox_peek(&ob)->id, e.id);
	shim_outbox_push_console(&ob, "c", 0, (const uint8_t *)"z", 1);
	shim_outbox_done(&ob, e.id, true);
	e = pop(&ob);
	assert_string_equal(e.rep.vm_id, "b");
	e = pop(&ob);
	assert_int_equal(e.offset, 9);
	e = pop(&ob);
	assert_int_equal(e.rep.state, NICVISOR__V1__VM_STATE__VM_STATE_RUNNING);
	e = pop(&ob);
	assert_string_equal(e.rep.vm_id, "c");
	assert_null(shim_outbox_peek(&ob));
	assert_int_equal(ob.st.delivered, 6);
	assert_int_equal(ob.bytes, 0);
	shim_outbox_fini(&ob);
}

/* Agent away: console beyond the bound is dropped oldest first and
 * counted; reports survive while there is console to drop. */
static void
bounded_while_away(void **state)
{
	struct shim_outbox ob;
	uint8_t chunk[100];
	uint64_t off = 0;
	struct shim_out e;
	unsigned int reports = 0;

	(void)state;
	memset(chunk, 'c', sizeof(chunk));
	shim_outbox_init(&ob, 1000, 16);
	push_report(&ob, "a", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING);
	for (int i = 0; i < 50; i++) {
		/* Alternate VMs so that nothing merges. */
		shim_outbox_push_console(&ob, i % 2 ? "b" : "a", off, chunk, sizeof(chunk));
		if (i % 2)
			off += sizeof(chunk);
	}
	push_report(&ob, "a", NICVISOR__V1__VM_STATE__VM_STATE_STOPPED);
	assert_true(ob.bytes <= 1000);
	assert_true(ob.entries <= 16);
	assert_int_equal(ob.st.dropped_reports, 0);
	assert_int_equal(ob.st.dropped_console_bytes + ob.bytes, 50 * sizeof(chunk));

	/* What is left comes out in order: offsets of each VM only grow. */
	uint64_t last_a = 0, last_b = 0;
	while (shim_outbox_peek(&ob) != NULL) {
		e = pop(&ob);
		if (e.kind == SHIM_OUT_REPORT) {
			reports++;
			continue;
		}
		uint64_t *last = e.rep.vm_id[0] == 'a' ? &last_a : &last_b;
		assert_true(e.offset >= *last);
		*last = e.offset;
	}
	assert_int_equal(reports, 2);
	shim_outbox_fini(&ob);
}

static void
reports_only_overflow(void **state)
{
	struct shim_outbox ob;

	(void)state;
	shim_outbox_init(&ob, 1000, 4);
	for (int i = 0; i < 10; i++)
		push_report(&ob, "a", (Nicvisor__V1__VmState)(i % 6 + 1));
	assert_int_equal(ob.entries, 4);
	assert_int_equal(ob.st.dropped_reports, 6);
	/* The newest ones stay. */
	assert_int_equal(pop(&ob).rep.state, 6 % 6 + 1); /* i = 6 */
	shim_outbox_fini(&ob);
}

static void
in_flight_is_kept(void **state)
{
	struct shim_outbox ob;
	uint8_t big[600];
	struct shim_out *head;

	(void)state;
	memset(big, 'x', sizeof(big));
	shim_outbox_init(&ob, 1000, 8);
	shim_outbox_push_console(&ob, "a", 0, big, sizeof(big));
	head = shim_outbox_peek(&ob);
	shim_outbox_push_console(&ob, "b", 0, big, sizeof(big));
	/* The head is on the wire: it stays, over the bound for a moment. */
	assert_int_equal(shim_outbox_peek(&ob)->id, head->id);
	assert_int_equal(ob.entries, 2);
	shim_outbox_done(&ob, head->id, true);
	shim_outbox_push_console(&ob, "c", 0, big, sizeof(big));
	assert_int_equal(ob.entries, 1);
	assert_int_equal(ob.st.dropped_console_bytes, 600);
	/* A chunk bigger than the whole bound keeps its newest bytes. */
	uint8_t huge[1500];
	for (size_t i = 0; i < sizeof(huge); i++)
		huge[i] = (uint8_t)i;
	shim_outbox_push_console(&ob, "d", 100, huge, sizeof(huge));
	head = shim_outbox_peek(&ob);
	assert_string_equal(head->rep.vm_id, "d");
	assert_int_equal(head->offset, 600);
	assert_int_equal(head->len, 1000);
	assert_int_equal(head->data[0], (uint8_t)500);
	shim_outbox_fini(&ob);
}

static void
forget_and_supersede(void **state)
{
	struct shim_outbox ob;

	(void)state;
	shim_outbox_init(&ob, 1000, 16);
	push_report(&ob, "a", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING);
	shim_outbox_push_console(&ob, "a", 0, (const uint8_t *)"aa", 2);
	push_report(&ob, "b", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING);
	shim_outbox_push_console(&ob, "b", 0, (const uint8_t *)"bb", 2);
	shim_outbox_drop_vm(&ob, "a");
	assert_int_equal(ob.entries, 2);
	/* A Hello carries every VM's state: queued reports are superseded,
	 * console bytes are not. */
	shim_outbox_drop_reports(&ob);
	assert_int_equal(ob.entries, 1);
	assert_int_equal(ob.st.superseded, 1);
	assert_int_equal(shim_outbox_peek(&ob)->kind, SHIM_OUT_CONSOLE);
	shim_outbox_fini(&ob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(order_and_merge),       cmocka_unit_test(bounded_while_away),
		cmocka_unit_test(reports_only_overflow), cmocka_unit_test(in_flight_is_kept),
		cmocka_unit_test(forget_and_supersede),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
