/* SPDX-License-Identifier: MIT */
#include "page_token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
dpu_page_token_encode(const char *kind, const char *key, char *out, size_t out_size)
{
	size_t klen = strlen(key);
	int n;

	if (klen == 0 || klen > DPU_PAGE_KEY_MAX)
		return -ENAMETOOLONG;
	n = snprintf(out, out_size, "%s1.", kind);
	if (n < 0 || (size_t)n + 2 * klen + 1 > out_size)
		return -ENOSPC;
	for (size_t i = 0; i < klen; i++) {
		out[n++] = hexdig[(unsigned char)key[i] >> 4];
		out[n++] = hexdig[(unsigned char)key[i] & 15];
	}
	out[n] = 0;
	return 0;
}

int
dpu_page_token_decode(const char *kind, const char *token, char *key, size_t key_size)
{
	size_t kl = strlen(kind), tl = strlen(token), hl, n;
	const char *hex;

	if (tl < kl + 2 || strncmp(token, kind, kl) != 0 || token[kl] != '1' ||
	    token[kl + 1] != '.')
		return -EINVAL;
	hex = token + kl + 2;
	hl = tl - kl - 2;
	n = hl / 2;
	if (hl == 0 || hl % 2 != 0 || n > DPU_PAGE_KEY_MAX || n + 1 > key_size)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		key[i] = (char)(hi << 4 | lo);
	}
	key[n] = 0;
	return 0;
}
