/* SPDX-License-Identifier: MIT */
/* dpu/page_token.c */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "page_token.h"

static void
test_round_trip(void **state)
{
	const char *keys[] = { "a", "web1", "0.a_b-c", "h",
			       "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" };
	char tok[DPU_PAGE_TOKEN_MAX], key[DPU_PAGE_KEY_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(dpu_page_token_encode("vms", keys[i], tok, sizeof(tok)), 0);
		assert_int_equal(strncmp(tok, "vms1.", 5), 0);
		assert_int_equal(dpu_page_token_decode("vms", tok, key, sizeof(key)), 0);
		assert_string_equal(key, keys[i]);
	}
	assert_int_equal(dpu_page_token_encode("vms", "web1", tok, sizeof(tok)), 0);
	assert_string_equal(tok, "vms1.77656231");
}

static void
test_refused(void **state)
{
	char tok[DPU_PAGE_TOKEN_MAX], key[DPU_PAGE_KEY_MAX + 1], longkey[DPU_PAGE_KEY_MAX + 2];
	const char *bad[] = {
		"",        "vms",     "vms1",      "vms1.",     "vms2.61",  "vms1.6",
		"vms1.6g", "vms1.6A", "vms1.0061", "hosts1.61", "vms1.61 ", "xvms1.61",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dpu_page_token_decode("vms", bad[i], key, sizeof(key)) != -EINVAL)
			fail_msg("token '%s' accepted", bad[i]);
	/* A token of one list is no token of another. */
	assert_int_equal(dpu_page_token_encode("hosts", "h1", tok, sizeof(tok)), 0);
	assert_int_equal(dpu_page_token_decode("vms", tok, key, sizeof(key)), -EINVAL);
	assert_int_equal(dpu_page_token_decode("hosts", tok, key, sizeof(key)), 0);
	/* Keys are bounded both ways. */
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = 0;
	assert_int_equal(dpu_page_token_encode("vms", longkey, tok, sizeof(tok)), -ENAMETOOLONG);
	assert_int_equal(dpu_page_token_encode("vms", "", tok, sizeof(tok)), -ENAMETOOLONG);
	assert_int_equal(dpu_page_token_encode("vms", "abc", tok, 8), -ENOSPC);
	assert_int_equal(dpu_page_token_encode("vms", "abc", tok, sizeof(tok)), 0);
	assert_int_equal(dpu_page_token_decode("vms", tok, key, 3), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
