/* SPDX-License-Identifier: MIT */
/*
 * nv_log: the one small logging API of every nicvisor program.
 *
 * A line is "<utc time> <program>[<pid>] <level> <component>: <message>" on
 * stderr. A source file names its component once, before including this
 * header or before its first use:
 *
 *	#define NV_LOG_COMPONENT "nicvisor.shim.kvm"
 *
 * and logs with nv_err(), nv_warn(), nv_info(), nv_debug(). Anything that can
 * happen per packet, per exit or per request is a counter, not a log line;
 * an error that a guest or a peer can cause repeatedly goes through
 * nv_ratelimit_ok(). Thread safe.
 */
#ifndef NV_LOG_H
#define NV_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum nv_log_level {
	NV_LOG_ERR = 0,
	NV_LOG_WARN = 1,
	NV_LOG_INFO = 2,
	NV_LOG_DEBUG = 3,
};

/* Set the program name and level. The level is overridden by the
 * environment variable NV_LOG_LEVEL (err, warn, info, debug). */
void nv_log_init(const char *program, enum nv_log_level level);
void nv_log_set_level(enum nv_log_level level);
enum nv_log_level nv_log_get_level(void);
/* Parse "err", "warn", "info", "debug"; -EINVAL for anything else. */
int nv_log_parse_level(const char *s, enum nv_log_level *out);

void nv_log(enum nv_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define nv_err(...)   nv_log(NV_LOG_ERR, NV_LOG_COMPONENT, __VA_ARGS__)
#define nv_warn(...)  nv_log(NV_LOG_WARN, NV_LOG_COMPONENT, __VA_ARGS__)
#define nv_info(...)  nv_log(NV_LOG_INFO, NV_LOG_COMPONENT, __VA_ARGS__)
#define nv_debug(...) nv_log(NV_LOG_DEBUG, NV_LOG_COMPONENT, __VA_ARGS__)

/* At most `burst` true answers per `interval_ms`; counts what it refused in
 * `suppressed` so that the next allowed line can say so. */
struct nv_ratelimit {
	uint64_t window_start_ms;
	uint32_t in_window;
	uint32_t suppressed;
};
bool nv_ratelimit_ok(struct nv_ratelimit *rl, uint32_t burst, uint32_t interval_ms);

/* Clocks. */
uint64_t nv_now_unix_ms(void); /* CLOCK_REALTIME */
uint64_t nv_mono_ns(void);     /* CLOCK_MONOTONIC */

#endif
