/* SPDX-License-Identifier: MIT */
/*
 * Owned deep copies of protobuf-c messages, for state the agent keeps
 * beyond one request (a VM's spec, a host's capabilities, queued
 * commands): the message is packed and unpacked again with the default
 * allocator. Thread safe.
 */
#ifndef DPU_PB_UTIL_H
#define DPU_PB_UTIL_H

#include <protobuf-c/protobuf-c.h>

#include "nv_arena.h"

/* A deep copy of msg, or NULL if msg is NULL or memory is short. */
void *dpu_pb_dup(const ProtobufCMessage *msg);
/* A deep copy whose every part lives in arena a (freed with it). */
void *dpu_pb_dup_arena(const ProtobufCMessage *msg, struct nv_arena *a);
/* Free a copy from dpu_pb_dup(); accepts NULL. */
void dpu_pb_free(void *msg);

#endif
