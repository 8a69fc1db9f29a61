/* SPDX-License-Identifier: MIT */
/* Reports and console bytes waiting for the agent, in order, bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* A merged console entry stays below this, so that it fits one request. */
#define MERGE_MAX (256 * 1024)

void
shim_outbox_init(struct shim_outbox *ob, size_t max_bytes, size_t max_entries)
{
	memset(ob, 0, sizeof(*ob));
	ob->max_bytes = max_bytes;
	ob->max_entries = max_entries < 2 ? 2 : max_entries;
	ob->next_id = 1;
}

static void
unlink_entry(struct shim_outbox *ob, struct shim_out *prev, struct shim_out *e)
{
	if (prev != NULL)
		prev->next = e->next;
	else
		ob->head = e->next;
	if (ob->tail == e)
		ob->tail = prev;
	ob->bytes -= e->len;
	ob->entries--;
	free(e->data);
	free(e);
}

void
shim_outbox_fini(struct shim_outbox *ob)
{
	while (ob->head != NULL)
		unlink_entry(ob, NULL, ob->head);
}

/* Drop the oldest entry of `kind` not in flight; false if there is none. */
static bool
evict_oldest(struct shim_outbox *ob, enum shim_out_kind kind)
{
	struct shim_out *prev = NULL;

	for (struct shim_out *e = ob->head; e != NULL; prev = e, e = e->next) {
		if (e->kind != kind || e->in_flight)
			continue;
		if (kind == SHIM_OUT_CONSOLE)
			ob->st.dropped_console_bytes += e->len;
		else
			ob->st.dropped_reports++;
		unlink_entry(ob, prev, e);
		return true;
	}
	return false;
}

/* Make room for one more entry of `len` bytes. */
static void
make_room(struct shim_outbox *ob, size_t len)
{
	while (ob->entries + 1 > ob->max_entries || ob->bytes + len > ob->max_bytes) {
		if (evict_oldest(ob, SHIM_OUT_CONSOLE))
			continue;
		if (ob->entries + 1 > ob->max_entries && evict_oldest(ob, SHIM_OUT_REPORT))
			continue;
		break; /* only in-flight entries left: go over for a moment */
	}
}

static struct shim_out *
append(struct shim_outbox *ob, enum shim_out_kind kind, const char *vm_id)
{
	struct shim_out *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->id = ob->next_id++;
	e->kind = kind;
	snprintf(e->rep.vm_id, sizeof(e->rep.vm_id), "%s", vm_id);
	if (ob->tail != NULL)
		ob->tail->next = e;
	else
		ob->head = e;
	ob->tail = e;
	ob->entries++;
	ob->st.queued++;
	return e;
}

void
shim_outbox_push_report(struct shim_outbox *ob, const struct shim_report *r)
{
	struct shim_out *e;

	make_room(ob, 0);
	e = append(ob, SHIM_OUT_REPORT, r->vm_id);
	if (e == NULL) {
		ob->st.dropped_reports++;
		return;
	}
	e->rep = *r;
}

void
shim_outbox_push_console(struct shim_outbox *ob, const char *vm_id, uint64_t offset,
			 const uint8_t *data, size_t len)
{
	struct shim_out *t = ob->tail;
	struct shim_out *e;
	uint8_t *d;

	if (len == 0)
		return;
	if (len > ob->max_bytes) { /* keep the newest bytes that fit */
		ob->st.dropped_console_bytes += len - ob->max_bytes;
		offset += len - ob->max_bytes;
		data += len - ob->max_bytes;
		len = ob->max_bytes;
	}
	if (t != NULL && t->kind == SHIM_OUT_CONSOLE && !t->in_flight &&
	    strcmp(t->rep.vm_id, vm_id) == 0 && t->offset + t->len == offset &&
	    t->len + len <= MERGE_MAX && ob->bytes + len <= ob->max_bytes) {
		d = realloc(t->data, t->len + len);

		if (d != NULL) {
			memcpy(d + t->len, data, len);
			t->data = d;
			t->len += len;
			ob->bytes += len;
			return;
		}
	}
	d = malloc(len);
	if (d == NULL) {
		ob->st.dropped_console_bytes += len;
		return;
	}
	make_room(ob, len);
	e = append(ob, SHIM_OUT_CONSOLE, vm_id);
	if (e == NULL) {
		free(d);
		ob->st.dropped_console_bytes += len;
		return;
	}
	e->data = d;
	memcpy(e->data, data, len);
	e->offset = offset;
	e->len = len;
	ob->bytes += len;
}

struct shim_out *
shim_outbox_peek(struct shim_outbox *ob)
{
	if (ob->head != NULL)
		ob->head->in_flight = true;
	return ob->head;
}

void
shim_outbox_done(struct shim_outbox *ob, uint64_t id, bool delivered)
{
	struct shim_out *prev = NULL;

	for (struct shim_out *e = ob->head; e != NULL; prev = e, e = e->next) {
		if (e->id != id)
			continue;
		if (!delivered) {
			e->in_flight = false;
			return;
		}
		ob->st.delivered++;
		unlink_entry(ob, prev, e);
		return;
	}
}

static void
drop_matching(struct shim_outbox *ob, const char *vm_id, bool reports_only)
{
	struct shim_out *prev = NULL, *e = ob->head;

	while (e != NULL) {
		struct shim_out *next = e->next;
		bool match = vm_id ? strcmp(e->rep.vm_id, vm_id) == 0 : true;

		if (match && (!reports_only || e->kind == SHIM_OUT_REPORT)) {
			if (reports_only)
				ob->st.superseded++;
			unlink_entry(ob, prev, e);
		} else {
			prev = e;
		}
		e = next;
	}
}

void
shim_outbox_drop_vm(struct shim_outbox *ob, const char *vm_id)
{
	drop_matching(ob, vm_id, false);
}

void
shim_outbox_drop_reports(struct shim_outbox *ob)
{
	drop_matching(ob, NULL, true);
}
