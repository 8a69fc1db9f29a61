/* SPDX-License-Identifier: MIT */
/*
 * Page tokens of the List calls. Lists are ordered by a unique key (VM
 * name, host id); a token names the last key of the previous page and
 * which list it belongs to, so a page after a deletion or an insertion
 * still continues where the last one ended. Format: "<kind>1.<hex of key>".
 * Opaque to clients; anything else is refused. Pure functions.
 */
#ifndef DPU_PAGE_TOKEN_H
#define DPU_PAGE_TOKEN_H

#include <stddef.h>

#define DPU_PAGE_KEY_MAX   64 /* key bytes */
#define DPU_PAGE_TOKEN_MAX (8 + 2 * DPU_PAGE_KEY_MAX + 1)

/* kind: a short lower-case word ("vms", "hosts"). -ENAMETOOLONG if key is
 * longer than DPU_PAGE_KEY_MAX. */
int dpu_page_token_encode(const char *kind, const char *key, char *out, size_t out_size);
/* 0 and the key in key (NUL-terminated), or -EINVAL for a token that this
 * function did not produce for kind. */
int dpu_page_token_decode(const char *kind, const char *token, char *key, size_t key_size);

#endif
