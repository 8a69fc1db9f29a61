/* SPDX-License-Identifier: MIT */
#include "iasl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool
iasl_available(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

static void *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf != NULL && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL && len != NULL)
		*len = (size_t)st.st_size;
	return buf;
}

int
iasl_run(const uint8_t *table, size_t len, bool recompile, struct iasl_result *r)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600], cmd[1400];
	FILE *f;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	snprintf(dir, sizeof(dir), "%s/nv-iasl-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.dat", dir);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(table, 1, len, f) != len) {
		if (f != NULL)
			fclose(f);
		goto out_rm;
	}
	fclose(f);
	/* mkdtemp names are [A-Za-z0-9/_.-]; quoting keeps the rest literal. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d t.dat >d.log 2>&1", dir);
	if (system(cmd) != 0)
		goto out_rm;
	snprintf(path, sizeof(path), "%s/d.log", dir);
	r->log = slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/t.dsl", dir);
	r->dsl = slurp(path, NULL);
	if (r->log == NULL || r->dsl == NULL)
		goto out_rm;
	if (recompile) {
		snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -oa -p rt t.dsl >>d.log 2>&1", dir);
		if (system(cmd) != 0)
			goto out_rm;
		free(r->log);
		snprintf(path, sizeof(path), "%s/d.log", dir);
		r->log = slurp(path, NULL);
		snprintf(path, sizeof(path), "%s/rt.aml", dir);
		r->aml = slurp(path, &r->aml_len);
		if (r->log == NULL || r->aml == NULL)
			goto out_rm;
	}
	rc = 0;
out_rm:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "iasl_util: could not remove %s\n", dir);
	return rc;
}

void
iasl_result_free(struct iasl_result *r)
{
	free(r->log);
	free(r->dsl);
	free(r->aml);
	memset(r, 0, sizeof(*r));
}

bool
iasl_complained(const struct iasl_result *r)
{
	const char *words[] = { "error", "warning", "incorrect" };
	const char *texts[] = { r->log, r->dsl };
	unsigned int i, j;

	for (i = 0; i < 2; i++) {
		if (texts[i] == NULL)
			continue;
		for (j = 0; j < 3; j++) {
			/* The recompile summary says "0 Errors, 0 Warnings". */
			const char *p = texts[i];

			while ((p = strcasestr(p, words[j])) != NULL) {
				if (!(p >= texts[i] + 2 && p[-1] == ' ' && p[-2] == '0'))
					return true;
				p++;
			}
		}
	}
	return false;
}

unsigned int
count_substr(const char *hay, const char *needle)
{
	unsigned int n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}
