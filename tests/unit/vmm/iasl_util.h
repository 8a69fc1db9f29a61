/* SPDX-License-Identifier: MIT */
/*
 * Run the ACPICA disassembler (iasl, Debian's acpica-tools) on a table, as
 * an independent decoder of what the ACPI code generates.
 */
#ifndef TEST_IASL_UTIL_H
#define TEST_IASL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iasl_result {
	char *log;    /* what iasl printed */
	char *dsl;    /* the disassembly */
	uint8_t *aml; /* recompiled with optimisations off (if asked), else NULL */
	size_t aml_len;
};

/* Whether iasl is on PATH. */
bool iasl_available(void);

/* Disassemble one table; with recompile, compile the result again with
 * `iasl -oa`. 0, or -1 if iasl failed to run or produced no output. */
int iasl_run(const uint8_t *table, size_t len, bool recompile, struct iasl_result *r);
void iasl_result_free(struct iasl_result *r);

/* Whether iasl complained: "error", "warning" or "incorrect" anywhere in
 * its output or in the disassembly, case-insensitively. */
bool iasl_complained(const struct iasl_result *r);

/* Occurrences of needle in hay. */
unsigned int count_substr(const char *hay, const char *needle);

#endif
