/* SPDX-License-Identifier: MIT */
#include "nv_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static enum nv_log_level log_level = NV_LOG_INFO;
static char log_program[32] = "nicvisor";

int
nv_log_parse_level(const char *s, enum nv_log_level *out)
{
	static const char *const short_names[] = { "err", "warn", "info", "debug" };

	for (unsigned int i = 0; i < 4; i++) {
		if (strcmp(s, short_names[i]) == 0 || strcmp(s, level_names[i]) == 0) {
			*out = (enum nv_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
nv_log_init(const char *program, enum nv_log_level level)
{
	const char *env = getenv("NV_LOG_LEVEL");
	enum nv_log_level from_env;

	snprintf(log_program, sizeof(log_program), "%s", program);
	log_level = level;
	if (env != NULL && nv_log_parse_level(env, &from_env) == 0)
		log_level = from_env;
}

void
nv_log_set_level(enum nv_log_level level)
{
	log_level = level;
}

enum nv_log_level
nv_log_get_level(void)
{
	return log_level;
}

void
nv_log(enum nv_log_level level, const char *component, const char *fmt, ...)
{
	char msg[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, lines do not interleave. */
	fprintf(stderr, "%s.%03ldZ %s[%d] %s %s: %s\n", stamp, ts.tv_nsec / 1000000, log_program,
		(int)getpid(), level_names[level], component, msg);
}

bool
nv_ratelimit_ok(struct nv_ratelimit *rl, uint32_t burst, uint32_t interval_ms)
{
	uint64_t now = nv_mono_ns() / 1000000;

	if (now - rl->window_start_ms >= interval_ms) {
		rl->window_start_ms = now;
		rl->in_window = 0;
	}
	if (rl->in_window < burst) {
		rl->in_window++;
		return true;
	}
	rl->suppressed++;
	return false;
}

uint64_t
nv_now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
nv_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
