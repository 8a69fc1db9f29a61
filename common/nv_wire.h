/* SPDX-License-Identifier: MIT */
/*
 * nv_wire: protobuf-c messages in and out of nng messages, for every
 * nicvisor channel (northbound API, events, southbound host channel, the
 * shim's per-VM children).
 *
 * Decoding is bounded: a message larger than NV_WIRE_MAX_MSG is refused
 * before it is parsed, and the decoder may allocate at most
 * NV_WIRE_DECODE_BUDGET(len) bytes, so a small message cannot make the
 * receiver allocate without limit. Every failure is a negative errno; no
 * input crashes the caller.
 */
#ifndef NV_WIRE_H
#define NV_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "nicvisor/v1/types.pb-c.h"
#include "nv_arena.h"

/* Envelope version of nicvisor.v1 (see proto/nicvisor/v1/types.proto). */
#define NV_PROTOCOL_VERSION 1u

/* Largest message any nicvisor endpoint sends or accepts. */
#define NV_WIRE_MAX_MSG (4u << 20)
/* Artifact chunks are at most this big (ReadArtifact.length). */
#define NV_WIRE_MAX_CHUNK (1u << 20)
/* Heap a decoder may use for a message of len bytes. */
#define NV_WIRE_DECODE_BUDGET(len) (8 * (size_t)(len) + 65536)

/*
 * Decode buf as a message of type desc. 0 and *out set, or -EMSGSIZE (too
 * big), -EBADMSG (malformed), -ENOMEM (over the decode budget). Free *out
 * with nv_wire_free().
 */
int nv_wire_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
		   ProtobufCMessage **out);
void nv_wire_free(ProtobufCMessage *msg); /* accepts NULL */

/* Serialize msg into a new heap buffer; 0 or -EMSGSIZE/-ENOMEM. */
int nv_wire_pack_buf(const ProtobufCMessage *msg, uint8_t **buf, size_t *len);

/* Status helpers: fill a Status with strings from arena a. */
void nv_status_set(Nicvisor__V1__Status *st, struct nv_arena *a, Nicvisor__V1__Code code,
		   const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "CODE_NOT_FOUND" -> "not-found"-style short name for people. */
const char *nv_code_name(Nicvisor__V1__Code code);
const char *nv_vm_state_name(Nicvisor__V1__VmState state);  /* "running" */
const char *nv_exit_kind_name(Nicvisor__V1__ExitKind kind); /* "poweroff" */

/*
 * Events on pub/sub: topic bytes, one NUL, then the packed Event. A
 * subscriber filters by prefix: "vm/" for every VM event, "vm/<id>/" for
 * one VM, "vm/<id>/console" for one VM's console.
 */
#define NV_TOPIC_MAX 96
int nv_wire_event_split(const void *buf, size_t len, const char **topic, const uint8_t **payload,
			size_t *payload_len);

#endif
